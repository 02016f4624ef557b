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
use crate::consortium::table::MemberRunsTable;
use crate::embed::claims::ClaimEmbeddingsTable;
use crate::embed::table::EmbeddingsTable;
use crate::features::table::FeaturesTable;
use crate::lineage::table::LineageTable;
use crate::metrics::tables::families::FamiliesTable;
use crate::metrics::tables::pair_similarity::PairSimilarityTable;
use crate::metrics::tables::probe_metrics::ProbeMetricsTable;
use crate::metrics::tables::run_metrics::RunMetricsTable;
use crate::metrics::tables::shared_phrases::SharedPhrasesTable;
use crate::plan::probe_table::ProbesTable;
use crate::plan::runs::RunsTable;
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
    &ProbeMetricsTable::DECL,
    &PairSimilarityTable::DECL,
    &RunMetricsTable::DECL,
    &FamiliesTable::DECL,
    &SharedPhrasesTable::DECL,
    &LineageTable::DECL,
    &TrendsTable::DECL,
    &AlertsTable::DECL,
    &IncidentsTable::DECL,
    &MemberRunsTable::DECL,
];

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
    fn later_nights_read_what_remote_history_pulls() {
        let read: Vec<&str> = read_later().map(|t| t.name).collect();
        assert_eq!(read, ["runs", "probe_metrics", "run_metrics", "trends", "alerts"]);
    }
}
