//! The shared vocabulary of the measure tables, as types: a metric's [`Scope`] (what it is
//! about), its [`Direction`] (which way is convergence), a trend's [`Status`], and the metric
//! catalogue ([`METRICS`]: name, direction, label, one-line meaning). Every stage that builds,
//! trends, judges or charts a metric reads it here. A foundation: it knows nothing of the
//! pipeline. In the Parquet tables these stay plain strings (`Display` / `FromStr`).

use std::fmt;
use std::str::FromStr;

/// What a row of `run_metrics` (and of `trends`, `alerts`) is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// The whole ecosystem of the run: `overall`.
    Overall,
    /// The probes of one category: `category:NAME`.
    Category(String),
    /// One model: `model:NAME`.
    Model(String),
    /// One model pair, names in ascending order: `pair:A|B`. A `|` or `\` inside a name is
    /// written `\|` or `\\`, so two pairs never read as one.
    Pair(String, String),
}

impl Scope {
    /// The pair scope of two models, in name order.
    pub fn pair(a: &str, b: &str) -> Scope {
        if a <= b { Scope::Pair(a.to_owned(), b.to_owned()) } else { Scope::Pair(b.to_owned(), a.to_owned()) }
    }

    pub fn is_overall(&self) -> bool {
        matches!(self, Scope::Overall)
    }
}

fn escape_pair_name(name: &str) -> String {
    name.replace('\\', "\\\\").replace('|', "\\|")
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Overall => f.write_str("overall"),
            Scope::Category(c) => write!(f, "category:{c}"),
            Scope::Model(m) => write!(f, "model:{m}"),
            Scope::Pair(a, b) => write!(f, "pair:{}|{}", escape_pair_name(a), escape_pair_name(b)),
        }
    }
}

/// A scope equals its text form: `scope == "pair:a|b"`.
impl PartialEq<&str> for Scope {
    fn eq(&self, other: &&str) -> bool {
        match self {
            Scope::Overall => *other == "overall",
            Scope::Category(c) => other.strip_prefix("category:") == Some(c.as_str()),
            Scope::Model(m) => other.strip_prefix("model:") == Some(m.as_str()),
            Scope::Pair(..) => other.parse::<Scope>().is_ok_and(|o| o == *self),
        }
    }
}

/// A scope string that is none of the four forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a scope (overall, category:NAME, model:NAME or pair:A|B)")]
pub struct ScopeParseError(pub String);

impl FromStr for Scope {
    type Err = ScopeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ScopeParseError(s.to_owned());
        if s == "overall" {
            return Ok(Scope::Overall);
        }
        if let Some(c) = s.strip_prefix("category:") {
            return Ok(Scope::Category(c.to_owned()));
        }
        if let Some(m) = s.strip_prefix("model:") {
            return Ok(Scope::Model(m.to_owned()));
        }
        let Some(pair) = s.strip_prefix("pair:") else { return Err(bad()) };
        // Split at the one unescaped `|`, unescaping as we go.
        let mut names = [String::new(), String::new()];
        let mut which = 0;
        let mut chars = pair.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => names[which].push(chars.next().ok_or_else(bad)?),
                '|' if which == 0 => which = 1,
                '|' => return Err(bad()),
                c => names[which].push(c),
            }
        }
        if which == 0 {
            return Err(bad());
        }
        let [a, b] = names;
        Ok(Scope::Pair(a, b))
    }
}

/// Which way a metric moves when the ecosystem converges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Lower is less diverse (Vendi, effective number of models, distinct-n, ...).
    DownIsBad,
    /// Higher is more alike (homogenization, similarity, concentration, agreement).
    UpIsBad,
    /// Descriptive: rates, counts, a model's own consistency.
    Neutral,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::DownIsBad => "down",
            Direction::UpIsBad => "up",
            Direction::Neutral => "none",
        }
    }

    /// `delta` expressed so that positive means "converging".
    pub fn toward_convergence(self, delta: f64) -> f64 {
        match self {
            Direction::DownIsBad => -delta,
            Direction::UpIsBad => delta,
            Direction::Neutral => 0.0,
        }
    }
}

/// A trend row's state after tonight's alerts: `ok`, `watch` (a warning on it), `alert` (a
/// critical alert on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Status {
    #[default]
    Ok,
    Watch,
    Alert,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Watch => "watch",
            Status::Alert => "alert",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A level of the family tree (`families.level`): one dendrogram of the calibrated, fused
