//! The frame around a night, written once: every way a night's tables come to exist (`run`,
//! `run --collect-only`, `import`, `analyze`, a consortium's union) opens a [`Session`] on its
//! output and goes through it.
//!
//! A session opens the output (a folder in place, or an object store through its local mirror,
//! checked writable before anything else happens), holds the output's lock for its whole life,
//! and carries the night's instruments (embedder, lexicon, refusal detector, the embedding cache)
//! and alert rules. [`Session::derive`] pulls what the night reads of earlier runs, runs the
//! pipeline's one tail ([`crate::pipeline::derive_tables`]) on a blocking thread, and
//! [`Session::publish`] pushes the night's files whole, the `runs` row last. What differs
//! between the commands (collecting, reading an import, building a union) stays with them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;

use crate::alert::{Alert, AlertConfig};
use crate::collect::responses::ResponsesTable;
use crate::config::{Config, OutputLocation};
use crate::embed::cache::EmbeddingCache;
use crate::embed::{EmbedError, Embedder};
use crate::failure::{Classify, Failure};
use crate::features::Lexicon;
use crate::features::detector::RefusalDetector;
use crate::input::InputError;
use crate::pipeline::{Derived, PipelineError, Prepared, Tail, derive_tables_guarded};
use crate::plan::probe_table::ProbesTable;
use crate::plan::runs::{self, RunRow, RunsTable};
use crate::remote::history::{self, HistoryStats};
use crate::remote::{Remote, RemoteError, Target};
use crate::store::lock::{LockError, OutputLock};
use crate::store::table::{self, RunRef, Table};
use crate::store::{EmbedderTag, Output, StoreError};
use crate::trend::TrendSettings;

mod rules;
pub use crate::night::{Collection, Night, Origin};
pub use rules::{RulesFrom, rules_for};

/// How a session failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// A signal asked the tail to stop between two stages: every file it wrote is whole, the
    /// `runs` row is not written, so the same command redoes the night.
    #[error("stopped between two stages of the pipeline's tail (a signal); run the same command again")]
    Stopped,
}

impl From<PipelineError> for SessionError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Store(e) => SessionError::Store(e),
            PipelineError::Embed(e) => SessionError::Embed(e),
            PipelineError::Stopped => SessionError::Stopped,
        }
    }
}

impl Classify for SessionError {
    fn failure(&self) -> Failure {
        match self {
            SessionError::Input(e) => e.failure(),
            SessionError::Remote(e) => e.failure(),
            SessionError::Locked(e) => e.failure(),
            SessionError::Store(e) => e.failure(),
            SessionError::Embed(e) => e.failure(),
            SessionError::Io { .. } | SessionError::Stopped => Failure::Failed,
        }
    }
}

/// The instruments a night is measured with.
pub struct Instruments {
    pub embedder: Embedder,
    pub lexicon: Lexicon,
    /// Labels refusals in `features`.
    pub refusal: RefusalDetector,
    /// Reads what identity answers claim (`identity`).
    pub identity: crate::identity::Rules,
    /// `[output]`: what the tables keep.
    pub keep: crate::config::OutputOptions,
}

impl Instruments {
    /// A configuration's `[embed]`, lexicon, refusal detector and identity rules. Built before
    /// anything else: a missing model folder or a bad lexicon or rules file stops the command
    /// before any request.
    pub fn from_config(cfg: &Config) -> Result<Instruments, SessionError> {
        let embedder = Embedder::from_config(cfg)?;
        let (lexicon, refusal) = crate::features::instruments(cfg.lexicon.as_deref(), cfg.refusal)?;
        let identity = crate::identity::Rules::from_option(cfg.identity_rules.as_deref())?;
        Ok(Instruments { embedder, lexicon, refusal, identity, keep: cfg.keep })
    }
}

/// Where a session writes, and as whom.
#[derive(Debug, Clone)]
pub struct Place<'a> {
    pub output: &'a OutputLocation,
    /// `[run] state_dir`: where the journal, cache, mirror and lock live instead of the default.
    pub state_dir: Option<&'a Path>,
    /// Keeps the default state folders of roles sharing one output apart: "" for a plain
    /// night, `member=<name>` or `analysis` in a consortium.
    pub role: String,
    /// A prefix of the output the session writes under (a member's `members/member=<name>`).
    pub under: Option<String>,
    /// Open the store for a folder output too (a consortium lists members and takes leases
    /// through it).
    pub with_store: bool,
}

