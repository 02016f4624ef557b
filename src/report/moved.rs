//! The probes that moved most: each probe's model Vendi ratio tonight against its baseline, the
//! median over the earlier nights of tonight's comparable segment (at most [`BASELINE_NIGHTS`]),
//! as the trends judge the overall ratio; not against the previous night alone, whose own noise
//! would decide the list.

use std::collections::BTreeMap;

use crate::metrics::tables::probe_metrics::ProbeMetricsTable;
use crate::store::table::{self, RunRef};
use crate::store::{EmbedderTag, Output, StoreError};
use crate::trend::stats::median;
use chrono::NaiveDate;

/// Earlier nights a probe's baseline is the median of (the default `[alerts] baseline_runs`).
pub const BASELINE_NIGHTS: usize = 14;
/// Probes listed.
pub const MOVED_PROBES: usize = 8;

/// One probe's ratio tonight and its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct MovedProbe {
    pub probe: String,
    pub category: String,
    /// The median over the baseline nights that asked it (None: no earlier comparable night).
    pub before: Option<f64>,
    pub tonight: f64,
}

fn ratios(output: &Output, run: &RunRef) -> Result<BTreeMap<String, (String, f64)>, StoreError> {
    Ok(table::read_if_any::<ProbeMetricsTable>(output, run)?
        .into_iter()
        .filter_map(|p| Some((p.probe, (p.category, p.model_vendi_ratio?))))
        .collect())
}

/// The [`MOVED_PROBES`] probes whose ratio fell most below their baseline, the median over the
/// runs of `baseline` (the earlier nights of tonight's comparable segment, at most
/// [`BASELINE_NIGHTS`]); without one, the lowest tonight. Worst first.
pub fn moved_probes(
    output: &Output,
    tonight: &RunRef,
    baseline: &[(NaiveDate, String)],
    embedder: &EmbedderTag,
) -> Result<Vec<MovedProbe>, StoreError> {
    let mut history: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (date, run_id) in baseline {
        for (probe, (_, ratio)) in ratios(output, &RunRef::new(*date, run_id.clone(), embedder.clone()))? {
            history.entry(probe).or_default().push(ratio);
        }
    }
    Ok(rank(ratios(output, tonight)?, history))
}

/// Tonight's ratios against each probe's baseline values, the largest falls first.
fn rank(now: BTreeMap<String, (String, f64)>, mut history: BTreeMap<String, Vec<f64>>) -> Vec<MovedProbe> {
    let mut moved: Vec<MovedProbe> = now
        .into_iter()
        .map(|(probe, (category, tonight))| {
            let before = history.remove(&probe).and_then(|v| median(&v));
            MovedProbe { probe, category, before, tonight }
        })
        .collect();
    let fall = |m: &MovedProbe| m.before.map_or(m.tonight, |b| m.tonight - b);
    moved.sort_by(|a, b| fall(a).total_cmp(&fall(b)).then(a.probe.cmp(&b.probe)));
    moved.truncate(MOVED_PROBES);
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_is_ranked_by_its_fall_below_the_median_of_its_baseline_not_below_last_night() {
        let now = BTreeMap::from([
            ("steady".to_owned(), ("c".to_owned(), 0.70)),
            ("fallen".to_owned(), ("c".to_owned(), 0.60)),
            ("new".to_owned(), ("c".to_owned(), 0.95)),
        ]);
        // "steady" had one high night last night (0.90) among many at 0.70: no fall against its
        // baseline. "fallen" sat at 0.80 and is at 0.60 tonight.
        let history = BTreeMap::from([
            ("steady".to_owned(), vec![0.70, 0.71, 0.69, 0.90]),
            ("fallen".to_owned(), vec![0.80, 0.81, 0.79, 0.80]),
        ]);
        let moved = rank(now, history);
        assert_eq!(moved[0].probe, "fallen");
        assert_eq!(moved[0].before, Some(0.80));
        let steady = moved.iter().find(|m| m.probe == "steady").unwrap();
        assert!((steady.before.unwrap() - 0.705).abs() < 1e-12, "the median, not last night's 0.90");
        assert_eq!(moved.iter().find(|m| m.probe == "new").unwrap().before, None);
    }
}
