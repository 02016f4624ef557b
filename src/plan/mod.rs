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
    /// Identifies "the same command": an unfinished run with this fingerprint is resumed.
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

impl Plan {
    pub fn new(config: Config, suite: Suite) -> Self {
        let config_hash = config.content_hash();
        let fingerprint = crate::util::sha256_hex(format!("{config_hash}:{}", suite.id).as_bytes())[..16].to_owned();
        Plan { config, suite, config_hash, fingerprint }
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
