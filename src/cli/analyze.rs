//! `hivewatch analyze`: stored runs derived again, or (with a coordinator's configuration) a
//! consortium's night over what its members published.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use chrono::NaiveDate;

use super::{args, print};
use crate::config::Config;
use crate::exit;
use crate::input::InputError;
use crate::session::{Instruments, Place, Session};

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// A configuration: its [alerts] judge the runs (default: the rules the last `run`
    /// recorded in the output, else the built-in ones; the rules used are printed). A
    /// coordinator's ([consortium] members, output, [embed], [alerts]): analyse the night of
    /// --date over every member's published responses.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// With --config: the night (YYYY-MM-DD) to analyse; default today (UTC).
    #[arg(long, requires = "config")]
    date: Option<NaiveDate>,
    /// With --config: how long to wait for members that have not published yet (e.g. 90m, 2h).
    #[arg(long, requires = "config", value_parser = humantime::parse_duration, default_value = "0s")]
    deadline: Duration,
    /// With --config: the first wait between looks for late members (doubling, at most a minute).
    #[arg(long, requires = "config", value_parser = humantime::parse_duration, default_value = "5s", hide = true)]
    poll: Duration,
    /// Output root holding the runs (a folder or an s3://, gs://, az:// URL).
    #[arg(long, default_value = "reports")]
    output: String,
    #[command(flatten)]
    embedder: args::EmbedderArgs,
    /// Run ids (comma-separated); default every run.
    #[arg(long, value_delimiter = ',')]
    runs: Vec<String>,
    /// Behaviour lexicon for the `features` table (default: the built-in one).
    #[arg(long)]
    lexicon: Option<PathBuf>,
    /// Refusal detector for the `features` table: learned or lexicon (default: learned,
    /// unless --lexicon names a lexicon its weights were not fitted with).
    #[arg(long, value_parser = ["learned", "lexicon"])]
    refusal: Option<String>,
    /// Identity rules for the `identity` table (default: the built-in src/identity/vendors.toml).
    #[arg(long)]
    identity_rules: Option<PathBuf>,
}

pub async fn command(a: AnalyzeArgs) -> Result<i32> {
    // One load: a coordinator's configuration analyses the consortium's night, any other
    // lends its [alerts].
    let loaded = a.config.as_deref().map(|path| Config::load(path).map(|cfg| (path, cfg))).transpose()?;
    let keep = loaded.as_ref().map(|(_, cfg)| cfg.keep).unwrap_or_default();
    let config = match loaded {
        Some((path, cfg)) if !cfg.consortium.members.is_empty() => return consortium(path, cfg, &a).await,
        Some((path, _)) if a.date.is_some() => anyhow::bail!(
            InputError::new(path, None, "has no [consortium] members: --date names a consortium's night")
                .hint("drop --date, or pass the coordinator's configuration")
        ),
        other => other.map(|(path, cfg)| (path, cfg.alerts)),
    };
    let embedder = a.embedder.build()?;
    let lexicon = args::load_lexicon(a.lexicon.as_deref())?;
    let refusal = args::refusal_detector(a.refusal.as_deref(), &lexicon)?;
    let identity = args::load_identity_rules(a.identity_rules.as_deref())?;
    let output = args::output_flag(&a.output)?;
    let place = Place::output(&output);
    let lexicon_version = lexicon.version.clone();
    let instruments = Instruments { embedder, lexicon, refusal, identity, keep };
    let mut session = Session::open(place, None, false).await?;
    let (rules, from) = crate::session::rules_for(session.output(), config)?;
    print::rules(&rules, &from);
    session.equip(instruments, rules).await?;
    crate::analyze::analyze(&mut session, &a.runs, |night| print::reanalysed(night, &lexicon_version)).await?;
    Ok(exit::OK)
}

/// `hivewatch analyze --config COORDINATOR --date D`: a consortium's night over what its
/// members published.
async fn consortium(config: &Path, mut cfg: Config, a: &AnalyzeArgs) -> Result<i32> {
    if !a.runs.is_empty() || a.lexicon.is_some() {
        anyhow::bail!(
            InputError::new(
                config,
                None,
                "is a coordinator's configuration ([consortium] members): its night is analysed whole"
            )
            .hint("drop --runs and --lexicon (the lexicon is the configuration's)")
        );
    }
    // The coordinator holds no member's key: endpoints are the members' business.
    cfg.endpoints.clear();
    cfg.resolve_keys(|v| std::env::var(v).ok())?;
    let date = args::past_date(a.date.unwrap_or_else(|| chrono::Utc::now().date_naive()), "--date")?;
    let opts = crate::consortium::AnalyzeOptions { date, deadline: a.deadline, poll: a.poll };
    let started = std::time::Instant::now();
    let union = crate::consortium::analyze(&cfg, &opts).await?;
    crate::session::notify(&cfg, &union.night, started.elapsed().as_secs_f64()).await;
    print::union(&union);
    Ok(if union.night.pages() { exit::ALERT } else { exit::OK })
}