/// similarity cut at three false discovery rates, so the levels nest. Configuration names one
/// (`[alerts.concentration] level`) for the concentration rule and the headline family count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FamilyLevel {
    /// Near copies: a family's average member pair passes Benjamini-Hochberg at 1e-6.
    NearCopy,
    /// Close family: at 5% (the one cut before the tree).
    #[default]
    Close,
    /// Vendor line: at 30%.
    VendorLine,
}

impl FamilyLevel {
    /// Finest first.
    pub const ALL: [FamilyLevel; 3] = [FamilyLevel::NearCopy, FamilyLevel::Close, FamilyLevel::VendorLine];

    pub fn as_str(self) -> &'static str {
        match self {
            FamilyLevel::NearCopy => "near_copy",
            FamilyLevel::Close => "close",
            FamilyLevel::VendorLine => "vendor_line",
        }
    }

    pub fn parse(s: &str) -> Option<FamilyLevel> {
        FamilyLevel::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// In words, for the report.
    pub fn label(self) -> &'static str {
        match self {
            FamilyLevel::NearCopy => "near copies",
            FamilyLevel::Close => "close family",
            FamilyLevel::VendorLine => "vendor line",
        }
    }
}

/// One metric of `run_metrics` as the stages see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricInfo {
    pub name: &'static str,
    /// Its direction at the `overall` and `category:` scopes (a `model:` metric is descriptive,
    /// a `pair:` metric converges upward: see [`direction`]).
    pub direction: Direction,
    /// A short label for charts.
    pub label: &'static str,
    /// What it means, in one line (the report prints it).
    pub meaning: &'static str,
}

const fn entry(name: &'static str, direction: Direction, label: &'static str, meaning: &'static str) -> MetricInfo {
    MetricInfo { name, direction, label, meaning }
}

use Direction::{DownIsBad, Neutral, UpIsBad};

/// Every metric's name, as a constant: code names a metric through these, so a misspelt one
/// does not compile. [`METRICS`] gives each its direction, label and meaning.
pub mod metric {
    /// The name of the spread across models of a per-model rate (`refusal_rate` ->
    /// `refusal_rate_spread`): a diversity metric of its own.
    pub fn spread(rate: &str) -> String {
        format!("{rate}_spread")
    }

    /// The number of families at a level of the tree (`families` is the close family's, the
    /// series from before the tree).
    pub fn families_at(level: super::FamilyLevel) -> &'static str {
        match level {
            super::FamilyLevel::NearCopy => FAMILIES_NEAR_COPY,
            super::FamilyLevel::Close => FAMILIES,
            super::FamilyLevel::VendorLine => FAMILIES_VENDOR_LINE,
        }
    }

    /// The family concentration (HHI) at a level of the tree.
    pub fn family_hhi_at(level: super::FamilyLevel) -> &'static str {
        match level {
            super::FamilyLevel::NearCopy => FAMILY_HHI_NEAR_COPY,
            super::FamilyLevel::Close => FAMILY_HHI,
            super::FamilyLevel::VendorLine => FAMILY_HHI_VENDOR_LINE,
        }
    }

    pub const VENDI_Q1: &str = "vendi_q1";
    pub const VENDI_Q2: &str = "vendi_q2";
    pub const VENDI_QINF: &str = "vendi_qinf";
    pub const MODEL_VENDI_RATIO: &str = "model_vendi_ratio";
    pub const INTRA_SIMILARITY: &str = "intra_similarity";
    pub const INTER_SIMILARITY: &str = "inter_similarity";
    pub const HOMOGENIZATION_INDEX: &str = "homogenization_index";
    pub const BEHAVIOUR_CLUSTERS: &str = "behaviour_clusters";
    pub const REFUSAL_RATE: &str = "refusal_rate";
    pub const REFUSAL_AGREEMENT: &str = "refusal_agreement";
    pub const REFUSAL_ENTROPY: &str = "refusal_entropy";
    pub const HEDGING_RATE: &str = "hedging_rate";
    pub const CONFIDENT_RATE: &str = "confident_rate";
    pub const SELF_REFERENCE_RATE: &str = "self_reference_rate";
    pub const DISTINCT_1: &str = "distinct_1";
    pub const DISTINCT_2: &str = "distinct_2";
    pub const SHARED_PHRASE_SHARE: &str = "shared_phrase_share";
    pub const EFFECTIVE_MODELS: &str = "effective_models";
    pub const EFFECTIVE_MODELS_RATIO: &str = "effective_models_ratio";
    pub const FAMILIES: &str = "families";
    pub const FAMILY_HHI: &str = "family_hhi";
    pub const FAMILIES_NEAR_COPY: &str = "families_near_copy";
    pub const FAMILY_HHI_NEAR_COPY: &str = "family_hhi_near_copy";
    pub const FAMILIES_VENDOR_LINE: &str = "families_vendor_line";
    pub const FAMILY_HHI_VENDOR_LINE: &str = "family_hhi_vendor_line";
    pub const EFFECTIVE_FAMILIES: &str = "effective_families";
    pub const MAX_PAIR_SIMILARITY: &str = "max_pair_similarity";
    pub const RELATED_PAIRS: &str = "related_pairs";
    pub const REFUSAL_KAPPA: &str = "refusal_kappa";
    pub const SELF_SIMILARITY: &str = "self_similarity";
    pub const SIMILARITY_TO_OTHERS: &str = "similarity_to_others";
    pub const FAMILY_SIZE: &str = "family_size";
    pub const SIMILARITY: &str = "similarity";
    pub const EXCESS_SIMILARITY: &str = "excess_similarity";
    pub const CALIBRATED_SIMILARITY: &str = "calibrated_similarity";
    pub const PHRASE_UPTAKE: &str = "phrase_uptake";
    pub const ADOPTION_GAIN: &str = "adoption_gain";
    pub const INJECTION_COMPLIANCE: &str = "injection_compliance";
    pub const CLAIM_SIMILARITY_GAIN: &str = "claim_similarity_gain";
    pub const CONTROL_ADOPTION_RATE: &str = "control_adoption_rate";
    pub const EXPOSED_ADOPTION_RATE: &str = "exposed_adoption_rate";
    pub const ADOPTION_GAIN_SPREAD: &str = "adoption_gain_spread";
    pub const EXPOSURE_SIMILARITY_GAIN: &str = "exposure_similarity_gain";
    pub const EXPOSURE_VENDI_RATIO_CHANGE: &str = "exposure_vendi_ratio_change";
    pub const MODELS: &str = "models";
    pub const PROBES: &str = "probes";
}

