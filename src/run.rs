//! The nightly job as one call: lock the output, find or start the run, collect into the
//! journal, write `responses`, then the pipeline's tail ([`crate::pipeline`]).
//!
//! "The same command" is recognised by the plan's fingerprint (configuration and suite) and the
//! run date (`--run-date`, default today UTC): an unfinished run with the same fingerprint and
//! run date is resumed, with the same run id, and only what its journal lacks is sent. An
//! unfinished run of another date is never continued under a new night: it is reported, with
//! the command that finishes it (`--run-date` its date).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};

use crate::alert::Alert;
use crate::collect::journal::{Journal, RunDir, RunState, RunStatus, completed_names};
use crate::collect::responses::{self, EndpointCounts, ResponsesTable};
use crate::collect::{self, CollectSummary, Progress};
use crate::embed::cache::EmbeddingCache;
use crate::embed::{self, EmbedStats, Embedder};
use crate::features::Lexicon;
use crate::pipeline::{Derived, PipelineError, Tail, derive_tables};
use crate::plan::probe_table::ProbesTable;
use crate::plan::runs::RunRow;
use crate::plan::{Plan, RequestKey};
use crate::remote::{RemoteError, Target};
use crate::secrets::Redactor;
use crate::store::table::{self, RunRef};
use crate::store::{self, EmbedderTag, Output, StoreError, lock::LockError};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Start a new run even if an unfinished one with the same plan exists.
    pub fresh: bool,
    /// Partition date for a new run (default: today, UTC). Backfills and the demo set it.
    pub run_date: Option<NaiveDate>,
    /// A consortium member's run: collect, then publish `responses` and `runs` under
    /// `members/member=<name>/` (no tail: the coordinator's analysis does it).
    pub collect_only: bool,
}

#[derive(Debug)]
pub struct RunReport {
    pub run_id: String,
    pub run_date: NaiveDate,
    pub resumed: bool,
    pub collected: CollectSummary,
    pub per_endpoint: EndpointCounts,
    pub row: RunRow,
    pub tables: Vec<PathBuf>,
    pub embedded: EmbedStats,
    /// The run's `run_metrics` file (the sinks read the overall rows from it).
    pub run_metrics: PathBuf,
    /// Alerts of the night (info included); [`crate::alert::raised`] counts those that page.
    pub alerts: Vec<Alert>,
    /// Tonight's trend rows.
    pub trends: Vec<crate::trend::TrendRow>,
    /// Comparable earlier runs the trends were measured against.
    pub comparable_runs: usize,
    /// The run's report page.
    pub report: PathBuf,
    /// Where the tables went: the folder, or the object-store URL.
    pub output: String,
    /// A member's collect-only run: published, not analysed (no embeddings, no alerts).
    pub collect_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] embed::EmbedError),
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("interrupted after collection; what arrived is journaled: run the same command again to resume")]
    Stopped,
}

impl From<PipelineError> for RunError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Store(e) => RunError::Store(e),
            PipelineError::Embed(e) => RunError::Embed(e),
            PipelineError::Stopped => RunError::Stopped,
        }
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let context = context.into();
    move |source| RunError::Io { context, source }
}

