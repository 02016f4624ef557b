//! The features stage of a run: reads the run's `responses` and writes `features`.

use std::path::PathBuf;

use chrono::NaiveDate;

use super::{Lexicon, extract, table};
use crate::collect::responses;
use crate::store::{Output, StoreError, TableWriter};

/// Texts extracted per batch (and per Parquet write).
const CHUNK: usize = 4096;

/// Writes the `features` table of a run; returns its path and row count.
pub fn write_features(
    output: &Output,
    run_date: NaiveDate,
    run_id: &str,
    lexicon: &Lexicon,
) -> Result<(PathBuf, u64), StoreError> {
    let responses = responses::path(output, run_date, run_id);
    let categories = responses::probe_categories(&responses)?;
    let mut texts = responses::OkTexts::open(&responses, CHUNK)?;
    let out = table::path(output, run_date, run_id);
    let mut writer = TableWriter::create(&out, std::sync::Arc::clone(&table::SCHEMA))?;
    while let Some(chunk) = texts.next_chunk()? {
        let features = crate::util::parallel_map(&chunk, |r| extract(lexicon, &r.text));
        writer.write(&table::batch(run_id, &lexicon.version, &categories, &chunk, &features)?)?;
    }
    let rows = writer.finish()?;
    Ok((out, rows))
}
