//! `hivewatch identity eval`: the identity claim extraction against labelled answers, as
//! `features eval` is for refusal.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;

use crate::exit;
use crate::identity::eval::{EvalError, evaluate, read_labelled};
use crate::say::say;

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Measure the identity claim extraction on labelled answers: JSON lines with `response`
    /// (optionally `prompt`, `system`, `model`, `lang`, `id`) and a boolean `label`, true when
    /// the answer claims to be made by VENDOR or to be one of its models (or a `claims` list of
    /// vendors, as datasets/identity/ has). Prints precision, recall and accuracy overall, per
    /// `model`, language and persona, and the answers read wrong.
    Eval {
        /// The labelled JSON lines.
        file: PathBuf,
        /// The vendor the labels are about (a name or alias the rules know, e.g. OpenAI,
        /// ChatGPT), or `declines`.
        #[arg(long)]
        vendor: String,
        /// Identity rules to evaluate instead of the built-in ones (src/identity/vendors.toml).
        #[arg(long)]
        identity_rules: Option<PathBuf>,
    },
}

pub fn command(command: IdentityCommand) -> Result<i32> {
    match command {
        IdentityCommand::Eval { file, vendor, identity_rules } => eval(&file, &vendor, identity_rules.as_deref()),
    }
}

fn eval(file: &Path, vendor: &str, rules: Option<&Path>) -> Result<i32> {
    let rules = super::args::load_identity_rules(rules)?;
    let rows = read_labelled(&rules, file)?;
    if rows.is_empty() {
        anyhow::bail!(
            crate::input::InputError::new(file, None, "holds no labelled answer")
                .hint("write one JSON object a line, with `response` and `label` (true or false)")
        );
    }
    let evaluation = evaluate(&rules, &rows, vendor).map_err(|e| match e {
        EvalError::UnknownVendor { name, version } => {
            let names: Vec<&str> = rules.vendors.iter().map(|v| v.name.as_str()).collect();
            anyhow::Error::new(
                crate::input::InputError::new(
                    file,
                    None,
                    format!("--vendor {name}: the identity rules ({version}) know no such vendor"),
                )
                .hint(format!(
                    "pass one of {}, a model line's name (ChatGPT, Claude ...), or `declines`",
                    names.join(", ")
                )),
            )
        }
        EvalError::Input(e) => anyhow::Error::new(e),
    })?;
    say!("{} answers from {}", rows.len(), file.display());
    say!("{evaluation}");
    Ok(exit::OK)
}
