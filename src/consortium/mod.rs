//! A consortium's night: members collect with their own keys and publish; one analysis runs
//! over the union.
//!
//! - A **member** (`[consortium] member = "lab-a"`) runs `hivewatch run --collect-only`: it
//!   sends the suite to its own endpoints (its keys never leave its machine) and, once
//!   collection is complete, publishes `members/member=<name>/responses/run_date=D/<run>.parquet`
//!   and then `members/member=<name>/runs/run_date=D/<run>.parquet`: the `runs` row last, so its
//!   presence means the member's night is published.
//! - The **coordinator** (`members = [...]`) runs `hivewatch analyze --date D` on any machine
//!   that may read and write the output: it holds the night's lease, waits (bounded) for every
//!   member, builds the union `responses` under the night's fixed run id
//!   (`consortium-YYYYMMDD`), runs the pipeline's tail over it as one night, and publishes.
//!   Rerun after a late member, it rewrites the night's tables under the same keys.
//!
//! The main tables (`responses/`, `runs/` and every derived one) hold only analysed unions, so
//! a query over `<root>/<table>/*/*.parquet` never sees a row twice; members' own files live
//! under `members/`, out of those globs.

pub mod table;
pub mod union;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};

use crate::alert::{Alert, Severity};
use crate::collect::responses::ResponsesTable;
use crate::config::Config;
use crate::embed::{EmbedStats, Embedder};
use crate::features::Lexicon;
use crate::input::InputError;
use crate::pipeline::{PipelineError, Tail, derive_tables_guarded};
use crate::plan::probe_table::ProbesTable;
use crate::plan::runs::{self, RunRow, RunsTable};
use crate::probes::Suite;
use crate::remote::{Remote, RemoteError, Target, history, lease};
use crate::store::table::{RunRef, Table};
use crate::store::{Output, StoreError, lock::LockError};
use crate::trend::TrendSettings;
use crate::vocab::Scope;
use table::{MemberRun, MemberStatus};

/// Where a member's publications live under the output root.
pub fn member_dir(member: &str) -> String {
    format!("members/member={member}")
}

/// The state-folder role of a member (two members on one machine keep apart).
pub fn member_role(member: &str) -> String {
    format!("member={member}")
}

/// The state-folder role of the coordinator's analysis.
pub const ANALYSIS_ROLE: &str = "analysis";

/// The run id of a consortium's analysed night: fixed per date, so a rerun rewrites the same
/// files.
pub fn union_run_id(date: NaiveDate) -> String {
    format!("consortium-{}", date.format("%Y%m%d"))
}

/// The lease key of a night's analysis.
pub fn lease_key(date: NaiveDate) -> String {
    format!("{}/lease/analyze-{}.json", crate::remote::SYSTEM_PREFIX, date.format("%Y-%m-%d"))
}

/// How long a lease lives without renewal: a dead analysis blocks the night this long at most.
pub const LEASE_TTL: Duration = Duration::from_secs(600);

/// Checks that a configuration fits `hivewatch run` (with or without `--collect-only`).
pub fn check_run_role(cfg: &Config, collect_only: bool) -> Result<(), InputError> {
    let member = cfg.consortium.member.as_deref();
    if collect_only && member.is_none() {
        return Err(InputError::new(
            &cfg.path,
            None,
            "--collect-only publishes a consortium member's responses, and this configuration names no member",
        )
        .hint("add [consortium] member = \"your-name\" (lower-case letters, digits, '_' or '-')"));
    }
    if !collect_only && let Some(m) = member {
        return Err(InputError::new(&cfg.path, None, format!("this configuration is consortium member {m:?}'s: it collects and publishes, and the coordinator analyses"))
            .hint("run `hivewatch run --collect-only --config FILE`"));
    }
    if cfg.endpoints.is_empty() {
        return Err(InputError::new(
            &cfg.path,
            None,
            "no [[endpoints]] are configured: this is a coordinator's configuration",
        )
        .hint("run `hivewatch analyze --config FILE --date YYYY-MM-DD`, or add [[endpoints]] to collect"));
    }
    Ok(())
}

