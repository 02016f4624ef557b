//! The pipeline's tail: every table derived from a run's stored `responses`, in one order, for
//! every way a run comes to exist: `hivewatch run` (after collection), `hivewatch import`
//! (after writing the imported responses) and `hivewatch analyze` (again, for a stored run,
//! perhaps with another embedder).
//!
//! embed -> features -> identity -> measure -> lineage -> trends -> alerts -> report -> runs row
//!
//! Each stage reads what the stages before it wrote (never in-memory state), which is what lets
//! analyze redo any of them exactly. The `runs` row is written last: its presence is what marks
//! the run complete for every later night's trends.

use std::path::PathBuf;

use chrono::Utc;

use crate::alert::incident::Incident;
use crate::alert::incident_table::IncidentsTable;
use crate::alert::table::AlertsTable;
use crate::alert::{self, Alert, AlertConfig};
use crate::embed::cache::EmbeddingCache;
use crate::embed::{self, EmbedError, EmbedStats, Embedder};
use crate::features::Lexicon;
use crate::features::detector::RefusalDetector;
use crate::identity::summary::{IdentityRow, IdentityVerdict};
use crate::lineage::LineageRow;
use crate::metrics::stage::MeasureStats;
use crate::plan::runs::{self, RunInfo, RunRow};
use crate::store::table::{self, RunRef};
use crate::store::{Output, StoreError};
use crate::trend::table::TrendsTable;
use crate::trend::{TrendRow, TrendSettings};

/// Errors of the derived stages.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// [`request_stop`] was called (a signal): the tail stopped between two stages, every
    /// file it wrote whole, the `runs` row not written, so the run is not complete.
    #[error("stopped between two stages of the pipeline's tail (a signal)")]
    Stopped,
}