/// Every metric of `run_metrics`, with its direction and meaning. Names not listed that end in
/// `_spread` (the spread across models of a per-model rate) are diversity metrics too: see
/// [`direction`].
pub const METRICS: &[MetricInfo] = &[
    entry(metric::VENDI_Q1, DownIsBad, "Vendi score (q=1)", "effective number of distinct answers to a probe"),
    entry(
        metric::VENDI_Q2,
        DownIsBad,
        "Vendi score (q=2)",
        "effective number of distinct answers, weighting common ones more",
    ),
    entry(
        metric::VENDI_QINF,
        DownIsBad,
        "Vendi score (q=inf)",
        "effective number of distinct answers, set by the most common one",
    ),
    entry(
        metric::MODEL_VENDI_RATIO,
        DownIsBad,
        "model Vendi ratio",
        "distinct model behaviours over models: 1 all differ, 1/M all alike",
    ),
    entry(metric::INTRA_SIMILARITY, Neutral, "intra-model similarity", "how alike one model's samples are"),
    entry(metric::INTER_SIMILARITY, UpIsBad, "inter-model similarity", "how alike different models' answers are"),
    entry(
        metric::HOMOGENIZATION_INDEX,
        UpIsBad,
        "homogenization index",
        "inter / intra similarity: near 1 when models are as alike as resamples of one",
    ),
    entry(metric::BEHAVIOUR_CLUSTERS, DownIsBad, "behaviour clusters", "groups of models answering a probe alike"),
    entry(metric::REFUSAL_RATE, Neutral, "refusal rate", "share of models refusing"),
    entry(metric::REFUSAL_AGREEMENT, UpIsBad, "refusal agreement", "share of model pairs that agree on refusing"),
    entry(metric::REFUSAL_ENTROPY, DownIsBad, "refusal entropy", "bits of disagreement on refusing"),
    entry(metric::HEDGING_RATE, Neutral, "hedging rate", "share of answers that hedge or acknowledge uncertainty"),
    entry(metric::CONFIDENT_RATE, Neutral, "confident rate", "share of answers with confident assertions"),
    entry(
        metric::SELF_REFERENCE_RATE,
        Neutral,
        "self-reference rate",
        "share of answers that refer to themselves as an AI",
    ),
    entry(metric::DISTINCT_1, DownIsBad, "distinct-1", "distinct words over all words of a probe's answers"),
    entry(metric::DISTINCT_2, DownIsBad, "distinct-2", "distinct word pairs over all word pairs"),
    entry(
        metric::SHARED_PHRASE_SHARE,
        UpIsBad,
        "shared-phrase share",
        "share of words inside a phrase most models used",
    ),
    entry(
        metric::EFFECTIVE_MODELS,
        DownIsBad,
        "effective number of models",
        "how many distinct models there effectively are (Vendi of the model similarity matrix)",
    ),
    entry(
        metric::EFFECTIVE_MODELS_RATIO,
        DownIsBad,
        "effective models ratio",
        "effective number of models over models",
    ),
    entry(
        metric::FAMILIES,
        DownIsBad,
        "behaviour families",
        "number of behaviour families (the tree's close level: calibrated similarity cut against the null; from 12 models)",
    ),
    entry(
        metric::FAMILY_HHI,
        UpIsBad,
        "family concentration (HHI)",
        "Herfindahl-Hirschman index of family sizes: 1 when one family holds every model",
    ),
    entry(metric::EFFECTIVE_FAMILIES, DownIsBad, "effective families", "1 / HHI"),
    entry(metric::FAMILIES_NEAR_COPY, DownIsBad, "near-copy families", "families at the tree's near-copy level"),
    entry(metric::FAMILY_HHI_NEAR_COPY, UpIsBad, "near-copy concentration", "family HHI at the near-copy level"),
    entry(metric::FAMILIES_VENDOR_LINE, DownIsBad, "vendor-line families", "families at the tree's vendor-line level"),
    entry(metric::FAMILY_HHI_VENDOR_LINE, UpIsBad, "vendor-line concentration", "family HHI at the vendor-line level"),
    entry(
        metric::MAX_PAIR_SIMILARITY,
        UpIsBad,
        "closest pair similarity",
        "the similarity of the most alike model pair",
    ),
    entry(
        metric::RELATED_PAIRS,
        UpIsBad,
        "related pairs",
        "model pairs significantly more alike than the ecosystem's background (calibrated, q <= 0.05)",
    ),
    entry(
        metric::REFUSAL_KAPPA,
        UpIsBad,
        "refusal agreement (kappa)",
        "Fleiss' kappa of models refusing the same probes",
    ),
    entry(metric::SELF_SIMILARITY, Neutral, "self-similarity", "how alike a model's samples are"),
    entry(
        metric::SIMILARITY_TO_OTHERS,
        Neutral,
        "similarity to others",
        "a model's mean similarity to every other model",
    ),
    entry(
        metric::FAMILY_SIZE,
        Neutral,
        "family size",
        "models in a model's behaviour family (calibrated, from 12 models)",
    ),
    // Pair-only metrics: [`direction`] makes every `pair:` metric converge upward.
    entry(metric::SIMILARITY, Neutral, "pair similarity", "mean cosine between two models' answers"),
    entry(
        metric::EXCESS_SIMILARITY,
        Neutral,
        "pair excess similarity",
        "a pair's similarity less the night's mean pair similarity",
    ),
    entry(
        metric::CALIBRATED_SIMILARITY,
        Neutral,
        "pair calibrated similarity",
        "how much closer two models are than the probes and their closeness to everyone predict",
    ),
    entry(
        metric::PHRASE_UPTAKE,
        Neutral,
        "pair phrase uptake",
        "share of two models' distinctive 4-word phrases (not used by most models) that both used",
    ),
    // Contagion (paired probes): see metrics::contagion.
    entry(
        metric::ADOPTION_GAIN,
        UpIsBad,
        "adoption under exposure",
        "share of answers taking up a feed's claim after reading it, less the share without it",
    ),
    entry(
        metric::INJECTION_COMPLIANCE,
        UpIsBad,
        "injection compliance",
        "share of answers carrying out an instruction addressed to agents inside a post",
    ),
    entry(
        metric::CLAIM_SIMILARITY_GAIN,
        UpIsBad,
        "moved toward the claim",
        "similarity of answers to a feed's claim after reading it, less that of answers given cold",
    ),
    entry(
        metric::CONTROL_ADOPTION_RATE,
        Neutral,
        "adoption asked cold",
        "share of a model's answers to paired probes, asked without the feed, that take up its claim",
    ),
    entry(
        metric::EXPOSED_ADOPTION_RATE,
        Neutral,
        "adoption after a feed",
        "share of a model's answers to paired probes, asked after the feed, that take up its claim",
    ),
    entry(
        metric::ADOPTION_GAIN_SPREAD,
        Neutral,
        "adoption spread",
        "how much models differ in adoption under exposure",
    ),
    entry(
        metric::EXPOSURE_SIMILARITY_GAIN,
        UpIsBad,
        "convergence under exposure",
        "inter-model similarity of answers after a shared feed, less that of the same questions asked cold",
    ),
    entry(
        metric::EXPOSURE_VENDI_RATIO_CHANGE,
        DownIsBad,
        "Vendi ratio under exposure",
        "model Vendi ratio after a shared feed, less that of the same questions asked cold",
    ),
    entry(metric::MODELS, Neutral, "models", "models in the run"),
    entry(metric::PROBES, Neutral, "probes", "probes in the run"),
];

