//! The nightly job as one call: lock the output, find or start the run, collect into the
//! journal, write `responses`, then the pipeline's tail ([`crate::pipeline`]).
//!
//! "The same command" is recognised by the plan's fingerprint (configuration and suite) and the
//! run date (`--run-date`, default today UTC): an unfinished run with the same fingerprint and
//! run date is resumed, with the same run id, and only what its journal lacks is sent. An
//! unfinished run of another date is never continued under a new night: it is reported, with
//! the command that finishes it (`--run-date` its date).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};

use crate::collect::journal::{Journal, RunDir, RunState, RunStatus, completed_names};
use crate::collect::responses::{self, EndpointCounts, ResponsesTable};
use crate::collect::{self, Progress};
use crate::consortium::{member_dir, member_role};
use crate::failure::{Classify, Failure};
use crate::night::Superseded;
use crate::plan::probe_table::ProbesTable;
use crate::plan::runs::RunRow;
use crate::plan::{Plan, RequestKey};
use crate::secrets::Redactor;
use crate::session::{Collection, Instruments, Night, Origin, Place, Session, SessionError};
use crate::store::table::{self, RunRef};
use crate::store::{EmbedderTag, Output, StoreError};

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

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),
}

impl Classify for RunError {
    fn failure(&self) -> Failure {
        match self {
            RunError::Session(e) => e.failure(),
            RunError::Store(e) => e.failure(),
            RunError::Input(e) => e.failure(),
            RunError::Io { .. } => Failure::Failed,
            RunError::Embed(e) => e.failure(),
        }
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let context = context.into();
    move |source| RunError::Io { context, source }
}

/// Runs (or resumes) collection for `plan`, writes `responses`, then every derived table (a
/// member's collect-only night: publishes what it collected instead).
pub async fn run(plan: Plan, opts: &RunOptions, progress: &mut dyn Progress) -> Result<Night, RunError> {
    let cfg = &plan.config;
    // The instruments first: a missing model folder must stop the run before any request.
    // A member embeds only with `[consortium] embed = "member"`.
    let member_embeds = cfg.consortium.embed == crate::config::EmbedBy::Member;
    let kit = match opts.collect_only && !member_embeds {
        true => None,
        false => Some((Instruments::from_config(cfg)?, cfg.alerts.clone())),
    };
    // A member only adds objects: a refused delete is not its problem.
    let mut session = Session::open(place(cfg, opts.collect_only), kit, !opts.collect_only).await?;
    if let Some(instruments) = session.instruments() {
        tracing::info!(embedder = instruments.embedder.id(), "embedder ready");
    }
    session.record_rules()?;
    let output = session.output().clone();
    let run_date = opts.run_date.unwrap_or_else(|| Utc::now().date_naive());
    let (resumable, superseded) = settle_unfinished(&session, &plan, opts.fresh, run_date).await?;
    let (dir, mut state, resumed) = find_or_create_run(&output, &plan, resumable, run_date)?;
    let journal_path = dir.journal_path();
    let done = resume_point(&plan, &state.run_id, resumed, &journal_path, progress)?;

    let mut journal = Journal::open(&journal_path).map_err(io(format!("opening {}", journal_path.display())))?;
    let redactor = Redactor::new(plan.config.endpoints.iter().filter_map(|e| e.api_key.as_ref()));
    let plan = Arc::new(plan);
    let summary = collect::collect(Arc::clone(&plan), done, &mut journal, redactor, progress)
        .await
        .map_err(io(format!("writing the journal {}", journal_path.display())))?;
    drop(journal);
    tracing::info!(run_id = %state.run_id, sent = summary.sent, ok = summary.ok, failed = summary.failed, "collected the responses");

    // A member's collect-only night analyses nothing (or embeds and describes its answers
    // only): its tables are per run, or of its embedder.
    let tag = session.tag().unwrap_or_else(EmbedderTag::none);
    let run = RunRef::new(state.run_date, state.run_id.clone(), tag);
    let responses_path = table::path::<ResponsesTable>(&output, &run);
    let per_endpoint = responses::write_from_journal(&plan, &output, &run, &journal_path)?;
    let probes_path = table::write::<ProbesTable>(&output, &run, &plan.suite.probes)?;
    let mut row = collected_row(&plan, &state, &per_endpoint);
    let mut collection = Collection { resumed, summary, per_endpoint, superseded, rejudged: Vec::new() };
    let collected = vec![responses_path, probes_path];

    if opts.collect_only {
        // A member's night: its `responses`, then its `runs` row (whose presence says the
        // night is published) under `members/member=<name>/`. A crash before the state is
        // marked complete resumes and publishes the same files again under the same keys.
        let mut collected = collected;
        if let Some((instruments, cache)) = session.kit_mut() {
            let own =
                tokio::task::block_in_place(|| crate::consortium::own::describe(&output, &run, instruments, cache))?;
            row.embedder_id = Some(run.tag.id.clone());
            collected.extend(own);
        }
        row.finished_at = Utc::now();
        let sealed = seal_member_night(&plan.config, &output, &run, &row, &collected)?;
        let tables = session.publish([collected, sealed].concat()).await?;
        mark_complete(&dir, &mut state, row.finished_at)?;
        let origin = Origin::Published(collection);
        let history = Default::default();
        return Ok(Night { origin, row, output: session.describe(), tables, derived: None, history });
    }
    let (derived, history) = session.derive(row, None, true).await?;
    let tables = session.publish([collected, derived.tables.clone()].concat()).await?;
    // Only now is the run complete; a crash before this line resumes and rewrites the tables.
    mark_complete(&dir, &mut state, derived.row.finished_at)?;
    // A backfill: the later nights are judged again with it (a crash here leaves them as they
    // were, judged without it, which `hivewatch analyze` mends).
    let window = plan.config.alerts.baseline_runs.max(plan.config.alerts.trend_runs);
    collection.rejudged = crate::analyze::rejudge_later(&mut session, state.run_date, window).await?;
    let row = derived.row.clone();
    Ok(Night {
        origin: Origin::Collected(collection),
        row,
        output: session.describe(),
        tables,
        derived: Some(derived),
        history,
    })
}

/// A member's night signed with its secret: the manifest, then its `runs` row (in the order
/// to publish them, after `collected`), see [`crate::consortium::manifest`].
fn seal_member_night(
    cfg: &crate::config::Config,
    output: &Output,
    run: &RunRef,
    row: &RunRow,
    collected: &[std::path::PathBuf],
) -> Result<Vec<std::path::PathBuf>, RunError> {
    let (Some(member), Some(secret)) = (&cfg.consortium.member, &cfg.consortium.secret) else {
        return Err(crate::input::InputError::new(
            &cfg.path,
            None,
            "a consortium member signs what it publishes, and its secret is not set",
        )
        .hint("export the variable [consortium] secret_env names")
        .into());
    };
    Ok(crate::consortium::manifest::seal(output, member, secret, run, row, collected)?)
}

/// Where `hivewatch run` writes: the configuration's output, or with `collect_only` its
/// consortium member's part of it (`members/member=<name>/`, its state apart).
pub fn place(cfg: &crate::config::Config, collect_only: bool) -> Place<'_> {
    match cfg.consortium.member.as_deref().filter(|_| collect_only) {
        Some(m) => Place { role: member_role(m), under: Some(member_dir(m)), ..Place::of(cfg) },
        None => Place::of(cfg),
    }
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

/// The unfinished runs of this plan, settled before the night starts. The newest of tonight's
/// date is returned, to resume (unless `fresh`). Any other is done with, so none of its files
/// stays in the analysts' tables: one of tonight's date is abandoned (`--fresh`, or an older
/// one), its table files and its folder removed; one of another date whose `runs` row is
/// written is complete and marked so; any other of another date has its partial table files
/// removed (its journal keeps what it collected, to finish it) and is reported with what to do.
/// An unfinished run of tonight's date under another plan (what is measured changed: limits do
/// not count, see [`Plan::fingerprint`]) is left as it is and returned, to be said aloud.
async fn settle_unfinished(
    session: &Session,
    plan: &Plan,
    fresh: bool,
    run_date: NaiveDate,
) -> Result<(Option<(RunDir, RunState)>, Vec<Superseded>), RunError> {
    let unfinished = RunDir::unfinished(session.output()).map_err(io("looking for a run to resume"))?;
    let (ours, others): (Vec<_>, Vec<_>) = unfinished.into_iter().partition(|(_, s)| s.fingerprint == plan.fingerprint);
    let superseded: Vec<Superseded> =
        others.iter().filter(|(_, s)| s.run_date == run_date).map(|(dir, s)| superseded(plan, dir, s)).collect();
    let mut resumable: Option<(RunDir, RunState)> = None;
    // Oldest first: a newer run of tonight's date displaces an older one.
    for (dir, state) in ours {
        if state.run_date != run_date {
            settle_stale(session, &dir, state, run_date).await?;
        } else if fresh {
            abandon(session, &dir, &state, "--fresh starts a new run").await?;
        } else if let Some((older, s)) = resumable.replace((dir, state)) {
            abandon(session, &older, &s, "a newer run of the same night is resumed").await?;
        }
    }
    Ok((resumable, superseded))
}

/// An unfinished run of tonight under another plan: what changed, warned about now (the night
/// prints it too).
fn superseded(plan: &Plan, dir: &RunDir, state: &RunState) -> Superseded {
    let mut changed = state.measured.as_ref().map(|m| crate::plan::what_changed(m, &plan.measured)).unwrap_or_default();
    if state.suite_id != plan.suite.id {
        changed.insert(0, format!("the probe suite (id {} -> {})", state.suite_id, plan.suite.id));
    }
    let s = Superseded { run_id: state.run_id.clone(), journal: dir.journal_path(), changed };
    tracing::warn!("{}", s.describe());
    s
}

/// Removes an unfinished run: every table file it wrote (in the store too), then its folder.
async fn abandon(session: &Session, dir: &RunDir, state: &RunState, why: &str) -> Result<(), RunError> {
    let removed = discard(session, state).await;
    std::fs::remove_dir_all(&dir.path)
        .map_err(io(format!("removing the abandoned run's folder {}", dir.path.display())))?;
    tracing::warn!(
        "abandoned the unfinished run {} of {} ({why}): removed its journal and {removed} table file(s)",
        state.run_id,
        state.run_date
    );
    Ok(())
}

/// Removes a run's table files, saying what could not be removed (a store that refuses deletes:
/// a consortium member needs none). Returns how many went.
async fn discard(session: &Session, state: &RunState) -> usize {
    match session.discard_run(state.run_date, &state.run_id).await {
        Ok(removed) => removed.len(),
        Err(e) => {
            tracing::warn!("could not remove every table file of run {} ({}): {e}", state.run_id, state.run_date);
            0
        }
    }
}

/// An unfinished run of another night: complete if its `runs` row is written (a crash before it
/// was marked); otherwise its partial table files are removed and it is reported, with the
/// command that finishes it and how to drop it.
async fn settle_stale(
    session: &Session,
    dir: &RunDir,
    mut state: RunState,
    tonight: NaiveDate,
) -> Result<(), RunError> {
    let run = RunRef::new(state.run_date, state.run_id.clone(), session.tag().unwrap_or_else(EmbedderTag::none));
    if session.has_runs_row(&run).await? {
        tracing::info!("run {} of {} was complete (its runs row is written): marked so", state.run_id, state.run_date);
        let finished_at = state.finished_at.unwrap_or_else(Utc::now);
        return mark_complete(dir, &mut state, finished_at);
    }
    let removed = discard(session, &state).await;
    tracing::warn!(
        "run {} of {} was left unfinished ({} responses journaled) and is not continued under {tonight}; {removed} partial table file(s) of it were taken out of the output, so no table holds half of it. `hivewatch run --run-date {}` with this configuration finishes it (sending only what it lacks), or delete {} to drop it (nothing else of it is left)",
        state.run_id,
        state.run_date,
        completed_names(&dir.journal_path()).map_or(0, |n| n.len()),
        state.run_date,
        dir.path.display()
    );
    Ok(())
}

/// `resumable`, else a new run of `run_date`; and whether it is resumed.
fn find_or_create_run(
    output: &Output,
    plan: &Plan,
    resumable: Option<(RunDir, RunState)>,
    run_date: NaiveDate,
) -> Result<(RunDir, RunState, bool), RunError> {
    Ok(match resumable {
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
        measured: Some(plan.measured.clone()),
    }
}

/// Runs the job, stopping cleanly on Ctrl-C or SIGTERM, during collection (the journal keeps
/// what arrived) and after it: the pipeline's tail is asked to stop at its next stage boundary
/// (it writes every file whole or not at all, and the run is not marked complete, so the same
/// command resumes it). The caller should give the tail a moment to stop before the process
/// exits (`cli::main` shuts the runtime down with a timeout).
pub async fn run_interruptible(plan: Plan, opts: RunOptions) -> Result<Night, Interrupted> {
    let mut progress = crate::progress::for_stderr();
    tokio::select! {
        r = run(plan, &opts, progress.as_mut()) => Ok(r?),
        signal = crate::util::shutdown_signal() => {
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

impl Classify for Interrupted {
    fn failure(&self) -> Failure {
        match self {
            Interrupted::Failed(e) => e.failure(),
            Interrupted::Signal(_) => Failure::Failed,
        }
    }
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
