//! `hivewatch run`: the night (or its plan, with --dry-run); the exit code says whether it paged.

use std::path::PathBuf;

use anyhow::Result;
use chrono::NaiveDate;

use super::{args, print};
use crate::config::Config;
use crate::exit;
use crate::plan::Plan;
use crate::probes::Suite;
use crate::run::RunOptions;
use crate::say::say;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[arg(long, short, default_value = "hivewatch.toml")]
    config: PathBuf,
    /// Print the plan (requests and estimated tokens per endpoint) and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Start a new run even if an unfinished run of the same plan could be resumed.
    #[arg(long)]
    fresh: bool,
    /// Output root (a folder or an s3://, gs://, az:// URL), instead of the configuration's run.output.
    #[arg(long)]
    output: Option<String>,
    /// A consortium member's run: collect, then publish responses under
    /// members/member=<name>/ of the output (the coordinator's `analyze --date` does the rest).
    #[arg(long)]
    collect_only: bool,
    /// Run date (YYYY-MM-DD) of a new run, for backfills; default today (UTC).
    #[arg(long)]
    run_date: Option<NaiveDate>,
}

pub async fn command(a: RunArgs) -> Result<i32> {
    let run_date = a.run_date.map(|d| args::past_date(d, "--run-date")).transpose()?;
    let mut cfg = Config::load(&a.config)?;
    if let Some(o) = &a.output {
        cfg.output = args::output_flag(o)?;
    }
    crate::consortium::check_run_role(&cfg, a.collect_only)?;
    let suite = cfg.load_suite()?;
    if a.dry_run {
        return dry_run(cfg, suite, a.collect_only).await;
    }
    cfg.resolve_keys(|v| std::env::var(v).ok())?;
    let plan = Plan::new(cfg.clone(), suite);
    let started = std::time::Instant::now();
    let opts = RunOptions { fresh: a.fresh, run_date, collect_only: a.collect_only };
    let night = crate::run::run_interruptible(plan, opts).await?;
    if a.collect_only {
        print::published(&night);
        return Ok(exit::OK);
    }
    crate::session::notify(&cfg, &night, started.elapsed().as_secs_f64()).await;
    print::night(&night, &cfg.alerts);
    Ok(if night.pages() { exit::ALERT } else { exit::OK })
}

/// The plan, with everything a night checks before sending checked: keys (a warning here),
/// the lexicon and refusal detector, and an object-store output's write access.
async fn dry_run(mut cfg: Config, suite: Suite, collect_only: bool) -> Result<i32> {
    if let Err(e) = cfg.resolve_keys(|v| std::env::var(v).ok()) {
        tracing::warn!("{e}");
    }
    // A bad lexicon, or one the refusal detector asked for cannot read, is bad input here too.
    crate::features::instruments(cfg.lexicon.as_deref(), cfg.refusal)?;
    let store = crate::session::check_place(crate::run::place(&cfg, collect_only), !collect_only).await?;
    // A member embeds nothing (unless `[consortium] embed = "member"`); anyone else's night
    // fails at once on an embedder that does not answer, so the dry run asks it too.
    let embedder = match collect_only && cfg.consortium.embed != crate::config::EmbedBy::Member {
        true => None,
        false => Some(super::endpoints::check_embedder(&cfg).await?),
    };
    print::plan(&Plan::new(cfg, suite));
    if let Some(url) = store {
        say!("output {url}: writable");
    }
    if let Some(line) = embedder {
        say!("{line}");
    }
    Ok(exit::OK)
}
