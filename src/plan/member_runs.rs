//! Table `member_runs`: one row per expected member of a consortium's analysed night (written by
//! [`crate::consortium`]; declared here, with the run's identity, so the report can read it): whether it
//! published (`published`), had not by the deadline (`missing`), or published something the
//! union could not take (`excluded`, with the reason in `note`), and which of its runs went in;
//! for a published member, who embedded its answers (`embedded_by`, said in `note`).

use chrono::{DateTime, Utc};

use crate::store::StoreError;
use crate::store::columns::Columns;
use crate::store::table::{Builder, RunRef, Table, TableDecl};

/// Table `member_runs`.
pub struct MemberRunsTable;

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
    /// Why it was left out; for a published member, who embedded its answers and how its own
    /// embeddings fared.
    pub note: Option<String>,
    /// Who embedded and described its answers: `member` or `coordinator` (published members).
    pub embedded_by: Option<String>,
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
            embedded_by: None,
        }
    }
}

impl Table for MemberRunsTable {
    type Row = MemberRun;
    const DECL: TableDecl = TableDecl::per_run("member_runs");

    fn to_arrow(run: &RunRef, rows: &[MemberRun], b: Builder) -> Builder {
        let n = |f: fn(&MemberRun) -> Option<u64>| rows.iter().map(move |r| f(r).map(|v| v as i64));
        let coverage = |r: &MemberRun| match (r.ok, r.planned) {
            (Some(ok), Some(p)) if p > 0 => Some(ok as f64 / p as f64),
            _ => None,
        };
        b.same_str("run_id", &run.id)
            .str("member", rows.iter().map(|r| &r.member))
            .str("status", rows.iter().map(|r| r.status.as_str()))
            .opt_str("member_run_id", rows.iter().map(|r| r.member_run_id.as_ref()))
            .opt_str("suite_id", rows.iter().map(|r| r.suite_id.as_ref()))
            .opt_i64("endpoints", n(|r| r.endpoints))
            .opt_i64("planned", n(|r| r.planned))
            .opt_i64("ok", n(|r| r.ok))
            .opt_i64("failed", n(|r| r.failed))
            .opt_f64("coverage", rows.iter().map(coverage))
            .opt_utc_micros("published_at", rows.iter().map(|r| r.published_at))
            .opt_str("note", rows.iter().map(|r| r.note.as_ref()))
            .opt_str("embedded_by", rows.iter().map(|r| r.embedded_by.as_ref()))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<MemberRun>, StoreError> {
        let (member, status, run, suite, note) = (
            c.strings("member")?,
            c.strings("status")?,
            c.strings("member_run_id")?,
            c.strings("suite_id")?,
            c.strings("note")?,
        );
        let (endpoints, planned, ok, failed) =
            (c.i64s("endpoints")?, c.i64s("planned")?, c.i64s("ok")?, c.i64s("failed")?);
        let at = c.timestamps("published_at")?;
        // Files written before members could embed lack the column.
        let embedded_by = if c.has("embedded_by") { Some(c.strings("embedded_by")?) } else { None };
        let count = |a, i| Columns::opt_i64(a, i).map(|v| v.max(0) as u64);
        Ok((0..c.rows())
            .map(|i| MemberRun {
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
                published_at: Columns::opt_time(at, i),
                note: Columns::opt_str(note, i).map(str::to_owned),
                embedded_by: embedded_by.and_then(|a| Columns::opt_str(a, i)).map(str::to_owned),
            })
            .collect())
    }
}
