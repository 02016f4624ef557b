//! Table `runs`: one row per run: identity, instrument (suite, config), counts and coverage.

use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::{DateTime, Utc};

use super::{StoreError, utc_micros, write_batch};

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
#[derive(Debug, Clone)]
pub struct RunRow {
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub config_hash: String,
    pub suite_name: String,
    pub suite_version: String,
    pub suite_id: String,
    /// See [`crate::plan::Plan::sampling_id`].
    pub sampling_id: String,
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
    pub fn info(&self, run_date: chrono::NaiveDate) -> RunInfo {
        RunInfo {
            run_id: self.run_id.clone(),
            run_date,
            suite_id: self.suite_id.clone(),
            sampling_id: self.sampling_id.clone(),
            coverage: self.coverage(),
        }
    }

    /// Share of planned requests that succeeded.
    pub fn coverage(&self) -> f64 {
        if self.planned == 0 { 0.0 } else { self.ok as f64 / self.planned as f64 }
    }
}

pub fn write(row: &RunRow, out: &Path) -> Result<(), StoreError> {
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
    write_batch(out, batch)?;
    Ok(())
}

/// Every run with a `runs` file under `output`, as (run date, run id), oldest first.
pub fn list(output: &Path) -> Result<Vec<(chrono::NaiveDate, String)>, StoreError> {
    let root = output.join(TABLE);
    let io = |source| StoreError::Io { path: root.clone(), source };
    let mut out = Vec::new();
    let partitions = match std::fs::read_dir(&root) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io(e)),
    };
    for partition in partitions {
        let partition = partition.map_err(io)?.path();
        let Some(date) = partition
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("run_date="))
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        for file in std::fs::read_dir(&partition).map_err(io)? {
            let file = file.map_err(io)?.path();
            if let Some(id) = file.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".parquet"))
                && !id.starts_with('.')
            {
                out.push((date, id.to_owned()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What trends need to know of a past run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub run_id: String,
    pub run_date: chrono::NaiveDate,
    pub suite_id: String,
    /// Empty for runs written before the column existed: never comparable.
    pub sampling_id: String,
    pub coverage: f64,
}

impl RunInfo {
    /// Runs are compared only on the same suite and sampling (and embedder: the caller checks
    /// that the run has tables for it).
    pub fn comparable(&self, other: &RunInfo) -> bool {
        !self.sampling_id.is_empty() && self.suite_id == other.suite_id && self.sampling_id == other.sampling_id
    }
}

/// Reads the one row of a run's `runs` file.
pub fn read_info(output: &Path, run_date: chrono::NaiveDate, run_id: &str) -> Result<RunInfo, StoreError> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    let path = super::table_path(output, TABLE, run_date, run_id);
    for batch in super::read_batches(&path)? {
        if batch.num_rows() == 0 {
            continue;
        }
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .map(|c| c.as_string::<i32>())
                .filter(|c| !c.is_null(0))
                .map(|c| c.value(0).to_owned())
        };
        return Ok(RunInfo {
            run_id: run_id.to_owned(),
            run_date,
            suite_id: text("suite_id").unwrap_or_default(),
            sampling_id: text("sampling_id").unwrap_or_default(),
            coverage: batch.column_by_name("coverage").map_or(0.0, |c| c.as_primitive::<Float64Type>().value(0)),
        });
    }
    Err(StoreError::Io {
        path,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "the runs file has no row"),
    })
}
