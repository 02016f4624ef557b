//! The nightly job as one call: lock the output, find or start the run, collect, write tables.
//!
//! "The same command" is recognised by the plan's fingerprint (configuration and suite): an
//! unfinished run with the same fingerprint is resumed, with the same run id and run date, and
//! only what its journal lacks is sent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};

use crate::collect::journal::{Journal, RunDir, RunState, RunStatus, completed_names};
use crate::collect::{self, CollectSummary, Progress};
use crate::embed::cache::EmbeddingCache;
use crate::embed::{self, EmbedStats, Embedder};
use crate::features::Lexicon;
use crate::plan::{Plan, RequestKey};
use crate::secrets::Redactor;
use crate::store::responses::EndpointCounts;
use crate::store::runs::RunRow;
use crate::store::{self, StoreError, lock::LockError};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Start a new run even if an unfinished one with the same plan exists.
    pub fresh: bool,
    /// Partition date for a new run (default: today, UTC). Backfills and the demo set it.
    pub run_date: Option<NaiveDate>,
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
    Input(#[from] crate::config::InputError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let context = context.into();
    move |source| RunError::Io { context, source }
}

/// Runs (or resumes) collection for `plan` and writes the `responses` and `runs` tables.
pub async fn run(plan: Plan, opts: &RunOptions, progress: &mut dyn Progress) -> Result<RunReport, RunError> {
    let output = plan.config.output.clone();
    let _lock = store::lock::acquire(&output)?;
    // Build the embedder first: a missing model folder must stop the run before any request.
    let embedder = Embedder::build(&plan.config.embedder_spec())?;
    tracing::info!(embedder = embedder.id(), "embedder ready");
    let lexicon = match &plan.config.lexicon {
        Some(path) => Lexicon::load(path)?,
        None => Lexicon::builtin(),
    };

    let existing = if opts.fresh {
        None
    } else {
        RunDir::find_resumable(&output, &plan.fingerprint).map_err(io("looking for a run to resume"))?
    };
    let resumed = existing.is_some();
    let (dir, mut state) = match existing {
        Some(found) => found,
        None => {
            let started_at = Utc::now();
            let state = RunState {
                // Time, plan and a random tag: two runs started in the same second stay apart.
                run_id: format!(
                    "{}-{}-{:04x}",
                    started_at.format("%Y%m%dT%H%M%SZ"),
                    &plan.fingerprint[..8],
                    rand::random::<u16>()
                ),
                fingerprint: plan.fingerprint.clone(),
                run_date: opts.run_date.unwrap_or_else(|| started_at.date_naive()),
                started_at,
                finished_at: None,
                config_hash: plan.config_hash.clone(),
                suite_id: plan.suite.id.clone(),
                tool_version: env!("CARGO_PKG_VERSION").to_owned(),
                status: RunStatus::Collecting,
            };
            let dir = RunDir::create(&output, &state).map_err(io("creating the run's state folder"))?;
            (dir, state)
        }
    };
    let journal_path = dir.journal_path();
    let done = done_keys(&plan, &journal_path)?;
    if resumed {
        tracing::info!(run_id = %state.run_id, already_done = done.len(), "resuming an unfinished run of the same plan");
    } else {
        tracing::info!(run_id = %state.run_id, planned = plan.total_requests(), "starting a new run");
    }

    let mut journal = Journal::open(&journal_path).map_err(io(format!("opening {}", journal_path.display())))?;
    let redactor = Redactor::new(plan.config.endpoints.iter().filter_map(|e| e.api_key.as_ref()));
    let plan = Arc::new(plan);
    let collected = collect::collect(Arc::clone(&plan), done, &mut journal, redactor, progress)
        .await
        .map_err(io(format!("writing the journal {}", journal_path.display())))?;
    drop(journal);

    let responses_path = store::table_path(&output, store::responses::TABLE, state.run_date, &state.run_id);
    let per_endpoint = store::responses::write_from_journal(&plan, &state.run_id, &journal_path, &responses_path)?;
    let (ok, failed) = per_endpoint.values().fold((0, 0), |(o, f), (a, b)| (o + a, f + b));

    let embedded = {
        let mut cache = EmbeddingCache::open(&embed::cache_dir(&output), embedder.id())
            .map_err(io("opening the embedding cache"))?;
        let (run_date, run_id) = (state.run_date, state.run_id.clone());
        tokio::task::block_in_place(|| embed::embed_run(&output, run_date, &run_id, &embedder, &mut cache))?
    };
    tracing::info!(
        embedder = %embedded.embedder_id,
        rows = embedded.rows,
        newly_embedded = embedded.newly_embedded,
        "embedded the responses"
    );
    let (features_path, featured) = tokio::task::block_in_place(|| {
        crate::features::stage::write_features(&output, state.run_date, &state.run_id, &lexicon)
    })?;
    tracing::info!(rows = featured, lexicon = %lexicon.version, "extracted behavioural features");
    let measured = tokio::task::block_in_place(|| {
        crate::metrics::stage::measure_run(&output, state.run_date, &state.run_id, &embedder)
    })?;
    tracing::info!(probes = measured.probes, pair_rows = measured.pairs, "measured diversity and convergence");
    let finished_at = Utc::now();
    let row = RunRow {
        run_id: state.run_id.clone(),
        started_at: state.started_at,
        finished_at,
        config_hash: plan.config_hash.clone(),
        suite_name: plan.suite.name.clone(),
        suite_version: plan.suite.version.clone(),
        suite_id: plan.suite.id.clone(),
        embedder_id: Some(embedded.embedder_id.clone()),
        endpoints: plan.config.endpoints.len() as u64,
        probes: plan.suite.probes.len() as u64,
        samples: u64::from(plan.samples()),
        planned: plan.total_requests(),
        ok,
        failed,
    };
    let runs_path = store::table_path(&output, store::runs::TABLE, state.run_date, &state.run_id);
    store::runs::write(&row, &runs_path)?;

    // Only now is the run complete; a crash before this line resumes and rewrites the tables.
    state.status = RunStatus::Complete;
    state.finished_at = Some(finished_at);
    dir.save_state(&state).map_err(io("marking the run complete"))?;
    // The tables hold everything the journal did.
    if let Err(e) = std::fs::remove_file(&journal_path) {
        tracing::warn!("could not remove the finished journal {}: {e}", journal_path.display());
    }

    Ok(RunReport {
        run_id: state.run_id,
        run_date: state.run_date,
        resumed,
        collected,
        per_endpoint,
        row,
        tables: [vec![responses_path, features_path, embedded.path.clone()], measured.tables, vec![runs_path]].concat(),
        embedded,
    })
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
