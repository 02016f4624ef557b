//! Alerts (table `alerts`): rules over tonight's trend rows, each with a warning and a critical
//! level, configured in `[alerts]` with defaults that suit a nightly run. Sinks: the table, the
//! exit code (1 when a warning or critical alert is raised), a Slack-compatible webhook and a
//! Prometheus textfile ([`sinks`]).
//!
//! The coverage guard comes first: when too few requests succeeded, the night raises one
//! coverage alert and no diversity alert, because missing answers would read as lost diversity.
//! A change of instrument (suite, sampling or embedder) is reported as such (severity `info`),
//! never as a drop: the trend rows of a new segment have no baseline for any rule to compare.
//! A change of the set of models (the panel) is said in words (severity `info`), and the rules
//! judge the values the trend stage measured on the matched panel ([`crate::trend`]); a message
//! gives tonight's value over every model beside the judged one when they differ.

pub mod background;
mod claims;
pub mod incident;
pub mod incident_table;
pub mod sinks;
pub mod table;

use crate::trend::{PanelChange, TrendRow};
use crate::vocab::{Direction, Scope, Status, label};
use background::Backgrounds;

pub use crate::config::alerts::{
    AlertConfig, ConcentrationRule, ContagionRule, DropRule, FloorRule, IdentityRule, PairRule, RefusalRule, ShiftRule,
    TrendRule, UndeclaredRule,
};
pub use crate::config::alerts::{RULES, RuleInfo, RuleScope, rule};
use crate::lineage::{LineageRow, Verdict};
use crate::vocab::metric;
pub use claims::identity;

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The severity a stored row names ([`Severity::as_str`]); anything else reads as info.
    pub fn from_stored(s: &str) -> Severity {
        [Severity::Critical, Severity::Warning].into_iter().find(|v| v.as_str() == s).unwrap_or(Severity::Info)
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub severity: Severity,
    pub rule: String,
    pub scope: Scope,
    pub metric: String,
    pub value: f64,
    pub baseline: Option<f64>,
    /// The level crossed (a percent, a p-value, a floor, a CUSUM interval: see `rule`).
    pub threshold: f64,
    pub message: String,
    /// The incident this alert holds (raised alerts only; set by [`incident::track`]).
    pub incident: Option<String>,
    /// The open ecosystem incident that explains it and holds it back (a `pair` alert during a
    /// narrowing): kept in the table, not paged.
    pub inhibited_by: Option<String>,
}

/// Raised alerts that should page someone (warning or critical).
pub fn raised(alerts: &[Alert]) -> usize {
    alerts.iter().filter(|a| a.severity >= Severity::Warning).count()
}

fn level(converging: f64, warn: f64, critical: f64) -> Option<(Severity, f64)> {
    if converging >= critical {
        Some((Severity::Critical, critical))
    } else if converging >= warn {
        Some((Severity::Warning, warn))
    } else {
        None
    }
}

/// The baseline lies outside tonight's interval on the converging side (no interval: true).
fn beyond_interval(row: &TrendRow, baseline: f64) -> bool {
    match (row.ci, row.direction) {
        (Some((_, hi)), Direction::DownIsBad) => hi < baseline,
        (Some((lo, _)), Direction::UpIsBad) => lo > baseline,
        _ => true,
    }
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.3}") }
}

/// An alert about the whole night (no trend row).
fn night_alert(severity: Severity, rule: &str, metric: &str, value: f64, threshold: f64, message: String) -> Alert {
    Alert {
        severity,
        rule: rule.into(),
        scope: Scope::Overall,
        metric: metric.into(),
        value,
        baseline: None,
        threshold,
        message,
        incident: None,
        inhibited_by: None,
    }
}

