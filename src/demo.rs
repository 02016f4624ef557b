//! `hivewatch demo`: the nightly pipeline over 30 simulated nights of a drifting ecosystem, with
//! no configuration and no network. The simulator starts in-process on 127.0.0.1 with the
//! built-in scenario (`src/sim/scenarios/demo.toml`); the configuration is written here; the
//! scenario's truth is written beside the outputs.

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
use crate::sim::scenario::Scenario;

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

/// Providers the demo's endpoints speak, in turn, so all three protocols are exercised.
const PROVIDERS: &[&str] = &["openai", "anthropic", "gemini"];

/// The demo's configuration for one night, as TOML, pointing at a simulator at `addr`. Each
/// night samples with its own seeds (sampling noise moves, the instrument does not).
pub fn demo_config_toml(addr: SocketAddr, output: &Path, scenario: &Scenario, night: u32) -> String {
    let mut toml = format!(
        "[run]\nsuite = \"probes/core\"\nsamples = 2\noutput = {:?}\nmax_concurrency = 32\n\n[sampling]\ntemperature = 0.8\nmax_tokens = 300\nseed = {}\n\n[limits]\nmax_concurrency = 4\ntimeout_s = 10\nmax_retries = 4\n",
        output.display().to_string(),
        scenario.meta.seed.wrapping_add(u64::from(night) * 1000)
    );
    for (i, model) in scenario.models.iter().enumerate() {
        let provider = PROVIDERS[i % PROVIDERS.len()];
        let base = if provider == "openai" { format!("http://{addr}/v1") } else { format!("http://{addr}") };
        let family = model.name.split('-').next().unwrap_or(&model.name);
        toml.push_str(&format!(
            "\n[[endpoints]]\nname = \"{0}\"\nprovider = \"{provider}\"\nbase_url = \"{base}\"\nmodel = \"{0}\"\nvendor = \"{family} labs (simulated)\"\nfamily = \"{family}\"\n",
            model.name
        ));
    }
    toml
}

/// Marks an output folder as the demo's own, so a rerun may clear it.
const DEMO_MARKER: &str = ".hivewatch-demo";

/// Makes `output` ready for a fresh demo: creates it, or clears a previous demo's output there.
/// Refuses a folder that holds anything else (it may be real reports).
pub fn prepare_output(output: &Path) -> Result<()> {
    if output.join(DEMO_MARKER).exists() {
        std::fs::remove_dir_all(output)
            .with_context(|| format!("clearing the previous demo in {}", output.display()))?;
    } else if std::fs::read_dir(output).is_ok_and(|mut d| d.next().is_some()) {
        anyhow::bail!(
            crate::input::InputError::new(output, None, "is not empty and was not written by a demo")
                .hint("pass --output with a new or empty folder (the demo clears only its own output)")
        );
    }
    std::fs::create_dir_all(output).with_context(|| format!("creating {}", output.display()))?;
    std::fs::write(output.join(DEMO_MARKER), "written by hivewatch demo; a rerun clears this folder\n")?;
    Ok(())
}

/// One simulated night as the pipeline saw it.
#[derive(Debug, Clone)]
pub struct NightResult {
    pub night: u32,
    pub date: chrono::NaiveDate,
    pub run_id: String,
    /// The run's `run_metrics` rows (all scopes).
    pub metrics: Vec<crate::metrics::aggregate::RunMetric>,
    /// Alerts of the night, info included.
    pub alerts: Vec<crate::alert::Alert>,
    pub coverage: f64,
}

impl NightResult {
    /// An overall metric's value (NaN when absent).
    pub fn overall(&self, metric: &str) -> f64 {
        self.metrics.iter().find(|m| m.scope.is_overall() && m.metric == metric).map_or(f64::NAN, |m| m.value)
    }

    /// Alerts that page (warning or critical).
    pub fn raised(&self) -> impl Iterator<Item = &crate::alert::Alert> {
        self.alerts.iter().filter(|a| a.severity >= crate::alert::Severity::Warning)
    }
}

