//! `hivewatch import`: existing multi-model outputs brought in as historical runs.

use std::path::PathBuf;

use anyhow::Result;
use chrono::NaiveDate;

use super::{args, print};
use crate::config::Config;
use crate::exit;
use crate::import::{Format, ImportJob, OnBadRow};
use crate::say::{say, tell};
use crate::session::{Instruments, Place, Session};

/// `hivewatch import`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The files to import (AlpacaEval: one model_outputs.json per model).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long, value_enum)]
    format: Format,
    /// Output root (a folder or an s3://, gs://, az:// URL).
    #[arg(long, default_value = "reports")]
    output: String,
    /// Run date of rows with no `date` (default today, UTC).
    #[arg(long)]
    run_date: Option<NaiveDate>,
    /// What to do with a row that cannot be used.
    #[arg(long, value_enum, default_value = "refuse")]
    on_bad_row: OnBadRow,
    #[command(flatten)]
    embedder: args::EmbedderArgs,
    /// Behaviour lexicon for the `features` table (default: the built-in one).
    #[arg(long)]
    lexicon: Option<PathBuf>,
    /// Judge the runs by this configuration's [alerts] (default: the rules the last `run`
    /// recorded in the output, else the built-in ones; the rules used are printed).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Refusal detector for the `features` table: learned or lexicon (default: learned,
    /// unless --lexicon names a lexicon its weights were not fitted with).
    #[arg(long, value_parser = ["learned", "lexicon"])]
    refusal: Option<String>,
    /// Identity rules for the `identity` table (default: the built-in src/identity/vendors.toml).
    #[arg(long)]
    identity_rules: Option<PathBuf>,
    /// Model cards: a TOML file of [[models]] (name, vendor, family, parents,
    /// release_date) declaring what the imported models are, so the `lineage` table can
    /// say which close pairs are declared relatives (default: nothing declared).
    #[arg(long)]
    models: Option<PathBuf>,
    /// Where the rows come from: one run per (source, date), so importing a date again
    /// replaces its run (default: the files' name without extension, `hist` for hist.jsonl and
    /// hist.csv alike).
    #[arg(long)]
    source: Option<String>,
}

/// The instruments and model cards first (bad input stops it before the output is touched),
/// then the session (the output locked before any file is read: a run writing there must not
/// see half an import), then [`crate::import::import`].
pub async fn command(a: ImportArgs) -> Result<i32> {
    let run_date = a.run_date.map(|d| args::past_date(d, "--run-date")).transpose()?;
    let embedder = a.embedder.build()?;
    let lexicon = args::load_lexicon(a.lexicon.as_deref())?;
    let refusal = args::refusal_detector(a.refusal.as_deref(), &lexicon)?;
    let identity = args::load_identity_rules(a.identity_rules.as_deref())?;
    let cards = a.models.as_deref().map(crate::config::models::ModelCards::load).transpose()?;
    let loaded = a.config.as_deref().map(|path| Config::load(path).map(|cfg| (path, cfg))).transpose()?;
    let keep = loaded.as_ref().map(|(_, cfg)| cfg.keep).unwrap_or_default();
    let config = loaded.map(|(path, cfg)| (path, cfg.alerts));
    let output = args::output_flag(&a.output)?;
    let place = Place::output(&output);
    let instruments = Instruments { embedder, lexicon, refusal, identity, keep };
    let mut session = Session::open(place, None, false).await?;
    let (rules, from) = crate::session::rules_for(session.output(), config)?;
    print::rules(&rules, &from);
    session.equip(instruments, rules.clone()).await?;
    let source = a.source.clone().unwrap_or_else(|| crate::import::default_source(&a.files));
    let (files, format, on_bad_row) = (&a.files, a.format, a.on_bad_row);
    let job = ImportJob { files, format, run_date, on_bad_row, cards, source: Some(source.clone()) };
    let imported = crate::import::import(job, &mut session).await?;
    for b in &imported.skipped {
        tell!("skipped {}:{}: {}", b.file.display(), b.line, b.reason);
    }
    if !imported.skipped.is_empty() {
        say!("skipped {} bad row(s), listed above", imported.skipped.len());
    }
    // Each night as `run` prints it after its counts: figures, report, alerts. An import
    // exits 0 whatever it raises (it is history, not tonight's news); the alerts are said here.
    for (run, night) in &imported.nights {
        say!(
            "run {} ({}, source {source}): {} responses of {} models to {} prompts (suite {}) imported",
            run.run_id,
            run.run_date,
            run.rows,
            run.models,
            run.suite.probes.len(),
            run.suite.id
        );
        print::derived(night, &rules);
    }
    Ok(exit::OK)
}
