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

mod scorecard;

use scorecard::short_page;
pub use scorecard::{EventScore, Outcome, Scorecard, scorecard};

use crate::say::say;
use crate::vocab::metric;

/// The built-in `probes/core` suite (compiled in, so the demo works from any folder).
pub fn core_suite() -> Suite {
    crate::probes::builtin::suite("core").expect("core is built in")
}

/// The built-in `probes/contagion` suite, for scenarios that ask paired probes.
pub fn contagion_suite() -> Suite {
    crate::probes::builtin::suite("contagion").expect("contagion is built in")
}

/// The suite a scenario's nights ask: `probes` of the core suite's probes (all when absent),
/// and `contagion` of the contagion suite's paired probes (none when absent), as one suite.
pub fn scenario_suite(meta: &crate::sim::scenario::Meta) -> Suite {
    let core = match meta.probes {
        Some(n) => core_suite().sample(n),
        None => core_suite(),
    };
    let Some(n) = meta.contagion else { return core };
    let contagion = contagion_suite().sample(n);
    let description = format!("{} With paired probes: {}", core.description, contagion.description);
    let probes = core.probes.into_iter().chain(contagion.probes).collect();
    Suite::assemble(format!("{}+{}", core.name, contagion.name), core.version, description, probes)
}

/// Providers the demo's endpoints speak, in turn, so all three protocols are exercised.
const PROVIDERS: &[&str] = &["openai", "anthropic", "gemini"];

/// The demo's configuration for one night, as TOML, pointing at a simulator at `addr`. Each
/// night samples with its own seeds (sampling noise moves, the instrument does not). Its
/// limits are the local simulator's (16 requests at once a model), not advice for a real
/// API: with the example configuration's 4, the injected 429s' waits made collection most of
/// the demo's time. Its lexical vectors are recomputed where read rather than stored (the same
/// bits; writing 45 MB of them a night was a sixth of its CPU): BENCHMARKS.md, "The demo's
/// time".
pub fn demo_config_toml(addr: SocketAddr, output: &Path, scenario: &Scenario, night: u32) -> String {
    let mut toml = format!(
        "[run]\nsuite = \"probes/core\"\nsamples = 2\noutput = {:?}\nmax_concurrency = 64\n\n[sampling]\ntemperature = 0.8\nmax_tokens = 300\nseed = {}\n\n[limits]\nmax_concurrency = 16\ntimeout_s = 10\nmax_retries = 4\n\n[output]\nlexical_embeddings = \"recomputed\"\n",
        output.display().to_string(),
        scenario.meta.seed.wrapping_add(u64::from(night) * 1000)
    );
    for (i, model) in scenario.models.iter().enumerate() {
        let provider = PROVIDERS[i % PROVIDERS.len()];
        let base = if provider == "openai" { format!("http://{addr}/v1") } else { format!("http://{addr}") };
        let family = model.name.split('-').next().unwrap_or(&model.name);
        // A model given a maker declares it (what its answers about itself are held to).
        let vendor = model.maker.clone().unwrap_or_else(|| format!("{family} labs (simulated)"));
        toml.push_str(&format!(
            "\n[[endpoints]]\nname = \"{0}\"\nprovider = \"{provider}\"\nbase_url = \"{base}\"\nmodel = \"{0}\"\nvendor = {vendor:?}\nfamily = \"{family}\"\n",
            model.name
        ));
        // The scenario's lineage is declared, as a model card would.
        if let Some(parent) = &model.parent {
            toml.push_str(&format!("parents = [{parent:?}]\n"));
        }
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
    /// Alerts of the night, info included: the nightly record.
    pub alerts: Vec<crate::alert::Alert>,
    /// The night's incidents (open tonight, or resolved tonight).
    pub incidents: Vec<crate::alert::incident::Incident>,
    pub coverage: f64,
    /// Comparable earlier runs its trends were measured against.
    pub comparable_runs: usize,
    /// Its behaviour families at the configured level
    /// ([`crate::metrics::aggregate::families_at`]).
    pub families: usize,
    pub family_level: crate::vocab::FamilyLevel,
}

impl NightResult {
    /// An overall metric's value (NaN when absent).
    pub fn overall(&self, metric: &str) -> f64 {
        self.metrics.iter().find(|m| m.scope.is_overall() && m.metric == metric).map_or(f64::NAN, |m| m.value)
    }

    /// Alerts raised (warning or critical) and not held back by an ecosystem incident.
    pub fn raised(&self) -> impl Iterator<Item = &crate::alert::Alert> {
        self.alerts.iter().filter(|a| a.severity >= crate::alert::Severity::Warning && a.inhibited_by.is_none())
    }

    /// The incidents that page with bad news tonight (opened, escalated, no longer explained).
    pub fn pages(&self) -> impl Iterator<Item = &crate::alert::incident::Incident> {
        self.incidents.iter().filter(|i| i.pages() && i.event != crate::alert::incident::Event::Resolved)
    }

    /// The night in one line: its headline figures and its alerts with their metrics.
    pub fn line(&self, min_runs: usize) -> String {
        let paged: Vec<String> = self.pages().map(short_page).collect();
        let open = self.incidents.iter().filter(|i| i.is_open()).count();
        let alerts = match paged.len() {
            0 if open == 0 => String::new(),
            0 => format!("; {open} incident(s) open, no news"),
            n if n <= 3 => format!("; PAGE {} ({open} open)", paged.join(", ")),
            n => format!("; PAGE {} and {} more ({open} open)", paged[..2].join(", "), n - 2),
        };
        let building = if self.comparable_runs + 1 < min_runs {
            format!(" (baseline building: {} of {min_runs})", self.comparable_runs + 1)
        } else {
            String::new()
        };
        format!(
            "night {:>2} {}: effective models {:.2}, model Vendi ratio {:.3}, {} families ({}){building}{alerts}",
            self.night,
            self.date,
            self.overall(metric::EFFECTIVE_MODELS),
            self.overall(metric::MODEL_VENDI_RATIO),
            self.families,
            self.family_level.label(),
        )
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
    let suite = scenario_suite(&scenario.meta);
    let sim = crate::sim::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        SimConfig {
            faults: "429=0.02,500=0.01".parse()?,
            retry_after_s: 0.05,
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
        let level = config.alerts.concentration.level;
        let plan = Plan::new(config, suite.clone());
        let opts = RunOptions { fresh: true, run_date: Some(date), ..Default::default() };
        let report = crate::run::run(plan, &opts, &mut crate::progress::Silent).await?;
        let derived = report.derived.as_ref().expect("a nightly run derives its tables");
        let result = NightResult {
            night,
            date,
            run_id: report.row.run_id.clone(),
            metrics: crate::store::table::read_file::<crate::metrics::tables::run_metrics::RunMetricsTable>(
                &derived.measured.run_metrics,
            )?,
            alerts: derived.alerts.clone(),
            incidents: derived.incidents.clone(),
            coverage: report.row.coverage(),
            comparable_runs: derived.comparable_runs,
            families: crate::metrics::aggregate::families_at(&derived.measured.families, level).len(),
            family_level: level,
        };
        each(&result);
        results.push(result);
    }
    sim.stop().await;
    Ok(results)
}

/// How to call this binary in a command to paste: `hivewatch` when that is what the PATH runs,
/// else its path.
pub fn invocation() -> String {
    let me = std::env::current_exe().ok().and_then(|p| p.canonicalize().ok());
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).map(|d| d.join("hivewatch")).find(|p| p.is_file())?.canonicalize().ok()
    });
    match (me, on_path) {
        (Some(me), Some(found)) if me == found => "hivewatch".into(),
        (Some(me), _) => {
            let cwd = std::env::current_dir().ok();
            cwd.and_then(|c| me.strip_prefix(&c).ok().map(|p| p.display().to_string()))
                .unwrap_or_else(|| me.display().to_string())
        }
        (None, _) => "hivewatch".into(),
    }
}

