//! `hivewatch.toml`: the run, the endpoints, their sampling and limits. Parsed and validated in
//! full before any request is sent; every error names the file, the line and the fix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::secrets::SecretKey;

/// A configuration or input file that cannot be used as written.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}{}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default(), hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
pub struct InputError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl InputError {
    pub fn new(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self { path: path.to_owned(), line, message: message.into(), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Wraps a TOML syntax or schema error, keeping its line.
    pub fn from_toml(path: &Path, source: &str, err: &toml::de::Error) -> Self {
        let line = err.span().map(|s| line_of(source, s.start));
        let hint = if err.message().contains("unknown field") {
            Some("check the spelling against the configuration reference in README.md".to_owned())
        } else if err.message().contains("missing field") {
            Some("add the field; README.md lists the required ones".to_owned())
        } else {
            None
        };
        Self { path: path.to_owned(), line, message: err.message().trim().to_owned(), hint }
    }
}

/// 1-based line number of a byte offset.
pub fn line_of(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// Which wire protocol an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Any OpenAI-compatible `/v1/chat/completions` server.
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
    /// Google's Gemini `generateContent`.
    Gemini,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Openai => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    run: RawRun,
    #[serde(default)]
    sampling: RawSampling,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    embed: RawEmbed,
    #[serde(default)]
    features: RawFeatures,
    #[serde(default)]
    alerts: crate::alert::AlertConfig,
    #[serde(default)]
    endpoints: Vec<RawEndpoint>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeatures {
    lexicon: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmbed {
    embedder: Option<Spanned<String>>,
    model_dir: Option<String>,
    hf_model: Option<Spanned<String>>,
    hf_revision: Option<Spanned<String>>,
    base_url: Option<Spanned<String>>,
    model: Option<String>,
    api_key_env: Option<String>,
    timeout_s: Option<f64>,
    max_retries: Option<u32>,
    requests_per_minute: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    suite: Spanned<String>,
    #[serde(default = "default_samples")]
    samples: Spanned<u32>,
    #[serde(default = "default_output")]
    output: String,
    /// Cap on requests in flight across all endpoints.
    #[serde(default = "default_global_concurrency")]
    max_concurrency: Spanned<u32>,
}

fn default_samples() -> Spanned<u32> {
    Spanned::new(0..0, 2)
}
fn default_output() -> String {
    "reports".into()
}
fn default_global_concurrency() -> Spanned<u32> {
    Spanned::new(0..0, 64)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSampling {
    temperature: Option<Spanned<f64>>,
    top_p: Option<Spanned<f64>>,
    max_tokens: Option<Spanned<u32>>,
    seed: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_concurrency: Option<Spanned<u32>>,
    requests_per_minute: Option<Spanned<f64>>,
    timeout_s: Option<Spanned<f64>>,
    max_retries: Option<u32>,
    max_request_s: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    name: Spanned<String>,
    provider: Provider,
    base_url: Spanned<String>,
    model: String,
    api_key_env: Option<Spanned<String>>,
    // Sampling overrides.
    temperature: Option<Spanned<f64>>,
    top_p: Option<Spanned<f64>>,
    max_tokens: Option<Spanned<u32>>,
    seed: Option<u64>,
    // Limits.
    max_concurrency: Option<Spanned<u32>>,
    requests_per_minute: Option<Spanned<f64>>,
    timeout_s: Option<Spanned<f64>>,
    max_retries: Option<u32>,
    max_request_s: Option<Spanned<f64>>,
    // Descriptive metadata, carried into the reports.
    vendor: Option<String>,
    family: Option<String>,
    release_date: Option<Spanned<String>>,
    #[serde(default)]
    parents: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The validated configuration.

/// Sampling parameters an endpoint asks for. What is actually sent may differ per provider
/// (Anthropic takes no seed); the collector records what it sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sampling {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: u32,
    /// Base seed; sample `i` is sent `seed + i`, so samples differ but a rerun repeats them.
    pub seed: Option<u64>,
}

/// Per-endpoint limits. One slow or rate-limited endpoint only ever waits on its own limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    pub max_concurrency: u32,
    pub requests_per_minute: Option<f64>,
    pub timeout: Duration,
    pub max_retries: u32,
    /// Wall-time bound on one request, all its retries and waits included.
    pub max_request_time: Duration,
}

/// Facts about a model that the reports carry along; hivewatch does not interpret them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EndpointMeta {
    pub vendor: Option<String>,
    pub family: Option<String>,
    pub release_date: Option<NaiveDate>,
    pub parents: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub name: String,
    pub provider: Provider,
    /// As the provider's SDK takes it, without a trailing slash.
    pub base_url: String,
    pub model: String,
    pub api_key_env: Option<String>,
    /// Filled from the environment by [`Config::resolve_keys`]; never serialised.
    #[serde(skip)]
    pub api_key: Option<SecretKey>,
    pub sampling: Sampling,
    pub limits: Limits,
    pub meta: EndpointMeta,
}

/// Which embedder a run uses (`[embed]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum EmbedConfig {
    Lexical,
    MiniLm {
        model_dir: PathBuf,
    },
    /// MiniLM named by its Hugging Face Hub id, fetched once into a local cache.
    MiniLmHub(crate::embed::hub::HubModel),
    Remote {
        base_url: String,
        model: String,
        api_key_env: Option<String>,
        timeout_s: f64,
        max_retries: u32,
        requests_per_minute: Option<f64>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The file this came from; relative paths inside it are resolved against its folder.
    #[serde(skip)]
    pub path: PathBuf,
    pub suite_dir: PathBuf,
    pub samples: u32,
    pub output: PathBuf,
    pub max_concurrency: u32,
    pub embed: EmbedConfig,
    /// The behaviour lexicon file (`[features] lexicon`); the built-in one when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lexicon: Option<PathBuf>,
    /// `[alerts]`: rules and sinks. Not part of the content hash: changing a threshold must not
    /// turn tonight's unfinished run into a new one.
    #[serde(skip)]
    pub alerts: crate::alert::AlertConfig,
    /// The webhook URL, filled by [`Config::resolve_keys`] (a secret, like a key).
    #[serde(skip)]
    pub webhook_url: Option<SecretKey>,
    /// The remote embedder's key, filled by [`Config::resolve_keys`].
    #[serde(skip)]
    pub embed_api_key: Option<SecretKey>,
    pub endpoints: Vec<Endpoint>,
}

const DEFAULT_MAX_TOKENS: u32 = 512;
const DEFAULT_TEMPERATURE: f64 = 0.7;
const DEFAULT_ENDPOINT_CONCURRENCY: u32 = 4;
const DEFAULT_TIMEOUT_S: f64 = 60.0;
const DEFAULT_MAX_RETRIES: u32 = 4;
const DEFAULT_MAX_REQUEST_S: f64 = 300.0;

impl Config {
    /// Reads and validates a configuration file. Keys are not looked up here: see
    /// [`Config::resolve_keys`].
    pub fn load(path: &Path) -> Result<Self, InputError> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            InputError::new(path, None, format!("cannot read the configuration: {e}"))
                .hint("pass the path of an existing hivewatch.toml with --config")
        })?;
        Self::parse(path, &source)
    }