/// Runs (or resumes) collection for `plan`, writes `responses`, then every derived table.
pub async fn run(plan: Plan, opts: &RunOptions, progress: &mut dyn Progress) -> Result<RunReport, RunError> {
    let target = open_target(&plan.config, opts.collect_only).await?;
    let output = target.output.clone();
    let lock = store::lock::acquire(&output)?;
    // Build the embedder first: a missing model folder must stop the run before any request.
    let embedder = Embedder::from_config(&plan.config)?;
    tracing::info!(embedder = embedder.id(), "embedder ready");
    let (lexicon, refusal) = crate::features::instruments(plan.config.lexicon.as_deref(), plan.config.refusal)?;

    record_alert_rules(&output, &plan.config.alerts)?;
    let run_date = opts.run_date.unwrap_or_else(|| Utc::now().date_naive());
    let (dir, mut state, resumed) = find_or_create_run(&output, &plan, opts.fresh, run_date)?;
    let journal_path = dir.journal_path();
    let done = resume_point(&plan, &state.run_id, resumed, &journal_path, progress)?;

    let mut journal = Journal::open(&journal_path).map_err(io(format!("opening {}", journal_path.display())))?;
    let redactor = Redactor::new(plan.config.endpoints.iter().filter_map(|e| e.api_key.as_ref()));
    let plan = Arc::new(plan);
    let collected = collect::collect(Arc::clone(&plan), done, &mut journal, redactor, progress)
        .await
        .map_err(io(format!("writing the journal {}", journal_path.display())))?;
    drop(journal);

    let run = RunRef::new(state.run_date, state.run_id.clone(), embedder.tag());
    let responses_path = table::path::<ResponsesTable>(&output, &run);
    let per_endpoint = responses::write_from_journal(&plan, &output, &run, &journal_path)?;
    let probes_path = table::write::<ProbesTable>(&output, &run, &plan.suite.probes)?;
    let row = collected_row(&plan, &state, &per_endpoint);
    if opts.collect_only {
        return publish_member(
            &target,
            row,
            &run.tag,
            &dir,
            state,
            vec![responses_path, probes_path],
            per_endpoint,
            collected,
            resumed,
        )
        .await;
    }
    if let Some(mirror) = &target.mirror {
        let settings = crate::trend::TrendSettings::from_alerts(&plan.config.alerts);
        crate::remote::history::pull(mirror, &output, &row.info(), &embedder.tag(), &settings).await?;
    }
    let (_lock, derived) = run_tail(&plan, &output, row, lock, (embedder, lexicon, refusal)).await?;
    publish(&target, &[vec![responses_path.clone(), probes_path.clone()], derived.tables.clone()].concat()).await?;

    // Only now is the run complete; a crash before this line resumes and rewrites the tables.
    mark_complete(&dir, &mut state, derived.row.finished_at)?;

    Ok(RunReport {
        run_id: state.run_id,
        run_date: state.run_date,
        resumed,
        collected,
        per_endpoint,
        row: derived.row,
        tables: [vec![responses_path, probes_path], derived.tables]
            .iter()
            .flatten()
            .map(|p| target.published_name(p))
            .collect(),
        embedded: derived.embedded,
        run_metrics: derived.measured.run_metrics,
        alerts: derived.alerts,
        trends: derived.trends,
        comparable_runs: derived.comparable_runs,
        report: derived.report,
        output: target.describe(),
        collect_only: false,
    })
}

/// Marks a run complete in its state file, then removes its journal: the tables (or the
/// published files) hold everything the journal did.
fn mark_complete(dir: &RunDir, state: &mut RunState, finished_at: chrono::DateTime<Utc>) -> Result<(), RunError> {
    state.status = RunStatus::Complete;
    state.finished_at = Some(finished_at);
    dir.save_state(state).map_err(io("marking the run complete"))?;
    let journal_path = dir.journal_path();
    if let Err(e) = std::fs::remove_file(&journal_path) {
        tracing::warn!("could not remove the finished journal {}: {e}", journal_path.display());
    }
    Ok(())
}

/// Records the alert rules in the output: what `analyze` and `import` use on it when given no
/// configuration.
fn record_alert_rules(output: &Output, rules: &crate::alert::AlertConfig) -> Result<(), RunError> {
    let bytes = serde_json::to_vec_pretty(rules)
        .map_err(|e| RunError::Io { context: "recording the alert rules".into(), source: std::io::Error::other(e) })?;
    let path = output.alert_rules_path();
    store::write_atomic(&path, |f| std::io::Write::write_all(f, &bytes))
        .map_err(io(format!("recording the alert rules in {}", path.display())))
}

