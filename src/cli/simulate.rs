//! `hivewatch simulate serve`: the simulated ecosystem on a port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::exit;
use crate::say::say;
use crate::sim::SimConfig;
use crate::sim::faults::FaultSpec;

#[derive(Debug, Subcommand)]
pub enum SimulateCommand {
    /// Serve the OpenAI, Anthropic and Gemini protocols for synthetic models.
    Serve {
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Port; 0 picks a free one (the address is printed).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Fault rates, e.g. 429=0.2,500=0.1,malformed=0.05,hang=0.02,slow=0.1
        #[arg(long, default_value = "")]
        faults: String,
        /// Require the key held by this environment variable.
        #[arg(long)]
        api_key_env: Option<String>,
        /// Latency added to every answer, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Seconds announced in Retry-After on injected 429s.
        #[arg(long, default_value_t = 1.0)]
        retry_after_s: f64,
        /// A drifting-ecosystem scenario (TOML); its models answer as on --night.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// The scenario's night to serve.
        #[arg(long, default_value_t = 1)]
        night: u32,
    },
}

pub async fn command(command: SimulateCommand) -> Result<i32> {
    let SimulateCommand::Serve { host, port, faults, api_key_env, latency_ms, retry_after_s, scenario, night } =
        command;
    serve_simulator(host, port, &faults, api_key_env, latency_ms, retry_after_s, scenario, night).await
}

/// `hivewatch simulate serve`: the simulator on a port until Ctrl-C.
#[allow(clippy::too_many_arguments)]
async fn serve_simulator(
    host: std::net::IpAddr,
    port: u16,
    faults: &str,
    api_key_env: Option<String>,
    latency_ms: u64,
    retry_after_s: f64,
    scenario: Option<PathBuf>,
    night: u32,
) -> Result<i32> {
    let scenario = scenario.map(|p| crate::sim::scenario::Scenario::load(&p)).transpose()?.map(std::sync::Arc::new);
    let faults: FaultSpec = faults.parse()?;
    let api_key = match api_key_env {
        Some(var) => {
            Some(std::env::var(&var).with_context(|| format!("--api-key-env {var}: the variable is not set"))?)
        }
        None => None,
    };
    let config = SimConfig { faults, api_key, latency: Duration::from_millis(latency_ms), retry_after_s, scenario };
    let sim = crate::sim::start(SocketAddr::new(host, port), config)
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    sim.set_night(night);
    // Tests read this line to learn the port.
    say!("hivewatch simulator listening on http://{}", sim.addr);
    say!("base_url for each provider in [[endpoints]] (any model name; its family is the part before the first -):");
    say!("  provider = \"openai\"     base_url = \"{}\"", sim.openai_url());
    say!("  provider = \"anthropic\"  base_url = \"{}\"", sim.root_url());
    say!("  provider = \"gemini\"     base_url = \"{}\"", sim.root_url());
    say!("  [embed] embedder = \"remote\"  base_url = \"{}\"  model = \"sim-embed\"", sim.openai_url());
    say!("Ctrl-C stops it.");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    sim.stop().await;
    Ok(exit::OK)
}
