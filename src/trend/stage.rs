//! The trend stage of a run: finds the comparable runs before it (bounded look-back), reads
//! their `run_metrics` and the previous `trends`, and computes tonight's trend rows.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::{TrendRow, TrendSettings, compute_trends, table};
use crate::metrics::tables::run_metrics;
use crate::plan::runs::{self, RunInfo};
use crate::store::{EmbedderTag, Output, StoreError};

/// How many earlier runs, at most, are looked at for comparable ones, as a multiple of the
/// longest window: past a change of instrument, older runs are never read.
pub const LOOK_BACK: usize = 3;

/// Tonight's trend rows for one embedder (status still ok: alerts set it).
pub fn trend_run(
    output: &Output,
    tonight: &RunInfo,
    embedder: &EmbedderTag,
    settings: &TrendSettings,
) -> Result<Vec<TrendRow>, StoreError> {
    let metrics_path = |date, id: &str| output.per_embedder_path(run_metrics::TABLE, date, id, embedder);
    let today = run_metrics::read(&metrics_path(tonight.run_date, &tonight.run_id))?;
    let window = settings.baseline_runs.max(settings.trend_runs);

    let mut earlier: Vec<(NaiveDate, String)> = runs::list(output)?
        .into_iter()
        .filter(|(date, id)| (*date, id.as_str()) < (tonight.run_date, tonight.run_id.as_str()))
        .collect();
    let any_earlier = !earlier.is_empty();
    earlier.reverse();
    let mut comparable: Vec<(NaiveDate, String)> = Vec::new();
    for (date, id) in earlier.into_iter().take(LOOK_BACK * window) {
        if comparable.len() == window {
            break;
        }
        if !metrics_path(date, &id).exists() {
            continue;
        }
        let info = runs::read_info(output, date, &id)?;
        if info.comparable(tonight) {
            comparable.push((date, id));
        }
    }
    comparable.reverse();
    let history: Vec<Vec<_>> =
        comparable.iter().map(|(date, id)| run_metrics::read(&metrics_path(*date, id))).collect::<Result<_, _>>()?;
    let carried = match comparable.last() {
        Some((date, id)) => table::read_carried(&output.per_embedder_path(table::TABLE, *date, id, embedder))?,
        None => HashMap::new(),
    };
    let instrument_change = any_earlier && comparable.is_empty();
    Ok(compute_trends(&tonight.run_id, &today, &history, &carried, instrument_change, settings))
}