/// The unfinished run of this plan and run date to resume (unless `fresh`), else a new one;
/// and whether it is resumed. An unfinished run of the same plan on another date is left alone,
/// with a warning that says how to finish or drop it.
fn find_or_create_run(
    output: &Output,
    plan: &Plan,
    fresh: bool,
    run_date: NaiveDate,
) -> Result<(RunDir, RunState, bool), RunError> {
    let unfinished = RunDir::unfinished(output).map_err(io("looking for a run to resume"))?;
    for (dir, stale) in unfinished.iter().filter(|(_, s)| s.fingerprint == plan.fingerprint && s.run_date != run_date) {
        tracing::warn!(
            "run {} of {} was left unfinished ({} responses journaled) and is not continued under {run_date}: `hivewatch run --run-date {}` with this configuration finishes it (sending only what it lacks), or delete {} to drop it",
            stale.run_id,
            stale.run_date,
            completed_names(&dir.journal_path()).map_or(0, |n| n.len()),
            stale.run_date,
            dir.path.display()
        );
    }
    let existing = if fresh {
        None
    } else {
        RunDir::find_resumable(output, &plan.fingerprint, run_date).map_err(io("looking for a run to resume"))?
    };
    Ok(match existing {
        Some((dir, state)) => (dir, state, true),
        None => {
            let state = new_state(plan, Some(run_date));
            let dir = RunDir::create(output, &state).map_err(io("creating the run's state folder"))?;
            (dir, state, false)
        }
    })
}

/// The `runs` row of a collected run (its finish time and embedder are set by the tail).
fn collected_row(plan: &Plan, state: &RunState, per_endpoint: &EndpointCounts) -> RunRow {
    let (ok, failed) = per_endpoint.values().fold((0, 0), |(o, f), (a, b)| (o + a, f + b));
    RunRow {
        run_id: state.run_id.clone(),
        run_date: state.run_date,
        started_at: state.started_at,
        finished_at: state.started_at,
        config_hash: plan.config_hash.clone(),
        suite_name: plan.suite.name.clone(),
        suite_version: plan.suite.version.clone(),
        suite_id: plan.suite.id.clone(),
        sampling_id: plan.sampling_id(),
        embedder_id: None,
        endpoints: plan.config.endpoints.len() as u64,
        probes: plan.suite.probes.len() as u64,
        samples: u64::from(plan.samples()),
        planned: plan.total_requests(),
        ok,
        failed,
    }
}

/// The tail on a blocking thread, holding the lock (returned with the tables): a signal then
/// reaches `run_interruptible` (which asks the tail to stop at its next stage boundary) instead
/// of waiting for the end.
async fn run_tail(
    plan: &Arc<Plan>,
    output: &Output,
    row: RunRow,
    lock: store::lock::OutputLock,
    (embedder, lexicon, refusal): (Embedder, Lexicon, crate::features::detector::RefusalDetector),
) -> Result<(store::lock::OutputLock, Derived), RunError> {
    let cache =
        EmbeddingCache::open(&output.embed_cache_dir(), embedder.id()).map_err(io("opening the embedding cache"))?;
    let plan = Arc::clone(plan);
    let output = output.clone();
    let tail = tokio::task::spawn_blocking(move || {
        let mut cache = cache;
        let mut tail = Tail {
            embedder: &embedder,
            cache: &mut cache,
            lexicon: &lexicon,
            refusal: &refusal,
            alerts: &plan.config.alerts,
            stamp_finish: true,
        };
        let derived = derive_tables(&output, row, &mut tail);
        (lock, derived)
    });
    match tail.await {
        Ok((lock, derived)) => Ok((lock, derived?)),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(RunError::Stopped),
    }
}

