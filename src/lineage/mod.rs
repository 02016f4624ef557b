//! Declared against inferred lineage (table `lineage`): for every model, its nearest relatives
//! by calibrated similarity and every relative its configuration declares, each with a verdict.
//!
//! A model's partners are ranked by `z`, the pair's calibrated similarity against the
//! ecosystem's null, the content and style signals fused ([`crate::metrics::relatedness`],
//! [`crate::metrics::fusion`]; by the content's calibrated similarity itself when the run has
//! too few models for a null). Each row keeps each signal's own z and which carried it. Rows: the [`NEAREST`] nearest, and every declared
//! relative. What counts as declared: one names the other among its `parents` (by endpoint name
//! or model id), or both carry the same `family`. A shared `vendor` is shown, not judged: one
//! vendor's generations answer differently (datasets/multimodel.md).
//!
//! Verdicts, from the pair's test (`q` by Benjamini-Hochberg over all pairs, at
//! [`relatedness::FDR`]):
//! - `insufficient_coverage`: the two share fewer than [`relatedness::MIN_COMMON_PROBES`]
//!   probes (answered among three models or more) in a signal;
//! - `insufficient_models`: the run has fewer than [`relatedness::MIN_MODELS`] models, so no
//!   null to judge against;
//! - `declared_and_evident`: declared and `q <= 0.05`;
//! - `undeclared`: not declared and `q <= 0.05`: the transparency flag;
//! - `declared_not_evident`: declared and `q > 0.05`;
//! - none: a nearest neighbour that does not stand out.

pub mod claims;
pub mod stage;
pub mod table;

use std::collections::{BTreeMap, HashMap};

use crate::collect::responses::Declared;
use crate::identity::summary::IdentityVerdict;
use crate::metrics::aggregate::PairSimilarity;
use crate::metrics::fusion::Signal;
use crate::metrics::relatedness;
pub use claims::Claims;

/// Nearest relatives listed per model.
pub const NEAREST: usize = 3;

/// What a lineage row concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Significantly alike and not declared: the transparency flag.
    Undeclared,
    /// Declared, and not significantly alike.
    DeclaredNotEvident,
    /// Declared, and significantly alike.
    DeclaredAndEvident,
    /// Fewer than 30 common probes.
    InsufficientCoverage,
    /// Fewer than 12 models in the run: no null.
    InsufficientModels,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Undeclared => "undeclared",
            Verdict::DeclaredNotEvident => "declared_not_evident",
            Verdict::DeclaredAndEvident => "declared_and_evident",
            Verdict::InsufficientCoverage => "insufficient_coverage",
            Verdict::InsufficientModels => "insufficient_models",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        [
            Verdict::Undeclared,
            Verdict::DeclaredNotEvident,
            Verdict::DeclaredAndEvident,
            Verdict::InsufficientCoverage,
            Verdict::InsufficientModels,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// How the configuration relates a model to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// The relative is among the model's declared parents.
    Parent,
    /// The model is among the relative's declared parents.
    Child,
    /// Both declare the same family.
    Family,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Parent => "parent",
            Relation::Child => "child",
            Relation::Family => "family",
        }
    }

    pub fn parse(s: &str) -> Option<Relation> {
        [Relation::Parent, Relation::Child, Relation::Family].into_iter().find(|r| r.as_str() == s)
    }
}

/// One row of `lineage`.
#[derive(Debug, Clone, PartialEq)]
pub struct LineageRow {
    pub model: String,
    pub relative: String,
    /// The relative's place among the model's partners (1 = nearest); None when the pair has no
    /// score to rank by.
    pub rank: Option<usize>,
    /// Calibrated similarity and its 95% interval (None when the pair never shared two probes).
    pub calibrated: Option<(f64, f64, f64)>,
    /// The fused test (what ranks and judges).
    pub z: Option<f64>,
    pub q: Option<f64>,
    /// Each signal's own z.
    pub z_content: Option<f64>,
    pub z_style: Option<f64>,
    /// The signal that carried a positive `z`, and its share of it.
    pub carried: Option<(Signal, f64)>,
    /// Probes the calibrated similarity is over.
    pub n_probes: usize,
    /// What the configuration declares (None: nothing).
    pub declared: Option<Relation>,
    pub same_vendor: bool,
    pub verdict: Option<Verdict>,
    /// The maker the model's identity answers consistently claim ([`claims`]), or `declines`.
    pub claimed_maker: Option<String>,
    /// The model's identity verdict (`claims_other_identity`: it names another vendor than the
    /// one it declares).
    pub identity: Option<IdentityVerdict>,
    /// The model's claimed maker is the vendor the relative declares.
    pub claims_relative_vendor: bool,
}

fn names_any(list: &[String], endpoint: &str, d: Option<&Declared>) -> bool {
    list.iter().any(|p| p == endpoint || d.is_some_and(|d| *p == d.model))
}

