//! What each model's identity answers claim (table `identity`), read beside its measured
//! relatives: the `lineage` rows carry the model's consistent claimed maker and identity verdict,
//! say whether it names the relative's vendor, and a model that claims another vendor's identity
//! gets one more row: its nearest model of the vendor it claims, so the table shows at once
//! whether what the model says of itself is borne out by how it answers.

use std::collections::BTreeMap;

use crate::collect::responses::Declared;
use crate::identity::Rules;
use crate::identity::summary::{DECLINES, IdentityRow, IdentityVerdict, MIN_CONSISTENCY, MIN_PROBES, declared_vendor};

/// A model's consistent main claim (never one made under a persona).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelClaim {
    /// The vendor its answers name as their maker (the identity rules' name), or `declines`.
    pub maker: String,
    /// Its identity verdict against its declared vendor (None: no vendor declared).
    pub verdict: Option<IdentityVerdict>,
}

/// The claims of a night's models and the vendors they declare, as the identity rules name them.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    by_model: BTreeMap<String, ModelClaim>,
    vendor_of: BTreeMap<String, String>,
}

impl Claims {
    /// From the night's `identity` rows and what its endpoints declare. A main claim counts when
    /// it is consistent ([`MIN_CONSISTENCY`]) and made on [`MIN_PROBES`] probes or more, as
    /// the identity verdict requires.
    pub fn new(rules: &Rules, identity: &[IdentityRow], declared: &BTreeMap<String, Declared>) -> Claims {
        let by_model = identity
            .iter()
            .filter(|r| !r.persona && r.claimed.is_some() && r.claimed == r.main_claim)
            .filter(|r| r.consistency.is_some_and(|c| c >= MIN_CONSISTENCY) && r.probes >= MIN_PROBES)
            .map(|r| (r.model.clone(), ModelClaim { maker: r.claimed.clone().unwrap_or_default(), verdict: r.verdict }))
            .collect();
        let vendor_of = declared
            .iter()
            .filter_map(|(model, d)| Some((model.clone(), declared_vendor(rules, d.vendor.as_deref()?))))
            .collect();
        Claims { by_model, vendor_of }
    }

    /// The model's consistent main claim, if any.
    pub fn of(&self, model: &str) -> Option<&ModelClaim> {
        self.by_model.get(model)
    }

    /// Whether the model's consistent claim names the relative's declared vendor.
    pub fn names_vendor_of(&self, model: &str, relative: &str) -> bool {
        match (self.of(model), self.vendor_of.get(relative)) {
            (Some(c), Some(v)) => c.maker != DECLINES && c.maker.eq_ignore_ascii_case(v),
            _ => false,
        }
    }

    /// For a model that claims another vendor's identity, the first of its ranked partners
    /// (nearest first) that the vendor it claims declares.
    pub fn claimed_relative<'a>(&self, model: &str, ranked: &[&'a str]) -> Option<&'a str> {
        let claim = self.of(model)?;
        if claim.verdict != Some(IdentityVerdict::ClaimsOtherIdentity) {
            return None;
        }
        ranked.iter().copied().find(|r| self.names_vendor_of(model, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, claimed: &str, consistency: f64, probes: u32, verdict: Option<IdentityVerdict>) -> IdentityRow {
        IdentityRow {
            model: model.into(),
            persona: false,
            declared_vendor: None,
            claimed: Some(claimed.into()),
            model_lines: vec![],
            answers: 10,
            claiming: 9,
            share: 0.9,
            probes,
            main_claim: Some(claimed.into()),
            consistency: Some(consistency),
            verdict,
            rules_version: "identity-v1".into(),
        }
    }

    fn declares(vendor: &str) -> Declared {
        Declared { vendor: Some(vendor.into()), ..Default::default() }
    }

    #[test]
    fn a_consistent_claim_names_the_vendor_its_relatives_declare_through_the_rules_aliases() {
        let rules = Rules::builtin();
        let other = Some(IdentityVerdict::ClaimsOtherIdentity);
        let identity = vec![
            row("student", "OpenAI", 0.9, 4, other),
            row("wobbly", "OpenAI", 0.5, 4, other),
            row("once", "OpenAI", 1.0, 1, other),
            row("shy", DECLINES, 1.0, 5, None),
        ];
        let declared = BTreeMap::from([
            ("student".to_owned(), declares("Meta")),
            ("teacher".to_owned(), declares("openai")),
            ("cousin".to_owned(), declares("Meta")),
        ]);
        let claims = Claims::new(&rules, &identity, &declared);
        assert_eq!(claims.of("student").map(|c| c.maker.as_str()), Some("OpenAI"));
        assert!(claims.of("wobbly").is_none(), "a split claim is no claim");
        assert!(claims.of("once").is_none(), "one probe is no claim");
        assert_eq!(claims.of("shy").map(|c| c.maker.as_str()), Some(DECLINES));
        assert!(claims.names_vendor_of("student", "teacher"), "\"openai\" is OpenAI by the rules");
        assert!(!claims.names_vendor_of("student", "cousin"));
        assert!(!claims.names_vendor_of("shy", "teacher"));
        // The nearest partner of the claimed vendor, in rank order.
        assert_eq!(claims.claimed_relative("student", &["cousin", "teacher"]), Some("teacher"));
        assert_eq!(claims.claimed_relative("student", &["cousin"]), None);
        assert_eq!(claims.claimed_relative("shy", &["teacher"]), None);
    }

    #[test]
    fn persona_answers_make_no_claim() {
        let rules = Rules::builtin();
        let mut r = row("aria", "OpenAI", 1.0, 5, None);
        r.persona = true;
        assert!(Claims::new(&rules, &[r], &BTreeMap::new()).of("aria").is_none());
    }
}
