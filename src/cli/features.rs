//! `hivewatch features eval` and `train`: the refusal detector against human labels, and its
//! fitting.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use super::args::{EmbedderArgs, load_lexicon};
use crate::exit;
use crate::say::say;

#[derive(Debug, Subcommand)]
pub enum FeaturesCommand {
    /// Measure the refusal detectors on human-labelled completions (a CSV with `completion` and
    /// `human_label` columns, optional `model` and `id`, e.g. XSTest's
    /// labelled_completions.csv): the learned detector leave-one-model-out and with its shipped
    /// weights, the lexicon's rule and the prefix-match baseline; precision, recall, accuracy
    /// and three-way accuracy per model and over all rows.
    Eval {
        /// The labelled CSV.
        labels: PathBuf,
        /// Lexicon to evaluate (default: the built-in one).
        #[arg(long)]
        lexicon: Option<PathBuf>,
        /// Weights to evaluate instead of the built-in ones (written by `features train`).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// The embedder of the learned detector: lexical (the variant for every run not embedded
        /// with the MiniLM it was fitted for) or minilm.
        #[command(flatten)]
        embedder: EmbedderArgs,
    },
    /// Fit the learned refusal detector on human-labelled completions and write its weights
    /// file: the lexical variant, and the MiniLM variant with --embedder minilm. The built-in
    /// src/features/refusal-lr-v2.json is this command's output on xstest_dev.
    Train {
        /// The labelled CSV.
        labels: PathBuf,
        /// The weights file to write.
        #[arg(long)]
        out: PathBuf,
        /// The version the file records (its rows carry VERSION-lexical, VERSION-minilm): bump it
        /// whenever the weights change.
        #[arg(long, default_value = "refusal-lr-v2")]
        weights_version: String,
        /// Lexicon whose signals the detector reads (default: the built-in one).
        #[arg(long)]
        lexicon: Option<PathBuf>,
        #[command(flatten)]
        embedder: EmbedderArgs,
    },
}

pub fn command(command: FeaturesCommand) -> Result<i32> {
    tokio::task::block_in_place(|| match command {
        FeaturesCommand::Eval { labels, lexicon, weights, embedder } => {
            features_eval(&labels, lexicon.as_deref(), weights.as_deref(), &embedder)
        }
        FeaturesCommand::Train { labels, out, weights_version, lexicon, embedder } => {
            features_train(&labels, &out, &weights_version, lexicon.as_deref(), &embedder)
        }
    })?;
    Ok(exit::OK)
}

/// `hivewatch features eval`.
fn features_eval(
    labels: &std::path::Path,
    lexicon: Option<&std::path::Path>,
    weights: Option<&std::path::Path>,
    embedder: &EmbedderArgs,
) -> Result<()> {
    use crate::features::detector::LearnedWeights;
    let lexicon = load_lexicon(lexicon)?;
    let weights = match weights {
        Some(p) => LearnedWeights::load(p)?,
        None => LearnedWeights::builtin(),
    };
    let embedder = embedder.build()?;
    let rows = crate::features::labels::read_labelled(labels)?;
    let bytes = std::fs::read(labels).with_context(|| format!("reading {}", labels.display()))?;
    let models: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.model.as_str()).collect();
    say!(
        "{} on {} ({} rows, {} models); lexicon {}; embedder {}",
        weights.version,
        labels.display(),
        rows.len(),
        models.len(),
        lexicon.version,
        embedder.id()
    );
    let eval = crate::features::eval::evaluate_learned(
        &lexicon,
        &rows,
        &embedder,
        &weights,
        &crate::util::sha256_hex(&bytes),
    )?;
    say!("{eval}");
    Ok(())
}

/// `hivewatch features train`.
fn features_train(
    labels: &std::path::Path,
    out: &std::path::Path,
    version: &str,
    lexicon: Option<&std::path::Path>,
    embedder: &EmbedderArgs,
) -> Result<()> {
    use crate::embed::Embedder;
    use crate::features::train;
    let lexicon = load_lexicon(lexicon)?;
    let embedder = embedder.build()?;
    let rows = crate::features::labels::read_labelled(labels)?;
    let bytes = std::fs::read(labels).with_context(|| format!("reading {}", labels.display()))?;
    let lexical = train::prepare(&lexicon, &rows, &Embedder::Lexical)?;
    let minilm = match embedder {
        Embedder::Lexical => None,
        Embedder::MiniLm(_) => Some(train::prepare(&lexicon, &rows, &embedder)?),
        Embedder::Remote(_) => anyhow::bail!(
            "features train fits a lexical and a MiniLM variant: pass --embedder minilm with --model-dir or --hf-model, or no --embedder"
        ),
    };
    let name = labels.file_name().map_or_else(|| labels.display().to_string(), |n| n.to_string_lossy().into_owned());
    let file =
        train::train(&lexicon, &rows, &lexical, minilm.as_ref(), version, (&name, &crate::util::sha256_hex(&bytes)))?;
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    // Read back before writing: what is written must load.
    crate::features::detector::LearnedWeights::parse(out, &text)?;
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    let variants = if file.minilm.is_some() { "lexical and minilm variants" } else { "lexical variant" };
    say!(
        "wrote {}: {} ({variants}, lexicon {}), fitted on {} rows ({} refusals) of {name}",
        out.display(),
        file.version,
        file.lexicon,
        file.trained_on.rows,
        file.trained_on.refusals
    );
    Ok(())
}