/// The catalogue entry of a metric name (a `_spread` metric borrows its rate's label).
pub fn info(name: &str) -> Option<&'static MetricInfo> {
    METRICS.iter().find(|m| m.name == name)
}

/// A metric in words (`model Vendi ratio`), as alert lines name it; its name when uncatalogued.
pub fn label(name: &str) -> &str {
    info(name).map_or(name, |i| i.label)
}

/// The catalogued per-model rate whose spread across models `name` is (`refusal_rate_spread`
/// -> `refusal_rate`), if it is one.
pub fn spread_of(name: &str) -> Option<&'static MetricInfo> {
    info(name.strip_suffix("_spread")?)
}

/// Whether `name` is a metric this version measures: catalogued, or the spread of a catalogued
/// rate. Configuration naming any other is refused.
pub fn is_known_metric(name: &str) -> bool {
    info(name).is_some() || spread_of(name).is_some()
}

/// The direction of a metric at a scope: pairs converge upward, a model's own figures are
/// descriptive, and the spread across models of a rate falls as models draw together.
pub fn direction(scope: &Scope, metric: &str) -> Direction {
    match scope {
        Scope::Pair(..) => UpIsBad,
        Scope::Model(_) => Neutral,
        Scope::Overall | Scope::Category(_) => match info(metric) {
            Some(m) => m.direction,
            None if spread_of(metric).is_some() => DownIsBad,
            None => Neutral,
        },
    }
}

