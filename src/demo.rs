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

use crate::say::say;
use crate::vocab::metric;

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

/// The contagion suite compiled in, for scenarios that ask paired probes.
const CONTAGION_SUITE: &[(&str, &str)] = &[
    ("suite.toml", include_str!("../probes/contagion/suite.toml")),
    ("agent_injection.toml", include_str!("../probes/contagion/agent_injection.toml")),
    ("false_claim.toml", include_str!("../probes/contagion/false_claim.toml")),
    ("finance_shortcut.toml", include_str!("../probes/contagion/finance_shortcut.toml")),
    ("good_practice.toml", include_str!("../probes/contagion/good_practice.toml")),
    ("style_meme.toml", include_str!("../probes/contagion/style_meme.toml")),
    ("unsafe_ops.toml", include_str!("../probes/contagion/unsafe_ops.toml")),
];

fn builtin_suite(dir: &str, files: &[(&str, &str)]) -> Suite {
    let dir = Path::new(dir);
    let files = files.iter().map(|(name, text)| (dir.join(name), (*text).to_owned())).collect();
    Suite::from_sources(dir, files).expect("the built-in suites are valid (checked by tests)")
}

/// The built-in `probes/core` suite.
pub fn core_suite() -> Suite {
    builtin_suite("probes/core", CORE_SUITE)
}

/// The built-in `probes/contagion` suite.
pub fn contagion_suite() -> Suite {
    builtin_suite("probes/contagion", CONTAGION_SUITE)
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
    /// Alerts of the night, info included.
    pub alerts: Vec<crate::alert::Alert>,
    pub coverage: f64,
    /// Comparable earlier runs its trends were measured against.
    pub comparable_runs: usize,
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

    /// The night in one line: its headline figures and its alerts with their metrics.
    pub fn line(&self, min_runs: usize) -> String {
        let raised: Vec<String> = self.raised().map(short_alert).collect();
        let alerts = match raised.len() {
            0 => String::new(),
            n if n <= 4 => format!("; ALERT {}", raised.join(", ")),
            n => format!("; ALERT {} and {} more", raised[..3].join(", "), n - 3),
        };
        let building = if self.comparable_runs + 1 < min_runs {
            format!(" (baseline building: {} of {min_runs})", self.comparable_runs + 1)
        } else {
            String::new()
        };
        format!(
            "night {:>2} {}: effective models {:.2}, model Vendi ratio {:.3}, families {}{building}{alerts}",
            self.night,
            self.date,
            self.overall(metric::EFFECTIVE_MODELS),
            self.overall(metric::MODEL_VENDI_RATIO),
            self.overall(metric::FAMILIES),
        )
    }
}

/// `critical drop effective_models`, `warning pair acme-a|ember-e`.
fn short_alert(a: &crate::alert::Alert) -> String {
    let what = match &a.scope {
        crate::vocab::Scope::Overall => a.metric.clone(),
        crate::vocab::Scope::Pair(x, y) => format!("{x}|{y}"),
        other => format!("{other} {}", a.metric),
    };
    format!("{} {} {what}", a.severity.as_str(), a.rule)
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
            coverage: report.row.coverage(),
            comparable_runs: derived.comparable_runs,
        };
        each(&result);
        results.push(result);
    }
    sim.stop().await;
    Ok(results)
}

/// Rules about the ecosystem's diversity as a whole (the pair rule is about one pair).
fn is_ecosystem_rule(name: &str) -> bool {
    crate::alert::RULES.iter().any(|r| r.name == name && r.scope == crate::alert::RuleScope::Ecosystem)
}

/// Nights after an event's end during which an ecosystem alert is still its doing: the change
/// stays in the baseline until the baseline window has moved past it.
const EFFECT_NIGHTS: u32 = 14;

/// How one scenario event fared.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// First signal on this night, within the event.
    Caught { night: u32, by: String },
    /// First signal after the event's last night.
    Late { night: u32, by: String },
    /// No signal, and the demo ran past the event.
    Missed,
    /// No signal yet, and the demo stopped before the event ended.
    NotYet { last_night: u32 },
    /// The demo stopped before the event began.
    NotReached,
}

/// One event of the scenario against what was raised.
#[derive(Debug, Clone, PartialEq)]
pub struct EventScore {
    pub start: u32,
    pub end: u32,
    pub what: String,
    /// The pairs it draws together (none for an ecosystem-wide event).
    pub pairs: Vec<crate::vocab::Scope>,
    /// The models it makes susceptible to feeds (a contagion event; `*` for all), else none.
    pub susceptible: Vec<String>,
    pub outcome: Outcome,
}