/// `hivewatch demo`: the nightly pipeline over every night of a drifting simulated ecosystem
/// (the built-in scenario, or `scenario`), run dates advancing to today. Quiet: one line a
/// night, then the scenario's truth against what was raised, then what to do next.
pub async fn run(output: &Path, scenario: Option<&Path>, nights: Option<u32>) -> Result<i32> {
    let shown_output = output.to_owned();
    let output = absolute(output)?;
    let scenario = match scenario {
        Some(p) => Scenario::load(p)?,
        None => Scenario::demo(),
    };
    let nights = nights.unwrap_or(scenario.meta.nights).min(scenario.meta.nights).max(1);
    prepare_output(&output)?;
    let truth_path = output.join("scenario-truth.json");
    std::fs::write(&truth_path, serde_json::to_string_pretty(&scenario.truth())?)?;
    let min_runs = crate::alert::AlertConfig::default().trend.min_runs;
    say!(
        "hivewatch demo: scenario `{}`, {} simulated models x {} probes x 2 samples, {nights} of its {} nights",
        scenario.meta.name,
        scenario.models.len(),
        scenario_suite(&scenario.meta).probes.len(),
        scenario.meta.nights,
    );
    let scenario = std::sync::Arc::new(scenario);
    let first = chrono::Utc::now().date_naive() - chrono::Days::new(u64::from(nights - 1));
    let results =
        run_scenario(&output, std::sync::Arc::clone(&scenario), nights, first, |r| say!("{}", r.line(min_runs)))
            .await?;

    say!(
        "\nWhat the scenario did, and what hivewatch raised (the truth: {}):",
        shown_output.join("scenario-truth.json").display()
    );
    let card = scorecard(&scenario, &results).to_string();
    say!("{}", card.strip_suffix('\n').unwrap_or(&card));

    let me = invocation();
    let out = shown_output.display();
    say!("\nNext:");
    say!("  the report:   {out}/html/latest.html  (every night: {out}/html/index.html)");
    say!(
        "  a query:      {me} query diversity_over_time --output {out}  (all of them: {me} query; DuckDB: {})",
        crate::query::INSTALL_DUCKDB
    );
    say!("  the tables:   {out}/<table>/run_date=*/ (Parquet; README, \"Output tables\")");
    say!(
        "  for real:     {me} init (a configuration and the probe suites, in this folder), name your endpoints in hivewatch.toml, then {me} endpoints check --config hivewatch.toml and {me} run --config hivewatch.toml (README, \"Running it for real\")"
    );
    Ok(exit::OK)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_owned() } else { std::env::current_dir()?.join(p) })
}
