//! The `identity` rule: a model whose main claimed maker (table `identity`) is not last night's.
//! An endpoint keeps its name when the model behind it is swapped, and the new model's answers
//! about itself are often the one thing that gives it away. One alert per model, scoped
//! `model:<name>` with the fixed metric `main_claim`, so a swap is one incident whatever the
//! vendors: it opens on the night of the change and resolves when the claim holds steady.

use super::{Alert, AlertConfig, Severity, rule};
use crate::identity::summary::IdentityRow;
use crate::vocab::Scope;

/// The metric an `identity` alert is about (its incident key).
pub const METRIC: &str = "main_claim";

/// A model's main claim on one night, as the rule compares it: (claim, consistency, rules).
fn main_claims(rows: &[IdentityRow]) -> std::collections::BTreeMap<&str, (&str, f64, &str)> {
    rows.iter()
        .filter(|r| !r.persona)
        .filter_map(|r| Some((r.model.as_str(), (r.main_claim.as_deref()?, r.consistency?, r.rules_version.as_str()))))
        .collect()
}

/// Tonight's `identity` alerts: each model whose main claim differs from the last night's, read
/// by the same rules version, with tonight's claim consistent enough to stand on.
pub fn identity(
    tonight: &[IdentityRow],
    before: &[IdentityRow],
    (coverage, imported): (f64, bool),
    config: &AlertConfig,
) -> Vec<Alert> {
    let rule = &config.identity;
    if !rule.enabled || (imported && !rule.on_imports) || coverage < config.min_coverage {
        return Vec::new();
    }
    let before = main_claims(before);
    let mut out = Vec::new();
    for (model, (claim, consistency, version)) in main_claims(tonight) {
        let Some(&(was, was_consistency, was_version)) = before.get(model) else { continue };
        if was.eq_ignore_ascii_case(claim) || was_version != version {
            continue;
        }
        let (severity, threshold) = if consistency >= rule.critical_consistency {
            (Severity::Critical, rule.critical_consistency)
        } else if consistency >= rule.warn_consistency {
            (Severity::Warning, rule.warn_consistency)
        } else {
            continue;
        };
        out.push(Alert {
            severity,
            rule: rule::IDENTITY.into(),
            scope: Scope::Model(model.to_owned()),
            metric: METRIC.into(),
            value: consistency,
            baseline: Some(was_consistency),
            threshold,
            message: format!(
                "{model} now says it was made by {claim} ({:.0}% of its answers naming a maker), where last night it said {was} ({:.0}%): another model behind the same endpoint?",
                consistency * 100.0,
                was_consistency * 100.0
            ),
            incident: None,
            inhibited_by: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, claim: &str, consistency: f64) -> IdentityRow {
        IdentityRow {
            model: model.into(),
            persona: false,
            declared_vendor: Some("Anthropic".into()),
            claimed: Some(claim.into()),
            model_lines: Vec::new(),
            answers: 10,
            claiming: 8,
            share: 0.8,
            probes: 4,
            main_claim: Some(claim.into()),
            consistency: Some(consistency),
            verdict: None,
            rules_version: "identity-v1".into(),
        }
    }

    #[test]
    fn a_changed_main_claim_raises_once_per_model_and_imports_stay_quiet() {
        let config = AlertConfig::default();
        let before = vec![row("a", "Anthropic", 1.0), row("b", "OpenAI", 1.0)];
        let tonight = vec![row("a", "Google", 0.95), row("b", "OpenAI", 1.0), row("c", "Meta", 1.0)];
        let alerts = identity(&tonight, &before, (1.0, false), &config);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!((alerts[0].scope.to_string().as_str(), alerts[0].severity), ("model:a", Severity::Critical));
        assert!(alerts[0].message.contains("Google") && alerts[0].message.contains("Anthropic"));
        assert!(identity(&tonight, &before, (1.0, true), &config).is_empty(), "off on imports by default");
        let unsure = vec![row("a", "Google", 0.5)];
        assert!(identity(&unsure, &before, (1.0, false), &config).is_empty(), "an inconsistent claim");
        let mut other_rules = vec![row("a", "Google", 1.0)];
        other_rules[0].rules_version = "identity-v2".into();
        assert!(identity(&other_rules, &before, (1.0, false), &config).is_empty(), "a new rules version");
    }
}
