//! The features stage of a run: reads the run's `responses` and writes `features`.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::{Lexicon, extract};
use crate::store::{self, StoreError};

/// Texts extracted per batch (and per Parquet write).
const CHUNK: usize = 4096;

/// Writes the `features` table of a run; returns its path and row count.
pub fn write_features(
    output: &Path,
    run_date: NaiveDate,
    run_id: &str,
    lexicon: &Lexicon,
) -> Result<(PathBuf, u64), StoreError> {
    let responses = store::table_path(output, store::responses::TABLE, run_date, run_id);
    let categories = store::responses::probe_categories(&responses)?;
    let mut texts = store::responses::OkTexts::open(&responses, CHUNK)?;
    let out = store::features::path(output, run_date, run_id);
    let rows = store::write_parquet(&out, std::sync::Arc::clone(&store::features::SCHEMA), || {
        let Some(chunk) = texts.next_chunk()? else { return Ok(None) };
        let features = crate::util::parallel_map(&chunk, |r| extract(lexicon, &r.text));
        store::features::batch(run_id, &lexicon.version, &categories, &chunk, &features).map(Some)
    })?;
    Ok((out, rows))
}
