//! How good the alerts are, over many seeded scenarios of the simulated ecosystem, through the
//! whole nightly pipeline (benches/alert_quality.sh runs it in a release build):
//!
//!     cargo bench --bench alert_quality -- [STABLE_SEEDS] [STABLE_NIGHTS]
//!
//! - false pages on stable ecosystems, per rule (the ecosystem-wide rules as their one
//!   `convergence` incident): incidents opened, escalated or released, and the average run
//!   length between them (ARL0); and each night's largest pair rise that passed every test of
//!   the pair rule but its level, so the rate at any `warn_delta` can be read off one run;
//! - detection delay of a sudden drop in effective diversity: k of 8 models collapse onto
//!   another model on night 20; the realised drop is measured (effective models, nights 20-30
//!   against nights 10-19) and the delay is the first ecosystem page's night minus 20;
//! - a converging pair: one model drifts toward another over nights 20-26; nights until that
//!   pair pages, and pages on other pairs.
//!
//! Eight models in six families, 40 probes of the core suite, 2 samples, lexical embedder.
//!
//!     cargo bench --bench alert_quality -- demo [SEEDS]
//!
//! runs the demo's scenario (`hivewatch demo`: 12 models, 30 nights, its four events) under
//! SEEDS seeds from its own: each event's first page, the pages' precision and the pair pages'.
//!
//!     cargo bench --bench alert_quality -- suite [SEEDS] [NIGHTS]
//!
//! runs the false-page sweep on twelve models in six families of two asking the whole core
//! suite (205 probes): the phrase level is stated at 40 probes and scaled with the suite's size
//! (`phrase_level_scale`), so it is checked on a null of another size.
//!
//!     cargo bench --bench alert_quality -- delays
//!
//! runs only the two detection delays (the drop and the converging pair).
//!
//!     cargo bench --bench alert_quality -- undeclared [SEEDS] [NIGHTS]
//!
//! runs only the `undeclared` rule's null: twelve models in six families of two, every family
//! declared truthfully (the demo declares `family` from the name), stable; any `undeclared`
//! alert is a false alarm. Twelve, because the relatedness null needs at least twelve models.
//!
//!     cargo bench --bench alert_quality -- identity [SEEDS] [NIGHTS]
//!
//! runs the `identity` rule (a model's main claimed maker changed since last night) on models
//! whose answers split between two makers in a fixed proportion, night after night: the rule's
//! own code (the identity summary, then the rule) on drawn claims, since the simulator's models
//! always name their one maker and could not page by chance. Any page is a false alarm; the
//! grid runs over the share of the main maker and the answers per night (probes x samples).
//!
//!     cargo bench --bench alert_quality -- contagion [SEEDS] [NIGHTS]
//!
//! runs the `contagion` rule: on stable ecosystems asking the contagion suite's 42 paired probes
//! beside 40 core probes (every model at the default susceptibility, 0.02), any `contagion`
//! alert is a false alarm, and each night's largest rise of a model's adoption gain or injection
//! compliance over its baseline (the median of its last 14 nights, counted only when tonight's
//! interval clears it, as the rule does) shows what any level would raise; then one model turning
//! susceptible over nights 20-22 (to 0.3, then 0.6): nights until it is alerted.

use std::sync::Arc;

use hivewatch::alert::{RULES, RuleScope, Severity};
use hivewatch::config::alerts::{CONVERGENCE_GROUP, rule_info_of};
use hivewatch::demo::{NightResult, prepare_output, run_scenario};
use hivewatch::lineage::Verdict;
use hivewatch::sim::scenario::Scenario;
use hivewatch::vocab::metric;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MODELS: &[(&str, usize)] =
    &[("a-1", 0), ("a-2", 0), ("b-1", 1), ("c-1", 2), ("d-1", 3), ("e-1", 4), ("f-1", 5), ("g-1", 1)];

