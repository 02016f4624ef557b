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

/// A model's identity answers on one night, as the rule compares them.
struct Claimed<'a> {
    main: &'a str,
    consistency: f64,
    version: &'a str,
    /// Answers that name any maker (the main claim's count over its consistency).
    named: u32,
    /// Answers claiming each maker.
    claiming: std::collections::BTreeMap<&'a str, u32>,
}

/// Each model's claims on one night (its answers under a persona left out).
fn claimed(rows: &[IdentityRow]) -> std::collections::BTreeMap<&str, Claimed<'_>> {
    let mut out = std::collections::BTreeMap::new();
    for r in rows.iter().filter(|r| !r.persona) {
        let (Some(main), Some(consistency)) = (r.main_claim.as_deref(), r.consistency) else { continue };
        let c = out.entry(r.model.as_str()).or_insert_with(|| Claimed {
            main,
            consistency,
            version: r.rules_version.as_str(),
            named: 0,
            claiming: Default::default(),
        });
        if let Some(claim) = r.claimed.as_deref() {
            c.claiming.insert(claim, r.claiming);
        }
    }
    for c in out.values_mut() {
        let main = c.claiming.get(c.main).copied().unwrap_or(0);
        c.named = if c.consistency > 0.0 { (f64::from(main) / c.consistency).round() as u32 } else { 0 };
    }
    out
}

/// Two-sided p-value of Fisher's exact test on the 2x2 table `[[a, b], [c, d]]`: with the
/// margins fixed, the probability of a table no more likely than this one.
pub fn fisher_exact(a: u32, b: u32, c: u32, d: u32) -> f64 {
    let (row, col, n) = (a + b, a + c, a + b + c + d);
    let ln_choose = |n: u32, k: u32| {
        libm::lgamma(f64::from(n) + 1.0) - libm::lgamma(f64::from(k) + 1.0) - libm::lgamma(f64::from(n - k) + 1.0)
    };
    let ln_p = |x: u32| ln_choose(row, x) + ln_choose(n - row, col - x) - ln_choose(n, col);
    let observed = ln_p(a);
    let (lo, hi) = (col.saturating_sub(n - row), row.min(col));
    // A relative tolerance, as R's fisher.test, so tables as likely as this one count.
    (lo..=hi).map(ln_p).filter(|l| *l <= observed + 1e-7).map(f64::exp).sum::<f64>().min(1.0)
}

/// Tonight's `identity` alerts: each model whose main claim differs from the last night's, read
/// by the same rules version, with tonight's claim consistent enough to stand on, and its share
/// of the answers naming a maker tonight against last night different beyond chance (Fisher's
/// exact test at `change_p`): a model whose answers split between two makers changes its main
/// claim by chance every few nights, which is no swap (BENCHMARKS.md).
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
    let before = claimed(before);
    let mut out = Vec::new();
    for (model, now) in claimed(tonight) {
        let Some(was) = before.get(model) else { continue };
        if was.main.eq_ignore_ascii_case(now.main) || was.version != now.version {
            continue;
        }
        let (severity, threshold) = if now.consistency >= rule.critical_consistency {
            (Severity::Critical, rule.critical_consistency)
        } else if now.consistency >= rule.warn_consistency {
            (Severity::Warning, rule.warn_consistency)
        } else {
            continue;
        };
        let (k1, k0) =
            (now.claiming.get(now.main).copied().unwrap_or(0), was.claiming.get(now.main).copied().unwrap_or(0));
        let p = fisher_exact(k1, now.named.saturating_sub(k1), k0, was.named.saturating_sub(k0));
        if p > rule.change_p {
            continue;
        }
        out.push(Alert {
            severity,
            rule: rule::IDENTITY.into(),
            scope: Scope::Model(model.to_owned()),
            metric: METRIC.into(),
            value: now.consistency,
            baseline: Some(was.consistency),
            threshold,
            message: format!(
                "{model} now says it was made by {} ({k1} of {} answers naming a maker), where last night it said {} ({:.0}%, and {k0} of {} named {}): another model behind the same endpoint?",
                now.main,
                now.named,
                was.main,
                was.consistency * 100.0,
                was.named,
                now.main,
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
        // Last night a split model said Anthropic 5 times of 8, Google 3 times; tonight Google
        // 6 of 8: a change of main claim well within chance.
        let mut split_before = vec![row("a", "Anthropic", 5.0 / 8.0), row("a", "Google", 5.0 / 8.0)];
        (split_before[0].claiming, split_before[1].claiming) = (5, 3);
        split_before[1].main_claim = Some("Anthropic".into());
        let mut split_now = vec![row("a", "Google", 0.75)];
        split_now[0].claiming = 6;
        assert!(identity(&split_now, &split_before, (1.0, false), &config).is_empty(), "a split claim by chance");
        assert!(identity(&unsure, &before, (1.0, false), &config).is_empty(), "an inconsistent claim");
        let mut other_rules = vec![row("a", "Google", 1.0)];
        other_rules[0].rules_version = "identity-v2".into();
        assert!(identity(&other_rules, &before, (1.0, false), &config).is_empty(), "a new rules version");
    }

    /// R's fisher.test: the tea-tasting table and two extremes.
    #[test]
    fn fisher_exact_matches_the_reference_values() {
        assert!((fisher_exact(3, 1, 1, 3) - 0.485_714).abs() < 1e-5);
        assert!((fisher_exact(5, 0, 0, 5) - 2.0 / 252.0).abs() < 1e-9);
        assert!((fisher_exact(1, 9, 11, 3) - 0.002_759).abs() < 1e-5);
        assert!((fisher_exact(2, 2, 2, 2) - 1.0).abs() < 1e-9);
        assert!(fisher_exact(28, 0, 0, 28) < 1e-15);
    }
}