/// Runs the nightly pipeline over `nights` nights of `scenario` into `output` (which must be
/// ready), the simulator in-process, run dates from `first`; calls `each` after every night.
pub async fn run_scenario(
    output: &Path,
    scenario: std::sync::Arc<Scenario>,
    nights: u32,
    first: chrono::NaiveDate,
    mut each: impl FnMut(&NightResult),
) -> Result<Vec<NightResult>> {
    let suite = match scenario.meta.probes {
        Some(n) => core_suite().sample(n),
        None => core_suite(),
    };
    let sim = crate::sim::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        SimConfig {
            faults: "429=0.02,500=0.01".parse()?,
            retry_after_s: 0.2,
            latency: Duration::from_millis(2),
            scenario: Some(std::sync::Arc::clone(&scenario)),
            ..Default::default()
        },
    )
    .await
    .context("starting the simulator on 127.0.0.1")?;
    let mut results = Vec::new();
    for night in 1..=nights {
        sim.set_night(night);
        let date = first + chrono::Days::new(u64::from(night - 1));
        let config_path = output.join("demo-hivewatch.toml");
        let config = Config::parse(&config_path, &demo_config_toml(sim.addr, output, &scenario, night))?;
        let plan = Plan::new(config, suite.clone());
        let report =
            crate::run::run_interruptible(plan, RunOptions { fresh: true, run_date: Some(date), ..Default::default() })
                .await?;
        let result = NightResult {
            night,
            date,
            run_id: report.run_id.clone(),
            metrics: crate::metrics::tables::run_metrics::read(&report.run_metrics)?,
            alerts: report.alerts.clone(),
            coverage: report.row.coverage(),
        };
        each(&result);
        results.push(result);
    }
    sim.stop().await;
    Ok(results)
}

/// `hivewatch demo`: the nightly pipeline over every night of a drifting simulated ecosystem
/// (the built-in scenario, or `scenario`), run dates advancing to today.
pub async fn run(output: &Path, scenario: Option<&Path>, nights: Option<u32>) -> Result<i32> {
    let output = absolute(output)?;
    let scenario = match scenario {
        Some(p) => Scenario::load(p)?,
        None => Scenario::demo(),
    };
    let nights = nights.unwrap_or(scenario.meta.nights).min(scenario.meta.nights).max(1);
    prepare_output(&output)?;
    let truth_path = output.join("scenario-truth.json");
    std::fs::write(&truth_path, serde_json::to_string_pretty(&scenario.truth())?)?;
    println!(
        "hivewatch demo: scenario `{}`, {} simulated models x {} probes x 2 samples, {nights} nights",
        scenario.meta.name,
        scenario.models.len(),
        scenario.meta.probes.unwrap_or(core_suite().probes.len()),
    );
    let scenario = std::sync::Arc::new(scenario);
    let first = chrono::Utc::now().date_naive() - chrono::Days::new(u64::from(nights - 1));
    let results = run_scenario(&output, std::sync::Arc::clone(&scenario), nights, first, |r| {
        let paging: Vec<String> =
            r.raised().map(|a| format!("{} {} {}", a.severity.as_str(), a.rule, a.scope)).collect();
        println!(
            "night {:>2} {}: effective models {:.2}, model Vendi ratio {:.3}, families {}{}",
            r.night,
            r.date,
            r.overall("effective_models"),
            r.overall("model_vendi_ratio"),
            r.overall("families"),
            if paging.is_empty() { String::new() } else { format!("; ALERT {}", paging.join(", ")) }
        );
    })
    .await?;

    println!("\nWhat the scenario did (also in {}):", truth_path.display());
    for e in scenario.truth()["events"].as_array().into_iter().flatten() {
        println!("  nights {}-{}: {}", e["start"], e["end"], e["what"].as_str().unwrap_or_default());
    }
    println!("\nWhat hivewatch raised:");
    // Per rule: the first night it fired, how many series it fired on, and one example.
    let mut by_rule: std::collections::BTreeMap<&str, (u32, std::collections::BTreeSet<String>, String)> =
        std::collections::BTreeMap::new();
    for r in &results {
        for a in r.raised() {
            let e = by_rule
                .entry(a.rule.as_str())
                .or_insert_with(|| (r.night, Default::default(), format!("{}: {}", r.date, a.message)));
            e.1.insert(a.scope.to_string());
        }
    }
    if by_rule.is_empty() {
        println!("  nothing");
    }
    let mut rules: Vec<_> = by_rule.into_iter().collect();
    rules.sort_by_key(|(_, (night, _, _))| *night);
    for (rule, (night, scopes, example)) in rules {
        println!("  {rule}: first on night {night}, on {} series; e.g. {example}", scopes.len());
    }
    let report = output.join("html/latest.html");
    println!("\nOutputs in {} (one folder per table); the report: {}", output.display(), report.display());
    println!(
        "\nQuery it with DuckDB:\n  SELECT run_date, metric, value, ci_low, ci_high FROM read_parquet('{0}/run_metrics/*/*.parquet', hive_partitioning=true) WHERE scope = 'overall' AND metric IN ('effective_models', 'model_vendi_ratio') ORDER BY metric, run_date;\n  SELECT run_date, severity, rule, scope, message FROM read_parquet('{0}/alerts/*/*.parquet', hive_partitioning=true) ORDER BY run_date;\n  SELECT family, list(endpoint) FROM read_parquet('{0}/families/*/*.parquet', hive_partitioning=true) WHERE run_date = (SELECT max(run_date) FROM read_parquet('{0}/families/*/*.parquet', hive_partitioning=true)) GROUP BY 1;",
        output.display()
    );
    Ok(exit::OK)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_owned() } else { std::env::current_dir()?.join(p) })
}