    /// Parses configuration text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, source: &str) -> Result<Self, InputError> {
        let raw: RawConfig = toml::from_str(source).map_err(|e| InputError::from_toml(path, source, &e))?;
        let err =
            |span: std::ops::Range<usize>, msg: String| InputError::new(path, Some(line_of(source, span.start)), msg);
        let base_dir = path.parent().unwrap_or(Path::new(".")).to_owned();
        let resolve = |p: &str| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { base_dir.join(p) }
        };

        if *raw.run.samples.get_ref() == 0 {
            return Err(err(raw.run.samples.span(), "run.samples must be at least 1".into())
                .hint("set samples = 2 or more to measure how a model varies with itself"));
        }
        if *raw.run.max_concurrency.get_ref() == 0 {
            return Err(err(raw.run.max_concurrency.span(), "run.max_concurrency must be at least 1".into()));
        }
        if raw.run.suite.get_ref().trim().is_empty() {
            return Err(err(raw.run.suite.span(), "run.suite is empty".into())
                .hint("name a probe suite folder, e.g. suite = \"probes/core\""));
        }
        if raw.endpoints.is_empty() {
            return Err(InputError::new(path, None, "no [[endpoints]] are configured")
                .hint("add at least one [[endpoints]] table with name, provider, base_url and model"));
        }

        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut endpoints = Vec::with_capacity(raw.endpoints.len());
        for ep in raw.endpoints {
            let line = line_of(source, ep.name.span().start);
            let name = ep.name.get_ref().trim().to_owned();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c)) {
                return Err(err(ep.name.span(), format!("endpoint name {name:?} is not usable"))
                    .hint("use letters, digits and - _ . : / only"));
            }
            if let Some(first) = seen.insert(name.clone(), line) {
                return Err(err(
                    ep.name.span(),
                    format!("endpoint name {name:?} is used twice (first on line {first})"),
                )
                .hint("every endpoint needs its own name: it keys the rows in the reports"));
            }
            let base_url = validate_base_url(ep.base_url.get_ref(), ep.provider)
                .map_err(|(msg, hint)| err(ep.base_url.span(), msg).hint(hint))?;
            if ep.model.trim().is_empty() {
                return Err(InputError::new(path, Some(line), format!("endpoint {name:?} has an empty model")));
            }
            let api_key_env = match ep.api_key_env {
                Some(v) => {
                    let var = v.get_ref().trim();
                    if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        return Err(err(v.span(), format!("api_key_env {var:?} is not an environment variable name"))
                            .hint("write the NAME of the variable that holds the key, e.g. api_key_env = \"OPENAI_API_KEY\"; never the key itself"));
                    }
                    Some(var.to_owned())
                }
                None => None,
            };

            let pick_f = |own: &Option<Spanned<f64>>, shared: &Option<Spanned<f64>>| {
                own.as_ref().or(shared.as_ref()).map(|s| (*s.get_ref(), s.span()))
            };
            let pick_u = |own: &Option<Spanned<u32>>, shared: &Option<Spanned<u32>>| {
                own.as_ref().or(shared.as_ref()).map(|s| (*s.get_ref(), s.span()))
            };

            let temperature = match pick_f(&ep.temperature, &raw.sampling.temperature) {
                Some((t, span)) if !(0.0..=2.0).contains(&t) => {
                    return Err(err(span, format!("temperature {t} is outside 0..2")));
                }
                Some((t, _)) => Some(t),
                None => Some(DEFAULT_TEMPERATURE),
            };
            let top_p = match pick_f(&ep.top_p, &raw.sampling.top_p) {
                Some((p, span)) if !(p > 0.0 && p <= 1.0) => {
                    return Err(err(span, format!("top_p {p} is outside (0, 1]")));
                }
                other => other.map(|(p, _)| p),
            };
            let max_tokens = match pick_u(&ep.max_tokens, &raw.sampling.max_tokens) {
                Some((0, span)) => return Err(err(span, "max_tokens must be at least 1".into())),
                Some((m, _)) => m,
                None => DEFAULT_MAX_TOKENS,
            };
            let sampling = Sampling { temperature, top_p, max_tokens, seed: ep.seed.or(raw.sampling.seed) };

            let max_concurrency = match pick_u(&ep.max_concurrency, &raw.limits.max_concurrency) {
                Some((0, span)) => return Err(err(span, "max_concurrency must be at least 1".into())),
                Some((c, _)) => c,
                None => DEFAULT_ENDPOINT_CONCURRENCY,
            };
            let requests_per_minute = match pick_f(&ep.requests_per_minute, &raw.limits.requests_per_minute) {
                Some((r, span)) if !(r > 0.0 && r.is_finite()) => {
                    return Err(err(span, format!("requests_per_minute {r} must be a positive number"))
                        .hint("leave it out for no limit"));
                }
                other => other.map(|(r, _)| r),
            };
            let positive_seconds = |v: Option<(f64, std::ops::Range<usize>)>, what: &str, default: f64| match v {
                Some((s, span)) if !(s > 0.0 && s.is_finite()) => {
                    Err(err(span, format!("{what} {s} must be a positive number of seconds")))
                }
                Some((s, _)) => Ok(Duration::from_secs_f64(s)),
                None => Ok(Duration::from_secs_f64(default)),
            };
            let timeout =
                positive_seconds(pick_f(&ep.timeout_s, &raw.limits.timeout_s), "timeout_s", DEFAULT_TIMEOUT_S)?;
            let max_request_time = positive_seconds(
                pick_f(&ep.max_request_s, &raw.limits.max_request_s),
                "max_request_s",
                DEFAULT_MAX_REQUEST_S,
            )?;
            let limits = Limits {
                max_concurrency,
                requests_per_minute,
                timeout,
                max_retries: ep.max_retries.or(raw.limits.max_retries).unwrap_or(DEFAULT_MAX_RETRIES),
                max_request_time,
            };

            let release_date = match ep.release_date {
                Some(d) => Some(NaiveDate::parse_from_str(d.get_ref(), "%Y-%m-%d").map_err(|_| {
                    err(d.span(), format!("release_date {:?} is not a date", d.get_ref()))
                        .hint("write it as YYYY-MM-DD")
                })?),
                None => None,
            };

            endpoints.push(Endpoint {
                name,
                provider: ep.provider,
                base_url,
                model: ep.model.trim().to_owned(),
                api_key_env,
                api_key: None,
                sampling,
                limits,
                meta: EndpointMeta { vendor: ep.vendor, family: ep.family, release_date, parents: ep.parents },
            });
        }

        let embed = parse_embed(&raw.embed, &err, &resolve)?;

        let mut alerts = raw.alerts;
        alerts.validate().map_err(|message| {
            InputError::new(path, source.find("[alerts").map(|at| line_of(source, at)), message)
                .hint("README's configuration reference lists the alert rules and their levels")
        })?;
        alerts.textfile = alerts.textfile.as_deref().map(|p| resolve(&p.to_string_lossy()));

        Ok(Config {
            embed,
            lexicon: raw.features.lexicon.as_deref().map(resolve),
            alerts,
            webhook_url: None,
            embed_api_key: None,
            path: path.to_owned(),
            suite_dir: resolve(raw.run.suite.get_ref()),
            samples: *raw.run.samples.get_ref(),
            output: resolve(&raw.run.output),
            max_concurrency: *raw.run.max_concurrency.get_ref(),
            endpoints,
        })
    }

    /// Looks up every endpoint's key in the environment. All missing variables are reported at
    /// once, before any request is sent.
    pub fn resolve_keys(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<(), InputError> {
        let mut missing = Vec::new();
        if let EmbedConfig::Remote { api_key_env: Some(var), .. } = &self.embed {
            match lookup(var).filter(|v| !v.trim().is_empty()) {
                Some(v) => self.embed_api_key = Some(SecretKey::new(v.trim().to_owned())),
                None => missing.push(format!("{var} ([embed])")),
            }
        }
        if let Some(var) = &self.alerts.webhook_url_env {
            match lookup(var).filter(|v| !v.trim().is_empty()) {
                Some(v) => self.webhook_url = Some(SecretKey::new(v.trim().to_owned())),
                None => missing.push(format!("{var} ([alerts] webhook_url_env)")),
            }
        }
        for ep in &mut self.endpoints {
            if let Some(var) = &ep.api_key_env {
                match lookup(var).filter(|v| !v.trim().is_empty()) {
                    Some(v) => ep.api_key = Some(SecretKey::new(v.trim().to_owned())),
                    None => missing.push(format!("{var} (endpoint {})", ep.name)),
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(InputError::new(
                &self.path,
                None,
                format!("environment variables holding keys or secrets are not set: {}", missing.join(", ")),
            )
            .hint("export each variable before running (keys never go in the file), or remove api_key_env for servers that need no key"))
        }
    }

    /// A stable hash of everything in the configuration that shapes the run (no keys: they are
    /// not part of the serialised form).
    pub fn content_hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("config serialises");
        crate::util::sha256_hex(&json)
    }
}

fn parse_embed(
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
                let revision_is_bad = crate::embed::hub::HubModel::new(id.get_ref(), "main").is_ok();
                let span = raw.hf_revision.as_ref().filter(|_| revision_is_bad).map_or(id.span(), |r| r.span());
                crate::embed::hub::HubModel::new(id.get_ref(), revision).map(EmbedConfig::MiniLmHub).map_err(|m| {
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
            let url = validate_base_url(base_url.get_ref(), Provider::Openai).map_err(|(m, h)| err(base_url.span(), m).hint(h))?;
            Ok(EmbedConfig::Remote {
                base_url: url,
                model: model.clone(),
                api_key_env: raw.api_key_env.clone(),
                timeout_s: raw.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S),
                max_retries: raw.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
                requests_per_minute: raw.requests_per_minute,
            })
        }
        other => Err(err(at, format!("unknown embedder {other:?}")).hint("use lexical, minilm or remote")),
    }
}