/// Where a member's `run --collect-only` writes: `members/member=<name>/` of the output (in
/// place for a folder, through the mirror for a store), its state in its own folder.
pub fn member_target(cfg: &Config, member: &str) -> Result<Target, RemoteError> {
    let mut target = Target::open(cfg, &member_role(member), false)?;
    let state = target.output.state_dir().to_owned();
    target.output = Output::with_state(target.output.root().join(member_dir(member)), state);
    Ok(target)
}

/// How a coordinator's analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsortiumError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("{url}: no member published {date} by the deadline (expected {expected}){excluded}")]
    NothingPublished { url: String, date: NaiveDate, expected: String, excluded: String },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

/// What `hivewatch analyze --date` was asked.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    pub date: NaiveDate,
    /// How long to wait for members that have not published yet.
    pub deadline: Duration,
    /// The first wait between polls (doubling, at most a minute).
    pub poll: Duration,
}

/// What an analysis did.
#[derive(Debug)]
pub struct NightReport {
    pub run_id: String,
    pub date: NaiveDate,
    pub output: String,
    pub members: Vec<MemberRun>,
    pub row: RunRow,
    pub embedded: EmbedStats,
    pub alerts: Vec<Alert>,
    /// The night's `run_metrics` file (local: the sinks read the overall rows from it).
    pub run_metrics: PathBuf,
    /// Files written, relative to the output root.
    pub tables: Vec<String>,
    pub history: history::HistoryStats,
}

impl NightReport {
    pub fn missing(&self) -> Vec<&str> {
        self.members.iter().filter(|m| m.status != MemberStatus::Published).map(|m| m.member.as_str()).collect()
    }
}

/// The coordinator's analysis of one night: lease, wait for members, union, tail, publish.
pub async fn analyze(cfg: &Config, opts: &AnalyzeOptions) -> Result<NightReport, ConsortiumError> {
    if cfg.consortium.members.is_empty() {
        return Err(InputError::new(
            &cfg.path,
            None,
            "analyze --date analyses a consortium's night, and this configuration lists no members",
        )
        .hint("add [consortium] members = [\"lab-a\", \"lab-b\"] (the names the members publish under)")
        .into());
    }
    // Everything that can be wrong in the input is found before the store is touched.
    let suite = Suite::load(&cfg.suite_dir)?;
    let embedder = Embedder::from_config(cfg)?;
    let (lexicon, refusal) = crate::features::instruments(cfg.lexicon.as_deref(), cfg.refusal)?;
    let target = Target::open(cfg, ANALYSIS_ROLE, true).map_err(RemoteError::as_config)?;
    let remote = Arc::clone(target.remote.as_ref().expect("opened with its store"));
    let _lock = crate::store::lock::acquire(&target.output)?;
    target.check_writable(true).await?;
    let lease =
        lease::acquire(&remote, &lease_key(opts.date), &format!("hivewatch analyze --date {}", opts.date), LEASE_TTL)
            .await?;
    let result = analyze_held(cfg, opts, &target, &remote, &suite, &embedder, (&lexicon, &refusal), &lease).await;
    let released = lease.release().await;
    let report = result?;
    if let Err(e) = released {
        tracing::warn!("could not release the lease (it expires by itself): {e}");
    }
    Ok(report)
}

