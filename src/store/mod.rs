//! Store: the Parquet tables, one module per table, and the rules every file follows.
//!
//! Every table lives at `<output>/<table>/run_date=YYYY-MM-DD/<run_id>.parquet` (Hive
//! partitioning, so DuckDB's `read_parquet('<output>/<table>/*/*.parquet',
//! hive_partitioning=true)` gives `run_date` as a column), zstd-compressed, timestamps in UTC
//! microseconds, written to a temporary name, synced and renamed, so a reader never sees half a
//! file and a crash leaves no partial table.

pub mod alerts;
pub mod embeddings;
pub mod families;
pub mod features;
pub mod lock;
pub mod pair_similarity;
pub mod probe_metrics;
pub mod responses;
pub mod run_metrics;
pub mod runs;
pub mod shared_phrases;
pub mod trends;

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Errors writing or reading a table.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Parquet { path: PathBuf, source: parquet::errors::ParquetError },
    #[error("building a {table} batch: {source}")]
    Arrow { table: &'static str, source: arrow_schema::ArrowError },
    /// The producer of batches failed and reported its own error.
    #[error("writing stopped by an earlier error")]
    Aborted,
}

/// `<output>/<table>/run_date=<date>/<run_id>.parquet`.
pub fn table_path(output: &Path, table: &str, run_date: NaiveDate, run_id: &str) -> PathBuf {
    output.join(table).join(format!("run_date={}", run_date.format("%Y-%m-%d"))).join(format!("{run_id}.parquet"))
}

/// A table file that depends on an embedder: `<run_id>.<embedder name>-<8 hex of its id>`, so
/// the same run embedded two ways keeps both.
pub fn per_embedder_path(
    output: &Path,
    table: &str,
    run_date: NaiveDate,
    run_id: &str,
    embedder: &crate::embed::Embedder,
) -> PathBuf {
    let tag = &crate::util::sha256_hex(embedder.id().as_bytes())[..8];
    table_path(output, table, run_date, &format!("{run_id}.{}-{tag}", embedder.name()))
}

/// Writes a file atomically: `write` fills a temporary sibling, which is synced and renamed over
/// `path`; the folder is synced so the rename itself survives a crash.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        write(&mut file)?;
        file.flush()?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid zstd level")))
        // Row groups are flushed at this size, so writing a large table holds one group in
        // memory, not the table.
        .set_max_row_group_row_count(Some(8 * 1024))
        .set_created_by(concat!("hivewatch ", env!("CARGO_PKG_VERSION")).to_owned())
        .build()
}

/// Writes the batches `next_batch` yields (until `None`) as one Parquet file, atomically.
pub fn write_parquet(
    path: &Path,
    schema: Arc<Schema>,
    mut next_batch: impl FnMut() -> Result<Option<RecordBatch>, StoreError>,
) -> Result<u64, StoreError> {
    let mut rows = 0u64;
    let mut inner: Option<StoreError> = None;
    let io = write_atomic(path, |file| {
        let pq = |source| io::Error::other(StoreError::Parquet { path: path.to_owned(), source });
        let mut writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(writer_properties())).map_err(pq)?;
        loop {
            match next_batch() {
                Ok(Some(batch)) => {
                    rows += batch.num_rows() as u64;
                    writer.write(&batch).map_err(pq)?;
                }
                Ok(None) => break,
                Err(e) => {
                    inner = Some(e);
                    return Err(io::Error::other("batch failed"));
                }
            }
        }
        writer.close().map_err(pq)?;
        Ok(())
    });
    if let Some(e) = inner {
        return Err(e);
    }
    io.map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
    Ok(rows)
}

/// Writes one batch as a whole Parquet file, atomically (the small per-run tables).
pub fn write_batch(path: &Path, batch: RecordBatch) -> Result<u64, StoreError> {
    let schema = batch.schema();
    let mut once = Some(batch);
    write_parquet(path, schema, || Ok(once.take()))
}

/// Every batch of a Parquet file (for the small per-run tables the report reads whole).
pub fn read_batches(path: &Path) -> Result<Vec<RecordBatch>, StoreError> {
    let pq = |source| StoreError::Parquet { path: path.to_owned(), source };
    let file = File::open(path).map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(pq)?
        .build()
        .map_err(pq)?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| StoreError::Parquet { path: path.to_owned(), source: e.into() })
}

/// Arrow's UTC timestamp type used by every table.
pub fn utc_micros() -> arrow_schema::DataType {
    arrow_schema::DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into()))
}

/// Days since the Unix epoch, as Arrow's Date32 stores them.
pub fn date32(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}