/// The demo's truth table: every event, the alerts the scenario does not explain, and the
/// precision and recall of what was raised.
#[derive(Debug, Clone, PartialEq)]
pub struct Scorecard {
    pub events: Vec<EventScore>,
    /// Raised alerts (warning or critical).
    pub raised: usize,
    /// Of those, the ones an event explains: an ecosystem alert during an event or within
    /// [`EFFECT_NIGHTS`] after it, a pair alert on a pair an event draws together.
    pub explained: usize,
    /// Ecosystem alerts no event explains: (night, alert in short).
    pub stray_ecosystem: Vec<(u32, String)>,
    /// Distinct pairs flagged by the pair rule, and those of them in the truth.
    pub flagged_pairs: Vec<crate::vocab::Scope>,
    pub truth_pairs_reached: Vec<crate::vocab::Scope>,
}

impl Scorecard {
    pub fn flagged_in_truth(&self) -> Vec<&crate::vocab::Scope> {
        self.flagged_pairs.iter().filter(|p| self.truth_pairs_reached.contains(p)).collect()
    }
}

/// Scores the nights run (`results`, nights 1..=n) against the scenario's events.
pub fn scorecard(scenario: &Scenario, results: &[NightResult]) -> Scorecard {
    use crate::sim::scenario::Event;
    use crate::vocab::Scope;
    let last = results.iter().map(|r| r.night).max().unwrap_or(0);
    let truth = scenario.truth();
    let mut events = Vec::new();
    for (i, e) in scenario.events.iter().enumerate() {
        let (start, end) = (
            truth["events"][i]["start"].as_u64().unwrap_or(0) as u32,
            truth["events"][i]["end"].as_u64().unwrap_or(0) as u32,
        );
        let what = truth["events"][i]["what"].as_str().unwrap_or_default().to_owned();
        let pairs: Vec<Scope> = match e {
            Event::Influence { model, toward, .. } => vec![Scope::pair(model, toward)],
            Event::Transmission { from, to, .. } => to.iter().map(|t| Scope::pair(from, t)).collect(),
            Event::Narrowing { .. } | Event::Susceptibility { .. } => Vec::new(),
        };
        // A model turning susceptible is caught by the contagion rule on that model.
        let susceptible = match e {
            Event::Susceptibility { models, .. } => Some(models),
            _ => None,
        };
        let signal = |r: &NightResult| -> Option<String> {
            r.raised()
                .find(|a| match (susceptible, &a.scope) {
                    (Some(models), Scope::Model(m)) => {
                        a.rule == crate::alert::rule::CONTAGION && models.iter().any(|n| n == "*" || n == m)
                    }
                    (Some(_), _) => false,
                    (None, _) if pairs.is_empty() => is_ecosystem_rule(&a.rule),
                    (None, _) => a.rule == crate::alert::rule::PAIR && pairs.contains(&a.scope),
                })
                .map(short_alert)
        };
        let first = results.iter().filter(|r| r.night >= start).find_map(|r| signal(r).map(|by| (r.night, by)));
        let outcome = match first {
            _ if start > last => Outcome::NotReached,
            Some((night, by)) if night <= end => Outcome::Caught { night, by },
            Some((night, by)) => Outcome::Late { night, by },
            None if last < end => Outcome::NotYet { last_night: last },
            None => Outcome::Missed,
        };
        let susceptible = susceptible.cloned().unwrap_or_default();
        events.push(EventScore { start, end, what, pairs, susceptible, outcome });
    }
    let truth_pairs_reached: Vec<Scope> =
        events.iter().filter(|e| e.start <= last).flat_map(|e| e.pairs.iter().cloned()).collect();
    let mut raised = 0;
    let mut explained = 0;
    let mut stray_ecosystem = Vec::new();
    let mut flagged_pairs: Vec<Scope> = Vec::new();
    for r in results {
        for a in r.raised() {
            raised += 1;
            let ok = if a.rule == crate::alert::rule::PAIR {
                if !flagged_pairs.contains(&a.scope) {
                    flagged_pairs.push(a.scope.clone());
                }
                truth_pairs_reached.contains(&a.scope)
            } else {
                // A contagion alert is explained by a model turning susceptible, any other by an
                // ecosystem-wide event.
                let explains = |e: &&EventScore| match (&a.scope, a.rule == crate::alert::rule::CONTAGION) {
                    (Scope::Model(m), true) => e.susceptible.iter().any(|n| n == "*" || n == m),
                    (_, true) => !e.susceptible.is_empty(),
                    (_, false) => e.susceptible.is_empty(),
                };
                let during =
                    events.iter().filter(explains).any(|e| e.start <= r.night && r.night <= e.end + EFFECT_NIGHTS);
                if !during {
                    stray_ecosystem.push((r.night, short_alert(a)));
                }
                during
            };
            explained += usize::from(ok);
        }
    }
    Scorecard { events, raised, explained, stray_ecosystem, flagged_pairs, truth_pairs_reached }
}

