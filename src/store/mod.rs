//! Store: the plumbing every table goes through, and nothing about any one table. Each stage
//! owns its tables (a [`table::Table`]: declaration, row type, to and from Arrow) beside its
//! code; this module gives them
//!
//! - [`table`]: the [`table::Table`] trait, [`table::RunRef`] (a run as the stages name it),
//!   the column builder whose calls are a table's schema, and generic path, write and read;
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
pub mod table;

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

impl crate::failure::Classify for StoreError {
    fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::Failed
    }
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
        self.table_path(table, run_date, &format!("{run_id}.{}", embedder.short()))
    }

    /// Whether a table file's name is run `run_id`'s: `<run_id>.parquet`, or per embedder
    /// `<run_id>.<embedder>-<hash>.parquet` (a run id holds no dot).
    pub fn is_run_file(name: &str, run_id: &str) -> bool {
        name.strip_suffix(".parquet")
            .and_then(|stem| stem.strip_prefix(run_id))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
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
            let Some(date) = partition.file_name().and_then(|n| n.to_str()).and_then(partition_date) else {
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

    /// The `[alerts]` settings of the last `hivewatch run` on this output, which `analyze` and
    /// `import` use when given no configuration.
    pub fn alert_rules_path(&self) -> PathBuf {
        self.state.join("alert-rules.json")
    }

    /// The HTML reports.
    pub fn html_dir(&self) -> PathBuf {
        self.root.join("html")
    }
}

/// The date of a partition folder's name `run_date=YYYY-MM-DD`.
pub fn partition_date(folder: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(folder.strip_prefix("run_date=")?, "%Y-%m-%d").ok()
}

/// What the store needs to know of an embedder: its short name (in file names) and its id
/// (in every row that depends on it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmbedderTag {
    pub name: String,
    pub id: String,
}

impl EmbedderTag {
    /// The short tag that stands for the embedder in file names, page headers and metric labels:
    /// `<name>-<8 hex of the id>` (`lexical-7390c413`); the full id is said once where it shows.
    pub fn short(&self) -> String {
        format!("{}-{}", self.name, &crate::util::sha256_hex(self.id.as_bytes())[..8])
    }

    /// The tag of an embedder known by its id alone: its name is the id's first word
    /// (`lexical-v1:...` -> `lexical`).
    pub fn of_id(id: &str) -> EmbedderTag {
        let name = id.split(['-', ':', '/']).next().filter(|n| !n.is_empty()).unwrap_or("embedder");
        EmbedderTag { name: name.to_owned(), id: id.to_owned() }
    }

    /// The tag of a night that embeds nothing (a consortium member's collect-only night): its
    /// tables are all per run, so no file name or row ever carries it.
    pub fn none() -> EmbedderTag {
        EmbedderTag { name: "none".into(), id: "none".into() }
    }
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

/// What names a stage's scratch folder under [`Output::scratch_dir`]: `spill-<pid>-...`.
pub const SCRATCH_PREFIX: &str = "spill-";

/// What [`clean_leftovers`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leftovers {
    pub files: u64,
    pub folders: u64,
    pub bytes: u64,
}

