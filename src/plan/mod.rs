//! The plan: endpoints x probes x samples, the run's identity, and the parameters each request
//! will actually carry.

pub mod member_runs;
pub mod probe_table;
pub mod runs;

use serde::{Deserialize, Serialize};

use crate::config::{Config, Endpoint, Provider};
use crate::probes::Suite;

/// The sampling parameters as they go over the wire for one request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SentParams {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: u32,
    pub seed: Option<u64>,
}

impl SentParams {
    /// What endpoint `ep` is sent for sample `sample`. Anthropic's API has no seed, so none is
    /// recorded for it.
    pub fn for_sample(ep: &Endpoint, sample: u32) -> Self {
        let seed = match ep.provider {
            Provider::Anthropic => None,
            Provider::Openai | Provider::Gemini => ep.sampling.seed.map(|s| s.wrapping_add(u64::from(sample))),
        };
        SentParams {
            temperature: ep.sampling.temperature,
            top_p: ep.sampling.top_p,
            max_tokens: ep.sampling.max_tokens,
            seed,
        }
    }
}

/// One request of the plan, by index into the plan's endpoints and the suite's probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey {
    pub endpoint: u32,
    pub probe: u32,
    pub sample: u32,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub config: Config,
    pub suite: Suite,
    /// Hash of the configuration's content (see [`Config::content_hash`]).
    pub config_hash: String,
    /// What the configuration measures ([`measured`]), kept in a run's state so that a run
    /// not resumed can say what changed.
    pub measured: serde_json::Value,
    /// Identifies "the same command": an unfinished run with this fingerprint is resumed. A
    /// hash of what is measured and the suite id: limits, concurrency and where the suite is
    /// read from are left out, so changing them resumes the night.
    pub fingerprint: String,
}

/// What `run --dry-run` shows for one endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointEstimate {
    pub endpoint: String,
    pub provider: &'static str,
    pub model: String,
    pub requests: u64,
    /// Rough: 4 characters a token, system prompt included.
    pub est_prompt_tokens: u64,
    /// Upper bound: max_tokens per request.
    pub max_completion_tokens: u64,
}

/// What `run --dry-run` says of a night's duration ([`Plan::duration_estimate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DurationEstimate {
    /// The lower bound from the rate limits, in seconds, and the endpoint that sets it (`None`:
    /// no endpoint has a rate limit).
    pub by_rate: Option<(f64, String)>,
    /// Seconds, if every answer took the latency asked for.
    pub at_latency: f64,
}

impl Plan {
    pub fn new(config: Config, suite: Suite) -> Self {
        let config_hash = config.content_hash();
        let measured = measured(&config);
        let fingerprint = crate::util::sha256_hex(format!("{measured}:{}", suite.id).as_bytes())[..16].to_owned();
        Plan { config, suite, config_hash, measured, fingerprint }
    }

    pub fn samples(&self) -> u32 {
        self.config.samples
    }

    /// What makes two runs' sampling comparable: the samples per probe and the distinct
    /// (temperature, top_p, max_tokens) settings across endpoints. Seeds are left out (a new
    /// seed resamples, it does not change the instrument), and so are the endpoints themselves:
    /// models joining or leaving is what the trends are there to see.
    pub fn sampling_id(&self) -> String {
        let mut settings: Vec<String> = self
            .config
            .endpoints
            .iter()
            .map(|ep| format!("{:?}/{:?}/{}", ep.sampling.temperature, ep.sampling.top_p, ep.sampling.max_tokens))
            .collect();
        settings.sort();
        settings.dedup();
        crate::util::sha256_hex(format!("samples={};{}", self.samples(), settings.join(";")).as_bytes())[..16]
            .to_owned()
    }

    pub fn requests_per_endpoint(&self) -> u64 {
        self.suite.probes.len() as u64 * u64::from(self.samples())
    }

    pub fn total_requests(&self) -> u64 {
        self.requests_per_endpoint() * self.config.endpoints.len() as u64
    }

    /// Every request of one endpoint, probe-major, so partial progress covers whole probes.
    pub fn keys_of_endpoint(&self, endpoint: u32) -> impl Iterator<Item = RequestKey> + use<> {
        let probes = self.suite.probes.len() as u32;
        let samples = self.samples();
        (0..probes).flat_map(move |probe| (0..samples).map(move |sample| RequestKey { endpoint, probe, sample }))
    }

