//! What each model claims to be over a night: the claims of its answers to the probes tagged
//! `identity`, counted per claimed maker across probes and samples, its main claim and how
//! consistent it is, against the vendor its configuration declares; and the verdict
//! `claims_other_identity` when it consistently names another vendor as its maker (the mark of
//! a model tuned on another's outputs, or of another model behind the endpoint).
//!
//! Answers given under a system prompt that sets a persona ([`super::persona`]) are counted
//! apart (`persona = true`) and never judged: a model told it is "Aria, by Acme" says so.

use std::collections::{BTreeMap, BTreeSet};

use super::{Claim, Rules};

/// The claimed makers' share of the answers that name any maker must reach this for the main
/// claim to be consistent (a verdict needs it, and so does the `identity` alert by default).
pub const MIN_CONSISTENCY: f64 = 0.75;
/// Distinct probes on which the main claim must be made for a verdict: one question answered
/// oddly twice is not a model's identity.
pub const MIN_PROBES: u32 = 2;
/// What `claimed` holds for an answer that declines to say who made it.
pub const DECLINES: &str = "declines";

/// What a model's identity answers say, judged against what it declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityVerdict {
    /// It consistently names its declared vendor as its maker.
    ClaimsOwnIdentity,
    /// It consistently names another vendor as its maker.
    ClaimsOtherIdentity,
}

impl IdentityVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityVerdict::ClaimsOwnIdentity => "claims_own_identity",
            IdentityVerdict::ClaimsOtherIdentity => "claims_other_identity",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [IdentityVerdict::ClaimsOwnIdentity, IdentityVerdict::ClaimsOtherIdentity].into_iter().find(|v| v.as_str() == s)
    }
}

/// One answer's claim, keyed as the stage reads it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub model: String,
    pub probe_id: String,
    pub claim: Claim,
}

/// One row of table `identity`: one claimed maker (or `declines`) of one model, its answers
/// under a persona apart; a model none of whose answers claims anything has one row with no
/// `claimed`. The model's figures (answers, main claim, consistency, verdict) repeat on each of
/// its rows, so a query needs no join.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityRow {
    /// The endpoint's name (the model, as every table names it).
    pub model: String,
    /// Answers given under a system prompt that sets a persona.
    pub persona: bool,
    /// The vendor the configuration declares.
    pub declared_vendor: Option<String>,
    /// A vendor's canonical name, `declines`, or None (no answer claims anything).
    pub claimed: Option<String>,
    /// The model lines claimed in the answers that claim this vendor ("GPT", "Claude").
    pub model_lines: Vec<String>,
    /// The model's identity answers (on this side of `persona`).
    pub answers: u32,
    /// Those that claim `claimed`.
    pub claiming: u32,
    /// `claiming / answers`.
    pub share: f64,
    /// Distinct probes with an answer that claims `claimed`.
    pub probes: u32,
    /// The vendor most of its answers claim as its maker (None: no answer names one).
    pub main_claim: Option<String>,
    /// The main claim's share of the answers that name any maker.
    pub consistency: Option<f64>,
    /// Never on persona rows, nor without a declared vendor or a consistent main claim.
    pub verdict: Option<IdentityVerdict>,
    /// The identity rules' version ([`Rules::version`]).
    pub rules_version: String,
}

/// The rows of one night: per model (sorted) and side of `persona`, one row per claim.
pub fn summarise(rules: &Rules, answers: &[Answer], declared: &BTreeMap<String, Option<String>>) -> Vec<IdentityRow> {
    let mut groups: BTreeMap<(&str, bool), Vec<&Answer>> = BTreeMap::new();
    for a in answers {
        groups.entry((a.model.as_str(), a.claim.persona)).or_default().push(a);
    }
    let mut out = Vec::new();
    for ((model, persona), answers) in groups {
        let declared = declared.get(model).cloned().flatten();
        out.extend(model_rows(rules, model, persona, declared, &answers));
    }
    out
}

/// Counts of one claimed maker: answers, probes, model lines.
#[derive(Default)]
struct Tally<'a> {
    answers: u32,
    probes: BTreeSet<&'a str>,
    lines: BTreeSet<String>,
}

fn model_rows(
    rules: &Rules,
    model: &str,
    persona: bool,
    declared: Option<String>,
    answers: &[&Answer],
) -> Vec<IdentityRow> {
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut naming = 0u32;
    for a in answers {
        naming += u32::from(!a.claim.vendors.is_empty());
        for label in a.claim.labels() {
            let t = tallies.entry(label.clone()).or_default();
            t.answers += 1;
            t.probes.insert(&a.probe_id);
            let lines = a.claim.models.iter().filter(|m| rules.vendor(m).is_some_and(|v| v.name == label));
            t.lines.extend(lines.cloned());
        }
    }
    // The main claim: the vendor named by most answers, then on most probes, then by name.
    let main = tallies
        .iter()
        .filter(|(name, _)| name.as_str() != DECLINES)
        .max_by(|a, b| {
            (a.1.answers, a.1.probes.len(), std::cmp::Reverse(a.0)).cmp(&(
                b.1.answers,
                b.1.probes.len(),
                std::cmp::Reverse(b.0),
            ))
        })
        .map(|(name, t)| (name.clone(), f64::from(t.answers) / f64::from(naming.max(1)), t.probes.len() as u32));
    let verdict = if persona { None } else { verdict(rules, declared.as_deref(), main.as_ref()) };
    let n = answers.len() as u32;
    let row = |claimed: Option<String>, t: Option<&Tally>| IdentityRow {
        model: model.to_owned(),
        persona,
        declared_vendor: declared.clone(),
        claimed,
        model_lines: t.map(|t| t.lines.iter().cloned().collect()).unwrap_or_default(),
        answers: n,
        claiming: t.map_or(0, |t| t.answers),
        share: t.map_or(0.0, |t| f64::from(t.answers) / f64::from(n.max(1))),
        probes: t.map_or(0, |t| t.probes.len() as u32),
        main_claim: main.as_ref().map(|m| m.0.clone()),
        consistency: main.as_ref().map(|m| m.1),
        verdict,
        rules_version: rules.version.clone(),
    };
    if tallies.is_empty() {
        return vec![row(None, None)];
    }
    tallies.iter().map(|(name, t)| row(Some(name.clone()), Some(t))).collect()
}