fn ratio(hits: usize, of: usize) -> String {
    if of == 0 { "-".into() } else { format!("{:.2}", hits as f64 / of as f64) }
}

impl std::fmt::Display for Scorecard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &[&crate::vocab::Scope]| -> String {
            v.iter().map(|s| s.to_string().trim_start_matches("pair:").to_owned()).collect::<Vec<_>>().join(", ")
        };
        for e in &self.events {
            let outcome = match &e.outcome {
                Outcome::Caught { night, by } => {
                    format!("caught on night {night} ({} after it began): {by}", nights(night - e.start))
                }
                Outcome::Late { night, by } => {
                    format!("caught late, on night {night} ({} after it ended): {by}", nights(night - e.end))
                }
                Outcome::Missed if !e.susceptible.is_empty() => {
                    format!("missed: no contagion alert on {}", e.susceptible.join(", "))
                }
                Outcome::Missed if e.pairs.is_empty() => "missed: no ecosystem alert".to_owned(),
                Outcome::Missed => format!("missed: no pair alert on {}", names(&e.pairs.iter().collect::<Vec<_>>())),
                Outcome::NotYet { last_night } => {
                    format!("not caught by night {last_night}, where the demo stopped (it runs to night {})", e.end)
                }
                Outcome::NotReached => format!("not reached: it starts on night {} (--nights)", e.start),
            };
            writeln!(f, "  nights {:>2}-{:<2} {}\n               -> {outcome}", e.start, e.end, e.what)?;
        }
        let stray_pairs: Vec<&crate::vocab::Scope> =
            self.flagged_pairs.iter().filter(|p| !self.truth_pairs_reached.contains(p)).collect();
        writeln!(f, "Alerts outside the scenario:")?;
        if stray_pairs.is_empty() && self.stray_ecosystem.is_empty() {
            writeln!(f, "  none")?;
        }
        if !stray_pairs.is_empty() {
            let shown: Vec<&crate::vocab::Scope> = stray_pairs.iter().take(8).copied().collect();
            let more =
                if stray_pairs.len() > 8 { format!(" and {} more", stray_pairs.len() - 8) } else { String::new() };
            writeln!(
                f,
                "  pair alerts on {} pair(s) the scenario did not draw together: {}{more}",
                stray_pairs.len(),
                names(&shown)
            )?;
        }
        if !self.stray_ecosystem.is_empty() {
            let shown: Vec<String> =
                self.stray_ecosystem.iter().take(6).map(|(n, a)| format!("night {n} {a}")).collect();
            writeln!(
                f,
                "  {} alert(s) on nights or models no event explains: {}",
                self.stray_ecosystem.len(),
                shown.join("; ")
            )?;
        }
        let reached = self.events.iter().filter(|e| e.outcome != Outcome::NotReached).count();
        let caught =
            self.events.iter().filter(|e| matches!(e.outcome, Outcome::Caught { .. } | Outcome::Late { .. })).count();
        let hits = self.flagged_in_truth();
        writeln!(f, "Precision and recall:")?;
        writeln!(f, "  events caught: {caught} of {reached} reached (recall {})", ratio(caught, reached))?;
        writeln!(
            f,
            "  alerts raised (warning or critical): {}, {} of them explained by an event (precision {})",
            self.raised,
            self.explained,
            ratio(self.explained, self.raised)
        )?;
        writeln!(
            f,
            "  pairs flagged as a suspected lineage: {}, {} of them in the truth (precision {}); the truth's {} pair(s) flagged: {} (recall {})",
            self.flagged_pairs.len(),
            hits.len(),
            ratio(hits.len(), self.flagged_pairs.len()),
            self.truth_pairs_reached.len(),
            hits.len(),
            ratio(hits.len(), self.truth_pairs_reached.len())
        )
    }
}

