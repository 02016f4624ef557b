//! `hivewatch import`: brings existing multi-model outputs in as historical runs, into the same
//! tables as nightly runs, so trends can start from the past.
//!
//! Formats (described with examples in `datasets/README.md`):
//! - `jsonl`: one object a line with `model`, `prompt`, `response`, and optionally `prompt_id`,
//!   `category` and `date` (YYYY-MM-DD) or `run` (a label);
//! - `csv`: the same columns, with a header;
//! - `alpaca-eval`: AlpacaEval's `model_outputs.json` (a JSON array of `instruction`, `output`,
//!   `generator`, optionally `dataset`), one file per model;
//! - `inspect-ai`: Inspect AI's JSON eval logs: the eval's model and creation day, each sample's
//!   id, input and output completion (epochs become samples);
//! - `promptfoo`: promptfoo's output JSON: each result's provider, rendered prompt and output.
//!
//! Rows are grouped into runs by `date` (or `run`); each run gets a suite made from its own
//! prompts, so imported runs are compared (by trends) only with runs on the same prompts. A
//! prompt without an id is named by a hash of its text, so the same prompt in two files is one
//! probe. A bad row (invalid UTF-8 included) is refused with its file and line, or, with
//! `--on-bad-row skip`, reported and skipped: never dropped silently.
//!
//! Import is idempotent: a run's id is a hash of its source (the format), its date (or label)
//! and its rows' content (model, prompt and response of every row, in any order), never of the
//! files' bytes; so importing the same rows again (an export that has since grown by another
//! date included) gives the earlier dates the same run ids, and their tables are rewritten,
//! not duplicated.
//!
//! Memory: `jsonl` and `csv` are read line by line, as bytes; every row goes to a spill file
//! by run (under the output's scratch space), and each run's `responses` are written from it in
//! batches. What is held is one record per prompt and per (model, prompt) of each run, not the
//! rows. The JSON formats (AlpacaEval, Inspect, promptfoo) are one document per file, read whole.
mod collector;
mod pending;
mod read;

use std::path::PathBuf;

use chrono::NaiveDate;

pub use collector::{Collector, ImportedRun};
pub use read::{prompt_id_of, read};

use crate::config::models::ModelCards;
use crate::failure::{Classify, Failure};
use crate::input::InputError;
use crate::session::{Night, Origin, Session, SessionError};
use crate::store::StoreError;

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
    AlpacaEval,
    /// Inspect AI's JSON eval logs (`--log-format json`), one model a log.
    InspectAi,
    /// promptfoo's output JSON (`promptfoo eval -o out.json`): every provider of the eval.
    Promptfoo,
}

impl Format {
    /// The name the command line takes, which is also the "source" in a run's id.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::AlpacaEval => "alpaca-eval",
            Format::InspectAi => "inspect-ai",
            Format::Promptfoo => "promptfoo",
        }
    }
}

/// What to do with a row that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnBadRow {
    /// Stop with the row's file and line; nothing is written.
    Refuse,
    /// Report the row (file, line, why) and go on without it.
    Skip,
}

/// One imported response.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub model: String,
    pub prompt_id: String,
    pub prompt: String,
    pub response: String,
    pub category: String,
    /// `date` or `run` as written (None: the `--run-date`).
    pub run: Option<String>,
}

/// A row that was skipped, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRow {
    pub file: PathBuf,
    /// 1-based line (for AlpacaEval's arrays: the entry's number).
    pub line: usize,
    pub reason: String,
}

/// How an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

impl Classify for ImportError {
    fn failure(&self) -> Failure {
        match self {
            ImportError::Input(e) => e.failure(),
            ImportError::Session(e) => e.failure(),
            ImportError::Store(e) => e.failure(),
            ImportError::Io { .. } => Failure::Failed,
        }
    }
}

/// What `hivewatch import` was asked to do.
pub struct ImportJob<'a> {
    pub files: &'a [PathBuf],
    pub format: Format,
    /// The run date of rows with no `date` (default today, UTC).
    pub run_date: Option<NaiveDate>,
    pub on_bad_row: OnBadRow,
    /// What the imported models declare (`--models`).
    pub cards: Option<ModelCards>,
    /// Where the rows come from (`--source`; default [`default_source`] of the files): one run
    /// per (source, date), so the same export as JSONL or CSV, corrected or grown, is one run.
    pub source: Option<String>,
}

/// The source of files imported without `--source`: their stem (`hist` for `hist.jsonl` and
/// `hist.csv` alike), the distinct stems joined by `+` when there are several.
pub fn default_source(files: &[PathBuf]) -> String {
    let mut stems: Vec<String> =
        files.iter().map(|f| f.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned())).collect();
    stems.sort();
    stems.dedup();
    stems.join("+")
}

/// What an import did: its runs, in date order, and the rows it skipped.
#[derive(Debug)]
pub struct Imported {
    pub nights: Vec<(ImportedRun, Night)>,
    pub skipped: Vec<BadRow>,
}

/// Imports `job` into the session's output: reads every file (bad rows refused or listed; rows
/// spilled by run), refuses a run dated in the future, then writes each run's `responses` and
/// `probes` and derives the rest as for a nightly run.
pub async fn import(job: ImportJob<'_>, session: &mut Session) -> Result<Imported, ImportError> {
    let ImportJob { files, format, run_date, on_bad_row, cards, source } = job;
    let source = source.unwrap_or_else(|| default_source(files));
    pending::settle(session).await?;
    let output = session.output().clone();
    let scratch = output.scratch_dir();
    let mut collector = Collector::new(&scratch)
        .map_err(|source| ImportError::Io { context: "making scratch space for the import".into(), source })?;
    let mut skipped = Vec::new();
    for file in files {
        read(format, file, on_bad_row, &mut skipped, &mut |row| collector.add(row))?;
    }
    let default_date = run_date.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let runs = collector
        .runs(&source, default_date)
        .map_err(|source| ImportError::Io { context: "writing the import's scratch files".into(), source })?;
    let Some(first) = files.first() else { return Ok(Imported { nights: Vec::new(), skipped }) };
    if runs.is_empty() {
        return Err(InputError::new(first, None, "holds no row to import").hint("check --format").into());
    }
    for run in &runs {
        crate::input::refuse_future_date(run.run_date, &format!("rows dated {} in {}", run.run_date, first.display()))?;
    }
    if let Some(cards) = cards {
        collector.declare(cards)?;
    }
    let tag = session.tag().expect("an import session derives");
    let mut nights = Vec::new();
    for run in runs {
        // The date imported again: the run's earlier files go first, in every table and for
        // every embedder, so nothing of the earlier rows stays beside the new ones. A kill from
        // here on is cleaned up by the next import (`pending`).
        let marker = pending::mark(&output, &run)?;
        let replaced = session.discard_run(run.run_date, &run.run_id).await?;
        if !replaced.is_empty() {
            tracing::info!(run_id = %run.run_id, files = replaced.len(), "replacing the run imported before from {source}");
        }
        let written = collector.write_run(&output, &run, &tag)?;
        let night = session.night(Origin::Imported, run.row(), written, false).await?;
        pending::done(&marker);
        nights.push((run, night));
    }
    Ok(Imported { nights, skipped })
}