/// The declared relation of `relative` to `model`, if any.
pub fn relation(model: &str, relative: &str, declared: &BTreeMap<String, Declared>) -> Option<Relation> {
    let (a, b) = (declared.get(model), declared.get(relative));
    if a.is_some_and(|a| names_any(&a.parents, relative, b)) {
        return Some(Relation::Parent);
    }
    if b.is_some_and(|b| names_any(&b.parents, model, a)) {
        return Some(Relation::Child);
    }
    let (fa, fb) = (a.and_then(|d| d.family.as_deref()), b.and_then(|d| d.family.as_deref()));
    (fa.is_some() && fa == fb).then_some(Relation::Family)
}

/// The verdict of a pair given what is declared.
pub fn verdict(pair: Option<&PairSimilarity>, declared: bool, has_null: bool) -> Option<Verdict> {
    let c = pair.and_then(|p| p.calibrated);
    if c.is_none_or(|c| c.n_probes < relatedness::MIN_COMMON_PROBES) {
        return Some(Verdict::InsufficientCoverage);
    }
    if !has_null {
        return Some(Verdict::InsufficientModels);
    }
    if c.is_some_and(|c| c.z.is_none()) {
        // Tested by content, not by every signal (too few common probes with a style).
        return Some(Verdict::InsufficientCoverage);
    }
    let related = c.and_then(|c| c.q).is_some_and(|q| q <= relatedness::FDR);
    match (declared, related) {
        (true, true) => Some(Verdict::DeclaredAndEvident),
        (false, true) => Some(Verdict::Undeclared),
        (true, false) => Some(Verdict::DeclaredNotEvident),
        (false, false) => None,
    }
}