/// The night's panel change in words (severity info: it pages no one).
pub fn panel_change(change: &PanelChange) -> Alert {
    let judged = if change.judged < 2 {
        "fewer than two models in common with the baseline runs: a new baseline starts tonight".to_owned()
    } else if change.judged == change.tonight && change.new.is_empty() {
        format!(
            "ecosystem trends are judged on tonight's {} models, their baseline measured again on them",
            change.judged
        )
    } else {
        format!("ecosystem trends are judged on the {} models present tonight and in every baseline run", change.judged)
    };
    let message = format!("the panel changed: {}; {judged}", change.words());
    night_alert(
        Severity::Info,
        rule::PANEL_CHANGE,
        metric::MODELS,
        change.tonight as f64,
        change.before as f64,
        message,
    )
}

/// Evaluates the rules on tonight's trend rows and sets each row's status (alert for a critical
/// alert on it, watch for a warning). `pairs`: how far tonight's pair series moved together
/// ([`Backgrounds::of_pairs`] of these rows, one per pair series), what a pair must stand apart from.
pub fn evaluate(rows: &mut [TrendRow], coverage: f64, config: &AlertConfig, pairs: &Backgrounds) -> Vec<Alert> {
    if coverage < config.min_coverage {
        let message = format!(
            "only {:.1}% of requests succeeded (the guard is {:.1}%): diversity is not judged tonight",
            coverage * 100.0,
            config.min_coverage * 100.0
        );
        return vec![night_alert(
            Severity::Critical,
            rule::COVERAGE,
            "coverage",
            coverage,
            config.min_coverage,
            message,
        )];
    }
    let mut out = Vec::new();
    if rows.iter().any(|r| r.instrument_change) {
        let message = "the suite, the sampling or the embedder changed: a new baseline starts tonight".into();
        out.push(night_alert(Severity::Info, rule::INSTRUMENT_CHANGE, "", 0.0, 0.0, message));
    }
    let spread_fell = rows
        .iter()
        .find(|r| r.scope.is_overall() && r.metric == metric::spread(metric::REFUSAL_RATE))
        .and_then(|r| r.delta)
        .is_some_and(|d| d < 0.0);
    for row in rows.iter_mut() {
        // Each pair series stands apart from its own background: tonight's pairs on that series.
        let background = pairs.of(&row.metric);
        for (rule, Fired { severity, threshold, message }) in fired_rules(row, config, spread_fell, background) {
            row.status = row.status.max(match severity {
                Severity::Critical => Status::Alert,
                Severity::Warning => Status::Watch,
                Severity::Info => Status::Ok,
            });
            out.push(Alert {
                severity,
                rule: rule.to_owned(),
                scope: row.scope.clone(),
                metric: row.metric.clone(),
                value: row.value,
                baseline: row.baseline,
                threshold,
                message,
                incident: None,
                inhibited_by: None,
            });
        }
    }
    sort(&mut out);
    out
}

/// Most severe first, then by rule and scope.
pub fn sort(alerts: &mut [Alert]) {
    alerts.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then(a.rule.cmp(&b.rule)).then(a.scope.to_string().cmp(&b.scope.to_string()))
    });
}