    /// How long the night takes at least by its rate limits alone (the slowest endpoint: its
    /// requests evenly spaced at its `requests_per_minute`, the first at once), and about how
    /// long if every answer took `latency_s`, with each endpoint's concurrency and the run's cap.
    pub fn duration_estimate(&self, latency_s: f64) -> DurationEstimate {
        let n = self.requests_per_endpoint() as f64;
        let mut by_rate: Option<(f64, String)> = None;
        let mut at_latency = self.total_requests() as f64 * latency_s / f64::from(self.config.max_concurrency);
        for ep in &self.config.endpoints {
            let rate_s = ep.limits.requests_per_minute.map(|rpm| (n - 1.0).max(0.0) * 60.0 / rpm);
            if let Some(t) = rate_s
                && by_rate.as_ref().is_none_or(|(slowest, _)| t > *slowest)
            {
                by_rate = Some((t, ep.name.clone()));
            }
            let by_concurrency = n * latency_s / f64::from(ep.limits.max_concurrency);
            at_latency = at_latency.max(by_concurrency.max(rate_s.unwrap_or(0.0)));
        }
        DurationEstimate { by_rate, at_latency }
    }

    pub fn estimates(&self) -> Vec<EndpointEstimate> {
        let prompt_chars: u64 =
            self.suite.probes.iter().map(|p| (p.prompt.len() + p.system.as_ref().map_or(0, String::len)) as u64).sum();
        let samples = u64::from(self.samples());
        self.config
            .endpoints
            .iter()
            .map(|ep| EndpointEstimate {
                endpoint: ep.name.clone(),
                provider: ep.provider.as_str(),
                model: ep.model.clone(),
                requests: self.requests_per_endpoint(),
                est_prompt_tokens: prompt_chars.div_ceil(4) * samples,
                max_completion_tokens: u64::from(ep.sampling.max_tokens) * self.requests_per_endpoint(),
            })
            .collect()
    }
}

/// What a configuration measures: its content (as [`Config::content_hash`] sees it) without what
/// only paces a night (`[run] max_concurrency`, `[limits]` and each endpoint's own limits:
/// concurrency, rate, timeouts, retries) and without where the suite is read from (the suite id
/// stands for its content), endpoints in name order. Two configurations equal here send the same
/// requests.
pub fn measured(config: &Config) -> serde_json::Value {
    let mut v = serde_json::to_value(config).expect("config serialises");
    if let Some(map) = v.as_object_mut() {
        map.remove("max_concurrency");
        map.remove("suite_dir");
        if let Some(endpoints) = map.get_mut("endpoints").and_then(|e| e.as_array_mut()) {
            for ep in endpoints.iter_mut().filter_map(|e| e.as_object_mut()) {
                ep.remove("limits");
            }
            // Their order in the file measures nothing either.
            endpoints
                .sort_by(|a, b| a.get("name").and_then(|n| n.as_str()).cmp(&b.get("name").and_then(|n| n.as_str())));
        }
    }
    v
}

