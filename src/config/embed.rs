//! `[embed]` of the configuration (and the same settings from the command line): which
//! embedder, and what it needs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::endpoint;
use crate::input::InputError;

/// `[embed]` as written; the command line fills the same fields (with empty spans).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmbed {
    pub embedder: Option<Spanned<String>>,
    pub model_dir: Option<String>,
    pub hf_model: Option<Spanned<String>>,
    pub hf_revision: Option<Spanned<String>>,
    pub base_url: Option<Spanned<String>>,
    pub model: Option<String>,
    pub api_key_env: Option<Spanned<String>>,
    pub timeout_s: Option<Spanned<f64>>,
    pub max_retries: Option<Spanned<u32>>,
    pub requests_per_minute: Option<Spanned<f64>>,
    pub batch_size: Option<Spanned<u32>>,
    pub concurrency: Option<Spanned<u32>>,
}

/// Which embedder a run uses (`[embed]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum EmbedConfig {
    Lexical,
    MiniLm {
        model_dir: PathBuf,
    },
    /// MiniLM named by its Hugging Face Hub id, fetched once into a local cache.
    MiniLmHub(HubModel),
    Remote {
        base_url: String,
        model: String,
        api_key_env: Option<String>,
        timeout_s: f64,
        max_retries: u32,
        requests_per_minute: Option<f64>,
        /// Texts sent in one request. Not in the content hash: it changes no vector.
        #[serde(skip_serializing)]
        batch_size: usize,
        /// Requests in flight at once. Not in the content hash either.
        #[serde(skip_serializing)]
        concurrency: usize,
    },
}

/// Texts a remote embedder gets in one request by default, and at most.
pub const REMOTE_BATCH: u32 = 64;
pub const MAX_REMOTE_BATCH: u32 = 2048;
/// Most requests a remote embedder may have in flight.
pub const MAX_REMOTE_CONCURRENCY: u32 = 64;

/// A model repository on the Hub at a revision (branch, tag or commit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HubModel {
    pub repo: String,
    pub revision: String,
}

impl HubModel {
    /// Checks the id (`owner/name`) and revision, which also name folders of the cache.
    pub fn new(repo: &str, revision: &str) -> Result<Self, String> {
        let plain = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match repo.split_once('/') {
            Some((owner, name)) if plain(owner) && plain(name) => {}
            _ => return Err(format!("{repo:?} is not a Hub model id of the form owner/name")),
        }
        if !plain(revision) {
            return Err(format!("{revision:?} is not a revision (a branch, tag or commit without slashes)"));
        }
        Ok(Self { repo: repo.to_owned(), revision: revision.to_owned() })
    }
}

/// Validates `[embed]`; `err` turns a span into an error at its line, `resolve` anchors a
/// relative path.
pub fn parse(
    raw: &RawEmbed,
    err: &dyn Fn(std::ops::Range<usize>, String) -> InputError,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Result<EmbedConfig, InputError> {
    let name = raw.embedder.as_ref().map(|s| (s.get_ref().as_str(), s.span()));
    // lexical is the default where no model folder is given.
    let a_model = raw.model_dir.is_some() || raw.hf_model.is_some();
    let name_or_default = name.as_ref().map(|(n, _)| *n).unwrap_or(if a_model { "minilm" } else { "lexical" });
    let at = name.map(|(_, s)| s).unwrap_or(0..0);
    match name_or_default {
        "lexical" => Ok(EmbedConfig::Lexical),
        "minilm" => match (&raw.model_dir, &raw.hf_model) {
            (Some(dir), None) => Ok(EmbedConfig::MiniLm { model_dir: resolve(dir) }),
            (None, Some(id)) => {
                let revision = raw.hf_revision.as_ref().map_or("main", |r| r.get_ref().as_str());
                // A good id with a bad revision points at the revision.
                let revision_is_bad = HubModel::new(id.get_ref(), "main").is_ok();
                let span = raw.hf_revision.as_ref().filter(|_| revision_is_bad).map_or(id.span(), |r| r.span());
                HubModel::new(id.get_ref(), revision).map(EmbedConfig::MiniLmHub).map_err(|m| {
                    err(span, m).hint("e.g. hf_model = \"sentence-transformers/all-MiniLM-L6-v2\", hf_revision = \"main\"")
                })
            }
            (Some(_), Some(id)) => Err(err(id.span(), "set model_dir or hf_model, not both".into())
                .hint("model_dir reads a local folder; hf_model fetches the model once into a local cache")),
            (None, None) => Err(err(at, "embedder \"minilm\" needs model_dir or hf_model".into()).hint(
                "set model_dir to a folder holding config.json, tokenizer.json and model.safetensors of all-MiniLM-L6-v2, or hf_model = \"sentence-transformers/all-MiniLM-L6-v2\" to fetch it once (needs internet)",
            )),
        },
        "remote" => {
            let (Some(base_url), Some(model)) = (&raw.base_url, &raw.model) else {
                return Err(err(at, "embedder \"remote\" needs base_url and model".into())
                    .hint("e.g. base_url = \"https://api.openai.com/v1\", model = \"text-embedding-3-small\""));
            };
            let url = super::validate_base_url(base_url.get_ref(), super::Provider::Openai).map_err(|(m, h)| err(base_url.span(), m).hint(h))?;
            let timeout_s = match &raw.timeout_s {
                Some(t) => endpoint::seconds(t, "[embed] timeout_s", err)?.as_secs_f64(),
                None => endpoint::DEFAULT_TIMEOUT_S,
            };
            let max_retries = match &raw.max_retries {
                Some(r) => endpoint::bounded_u32(r, "[embed] max_retries", 0, endpoint::MAX_RETRIES, err)?,
                None => endpoint::DEFAULT_MAX_RETRIES,
            };
            Ok(EmbedConfig::Remote {
                base_url: url,
                model: model.clone(),
                api_key_env: raw.api_key_env.as_ref().map(|v| endpoint::variable_name(v, "api_key_env", err)).transpose()?,
                timeout_s,
                max_retries,
                requests_per_minute: raw.requests_per_minute.as_ref().map(|r| endpoint::rate(r, err)).transpose()?,
                batch_size: match &raw.batch_size {
                    Some(b) => endpoint::bounded_u32(b, "[embed] batch_size", 1, MAX_REMOTE_BATCH, err)? as usize,
                    None => REMOTE_BATCH as usize,
                },
                concurrency: match &raw.concurrency {
                    Some(c) => endpoint::bounded_u32(c, "[embed] concurrency", 1, MAX_REMOTE_CONCURRENCY, err)? as usize,
                    None => 1,
                },
            })
        }
        other => Err(err(at, format!("unknown embedder {other:?}")).hint("use lexical, minilm or remote")),
    }
}
