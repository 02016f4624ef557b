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

pub mod manifest;
pub mod own;
mod slices;
pub mod spot;
/// Table `member_runs` (declared with the run's identity, in [`crate::plan::member_runs`], so
/// the report can say who took part).
pub use crate::plan::member_runs as table;
pub mod union;

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};

use crate::alert::{Alert, Severity};
use crate::collect::responses::ResponsesTable;
use crate::config::Config;
use crate::failure::{Classify, Failure};
use crate::input::InputError;
use crate::plan::probe_table::ProbesTable;
use crate::plan::runs::{self, RunRow, RunsTable};
use crate::probes::Suite;
use crate::remote::{Remote, RemoteError, lease};
use crate::secrets::SecretKey;
use crate::session::{Instruments, Night, Origin, Place, Session, SessionError};
use crate::store::table::{RunRef, Table};
use crate::store::{Output, StoreError};
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

/// How a coordinator's analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsortiumError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),
    #[error("{url}: no member published {date} by the deadline (expected {expected}){excluded}")]
    NothingPublished { url: String, date: NaiveDate, expected: String, excluded: String },
}

impl Classify for ConsortiumError {
    fn failure(&self) -> Failure {
        match self {
            ConsortiumError::Session(e) => e.failure(),
            ConsortiumError::Input(e) => e.failure(),
            ConsortiumError::Remote(e) => e.failure(),
            ConsortiumError::Store(e) => e.failure(),
            ConsortiumError::Embed(e) => e.failure(),
            ConsortiumError::NothingPublished { .. } => Failure::Failed,
        }
    }
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

/// What an analysis did: the night, and each expected member's part in it.
#[derive(Debug)]
pub struct UnionNight {
    pub night: Night,
    pub members: Vec<MemberRun>,
}

impl UnionNight {
    pub fn missing(&self) -> Vec<&str> {
        self.members.iter().filter(|m| m.status != MemberStatus::Published).map(|m| m.member.as_str()).collect()
    }
}

/// The coordinator's analysis of one night: lease, wait for members, union, tail, publish.
pub async fn analyze(cfg: &Config, opts: &AnalyzeOptions) -> Result<UnionNight, ConsortiumError> {
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
    let suite = cfg.load_suite()?;
    let kit = (Instruments::from_config(cfg)?, cfg.alerts.clone());
    let place = Place { role: ANALYSIS_ROLE.into(), with_store: true, ..Place::of(cfg) };
    let mut session = Session::open(place, Some(kit), true).await?;
    let remote = Arc::clone(session.remote().expect("opened with its store"));
    let lease =
        lease::acquire(&remote, &lease_key(opts.date), &format!("hivewatch analyze --date {}", opts.date), LEASE_TTL)
            .await?;
    let result = analyze_held(cfg, opts, &mut session, &remote, &suite, &lease).await;
    let released = lease.release().await;
    let report = result?;
    if let Err(e) = released {
        tracing::warn!("could not release the lease (it expires by itself): {e}");
    }
    Ok(report)
}

/// One member's part of the night: its latest published run of `date` (its row, then its
/// responses), or why it is left out: not signed with its secret ([`manifest`]), another
/// suite, or files the union cannot read (truncated, a column of another type).
async fn member_night(
    session: &Session,
    suite: &Suite,
    (member, secret): (&String, Option<&SecretKey>),
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
    let output = session.output();
    let member_output = Output::with_state(output.root().join(member_dir(member)), output.state_dir());
    let key = |table: &str| format!("{table}/run_date={}/{run_id}.parquet", date.format("%Y-%m-%d"));
    let fetch = |key: String| async move { session.fetch(&format!("{}/{key}", member_dir(member))).await };
    let excluded = |note: String, row: Option<&RunRow>| MemberRun {
        status: MemberStatus::Excluded,
        member_run_id: Some(run_id.clone()),
        suite_id: row.map(|r| r.suite_id.clone()),
        note: Some(note),
        ..MemberRun::missing(member)
    };
    let signed = fetch(manifest::key(date, &run_id)).await?;
    let mut files = Vec::new();
    for table in [RunsTable::DECL.name, ResponsesTable::DECL.name] {
        match fetch(key(table)).await? {
            Some(path) => files.push((key(table), path)),
            None => {
                return Ok((excluded(format!("its runs row is published but its {table} file is not"), None), None));
            }
        }
    }
    let signed = match manifest::verify(member, secret, date, &run_id, signed.as_deref(), &files) {
        Ok(m) => m,
        Err(why) => return Ok((excluded(why, None), None)),
    };
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
    let own = match &row.embedder_id {
        None => None,
        Some(id) => {
            let theirs = RunRef::new(date, run_id.clone(), night.tag.clone());
            match slices::own_files(session, &member_dir(member), (&member_output, &theirs), &signed, id).await? {
                Ok(own) => Some(own),
                Err(why) => return Ok((excluded(why, Some(&row)), None)),
            }
        }
    };
    let part = union::MemberPart { member: member.clone(), run_id: run_id.clone(), responses: files[1].1.clone(), own };
    if let Err(e) = tokio::task::block_in_place(|| union::check(&part)) {
        return Ok((excluded(format!("its responses cannot be read: {e}"), Some(&row)), None));
    }
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
        embedded_by: None,
    };
    Ok((published, Some((part, row))))
}

