//! How far tonight's pair series moved, all pairs together: what a single pair's rise is judged
//! against. A pair is news when it rises apart from the rest of tonight's pairs; a rise every
//! pair shares (an ecosystem-wide move) or that is no larger than the night-to-night noise of
//! one pair's series is not. Pure.

use std::collections::HashMap;

use crate::trend::TrendRow;
use crate::vocab::{Scope, metric};

/// The median of tonight's pair rises over their baselines and its robust spread (1.4826 MAD).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Background {
    pub median: f64,
    pub spread: f64,
}

/// A pair rising more than this many robust spreads beyond tonight's typical pair rise moved on
/// its own, whatever the ecosystem did: a lineage, not the crowd or the noise. (3.5 robust
/// spreads: the usual outlier bar for a median/MAD score, Iglewicz and Hoaglin.)
pub const APART_Z: f64 = 3.5;

impl Background {
    /// Of the rises of tonight's pair series (None with fewer than six pairs, or none moving).
    pub fn of(rises: &[f64]) -> Option<Background> {
        if rises.len() < 6 {
            return None;
        }
        let median = crate::trend::stats::median(rises)?;
        let deviations: Vec<f64> = rises.iter().map(|r| (r - median).abs()).collect();
        let spread = 1.4826 * crate::trend::stats::median(&deviations)?;
        (spread > 0.0).then_some(Background { median, spread })
    }

    /// How many robust spreads a rise stands above tonight's median pair rise.
    pub fn z(&self, rise: f64) -> f64 {
        (rise - self.median) / self.spread
    }

    /// Whether a pair's rise stands apart from tonight's other pairs.
    pub fn apart(&self, rise: f64) -> bool {
        self.z(rise) >= APART_Z
    }
}

/// Tonight's background of each pair series (`calibrated_similarity`, `phrase_uptake`, ...): a
/// pair's rise on one series is judged against the other pairs' rises on the same series.
/// Also the spread of the pairs' baselines on each series: which pairs were already alike.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backgrounds {
    rises: HashMap<String, Background>,
    baselines: HashMap<String, Background>,
}

impl Backgrounds {
    /// Of tonight's trend rows: one background per pair series among them.
    pub fn of_pairs(rows: &[TrendRow]) -> Backgrounds {
        let mut series: HashMap<&str, (Vec<f64>, Vec<f64>)> = HashMap::new();
        for t in rows.iter().filter(|t| matches!(t.scope, Scope::Pair(..))) {
            let (rises, baselines) = series.entry(t.metric.as_str()).or_default();
            rises.extend(t.delta);
            baselines.extend(t.baseline);
        }
        let mut out = Backgrounds::default();
        for (metric, (rises, baselines)) in series {
            out.rises.extend(Background::of(&rises).map(|b| (metric.to_owned(), b)));
            out.baselines.extend(Background::of(&baselines).map(|b| (metric.to_owned(), b)));
        }
        out
    }

    /// One series' background alone.
    pub fn one(metric: &str, background: Background) -> Backgrounds {
        Backgrounds { rises: HashMap::from([(metric.to_owned(), background)]), baselines: HashMap::new() }
    }

    /// The background of the pair series `metric` (None with too few pairs, or none moving).
    pub fn of(&self, metric: &str) -> Option<Background> {
        self.rises.get(metric).copied()
    }

    /// Whether a pair whose baseline on `metric` is `baseline` was already alike apart from the
    /// rest: [`APART_Z`] robust spreads above tonight's median pair baseline.
    pub fn related(&self, metric: &str, baseline: f64) -> bool {
        self.baselines.get(metric).is_some_and(|b| b.apart(baseline))
    }
}

/// What the pair rule says of a pair series `metric` at `value`: the series in words, what the
/// pair is doing, and the reading.
pub fn words(metric: &str, value: f64) -> (&'static str, &'static str, &'static str) {
    let series = match metric {
        metric::CALIBRATED_SIMILARITY => {
            "their calibrated similarity (how much closer they are than the probes and their closeness to everyone predict)"
        }
        metric::EXCESS_SIMILARITY => "their similarity less the night's mean pair similarity",
        metric::PHRASE_UPTAKE => "their phrase uptake (the overlap of their own recurring phrases)",
        _ => "their similarity",
    };
    let (doing, reading) = if metric == metric::PHRASE_UPTAKE {
        (
            "have come to share recurring phrases of their own, apart from the rest",
            "one taking up the other's wording, or both a third model's (cultural transmission or sequential influence)",
        )
    } else if value > 0.0 {
        ("are converging apart from the rest", "a suspected lineage or sequential influence")
    } else {
        ("are drawing together faster than the rest", "still less alike than the background: not a lineage")
    };
    (series, doing, reading)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rise_apart_from_the_crowd_is_an_outlier_of_its_median_and_mad() {
        let crowd = Background::of(&[0.0, 0.01, -0.01, 0.02, 0.005, 0.015, -0.005, 0.01]).unwrap();
        // Median 0.0075, MAD 0.0075 -> spread 0.0111.
        assert!((crowd.median - 0.0075).abs() < 1e-12 && (crowd.spread - 1.4826 * 0.0075).abs() < 1e-12);
        assert!(!crowd.apart(0.03), "z {}", crowd.z(0.03));
        assert!(crowd.apart(0.06), "z {}", crowd.z(0.06));
        assert_eq!(Background::of(&[0.1; 4]), None, "too few pairs for a background");
        assert_eq!(Background::of(&[0.1; 8]), None, "no spread: nothing to stand apart from");
    }
}
