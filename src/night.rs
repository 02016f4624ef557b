//! One night, as every command reports it: how its `runs` row came to be ([`Origin`]), what a
//! collection did, and what the tail derived. The session makes one ([`crate::session`]); the
//! CLI, the sinks and the exit code read it.

use std::path::PathBuf;

use crate::alert::Alert;
use crate::collect::CollectSummary;
use crate::collect::responses::EndpointCounts;
use crate::pipeline::Derived;
use crate::plan::runs::RunRow;
use crate::remote::history::HistoryStats;

/// How the night's `runs` row came to be.
#[derive(Debug, Clone)]
pub enum Origin {
    /// `hivewatch run`: collected tonight.
    Collected(Collection),
    /// `hivewatch run --collect-only`: collected and published by a consortium member, not
    /// analysed.
    Published(Collection),
    /// `hivewatch import`.
    Imported,
    /// `hivewatch analyze`: a stored run derived again.
    Reanalysed,
    /// A consortium's night: the union of what its members published.
    Union,
}

/// What a collection did.
#[derive(Debug, Clone)]
pub struct Collection {
    pub resumed: bool,
    pub summary: CollectSummary,
    pub per_endpoint: EndpointCounts,
    /// A backfill (a night dated before stored ones): the later nights judged again with it,
    /// oldest first ([`crate::analyze::rejudge_later`]).
    pub rejudged: Vec<(chrono::NaiveDate, String)>,
    /// Unfinished runs of the same night left as they were because what is measured changed.
    pub superseded: Vec<Superseded>,
}

/// An unfinished run of the same night not resumed: the configuration (or the suite) changed
/// what is measured. Its journal is left where it is.
#[derive(Debug, Clone)]
pub struct Superseded {
    pub run_id: String,
    /// Its journal (to finish it: the old configuration, the same command).
    pub journal: PathBuf,
    /// What changed, as people name it (empty when its state does not say).
    pub changed: Vec<String>,
}

/// One night, as every command reports it: the `runs` row, where it went, what the tail
/// derived (none for a member's collect-only night) and what was pulled of earlier runs.
#[derive(Debug)]
pub struct Night {
    pub origin: Origin,
    /// The `runs` row as written.
    pub row: RunRow,
    /// Where the tables went: the folder, or the object-store URL.
    pub output: String,
    /// Every file written, as people name it (a path, or the object's URL), the `runs` row last.
    pub tables: Vec<PathBuf>,
    /// What the tail derived (`None`: a collect-only night).
    pub derived: Option<Derived>,
    pub history: HistoryStats,
}

impl Superseded {
    /// One sentence: which run, what changed, where its journal is, what to do.
    pub fn describe(&self) -> String {
        let changed = match self.changed.is_empty() {
            true => String::new(),
            false => format!(" (changed: {})", self.changed.join("; ")),
        };
        let folder = self.journal.parent().unwrap_or(&self.journal);
        format!(
            "an unfinished run {} of this night was collected with another configuration{changed}, so it is not resumed (a change of limits or concurrency alone resumes). Its journal stays at {}: run it again with the old configuration to finish it, or delete {} to drop it",
            self.run_id,
            self.journal.display(),
            folder.display()
        )
    }
}

impl Night {
    /// Alerts of the night (info included, held-back ones too): the nightly record.
    pub fn alerts(&self) -> &[Alert] {
        self.derived.as_ref().map_or(&[], |d| &d.alerts)
    }

    /// The night's incidents (open tonight, or resolved tonight).
    pub fn incidents(&self) -> &[crate::alert::incident::Incident] {
        self.derived.as_ref().map_or(&[], |d| &d.incidents)
    }

    /// Whether the night brings news that pages (an incident opened, escalated or no longer
    /// explained, not held back, not acknowledged): the exit code's 1.
    pub fn pages(&self) -> bool {
        crate::alert::incident::bad_news(self.incidents())
    }

    /// What the sinks are told of the night (`None` for a collect-only night: nothing judged).
    pub fn summary(&self, duration_s: f64) -> Option<crate::alert::sinks::NightSummary<'_>> {
        let derived = self.derived.as_ref()?;
        Some(crate::alert::sinks::NightSummary {
            run_id: &self.row.run_id,
            run_date: self.row.run_date,
            row: &self.row,
            embedder_id: &derived.embedded.embedder_id,
            run_metrics: &derived.measured.run_metrics,
            alerts: &derived.alerts,
            incidents: &derived.incidents,
            duration_s,
            report: Some(&derived.report),
        })
    }
}