impl<'a> Place<'a> {
    /// A plain night's place: the configuration's output and state folder.
    pub fn of(cfg: &'a Config) -> Place<'a> {
        Place {
            output: &cfg.output,
            state_dir: cfg.state_dir.as_deref(),
            role: String::new(),
            under: None,
            with_store: false,
        }
    }

    /// An output given alone (`import`, `analyze` with `--output`): its state in the default place.
    pub fn output(output: &'a OutputLocation) -> Place<'a> {
        Place { output, state_dir: None, role: String::new(), under: None, with_store: false }
    }
}

/// What the tail needs that lives as long as the session.
struct TailKit {
    instruments: Instruments,
    cache: EmbeddingCache,
    rules: AlertConfig,
}

/// A night's frame: the output opened and locked, the instruments and rules at hand.
pub struct Session {
    target: Target,
    _lock: OutputLock,
    /// `None` for a session that derives nothing (a member's collect-only night); taken while
    /// the tail runs on its blocking thread.
    kit: Option<TailKit>,
}

impl Session {
    /// Opens the place: the store checked writable (a probe object put and, where
    /// `delete_required`, deleted) or the folder usable, then the output's lock, then the
    /// embedding cache. Everything here fails before any model request is sent.
    pub async fn open(
        place: Place<'_>,
        kit: Option<(Instruments, AlertConfig)>,
        delete_required: bool,
    ) -> Result<Session, SessionError> {
        let mut target = Target::open(place.output, place.state_dir, &place.role, place.with_store)
            .map_err(RemoteError::as_config)?;
        if let Some(prefix) = &place.under {
            target = target.under(prefix);
        }
        let lock = crate::store::lock::acquire(&target.output)?;
        if target.remote.is_some() {
            target.check_writable(delete_required).await.map_err(RemoteError::as_config)?;
        }
        let mut session = Session { target, _lock: lock, kit: None };
        if let Some((instruments, rules)) = kit {
            session.equip(instruments, rules).await?;
        }
        Ok(session)
    }

    /// Gives a session opened without them its instruments and rules (and opens the embedding
    /// cache): for `import` and `analyze`, whose rules may be the ones recorded in the output.
    /// A remote embedder is settled first: one that does not answer stops the night at once.
    pub async fn equip(&mut self, mut instruments: Instruments, rules: AlertConfig) -> Result<(), SessionError> {
        instruments.embedder.settle().await?;
        let cache = EmbeddingCache::open(&self.target.output.embed_cache_dir(), instruments.embedder.id())
            .map_err(|source| SessionError::Io { context: "opening the embedding cache".into(), source })?;
        self.kit = Some(TailKit { instruments, cache, rules });
        Ok(())
    }

    /// What the stages read and write: the folder, or the local mirror of the store.
    pub fn output(&self) -> &Output {
        &self.target.output
    }

    /// The store behind the output (`None`: a folder opened without it).
    pub fn remote(&self) -> Option<&Arc<Remote>> {
        self.target.remote.as_ref()
    }

    /// The output as people wrote it.
    pub fn describe(&self) -> String {
        self.target.describe()
    }

    /// The embedder's tag (`None` for a session that derives nothing).
    pub fn tag(&self) -> Option<EmbedderTag> {
        self.kit.as_ref().map(|k| k.instruments.embedder.tag())
    }

    /// The instruments (`None` for a session that derives nothing).
    pub fn instruments(&self) -> Option<&Instruments> {
        self.kit.as_ref().map(|k| &k.instruments)
    }

    /// The instruments and the embedding cache, for a stage run before the tail (a member's
    /// own embeddings, a union's); `None` for a session that derives nothing.
    pub fn kit_mut(&mut self) -> Option<(&Instruments, &mut EmbeddingCache)> {
        self.kit.as_mut().map(|k| (&k.instruments, &mut k.cache))
    }

    /// The rules the session judges by (`None` for a session that derives nothing).
    pub fn rules(&self) -> Option<&AlertConfig> {
        self.kit.as_ref().map(|k| &k.rules)
    }

    /// The local path of an object of the output (pulled into the mirror for a store; in place,
    /// if it exists, for a folder).
    pub async fn fetch(&self, key: &str) -> Result<Option<PathBuf>, RemoteError> {
        match &self.target.mirror {
            Some(m) => m.pull_key(key).await,
            None => {
                let path = key.split('/').fold(self.output().root().to_owned(), |p, part| p.join(part));
                Ok(path.exists().then_some(path))
            }
        }
    }

    /// Every stored run `(date, id)` of the output, oldest first: from the store's `runs`
    /// listing, or the folder's.
    pub async fn stored_runs(&self) -> Result<Vec<(NaiveDate, String)>, SessionError> {
        match &self.target.mirror {
            Some(m) => {
                let name = RunsTable::DECL.name;
                let listed = m.remote().list(&format!("{name}/"), None).await?;
                let mut found: Vec<(NaiveDate, String)> =
                    listed.iter().filter_map(|l| history::parse_key(name, &l.key)).collect();
                found.sort();
                Ok(found)
            }
            None => Ok(runs::list(self.output())?),
        }
    }

    /// Makes a stored run's own inputs local (its `runs` row, `responses` and `probes`), for a
    /// store; a folder holds them already. Returns its `runs` row.
    pub async fn fetch_run(&self, run: &RunRef) -> Result<RunRow, SessionError> {
        if let Some(m) = &self.target.mirror {
            let paths = [
                table::path::<RunsTable>(self.output(), run),
                table::path::<ResponsesTable>(self.output(), run),
                table::path::<ProbesTable>(self.output(), run),
            ];
            for path in paths {
                let key = m.key_of(&path).expect("the output is the mirror");
                m.pull_key(&key).await?;
            }
        }
        Ok(runs::read(self.output(), run)?)
    }

    /// Removes every table file of a run (any embedder's, the `runs` row first; in the store too):
    /// a run abandoned or stale, a date imported again. Returns what went.
    pub async fn discard_run(&self, date: NaiveDate, run_id: &str) -> Result<Vec<String>, SessionError> {
        let files = crate::tables::run_files(self.output(), date, run_id);
        Ok(self.target.discard(&files, &crate::tables::partitions(self.output(), date), run_id).await?)
    }

    /// Whether a run's `runs` row is in the output (or its store).
    pub async fn has_runs_row(&self, run: &RunRef) -> Result<bool, SessionError> {
        Ok(self.target.has(&table::path::<RunsTable>(self.output(), run)).await?)
    }

    /// Records the session's alert rules in the output's state: what `analyze` and `import`
    /// judge by when given no configuration.
    pub fn record_rules(&self) -> Result<(), SessionError> {
        let Some(kit) = &self.kit else { return Ok(()) };
        let bytes = serde_json::to_vec_pretty(&kit.rules).expect("the rules serialise");
        let path = self.output().alert_rules_path();
        crate::store::write_atomic(&path, |f| std::io::Write::write_all(f, &bytes)).map_err(|source| SessionError::Io {
            context: format!("recording the alert rules in {}", path.display()),
            source,
        })
    }

    /// Derives every table of a run whose `responses` and `probes` are written under
    /// [`Session::output`]: pulls what the night reads of earlier runs (an object-store
    /// output), then runs the pipeline's tail on a blocking thread, where a signal can ask it to
    /// stop between two stages ([`crate::pipeline::request_stop`]). `guard`: a night-level alert
    /// that stands instead of the diversity rules (a consortium night with a member missing).
    /// `stamp_finish`: the `runs` row's finish time is now (a nightly run), not the one given.
    pub async fn derive(
        &mut self,
        row: RunRow,
        guard: Option<Alert>,
        stamp_finish: bool,
    ) -> Result<(Derived, HistoryStats), SessionError> {
        self.derive_prepared(row, guard, stamp_finish, None).await
    }

    /// [`Session::derive`], the run's `embeddings` and `features` already written (`prepared`).
    pub async fn derive_prepared(
        &mut self,
        row: RunRow,
        guard: Option<Alert>,
        stamp_finish: bool,
        prepared: Option<Prepared>,
    ) -> Result<(Derived, HistoryStats), SessionError> {
        let kit = self.kit.take().expect("a session that derives was opened with its instruments");
        let history = match &self.target.mirror {
            Some(mirror) => {
                let settings = TrendSettings::from_alerts(&kit.rules);
                let (info, tag) = (row.info(), kit.instruments.embedder.tag());
                match history::pull(mirror, self.output(), &info, &tag, &settings).await {
                    Ok(stats) => stats,
                    Err(e) => {
                        self.kit = Some(kit);
                        return Err(e.into());
                    }
                }
            }
            None => HistoryStats::default(),
        };
        let output = self.output().clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut kit = kit;
            let TailKit { instruments, cache, rules } = &mut kit;
            let mut tail = Tail {
                embedder: &instruments.embedder,
                cache,
                lexicon: &instruments.lexicon,
                refusal: &instruments.refusal,
                identity: &instruments.identity,
                keep: instruments.keep,
                alerts: rules,
                stamp_finish,
                prepared,
            };
            let derived = derive_tables_guarded(&output, row, &mut tail, guard);
            (kit, derived)
        })
        .await;
        match joined {
            Ok((kit, derived)) => {
                self.kit = Some(kit);
                Ok((derived?, history))
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(SessionError::Stopped),
        }
    }

    /// Pushes a night's files to an object-store output in the order given (the `runs` row
    /// last: its presence says the night is complete), the report's index pages just before it;
    /// then forgets what the mirror no longer needs. A folder output has the files in place.
    /// Returns every file as people name it.
    pub async fn publish(&self, files: Vec<PathBuf>) -> Result<Vec<PathBuf>, SessionError> {
        let mut files = files;
        if let Some(mirror) = &self.target.mirror {
            if self.kit.is_some() {
                // The pages beside tonight's. The index is the mirror's: a fresh mirror lists
                // only the nights it has seen (the README says so).
                for page in ["latest.html", "index.html", "index.json"] {
                    let path = self.output().html_dir().join(page);
                    if path.exists() && !files.contains(&path) {
                        files.insert(files.len().saturating_sub(1), path);
                    }
                }
            }
            self.target.push(&files).await?;
            if let Err(e) = history::forget_pushed(mirror) {
                tracing::warn!("could not tidy the mirror {}: {e}", mirror.root().display());
            }
            tracing::info!(files = files.len(), output = %self.describe(), "published the night");
        }
        Ok(files.iter().map(|p| self.target.published_name(p)).collect())
    }

    /// [`Session::derive`] then [`Session::publish`]: `written` (the night's own inputs,
    /// `responses` and `probes` first) and every derived table, the `runs` row last.
    pub async fn night(
        &mut self,
        origin: Origin,
        row: RunRow,
        written: Vec<PathBuf>,
        stamp_finish: bool,
    ) -> Result<Night, SessionError> {
        let (derived, history) = self.derive(row, None, stamp_finish).await?;
        let tables = self.publish([written, derived.tables.clone()].concat()).await?;
        Ok(Night { origin, row: derived.row.clone(), output: self.describe(), tables, derived: Some(derived), history })
    }
}

/// Sends a night's alerts to the configuration's sinks (textfile, webhook). A sink that fails
/// is logged, never fatal: the alerts are already in their table and in the exit code. A
/// collect-only night judged nothing and sends nothing.
pub async fn notify(config: &Config, night: &Night, duration_s: f64) {
    if let Some(summary) = night.summary(duration_s) {
        // A signal stops the sending at once (a hanging webhook would hold it for its budget).
        tokio::select! {
            () = crate::alert::sinks::notify(config, &summary) => {}
            signal = crate::util::shutdown_signal() => tracing::warn!(
                "{signal}: stopped sending the alerts to the sinks (the night is complete; its alerts are in the alerts table)"
            ),
        }
    }
}

/// Checks, without locking or writing anything but a probe object, that a place's store can
/// be written (a dry run says whether the night can land), or that a folder output could be
/// created and written; returns the output as people wrote it.
pub async fn check_place(place: Place<'_>, delete_required: bool) -> Result<Option<String>, SessionError> {
    let mut target =
        Target::open(place.output, place.state_dir, &place.role, place.with_store).map_err(RemoteError::as_config)?;
    if let Some(prefix) = &place.under {
        target = target.under(prefix);
    }
    if target.remote.is_none() {
        crate::store::lock::check_usable(&target.output)?;
        return Ok(Some(target.describe()));
    }
    target.check_writable(delete_required).await.map_err(RemoteError::as_config)?;
    Ok(Some(target.describe()))
}