/// One member's part of the night: its latest published run of `date` (its row, then its
/// responses), or why it is left out.
async fn member_night(
    target: &Target,
    suite: &Suite,
    member: &String,
    run_ids: &[String],
    night: &RunRef,
) -> Result<(MemberRun, Option<(union::MemberPart, RunRow)>), ConsortiumError> {
    let date = night.date;
    let run_id = run_ids.last().expect("published means at least one run").clone();
    if run_ids.len() > 1 {
        tracing::warn!(
            member,
            runs = run_ids.len(),
            "the member published more than one run for {date}: the latest, {run_id}, is analysed"
        );
    }
    let member_output = Output::with_state(target.output.root().join(member_dir(member)), target.output.state_dir());
    let key =
        |table: &str| format!("{}/{table}/run_date={}/{run_id}.parquet", member_dir(member), date.format("%Y-%m-%d"));
    let excluded = |note: String, row: Option<&RunRow>| MemberRun {
        status: MemberStatus::Excluded,
        member_run_id: Some(run_id.clone()),
        suite_id: row.map(|r| r.suite_id.clone()),
        note: Some(note),
        ..MemberRun::missing(member)
    };
    fetch(target, &key(RunsTable::DECL.name)).await?;
    let row = match runs::read(&member_output, &RunRef::new(date, run_id.clone(), night.tag.clone())) {
        Ok(r) => r,
        Err(e) => return Ok((excluded(format!("its runs row cannot be read: {e}"), None), None)),
    };
    if row.suite_id != suite.id {
        let note = format!(
            "it ran suite {} {} (id {}), not the consortium's {} {} (id {})",
            row.suite_name, row.suite_version, row.suite_id, suite.name, suite.version, suite.id
        );
        return Ok((excluded(note, Some(&row)), None));
    }
    let Some(responses) = fetch(target, &key(ResponsesTable::DECL.name)).await? else {
        return Ok((excluded("its runs row is published but its responses file is not".into(), Some(&row)), None));
    };
    let published = MemberRun {
        member: member.clone(),
        status: MemberStatus::Published,
        member_run_id: Some(run_id.clone()),
        suite_id: Some(row.suite_id.clone()),
        endpoints: Some(row.endpoints),
        planned: Some(row.planned),
        ok: Some(row.ok),
        failed: Some(row.failed),
        published_at: Some(row.finished_at),
        note: None,
    };
    Ok((published, Some((union::MemberPart { member: member.clone(), run_id, responses }, row))))
}

#[allow(clippy::too_many_arguments)]
async fn analyze_held(
    cfg: &Config,
    opts: &AnalyzeOptions,
    target: &Target,
    remote: &Arc<Remote>,
    suite: &Suite,
    embedder: &Embedder,
    (lexicon, refusal): (&Lexicon, &crate::features::detector::RefusalDetector),
    lease: &lease::Lease,
) -> Result<NightReport, ConsortiumError> {
    let date = opts.date;
    let started_at = Utc::now();
    let published = wait_for_members(remote, &cfg.consortium.members, date, opts).await?;

    let run = RunRef::new(date, union_run_id(date), embedder.tag());
    let (rows, parts) = gather_members(cfg, remote, target, suite, &published, &run).await?;

    let run_id = run.id.clone();
    let output = &target.output;
    let responses_path = crate::store::table::path::<ResponsesTable>(output, &run);
    let member_parts: Vec<union::MemberPart> = parts.iter().map(|(p, _)| p.clone()).collect();
    let union_rows = tokio::task::block_in_place(|| union::write(output, &run, &member_parts))?;
    let members_path = crate::store::table::write::<table::MemberRunsTable>(output, &run, &rows)?;
    let probes_path = crate::store::table::write::<ProbesTable>(output, &run, &suite.probes)?;
    let row = union_row(&run_id, date, started_at, suite, &parts);
    tracing::info!(run_id = %run_id, members = parts.len(), rows = union_rows, "wrote the union of the members' responses");

    let settings = TrendSettings::from_alerts(&cfg.alerts);
    let history = match &target.mirror {
        Some(m) => history::pull(m, output, &row.info(), &embedder.tag(), &settings).await?,
        None => history::HistoryStats::default(),
    };

    let guard = members_guard(&rows, date);
    let mut cache = crate::embed::cache::EmbeddingCache::open(&output.embed_cache_dir(), embedder.id())
        .map_err(|source| ConsortiumError::Io { context: "opening the embedding cache".into(), source })?;
    let derived = tokio::task::block_in_place(|| {
        let mut tail = Tail { embedder, cache: &mut cache, lexicon, refusal, alerts: &cfg.alerts, stamp_finish: true };
        derive_tables_guarded(output, row, &mut tail, guard)
    })?;
    if lease.lost() {
        return Err(lease.lost_error().into());
    }

    let tables = publish(target, vec![responses_path, probes_path, members_path], &derived.tables).await?;
    Ok(NightReport {
        run_id,
        date,
        output: target.describe(),
        members: rows,
        row: derived.row,
        embedded: derived.embedded,
        alerts: derived.alerts,
        run_metrics: derived.measured.run_metrics,
        tables,
        history,
    })
}