/// The `undeclared` rule over tonight's `lineage` rows: one alert per pair of models judged
/// `undeclared` with a q-value at or under the rule's levels. Nothing when the night's coverage
/// is under the guard (the coverage alert says why), when the rule is off, for an imported run
/// unless `on_imports`, or when the night declares no lineage at all (`declares_any`: no vendor,
/// family or parent for any model): then every close pair would be "undeclared", and a
/// configuration that never declares is not asking; the `lineage` table still has the verdicts.
pub fn undeclared(
    rows: &[LineageRow],
    declares_any: bool,
    coverage: f64,
    imported: bool,
    config: &AlertConfig,
) -> Vec<Alert> {
    let rule = &config.undeclared;
    if !declares_any || !rule.enabled || (imported && !rule.on_imports) || coverage < config.min_coverage {
        return Vec::new();
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for r in rows.iter().filter(|r| r.verdict == Some(Verdict::Undeclared)) {
        let (Some(q), Some(z), Some((value, lo, hi))) = (r.q, r.z, r.calibrated) else { continue };
        let scope = Scope::pair(&r.model, &r.relative);
        let level = if q <= rule.critical_q {
            (Severity::Critical, rule.critical_q)
        } else if q <= rule.warn_q {
            (Severity::Warning, rule.warn_q)
        } else {
            continue;
        };
        if !seen.insert(scope.to_string()) {
            continue;
        }
        let Scope::Pair(a, b) = &scope else { unreachable!("a pair scope") };
        out.push(Alert {
            severity: level.0,
            rule: rule::UNDECLARED.into(),
            scope: scope.clone(),
            metric: "q_value".into(),
            value: q,
            baseline: None,
            threshold: level.1,
            message: format!(
                "{a} and {b} answer significantly more alike than the ecosystem's background (calibrated similarity {} with 95% interval {}-{}, z = {z:.1}, q = {q:.1e}, over {} common probes), yet neither declares the other as a parent nor the same family: an undeclared relative?",
                fmt(value),
                fmt(lo),
                fmt(hi),
                r.n_probes
            ),
            incident: None,
            inhibited_by: None,
        });
    }
    out
}

/// The enabled rules that fire on one trend row.
fn fired_rules(
    row: &TrendRow,
    config: &AlertConfig,
    spread_fell: bool,
    pairs: Option<background::Background>,
) -> Vec<(&'static str, Fired)> {
    let on = |enabled: bool, judge: &dyn Fn() -> Option<Fired>| if enabled { judge() } else { None };
    // The rules that compare tonight with a baseline wait for one worth the name: a median of
    // one or two nights is those nights' own sampling noise (`min_baseline_runs`). The floor is
    // absolute and judges from the first night; trend and pair wait for their own series.
    let based = row.baseline_n >= config.min_baseline_runs;
    [
        (rule::DROP, on(config.drop.enabled && based, &|| drop_rule(&config.drop, row))),
        (rule::TREND, on(config.trend.enabled, &|| trend_rule(&config.trend, row))),
        (rule::FLOOR, on(config.floor.enabled, &|| floor_rule(&config.floor, row))),
        (rule::SHIFT, on(config.shift.enabled && based, &|| shift_rule(&config.shift, row))),
        (rule::PAIR, on(config.pair.enabled, &|| pair_rule(&config.pair, row, pairs))),
        (
            rule::CONCENTRATION,
            on(config.concentration.enabled && based, &|| concentration_rule(&config.concentration, row)),
        ),
        (rule::REFUSAL, on(config.refusal.enabled && based, &|| refusal_rule(&config.refusal, row, spread_fell))),
        (rule::CONTAGION, on(config.contagion.enabled && based, &|| contagion_rule(&config.contagion, row))),
    ]
    .into_iter()
    .filter_map(|(name, fired)| Some((name, fired?)))
    .collect()
}

/// A rule that fired on a row: its level and what to say.
struct Fired {
    severity: Severity,
    threshold: f64,
    message: String,
}

fn fired((severity, threshold): (Severity, f64), message: String) -> Option<Fired> {
    Some(Fired { severity, threshold, message })
}

fn interval(row: &TrendRow) -> String {
    row.ci.map(|(lo, hi)| format!(" (95% interval {}-{})", fmt(lo), fmt(hi))).unwrap_or_default()
}

/// When the value judged is not over every model of tonight: which panel, and the full value.
fn panel_note(row: &TrendRow) -> String {
    row.full
        .map(|(value, models)| {
            format!(
                "; on the {} models tonight shares with its baseline (all {models} models tonight: {})",
                row.panel_models,
                fmt(value)
            )
        })
        .unwrap_or_default()
}

fn overall_in(row: &TrendRow, metrics: &[String]) -> bool {
    row.scope.is_overall() && metrics.contains(&row.metric)
}

fn drop_rule(rule: &DropRule, row: &TrendRow) -> Option<Fired> {
    let (pct, base) = (row.pct_change?, row.baseline?);
    if !overall_in(row, &rule.metrics) || !beyond_interval(row, base) {
        return None;
    }
    let converging = row.direction.toward_convergence(pct);
    let what = if row.direction == Direction::UpIsBad { "rose" } else { "fell" };
    fired(
        level(converging, rule.warn_pct, rule.critical_pct)?,
        format!(
            "{} {what} {converging:.1}% against its baseline of {} (tonight {}{}){}",
            label(&row.metric),
            fmt(base),
            fmt(row.value),
            interval(row),
            panel_note(row)
        ),
    )
}

fn trend_rule(rule: &TrendRule, row: &TrendRow) -> Option<Fired> {
    let (mk, base) = (row.mann_kendall?, row.baseline.filter(|b| b.abs() > 1e-12)?);
    if !overall_in(row, &rule.metrics) || row.trend_n < rule.min_runs {
        return None;
    }
    let moved = row.direction.toward_convergence(mk.slope) * (row.trend_n - 1) as f64 / base.abs() * 100.0;
    if moved < rule.min_change_pct {
        return None;
    }
    let l = if mk.p < rule.critical_p {
        (Severity::Critical, rule.critical_p)
    } else if mk.p < rule.warn_p {
        (Severity::Warning, rule.warn_p)
    } else {
        return None;
    };
    fired(
        l,
        format!(
            "{} has moved toward convergence night after night for {} runs ({moved:.1}% of its baseline in all, {} a night; a steady trend, p = {:.2e}){}",
            label(&row.metric),
            row.trend_n,
            fmt(mk.slope),
            mk.p,
            panel_note(row)
        ),
    )
}

fn floor_rule(rule: &FloorRule, row: &TrendRow) -> Option<Fired> {
    if !row.scope.is_overall() || row.metric != rule.metric {
        return None;
    }
    let l = if row.value <= rule.critical {
        (Severity::Critical, rule.critical)
    } else if row.value <= rule.warn {
        (Severity::Warning, rule.warn)
    } else {
        return None;
    };
    let (name, value) = (label(&row.metric), fmt(row.value));
    fired(l, format!("{name} is {value}, at or under the floor of {}{}", fmt(l.1), panel_note(row)))
}

fn shift_rule(rule: &ShiftRule, row: &TrendRow) -> Option<Fired> {
    if !overall_in(row, &rule.metrics) {
        return None;
    }
    let side = if row.direction == Direction::UpIsBad { row.cusum_high } else { row.cusum_low };
    fired(
        level(side, rule.warn, rule.critical)?,
        format!(
            "{} has shifted toward convergence and stayed: its nights past the baseline add up to {side:.1} times its usual night-to-night spread (tonight {}, baseline {}){}",
            label(&row.metric),
            fmt(row.value),
            row.baseline.map_or("-".into(), fmt),
            panel_note(row)
        ),
    )
}

/// A pair converging: its series rising (Mann-Kendall), up `warn_delta` or more on its baseline
/// beyond tonight's interval, and apart from tonight's other pairs (`pairs`: a rise every pair
/// shares, or no larger than one pair's night-to-night noise, is recorded as info, not paged).
fn pair_rule(rule: &PairRule, row: &TrendRow, pairs: Option<background::Background>) -> Option<Fired> {
    let (mk, delta, base, n) = (row.mann_kendall?, row.delta?, row.baseline?, row.n);
    let Scope::Pair(a, b) = &row.scope else { return None };
    let (warn, critical) = match row.metric.as_str() {
        metric::PHRASE_UPTAKE if rule.phrase_uptake => rule.phrase_levels(n),
        m if m == rule.metric => (rule.warn_delta, rule.critical_delta),
        _ => return None,
    };
    // Phrase uptake steps (a phrase is taken up or not): a step beyond its own noise, no trend,
    // held two comparable nights in a row (Prometheus's `for`; one night's jump is chance).
    let phrases = row.metric == metric::PHRASE_UPTAKE;
    let step = |z: Option<f64>| z.is_some_and(|z| z >= background::APART_Z);
    let stepped = step(row.robust_z) && step(row.previous_robust_z);
    let trended = mk.p < rule.p && mk.slope > 0.0;
    if row.trend_n < rule.min_runs || !(if phrases { stepped } else { trended }) || !beyond_interval(row, base) {
        return None;
    }
    let (series, doing, reading) = background::words(&row.metric, row.value);
    let (severity, threshold) = level(delta, warn, critical)?;
    let how = match row.robust_z.filter(|_| phrases) {
        Some(z) => format!("a step of {z:.1} robust spreads, held 2 nights (level {threshold:.3} on {n} probes)"),
        None => format!("rising (p = {:.2e})", mk.p),
    };
    if let Some(z) = pairs.map(|p| p.z(delta)).filter(|z| *z < background::APART_Z) {
        return fired(
            (Severity::Info, threshold),
            format!(
                "{a} and {b}: {series} is {}, up {delta:.3} on its baseline and {how}, but no more than tonight's other pairs ({z:.1} robust spreads above their median rise; {} make a pair stand apart): not paged",
                fmt(row.value),
                background::APART_Z
            ),
        );
    }
    fired(
        (severity, threshold),
        format!(
            "{a} and {b} {doing}: {series} is {}, up {delta:.3} on its baseline and {how}; {reading}",
            fmt(row.value),
        ),
    )
}

fn concentration_rule(rule: &ConcentrationRule, row: &TrendRow) -> Option<Fired> {
    let (pct, base) = (row.pct_change?, row.baseline?);
    if !row.scope.is_overall() || row.metric != metric::family_hhi_at(rule.level) {
        return None;
    }
    fired(
        level(pct, rule.warn_pct, rule.critical_pct)?,
        format!(
            "one behaviour family is taking over: family concentration (HHI) {} is {pct:.1}% above its baseline of {}{}",
            fmt(row.value),
            fmt(base),
            panel_note(row)
        ),
    )
}

fn refusal_rule(rule: &RefusalRule, row: &TrendRow, spread_fell: bool) -> Option<Fired> {
    let delta = row.delta?;
    if !row.scope.is_overall() || row.metric != metric::REFUSAL_AGREEMENT || !spread_fell {
        return None;
    }
    fired(
        level(delta, rule.warn_pts, rule.critical_pts)?,
        format!(
            "refusal monoculture: models agree more on what they refuse (agreement {}, up {delta:.3}) while their refusal rates draw together{}",
            fmt(row.value),
            panel_note(row)
        ),
    )
}

/// A model taking up what feeds broadcast more than it did (`adoption_gain`,
/// `injection_compliance` up on its baseline, the baseline under tonight's interval), or one
/// feed making the models more alike than before (`exposure_similarity_gain` up).
fn contagion_rule(rule: &ContagionRule, row: &TrendRow) -> Option<Fired> {
    let (delta, base) = (row.delta?, row.baseline?);
    match (&row.scope, row.metric.as_str()) {
        (Scope::Model(model), name @ (metric::ADOPTION_GAIN | metric::INJECTION_COMPLIANCE)) => {
            if !row.ci.is_none_or(|(lo, _)| lo > base) {
                return None;
            }
            let (what, warn, critical) = if name == metric::ADOPTION_GAIN {
                ("takes up what a feed broadcasts", rule.warn_pts, rule.critical_pts)
            } else {
                (
                    "carries out instructions addressed to agents inside posts",
                    rule.warn_injection,
                    rule.critical_injection,
                )
            };
            fired(
                level(delta, warn, critical)?,
                format!(
                    "{model} {what} more than before: {name} {}{}, up {delta:.2} on its baseline of {}",
                    fmt(row.value),
                    interval(row),
                    fmt(base)
                ),
            )
        }
        (Scope::Overall, metric::EXPOSURE_SIMILARITY_GAIN) if beyond_interval(row, base) => fired(
            level(delta, rule.warn_similarity, rule.critical_similarity)?,
            format!(
                "convergence under exposure: after a shared feed the models' answers are more alike than asked cold by {}, up {delta:.3} on its baseline{}",
                fmt(row.value),
                panel_note(row)
            ),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use rand::{Rng, SeedableRng};

    use super::*;

    /// The `undeclared` rule pages on a close undeclared pair of a nightly run, and stays quiet
    /// on imports (by default), under the coverage guard, and where nothing is declared at all.
    #[test]
    fn undeclared_pages_only_where_lineage_is_declared() {
        let row = LineageRow {
            model: "b".into(),
            relative: "a".into(),
            rank: Some(1),
            calibrated: Some((0.2, 0.18, 0.22)),
            z: Some(5.0),
            q: Some(5e-6),
            z_content: Some(5.0),
            z_style: None,
            carried: None,
            n_probes: 200,
            declared: None,
            same_vendor: false,
            verdict: Some(Verdict::Undeclared),
            claimed_maker: None,
            identity: None,
            claims_relative_vendor: false,
        };
        let config = AlertConfig::default();
        let raised = undeclared(std::slice::from_ref(&row), true, 1.0, false, &config);
        assert_eq!(raised.len(), 1);
        assert_eq!((raised[0].severity, raised[0].scope.to_string()), (Severity::Warning, "pair:a|b".to_owned()));
        assert!(undeclared(std::slice::from_ref(&row), false, 1.0, false, &config).is_empty(), "nothing declared");
        assert!(undeclared(std::slice::from_ref(&row), true, 1.0, true, &config).is_empty(), "an import");
        assert!(undeclared(std::slice::from_ref(&row), true, 0.5, false, &config).is_empty(), "low coverage");
        // 1e-4 passes the table's 5% FDR but not the level chosen on the null (BENCHMARKS.md).
        let far = LineageRow { q: Some(1e-4), ..row };
        assert!(undeclared(&[far], true, 1.0, false, &config).is_empty(), "not significant enough");
    }
    use crate::metrics::aggregate::RunMetric;
    use crate::trend::{Carried, Panel, TrendSettings, compute_trends};

    fn metric(scope: &str, name: &str, value: f64, half_width: f64) -> RunMetric {
        RunMetric {
            scope: scope.parse().unwrap(),
            metric: name.into(),
            value,
            ci: Some((value - half_width, value + half_width)),
            n: 200,
            n_models: 12,
        }
    }

    /// A night of overall metrics around the given effective number of models.
    fn night(rng: &mut rand::rngs::StdRng, effective: f64) -> Vec<RunMetric> {
        let noise =
            |rng: &mut rand::rngs::StdRng, sd: f64| (0..4).map(|_| rng.random_range(-sd..sd)).sum::<f64>() / 2.0;
        vec![
            metric("overall", "effective_models", effective + noise(rng, 0.06), 0.12),
            metric("overall", "model_vendi_ratio", effective / 12.0 + noise(rng, 0.004), 0.008),
            metric("overall", "homogenization_index", 0.75 - (effective - 4.0) * 0.02 + noise(rng, 0.006), 0.012),
            metric("overall", "family_hhi", 0.18, 0.0),
        ]
    }

    /// Runs the trend and alert stages night after night (instrument changes where marked);
    /// returns each night's raised alerts.
    fn simulate(nights: &[(Vec<RunMetric>, bool)], coverage: f64) -> Vec<Vec<Alert>> {
        simulate_with(nights, coverage, &AlertConfig::default())
    }

    fn simulate_with(nights: &[(Vec<RunMetric>, bool)], coverage: f64, config: &AlertConfig) -> Vec<Vec<Alert>> {
        let settings = TrendSettings::default();
        let mut history: Vec<Vec<RunMetric>> = Vec::new();
        let mut carried: HashMap<(Scope, String), Carried> = HashMap::new();
        let mut out = Vec::new();
        let panel = Panel::of(BTreeSet::new());
        for (i, (metrics, change)) in nights.iter().enumerate() {
            if *change {
                history.clear();
                carried.clear();
            }
            let mut rows = compute_trends(&format!("n{i}"), metrics, &history, &carried, *change, &settings, &panel);
            let pairs = background::Backgrounds::of_pairs(&rows);
            out.push(evaluate(&mut rows, coverage, config, &pairs));
            carried = rows
                .iter()
                .map(|r| {
                    let state = Carried {
                        cusum_low: r.cusum_low,
                        cusum_high: r.cusum_high,
                        segment_start: r.segment_start.clone(),
                        panel_id: Some(r.panel_id.clone()),
                        robust_z: r.robust_z,
                    };
                    ((r.scope.clone(), r.metric.clone()), state)
                })
                .collect();
            history.push(metrics.clone());
        }
        out
    }

    fn paging(alerts: &[Alert]) -> Vec<&Alert> {
        alerts.iter().filter(|a| a.severity >= Severity::Warning).collect()
    }

    #[test]
    fn sixty_stable_nights_raise_nothing() {
        for seed in 0..5 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let nights: Vec<(Vec<RunMetric>, bool)> = (0..60).map(|_| (night(&mut rng, 4.0), false)).collect();
            for (i, alerts) in simulate(&nights, 1.0).iter().enumerate() {
                assert!(paging(alerts).is_empty(), "seed {seed} night {i}: {alerts:?}");
            }
        }
    }

    #[test]
    fn a_planted_drop_alerts_on_its_night_with_its_severity() {
        for (drop, severity) in [(0.30, Severity::Critical), (0.15, Severity::Warning)] {
            let mut rng = rand::rngs::StdRng::seed_from_u64(3);
            let nights: Vec<(Vec<RunMetric>, bool)> =
                (0..45).map(|i| (night(&mut rng, if i < 40 { 4.0 } else { 4.0 * (1.0 - drop) }), false)).collect();
            let alerts = simulate(&nights, 1.0);
            for (i, a) in alerts.iter().enumerate().take(40) {
                assert!(paging(a).is_empty(), "night {i} before the drop: {a:?}");
            }
            let drop_alert = alerts[40]
                .iter()
                .find(|a| a.rule == "drop" && a.metric == "effective_models")
                .unwrap_or_else(|| panic!("no drop alert on night 40: {:?}", alerts[40]));
            assert_eq!(drop_alert.severity, severity, "{drop_alert:?}");
            assert!(drop_alert.message.contains("effective number of models fell"), "{}", drop_alert.message);
        }
    }

    #[test]
    fn a_change_of_instrument_is_reported_as_such_never_as_a_drop() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        // Night 30 changes embedder: every value moves to another scale.
        let nights: Vec<(Vec<RunMetric>, bool)> = (0..40)
            .map(|i| {
                let mut n = night(&mut rng, 4.0);
                if i >= 30 {
                    n.iter_mut().for_each(|m| m.value *= 0.6);
                }
                (n, i == 30)
            })
            .collect();
        let alerts = simulate(&nights, 1.0);
        for (i, a) in alerts.iter().enumerate() {
            assert!(paging(a).is_empty(), "night {i}: {a:?}");
        }
        assert!(alerts[30].iter().any(|a| a.rule == "instrument_change" && a.severity == Severity::Info));
        assert!(alerts[31].iter().all(|a| a.rule != "instrument_change"));
    }

    #[test]
    fn low_coverage_raises_only_the_coverage_alert() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let nights: Vec<(Vec<RunMetric>, bool)> =
            (0..20).map(|i| (night(&mut rng, if i < 19 { 4.0 } else { 2.0 }), false)).collect();
        let alerts = simulate(&nights, 0.5);
        assert_eq!(alerts[19].len(), 1);
        assert_eq!((alerts[19][0].rule.as_str(), alerts[19][0].severity), ("coverage", Severity::Critical));
    }

    /// 26 nights of eight pairs' `phrase_uptake` around 0.06, each pair measured on `probes`
    /// probes, plus `step(pair, night)`.
    fn phrase_nights(probes: usize, step: impl Fn(&str, u32) -> f64) -> Vec<(Vec<RunMetric>, bool)> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let pairs = ["a|b", "a|c", "a|d", "b|c", "b|d", "c|d", "a|e", "b|e"];
        (0..26)
            .map(|i| {
                let mut n = night(&mut rng, 4.0);
                for p in pairs {
                    let value = 0.06 + step(p, i) + rng.random_range(-0.004..0.004);
                    let mut m = metric(&format!("pair:{p}"), "phrase_uptake", value, 0.0);
                    (m.ci, m.n) = (None, probes);
                    n.push(m);
                }
                (n, false)
            })
            .collect()
    }

    #[test]
    fn a_pair_taking_up_anothers_phrases_is_flagged_when_the_step_holds_a_second_night() {
        // a|b takes up phrases from night 20 on; c|d jumps on night 14 alone.
        let nights =
            phrase_nights(200, |p, i| if (p == "a|b" && i >= 20) || (p == "c|d" && i == 14) { 0.2 } else { 0.0 });
        let alerts = simulate(&nights, 1.0);
        let first = alerts.iter().position(|a| a.iter().any(|x| x.rule == "pair")).expect("a pair alert");
        assert_eq!(first, 21, "flagged on the step's second night; a one-night jump is not flagged");
        assert!(alerts.iter().flatten().filter(|x| x.rule == "pair").all(|x| x.scope == Scope::pair("a", "b")));
        let a = alerts[first].iter().find(|x| x.rule == "pair").unwrap();
        assert_eq!(
            (a.scope.to_string(), a.metric.as_str(), a.severity),
            ("pair:a|b".to_owned(), "phrase_uptake", Severity::Critical)
        );
        assert!(a.message.contains("have come to share recurring phrases of their own"), "{}", a.message);
        // Turned off: the series is kept, nothing is raised on it.
        let mut off = AlertConfig::default();
        off.pair.phrase_uptake = false;
        assert!(simulate_with(&nights, 1.0, &off).iter().flatten().all(|x| x.metric != "phrase_uptake"));
    }

    #[test]
    fn the_phrase_level_scales_with_the_probes_the_pair_answered() {
        // One held step of 0.06: over the level on 200 probes (0.09 x sqrt(40/200) = 0.040),
        // under it on 40 (0.09), where the same step is within the null's noise.
        for (probes, paged) in [(200, true), (40, false)] {
            let nights = phrase_nights(probes, |p, i| if p == "a|b" && i >= 20 { 0.06 } else { 0.0 });
            let alerts = simulate(&nights, 1.0);
            let flagged = alerts.iter().flatten().filter(|x| x.rule == "pair" && x.severity != Severity::Info);
            assert_eq!(flagged.clone().count() > 0, paged, "{probes} probes: {:?}", flagged.collect::<Vec<_>>());
            if let Some(a) = alerts.iter().flatten().find(|x| x.rule == "pair" && x.severity != Severity::Info) {
                assert!(a.message.contains("(level 0.040 on 200 probes)"), "the page states its level: {}", a.message);
            }
        }
    }

    #[test]
    fn a_pair_converging_night_after_night_is_flagged() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let nights: Vec<(Vec<RunMetric>, bool)> = (0..30)
            .map(|i| {
                let mut n = night(&mut rng, 4.0);
                let excess = if i < 15 { 0.0 } else { 0.012 * f64::from(i - 14) };
                n.push(metric(
                    "pair:acme-a|ember-e",
                    "calibrated_similarity",
                    excess + rng.random_range(-0.003..0.003),
                    0.01,
                ));
                (n, false)
            })
            .collect();
        let alerts = simulate(&nights, 1.0);
        let first = alerts.iter().position(|a| a.iter().any(|x| x.rule == "pair")).expect("a pair alert");
        assert!((17..=24).contains(&first), "flagged on night {first}");
        let a = alerts[first].iter().find(|x| x.rule == "pair").unwrap();
        assert!(a.message.contains("acme-a and ember-e are converging apart from the rest"), "{}", a.message);
        // The series may still be near or under zero while it rises: the message states it.
        assert!(a.message.contains("their calibrated similarity (how much closer"), "{}", a.message);
        assert!(alerts[..15].iter().all(|a| paging(a).is_empty()));
    }

    #[test]
    fn levels_must_be_ordered() {
        let mut c = AlertConfig::default();
        assert_eq!(c.validate(), Ok(()));
        c.drop.warn_pct = 30.0;
        assert!(c.validate().unwrap_err().contains("drop"));
        let mut c = AlertConfig::default();
        c.trend.metrics.push("refusal_rate".into());
        assert!(c.validate().unwrap_err().contains("refusal_rate"));
    }
}