/// Where a run writes: the output folder in place, or an object-store output through its local
/// mirror; a member's part of either. An object store is checked writable (a small object put
/// and deleted) before any request is sent.
pub async fn open_target(config: &crate::config::Config, collect_only: bool) -> Result<Target, RunError> {
    let target = match (&config.consortium.member, collect_only) {
        (Some(member), true) => crate::consortium::member_target(config, member),
        _ => Target::open(config, "", false),
    }
    .map_err(RemoteError::as_config)?;
    if target.remote.is_some() {
        // A member only adds objects: a refused delete is not its problem.
        target.check_writable(!collect_only).await?;
    }
    Ok(target)
}

/// Pushes a night's files to an object-store output (the `runs` row last), then forgets what the
/// mirror no longer needs. Nothing to do for a folder output.
async fn publish(target: &Target, tables: &[PathBuf]) -> Result<(), RunError> {
    let Some(mirror) = &target.mirror else { return Ok(()) };
    let mut files = tables.to_vec();
    // The pages beside tonight's (before the `runs` row, which goes last). The index is the
    // mirror's: a fresh mirror lists only the nights it has seen (noted in the README).
    for page in ["latest.html", "index.html", "index.json"] {
        let path = target.output.html_dir().join(page);
        if path.exists() {
            files.insert(files.len() - 1, path);
        }
    }
    target.push(&files).await?;
    if let Err(e) = crate::remote::history::forget_pushed(mirror) {
        tracing::warn!("could not tidy the mirror {}: {e}", mirror.root().display());
    }
    tracing::info!(files = files.len(), output = %target.describe(), "published the night");
    Ok(())
}

/// A member's collect-only run, once collection is complete: its `responses` and then its
/// `runs` row (whose presence says the night is published) under `members/member=<name>/`.
/// A crash before the state is marked complete resumes and publishes the same files again
/// under the same keys: the member's night is published exactly once.
#[allow(clippy::too_many_arguments)]
async fn publish_member(
    target: &Target,
    mut row: RunRow,
    tag: &EmbedderTag,
    dir: &RunDir,
    mut state: RunState,
    collected_tables: Vec<PathBuf>,
    per_endpoint: EndpointCounts,
    collected: CollectSummary,
    resumed: bool,
) -> Result<RunReport, RunError> {
    row.finished_at = Utc::now();
    let runs_path = crate::plan::runs::write(&target.output, &row, tag)?;
    let tables = [collected_tables, vec![runs_path]].concat();
    target.push(&tables).await?;
    if let Some(mirror) = &target.mirror
        && let Err(e) = crate::remote::history::forget_pushed(mirror)
    {
        tracing::warn!("could not tidy the mirror {}: {e}", mirror.root().display());
    }
    mark_complete(dir, &mut state, row.finished_at)?;
    Ok(RunReport {
        run_id: state.run_id,
        run_date: state.run_date,
        resumed,
        collected,
        per_endpoint,
        row,
        tables: tables.iter().map(|p| target.published_name(p)).collect(),
        embedded: EmbedStats { embedder_id: String::new(), rows: 0, newly_embedded: 0, path: PathBuf::new() },
        run_metrics: PathBuf::new(),
        alerts: Vec::new(),
        trends: Vec::new(),
        comparable_runs: 0,
        report: PathBuf::new(),
        output: target.describe(),
        collect_only: true,
    })
}

