//! The nightly job as one call: lock the output, find or start the run, collect, write tables.
//!
//! "The same command" is recognised by the plan's fingerprint (configuration and suite): an
//! unfinished run with the same fingerprint is resumed, with the same run id and run date, and
//! only what its journal lacks is sent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};

use crate::alert::Alert;
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
    /// The run's `run_metrics` file (the sinks read the overall rows from it).
    pub run_metrics: PathBuf,
    /// Alerts of the night (info included); [`crate::alert::raised`] counts those that page.
    pub alerts: Vec<Alert>,
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
    let row = RunRow {
        run_id: state.run_id.clone(),
        started_at: state.started_at,
        finished_at: Utc::now(),
        config_hash: plan.config_hash.clone(),
        suite_name: plan.suite.name.clone(),
        suite_version: plan.suite.version.clone(),
        suite_id: plan.suite.id.clone(),
        sampling_id: plan.sampling_id(),
        embedder_id: Some(embedded.embedder_id.clone()),
        endpoints: plan.config.endpoints.len() as u64,
        probes: plan.suite.probes.len() as u64,
        samples: u64::from(plan.samples()),
        planned: plan.total_requests(),
        ok,
        failed,
    };
    let info = row.info(state.run_date);
    let (watched, report_path) = tokio::task::block_in_place(|| -> Result<_, StoreError> {
        let watched = watch_run(&output, &info, &embedder, &plan.config.alerts)?;
        Ok((watched, crate::report::write_report(&output, &info, &embedder)?))
    })?;
    tracing::info!("wrote the report {}", report_path.display());
    let finished_at = Utc::now();
    let row = RunRow { finished_at, ..row };
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
        tables: [
            vec![responses_path, features_path, embedded.path.clone()],
            measured.tables,
            watched.tables,
            vec![runs_path],
        ]
        .concat(),
        embedded,
        run_metrics: measured.run_metrics.clone(),
        alerts: watched.alerts,
    })
}

/// What the trend and alert stages wrote.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    pub alerts: Vec<Alert>,
    pub tables: Vec<PathBuf>,
}

/// The trend and alert stages of one run and embedder: `trends` and `alerts` tables (the sinks
/// are the caller's: a re-analysis writes the tables but pages nobody).
pub fn watch_run(
    output: &std::path::Path,
    run: &store::runs::RunInfo,
    embedder: &Embedder,
    config: &crate::alert::AlertConfig,
) -> Result<Watched, StoreError> {
    let mut trends = crate::trend::stage::trend_run(output, run, embedder, &config.trend_settings())?;
    let alerts = crate::alert::evaluate(&mut trends, run.coverage, config);
    let trends_path = store::per_embedder_path(output, store::trends::TABLE, run.run_date, &run.run_id, embedder);
    store::trends::write(&trends_path, &run.run_id, embedder.id(), &trends)?;
    let alerts_path = store::per_embedder_path(output, store::alerts::TABLE, run.run_date, &run.run_id, embedder);
    store::alerts::write(&alerts_path, &run.run_id, embedder.id(), &alerts)?;
    tracing::info!(trends = trends.len(), alerts = crate::alert::raised(&alerts), "compared with earlier runs");
    Ok(Watched { alerts, tables: vec![trends_path, alerts_path] })
}

/// Sends the night's alerts to the configured sinks (textfile, webhook). A sink that fails is
/// logged, never fatal: the alerts are already in their table and in the exit code.
pub async fn notify(config: &crate::config::Config, report: &RunReport, duration_s: f64) {
    if let Some(path) = &config.alerts.textfile {
        let overall = match store::run_metrics::read(&report.run_metrics) {
            Ok(rows) => rows.into_iter().filter(|m| m.scope == "overall").collect(),
            Err(e) => {
                tracing::warn!("could not read {}: {e}", report.run_metrics.display());
                Vec::new()
            }
        };
        let text = crate::alert::sinks::textfile_contents(
            report.row.finished_at,
            duration_s,
            report.row.coverage(),
            &report.embedded.embedder_id,
            &overall,
            &report.alerts,
        );
        match crate::alert::sinks::write_textfile(path, &text) {
            Ok(()) => tracing::info!("wrote the Prometheus textfile {}", path.display()),
            Err(e) => tracing::warn!("could not write the Prometheus textfile {}: {e}", path.display()),
        }
    }
    if let Some(url) = &config.webhook_url
        && crate::alert::raised(&report.alerts) > 0
    {
        let payload = crate::alert::sinks::webhook_payload(&report.run_id, report.run_date, &report.alerts);
        match crate::alert::sinks::post_webhook(url, &payload).await {
            Ok(()) => tracing::info!("posted the alerts to the webhook"),
            Err(e) => tracing::warn!("could not post the alerts to the webhook: {e}"),
        }
    }
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
