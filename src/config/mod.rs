//! `hivewatch.toml`: the run, the endpoints, their sampling and limits. Parsed and validated in
//! full before any request is sent; every error names the file, the line and the fix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

pub mod alerts;
pub mod embed;
pub mod endpoint;
pub mod incidents;
pub mod models;
pub mod output;
pub mod rules;

pub use embed::{EmbedConfig, HubModel};
pub use endpoint::{Endpoint, EndpointMeta, Limits, Sampling};
use endpoint::{MAX_CONCURRENCY, bounded_u32};
pub use output::{Consortium, EmbedBy, LexicalEmbeddings, OutputLocation, OutputOptions, PairCategories};

use crate::input::{InputError, LineIndex, line_of};
use crate::probes::builtin::SuiteRef;
use crate::secrets::SecretKey;

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
    sampling: endpoint::RawSampling,
    #[serde(default)]
    limits: endpoint::RawLimits,
    #[serde(default)]
    embed: embed::RawEmbed,
    #[serde(default)]
    features: RawFeatures,
    #[serde(default)]
    alerts: alerts::AlertConfig,
    /// `[[acknowledge]]`: decisions silencing incidents until a date.
    #[serde(default)]
    acknowledge: Vec<alerts::Acknowledgement>,
    #[serde(default)]
    endpoints: Vec<endpoint::RawEndpoint>,
    #[serde(default)]
    consortium: Option<output::RawConsortium>,
    /// `[output]`: what the tables keep.
    #[serde(default)]
    output: output::OutputOptions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeatures {
    lexicon: Option<String>,
    refusal: Option<RefusalMethod>,
    identity_rules: Option<String>,
}

/// Which refusal detector labels the `features` rows (`[features] refusal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefusalMethod {
    /// The logistic regression over an embedding and the lexicon's signals, with the built-in
    /// weights.
    Learned,
    /// The lexicon's rule alone.
    Lexicon,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    suite: Spanned<String>,
    #[serde(default = "default_samples")]
    samples: Spanned<u32>,
    #[serde(default = "default_output")]
    output: Spanned<String>,
    /// Journal, embedding cache, scratch and lock (default: beside a folder output, in the
    /// user's cache folder for an object-store one).
    state_dir: Option<String>,
    /// Cap on requests in flight across all endpoints.
    #[serde(default = "default_global_concurrency")]
    max_concurrency: Spanned<u32>,
}

fn default_samples() -> Spanned<u32> {
    Spanned::new(0..0, 2)
}
fn default_output() -> Spanned<String> {
    Spanned::new(0..0, "reports".into())
}
fn default_global_concurrency() -> Spanned<u32> {
    Spanned::new(0..0, 64)
}

// ---------------------------------------------------------------------------------------------
// The validated configuration.

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The file this came from; relative paths inside it are resolved against its folder.
    #[serde(skip)]
    pub path: PathBuf,
    /// `[run] suite`: a built-in suite's name or a folder (see [`crate::probes::builtin`]).
    #[serde(rename = "suite_dir")]
    pub suite: SuiteRef,
    pub samples: u32,
    /// Where the tables go: a folder or an object-store URL (`[run] output`).
    pub output: OutputLocation,
    /// `[run] state_dir`, when set: where the journal, embedding cache, scratch and lock live.
    /// Not part of the content hash (moving it must not turn tonight's run into a new one).
    #[serde(skip)]
    pub state_dir: Option<PathBuf>,
    pub max_concurrency: u32,
    pub embed: EmbedConfig,
    /// The behaviour lexicon file (`[features] lexicon`); the built-in one when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lexicon: Option<PathBuf>,
    /// The refusal detector (`[features] refusal`); when `None`, the learned one if its weights
    /// fit the lexicon, the lexicon's rule otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<RefusalMethod>,
    /// The identity rules file (`[features] identity_rules`); the built-in one when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_rules: Option<PathBuf>,
    /// `[alerts]`: rules and sinks. Not part of the content hash: changing a threshold must not
    /// turn tonight's unfinished run into a new one.
    #[serde(skip)]
    pub alerts: alerts::AlertConfig,
    /// The webhook URL, filled by [`Config::resolve_keys`] (a secret, like a key).
    #[serde(skip)]
    pub webhook_url: Option<SecretKey>,
    /// The remote embedder's key, filled by [`Config::resolve_keys`].
    #[serde(skip)]
    pub embed_api_key: Option<SecretKey>,
    pub endpoints: Vec<Endpoint>,
    /// `[consortium]`: this machine's member name and, for a coordinator, the members.
    #[serde(skip_serializing_if = "Consortium::is_empty")]
    pub consortium: Consortium,
    /// `[output]`: what the tables keep. Not part of the content hash (see [`OutputOptions`]).
    #[serde(skip)]
    pub keep: OutputOptions,
}