/// The verdict on a model's main claim (name, consistency, probes) against its declared vendor.
fn verdict(rules: &Rules, declared: Option<&str>, main: Option<&(String, f64, u32)>) -> Option<IdentityVerdict> {
    let declared = declared_vendor(rules, declared?);
    let (claimed, consistency, probes) = main?;
    if *consistency < MIN_CONSISTENCY || *probes < MIN_PROBES {
        return None;
    }
    Some(if claimed.eq_ignore_ascii_case(&declared) {
        IdentityVerdict::ClaimsOwnIdentity
    } else {
        IdentityVerdict::ClaimsOtherIdentity
    })
}

/// A declared vendor as the rules name it: a name or alias they know ("meta-llama" is Meta's
/// through the vendor named in it), or the declaration itself.
pub fn declared_vendor(rules: &Rules, declared: &str) -> String {
    if let Some(v) = rules.vendor(declared) {
        return v.name.clone();
    }
    let text = super::normalise(declared);
    match super::text::find_names(rules, &text).first() {
        Some(found) => rules.vendors[found.vendor].name.clone(),
        None => declared.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(model: &str, probe: &str, text: &str) -> Answer {
        Answer {
            model: model.into(),
            probe_id: probe.into(),
            claim: super::super::extract(&Rules::builtin(), text, None),
        }
    }

    #[test]
    fn a_model_naming_another_vendor_on_every_probe_claims_another_identity() {
        let rules = Rules::builtin();
        let answers = vec![
            answer("student", "self-001", "I'm ChatGPT, a large language model trained by OpenAI."),
            answer("student", "self-003", "I was created by OpenAI."),
            answer("student", "self-004", "Curious, helpful, patient."),
            answer("honest", "self-001", "I'm Claude, an AI assistant made by Anthropic."),
            answer("honest", "self-003", "Anthropic created me."),
            answer("quiet", "self-001", "Curious, helpful, patient."),
        ];
        let declared = BTreeMap::from([
            ("student".to_owned(), Some("Mistral AI".to_owned())),
            ("honest".to_owned(), Some("anthropic".to_owned())),
            ("quiet".to_owned(), None),
        ]);
        let rows = summarise(&rules, &answers, &declared);
        let of = |m: &str| rows.iter().filter(|r| r.model == m).collect::<Vec<_>>();
        let student = of("student");
        assert_eq!(student.len(), 1, "{rows:#?}");
        assert_eq!(student[0].claimed.as_deref(), Some("OpenAI"));
        assert_eq!((student[0].answers, student[0].claiming, student[0].probes), (3, 2, 2));
        assert_eq!(student[0].model_lines, vec!["GPT".to_owned()]);
        assert_eq!(student[0].verdict, Some(IdentityVerdict::ClaimsOtherIdentity));
        assert_eq!(of("honest")[0].verdict, Some(IdentityVerdict::ClaimsOwnIdentity));
        let quiet = of("quiet");
        assert_eq!((quiet.len(), quiet[0].claimed.as_ref(), quiet[0].verdict), (1, None, None));
        assert!(rows.iter().all(|r| r.rules_version == rules.version));
    }

    #[test]
    fn one_probe_or_a_split_claim_is_no_verdict() {
        let rules = Rules::builtin();
        let declared = BTreeMap::from([("m".to_owned(), Some("Meta".to_owned()))]);
        let once = vec![answer("m", "p1", "I'm ChatGPT, made by OpenAI."), answer("m", "p1", "I'm ChatGPT.")];
        assert_eq!(summarise(&rules, &once, &declared)[0].verdict, None, "one probe");
        let split = vec![
            answer("m", "p1", "I'm ChatGPT, made by OpenAI."),
            answer("m", "p2", "I'm Llama, made by Meta."),
            answer("m", "p3", "I'm Claude, made by Anthropic."),
        ];
        let rows = summarise(&rules, &split, &declared);
        assert!(rows.iter().all(|r| r.verdict.is_none() && r.consistency.is_some_and(|c| c < 0.5)), "{rows:#?}");
    }

    #[test]
    fn a_declared_vendor_is_read_through_the_rules() {
        let rules = Rules::builtin();
        assert_eq!(declared_vendor(&rules, "meta-llama"), "Meta");
        assert_eq!(declared_vendor(&rules, "Mistral AI"), "Mistral");
        assert_eq!(declared_vendor(&rules, "acme labs"), "acme labs");
    }
}
