//! The measure stage of a run: reads the run's stored `embeddings` (and `responses` for
//! categories) and writes `probe_metrics` and `pair_similarity`. Reading the stored tables is
//! what lets `hivewatch analyze` reproduce it exactly for any past run and embedder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::pair::{ProbeResponses, pair_similarities};
use super::probe::{ModelSamples, probe_measures};
use super::unit_rows;
use crate::embed::Embedder;
use crate::store::{self, StoreError};

/// What the measure stage wrote.
#[derive(Debug, Clone)]
pub struct MeasureStats {
    pub probes: u64,
    pub pairs: u64,
    pub tables: Vec<PathBuf>,
}

/// Computes and writes the measure tables for one run and embedder.
///
/// The whole run's vectors are held while measuring (n x d: 4,800 x 2,048 is 79 MB as f64);
/// streaming per probe is left for the scale benchmark of issue 4.
pub fn measure_run(
    output: &Path,
    run_date: NaiveDate,
    run_id: &str,
    embedder: &Embedder,
) -> Result<MeasureStats, StoreError> {
    let embeddings = store::embeddings::path(output, run_date, run_id, embedder);
    let responses = store::table_path(output, store::responses::TABLE, run_date, run_id);
    let categories = store::responses::probe_categories(&responses)?;
    // BTreeMaps, so rows come out in a stable order whatever the file order.
    let mut by_probe: ProbeResponses = BTreeMap::new();
    for (endpoint, probe, v) in store::embeddings::read_all(&embeddings)? {
        let unit = unit_rows(std::slice::from_ref(&v)).pop().expect("one row");
        by_probe.entry(probe).or_default().entry(endpoint).or_default().push(unit);
    }

    let probe_rows: Vec<store::probe_metrics::Row> = by_probe
        .iter()
        .filter_map(|(probe, models)| {
            let samples: Vec<ModelSamples> =
                models.iter().map(|(model, rows)| ModelSamples { model: model.clone(), rows: rows.clone() }).collect();
            let measures = probe_measures(&samples)?;
            Some((probe.clone(), categories.get(probe).cloned().unwrap_or_default(), measures))
        })
        .collect();
    let probe_path = store::per_embedder_path(output, store::probe_metrics::TABLE, run_date, run_id, embedder);
    let probes = store::probe_metrics::write(&probe_path, run_id, embedder.id(), &probe_rows)?;

    // Overall, then per category.
    let mut pair_rows: Vec<store::pair_similarity::Row> =
        pair_similarities(&by_probe).into_iter().map(|p| (None, p)).collect();
    let mut by_category: BTreeMap<&str, ProbeResponses> = BTreeMap::new();
    for (probe, models) in &by_probe {
        let category = categories.get(probe).map_or("", String::as_str);
        by_category.entry(category).or_default().insert(probe.clone(), models.clone());
    }
    for (category, probes) in by_category {
        pair_rows.extend(pair_similarities(&probes).into_iter().map(|p| (Some(category.to_owned()), p)));
    }
    let pair_path = store::per_embedder_path(output, store::pair_similarity::TABLE, run_date, run_id, embedder);
    let pairs = store::pair_similarity::write(&pair_path, run_id, embedder.id(), &pair_rows)?;
    Ok(MeasureStats { probes, pairs, tables: vec![probe_path, pair_path] })
}