impl Config {
    /// Reads and validates a configuration file. Keys are not looked up here: see
    /// [`Config::resolve_keys`].
    pub fn load(path: &Path) -> Result<Self, InputError> {
        let source = crate::input::read_text_capped(path, crate::input::cap::CONFIG, "a configuration", |e| {
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

        let samples = bounded_u32(&raw.run.samples, "run.samples", 1, 1000, &err)
            .map_err(|e| e.hint("set samples = 2 or more to measure how a model varies with itself"))?;
        let max_concurrency = bounded_u32(&raw.run.max_concurrency, "run.max_concurrency", 1, MAX_CONCURRENCY, &err)?;
        if raw.run.suite.get_ref().trim().is_empty() {
            return Err(err(raw.run.suite.span(), "run.suite is empty".into()).hint(format!(
                "name a built-in suite ({}) or a probe suite folder, e.g. suite = \"probes/core\"",
                crate::probes::builtin::names()
            )));
        }
        let consortium = match &raw.consortium {
            Some(c) => {
                let mut consortium = output::parse_consortium(c, &err, &|e: InputError, h: &str| e.hint(h))?;
                let line = source.find("[consortium]").map(|at| line_of(source, at));
                output::parse_secrets(c, &mut consortium, path, line, &err)?;
                consortium
            }
            None => Consortium::default(),
        };
        // A coordinator's configuration needs no endpoints: it analyses what members send.
        if raw.endpoints.is_empty() && consortium.members.is_empty() {
            return Err(InputError::new(path, None, "no [[endpoints]] are configured")
                .hint("add at least one [[endpoints]] table with name, provider, base_url and model"));
        }
        let output = OutputLocation::parse(raw.run.output.get_ref(), &resolve)
            .map_err(|(message, hint)| err(raw.run.output.span(), message).hint(hint))?;

        let lines = LineIndex::new(source);
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut endpoints = Vec::with_capacity(raw.endpoints.len());
        for ep in raw.endpoints {
            let line = lines.line(ep.name.span().start);
            let span = ep.name.span();
            let endpoint = endpoint::parse_endpoint(ep, &raw.sampling, &raw.limits, line, path, &err)?;
            if let Some(first) = seen.insert(endpoint.name.clone(), line) {
                return Err(err(
                    span,
                    format!("endpoint name {:?} is used twice (first on line {first})", endpoint.name),
                )
                .hint("every endpoint needs its own name: it keys the rows in the reports"));
            }
            endpoints.push(endpoint);
        }
        let declared: Vec<(&str, &[String], usize)> =
            endpoints.iter().map(|e| (e.name.as_str(), e.meta.parents.as_slice(), seen[&e.name])).collect();
        endpoint::check_parents(path, &declared)?;

        let embed = embed::parse(&raw.embed, &err, &resolve)?;

        let mut alerts = raw.alerts;
        alerts.acknowledge.extend(raw.acknowledge);
        check_alerts(&alerts, path, source, &lines, &err)?;
        alerts.textfile = alerts.textfile.as_deref().map(|p| resolve(&p.to_string_lossy()));

        Ok(Config {
            embed,
            lexicon: raw.features.lexicon.as_deref().map(resolve),
            refusal: raw.features.refusal,
            identity_rules: raw.features.identity_rules.as_deref().map(resolve),
            alerts,
            webhook_url: None,
            embed_api_key: None,
            path: path.to_owned(),
            suite: SuiteRef::parse(raw.run.suite.get_ref(), resolve),
            samples,
            output,
            state_dir: raw.run.state_dir.as_deref().map(resolve),
            max_concurrency,
            endpoints,
            consortium,
            keep: raw.output,
        })
    }

    /// Looks up every endpoint's key in the environment. All missing variables are reported at
    /// once, before any request is sent; so is a value no HTTP header can carry (a control
    /// character: it would otherwise go out with no key at all). Values are never printed.
    pub fn resolve_keys(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<(), InputError> {
        let mut missing = Vec::new();
        let mut unusable = Vec::new();
        let mut secret = |var: &str, what: String| -> Option<SecretKey> {
            let value = lookup(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
            match value {
                Some(v) if v.chars().any(char::is_control) => {
                    unusable.push(what);
                    None
                }
                Some(v) => Some(SecretKey::new(v)),
                None => {
                    missing.push(what);
                    None
                }
            }
        };
        if let EmbedConfig::Remote { api_key_env: Some(var), .. } = &self.embed {
            self.embed_api_key = secret(var, format!("{var} ([embed])"));
        }
        if let Some(var) = &self.alerts.webhook_url_env {
            self.webhook_url = secret(var, format!("{var} ([alerts] webhook_url_env)"));
        }
        for ep in &mut self.endpoints {
            if let Some(var) = &ep.api_key_env {
                ep.api_key = secret(var, format!("{var} (endpoint {})", ep.name));
            }
        }
        output::resolve_secrets(&mut self.consortium, &mut secret);
        output::check_secret_lengths(&self.path, &self.consortium)?;
        if !unusable.is_empty() {
            return Err(InputError::new(
                &self.path,
                None,
                format!(
                    "these variables hold a control character (a newline?) that no HTTP header can carry: {}",
                    unusable.join(", ")
                ),
            )
            .hint("export the value again without line breaks or other control characters"));
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
    /// The probe suite `[run] suite` names, loaded (a folder of a built-in suite's name beside
    /// the file is warned about: the name wins).
    pub fn load_suite(&self) -> Result<crate::probes::Suite, InputError> {
        self.suite.warn_if_shadowing(self.path.parent().unwrap_or(Path::new(".")));
        self.suite.load()
    }

    pub fn content_hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("config serialises");
        crate::util::sha256_hex(&json)
    }
}

pub(crate) fn validate_base_url(url: &str, provider: Provider) -> Result<String, (String, String)> {
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

/// `[alerts]` (with the file's `[[acknowledge]]` entries) checked, errors at their line: the
/// levels and rules, and the name of the webhook's variable.
fn check_alerts(
    alerts: &alerts::AlertConfig,
    path: &Path,
    source: &str,
    lines: &LineIndex,
    err: &dyn Fn(std::ops::Range<usize>, String) -> InputError,
) -> Result<(), InputError> {
    alerts.validate().map_err(|message| {
        let table = if message.starts_with("[[acknowledge]]") { "[[acknowledge]]" } else { "[alerts" };
        InputError::new(path, source.find(table).map(|at| lines.line(at)), message)
            .hint("README's configuration reference lists the alert rules and their levels")
    })?;
    if let Some(var) = &alerts.webhook_url_env {
        // Named without its span by serde: point at its line when it can be found.
        let at = source.find("webhook_url_env").unwrap_or(0);
        endpoint::variable_name(&Spanned::new(at..at, var.clone()), "webhook_url_env", err)?;
    }
    if let Some(base) = &alerts.report_base_url {
        let url = reqwest::Url::parse(base).ok();
        let usable = url.is_some_and(|u| {
            ["http", "https"].contains(&u.scheme())
                && u.username().is_empty()
                && u.password().is_none()
                && u.query().is_none()
                && u.fragment().is_none()
        });
        if !usable {
            let line = source.find("report_base_url").map(|at| lines.line(at));
            return Err(InputError::new(path, line, "[alerts] report_base_url is not an http(s) URL without credentials, query or fragment (its value is not repeated here)")
                .hint("write where the output's html/ folder is served, e.g. \"https://reports.example.org/hivewatch/\", or leave it out (no link)"));
        }
    }
    Ok(())
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
        assert_eq!(c.suite, SuiteRef::Folder("/etc/hw/probes/core".into()));
        assert_eq!(c.output, OutputLocation::Dir("/etc/hw/reports".into()));
        assert_eq!(c.state_dir, None);
        assert!(c.consortium.is_empty());
        let ep = &c.endpoints[0];
        assert_eq!(ep.provider, Provider::Openai);
        assert_eq!(ep.sampling.max_tokens, 512);
        assert_eq!(ep.limits.max_retries, endpoint::DEFAULT_MAX_RETRIES);
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
    fn the_refusal_detector_is_chosen_in_features_and_hashed_only_when_set() {
        let default = parse(GOOD).unwrap();
        assert_eq!(default.refusal, None);
        let lexicon = parse(&format!("{GOOD}\n[features]\nrefusal = \"lexicon\"\n")).unwrap();
        assert_eq!(lexicon.refusal, Some(RefusalMethod::Lexicon));
        assert_ne!(lexicon.content_hash(), default.content_hash());
        // Unset, the hash is what it was before the key existed.
        assert!(!serde_json::to_string(&default).unwrap().contains("refusal"));
        let e = parse(&format!("{GOOD}\n[features]\nrefusal = \"regex\"\n")).unwrap_err();
        assert!(e.message.contains("learned") && e.line.is_some(), "{e}");
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
    fn consortium_roles_and_object_store_outputs() {
        let src = GOOD.replace("output = \"reports\"", "output = \"s3://bucket/hw\"\nstate_dir = \"state\"");
        let src = format!("{src}\n[consortium]\nmember = \"lab-a\"\nsecret_env = \"LAB_A_SECRET\"\n");
        let c = parse(&src).unwrap();
        assert_eq!(c.output, OutputLocation::Url("s3://bucket/hw".into()));
        assert_eq!(c.state_dir.as_deref(), Some(Path::new("/etc/hw/state")));
        assert_eq!(c.consortium.member.as_deref(), Some("lab-a"));
        // A coordinator needs no endpoints.
        let coordinator = "[run]\nsuite = \"probes/core\"\noutput = \"s3://b/p\"\n[consortium]\nmembers = [\"lab-a\", \"lab-b\"]\nsecrets_env = { lab-a = \"A_SECRET\", lab-b = \"B_SECRET\" }\n";
        assert_eq!(parse(coordinator).unwrap().consortium.members, ["lab-a", "lab-b"]);
        // Issue 26, item 1: a member signs, and the coordinator holds every member's secret.
        let e = parse(&src.replace("secret_env = \"LAB_A_SECRET\"\n", "")).unwrap_err().to_string();
        assert!(e.contains("names no secret_env"), "{e}");
        let e = parse(&coordinator.replace(", lab-b = \"B_SECRET\"", "")).unwrap_err().to_string();
        assert!(e.contains("no secret for lab-b"), "{e}");
        let e = parse(&coordinator.replace("lab-b = \"B_SECRET\"", "lab-b = \"s3cr3t value\"")).unwrap_err();
        assert!(e.to_string().contains("not an environment variable name") && !e.to_string().contains("s3cr3t"), "{e}");
        let mut c = parse(coordinator).unwrap();
        let env = |v: &str| {
            (v == "A_SECRET" || v == "B_SECRET")
                .then(|| if v == "A_SECRET" { "short" } else { "long-enough-secret-of-b" }.to_owned())
        };
        let e = c.resolve_keys(env).unwrap_err().to_string();
        assert!(e.contains("A_SECRET") && !e.contains("short") && !e.contains("long-enough"), "{e}");
        let e = parse(&coordinator.replace("\"lab-b\"", "\"Lab B\"")).unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.to_string().contains("member name"), "{e}");
        let e = parse(&GOOD.replace("\"reports\"", "\"s3://key:secret@bucket/p\"")).unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert!(!e.to_string().contains("secret@"), "the message never repeats a credential: {e}");
    }

    #[test]
    fn a_folder_output_keeps_its_content_hash() {
        // The hash of a configuration written before outputs could be URLs: the same JSON.
        let c = parse(GOOD).unwrap();
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["output"], "/etc/hw/reports");
        assert!(json.get("consortium").is_none());
    }

    #[test]
    fn output_pair_categories_is_read_and_not_hashed() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.keep.pair_categories, PairCategories::Auto);
        let never = parse(&format!("{GOOD}\n[output]\npair_categories = \"never\"\n")).unwrap();
        assert_eq!(never.keep.pair_categories, PairCategories::Never);
        assert_eq!(never.content_hash(), c.content_hash(), "what is stored is not what is measured");
        let e = parse(&format!("{GOOD}\n[output]\npair_categories = \"some\"\n")).unwrap_err();
        assert!(e.to_string().contains("auto") && e.line.is_some(), "{e}");
    }

    #[test]
    fn anthropic_base_url_with_version_is_refused() {
        let src = GOOD.replace("\"openai\"", "\"anthropic\"");
        let e = parse(&src).unwrap_err();
        assert!(e.message.contains("includes the API version"), "{e}");
    }

    /// Issue 16, item 5: numbers that overflowed a duration or a rate (a panic at load, or in a
    /// worker), spawned tasks without bound, or passed and failed every night. Each is refused
    /// at load, with its line.
    #[test]
    fn every_number_is_bounded_and_refused_with_its_line() {
        let endpoint_line =
            |extra: &str| GOOD.replace("api_key_env = \"ACME_KEY\"", &format!("api_key_env = \"ACME_KEY\"\n{extra}"));
        let embed = |extra: &str| {
            format!(
                "{GOOD}\n[embed]\nembedder = \"remote\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"e\"\n{extra}\n"
            )
        };
        let limits = |extra: &str| GOOD.replace("[[endpoints]]", &format!("[limits]\n{extra}\n\n[[endpoints]]"));
        let cases = [
            (endpoint_line("timeout_s = 1e30"), 13),
            (endpoint_line("max_request_s = 1e300"), 13),
            (endpoint_line("requests_per_minute = 1e-300"), 13),
            (endpoint_line("timeout_s = nan"), 13),
            (endpoint_line("max_concurrency = 4000000000"), 13),
            (endpoint_line("max_retries = 4000000000"), 13),
            (GOOD.replace("samples = 2", "samples = 2\nmax_concurrency = 4000000000"), 5),
            (limits("timeout_s = -1"), 8),
            (limits("requests_per_minute = inf"), 8),
            (embed("timeout_s = 0"), 18),
            (embed("timeout_s = 1e300"), 18),
            (embed("requests_per_minute = 1e300"), 18),
            (embed("max_retries = 4000000000"), 18),
        ];
        for (src, line) in cases {
            let what = src.lines().nth(line - 1).unwrap_or_default().to_owned();
            let e = parse(&src).expect_err(&what);
            assert_eq!(e.line, Some(line), "{what}: {e}");
        }
    }

    /// Issue 30, item 16: `[alerts] report_base_url`, the webhook's link to the report.
    #[test]
    fn the_report_base_url_is_an_http_url() {
        let cfg = parse(&format!("{GOOD}\n[alerts]\nreport_base_url = \"https://reports.example.org/hw/\"\n")).unwrap();
        assert_eq!(cfg.alerts.report_base_url.as_deref(), Some("https://reports.example.org/hw/"));
        assert_eq!(parse(GOOD).unwrap().alerts.report_base_url, None, "absent: no link");
        for bad in ["reports/html", "ftp://x/y", "https://u:p@x/y"] {
            let e = parse(&format!("{GOOD}\n[alerts]\nreport_base_url = \"{bad}\"\n")).unwrap_err().to_string();
            assert!(e.contains("report_base_url") && e.contains("html/ folder is served"), "{e}");
            assert!(!e.contains("u:p@"), "{e}");
        }
    }

    /// Issue 16, item 3: a URL or a key pasted where a variable NAME goes is refused, and never
    /// repeated in the error; a key holding a control character is refused before any request,
    /// naming the variable, never the value.
    #[test]
    fn secrets_in_the_wrong_place_are_refused_without_being_echoed() {
        let hook = "https://hooks.slack.com/services/T0/B0/secretsecret";
        let e = parse(&format!("{GOOD}\n[alerts]\nwebhook_url_env = \"{hook}\"\n")).unwrap_err().to_string();
        assert!(
            e.contains("not an environment variable name") && !e.contains("hooks.slack") && !e.contains("secretsecret"),
            "{e}"
        );
        let key = "sk-live-pasted0123456789";
        let src = format!(
            "{GOOD}\n[embed]\nembedder = \"remote\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"e\"\napi_key_env = \"{key}\"\n"
        );
        let e = parse(&src).unwrap_err().to_string();
        assert!(e.contains("not an environment variable name") && !e.contains("pasted0123"), "{e}");
        let e = parse(&GOOD.replace("\"ACME_KEY\"", &format!("\"{key}\""))).unwrap_err().to_string();
        assert!(!e.contains("pasted0123"), "{e}");

        let mut c = parse(GOOD).unwrap();
        let e = c.resolve_keys(|_| Some("sk-good-part\nsk-rest".into())).unwrap_err().to_string();
        assert!(e.contains("ACME_KEY") && e.contains("control character") && !e.contains("sk-good"), "{e}");
        assert!(c.endpoints[0].api_key.is_none());
    }

    #[test]
    fn bad_values_name_their_line() {
        let e = parse(&GOOD.replace("samples = 2", "samples = 0")).unwrap_err();
        assert_eq!(e.line, Some(4));
        let src = GOOD.replace("api_key_env = \"ACME_KEY\"", "api_key_env = \"ACME_KEY\"\ntemperature = 3.5");
        assert_eq!(parse(&src).unwrap_err().line, Some(13));
    }
}