/// Each member's latest published run of the night: its `member_runs` row (missing, excluded or
/// in), and the responses of those that are in. Refused when no member has anything to analyse.
async fn gather_members(
    cfg: &Config,
    remote: &Remote,
    target: &Target,
    suite: &Suite,
    published: &[(String, Vec<String>)],
    night: &RunRef,
) -> Result<(Vec<MemberRun>, Vec<(union::MemberPart, RunRow)>), ConsortiumError> {
    let date = night.date;
    let mut rows: Vec<MemberRun> = Vec::new();
    let mut parts: Vec<(union::MemberPart, RunRow)> = Vec::new();
    for member in &cfg.consortium.members {
        let Some(run_ids) = published.iter().find(|(m, _)| m == member).map(|(_, ids)| ids) else {
            rows.push(MemberRun::missing(member));
            continue;
        };
        let (row, part) = member_night(target, suite, member, run_ids, night).await?;
        rows.push(row);
        parts.extend(part);
    }
    if parts.is_empty() {
        let excluded: Vec<String> = rows
            .iter()
            .filter(|r| r.status == MemberStatus::Excluded)
            .map(|r| format!("{}: {}", r.member, r.note.as_deref().unwrap_or("")))
            .collect();
        return Err(ConsortiumError::NothingPublished {
            url: remote.url().to_owned(),
            date,
            expected: cfg.consortium.members.join(", "),
            excluded: if excluded.is_empty() { String::new() } else { format!("; left out: {}", excluded.join("; ")) },
        });
    }
    Ok((rows, parts))
}

/// Pushes the night's files whole, the runs row last (until it is there the night is not
/// complete), with the report's index pages just before it; returns their paths in the output.
async fn publish(
    target: &Target,
    mut files: Vec<PathBuf>,
    derived: &[PathBuf],
) -> Result<Vec<String>, ConsortiumError> {
    let output = &target.output;
    files.extend(derived.iter().cloned());
    for page in ["latest.html", "index.html", "index.json"] {
        let path = output.html_dir().join(page);
        if path.exists() {
            files.insert(files.len() - 1, path);
        }
    }
    target.push(&files).await?;
    if let Some(m) = &target.mirror {
        let _ = history::forget_pushed(m);
    }
    Ok(files.iter().map(|f| relative(output, f)).collect())
}

/// Lists, until every member has published `date` or the deadline passes (polling with a
/// doubling wait), which members have published and their run ids (sorted: latest last).
async fn wait_for_members(
    remote: &Remote,
    members: &[String],
    date: NaiveDate,
    opts: &AnalyzeOptions,
) -> Result<Vec<(String, Vec<String>)>, ConsortiumError> {
    let deadline = tokio::time::Instant::now() + opts.deadline;
    let mut wait = opts.poll.max(Duration::from_millis(100));
    let mut published: Vec<(String, Vec<String>)> = Vec::new();
    loop {
        for member in members {
            if published.iter().any(|(m, _)| m == member) {
                continue;
            }
            let dir = format!("{}/{}/run_date={}/", member_dir(member), RunsTable::DECL.name, date.format("%Y-%m-%d"));
            let mut ids: Vec<String> = remote
                .list(&dir, None)
                .await?
                .into_iter()
                .filter_map(|l| l.key.rsplit('/').next()?.strip_suffix(".parquet").map(str::to_owned))
                .filter(|stem| !stem.starts_with('.'))
                .collect();
            ids.sort();
            if !ids.is_empty() {
                tracing::info!(member, run_id = %ids.last().expect("non-empty"), "the member has published {date}");
                published.push((member.clone(), ids));
            }
        }
        let now = tokio::time::Instant::now();
        if published.len() == members.len() || now >= deadline {
            break;
        }
        let missing: Vec<&str> =
            members.iter().filter(|m| !published.iter().any(|(p, _)| p == *m)).map(String::as_str).collect();
        let left = deadline - now;
        tracing::info!(
            "waiting for {} to publish {date} ({} s left before the deadline)",
            missing.join(", "),
            left.as_secs()
        );
        tokio::time::sleep(wait.min(left)).await;
        wait = (wait * 2).min(Duration::from_secs(60));
    }
    Ok(published)
}

