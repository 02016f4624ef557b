//! `[[endpoints]]`, `[sampling]` and `[limits]`: one model endpoint each, its sampling and its
//! limits (an endpoint's own keys override the shared tables). Every number is checked against
//! bounds here, so no value can overflow a duration or a rate later.

use std::ops::Range;
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::{Provider, validate_base_url};
use crate::input::{InputError, number};
use crate::secrets::SecretKey;

const DEFAULT_MAX_TOKENS: u32 = 512;
const DEFAULT_TEMPERATURE: f64 = 0.7;
const DEFAULT_ENDPOINT_CONCURRENCY: u32 = 4;
pub(crate) const DEFAULT_TIMEOUT_S: f64 = 60.0;
pub(crate) const DEFAULT_MAX_RETRIES: u32 = 4;
const DEFAULT_MAX_REQUEST_S: f64 = 300.0;

/// The largest values that still mean something: beyond them a setting is a typo, and some
/// would overflow a duration or spawn without bound.
pub(crate) const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
pub(crate) const MAX_RETRIES: u32 = 100;
pub(crate) const MAX_CONCURRENCY: u32 = 10_000;
/// requests_per_minute from one a week (below that the spacing is past any run) to 1e6.
pub(crate) const RATE_RANGE: (f64, f64) = (60.0 / MAX_SECONDS, 1e6);
const MAX_TOKENS: u32 = 10_000_000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSampling {
    temperature: Option<Spanned<f64>>,
    top_p: Option<Spanned<f64>>,
    max_tokens: Option<Spanned<u32>>,
    seed: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    max_concurrency: Option<Spanned<u32>>,
    requests_per_minute: Option<Spanned<f64>>,
    timeout_s: Option<Spanned<f64>>,
    max_retries: Option<Spanned<u32>>,
    max_request_s: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoint {
    pub(super) name: Spanned<String>,
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
    max_retries: Option<Spanned<u32>>,
    max_request_s: Option<Spanned<f64>>,
    // Descriptive metadata, carried into the reports.
    vendor: Option<String>,
    family: Option<String>,
    release_date: Option<Spanned<String>>,
    #[serde(default)]
    parents: Vec<String>,
}

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

/// Facts about a model that the reports carry along and the lineage stage compares with what
/// it measures.
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
    /// Filled from the environment by [`super::Config::resolve_keys`]; never serialised.
    #[serde(skip)]
    pub api_key: Option<SecretKey>,
    pub sampling: Sampling,
    pub limits: Limits,
    pub meta: EndpointMeta,
}

/// A model's `release_date`, YYYY-MM-DD.
/// A date after tomorrow (UTC) is refused: a release date is when a model came out.
pub(crate) fn release_date(d: &Spanned<String>, err: ErrAt) -> Result<NaiveDate, InputError> {
    let date = NaiveDate::parse_from_str(d.get_ref(), "%Y-%m-%d").map_err(|_| {
        err(d.span(), format!("release_date {:?} is not a date", d.get_ref())).hint("write it as YYYY-MM-DD")
    })?;
    let latest = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    if date > latest {
        return Err(err(d.span(), format!("release_date {date} is in the future"))
            .hint("a release date is the day the model came out: write that day, or leave release_date out"));
    }
    Ok(date)
}

/// Refuses lineage that contradicts itself: a model declared its own parent, or models that
/// are each other's parents, however long the loop. `models` is (name, its parents, the line of
/// its declaration), every declared model of one file.
pub(crate) fn check_parents(path: &std::path::Path, models: &[(&str, &[String], usize)]) -> Result<(), InputError> {
    let parents: std::collections::HashMap<&str, &[String]> = models.iter().map(|(n, p, _)| (*n, *p)).collect();
    for &(name, own, line) in models {
        if own.iter().any(|p| p == name) {
            return Err(InputError::new(path, Some(line), format!("{name} is declared its own parent"))
                .hint("a parent is the model it was derived from: another model"));
        }
        // Follow the parents from `name`; reaching `name` again is a loop.
        let mut chain = vec![name];
        let mut frontier: Vec<(&str, usize)> = own.iter().map(|p| (p.as_str(), 1)).collect();
        let mut seen = std::collections::HashSet::new();
        while let Some((at, depth)) = frontier.pop() {
            chain.truncate(depth);
            chain.push(at);
            if at == name {
                return Err(InputError::new(
                    path,
                    Some(line),
                    format!("{} are each other's parents: a model cannot descend from itself", chain.join(" -> ")),
                )
                .hint("keep the parent that is the older model, and drop the other declaration"));
            }
            if seen.insert(at) {
                frontier.extend(parents.get(at).into_iter().flat_map(|ps| ps.iter()).map(|p| (p.as_str(), depth + 1)));
            }
        }
    }
    Ok(())
}

/// Turns a span of the file into an error at its line.
pub(crate) type ErrAt<'a> = &'a dyn Fn(Range<usize>, String) -> InputError;

/// A number of the file, checked to lie in `lo..=hi` (NaN and infinities refused).
pub(crate) fn bounded_f64(v: &Spanned<f64>, what: &str, lo: f64, hi: f64, err: ErrAt) -> Result<f64, InputError> {
    let x = *v.get_ref();
    if x.is_finite() && (lo..=hi).contains(&x) {
        Ok(x)
    } else {
        Err(err(v.span(), format!("{what} {} is outside {}..={}", number(x), number(lo), number(hi)))
            .hint("README's configuration reference gives each setting's range"))
    }
}

