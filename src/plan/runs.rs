//! Table `runs`: one row per run: identity, instrument (suite, sampling, config), counts and
//! coverage. A run's `runs` file is written last, after every other table of the run: its
//! presence is what says the run is complete.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::{DateTime, NaiveDate, Utc};

use crate::store::columns::Columns;
use crate::store::{Output, StoreError, utc_micros, write_batch};

pub const TABLE: &str = "runs";

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Arc::new(Schema::new(vec![
        f("run_id", Utf8, false),
        f("started_at", utc_micros(), false),
        f("finished_at", utc_micros(), false),
        f("tool_version", Utf8, false),
        f("config_hash", Utf8, false),
        f("suite_name", Utf8, false),
        f("suite_version", Utf8, false),
        f("suite_id", Utf8, false),
        f("sampling_id", Utf8, false),
        f("embedder_id", Utf8, true),
        f("endpoints", Int64, false),
        f("probes", Int64, false),
        f("samples", Int64, false),
        f("planned", Int64, false),
        f("ok", Int64, false),
        f("failed", Int64, false),
        f("coverage", Float64, false),
    ]))
});

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

    /// Where the row is stored.
    pub fn path(&self, output: &Output) -> PathBuf {
        output.table_path(TABLE, self.run_date, &self.run_id)
    }
}

/// Writes a run's row (atomically, replacing an earlier one).
pub fn write(output: &Output, row: &RunRow) -> Result<PathBuf, StoreError> {
    let s = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
    let n = |v: u64| -> ArrayRef { Arc::new(Int64Array::from(vec![v as i64])) };
    let t = |v: DateTime<Utc>| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(vec![v.timestamp_micros()]).with_timezone("UTC"))
    };
    let columns = vec![
        s(&row.run_id),
        t(row.started_at),
        t(row.finished_at),
        s(env!("CARGO_PKG_VERSION")),
        s(&row.config_hash),
        s(&row.suite_name),
        s(&row.suite_version),
        s(&row.suite_id),
        s(&row.sampling_id),
        Arc::new(StringArray::from(vec![row.embedder_id.clone()])) as ArrayRef,
        n(row.endpoints),
        n(row.probes),
        n(row.samples),
        n(row.planned),
        n(row.ok),
        n(row.failed),
        Arc::new(Float64Array::from(vec![row.coverage()])),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    let path = row.path(output);
    write_batch(&path, batch)?;
    Ok(path)
}

/// Every run with a `runs` file under `output`, as (run date, run id), oldest first.
pub fn list(output: &Output) -> Result<Vec<(NaiveDate, String)>, StoreError> {
    output.list_partitions(TABLE)
}

/// Reads a run's row back.
pub fn read(output: &Output, run_date: NaiveDate, run_id: &str) -> Result<RunRow, StoreError> {
    let path = output.table_path(TABLE, run_date, run_id);
    read_file(&path, run_date)
}

fn read_file(path: &Path, run_date: NaiveDate) -> Result<RunRow, StoreError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;
    for batch in crate::store::read_batches(path)? {
        if batch.num_rows() == 0 {
            continue;
        }
        let c = Columns::new(&batch, path);
        let text = |name: &str| -> Result<String, StoreError> { Ok(c.strings(name)?.value(0).to_owned()) };
        let count = |name: &str| -> Result<u64, StoreError> { Ok(c.i64s(name)?.value(0).max(0) as u64) };
        let time = |name: &str| -> Result<DateTime<Utc>, StoreError> {
            let col = batch.column_by_name(name).ok_or_else(|| StoreError::Column {
                path: path.to_owned(),
                column: name.into(),
                problem: "is missing".into(),
            })?;
            let micros = col.as_primitive::<TimestampMicrosecondType>().value(0);
            Ok(DateTime::from_timestamp_micros(micros).unwrap_or_default())
        };
        return Ok(RunRow {
            run_id: text("run_id")?,
            run_date,
            started_at: time("started_at")?,
            finished_at: time("finished_at")?,
            config_hash: text("config_hash")?,
            suite_name: text("suite_name")?,
            suite_version: text("suite_version")?,
            suite_id: text("suite_id")?,
            // Runs written before the column existed have none: never comparable.
            sampling_id: c.strings("sampling_id").map(|s| s.value(0).to_owned()).unwrap_or_default(),
            embedder_id: Columns::opt_str(c.strings("embedder_id")?, 0).map(str::to_owned),
            endpoints: count("endpoints")?,
            probes: count("probes")?,
            samples: count("samples")?,
            planned: count("planned")?,
            ok: count("ok")?,
            failed: count("failed")?,
        });
    }
    Err(StoreError::Io {
        path: path.to_owned(),
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
pub fn read_info(output: &Output, run_date: NaiveDate, run_id: &str) -> Result<RunInfo, StoreError> {
    Ok(read(output, run_date, run_id)?.info())
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
        write(&output, &row).unwrap();
        assert_eq!(read(&output, row.run_date, &row.run_id).unwrap(), row);
        assert_eq!(list(&output).unwrap(), vec![(row.run_date, row.run_id.clone())]);
        let info = read_info(&output, row.run_date, &row.run_id).unwrap();
        assert!((info.coverage - 1190.0 / 1200.0).abs() < 1e-12);
    }
}
