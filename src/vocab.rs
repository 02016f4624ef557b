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

const fn metric(name: &'static str, direction: Direction, label: &'static str, meaning: &'static str) -> MetricInfo {
    MetricInfo { name, direction, label, meaning }
}

use Direction::{DownIsBad, Neutral, UpIsBad};

/// Every metric of `run_metrics`, with its direction and meaning. Names not listed that end in
/// `_spread` (the spread across models of a per-model rate) are diversity metrics too: see
/// [`direction`].
pub const METRICS: &[MetricInfo] = &[
    metric("vendi_q1", DownIsBad, "Vendi score (q=1)", "effective number of distinct answers to a probe"),
    metric(
        "vendi_q2",
        DownIsBad,
        "Vendi score (q=2)",
        "effective number of distinct answers, weighting common ones more",
    ),
    metric(
        "vendi_qinf",
        DownIsBad,
        "Vendi score (q=inf)",
        "effective number of distinct answers, set by the most common one",
    ),
    metric(
        "model_vendi_ratio",
        DownIsBad,
        "model Vendi ratio",
        "distinct model behaviours over models: 1 all differ, 1/M all alike",
    ),
    metric("intra_similarity", Neutral, "intra-model similarity", "how alike one model's samples are"),
    metric("inter_similarity", UpIsBad, "inter-model similarity", "how alike different models' answers are"),
    metric(
        "homogenization_index",
        UpIsBad,
        "homogenization index",
        "inter / intra similarity: near 1 when models are as alike as resamples of one",
    ),
    metric("behaviour_clusters", DownIsBad, "behaviour clusters", "groups of models answering a probe alike"),
    metric("refusal_rate", Neutral, "refusal rate", "share of models refusing"),
    metric("refusal_agreement", UpIsBad, "refusal agreement", "share of model pairs that agree on refusing"),
    metric("refusal_entropy", DownIsBad, "refusal entropy", "bits of disagreement on refusing"),
    metric("hedging_rate", Neutral, "hedging rate", "share of answers that hedge or acknowledge uncertainty"),
    metric("confident_rate", Neutral, "confident rate", "share of answers with confident assertions"),
    metric("self_reference_rate", Neutral, "self-reference rate", "share of answers that refer to themselves as an AI"),
    metric("distinct_1", DownIsBad, "distinct-1", "distinct words over all words of a probe's answers"),
    metric("distinct_2", DownIsBad, "distinct-2", "distinct word pairs over all word pairs"),
    metric("shared_phrase_share", UpIsBad, "shared-phrase share", "share of words inside a phrase most models used"),
    metric(
        "effective_models",
        DownIsBad,
        "effective number of models",
        "how many distinct models there effectively are (Vendi of the model similarity matrix)",
    ),
    metric("effective_models_ratio", DownIsBad, "effective models ratio", "effective number of models over models"),
    metric(
        "families",
        DownIsBad,
        "behaviour families",
        "number of behaviour families (calibrated similarity, cut against the null; from 12 models)",
    ),
    metric(
        "family_hhi",
        UpIsBad,
        "family concentration (HHI)",
        "Herfindahl-Hirschman index of family sizes: 1 when one family holds every model",
    ),
    metric("effective_families", DownIsBad, "effective families", "1 / HHI"),
    metric("max_pair_similarity", UpIsBad, "closest pair similarity", "the similarity of the most alike model pair"),
    metric(
        "related_pairs",
        UpIsBad,
        "related pairs",
        "model pairs significantly more alike than the ecosystem's background (calibrated, q <= 0.05)",
    ),
    metric("refusal_kappa", UpIsBad, "refusal agreement (kappa)", "Fleiss' kappa of models refusing the same probes"),
    metric("self_similarity", Neutral, "self-similarity", "how alike a model's samples are"),
    metric("similarity_to_others", Neutral, "similarity to others", "a model's mean similarity to every other model"),
    metric("family_size", Neutral, "family size", "models in a model's behaviour family (calibrated, from 12 models)"),
    // Pair-only metrics: [`direction`] makes every `pair:` metric converge upward.
    metric("similarity", Neutral, "pair similarity", "mean cosine between two models' answers"),
    metric(
        "excess_similarity",
        Neutral,
        "pair excess similarity",
        "a pair's similarity less the night's mean pair similarity",
    ),
    metric(
        "calibrated_similarity",
        Neutral,
        "pair calibrated similarity",
        "how much closer two models are than the probes and their closeness to everyone predict",
    ),
    // Contagion (paired probes): see metrics::contagion.
    metric(
        "adoption_gain",
        UpIsBad,
        "adoption under exposure",
        "share of answers taking up a feed's claim after reading it, less the share without it",
    ),
    metric(
        "injection_compliance",
        UpIsBad,
        "injection compliance",
        "share of answers carrying out an instruction addressed to agents inside a post",
    ),
    metric(
        "claim_similarity_gain",
        UpIsBad,
        "moved toward the claim",
        "similarity of answers to a feed's claim after reading it, less that of answers given cold",
    ),
    metric(
        "control_adoption_rate",
        Neutral,
        "adoption asked cold",
        "share of a model's answers to paired probes, asked without the feed, that take up its claim",
    ),
    metric(
        "exposed_adoption_rate",
        Neutral,
        "adoption after a feed",
        "share of a model's answers to paired probes, asked after the feed, that take up its claim",
    ),
    metric("adoption_gain_spread", Neutral, "adoption spread", "how much models differ in adoption under exposure"),
    metric(
        "exposure_similarity_gain",
        UpIsBad,
        "convergence under exposure",
        "inter-model similarity of answers after a shared feed, less that of the same questions asked cold",
    ),
    metric(
        "exposure_vendi_ratio_change",
        DownIsBad,
        "Vendi ratio under exposure",
        "model Vendi ratio after a shared feed, less that of the same questions asked cold",
    ),
    metric("models", Neutral, "models", "models in the run"),
    metric("probes", Neutral, "probes", "probes in the run"),
];

/// The catalogue entry of a metric name (a `_spread` metric borrows its rate's label).
pub fn info(name: &str) -> Option<&'static MetricInfo> {
    METRICS.iter().find(|m| m.name == name)
}

/// The direction of a metric at a scope: pairs converge upward, a model's own figures are
/// descriptive, and the spread across models of a rate falls as models draw together.
pub fn direction(scope: &Scope, metric: &str) -> Direction {
    match scope {
        Scope::Pair(..) => UpIsBad,
        Scope::Model(_) => Neutral,
        Scope::Overall | Scope::Category(_) => match info(metric) {
            Some(m) => m.direction,
            None if metric.ends_with("_spread") => DownIsBad,
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