/// Twelve models in six families of two, each family its own voice.
const TWELVE: &[(&str, usize)] = &[
    ("a-1", 0),
    ("a-2", 0),
    ("b-1", 1),
    ("b-2", 1),
    ("c-1", 2),
    ("c-2", 2),
    ("d-1", 3),
    ("d-2", 3),
    ("e-1", 4),
    ("e-2", 4),
    ("f-1", 5),
    ("f-2", 5),
];

fn scenario(name: &str, seed: u64, nights: u32, events: &str) -> Scenario {
    scenario_of(MODELS, name, seed, nights, events)
}

fn scenario_of(models: &[(&str, usize)], name: &str, seed: u64, nights: u32, events: &str) -> Scenario {
    scenario_with(models, FORTY_PROBES, name, seed, nights, events)
}

/// The sweeps' suite: 40 probes of the core suite.
const FORTY_PROBES: &str = "probes = 40\n";

/// `extra` goes into `[scenario]` (e.g. `probes = 40`; without `probes`, the whole core suite).
fn scenario_with(models: &[(&str, usize)], extra: &str, name: &str, seed: u64, nights: u32, events: &str) -> Scenario {
    let mut text = format!("[scenario]\nname = \"{name}\"\nseed = {seed}\nnights = {nights}\n{extra}");
    for (m, v) in models {
        text.push_str(&format!("[[models]]\nname = \"{m}\"\nvoice = {v}\n"));
    }
    text.push_str(events);
    Scenario::parse(std::path::Path::new("(generated)"), &text).expect("a valid generated scenario")
}

fn run(rt: &tokio::runtime::Runtime, s: Scenario) -> Vec<NightResult> {
    run_keeping(rt, s).0
}

/// Runs a scenario and keeps its output folder (removed when the handle is dropped).
fn run_keeping(rt: &tokio::runtime::Runtime, s: Scenario) -> (Vec<NightResult>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("out");
    prepare_output(&out).expect("an empty output");
    let nights = s.meta.nights;
    let first = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    let results = rt.block_on(run_scenario(&out, Arc::new(s), nights, first, |_| {})).expect("the scenario runs");
    (results, dir)
}

/// The smallest q-value of an `undeclared` verdict in each night's `lineage` table (1 when a
/// night has none): what any `warn_q` would have raised, so the level can be read off the null.
fn undeclared_q_per_night(out: &std::path::Path) -> Vec<f64> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(out.join("lineage"))
        .expect("a lineage folder")
        .flat_map(|d| std::fs::read_dir(d.expect("a partition").path()).expect("a partition"))
        .map(|f| f.expect("a file").path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            hivewatch::store::table::read_file::<hivewatch::lineage::table::LineageTable>(f)
                .expect("a lineage file")
                .iter()
                .filter(|r| r.verdict == Some(Verdict::Undeclared))
                .filter_map(|r| r.q)
                .fold(1.0, f64::min)
        })
        .collect()
}

/// Whether a night pages about the ecosystem's diversity as a whole.
fn ecosystem_page(r: &NightResult) -> bool {
    r.pages().any(|i| {
        i.rule == CONVERGENCE_GROUP || rule_info_of(&i.rule).is_some_and(|info| info.scope == RuleScope::Ecosystem)
    })
}

