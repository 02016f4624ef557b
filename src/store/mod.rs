//! Store: the plumbing every table goes through, and nothing about any one table. Each stage
//! owns its tables (row type, schema, write, read) beside its code; this module gives them
//!
//! - [`Output`]: where everything lives under an output root (the tables' Hive layout, the
//!   state folder with the journal, the embedding cache, scratch space and the lock);
//! - [`TableWriter`]: a Parquet file written batch by batch to a temporary name, then synced
//!   and renamed, so a reader never sees half a file and a crash leaves no partial table;
//! - [`columns`]: column readers that say which file and column is missing or of another type
//!   (a file written by an older hivewatch) instead of panicking;
//! - [`lock`]: one writer per output root.
//!
//! Every table lives at `<output>/<table>/run_date=YYYY-MM-DD/<run_id>.parquet` (Hive
//! partitioning, so DuckDB's `read_parquet('<output>/<table>/*/*.parquet',
//! hive_partitioning=true)` gives `run_date` as a column), zstd-compressed, timestamps in UTC
//! microseconds.

pub mod columns;
pub mod lock;

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
    /// A file lacks a column, or holds it with another type: written by another version.
    #[error(
        "{path}: column `{column}` {problem}; the file was probably written by another hivewatch version (rerun `hivewatch analyze` to rewrite the run's derived tables)"
    )]
    Column { path: PathBuf, column: String, problem: String },
}

/// The state folder's name under a local output root.
pub const STATE_DIR: &str = ".hivewatch";

/// Where a run's files live: the tables under the output root, and the working state (journal,
/// embedding cache, scratch, lock) in the state folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    root: PathBuf,
    state: PathBuf,
}

impl Output {
    /// An output root on local disk, its state in `<root>/.hivewatch`.
    pub fn local(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let state = root.join(STATE_DIR);
        Output { root, state }
    }

    /// An output root whose state lives elsewhere (`[run] state_dir`; or a local mirror of an
    /// object-store output, whose state stays on local disk).
    pub fn with_state(root: impl Into<PathBuf>, state: impl Into<PathBuf>) -> Self {
        Output { root: root.into(), state: state.into() }
    }

    /// The output root (the folder analysts point DuckDB at).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<table>/run_date=<date>/<run_id>.parquet`.
    pub fn table_path(&self, table: &str, run_date: NaiveDate, run_id: &str) -> PathBuf {
        self.root
            .join(table)
            .join(format!("run_date={}", run_date.format("%Y-%m-%d")))
            .join(format!("{run_id}.parquet"))
    }

    /// A table file that depends on an embedder: `<run_id>.<embedder name>-<8 hex of its id>`,
    /// so the same run embedded two ways keeps both.
    pub fn per_embedder_path(&self, table: &str, run_date: NaiveDate, run_id: &str, embedder: &EmbedderTag) -> PathBuf {
        let tag = &crate::util::sha256_hex(embedder.id.as_bytes())[..8];
        self.table_path(table, run_date, &format!("{run_id}.{}-{tag}", embedder.name))
    }

    /// Every `(run date, file stem)` of a table's partitions, oldest first (temporary files,
    /// whose names start with a dot, left out).
    pub fn list_partitions(&self, table: &str) -> Result<Vec<(NaiveDate, String)>, StoreError> {
        let root = self.root.join(table);
        let io = |source| StoreError::Io { path: root.clone(), source };
        let mut out = Vec::new();
        let partitions = match std::fs::read_dir(&root) {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io(e)),
        };
        for partition in partitions {
            let partition = partition.map_err(io)?.path();
            let Some(date) = partition
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("run_date="))
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            else {
                continue;
            };
            for file in std::fs::read_dir(&partition).map_err(io)? {
                let file = file.map_err(io)?.path();
                if let Some(stem) = file.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".parquet"))
                    && !stem.starts_with('.')
                {
                    out.push((date, stem.to_owned()));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The working state: journal, embedding cache, scratch, lock. Never read by analysts.
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// One folder per run: its `state.json` and journal.
    pub fn runs_dir(&self) -> PathBuf {
        self.state.join("runs")
    }

    /// The embedding cache, one file per embedder id.
    pub fn embed_cache_dir(&self) -> PathBuf {
        self.state.join("embed-cache")
    }

    /// Scratch space for a stage's temporary files.
    pub fn scratch_dir(&self) -> PathBuf {
        self.state.join("tmp")
    }

    /// The file the output lock is held on.
    pub fn lock_path(&self) -> PathBuf {
        self.state.join("lock")
    }

    /// The HTML reports.
    pub fn html_dir(&self) -> PathBuf {
        self.root.join("html")
    }
}

/// What the store needs to know of an embedder: its short name (in file names) and its id
/// (in every row that depends on it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmbedderTag {
    pub name: String,
    pub id: String,
}