/// Whether process `pid` is running (a pid that cannot be asked about counts as running).
pub fn process_alive(pid: u32) -> bool {
    if pid <= 1 || pid == std::process::id() || pid > i32::MAX as u32 {
        return true;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// The pid in a temporary file's name `.<name>.tmp-<pid>`, if it is one.
fn temporary_owner(name: &str) -> Option<u32> {
    let (stem, pid) = name.strip_prefix('.')?.rsplit_once(".tmp-")?;
    (!stem.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then(|| pid.parse().ok())?
}

/// The pid in a scratch folder's name `spill-<pid>-...`, if it is one.
fn scratch_owner(name: &str) -> Option<u32> {
    name.strip_prefix(SCRATCH_PREFIX)?.split('-').next()?.parse().ok()
}

fn size_of(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path).map_or(0, |d| d.flatten().map(|e| size_of(&e.path())).sum())
}

/// Removes what killed processes left under an output: temporary files `.<name>.tmp-<pid>`
/// (a table, a state file, a report being written; the tables' folders, the HTML folder and
/// the state folder are searched, a few levels deep) and scratch folders `spill-<pid>-...`,
/// of processes no longer running; and scratch folders of older versions, which carry no pid
/// (`.tmp...`). Called with the output's lock held: no other writer is at work, and anything of
/// a process still running is kept all the same. Best effort: what cannot be removed is left.
pub fn clean_leftovers(output: &Output) -> Leftovers {
    let mut removed = Leftovers::default();
    let mut stack = vec![(output.root().to_owned(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            if kind.is_dir() {
                if depth < 3 && path != output.scratch_dir() && path != output.embed_cache_dir() {
                    stack.push((path, depth + 1));
                }
            } else if kind.is_file()
                && let Some(pid) = temporary_owner(&name)
                && !process_alive(pid)
            {
                let bytes = size_of(&path);
                if std::fs::remove_file(&path).is_ok() {
                    removed.files += 1;
                    removed.bytes += bytes;
                }
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(output.scratch_dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale = match scratch_owner(&name) {
                Some(pid) => !process_alive(pid),
                None => name.starts_with(".tmp"),
            };
            if stale && entry.file_type().is_ok_and(|t| t.is_dir()) {
                let bytes = size_of(&entry.path());
                if std::fs::remove_dir_all(entry.path()).is_ok() {
                    removed.folders += 1;
                    removed.bytes += bytes;
                }
            }
        }
    }
    if removed != Leftovers::default() {
        tracing::info!(
            files = removed.files,
            folders = removed.folders,
            mb = removed.bytes / (1 << 20),
            "removed temporary files and scratch folders that stopped processes left in {}",
            output.root().display()
        );
    }
    removed
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

    /// Where the file appears when finished.
    pub fn path(&self) -> &Path {
        &self.path
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

/// Whether a Parquet file's schema has a column (tables gain columns; older files lack them).
pub fn has_column(path: &Path, column: &str) -> Result<bool, StoreError> {
    let file = File::open(path).map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|source| StoreError::Parquet { path: path.to_owned(), source })?;
    Ok(builder.schema().column_with_name(column).is_some())
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

    /// Issue 16, item 14: a kill -9 in the measure stage left scratch folders and temporary
    /// files that nothing removed. Those of dead processes go; a live process's stay.
    #[test]
    fn leftovers_of_dead_processes_are_removed_and_a_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let out = Output::local(dir.path());
        let dead = {
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let pid = child.id();
            child.wait().unwrap();
            pid
        };
        let me = std::process::id();
        let partition = dir.path().join("responses/run_date=2026-01-01");
        std::fs::create_dir_all(&partition).unwrap();
        let dead_tmp = partition.join(format!(".r1.parquet.tmp-{dead}"));
        let live_tmp = partition.join(format!(".r2.parquet.tmp-{me}"));
        let table = partition.join("r0.parquet");
        let html = dir.path().join("html");
        std::fs::create_dir_all(&html).unwrap();
        let dead_html = html.join(format!(".latest.html.tmp-{dead}"));
        let state = out.runs_dir().join("r1");
        std::fs::create_dir_all(&state).unwrap();
        let dead_state = state.join(format!(".state.json.tmp-{dead}"));
        for f in [&dead_tmp, &live_tmp, &table, &dead_html, &dead_state] {
            std::fs::write(f, vec![0u8; 1000]).unwrap();
        }
        let scratch = out.scratch_dir();
        let dead_spill = scratch.join(format!("spill-{dead}-abc"));
        let live_spill = scratch.join(format!("spill-{me}-def"));
        let legacy = scratch.join(".tmpXYZ12");
        for d in [&dead_spill, &live_spill, &legacy] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("part-00.bin"), vec![0u8; 5000]).unwrap();
        }
        let removed = clean_leftovers(&out);
        assert_eq!((removed.files, removed.folders), (3, 2), "{removed:?}");
        assert!(removed.bytes >= 3000 + 10000);
        for gone in [&dead_tmp, &dead_html, &dead_state, &dead_spill, &legacy] {
            assert!(!gone.exists(), "{} left", gone.display());
        }
        for kept in [&live_tmp, &table, &live_spill] {
            assert!(kept.exists(), "{} removed", kept.display());
        }
        assert_eq!(temporary_owner(".r.parquet.tmp-12"), Some(12));
        assert_eq!(temporary_owner("r.parquet"), None);
        assert_eq!(temporary_owner(".tmp-12"), None);
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
