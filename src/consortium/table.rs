//! Table `member_runs`: one row per expected member of a consortium's analysed night: whether it
//! published (`published`), had not by the deadline (`missing`), or published something the
//! union could not take (`excluded`, with the reason in `note`), and which of its runs went in.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::{DateTime, NaiveDate, Utc};

use crate::store::columns::Columns;
use crate::store::{Output, StoreError, read_batches_if_any, utc_micros, write_batch};

pub const TABLE: &str = "member_runs";

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Arc::new(Schema::new(vec![
        f("run_id", Utf8, false),
        f("member", Utf8, false),
        f("status", Utf8, false),
        f("member_run_id", Utf8, true),
        f("suite_id", Utf8, true),
        f("endpoints", Int64, true),
        f("planned", Int64, true),
        f("ok", Int64, true),
        f("failed", Int64, true),
        f("coverage", Float64, true),
        f("published_at", utc_micros(), true),
        f("note", Utf8, true),
    ]))
});

/// A member's part in a night.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    Published,
    Missing,
    Excluded,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Published => "published",
            MemberStatus::Missing => "missing",
            MemberStatus::Excluded => "excluded",
        }
    }
}

/// One row.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRun {
    pub member: String,
    pub status: MemberStatus,
    pub member_run_id: Option<String>,
    pub suite_id: Option<String>,
    pub endpoints: Option<u64>,
    pub planned: Option<u64>,
    pub ok: Option<u64>,
    pub failed: Option<u64>,
    /// When the member's run finished (its `runs` row).
    pub published_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

impl MemberRun {
    pub fn missing(member: &str) -> Self {
        MemberRun {
            member: member.to_owned(),
            status: MemberStatus::Missing,
            member_run_id: None,
            suite_id: None,
            endpoints: None,
            planned: None,
            ok: None,
            failed: None,
            published_at: None,
            note: None,
        }
    }
}

pub fn path(output: &Output, run_date: NaiveDate, run_id: &str) -> PathBuf {
    output.table_path(TABLE, run_date, run_id)
}

pub fn write(out: &Path, run_id: &str, rows: &[MemberRun]) -> Result<u64, StoreError> {
    let s = |f: &dyn Fn(&MemberRun) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let n = |f: &dyn Fn(&MemberRun) -> Option<u64>| -> ArrayRef {
        Arc::new(rows.iter().map(|r| f(r).map(|v| v as i64)).collect::<Int64Array>())
    };
    let columns: Vec<ArrayRef> = vec![
        s(&|_| Some(run_id.to_owned())),
        s(&|r| Some(r.member.clone())),
        s(&|r| Some(r.status.as_str().to_owned())),
        s(&|r| r.member_run_id.clone()),
        s(&|r| r.suite_id.clone()),
        n(&|r| r.endpoints),
        n(&|r| r.planned),
        n(&|r| r.ok),
        n(&|r| r.failed),
        Arc::new(
            rows.iter()
                .map(|r| match (r.ok, r.planned) {
                    (Some(ok), Some(p)) if p > 0 => Some(ok as f64 / p as f64),
                    _ => None,
                })
                .collect::<Float64Array>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| r.published_at.map(|t| t.timestamp_micros()))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        ),
        s(&|r| r.note.clone()),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    write_batch(out, batch)
}

/// Reads a `member_runs` file back (no file: no rows).
pub fn read(path: &Path) -> Result<Vec<MemberRun>, StoreError> {
    use arrow_array::Array;
    let mut out = Vec::new();
    for batch in read_batches_if_any(path)? {
        let c = Columns::new(&batch, path);
        let (member, status, run, suite, note) = (
            c.strings("member")?,
            c.strings("status")?,
            c.strings("member_run_id")?,
            c.strings("suite_id")?,
            c.strings("note")?,
        );
        let (endpoints, planned, ok, failed) =
            (c.i64s("endpoints")?, c.i64s("planned")?, c.i64s("ok")?, c.i64s("failed")?);
        let at = batch
            .column_by_name("published_at")
            .and_then(|a| a.as_any().downcast_ref::<TimestampMicrosecondArray>())
            .ok_or_else(|| StoreError::Column {
                path: path.to_owned(),
                column: "published_at".into(),
                problem: "is missing or not a timestamp".into(),
            })?;
        let count = |a: &Int64Array, i: usize| (!a.is_null(i)).then(|| a.value(i).max(0) as u64);
        for i in 0..batch.num_rows() {
            out.push(MemberRun {
                member: member.value(i).to_owned(),
                status: match status.value(i) {
                    "published" => MemberStatus::Published,
                    "excluded" => MemberStatus::Excluded,
                    _ => MemberStatus::Missing,
                },
                member_run_id: Columns::opt_str(run, i).map(str::to_owned),
                suite_id: Columns::opt_str(suite, i).map(str::to_owned),
                endpoints: count(endpoints, i),
                planned: count(planned, i),
                ok: count(ok, i),
                failed: count(failed, i),
                published_at: (!at.is_null(i))
                    .then(|| DateTime::from_timestamp_micros(at.value(i)).unwrap_or_default()),
                note: Columns::opt_str(note, i).map(str::to_owned),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let at = DateTime::from_timestamp_micros(1_780_000_000_000_000).unwrap();
        let rows = vec![
            MemberRun {
                member: "lab-a".into(),
                status: MemberStatus::Published,
                member_run_id: Some("r1".into()),
                suite_id: Some("s".into()),
                endpoints: Some(20),
                planned: Some(8000),
                ok: Some(7990),
                failed: Some(10),
                published_at: Some(at),
                note: None,
            },
            MemberRun {
                note: Some("ran another suite".into()),
                status: MemberStatus::Excluded,
                ..MemberRun::missing("lab-b")
            },
            MemberRun::missing("lab-c"),
        ];
        let p = dir.path().join("m.parquet");
        assert_eq!(write(&p, "consortium-20260101", &rows).unwrap(), 3);
        assert_eq!(read(&p).unwrap(), rows);
    }
}
