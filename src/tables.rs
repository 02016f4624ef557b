//! Every table hivewatch writes, in one list. Each is declared once, beside the stage (or the
//! consortium) that writes it: a [`Table`](crate::store::table::Table) with its name, file
//! layout, row type, Arrow both ways, and what later nights read of it. What a night pulls of
//! earlier runs into an object-store output's mirror ([`crate::remote::history`]) and the
//! round-trip tests (`tests/tables.rs`) derive from this list, so a new table is one file
//! beside its stage and one line here.
//!
//! It sits with the orchestration, not in the tail, because the consortium's `member_runs` is
//! one of the tables.

use crate::alert::incident_table::IncidentsTable;
use crate::alert::table::AlertsTable;
use crate::collect::responses::ResponsesTable;
use crate::embed::claims::ClaimEmbeddingsTable;
use crate::embed::table::EmbeddingsTable;
use crate::features::table::FeaturesTable;
use crate::identity::table::IdentityTable;
use crate::lineage::table::LineageTable;
use crate::metrics::tables::families::FamiliesTable;
use crate::metrics::tables::lineage_tree::LineageTreeTable;
use crate::metrics::tables::pair_similarity::PairSimilarityTable;
use crate::metrics::tables::probe_metrics::ProbeMetricsTable;
use crate::metrics::tables::run_metrics::RunMetricsTable;
use crate::metrics::tables::shared_phrases::SharedPhrasesTable;
use crate::plan::member_runs::MemberRunsTable;
use crate::plan::probe_table::ProbesTable;
use crate::plan::runs::RunsTable;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::store::Output;
use crate::store::table::{History, Table, TableDecl};
use crate::trend::table::TrendsTable;

/// Every table, in the order a night writes them (`runs` is written last, but listed first: it
/// is the index of runs).
pub const TABLES: &[&TableDecl] = &[
    &RunsTable::DECL,
    &ProbesTable::DECL,
    &ResponsesTable::DECL,
    &EmbeddingsTable::DECL,
    &ClaimEmbeddingsTable::DECL,
    &FeaturesTable::DECL,
    &IdentityTable::DECL,
    &ProbeMetricsTable::DECL,
    &PairSimilarityTable::DECL,
    &RunMetricsTable::DECL,
    &FamiliesTable::DECL,
    &LineageTreeTable::DECL,
    &SharedPhrasesTable::DECL,
    &LineageTable::DECL,
    &TrendsTable::DECL,
    &AlertsTable::DECL,
    &IncidentsTable::DECL,
    &MemberRunsTable::DECL,
];

/// The partition folder of every table for `date` (`<root>/<table>/run_date=D`), `runs` first.
pub fn partitions(output: &Output, date: NaiveDate) -> Vec<PathBuf> {
    let dir = |name: &str| output.table_path(name, date, "x").parent().map(Path::to_owned).unwrap_or_default();
    TABLES.iter().map(|t| dir(t.name)).collect()
}

/// Every file of run `run_id` of `date` in any table, whatever embedder analysed it, the `runs`
/// row first (so a run being removed stops counting as complete before anything else goes).
pub fn run_files(output: &Output, date: NaiveDate, run_id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in partitions(output, date) {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| Output::is_run_file(n, run_id)))
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

/// The tables later nights read of earlier runs (their [`History`] is not `No`).
pub fn read_later() -> impl Iterator<Item = &'static TableDecl> {
    TABLES.iter().copied().filter(|t| t.history != History::No)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_listed_once() {
        let mut names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a table listed twice: {names:?}");
    }

    #[test]
    fn a_runs_files_are_found_in_every_table_and_no_other_runs() {
        let dir = tempfile::tempdir().unwrap();
        let output = Output::local(dir.path());
        let date = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        let names = ["r1.parquet", "r1.lexical-0a1b2c3d.parquet", "r10.parquet", ".r1.parquet.tmp-9", "r2.parquet"];
        for t in ["runs", "embeddings", "features"] {
            let part = dir.path().join(t).join("run_date=2026-01-05");
            std::fs::create_dir_all(&part).unwrap();
            for n in names {
                std::fs::write(part.join(n), b"x").unwrap();
            }
        }
        let found = run_files(&output, date, "r1");
        let rel: Vec<String> =
            found.iter().map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string()).collect();
        assert_eq!(rel.len(), 6, "{rel:?}");
        assert!(rel[0].starts_with("runs/"), "the runs row first: {rel:?}");
        assert!(rel.iter().all(|r| r.contains("/r1.")), "{rel:?}");
    }

    #[test]
    fn later_nights_read_what_remote_history_pulls() {
        let read: Vec<&str> = read_later().map(|t| t.name).collect();
        assert_eq!(read, ["runs", "identity", "probe_metrics", "run_metrics", "trends", "alerts", "incidents"]);
    }
}