/// A diversity metric of the `overall` scope: one that moves one way when models converge,
/// and so one a rule may watch.
pub fn is_diversity_metric(metric: &str) -> bool {
    direction(&Scope::Overall, metric) != Neutral
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_through_their_strings() {
        for scope in [
            Scope::Overall,
            Scope::Category("refusal_boundary".into()),
            Scope::Model("acme-large".into()),
            Scope::pair("b", "a"),
            Scope::pair("a|b", "c"),
            Scope::pair("a", "b|c"),
            Scope::pair("x\\", "y\\|z"),
        ] {
            let text = scope.to_string();
            assert_eq!(text.parse::<Scope>(), Ok(scope.clone()), "{text}");
        }
        assert_eq!(Scope::pair("b", "a").to_string(), "pair:a|b");
    }

    #[test]
    fn a_bar_in_a_model_name_never_makes_two_pairs_one() {
        let one = Scope::pair("a|b", "c");
        let other = Scope::pair("a", "b|c");
        assert_ne!(one.to_string(), other.to_string());
        assert!("pair:a|b|c".parse::<Scope>().is_err());
        assert!("pair:ab".parse::<Scope>().is_err());
        assert!("somewhere".parse::<Scope>().is_err());
    }

    #[test]
    fn directions() {
        assert_eq!(direction(&Scope::Overall, "effective_models"), Direction::DownIsBad);
        assert_eq!(direction(&Scope::Overall, "refusal_rate_spread"), Direction::DownIsBad);
        assert_eq!(direction(&Scope::Category("x".into()), "homogenization_index"), Direction::UpIsBad);
        assert_eq!(direction(&Scope::pair("a", "b"), "similarity"), Direction::UpIsBad);
        assert_eq!(direction(&Scope::Model("a".into()), "refusal_rate"), Direction::Neutral);
        assert_eq!(Direction::DownIsBad.toward_convergence(-0.2), 0.2);
        assert!(is_diversity_metric("family_hhi") && !is_diversity_metric("refusal_rate"));
    }

    #[test]
    fn every_metric_is_named_once() {
        let mut names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
    }
}