/// What differs between two [`measured`] views, as people name it: a top-level key
/// (`samples`, `embed`, ...), or an endpoint's added, removed or changed keys.
pub fn what_changed(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let empty = serde_json::Map::new();
    let (old, new) = (old.as_object().unwrap_or(&empty), new.as_object().unwrap_or(&empty));
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys.into_iter().filter(|k| old.get(*k) != new.get(*k)) {
        if key != "endpoints" {
            out.push(key.clone());
            continue;
        }
        let by_name = |v: Option<&Value>| -> Vec<(String, serde_json::Map<String, Value>)> {
            let list = v.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            list.iter().filter_map(|e| Some((e.get("name")?.as_str()?.to_owned(), e.as_object()?.clone()))).collect()
        };
        let (was, is, before) = (by_name(old.get(key)), by_name(new.get(key)), out.len());
        for (name, ep) in &is {
            match was.iter().find(|(n, _)| n == name) {
                None => out.push(format!("endpoint {name} added")),
                Some((_, before)) => {
                    let fields: Vec<&str> =
                        ep.keys().filter(|f| before.get(*f) != ep.get(*f)).map(String::as_str).collect();
                    if !fields.is_empty() {
                        out.push(format!("endpoint {name}: {}", fields.join(", ")));
                    }
                }
            }
        }
        out.extend(
            was.iter().filter(|(n, _)| !is.iter().any(|(m, _)| m == n)).map(|(n, _)| format!("endpoint {n} removed")),
        );
        if out.len() == before {
            out.push(key.clone());
        }
        // The same change on every endpoint (a shared [sampling] key) is said once.
        let mut changes: Vec<&str> = out[before..].iter().filter_map(|c| c.split_once(": ").map(|(_, f)| f)).collect();
        let n = changes.len();
        changes.dedup();
        if n > 1 && n == is.len() && n == out.len() - before && changes.len() == 1 {
            let said = format!("every endpoint: {}", changes[0]);
            out.truncate(before);
            out.push(said);
        }
    }
    // A long list: its first items, then how many more.
    if out.len() > 6 {
        let more = out.len() - 5;
        out.truncate(5);
        out.push(format!("{more} more"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "[run]\nsuite = \"probes/core\"\nmax_concurrency = 8\n\n[limits]\nrequests_per_minute = 60\n\n[[endpoints]]\nname = \"b\"\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"b\"\n\n[[endpoints]]\nname = \"a\"\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"a\"\nrequests_per_minute = 30\n";

    fn plan(text: &str) -> Plan {
        let config = Config::parse(std::path::Path::new("/etc/hw/hivewatch.toml"), text).unwrap();
        Plan::new(config, crate::probes::builtin::suite("contagion").unwrap())
    }

    #[test]
    fn limits_concurrency_order_and_the_suite_reference_measure_nothing() {
        let base = plan(CONFIG);
        let paced = CONFIG
            .replace("max_concurrency = 8", "max_concurrency = 100")
            .replace("requests_per_minute = 60", "requests_per_minute = 6000\ntimeout_s = 5\nmax_retries = 1")
            .replace("requests_per_minute = 30", "max_concurrency = 1");
        assert_eq!(plan(&paced).fingerprint, base.fingerprint);
        let (b, a) = CONFIG.split_at(CONFIG.find("[[endpoints]]\nname = \"a\"").unwrap());
        let reordered =
            format!("{}{a}\n{}", &b[..b.find("[[endpoints]]").unwrap()], &b[b.find("[[endpoints]]").unwrap()..]);
        assert_eq!(plan(&reordered).fingerprint, base.fingerprint, "{reordered}");
        assert_eq!(plan(&CONFIG.replace("\"probes/core\"", "\"core\"")).fingerprint, base.fingerprint);

        let hotter = plan(&CONFIG.replace("model = \"a\"", "model = \"a\"\ntemperature = 1.2"));
        assert_ne!(hotter.fingerprint, base.fingerprint);
        assert_eq!(what_changed(&base.measured, &hotter.measured), ["endpoint a: sampling"]);
        let colder = plan(&CONFIG.replace("[limits]", "[sampling]\ntemperature = 0.1\n\n[limits]"));
        assert_eq!(what_changed(&base.measured, &colder.measured), ["every endpoint: sampling"]);
        let more = plan(&CONFIG.replace("max_concurrency = 8", "samples = 3"));
        assert_eq!(what_changed(&base.measured, &more.measured), ["samples"]);
        let fewer = plan(&CONFIG[..CONFIG.find("[[endpoints]]\nname = \"a\"").unwrap()]);
        assert_eq!(what_changed(&base.measured, &fewer.measured), ["endpoint a removed"]);
        assert_eq!(what_changed(&fewer.measured, &base.measured), ["endpoint a added"]);
    }

    #[test]
    fn the_least_duration_is_the_slowest_endpoint_at_its_rate() {
        let p = plan(CONFIG);
        let n = p.requests_per_endpoint() as f64;
        let e = p.duration_estimate(5.0);
        let (secs, name) = e.by_rate.unwrap();
        assert_eq!(name, "a");
        assert!((secs - (n - 1.0) * 2.0).abs() < 1e-9, "{secs}");
        // At 5 s an answer and 4 in flight an endpoint, b takes n * 5 / 4, a its rate's time.
        assert!((e.at_latency - secs.max(n * 5.0 / 4.0)).abs() < 1e-9);
        let unlimited =
            plan(&CONFIG.replace("requests_per_minute = 60\n", "").replace("requests_per_minute = 30\n", ""));
        assert_eq!(unlimited.duration_estimate(5.0).by_rate, None);
    }
}