/// Writes a file atomically: `write` fills a temporary sibling, which is synced and renamed over
/// `path`; the folder is synced so the rename itself survives a crash.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    let (mut file, tmp) = create_temporary(path)?;
    let result = (|| {
        write(&mut file)?;
        file.flush()?;
        file.sync_all()?;
        drop(file);
        publish(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The temporary sibling a file is written to before it is renamed into place:
/// `.<name>.tmp-<pid>`, so a leftover names the process that left it.
pub fn temporary_path(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    dir.join(format!(".{name}.tmp-{}", std::process::id()))
}

fn create_temporary(path: &Path) -> io::Result<(File, PathBuf)> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    let tmp = temporary_path(path);
    Ok((File::create(&tmp)?, tmp))
}

/// Renames a synced temporary file into place and syncs the folder.
fn publish(tmp: &Path, path: &Path) -> io::Result<()> {
    std::fs::rename(tmp, path)?;
    if let Ok(d) = File::open(path.parent().unwrap_or(Path::new("."))) {
        let _ = d.sync_all();
    }
    Ok(())
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

/// One Parquet table file being written: batches go to a temporary file; [`TableWriter::finish`]
/// syncs it and renames it into place. Dropped unfinished (an error on the way), it removes the
/// temporary file, so nothing half-written is ever visible.
pub struct TableWriter {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<ArrowWriter<File>>,
    rows: u64,
}

impl TableWriter {
    pub fn create(path: &Path, schema: Arc<Schema>) -> Result<Self, StoreError> {
        let (file, tmp) = create_temporary(path).map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
        let writer = ArrowWriter::try_new(file, schema, Some(writer_properties()))
            .map_err(|source| StoreError::Parquet { path: path.to_owned(), source })?;
        Ok(TableWriter { path: path.to_owned(), tmp, writer: Some(writer), rows: 0 })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), StoreError> {
        let writer = self.writer.as_mut().expect("a finished writer is consumed");
        writer.write(batch).map_err(|source| StoreError::Parquet { path: self.path.clone(), source })?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Closes the file, syncs it and renames it into place; returns the rows written.
    pub fn finish(mut self) -> Result<u64, StoreError> {
        let writer = self.writer.take().expect("finished once");
        let file = writer.into_inner().map_err(|source| StoreError::Parquet { path: self.path.clone(), source })?;
        let io = |source| StoreError::Io { path: self.path.clone(), source };
        file.sync_all().map_err(io)?;
        drop(file);
        publish(&self.tmp, &self.path).map_err(io)?;
        Ok(self.rows)
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes one batch as a whole Parquet file, atomically (the small per-run tables).
pub fn write_batch(path: &Path, batch: RecordBatch) -> Result<u64, StoreError> {
    let mut writer = TableWriter::create(path, batch.schema())?;
    writer.write(&batch)?;
    writer.finish()
}

/// Every batch of a Parquet file (for the small per-run tables read whole).
pub fn read_batches(path: &Path) -> Result<Vec<RecordBatch>, StoreError> {
    batch_reader(path, 8 * 1024)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Parquet { path: path.to_owned(), source: e.into() })
}

/// The batches of a Parquet file, `batch_size` rows at a time, streaming.
pub fn batch_reader(
    path: &Path,
    batch_size: usize,
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, StoreError> {
    let pq = |source| StoreError::Parquet { path: path.to_owned(), source };
    let file = File::open(path).map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(pq)?
        .with_batch_size(batch_size)
        .build()
        .map_err(pq)
}

/// The batches of a Parquet file holding only the named columns, `batch_size` rows at a time,
/// streaming; a missing column is a [`StoreError::Column`].
pub fn projected_reader(
    path: &Path,
    columns: &[&str],
    batch_size: usize,
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, StoreError> {
    use parquet::arrow::ProjectionMask;
    let pq = |source| StoreError::Parquet { path: path.to_owned(), source };
    let file = File::open(path).map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
    let indices = columns
        .iter()
        .map(|name| {
            builder.schema().index_of(name).map_err(|_| StoreError::Column {
                path: path.to_owned(),
                column: (*name).to_owned(),
                problem: "is missing".into(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    builder.with_projection(mask).with_batch_size(batch_size).build().map_err(pq)
}

/// Every batch of a file that may not exist (a run written before its table existed).
pub fn read_batches_if_any(path: &Path) -> Result<Vec<RecordBatch>, StoreError> {
    if path.exists() { read_batches(path) } else { Ok(Vec::new()) }
}

/// Arrow's UTC timestamp type used by every table.
pub fn utc_micros() -> arrow_schema::DataType {
    arrow_schema::DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into()))
}

/// Days since the Unix epoch, as Arrow's Date32 stores them.
pub fn date32(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Int64Array;
    use arrow_schema::{DataType, Field};

    fn batch(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap()
    }

    #[test]
    fn a_table_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t").join("run_date=2026-01-01").join("r.parquet");
        let mut w = TableWriter::create(&path, batch(&[]).schema()).unwrap();
        w.write(&batch(&[1, 2])).unwrap();
        assert!(!path.exists(), "nothing visible before finish");
        w.write(&batch(&[3])).unwrap();
        assert_eq!(w.finish().unwrap(), 3);
        let back = read_batches(&path).unwrap();
        assert_eq!(back.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);

        // Dropped unfinished: neither the file nor its temporary is left.
        let other = path.with_file_name("s.parquet");
        let mut w = TableWriter::create(&other, batch(&[]).schema()).unwrap();
        w.write(&batch(&[1])).unwrap();
        drop(w);
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("r.parquet")]);
    }

    #[test]
    fn the_layout_keeps_tables_and_state_apart() {
        let out = Output::local("/data/reports");
        let date = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        assert_eq!(out.table_path("runs", date, "r1"), Path::new("/data/reports/runs/run_date=2026-03-04/r1.parquet"));
        let tag = EmbedderTag { name: "lexical".into(), id: "lexical-v1".into() };
        let p = out.per_embedder_path("trends", date, "r1", &tag);
        assert!(p.to_str().unwrap().starts_with("/data/reports/trends/run_date=2026-03-04/r1.lexical-"));
        assert_eq!(out.embed_cache_dir(), Path::new("/data/reports/.hivewatch/embed-cache"));
        assert_eq!(out.lock_path(), Path::new("/data/reports/.hivewatch/lock"));
    }
}
