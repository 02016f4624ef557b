//! `hivewatch demo`: the pipeline against the built-in simulator, with no configuration and no
//! network. The simulator starts in-process on 127.0.0.1; the configuration is written here.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::exit;
use crate::plan::Plan;
use crate::probes::Suite;
use crate::run::RunOptions;
use crate::sim::SimConfig;

/// The core suite compiled in, so the demo works from any folder.
const CORE_SUITE: &[(&str, &str)] = &[
    ("suite.toml", include_str!("../probes/core/suite.toml")),
    ("agent_governance.toml", include_str!("../probes/core/agent_governance.toml")),
    ("ai_metaphors.toml", include_str!("../probes/core/ai_metaphors.toml")),
    ("contested_history.toml", include_str!("../probes/core/contested_history.toml")),
    ("creative_open.toml", include_str!("../probes/core/creative_open.toml")),
    ("everyday_advice.toml", include_str!("../probes/core/everyday_advice.toml")),
    ("moral_dilemmas.toml", include_str!("../probes/core/moral_dilemmas.toml")),
    ("policy_tradeoffs.toml", include_str!("../probes/core/policy_tradeoffs.toml")),
    ("reasoning_style.toml", include_str!("../probes/core/reasoning_style.toml")),
    ("refusal_boundary.toml", include_str!("../probes/core/refusal_boundary.toml")),
    ("self_description.toml", include_str!("../probes/core/self_description.toml")),
    ("uncertain_questions.toml", include_str!("../probes/core/uncertain_questions.toml")),
];

/// The built-in `probes/core` suite.
pub fn core_suite() -> Suite {
    let dir = Path::new("probes/core");
    let files = CORE_SUITE.iter().map(|(name, text)| (dir.join(name), (*text).to_owned())).collect();
    Suite::from_sources(dir, files).expect("the built-in core suite is valid (checked by tests)")
}

/// Synthetic endpoints of the demo: (name, provider, family note). Names before the first `-`
/// are the simulator's families, so `acme-*` behave alike.
const DEMO_ENDPOINTS: &[(&str, &str)] = &[
    ("acme-large", "openai"),
    ("acme-mini", "openai"),
    ("acme-instruct", "anthropic"),
    ("borealis-pro", "anthropic"),
    ("borealis-lite", "anthropic"),
    ("cirrus-ultra", "gemini"),
    ("cirrus-flash", "gemini"),
    ("delta-chat", "openai"),
    ("delta-open", "openai"),
    ("ember-7b", "openai"),
    ("fjord-vision", "gemini"),
    ("fjord-text", "gemini"),
];

/// The demo's configuration as TOML, pointing at a simulator at `addr`.
pub fn demo_config_toml(addr: SocketAddr, output: &Path) -> String {
    let mut toml = format!(
        "[run]\nsuite = \"probes/core\"\nsamples = 2\noutput = {:?}\nmax_concurrency = 32\n\n[sampling]\ntemperature = 0.8\nmax_tokens = 300\nseed = 1000\n\n[limits]\nmax_concurrency = 4\ntimeout_s = 10\nmax_retries = 4\n",
        output.display().to_string()
    );
    for (name, provider) in DEMO_ENDPOINTS {
        let base = if *provider == "openai" { format!("http://{addr}/v1") } else { format!("http://{addr}") };
        let family = name.split('-').next().unwrap_or(name);
        toml.push_str(&format!(
            "\n[[endpoints]]\nname = \"{name}\"\nprovider = \"{provider}\"\nbase_url = \"{base}\"\nmodel = \"{name}\"\nvendor = \"{family} labs (simulated)\"\nfamily = \"{family}\"\n"
        ));
    }
    toml
}

pub async fn run(output: &Path) -> Result<i32> {
    let output = absolute(output)?;
    let sim = crate::sim::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        SimConfig {
            faults: "429=0.02,500=0.01".parse()?,
            retry_after_s: 0.2,
            latency: Duration::from_millis(2),
            ..Default::default()
        },
    )
    .await
    .context("starting the simulator on 127.0.0.1")?;
    tracing::info!("simulator listening on {}", sim.root_url());

    let config_path = output.join("demo-hivewatch.toml");
    let config = Config::parse(&config_path, &demo_config_toml(sim.addr, &output))?;
    let plan = Plan::new(config, core_suite());
    println!(
        "hivewatch demo: {} simulated endpoints x {} probes x {} samples, simulator at {}",
        plan.config.endpoints.len(),
        plan.suite.probes.len(),
        plan.samples(),
        sim.root_url()
    );
    let report = crate::cli::run_interruptible(plan, RunOptions::default()).await?;
    sim.stop().await;
    crate::cli::print_report(&report);
    println!(
        "\nQuery it with DuckDB:\n  SELECT endpoint, status, count(*) FROM read_parquet('{0}/responses/*/*.parquet', hive_partitioning=true) GROUP BY ALL ORDER BY 1;\n  SELECT category, avg(model_vendi_ratio), avg(homogenization_index) FROM read_parquet('{0}/probe_metrics/*/*.parquet') GROUP BY 1 ORDER BY 2;\n  SELECT scope, metric, value, ci_low, ci_high, n FROM read_parquet('{0}/run_metrics/*/*.parquet', hive_partitioning=true) WHERE scope = 'overall' ORDER BY metric;\n  SELECT family, list(endpoint) FROM read_parquet('{0}/families/*/*.parquet') GROUP BY 1;",
        output.display()
    );
    Ok(exit::OK)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_owned() } else { std::env::current_dir()?.join(p) })
}
