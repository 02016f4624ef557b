//! Table `runs`: one row per run: identity, instrument (suite, sampling, config), counts and
//! coverage. A run's `runs` file is written last, after every other table of the run: its
//! presence is what says the run is complete.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};

use crate::store::columns::Columns;
use crate::store::table::{self, Builder, History, RunRef, Table, TableDecl};
use crate::store::{EmbedderTag, Output, StoreError};

/// Table `runs`: one row a run, in its own file.
pub struct RunsTable;

impl Table for RunsTable {
    type Row = RunRow;
    const DECL: TableDecl = TableDecl::per_run("runs").read_later(History::Window);

    fn to_arrow(_: &RunRef, rows: &[RunRow], b: Builder) -> Builder {
        let count = |f: fn(&RunRow) -> u64| rows.iter().map(move |r| f(r) as i64);
        b.str("run_id", rows.iter().map(|r| &r.run_id))
            .utc_micros("started_at", rows.iter().map(|r| r.started_at))
            .utc_micros("finished_at", rows.iter().map(|r| r.finished_at))
            .str("tool_version", rows.iter().map(|_| env!("CARGO_PKG_VERSION")))
            .str("config_hash", rows.iter().map(|r| &r.config_hash))
            .str("suite_name", rows.iter().map(|r| &r.suite_name))
            .str("suite_version", rows.iter().map(|r| &r.suite_version))
            .str("suite_id", rows.iter().map(|r| &r.suite_id))
            .str("sampling_id", rows.iter().map(|r| &r.sampling_id))
            .opt_str("embedder_id", rows.iter().map(|r| r.embedder_id.as_ref()))
            .i64("endpoints", count(|r| r.endpoints))
            .i64("probes", count(|r| r.probes))
            .i64("samples", count(|r| r.samples))
            .i64("planned", count(|r| r.planned))
            .i64("ok", count(|r| r.ok))
            .i64("failed", count(|r| r.failed))
            .f64("coverage", rows.iter().map(RunRow::coverage))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<RunRow>, StoreError> {
        let text = |name: &str| c.strings(name);
        let (run_id, config_hash, suite_name, suite_version, suite_id) =
            (text("run_id")?, text("config_hash")?, text("suite_name")?, text("suite_version")?, text("suite_id")?);
        // Runs written before the column existed have none: never comparable.
        let sampling_id = c.strings("sampling_id").ok();
        let embedder_id = text("embedder_id")?;
        let (started_at, finished_at) = (c.timestamps("started_at")?, c.timestamps("finished_at")?);
        let count = |name: &str| c.i64s(name);
        let (endpoints, probes, samples) = (count("endpoints")?, count("probes")?, count("samples")?);
        let (planned, ok, failed) = (count("planned")?, count("ok")?, count("failed")?);
        let n = |col: &arrow_array::Int64Array, i: usize| col.value(i).max(0) as u64;
        let run_date = c.partition_date()?;
        Ok((0..c.rows())
            .map(|i| RunRow {
                run_id: run_id.value(i).to_owned(),
                run_date,
                started_at: Columns::time(started_at, i),
                finished_at: Columns::time(finished_at, i),
                config_hash: config_hash.value(i).to_owned(),
                suite_name: suite_name.value(i).to_owned(),
                suite_version: suite_version.value(i).to_owned(),
                suite_id: suite_id.value(i).to_owned(),
                sampling_id: sampling_id.map(|s| s.value(i).to_owned()).unwrap_or_default(),
                embedder_id: Columns::opt_str(embedder_id, i).map(str::to_owned),
                endpoints: n(endpoints, i),
                probes: n(probes, i),
                samples: n(samples, i),
                planned: n(planned, i),
                ok: n(ok, i),
                failed: n(failed, i),
            })
            .collect())
    }
}

/// The one row of `runs` for a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub run_id: String,
    /// The partition the run's tables are in (not a column: Hive partitioning gives it).
    pub run_date: NaiveDate,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub config_hash: String,
    pub suite_name: String,
    pub suite_version: String,
    pub suite_id: String,
    /// See [`crate::plan::Plan::sampling_id`].
    pub sampling_id: String,
    /// The embedder of the run's first analysis.
    pub embedder_id: Option<String>,
    pub endpoints: u64,
    pub probes: u64,
    pub samples: u64,
    pub planned: u64,
    pub ok: u64,
    pub failed: u64,
}