impl crate::failure::Classify for PipelineError {
    fn failure(&self) -> crate::failure::Failure {
        match self {
            PipelineError::Store(e) => crate::failure::Classify::failure(e),
            PipelineError::Embed(e) => crate::failure::Classify::failure(e),
            PipelineError::Stopped => crate::failure::Failure::Failed,
        }
    }
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Asks every tail running in this process to stop at its next stage boundary (a signal
/// arrived). The tail runs on a blocking thread, where no `select!` can reach it.
pub fn request_stop() {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

fn check_stop() -> Result<(), PipelineError> {
    if STOP.load(std::sync::atomic::Ordering::SeqCst) { Err(PipelineError::Stopped) } else { Ok(()) }
}

/// What the tail needs besides the run: the instruments and the rules.
pub struct Tail<'a> {
    pub embedder: &'a Embedder,
    pub cache: &'a mut EmbeddingCache,
    pub lexicon: &'a Lexicon,
    /// Labels refusals in `features` (it may read the embeddings just written).
    pub refusal: &'a RefusalDetector,
    /// Reads what identity answers claim (`identity`).
    pub identity: &'a crate::identity::Rules,
    /// `[output]`: what the tables keep.
    pub keep: crate::config::OutputOptions,
    pub alerts: &'a AlertConfig,
    /// Stamp the row's `finished_at` when everything is written (a nightly run); imports and
    /// re-analyses keep the time they were given.
    pub stamp_finish: bool,
    /// The run's `embeddings` (and `claim_embeddings`) and `features`, already written by the
    /// same stage code before the tail (a consortium's union, from what its members embedded):
    /// the tail goes on from them.
    pub prepared: Option<Prepared>,
}

/// What the embed and features stages wrote, when they ran before the tail.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub embedded: EmbedStats,
    pub features: crate::features::stage::FeaturesStats,
}

/// What the tail wrote.
#[derive(Debug, Clone)]
pub struct Derived {
    /// The `runs` row as written.
    pub row: RunRow,
    pub embedded: EmbedStats,
    pub featured: u64,
    pub measured: MeasureStats,
    /// Tonight's alerts (info included); [`alert::raised`] counts those that page.
    pub alerts: Vec<Alert>,
    /// Tonight's incidents: every one open tonight or resolved tonight; what pages is
    /// [`crate::alert::incident::pages`].
    pub incidents: Vec<Incident>,
    /// Tonight's trend rows, as written.
    pub trends: Vec<TrendRow>,
    /// Comparable earlier runs the trends were measured against (at most the longest window).
    pub comparable_runs: usize,
    pub report: PathBuf,
    /// Every file written, the `runs` row's last.
    pub tables: Vec<PathBuf>,
}

/// Derives every table of a run whose `responses` are stored, and writes its `runs` row.
/// Blocking: call it from a blocking context.
pub fn derive_tables(output: &Output, row: RunRow, tail: &mut Tail) -> Result<Derived, PipelineError> {
    derive_tables_guarded(output, row, tail, None)
}

/// [`derive_tables`], with a night-level alert that stands instead of the diversity rules when
/// given (as the coverage guard does): a consortium night with a member missing.
pub fn derive_tables_guarded(
    output: &Output,
    mut row: RunRow,
    tail: &mut Tail,
    guard: Option<Alert>,
) -> Result<Derived, PipelineError> {
    let run = row.run_ref(&tail.embedder.tag());
    let (id, tag) = (&run.id, &run.tag);

    check_stop()?;
    let prepared = tail.prepared.take();
    let embedded = match &prepared {
        Some(p) => p.embedded.clone(),
        None => embed::embed_run(output, &run, tail.embedder, tail.cache, &tail.keep)?,
    };
    if tail.embedder.is_cached() {
        embed::bound_cache(output, tag, tail.cache, embed::CACHE_RUNS, embedded.rows)?;
    }
    tracing::info!(
        run_id = %id,
        embedder = %embedded.embedder_id,
        rows = embedded.rows,
        newly_embedded = embedded.newly_embedded,
        "embedded the responses"
    );
    check_stop()?;
    let features = match prepared {
        Some(p) => p.features,
        None => crate::features::stage::write_features(output, &run, tail.lexicon, tail.refusal)?,
    };
    let (features_path, featured) = (features.path, features.rows);
    tracing::info!(
        run_id = %id,
        rows = featured,
        lexicon = %tail.lexicon.version,
        refusal = %features.detector,
        "extracted behavioural features"
    );
    check_stop()?;
    let (identity, identity_path) = crate::identity::stage::identity_run(output, &run, tail.identity)?;
    tracing::info!(
        run_id = %id,
        rows = identity.len(),
        rules = %tail.identity.version,
        claims_other = identity
            .iter()
            .filter(|r| r.verdict == Some(IdentityVerdict::ClaimsOtherIdentity))
            .map(|r| &r.model)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        "read what the identity answers claim"
    );
    check_stop()?;
    let measured = crate::metrics::stage::measure_run(output, &run, tail.keep.pair_categories)?;
    tracing::info!(run_id = %id, probes = measured.probes, pair_rows = measured.pairs, "measured diversity and convergence");
    let (lineage, lineage_path, declares_any) =
        crate::lineage::stage::lineage_run(output, &run, (&identity, tail.identity))?;
    tracing::info!(
        run_id = %id,
        rows = lineage.len(),
        undeclared = lineage.iter().filter(|r| r.verdict == Some(crate::lineage::Verdict::Undeclared)).count(),
        "compared declared with measured lineage"
    );

    check_stop()?;
    row.embedder_id.get_or_insert_with(|| tag.id.clone());
    let info = row.info();
    let claims = (identity.as_slice(), crate::identity::stage::previous(output, &run)?);
    let judged = judge(output, (&info, &run), tail.alerts, (&lineage, declares_any), (claims.0, &claims.1), guard)?;

    check_stop()?;
    let report = crate::report::write_report(output, &info, tag, tail.alerts.concentration.level)?;
    tracing::info!(run_id = %id, "wrote the report {}", report.display());

    if tail.stamp_finish {
        row.finished_at = Utc::now();
    }
    check_stop()?;
    let runs_path = runs::write(output, &row, tag)?;
    let tables = [
        embedded.path.iter().cloned().chain([features_path, identity_path]).collect(),
        measured.tables.clone(),
        vec![lineage_path],
        judged.tables,
        vec![report.clone(), runs_path],
    ]
    .concat();
    let Judged { trends, alerts, incidents, comparable_runs, .. } = judged;
    Ok(Derived { row, embedded, featured, measured, alerts, incidents, trends, comparable_runs, report, tables })
}

/// Tonight's trends and the alerts they raise, written.
struct Judged {
    trends: Vec<TrendRow>,
    alerts: Vec<Alert>,
    incidents: Vec<Incident>,
    comparable_runs: usize,
    /// The `trends` and `alerts` files.
    tables: Vec<PathBuf>,
}

/// Compares tonight with the comparable runs before it and judges the alert rules on the result
/// (with a members guard, that alert alone: a night missing members is judged by no other rule).
fn judge(
    output: &Output,
    (info, run): (&RunInfo, &RunRef),
    rules: &AlertConfig,
    (lineage, declares_any): (&[LineageRow], bool),
    (identity, identity_before): (&[IdentityRow], &[IdentityRow]),
    guard: Option<Alert>,
) -> Result<Judged, PipelineError> {
    let crate::trend::stage::Trends { rows: mut trends, panel_change, comparable_runs } =
        crate::trend::stage::trend_run(output, info, &run.tag, &TrendSettings::from_alerts(rules))?;
    // A night judged by its rules: no guard stands instead of them, and its trends have a
    // baseline (a change of instrument starts a new one). Otherwise incidents are frozen.
    let judged = guard.is_none() && info.coverage >= rules.min_coverage && !trends.iter().any(|t| t.instrument_change);
    // How far tonight's pair series moved together: what a pair must stand apart from, and what
    // an ecosystem-wide move explains.
    let background = alert::background::Backgrounds::of_pairs(&trends);
    let mut alerts = match guard {
        Some(guard) => vec![guard],
        None => {
            let mut alerts = alert::evaluate(&mut trends, info.coverage, rules, &background);
            alerts.extend(panel_change.as_ref().map(alert::panel_change));
            alerts.extend(alert::undeclared(lineage, declares_any, info.coverage, info.is_imported(), rules));
            alerts.extend(alert::identity(identity, identity_before, (info.coverage, info.is_imported()), rules));
            alert::sort(&mut alerts);
            alerts
        }
    };
    let previous = crate::alert::incident_table::previous(output, info, &run.tag)?;
    let tonight = (info.run_date, info.run_id.as_str());
    let acks = &rules.acknowledge;
    let incidents =
        alert::incident::track(&previous, &mut alerts, tonight, judged, &rules.incidents, acks, &background);
    let trends_path = table::write::<TrendsTable>(output, run, &trends)?;
    let alerts_path = table::write::<AlertsTable>(output, run, &alerts)?;
    let incidents_path = table::write::<IncidentsTable>(output, run, &incidents)?;
    tracing::info!(
        run_id = %run.id,
        trends = trends.len(),
        alerts = alert::raised(&alerts),
        open_incidents = incidents.iter().filter(|i| i.is_open()).count(),
        pages = alert::incident::pages(&incidents).len(),
        "compared with earlier runs"
    );
    let tables = vec![trends_path, alerts_path, incidents_path];
    Ok(Judged { trends, alerts, incidents, comparable_runs, tables })
}