/// A new run's identity: time, plan and a random tag, so two runs started in the same second
/// stay apart.
fn new_state(plan: &Plan, run_date: Option<NaiveDate>) -> RunState {
    let started_at = Utc::now();
    RunState {
        run_id: format!(
            "{}-{}-{:04x}",
            started_at.format("%Y%m%dT%H%M%SZ"),
            &plan.fingerprint[..8],
            rand::random::<u16>()
        ),
        fingerprint: plan.fingerprint.clone(),
        run_date: run_date.unwrap_or_else(|| started_at.date_naive()),
        started_at,
        finished_at: None,
        config_hash: plan.config_hash.clone(),
        suite_id: plan.suite.id.clone(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        status: RunStatus::Collecting,
    }
}

/// Runs the job, stopping cleanly on Ctrl-C or SIGTERM, during collection (the journal keeps
/// what arrived) and after it: the pipeline's tail is asked to stop at its next stage boundary
/// (it writes every file whole or not at all, and the run is not marked complete, so the same
/// command resumes it). The caller should give the tail a moment to stop before the process
/// exits (`cli::main` shuts the runtime down with a timeout).
pub async fn run_interruptible(plan: Plan, opts: RunOptions) -> Result<RunReport, Interrupted> {
    let mut progress = crate::progress::for_stderr();
    tokio::select! {
        r = run(plan, &opts, progress.as_mut()) => Ok(r?),
        signal = shutdown_signal() => {
            crate::pipeline::request_stop();
            Err(Interrupted::Signal(signal))
        }
    }
}

/// A run that failed or was stopped by a signal.
#[derive(Debug, thiserror::Error)]
pub enum Interrupted {
    #[error(transparent)]
    Failed(#[from] RunError),
    #[error("interrupted by {0}; what arrived is journaled: run the same command again to resume")]
    Signal(&'static str),
}

async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "Ctrl-C",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Sends the night's alerts to the configured sinks (textfile, webhook). A sink that fails is
/// logged, never fatal: the alerts are already in their table and in the exit code.
pub async fn notify(config: &crate::config::Config, report: &RunReport, duration_s: f64) {
    let night = crate::alert::sinks::NightSummary {
        run_id: &report.run_id,
        run_date: report.run_date,
        row: &report.row,
        embedder_id: &report.embedded.embedder_id,
        run_metrics: &report.run_metrics,
        alerts: &report.alerts,
        duration_s,
    };
    crate::alert::sinks::notify(config, &night).await;
}

/// How many of the journal's requests ended ok and failed (the last outcome of each key).
/// The requests this run's journal already holds answers for; on a resume, says how far the
/// run had got (on the progress line and in the log).
fn resume_point(
    plan: &Plan,
    run_id: &str,
    resumed: bool,
    journal: &std::path::Path,
    progress: &mut dyn Progress,
) -> Result<std::collections::HashSet<RequestKey>, RunError> {
    let done = done_keys(plan, journal)?;
    if resumed {
        let (ok, failed) = journaled_outcomes(journal)?;
        progress.resumed(ok, failed);
        tracing::info!(run_id = %run_id, already_done = done.len(), "resuming an unfinished run of the same plan");
    } else {
        tracing::info!(run_id = %run_id, planned = plan.total_requests(), "starting a new run");
    }
    Ok(done)
}

fn journaled_outcomes(journal: &std::path::Path) -> Result<(u64, u64), RunError> {
    let mut last: HashMap<(String, String, u32), bool> = HashMap::new();
    crate::collect::journal::for_each_record(journal, |r| {
        last.insert((r.endpoint, r.probe_id, r.sample_index), r.status == crate::collect::Status::Ok);
        Ok(())
    })
    .map_err(io(format!("reading the journal {}", journal.display())))?;
    let ok = last.values().filter(|ok| **ok).count() as u64;
    Ok((ok, last.len() as u64 - ok))
}

/// The plan's keys already in the journal.
fn done_keys(plan: &Plan, journal: &std::path::Path) -> Result<std::collections::HashSet<RequestKey>, RunError> {
    let names = completed_names(journal).map_err(io(format!("reading the journal {}", journal.display())))?;
    let endpoints: HashMap<&str, u32> =
        plan.config.endpoints.iter().enumerate().map(|(i, e)| (e.name.as_str(), i as u32)).collect();
    let probes: HashMap<&str, u32> =
        plan.suite.probes.iter().enumerate().map(|(i, p)| (p.id.as_str(), i as u32)).collect();
    Ok(names
        .iter()
        .filter_map(|(e, p, s)| {
            Some(RequestKey { endpoint: *endpoints.get(e.as_str())?, probe: *probes.get(p.as_str())?, sample: *s })
        })
        .filter(|k| k.sample < plan.samples())
        .collect())
}