async fn analyze_held(
    cfg: &Config,
    opts: &AnalyzeOptions,
    session: &mut Session,
    remote: &Arc<Remote>,
    suite: &Suite,
    lease: &lease::Lease,
) -> Result<UnionNight, ConsortiumError> {
    let date = opts.date;
    let started_at = Utc::now();
    let published = wait_for_members(remote, &cfg.consortium.members, date, opts).await?;

    let tag = session.tag().expect("the coordinator's session derives");
    let run = RunRef::new(date, union_run_id(date), tag);
    let (mut members, parts) = gather_members(cfg, remote, session, suite, &published, &run).await?;
    let (parts, pieces) = slices::member_slices(session, &run, &mut members, parts, suite)?;
    if parts.is_empty() {
        return Err(nothing_published(cfg, remote, date, &members));
    }

    let run_id = run.id.clone();
    let output = session.output().clone();
    let responses_path = crate::store::table::path::<ResponsesTable>(&output, &run);
    let member_parts: Vec<union::MemberPart> = parts.iter().map(|(p, _)| p.clone()).collect();
    let union_rows = tokio::task::block_in_place(|| union::write(&output, &run, &member_parts))?;
    let members_path = crate::store::table::write::<table::MemberRunsTable>(&output, &run, &members)?;
    let probes_path = crate::store::table::write::<ProbesTable>(&output, &run, &suite.probes)?;
    let row = union_row(&run_id, date, started_at, suite, &parts);
    tracing::info!(run_id = %run_id, members = parts.len(), rows = union_rows, "wrote the union of the members' responses");

    let (instruments, _) = session.kit_mut().expect("the coordinator's session derives");
    let prepared = match &pieces {
        None => None,
        Some(p) => Some(tokio::task::block_in_place(|| {
            own::write_union(&output, &run, &p.pieces, p.computed.as_ref(), instruments)
        })?),
    };
    std::fs::remove_dir_all(slices::slices_dir(&output, &run)).ok();
    let guard = members_guard(&members, date, &cfg.path);
    let (derived, history) = session.derive_prepared(row, guard, true, prepared).await?;
    if lease.lost() {
        return Err(lease.lost_error().into());
    }
    let written = vec![responses_path, probes_path, members_path];
    let tables = session.publish([written, derived.tables.clone()].concat()).await?;
    let row = derived.row.clone();
    let night =
        Night { origin: Origin::Union, row, output: session.describe(), tables, derived: Some(derived), history };
    Ok(UnionNight { night, members })
}

/// Each member's latest published run of the night: its `member_runs` row (missing, excluded or
/// in), and the responses of those that are in. Refused when no member has anything to analyse.
async fn gather_members(
    cfg: &Config,
    remote: &Remote,
    session: &Session,
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
        let secret = cfg.consortium.secret_of(member);
        let (row, part) = member_night(session, suite, (member, secret), run_ids, night).await?;
        rows.push(row);
        parts.extend(part);
    }
    if parts.is_empty() {
        return Err(nothing_published(cfg, remote, date, &rows));
    }
    Ok((rows, parts))
}

/// The error of a night no member's publication could go into.
fn nothing_published(cfg: &Config, remote: &Remote, date: NaiveDate, rows: &[MemberRun]) -> ConsortiumError {
    let excluded: Vec<String> = rows
        .iter()
        .filter(|r| r.status == MemberStatus::Excluded)
        .map(|r| format!("{}: {}", r.member, r.note.as_deref().unwrap_or("")))
        .collect();
    ConsortiumError::NothingPublished {
        url: remote.url().to_owned(),
        date,
        expected: cfg.consortium.members.join(", "),
        excluded: if excluded.is_empty() { String::new() } else { format!("; left out: {}", excluded.join("; ")) },
    }
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
fn members_guard(rows: &[MemberRun], date: NaiveDate, config: &std::path::Path) -> Option<Alert> {
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
        rule: crate::alert::rule::MEMBERS.into(),
        scope: Scope::Overall,
        metric: "members_published".into(),
        value: published as f64,
        baseline: None,
        threshold: rows.len() as f64,
        message: format!(
            "{published} of {} members published {date}; missing: {}. Diversity is not judged tonight (a member's missing models would read as lost diversity); rerun `hivewatch analyze --config {} --date {date}` when they arrive",
            rows.len(),
            absent.join(", "),
            config.display()
        ),
        incident: None,
        inhibited_by: None,
    })
}
