//! The measure stage of a run: reads the run's stored `embeddings` (and `responses` for
//! categories) and writes `probe_metrics`. Reading the stored tables is what lets
//! `hivewatch analyze` reproduce it exactly for any past run and embedder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::probe::{ModelSamples, probe_measures};
use super::unit_rows;
use crate::embed::Embedder;
use crate::store::{self, StoreError};

/// Computes and writes `probe_metrics` for one run and embedder; returns the file and its rows.
///
/// The whole run's vectors are held while measuring (n x d floats: 4,800 x 2,048 is 39 MB);
/// streaming per probe is left for the scale benchmark of issue 4.
pub fn probe_metrics_run(
    output: &Path,
    run_date: NaiveDate,
    run_id: &str,
    embedder: &Embedder,
) -> Result<(PathBuf, u64), StoreError> {
    let embeddings = store::embeddings::path(output, run_date, run_id, embedder);
    let categories =
        store::responses::probe_categories(&store::table_path(output, store::responses::TABLE, run_date, run_id))?;
    // probe -> model -> vectors; BTreeMaps so rows come out in a stable order.
    let mut by_probe: BTreeMap<String, BTreeMap<String, Vec<Vec<f32>>>> = BTreeMap::new();
    for (endpoint, probe, v) in store::embeddings::read_all(&embeddings)? {
        by_probe.entry(probe).or_default().entry(endpoint).or_default().push(v);
    }
    let rows: Vec<store::probe_metrics::Row> = by_probe
        .into_iter()
        .filter_map(|(probe, models)| {
            let samples: Vec<ModelSamples> =
                models.into_iter().map(|(model, rows)| ModelSamples { model, rows: unit_rows(&rows) }).collect();
            let measures = probe_measures(&samples)?;
            let category = categories.get(&probe).cloned().unwrap_or_default();
            Some((probe, category, measures))
        })
        .collect();
    let out = store::per_embedder_path(output, store::probe_metrics::TABLE, run_date, run_id, embedder);
    let n = store::probe_metrics::write(&out, run_id, embedder.id(), &rows)?;
    Ok((out, n))
}