pub(crate) fn bounded_u32(v: &Spanned<u32>, what: &str, lo: u32, hi: u32, err: ErrAt) -> Result<u32, InputError> {
    let x = *v.get_ref();
    if (lo..=hi).contains(&x) {
        Ok(x)
    } else {
        Err(err(v.span(), format!("{what} {x} is outside {lo}..={hi}"))
            .hint("README's configuration reference gives each setting's range"))
    }
}

/// A number of seconds in (0, [`MAX_SECONDS`]] as a duration.
pub(crate) fn seconds(v: &Spanned<f64>, what: &str, err: ErrAt) -> Result<Duration, InputError> {
    let s = *v.get_ref();
    if !(s > 0.0 && s <= MAX_SECONDS) {
        return Err(err(
            v.span(),
            format!("{what} {} must be a positive number of seconds, at most {MAX_SECONDS} (a week)", number(s)),
        ));
    }
    Ok(Duration::from_secs_f64(s))
}

/// A rate in requests per minute within [`RATE_RANGE`].
pub(crate) fn rate(v: &Spanned<f64>, err: ErrAt) -> Result<f64, InputError> {
    let (lo, hi) = RATE_RANGE;
    bounded_f64(v, "requests_per_minute", lo, hi, err).map_err(|e| e.hint("leave it out for no limit"))
}

/// Checks the NAME of an environment variable, never echoing what was written: a URL or a key
/// pasted there by mistake must not reach a log.
pub(crate) fn variable_name(v: &Spanned<String>, key: &str, err: ErrAt) -> Result<String, InputError> {
    let var = v.get_ref().trim();
    if !var.is_empty() && var.len() <= 128 && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(var.to_owned());
    }
    Err(err(v.span(), format!("{key} is not an environment variable name (what is written there is not repeated here, in case it is a secret)"))
        .hint(format!("write the NAME of the variable that holds the secret, e.g. {key} = \"MY_SECRET\"; never the secret itself")))
}

/// One endpoint, its own settings over the shared `[sampling]` and `[limits]`.
pub(super) fn parse_endpoint(
    ep: RawEndpoint,
    sampling: &RawSampling,
    limits: &RawLimits,
    line: usize,
    path: &std::path::Path,
    err: ErrAt,
) -> Result<Endpoint, InputError> {
    let name = ep.name.get_ref().trim().to_owned();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c)) {
        return Err(err(ep.name.span(), format!("endpoint name {name:?} is not usable"))
            .hint("use letters, digits and - _ . : / only"));
    }
    let base_url = validate_base_url(ep.base_url.get_ref(), ep.provider)
        .map_err(|(msg, hint)| err(ep.base_url.span(), msg).hint(hint))?;
    if ep.model.trim().is_empty() {
        return Err(InputError::new(path, Some(line), format!("endpoint {name:?} has an empty model")));
    }
    let api_key_env = ep.api_key_env.as_ref().map(|v| variable_name(v, "api_key_env", err)).transpose()?;

    // An endpoint's own value, else the shared table's.
    fn pick<'a, T>(own: &'a Option<Spanned<T>>, shared: &'a Option<Spanned<T>>) -> Option<&'a Spanned<T>> {
        own.as_ref().or(shared.as_ref())
    }
    let temperature = match pick(&ep.temperature, &sampling.temperature) {
        Some(t) => Some(bounded_f64(t, "temperature", 0.0, 2.0, err)?),
        None => Some(DEFAULT_TEMPERATURE),
    };
    let top_p = match pick(&ep.top_p, &sampling.top_p) {
        Some(p) if !(*p.get_ref() > 0.0 && *p.get_ref() <= 1.0) => {
            return Err(err(p.span(), format!("top_p {} is outside (0, 1]", number(*p.get_ref()))));
        }
        other => other.map(|p| *p.get_ref()),
    };
    let max_tokens = match pick(&ep.max_tokens, &sampling.max_tokens) {
        Some(m) => bounded_u32(m, "max_tokens", 1, MAX_TOKENS, err)?,
        None => DEFAULT_MAX_TOKENS,
    };
    let sampling = Sampling { temperature, top_p, max_tokens, seed: ep.seed.or(sampling.seed) };

    let max_concurrency = match pick(&ep.max_concurrency, &limits.max_concurrency) {
        Some(c) => bounded_u32(c, "max_concurrency", 1, MAX_CONCURRENCY, err)?,
        None => DEFAULT_ENDPOINT_CONCURRENCY,
    };
    let requests_per_minute =
        pick(&ep.requests_per_minute, &limits.requests_per_minute).map(|r| rate(r, err)).transpose()?;
    let or_default = |v: Option<&Spanned<f64>>, what: &str, default: f64| match v {
        Some(v) => seconds(v, what, err),
        None => Ok(Duration::from_secs_f64(default)),
    };
    let timeout = or_default(pick(&ep.timeout_s, &limits.timeout_s), "timeout_s", DEFAULT_TIMEOUT_S)?;
    let max_request_time =
        or_default(pick(&ep.max_request_s, &limits.max_request_s), "max_request_s", DEFAULT_MAX_REQUEST_S)?;
    let max_retries = match pick(&ep.max_retries, &limits.max_retries) {
        Some(r) => bounded_u32(r, "max_retries", 0, MAX_RETRIES, err)?,
        None => DEFAULT_MAX_RETRIES,
    };
    let limits = Limits { max_concurrency, requests_per_minute, timeout, max_retries, max_request_time };

    let release_date = ep.release_date.as_ref().map(|d| release_date(d, err)).transpose()?;

    Ok(Endpoint {
        name,
        provider: ep.provider,
        base_url,
        model: ep.model.trim().to_owned(),
        api_key_env,
        api_key: None,
        sampling,
        limits,
        meta: EndpointMeta { vendor: ep.vendor, family: ep.family, release_date, parents: ep.parents },
    })
}