/// The local path of a key: in place on a folder output, pulled into the mirror otherwise.
async fn fetch(target: &Target, key: &str) -> Result<Option<PathBuf>, RemoteError> {
    match &target.mirror {
        Some(m) => m.pull_key(key).await,
        None => {
            let path = key.split('/').fold(target.output.root().to_owned(), |p, part| p.join(part));
            Ok(path.exists().then_some(path))
        }
    }
}

fn relative(output: &Output, path: &std::path::Path) -> String {
    path.strip_prefix(output.root()).map(|p| p.display().to_string()).unwrap_or_else(|_| path.display().to_string())
}

/// The union's `runs` row: the consortium's suite, the members' sampling, their counts summed.
fn union_row(
    run_id: &str,
    date: NaiveDate,
    started_at: chrono::DateTime<Utc>,
    suite: &Suite,
    parts: &[(union::MemberPart, RunRow)],
) -> RunRow {
    let mut sampling: Vec<&str> = parts.iter().map(|(_, r)| r.sampling_id.as_str()).collect();
    sampling.sort_unstable();
    sampling.dedup();
    let sampling_id = match sampling.as_slice() {
        [one] => (*one).to_owned(),
        many => crate::util::sha256_hex(format!("consortium;{}", many.join(";")).as_bytes())[..16].to_owned(),
    };
    let mut configs: Vec<String> = parts.iter().map(|(p, r)| format!("{}={}", p.member, r.config_hash)).collect();
    configs.sort();
    let sum = |f: &dyn Fn(&RunRow) -> u64| parts.iter().map(|(_, r)| f(r)).sum::<u64>();
    RunRow {
        run_id: run_id.to_owned(),
        run_date: date,
        started_at,
        finished_at: started_at,
        config_hash: crate::util::sha256_hex(configs.join(";").as_bytes())[..16].to_owned(),
        suite_name: suite.name.clone(),
        suite_version: suite.version.clone(),
        suite_id: suite.id.clone(),
        sampling_id,
        embedder_id: None,
        endpoints: sum(&|r| r.endpoints),
        probes: suite.probes.len() as u64,
        samples: parts.iter().map(|(_, r)| r.samples).max().unwrap_or(0),
        planned: sum(&|r| r.planned),
        ok: sum(&|r| r.ok),
        failed: sum(&|r| r.failed),
    }
}

/// The night-level alert raised when an expected member is missing or left out: like the
/// coverage guard, it stands instead of the diversity rules (a member's missing models would
/// read as lost diversity).
fn members_guard(rows: &[MemberRun], date: NaiveDate) -> Option<Alert> {
    let absent: Vec<String> = rows
        .iter()
        .filter(|r| r.status != MemberStatus::Published)
        .map(|r| match (&r.status, &r.note) {
            (MemberStatus::Excluded, Some(n)) => format!("{} (left out: {n})", r.member),
            _ => r.member.clone(),
        })
        .collect();
    if absent.is_empty() {
        return None;
    }
    let published = rows.len() - absent.len();
    Some(Alert {
        severity: Severity::Critical,
        rule: "members".into(),
        scope: Scope::Overall,
        metric: "members_published".into(),
        value: published as f64,
        baseline: None,
        threshold: rows.len() as f64,
        message: format!(
            "{published} of {} members published {date}; missing: {}. Diversity is not judged tonight (a member's missing models would read as lost diversity); rerun `hivewatch analyze --date {date}` when they arrive",
            rows.len(),
            absent.join(", ")
        ),
    })
}

/// Sends a night's alerts to the coordinator's sinks (textfile, webhook), as `hivewatch run`
/// does; a failing sink is logged, never fatal.
pub async fn notify(config: &Config, report: &NightReport, duration_s: f64) {
    let night = crate::alert::sinks::NightSummary {
        run_id: &report.run_id,
        run_date: report.date,
        row: &report.row,
        embedder_id: &report.embedded.embedder_id,
        run_metrics: &report.run_metrics,
        alerts: &report.alerts,
        duration_s,
    };
    crate::alert::sinks::notify(config, &night).await;
}