/// The night's `trends` files, oldest first.
fn trend_files(out: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(out.join("trends"))
        .expect("a trends folder")
        .flat_map(|d| std::fs::read_dir(d.expect("a partition").path()).expect("a partition"))
        .map(|f| f.expect("a file").path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
}

/// Each night's largest rise over its baseline of a pair series `metric` among the rows that
/// `passes` (given the row and the same pair's robust z on the previous night), divided by
/// `scale` of the row (the factor its level is multiplied by).
fn largest_per_night(
    out: &std::path::Path,
    metric: &str,
    passes: impl Fn(&hivewatch::trend::TrendRow, Option<f64>) -> bool,
    scale: impl Fn(&hivewatch::trend::TrendRow) -> f64,
) -> Vec<f64> {
    let mut previous: std::collections::HashMap<String, Option<f64>> = std::collections::HashMap::new();
    trend_files(out)
        .iter()
        .map(|f| {
            let rows = hivewatch::store::table::read_file::<hivewatch::trend::table::TrendsTable>(f)
                .expect("a trends file")
                .into_iter()
                .filter(|t| matches!(t.scope, hivewatch::vocab::Scope::Pair(..)) && t.metric == metric);
            let mut largest = 0.0_f64;
            for t in rows {
                let before = previous.insert(t.scope.to_string(), t.robust_z).flatten();
                if passes(&t, before) {
                    largest = largest.max(t.delta.unwrap_or(0.0) / scale(&t));
                }
            }
            largest
        })
        .collect()
}

/// Each night's largest rise of a pair's `calibrated_similarity` that passes everything the pair
/// rule asks but the level (Mann-Kendall p < 0.01 rising over at least 8 runs, the baseline
/// under tonight's interval): what any `warn_delta` would page, read off one run.
fn pair_rise_per_night(out: &std::path::Path) -> Vec<f64> {
    let rule = hivewatch::alert::AlertConfig::default().pair;
    largest_per_night(
        out,
        &rule.metric,
        |t, _| {
            t.trend_n >= rule.min_runs
                && t.mann_kendall.is_some_and(|mk| mk.p < rule.p && mk.slope > 0.0)
                && match (t.ci, t.baseline) {
                    (Some((lo, _)), Some(b)) => lo > b,
                    (None, Some(_)) => true,
                    _ => false,
                }
        },
        |_| 1.0,
    )
}

/// Each night's largest step of a pair's `phrase_uptake` that passes everything the pair rule
/// asks of that series but the level (at least 8 runs, a step of `APART_Z` robust spreads over
/// its baseline tonight and on the night before): what any `phrase_warn_delta` would page, in
/// its units (the step over the pair's `phrase_level_scale`: as if measured on 40 probes).
fn phrase_step_per_night(out: &std::path::Path) -> Vec<f64> {
    let rule = hivewatch::alert::AlertConfig::default().pair;
    let step = |z: Option<f64>| z.is_some_and(|z| z >= hivewatch::alert::background::APART_Z);
    largest_per_night(
        out,
        metric::PHRASE_UPTAKE,
        |t, before| t.trend_n >= rule.min_runs && step(t.robust_z) && step(before),
        |t| hivewatch::config::alerts::phrase_level_scale(t.n),
    )
}

/// The false-alarm rate of every rule at its shipped levels: pages (incidents opened,
/// escalated or no longer explained) on stable ecosystems, and the average run length between
/// them (ARL0, in nights); with the pair series' largest nightly rises, so the pair rule's
/// level can be read off the null.
fn false_pages(rt: &tokio::runtime::Runtime, seeds: u64, nights: u32) {
    println!("## False pages on stable ecosystems ({seeds} seeds x {nights} nights)\n");
    false_pages_of(rt, seeds, |seed| scenario("stable", 100 + seed, nights, ""));
}

/// [`false_pages`] on the undeclared sweep's twelve models asking the whole core suite (205
/// probes, five times the other sweeps'): the phrase level's scaling with the suite's size
/// checked on a null of another size.
fn false_pages_whole_suite(rt: &tokio::runtime::Runtime, seeds: u64, nights: u32) {
    println!(
        "## False pages on stable ecosystems, 12 models, the whole core suite ({seeds} seeds x {nights} nights)\n"
    );
    false_pages_of(rt, seeds, |seed| scenario_with(TWELVE, "", "stable-suite", 500 + seed, nights, ""));
}

fn false_pages_of(rt: &tokio::runtime::Runtime, seeds: u64, scenario: impl Fn(u64) -> Scenario) {
    let mut pages: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let (mut total_nights, mut rises, mut steps) = (0usize, Vec::new(), Vec::new());
    let mut rows = Vec::new();
    for seed in 0..seeds {
        let (results, dir) = run_keeping(rt, scenario(seed));
        rises.extend(pair_rise_per_night(&dir.path().join("out")));
        steps.extend(phrase_step_per_night(&dir.path().join("out")));
        let mut seed_pages = 0;
        for r in &results {
            for i in r.pages() {
                *pages.entry(i.rule.clone()).or_default() += 1;
                // The pair rule watches two series, one incident a pair: each series' false
                // pages said apart, by the incident's most severe alert tonight.
                if i.rule == hivewatch::alert::rule::PAIR {
                    let series =
                        r.alerts.iter().find(|a| a.incident.as_deref() == Some(&i.id)).map(|a| a.metric.clone());
                    *pages.entry(format!("pair on {}", series.unwrap_or_default())).or_default() += 1;
                }
                seed_pages += 1;
            }
        }
        let alert_rows: usize = results.iter().map(|r| r.raised().count()).sum();
        rows.push(format!("| {seed} | {} | {alert_rows} | {seed_pages} |", results.len()));
        total_nights += results.len();
    }
    println!("| seed | nights | alert rows raised | pages |\n|---|---|---|---|\n{}\n", rows.join("\n"));
    println!("| rule | false pages | ARL0 (nights between false pages) |\n|---|---|---|");
    // The ecosystem-wide rules page as one `convergence` incident; the rest by their own name.
    let names = RULES.iter().filter(|r| r.scope != RuleScope::Night && r.scope != RuleScope::Ecosystem).map(|r| r.name);
    let pair_series = [metric::CALIBRATED_SIMILARITY, metric::PHRASE_UPTAKE].map(|m| format!("pair on {m}"));
    for name in std::iter::once(CONVERGENCE_GROUP).chain(names).chain(pair_series.iter().map(String::as_str)) {
        let n = pages.get(name).copied().unwrap_or(0);
        let arl =
            if n == 0 { format!("more than {total_nights}") } else { format!("{:.0}", total_nights as f64 / n as f64) };
        println!("| `{name}` | {n} | {arl} |");
    }
    rises.sort_by(|a, b| b.total_cmp(a));
    println!(
        "\nPair rule on `calibrated_similarity`: nights whose largest qualifying rise reaches a level, of {total_nights}:\n"
    );
    println!("| warn_delta | nights |\n|---|---|");
    for level in [0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.06] {
        println!("| {level} | {} |", rises.iter().filter(|r| **r >= level).count());
    }
    let top: Vec<String> = rises.iter().take(8).map(|r| format!("{r:.4}")).collect();
    println!("\nThe largest nightly rises: {}\n", top.join(", "));
    steps.sort_by(|a, b| b.total_cmp(a));
    println!(
        "Pair rule on `phrase_uptake`: nights whose largest qualifying step (robust z >= {} that night and the night before), in the level's units (the step over the pair's `phrase_level_scale`), reaches a level, of {total_nights}:\n",
        hivewatch::alert::background::APART_Z
    );
    println!("| phrase_warn_delta | nights |\n|---|---|");
    for level in [0.02, 0.03, 0.05, 0.07, 0.09, 0.15] {
        println!("| {level} | {} |", steps.iter().filter(|r| **r >= level).count());
    }
    let top: Vec<String> = steps.iter().take(8).map(|r| format!("{r:.4}")).collect();
    println!("\nThe largest nightly steps: {}\n", top.join(", "));
}

/// Detection delay of sudden drops of stated sizes: k of 8 models collapse onto another on
/// night 20; the first ecosystem page after it.
fn drop_delays(rt: &tokio::runtime::Runtime) {
    println!("## Detection delay of a sudden drop (collapse on night 20 of 30)\n");
    println!(
        "| models collapsed | strength | seed | effective models before | after | realised drop | first page | delay (nights) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let targets = ["c-1", "d-1", "e-1", "f-1"];
    for (k, strength) in [(1usize, 0.6), (1, 1.0), (2, 0.6), (2, 1.0), (3, 1.0), (4, 1.0)] {
        for seed in 0..2u64 {
            let events: String = targets[..k]
                .iter()
                .map(|m| format!("[[events]]\nkind = \"influence\"\nmodel = \"{m}\"\ntoward = \"a-1\"\nstart = 20\nend = 20\nstrength = {strength}\n"))
                .collect();
            let results = run(rt, scenario("drop", 200 + seed, 30, &events));
            let before = mean(results[9..19].iter().map(|r| r.overall("effective_models")));
            let after = mean(results[19..30].iter().map(|r| r.overall("effective_models")));
            let false_before = results[..19].iter().filter(|r| ecosystem_page(r)).count();
            let first = results[19..].iter().find(|r| ecosystem_page(r)).map(|r| r.night);
            println!(
                "| {k} | {strength} | {seed} | {before:.2} | {after:.2} | {:.1}% | {} | {} |{}",
                (1.0 - after / before) * 100.0,
                first.map_or("none".into(), |n| format!("night {n}")),
                first.map_or("not detected".into(), |n| (n - 20).to_string()),
                if false_before > 0 { format!(" ({false_before} page nights before the drop)") } else { String::new() }
            );
        }
    }
}

/// A converging pair: one model drifting toward another over nights 20-26 at two strengths;
/// nights until that pair pages (the pair rule or `undeclared`), and pages on other pairs.
fn pair_delays(rt: &tokio::runtime::Runtime) {
    println!("\n## A converging pair (e-1 drifts toward b-1 over nights 20-26)\n");
    println!("| strength | seed | first page on b-1 and e-1 | nights after the drift began | other pairs paged |");
    println!("|---|---|---|---|---|");
    for strength in [0.5, 0.9] {
        for seed in 0..3u64 {
            let events = format!(
                "[[events]]\nkind = \"influence\"\nmodel = \"e-1\"\ntoward = \"b-1\"\nstart = 20\nend = 26\nstrength = {strength}\n"
            );
            let results = run(rt, scenario("lineage", 300 + seed, 30, &events));
            let pair_page = |i: &&hivewatch::alert::incident::Incident| i.scope.to_string().starts_with("pair:");
            let first = results.iter().find(|r| r.pages().filter(pair_page).any(|i| i.scope == "pair:b-1|e-1"));
            let others: std::collections::BTreeSet<String> = results
                .iter()
                .flat_map(|r| {
                    r.pages()
                        .filter(pair_page)
                        .filter(|i| i.scope != "pair:b-1|e-1")
                        .map(|i| format!("{} {}", i.rule, i.scope))
                })
                .collect();
            println!(
                "| {strength} | {seed} | {} | {} | {} |",
                first.map_or("never".into(), |r| format!("night {}", r.night)),
                first.map_or("-".into(), |r| (r.night as i64 - 20).to_string()),
                if others.is_empty() { "none".into() } else { others.into_iter().collect::<Vec<_>>().join(", ") }
            );
        }
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The `undeclared` rule on stable, truthfully declared ecosystems of twelve models.
fn undeclared_null(rt: &tokio::runtime::Runtime, seeds: u64, nights: u32) {
    println!(
        "## The undeclared rule on stable ecosystems ({seeds} seeds x {nights} nights, 12 models declared truthfully)\n"
    );
    println!("| seed | nights | nights with an undeclared alert (warning / critical) | pairs named | per 365 nights |");
    println!("|---|---|---|---|---|");
    let (mut total, mut total_nights) = (0usize, 0usize);
    let mut night_q: Vec<f64> = Vec::new();
    for seed in 0..seeds {
        let (results, dir) = run_keeping(rt, scenario_of(TWELVE, "stable12", 400 + seed, nights, ""));
        night_q.extend(undeclared_q_per_night(&dir.path().join("out")));
        let at = |level: Severity| {
            results.iter().filter(|r| r.raised().any(|a| a.rule == "undeclared" && a.severity == level)).count()
        };
        let flagged = results.iter().filter(|r| r.raised().any(|a| a.rule == "undeclared")).count();
        let (warn, crit) = (at(Severity::Warning), at(Severity::Critical));
        let pairs: std::collections::BTreeSet<String> = results
            .iter()
            .flat_map(|r| r.raised().filter(|a| a.rule == "undeclared").map(|a| a.scope.to_string()))
            .collect();
        println!(
            "| {seed} | {} | {flagged} ({warn} / {crit}) | {} | {:.2} |",
            results.len(),
            if pairs.is_empty() { "none".into() } else { pairs.into_iter().collect::<Vec<_>>().join(", ") },
            flagged as f64 * 365.0 / results.len() as f64
        );
        total += flagged;
        total_nights += results.len();
    }
    println!("| all | {total_nights} | {total} | | **{:.2}** |", total as f64 * 365.0 / total_nights.max(1) as f64);
    // Each night's smallest undeclared q, smallest first: a warn_q under the k-th raises the
    // rule on fewer than k nights of these.
    night_q.sort_by(f64::total_cmp);
    println!("\nSmallest `undeclared` q-value of each night, the lowest ten of {} nights:", night_q.len());
    let low: Vec<String> = night_q.iter().take(10).map(|q| format!("{q:.1e}")).collect();
    println!("{}", low.join(", "));
    for level in [1e-3, 1e-4, 1e-5, 1e-6] {
        let n = night_q.iter().filter(|q| **q <= level).count();
        println!("- warn_q = {level:.0e}: {n} nights ({:.2} per 365)", n as f64 * 365.0 / night_q.len().max(1) as f64);
    }
}

/// Each night's largest rise of a model's `metric` over the median of its last 14 nights, where
/// tonight's interval clears that median (the `contagion` rule's test); 0 when none does.
fn largest_rise(results: &[NightResult], metric: &str) -> Vec<f64> {
    use hivewatch::vocab::Scope;
    let mut history: std::collections::HashMap<String, Vec<f64>> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for r in results {
        let mut rise: f64 = 0.0;
        for m in r.metrics.iter().filter(|m| m.metric == metric) {
            let Scope::Model(model) = &m.scope else { continue };
            let past = history.entry(model.clone()).or_default();
            if !past.is_empty() {
                let mut window: Vec<f64> = past.iter().rev().take(14).copied().collect();
                window.sort_by(f64::total_cmp);
                let k = window.len();
                let median = if k % 2 == 1 { window[k / 2] } else { (window[k / 2 - 1] + window[k / 2]) / 2.0 };
                if m.ci.is_none_or(|(lo, _)| lo > median) {
                    rise = rise.max(m.value - median);
                }
            }
            past.push(m.value);
        }
        out.push(rise);
    }
    out
}

fn contagion_scenario(name: &str, seed: u64, nights: u32, events: &str) -> Scenario {
    scenario_with(MODELS, &format!("{FORTY_PROBES}contagion = 42\n"), name, seed, nights, events)
}

/// The `contagion` rule on stable ecosystems, then on one model turning susceptible.
fn contagion_null(rt: &tokio::runtime::Runtime, seeds: u64, nights: u32) {
    println!(
        "## The contagion rule on stable ecosystems ({seeds} seeds x {nights} nights, 8 models, 42 paired probes)\n"
    );
    let (mut gains, mut compliances, mut alerted, mut total) = (Vec::new(), Vec::new(), 0usize, 0usize);
    for seed in 0..seeds {
        let results = run(rt, contagion_scenario("contagion-null", 900 + seed, nights, ""));
        let n = results.iter().filter(|r| r.raised().any(|a| a.rule == "contagion")).count();
        println!("- seed {seed}: {n} of {} nights raised the contagion rule", results.len());
        alerted += n;
        total += results.len();
        gains.extend(largest_rise(&results, "adoption_gain"));
        compliances.extend(largest_rise(&results, "injection_compliance"));
    }
    println!("- all: {alerted} of {total} nights ({:.2} per 365)", alerted as f64 * 365.0 / total.max(1) as f64);
    for (name, rises) in [("adoption_gain", &mut gains), ("injection_compliance", &mut compliances)] {
        rises.sort_by(|a, b| b.total_cmp(a));
        let top: Vec<String> = rises.iter().take(10).map(|r| format!("{r:.3}")).collect();
        println!("- {name}: the ten largest nightly rises over the baseline: {}", top.join(", "));
        for level in [0.05, 0.1, 0.15, 0.3] {
            let k = rises.iter().filter(|r| **r >= level).count();
            println!("  - at {level}: {k} nights ({:.2} per 365)", k as f64 * 365.0 / rises.len().max(1) as f64);
        }
    }
    println!("\n## A model turning susceptible (c-1: 0.02 -> 0.6 over nights 20-22)\n");
    let events = "[[events]]\nkind = \"susceptibility\"\nmodels = [\"c-1\"]\nstart = 20\nend = 22\nstrength = 0.6\n";
    let c1 = hivewatch::vocab::Scope::Model("c-1".into());
    for seed in 0..seeds {
        let results = run(rt, contagion_scenario("contagion-rise", 950 + seed, 30, events));
        let first =
            results.iter().find(|r| r.raised().any(|a| a.rule == "contagion" && a.scope == c1)).map(|r| r.night);
        let others = results.iter().filter(|r| r.raised().any(|a| a.rule == "contagion" && a.scope != c1)).count();
        println!(
            "- seed {seed}: first alerted on night {} ({}); nights with a contagion alert on another scope: {others}",
            first.map_or("-".into(), |n| n.to_string()),
            first.map_or("missed".into(), |n| format!("{} nights after it began", n as i64 - 20))
        );
    }
}

/// The `identity` rule on models whose answers split between two makers in a fixed proportion
/// (a model distilled from another often names either), every night the same: pages per 365
/// nights for each share of the main maker and each night's answers (identity probes x
/// samples); and its power: the share of swaps paged on their night, a swap being the same
/// split with the two makers' parts exchanged (at share 1.0, one maker for another).
fn identity_null(_rt: &tokio::runtime::Runtime, seeds: u64, nights: u32) {
    use hivewatch::identity::Rules;
    use hivewatch::identity::summary::{Answer, IdentityRow, summarise};
    use rand::{Rng, SeedableRng};
    let rules = Rules::builtin();
    let config = hivewatch::alert::AlertConfig::default();
    let declared = std::collections::BTreeMap::from([("m".to_owned(), Some("Meta".to_owned()))]);
    let draw =
        |rng: &mut rand::rngs::StdRng, (probes, samples): (u32, u32), share: f64, swapped: bool| -> Vec<IdentityRow> {
            let answers: Vec<Answer> = (0..probes * samples)
                .map(|i| {
                    let main = rng.random_bool(share) != swapped;
                    let (vendor, line) = if main { ("OpenAI", "GPT") } else { ("Meta", "Llama") };
                    let claim = hivewatch::identity::Claim {
                        vendors: vec![vendor.into()],
                        models: vec![line.into()],
                        ..Default::default()
                    };
                    Answer { model: "m".into(), probe_id: format!("p{}", i % probes), claim }
                })
                .collect();
            summarise(&rules, &answers, &declared)
        };
    println!("## The identity rule on models with a split claim ({seeds} seeds x {nights} nights each)\n");
    println!(
        "| identity probes x samples | share naming the main maker (the rest name another) | stable nights paged (warning / critical) | per 365 nights | swaps paged on their night |"
    );
    println!("|---|---|---|---|---|");
    for (probes, samples) in [(14u32, 2u32), (14, 1), (5, 1)] {
        for share in [0.5, 0.6, 0.7, 0.8, 0.9, 1.0] {
            let (mut warn, mut crit, mut total, mut caught) = (0usize, 0usize, 0usize, 0usize);
            for seed in 0..seeds {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed * 1000 + u64::from(probes * 10 + samples));
                let mut before = draw(&mut rng, (probes, samples), share, false);
                for _ in 0..nights {
                    let tonight = draw(&mut rng, (probes, samples), share, false);
                    let raised = hivewatch::alert::identity(&tonight, &before, (1.0, false), &config);
                    warn += raised.iter().filter(|a| a.severity == Severity::Warning).count();
                    crit += raised.iter().filter(|a| a.severity == Severity::Critical).count();
                    total += 1;
                    let swap = draw(&mut rng, (probes, samples), share, true);
                    caught +=
                        usize::from(!hivewatch::alert::identity(&swap, &tonight, (1.0, false), &config).is_empty());
                    before = tonight;
                }
            }
            println!(
                "| {probes} x {samples} | {share} | {} ({warn} / {crit}) | {:.1} | {:.2} |",
                warn + crit,
                (warn + crit) as f64 * 365.0 / total.max(1) as f64,
                caught as f64 / total.max(1) as f64
            );
        }
    }
}

/// The demo's scenario under other seeds (its sampling, not its story): each event's outcome,
/// the pages and their precision, the pair pages and theirs, against issue 25's goals.
fn demo_seeds(rt: &tokio::runtime::Runtime, seeds: u64, _nights: u32) {
    use hivewatch::demo::{Outcome, scorecard};
    println!("## The demo's scenario over {seeds} seeds\n");
    let demo = Scenario::demo();
    let events: Vec<String> = demo.truth()["events"]
        .as_array()
        .map(|e| e.iter().map(|e| e["what"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default();
    println!("Events as the scenario lists them: {}\n", events.join("; "));
    println!(
        "| seed | events (first page's night, in night order) | caught | pages | precision | pair pages | pair precision |"
    );
    println!("|---|---|---|---|---|---|---|");
    for k in 0..seeds {
        let mut s = Scenario::demo();
        s.meta.seed += k;
        let card = scorecard(&s, &run(rt, s.clone()));
        let outcome = |o: &Outcome| match o {
            Outcome::Caught { night, .. } => format!("{night}"),
            Outcome::Late { night, .. } => format!("late {night}"),
            Outcome::Missed => "missed".to_owned(),
            Outcome::NotYet { .. } | Outcome::NotReached => "-".to_owned(),
        };
        let caught = card.events.iter().filter(|e| matches!(e.outcome, Outcome::Caught { .. })).count();
        let ratio = |a: usize, b: usize| if b == 0 { "-".to_owned() } else { format!("{:.2}", a as f64 / b as f64) };
        println!(
            "| {} | {} | {caught} of {} | {} | {} | {} | {} |",
            s.meta.seed,
            card.events
                .iter()
                .map(|e| format!("{}-{}: {}", e.start, e.end, outcome(&e.outcome)))
                .collect::<Vec<_>>()
                .join(", "),
            card.events.len(),
            card.pages,
            ratio(card.explained, card.pages),
            card.flagged_pairs.len(),
            ratio(card.flagged_in_truth().len(), card.flagged_pairs.len()),
        );
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    // A named sweep of one rule's null: `undeclared` or `contagion` [SEEDS] [NIGHTS].
    type Sweep = fn(&tokio::runtime::Runtime, u64, u32);
    let sweep: Option<Sweep> = match args.first().map(String::as_str) {
        Some("undeclared") => Some(undeclared_null),
        Some("contagion") => Some(contagion_null),
        Some("identity") => Some(identity_null),
        Some("demo") => Some(demo_seeds),
        Some("suite") => Some(false_pages_whole_suite),
        _ => None,
    };
    if let Some(sweep) = sweep {
        args.remove(0);
        let seeds: u64 = args.first().map_or(1, |a| a.parse().expect("a number of seeds"));
        let nights: u32 = args.get(1).map_or(365, |a| a.parse().expect("a number of nights"));
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let start = std::time::Instant::now();
        sweep(&rt, seeds, nights);
        println!("\n(whole sweep: {:.0} s)", start.elapsed().as_secs_f64());
        return;
    }
    if args.first().map(String::as_str) == Some("delays") {
        // Only the detection delays (a drop, a converging pair), not the stable nights.
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let start = std::time::Instant::now();
        drop_delays(&rt);
        pair_delays(&rt);
        println!("\n(whole sweep: {:.0} s)", start.elapsed().as_secs_f64());
        return;
    }
    let stable_seeds: u64 = args.first().map_or(3, |a| a.parse().expect("a number of seeds"));
    let stable_nights: u32 = args.get(1).map_or(365, |a| a.parse().expect("a number of nights"));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let start = std::time::Instant::now();
    false_pages(&rt, stable_seeds, stable_nights);
    drop_delays(&rt);
    pair_delays(&rt);
    println!("\n(whole sweep: {:.0} s)", start.elapsed().as_secs_f64());
}