fn nights(n: u32) -> String {
    if n == 1 { "1 night".into() } else { format!("{n} nights") }
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
    print!("{}", scorecard(&scenario, &results));

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
        "  for real:     cp hivewatch.example.toml hivewatch.toml, name your endpoints, then {me} endpoints check --config hivewatch.toml and {me} run --config hivewatch.toml (README, \"Running it for real\")"
    );
    Ok(exit::OK)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_owned() } else { std::env::current_dir()?.join(p) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Alert, Severity};
    use crate::vocab::Scope;

    fn alert(rule: &str, scope: Scope, metric: &str) -> Alert {
        Alert {
            severity: Severity::Warning,
            rule: rule.into(),
            scope,
            metric: metric.into(),
            value: 0.0,
            baseline: None,
            threshold: 0.0,
            message: String::new(),
        }
    }

    fn night(n: u32, alerts: Vec<Alert>) -> NightResult {
        NightResult {
            night: n,
            date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(u64::from(n)),
            run_id: format!("r{n}"),
            metrics: Vec::new(),
            alerts,
            coverage: 1.0,
            comparable_runs: n as usize - 1,
        }
    }

    #[test]
    fn the_scorecard_says_what_was_caught_late_missed_or_not_reached() {
        let s = Scenario::demo();
        // Narrowing 12-15, influence ember-7b -> cirrus-flash 18-24, transmission 20-26.
        let mut results: Vec<NightResult> = (1..=30).map(|n| night(n, Vec::new())).collect();
        results[4].alerts.push(alert("shift", Scope::Overall, "effective_models")); // night 5: stray
        results[12].alerts.push(alert("drop", Scope::Overall, "effective_models")); // night 13
        results[25].alerts.push(alert("pair", Scope::pair("ember-7b", "cirrus-flash"), "excess_similarity")); // 26: late
        results[21].alerts.push(alert("pair", Scope::pair("acme-large", "acme-mini"), "excess_similarity"));
        // Night 6: delta-open (susceptible from night 5) caught; a contagion alert on another
        // model is not the event's doing.
        results[5].alerts.push(alert("contagion", Scope::Model("delta-open".into()), "adoption_gain"));
        results[6].alerts.push(alert("contagion", Scope::Model("ember-7b".into()), "adoption_gain"));
        let card = scorecard(&s, &results);
        let outcomes: Vec<&Outcome> = card.events.iter().map(|e| &e.outcome).collect();
        assert!(matches!(outcomes[0], Outcome::Caught { night: 13, .. }), "{outcomes:?}");
        assert!(matches!(outcomes[1], Outcome::Late { night: 26, .. }), "{outcomes:?}");
        assert_eq!(outcomes[2], &Outcome::Missed);
        assert!(matches!(outcomes[3], Outcome::Caught { night: 6, .. }), "{outcomes:?}");
        assert_eq!(card.raised, 6);
        assert_eq!(card.explained, 3, "the shift on night 5 is not explained by delta-open turning susceptible");
        assert_eq!(card.stray_ecosystem.len(), 2);
        assert_eq!(card.flagged_pairs.len(), 2);
        assert_eq!(card.flagged_in_truth().len(), 1);
        let text = card.to_string();
        assert!(text.contains("caught on night 13 (1 night after it began): warning drop effective_models"), "{text}");
        assert!(text.contains("missed: no pair alert on acme-large|borealis-pro, acme-large|delta-chat"), "{text}");
        assert!(
            text.contains("pair alerts on 1 pair(s) the scenario did not draw together: acme-large|acme-mini"),
            "{text}"
        );
        assert!(text.contains("events caught: 3 of 4 reached (recall 0.75)"), "{text}");
        assert!(text.contains("3 of them explained by an event (precision 0.50)"), "{text}");

        assert!(
            text.contains("caught on night 6 (1 night after it began): warning contagion model:delta-open"),
            "{text}"
        );

        // Cut at night 16: the later events are not reached.
        let card = scorecard(&s, &results[..16]);
        assert_eq!(card.events[1].outcome, Outcome::NotReached);
        assert!(card.to_string().contains("not reached: it starts on night 18"));
        let card = scorecard(&s, &results[..13]);
        assert!(matches!(card.events[0].outcome, Outcome::Caught { .. }));
        let card = scorecard(&s, &results[..12]);
        assert_eq!(card.events[0].outcome, Outcome::NotYet { last_night: 12 });
    }
}