impl RunRow {
    /// What trends need of this run.
    pub fn info(&self) -> RunInfo {
        RunInfo {
            run_id: self.run_id.clone(),
            run_date: self.run_date,
            suite_id: self.suite_id.clone(),
            sampling_id: self.sampling_id.clone(),
            coverage: self.coverage(),
        }
    }

    /// Share of planned requests that succeeded.
    pub fn coverage(&self) -> f64 {
        if self.planned == 0 { 0.0 } else { self.ok as f64 / self.planned as f64 }
    }

    /// The run as the stages name it, analysed with `tag`.
    pub fn run_ref(&self, tag: &EmbedderTag) -> RunRef {
        RunRef::new(self.run_date, self.run_id.clone(), tag.clone())
    }
}

/// Writes a run's row (atomically, replacing an earlier one).
pub fn write(output: &Output, row: &RunRow, tag: &EmbedderTag) -> Result<PathBuf, StoreError> {
    table::write::<RunsTable>(output, &row.run_ref(tag), std::slice::from_ref(row))
}

/// Every run with a `runs` file under `output`, as (run date, run id), oldest first.
pub fn list(output: &Output) -> Result<Vec<(NaiveDate, String)>, StoreError> {
    output.list_partitions(RunsTable::DECL.name)
}

/// Reads a run's row back.
pub fn read(output: &Output, run: &RunRef) -> Result<RunRow, StoreError> {
    let path = table::path::<RunsTable>(output, run);
    table::read_file::<RunsTable>(&path)?.into_iter().next().ok_or_else(|| StoreError::Io {
        path,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "the runs file has no row"),
    })
}

/// What trends need to know of a past run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub run_id: String,
    pub run_date: NaiveDate,
    pub suite_id: String,
    /// Empty for runs written before the column existed: never comparable.
    pub sampling_id: String,
    pub coverage: f64,
}

/// The `sampling_id` of imported runs: no request was sent, so no sampling was chosen.
pub const IMPORTED_SAMPLING: &str = "imported";

impl RunInfo {
    /// The run as the stages name it, analysed with `tag`.
    pub fn run_ref(&self, tag: &EmbedderTag) -> RunRef {
        RunRef::new(self.run_date, self.run_id.clone(), tag.clone())
    }

    /// Imported rather than collected (`hivewatch import`).
    pub fn is_imported(&self) -> bool {
        self.sampling_id == IMPORTED_SAMPLING
    }

    /// Runs are compared only on the same suite and sampling (and embedder: the caller checks
    /// that the run has tables for it).
    pub fn comparable(&self, other: &RunInfo) -> bool {
        !self.sampling_id.is_empty() && self.suite_id == other.suite_id && self.sampling_id == other.sampling_id
    }
}

/// Reads what trends need of a stored run.
pub fn read_info(output: &Output, run: &RunRef) -> Result<RunInfo, StoreError> {
    Ok(read(output, run)?.info())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_row_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let output = Output::local(dir.path());
        let at = DateTime::from_timestamp_micros(1_780_000_000_123_456).unwrap();
        let row = RunRow {
            run_id: "20260101T000000Z-abcd".into(),
            run_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            started_at: at,
            finished_at: at + chrono::Duration::seconds(90),
            config_hash: "c".into(),
            suite_name: "core".into(),
            suite_version: "1.0.0".into(),
            suite_id: "s".into(),
            sampling_id: "x".into(),
            embedder_id: Some("lexical-v1".into()),
            endpoints: 3,
            probes: 200,
            samples: 2,
            planned: 1200,
            ok: 1190,
            failed: 10,
        };
        let tag = EmbedderTag { name: "lexical".into(), id: "lexical-v1".into() };
        write(&output, &row, &tag).unwrap();
        let run = row.run_ref(&tag);
        assert_eq!(read(&output, &run).unwrap(), row);
        assert_eq!(list(&output).unwrap(), vec![(row.run_date, row.run_id.clone())]);
        let info = read_info(&output, &run).unwrap();
        assert!((info.coverage - 1190.0 / 1200.0).abs() < 1e-12);
    }
}
