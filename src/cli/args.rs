//! Flags several commands share: the embedder, the lexicon and refusal detector, the identity
//! rules, `--output`.

use std::path::PathBuf;

use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct EmbedderArgs {
    /// lexical, minilm or remote.
    #[arg(long, default_value = "lexical")]
    embedder: String,
    /// minilm: folder with config.json, tokenizer.json, model.safetensors.
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// minilm: a Hugging Face Hub model id, fetched once into a local cache (needs internet).
    #[arg(long)]
    hf_model: Option<String>,
    /// minilm: the Hub revision (branch, tag or commit) of --hf-model.
    #[arg(long)]
    hf_revision: Option<String>,
    /// remote: OpenAI-compatible base URL ending in /v1.
    #[arg(long)]
    base_url: Option<String>,
    /// remote: embedding model name.
    #[arg(long)]
    model: Option<String>,
    /// remote: environment variable holding the key.
    #[arg(long)]
    api_key_env: Option<String>,
}

impl EmbedderArgs {
    /// The same validation as the configuration's `[embed]`, with errors naming the flags.
    pub fn build(&self) -> Result<crate::embed::Embedder> {
        use toml::Spanned;
        let flag = |v: &Option<String>| v.clone().map(|v| Spanned::new(0..0, v));
        let raw = crate::config::embed::RawEmbed {
            embedder: Some(Spanned::new(0..0, self.embedder.clone())),
            model_dir: self.model_dir.as_ref().map(|d| d.display().to_string()),
            hf_model: flag(&self.hf_model),
            hf_revision: flag(&self.hf_revision),
            base_url: flag(&self.base_url),
            model: self.model.clone(),
            api_key_env: flag(&self.api_key_env),
            ..Default::default()
        };
        let at = std::path::Path::new("(command line: --embedder and its options)");
        let err = |_: std::ops::Range<usize>, message: String| crate::input::InputError::new(at, None, message);
        let cwd = std::env::current_dir()?;
        let resolve = |p: &str| cwd.join(p);
        let embed = crate::config::embed::parse(&raw, &err, &resolve)?;
        let api_key = match &embed {
            crate::config::EmbedConfig::Remote { api_key_env: Some(var), .. } => {
                let value = std::env::var(var).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
                match value {
                    Some(v) if v.chars().any(char::is_control) => anyhow::bail!(
                        crate::input::InputError::new(at, None, format!("{var} holds a control character"))
                            .hint("export the key again without line breaks")
                    ),
                    Some(v) => Some(crate::secrets::SecretKey::new(v)),
                    None => anyhow::bail!(
                        crate::input::InputError::new(
                            at,
                            None,
                            format!("--api-key-env {var}: the variable is not set")
                        )
                        .hint("export it before running")
                    ),
                }
            }
            _ => None,
        };
        Ok(crate::embed::Embedder::build(&embed, api_key)?)
    }
}

pub fn load_lexicon(path: Option<&std::path::Path>) -> Result<crate::features::Lexicon> {
    Ok(match path {
        Some(p) => crate::features::Lexicon::load(p)?,
        None => crate::features::Lexicon::builtin(),
    })
}

/// The identity rules of `--identity-rules` (`identity`, `identity eval`), the built-in ones
/// without it.
pub fn load_identity_rules(path: Option<&std::path::Path>) -> Result<crate::identity::Rules> {
    Ok(crate::identity::Rules::from_option(path)?)
}

/// The refusal detector of `--refusal` (checked against the lexicon).
pub fn refusal_detector(
    method: Option<&str>,
    lexicon: &crate::features::Lexicon,
) -> Result<crate::features::detector::RefusalDetector> {
    use crate::config::RefusalMethod;
    let method = method.map(|m| if m == "lexicon" { RefusalMethod::Lexicon } else { RefusalMethod::Learned });
    Ok(crate::features::detector::RefusalDetector::build(method, lexicon)?)
}

/// `--output`: a folder (relative to the working folder) or an object-store URL.
pub fn output_flag(o: &str) -> Result<crate::config::OutputLocation> {
    let cwd = std::env::current_dir()?;
    crate::config::OutputLocation::parse(o, &|p| cwd.join(p)).map_err(|(message, hint)| {
        crate::input::InputError::new(std::path::Path::new("(command line: --output)"), None, message).hint(hint).into()
    })
}

/// The date of `--run-date` or `--date`, refused when it is in the future.
pub fn past_date(date: chrono::NaiveDate, flag: &str) -> Result<chrono::NaiveDate> {
    crate::input::refuse_future_date(date, flag)?;
    Ok(date)
}