impl Config {
    /// The embedder this configuration asks for (keys must be resolved first).
    pub fn embedder_spec(&self) -> crate::embed::EmbedderSpec {
        use crate::embed::{EmbedderSpec, remote::RemoteSpec};
        match &self.embed {
            EmbedConfig::Lexical => EmbedderSpec::Lexical,
            EmbedConfig::MiniLm { model_dir } => EmbedderSpec::MiniLm { model_dir: model_dir.clone() },
            EmbedConfig::MiniLmHub(model) => EmbedderSpec::MiniLmHub(model.clone()),
            EmbedConfig::Remote { base_url, model, timeout_s, max_retries, requests_per_minute, .. } => {
                EmbedderSpec::Remote(RemoteSpec {
                    base_url: base_url.clone(),
                    model: model.clone(),
                    api_key: self.embed_api_key.clone(),
                    timeout: Duration::from_secs_f64(*timeout_s),
                    max_retries: *max_retries,
                    requests_per_minute: *requests_per_minute,
                })
            }
        }
    }
}

fn validate_base_url(url: &str, provider: Provider) -> Result<String, (String, String)> {
    let url = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        (
            format!("base_url {url:?} is not a URL: {e}"),
            "write it in full, e.g. \"https://api.openai.com/v1\"".to_owned(),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err((
            format!("base_url {url:?} must start with http:// or https://"),
            "hivewatch speaks HTTP(S) only".to_owned(),
        ));
    }
    if parsed.query().is_some() {
        return Err((
            "base_url must not carry a query string".to_owned(),
            "keys go in the environment variable named by api_key_env, never in the URL".to_owned(),
        ));
    }
    match provider {
        Provider::Openai if !url.ends_with("/v1") && !url.contains("/v1/") && !url.ends_with("/openai") => {
            tracing::warn!(
                "base_url {url} for an OpenAI-compatible endpoint does not end in /v1; requests go to {url}/chat/completions"
            );
        }
        Provider::Anthropic | Provider::Gemini
            if parsed.path().trim_end_matches('/').ends_with("/v1") || parsed.path().ends_with("/v1beta") =>
        {
            return Err((
                format!("base_url {url:?} includes the API version"),
                format!(
                    "for provider {} write the host root, as its SDK takes it, e.g. \"https://api.anthropic.com\"",
                    provider.as_str()
                ),
            ));
        }
        _ => {}
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[run]
suite = "probes/core"
samples = 2
output = "reports"

[[endpoints]]
name = "acme-large"
provider = "openai"
base_url = "http://127.0.0.1:8080/v1"
model = "acme-large"
api_key_env = "ACME_KEY"
"#;

    fn parse(src: &str) -> Result<Config, InputError> {
        Config::parse(Path::new("/etc/hw/hivewatch.toml"), src)
    }

    #[test]
    fn the_issue_example_parses_with_defaults() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.samples, 2);
        assert_eq!(c.suite_dir, Path::new("/etc/hw/probes/core"));
        assert_eq!(c.output, Path::new("/etc/hw/reports"));
        let ep = &c.endpoints[0];
        assert_eq!(ep.provider, Provider::Openai);
        assert_eq!(ep.sampling.max_tokens, DEFAULT_MAX_TOKENS);
        assert_eq!(ep.limits.max_retries, DEFAULT_MAX_RETRIES);
    }

    #[test]
    fn unknown_provider_names_the_line() {
        let e = parse(&GOOD.replace("\"openai\"", "\"openia\"")).unwrap_err();
        assert_eq!(e.line, Some(9), "{e}");
        assert!(e.message.contains("openia"), "{e}");
        assert!(e.to_string().starts_with("/etc/hw/hivewatch.toml:9:"), "{e}");
    }

    #[test]
    fn duplicate_endpoint_names_are_refused() {
        let src = format!(
            "{GOOD}\n[[endpoints]]\nname = \"acme-large\"\nprovider = \"openai\"\nbase_url = \"http://x/v1\"\nmodel = \"m\"\n"
        );
        let e = parse(&src).unwrap_err();
        assert!(e.message.contains("used twice (first on line 8)"), "{e}");
        assert_eq!(e.line, Some(15));
    }

    #[test]
    fn unknown_field_is_refused_with_hint() {
        let e = parse(&GOOD.replace("model = ", "modle = ")).unwrap_err();
        assert!(e.message.contains("modle"), "{e}");
        assert!(e.hint.is_some());
    }

    #[test]
    fn missing_keys_are_all_reported_and_never_printed() {
        let mut c = parse(GOOD).unwrap();
        let e = c.resolve_keys(|_| None).unwrap_err();
        assert!(e.message.contains("ACME_KEY"), "{e}");
        let mut c = parse(GOOD).unwrap();
        c.resolve_keys(|_| Some("sk-secret-123456".into())).unwrap();
        assert!(!format!("{c:?}").contains("sk-secret"));
        assert!(!serde_json::to_string(&c).unwrap().contains("sk-secret"));
    }

    #[test]
    fn anthropic_base_url_with_version_is_refused() {
        let src = GOOD.replace("\"openai\"", "\"anthropic\"");
        let e = parse(&src).unwrap_err();
        assert!(e.message.contains("includes the API version"), "{e}");
    }

    #[test]
    fn bad_values_name_their_line() {
        let e = parse(&GOOD.replace("samples = 2", "samples = 0")).unwrap_err();
        assert_eq!(e.line, Some(4));
        let src = GOOD.replace("api_key_env = \"ACME_KEY\"", "api_key_env = \"ACME_KEY\"\ntemperature = 3.5");
        assert_eq!(parse(&src).unwrap_err().line, Some(13));
    }
}