/// The lineage rows of a run from its overall pairs, what its endpoints declare, its models
/// (sorted by name) and what their identity answers claim.
pub fn lineage_rows(
    pairs: &[PairSimilarity],
    declared: &BTreeMap<String, Declared>,
    models: &[String],
    claims: &Claims,
) -> Vec<LineageRow> {
    let mut by_pair: HashMap<(&str, &str), &PairSimilarity> = HashMap::new();
    for p in pairs {
        by_pair.insert((p.model_a.as_str(), p.model_b.as_str()), p);
        by_pair.insert((p.model_b.as_str(), p.model_a.as_str()), p);
    }
    let has_null = pairs.iter().any(|p| p.calibrated.is_some_and(|c| c.q.is_some()));
    // Rank by z where the run has a null, else by the calibrated similarity; only pairs with
    // enough common probes are ranked.
    let score = |p: &PairSimilarity| -> Option<f64> {
        let c = p.calibrated?;
        if c.n_probes < relatedness::MIN_COMMON_PROBES {
            return None;
        }
        if has_null { c.z } else { Some(c.value) }
    };
    let mut out = Vec::new();
    for model in models {
        let mut ranked: Vec<(&str, f64)> = models
            .iter()
            .filter(|r| *r != model)
            .filter_map(|r| Some((r.as_str(), score(by_pair.get(&(model.as_str(), r.as_str()))?)?)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        let rank_of: HashMap<&str, usize> = ranked.iter().enumerate().map(|(i, (r, _))| (*r, i + 1)).collect();
        let mut listed: Vec<&str> = ranked.iter().take(NEAREST).map(|(r, _)| *r).collect();
        for r in models {
            if r != model && !listed.contains(&r.as_str()) && relation(model, r, declared).is_some() {
                listed.push(r);
            }
        }
        let partners: Vec<&str> = ranked.iter().map(|(r, _)| *r).collect();
        if let Some(r) = claims.claimed_relative(model, &partners).filter(|r| !listed.contains(r)) {
            listed.push(r);
        }
        let claim = claims.of(model);
        for relative in listed {
            let pair = by_pair.get(&(model.as_str(), relative)).copied();
            let c = pair.and_then(|p| p.calibrated);
            let declared_as = relation(model, relative, declared);
            let vendor = |m: &str| declared.get(m).and_then(|d| d.vendor.as_deref());
            out.push(LineageRow {
                model: model.clone(),
                relative: relative.to_owned(),
                rank: rank_of.get(relative).copied(),
                calibrated: c.map(|c| (c.value, c.ci_low, c.ci_high)),
                z: c.and_then(|c| c.z),
                q: c.and_then(|c| c.q),
                z_content: c.and_then(|c| c.z_content),
                z_style: c.and_then(|c| c.z_style),
                carried: c.and_then(|c| Some((c.carried_by?, c.carried_share?))),
                n_probes: c.map_or(0, |c| c.n_probes),
                declared: declared_as,
                same_vendor: vendor(model).is_some() && vendor(model) == vendor(relative),
                verdict: verdict(pair, declared_as.is_some(), has_null),
                claimed_maker: claim.map(|c| c.maker.clone()),
                identity: claim.and_then(|c| c.verdict),
                claims_relative_vendor: claims.names_vendor_of(model, relative),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::aggregate::CalibratedPair;

    fn pair(a: &str, b: &str, z: Option<f64>, q: Option<f64>, n: usize) -> PairSimilarity {
        PairSimilarity {
            model_a: a.into(),
            model_b: b.into(),
            mean_similarity: 0.5,
            ci_low: 0.4,
            ci_high: 0.6,
            n_probes: n,
            calibrated: Some(CalibratedPair {
                value: z.unwrap_or(0.0) / 100.0,
                se: 0.01,
                ci_low: 0.0,
                ci_high: 0.1,
                n_probes: n,
                z,
                p: z.map(relatedness::normal_sf),
                q,
                z_content: z,
                z_style: None,
                carried_by: None,
                carried_share: None,
            }),
        }
    }

    fn declare(parents: &[&str], family: Option<&str>) -> Declared {
        Declared {
            model: String::new(),
            vendor: Some("v".into()),
            family: family.map(str::to_owned),
            parents: parents.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn each_verdict_from_what_is_declared_and_what_is_measured() {
        let models: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let pairs = vec![
            pair("a", "b", Some(6.0), Some(0.001), 100), // declared family, evident
            pair("a", "c", Some(5.0), Some(0.002), 100), // not declared, evident: undeclared
            pair("a", "d", Some(0.5), Some(0.8), 100),   // d is a's declared parent, not evident
            pair("a", "e", Some(9.0), None, 20),         // too few common probes
            pair("b", "c", Some(-1.0), Some(0.9), 100),
            pair("b", "d", Some(0.1), Some(0.9), 100),
            pair("c", "d", Some(1.0), Some(0.7), 100),
        ];
        let mut declared = BTreeMap::new();
        declared.insert("a".to_owned(), declare(&["d"], Some("fam")));
        declared.insert("b".to_owned(), declare(&[], Some("fam")));
        declared.insert("e".to_owned(), declare(&["a"], None));
        let rows = lineage_rows(&pairs, &declared, &models, &Claims::default());
        let row = |m: &str, r: &str| rows.iter().find(|x| x.model == m && x.relative == r).cloned();
        let ab = row("a", "b").unwrap();
        assert_eq!(
            (ab.rank, ab.declared, ab.verdict),
            (Some(1), Some(Relation::Family), Some(Verdict::DeclaredAndEvident))
        );
        assert!(ab.same_vendor);
        assert_eq!(row("a", "c").unwrap().verdict, Some(Verdict::Undeclared));
        let ad = row("a", "d").unwrap();
        assert_eq!(
            (ad.rank, ad.declared, ad.verdict),
            (Some(3), Some(Relation::Parent), Some(Verdict::DeclaredNotEvident))
        );
        // e names a as parent, shares 20 probes: listed as a declared relative, no verdict but
        // coverage, and never ranked (its z does not count).
        let ae = row("a", "e").unwrap();
        assert_eq!(
            (ae.rank, ae.declared, ae.verdict),
            (None, Some(Relation::Child), Some(Verdict::InsufficientCoverage))
        );
        assert_eq!(row("e", "a").unwrap().declared, Some(Relation::Parent));
        // b's nearest: a (declared), then d, then c; d and c stand out from nothing: no verdict.
        let b: Vec<(String, Option<Verdict>)> =
            rows.iter().filter(|x| x.model == "b").map(|x| (x.relative.clone(), x.verdict)).collect();
        assert_eq!(b, [("a".into(), Some(Verdict::DeclaredAndEvident)), ("d".into(), None), ("c".into(), None)]);
        // A model nothing is measured with is listed only where declared.
        assert!(rows.iter().filter(|x| x.model == "e").all(|x| x.declared.is_some()));
    }

    #[test]
    fn without_a_null_pairs_are_ranked_by_score_and_judged_insufficient() {
        let models: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let mut pairs =
            vec![pair("a", "b", None, None, 40), pair("a", "c", None, None, 40), pair("b", "c", None, None, 40)];
        pairs[1].calibrated.as_mut().unwrap().value = 0.3;
        let rows = lineage_rows(&pairs, &BTreeMap::new(), &models, &Claims::default());
        let a: Vec<&LineageRow> = rows.iter().filter(|r| r.model == "a").collect();
        assert_eq!((a[0].relative.as_str(), a[0].rank), ("c", Some(1)));
        assert!(rows.iter().all(|r| r.verdict == Some(Verdict::InsufficientModels)));
        for v in [
            "undeclared",
            "declared_not_evident",
            "declared_and_evident",
            "insufficient_coverage",
            "insufficient_models",
        ] {
            assert_eq!(Verdict::parse(v).unwrap().as_str(), v);
        }
    }

    #[test]
    fn parents_are_matched_by_endpoint_or_model_id() {
        let mut declared = BTreeMap::new();
        declared.insert("child-ep".to_owned(), declare(&["org/base-model"], None));
        declared.insert("base-ep".to_owned(), Declared { model: "org/base-model".into(), ..Default::default() });
        assert_eq!(relation("child-ep", "base-ep", &declared), Some(Relation::Parent));
        assert_eq!(relation("base-ep", "child-ep", &declared), Some(Relation::Child));
        assert_eq!(relation("base-ep", "other", &declared), None);
    }
}
