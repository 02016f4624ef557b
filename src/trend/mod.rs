//! Trends (table `trends`): tonight's `run_metrics` against the comparable runs before it.
//!
//! Each run reads only the `run_metrics` of the last few comparable runs and the previous
//! comparable run's `trends` (for the CUSUM state), never the history of responses, so a
//! night's cost does not grow with the length of the history.
//!
//! Comparable runs share the suite id, the sampling parameters ([`crate::plan::Plan::sampling_id`])
//! and the embedder. A run with no comparable predecessor starts a new *segment* with its own
//! baseline; when earlier runs exist but none is comparable, that is a change of instrument
//! (`instrument_change`), reported as such and never as a drop.
//!
//! Per (scope, metric): the value and its interval; the baseline, the median of the last
//! `baseline_runs` comparable values, with delta and percent change; a robust z-score against
//! them; Mann-Kendall with Sen's slope over the last `trend_runs` values, tonight's included;
//! and a two-sided CUSUM in units of the baseline's robust spread (or of tonight's bootstrap
//! standard error, whichever is larger), carried from night to night.
//!
//! **The panel.** The ecosystem-wide figures (effective number of models, Vendi ratio,
//! family concentration, ...) depend on which models were asked: retiring one model, adding one
//! or swapping one moves them with no change in any model's behaviour. So a trend compares like
//! with like: tonight and every earlier run of the window are measured on the *judged panel*,
//! the models tonight shares with every one of those runs ([`Panel`]). Where a run's own models
//! are that panel, its stored `run_metrics` are used as they are; otherwise its measures are
//! recomputed from its stored tables over the judged panel alone
//! ([`crate::metrics::stage::measure_panel`], cached in the state folder, see [`stage`]), which
//! costs one measure stage per run whose panel differs, once. Tonight's value over all its
//! models is kept beside the judged one (`full_value`), and a change of panel is said in words
//! ([`PanelChange`]). A model that joins is judged once every run of the window has it.

pub mod stage;
pub mod stats;
pub mod table;

use std::collections::{BTreeSet, HashMap};

use crate::metrics::aggregate::RunMetric;
pub use crate::vocab::Direction;
use crate::vocab::{Scope, Status};
use stats::{MannKendall, cusum_step, mann_kendall, median, robust_z};

/// Windows and detector constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendSettings {
    /// Comparable runs in the baseline (rolling median).
    pub baseline_runs: usize,
    /// Runs in the Mann-Kendall window, tonight's included.
    pub trend_runs: usize,
    /// CUSUM allowance, in spreads: shifts smaller than this are absorbed.
    pub cusum_k: f64,
    /// A CUSUM side that reached this restarts from zero the next night (the shift has been
    /// signalled; what follows is measured afresh against the moving baseline).
    pub cusum_reset: f64,
}

impl TrendSettings {
    /// The windows `[alerts]` sets; a CUSUM side restarts after reaching the shift rule's
    /// critical level.
    pub fn from_alerts(config: &crate::config::alerts::AlertConfig) -> Self {
        TrendSettings {
            baseline_runs: config.baseline_runs,
            trend_runs: config.trend_runs,
            cusum_reset: config.shift.critical,
            ..Default::default()
        }
    }
}

impl Default for TrendSettings {
    fn default() -> Self {
        TrendSettings { baseline_runs: 14, trend_runs: 14, cusum_k: 0.5, cusum_reset: 12.0 }
    }
}

/// The CUSUM state and segment a (scope, metric) carries from its previous comparable run.
#[derive(Debug, Clone, PartialEq)]
pub struct Carried {
    pub cusum_low: f64,
    pub cusum_high: f64,
    pub segment_start: String,
    /// The panel that run's value was measured on (None in files written before panels were
    /// recorded): a CUSUM restarts when tonight's judged panel differs.
    pub panel_id: Option<String>,
    /// That run's robust z: a step that must hold two nights looks it up.
    pub robust_z: Option<f64>,
}

/// A set of models (endpoint names) that values are measured on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panel {
    /// A short hash of the sorted names: equal ids, equal panels.
    pub id: String,
    pub models: BTreeSet<String>,
}

impl Panel {
    pub fn of(models: BTreeSet<String>) -> Panel {
        let joined: Vec<&str> = models.iter().map(String::as_str).collect();
        let id = crate::util::sha256_hex(joined.join("\n").as_bytes())[..12].to_owned();
        Panel { id, models }
    }

    /// The models a run's metrics were measured on: those with a `model:` scope (a model with
    /// at least one answer).
    pub fn of_metrics(metrics: &[RunMetric]) -> Panel {
        Panel::of(
            metrics
                .iter()
                .filter_map(|m| match &m.scope {
                    Scope::Model(name) => Some(name.clone()),
                    _ => None,
                })
                .collect(),
        )
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

/// Tonight's models against the previous comparable run's, in words for the alerts and the
/// report: "5 -> 4 models: delta-chat missing".
#[derive(Debug, Clone, PartialEq)]
pub struct PanelChange {
    pub before: usize,
    pub tonight: usize,
    /// In the previous comparable run, not tonight.
    pub missing: Vec<String>,
    /// Tonight, not in the previous comparable run.
    pub new: Vec<String>,
    /// Models the ecosystem figures are judged on tonight (see the module docs).
    pub judged: usize,
}

impl PanelChange {
    /// `None` when the two panels are the same.
    pub fn between(before: &Panel, tonight: &Panel, judged: &Panel) -> Option<PanelChange> {
        (before.id != tonight.id).then(|| PanelChange {
            before: before.len(),
            tonight: tonight.len(),
            missing: before.models.difference(&tonight.models).cloned().collect(),
            new: tonight.models.difference(&before.models).cloned().collect(),
            judged: judged.len(),
        })
    }

    /// "5 -> 4 models: delta-chat missing" (at most five names of each kind).
    pub fn words(&self) -> String {
        let names = |v: &[String], what: &str| -> Option<String> {
            if v.is_empty() {
                return None;
            }
            let shown: Vec<&str> = v.iter().take(5).map(String::as_str).collect();
            let more = if v.len() > 5 { format!(" and {} more", v.len() - 5) } else { String::new() };
            Some(format!("{}{more} {what}", shown.join(", ")))
        };
        let parts: Vec<String> =
            [names(&self.missing, "missing"), names(&self.new, "new")].into_iter().flatten().collect();
        format!("{} -> {} models: {}", self.before, self.tonight, parts.join("; "))
    }
}

/// One row of `trends`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendRow {
    pub scope: Scope,
    pub metric: String,
    pub direction: Direction,
    pub value: f64,
    pub ci: Option<(f64, f64)>,
    pub n: usize,
    /// The run that started this comparable segment.
    pub segment_start: String,
    /// No earlier run is comparable but some exist: the instrument changed tonight.
    pub instrument_change: bool,
    /// Comparable earlier values behind the baseline (at most `baseline_runs`).
    pub baseline_n: usize,
    pub baseline: Option<f64>,
    /// The spread the CUSUM counts in (see `spread`): the width of the baseline band.
    pub spread: Option<f64>,
    pub delta: Option<f64>,
    pub pct_change: Option<f64>,
    pub robust_z: Option<f64>,
    /// The previous comparable run's robust z of this series (on its own baseline), when that
    /// run was on the same panel; not stored (the previous run's row has it).
    pub previous_robust_z: Option<f64>,
    pub mann_kendall: Option<MannKendall>,
    /// Values in the Mann-Kendall window.
    pub trend_n: usize,
    pub cusum_low: f64,
    pub cusum_high: f64,
    /// ok / watch / alert: set from the alerts raised on this row (see [`crate::alert`]).
    pub status: Status,
    /// Models the value (and its baseline) is measured on: the judged panel (module docs).
    pub panel_models: usize,
    /// [`Panel::id`] of that panel.
    pub panel_id: String,
    /// Tonight's value over all of tonight's models, and how many, when the judged panel is
    /// smaller (a model joined within the window).
    pub full: Option<(f64, usize)>,
}

/// Tonight's trend rows. `history` holds the `run_metrics` of earlier comparable runs, oldest
/// first (only the last `max(baseline_runs, trend_runs)` are used), measured on the same
/// `panel` as `tonight`; `carried` the previous comparable run's state per (scope, metric).
pub fn compute_trends(
    run_id: &str,
    tonight: &[RunMetric],
    history: &[Vec<RunMetric>],
    carried: &HashMap<(Scope, String), Carried>,
    instrument_change: bool,
    settings: &TrendSettings,
    panel: &Panel,
) -> Vec<TrendRow> {
    let past: Vec<HashMap<(&Scope, &str), f64>> =
        history.iter().map(|run| run.iter().map(|m| ((&m.scope, m.metric.as_str()), m.value)).collect()).collect();
    tonight
        .iter()
        .map(|m| {
            let key = (&m.scope, m.metric.as_str());
            let series: Vec<f64> = past.iter().filter_map(|run| run.get(&key).copied()).collect();
            let baseline_values = &series[series.len().saturating_sub(settings.baseline_runs)..];
            let baseline = median(baseline_values);
            let delta = baseline.map(|b| m.value - b);
            let pct_change = baseline.filter(|b| b.abs() > 1e-12).map(|b| (m.value - b) / b.abs() * 100.0);
            let mut window: Vec<f64> =
                series[series.len().saturating_sub(settings.trend_runs.saturating_sub(1))..].to_vec();
            window.push(m.value);
            let previous = carried.get(&(m.scope.clone(), m.metric.clone()));
            let sigma = spread(baseline_values, m.ci).filter(|_| baseline_values.len() >= 3);
            // A CUSUM sums deviations of one series: on another panel it starts afresh.
            let same_panel = |c: &&Carried| c.panel_id.as_ref().is_none_or(|id| *id == panel.id);
            let (cusum_low, cusum_high) = match (baseline, sigma) {
                (Some(mu), Some(sigma)) => cusum_step(
                    previous.filter(same_panel).map_or((0.0, 0.0), |c| {
                        let restart = |side: f64| if side >= settings.cusum_reset { 0.0 } else { side };
                        (restart(c.cusum_low), restart(c.cusum_high))
                    }),
                    m.value,
                    mu,
                    sigma,
                    settings.cusum_k,
                ),
                _ => (0.0, 0.0),
            };
            TrendRow {
                scope: m.scope.clone(),
                metric: m.metric.clone(),
                direction: crate::vocab::direction(&m.scope, &m.metric),
                value: m.value,
                ci: m.ci,
                n: m.n,
                segment_start: previous.map_or_else(|| run_id.to_owned(), |c| c.segment_start.clone()),
                instrument_change,
                baseline_n: baseline_values.len(),
                baseline,
                spread: sigma,
                delta,
                pct_change,
                robust_z: robust_z(m.value, baseline_values),
                previous_robust_z: previous.filter(same_panel).and_then(|c| c.robust_z),
                mann_kendall: mann_kendall(&window),
                trend_n: window.len(),
                cusum_low,
                cusum_high,
                status: Status::Ok,
                panel_models: panel.len(),
                panel_id: panel.id.clone(),
                full: None,
            }
        })
        .collect()
}

/// The spread a CUSUM step is measured in: the baseline's robust standard deviation
/// (1.4826 MAD) or tonight's bootstrap standard error (interval width / 3.92), whichever is
/// larger, so that a metric that never moved does not alarm on rounding.
fn spread(baseline: &[f64], ci: Option<(f64, f64)>) -> Option<f64> {
    let med = median(baseline)?;
    let deviations: Vec<f64> = baseline.iter().map(|v| (v - med).abs()).collect();
    let mad = 1.4826 * median(&deviations)?;
    let se = ci.map_or(0.0, |(lo, hi)| (hi - lo) / 3.92);
    let floor = 1e-9 * med.abs().max(1e-9);
    Some(mad.max(se).max(floor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(value: f64) -> RunMetric {
        RunMetric {
            scope: Scope::Overall,
            metric: "model_vendi_ratio".into(),
            value,
            ci: Some((value - 0.01, value + 0.01)),
            n: 200,
            n_models: 12,
        }
    }

    fn panel() -> Panel {
        Panel::of(["a", "b", "c"].map(String::from).into())
    }

    #[test]
    fn a_panel_change_is_said_in_words() {
        let of = |names: &[&str]| Panel::of(names.iter().map(|n| (*n).to_owned()).collect());
        let five = of(&["acme", "borealis", "cirrus", "delta-chat", "ember"]);
        let four = of(&["acme", "borealis", "cirrus", "ember"]);
        assert_eq!(PanelChange::between(&five, &five, &five), None);
        let retired = PanelChange::between(&five, &four, &four).unwrap();
        assert_eq!(retired.words(), "5 -> 4 models: delta-chat missing");
        let swapped = of(&["acme", "borealis", "cirrus", "ember", "fjord"]);
        let change = PanelChange::between(&five, &swapped, &four).unwrap();
        assert_eq!(change.words(), "5 -> 5 models: delta-chat missing; fjord new");
        assert_eq!(change.judged, 4);
        assert_eq!(of(&["b", "a"]).id, of(&["a", "b"]).id);
    }

    #[test]
    fn a_cusum_restarts_on_another_panel() {
        let history: Vec<Vec<RunMetric>> = (0..20).map(|i| vec![metric(0.5 + 0.005 * f64::from(i % 3))]).collect();
        let carried = |panel_id: Option<&str>| {
            let c = Carried {
                cusum_low: 5.0,
                cusum_high: 0.0,
                segment_start: "s".into(),
                panel_id: panel_id.map(str::to_owned),
                robust_z: None,
            };
            HashMap::from([((Scope::Overall, "model_vendi_ratio".to_owned()), c)])
        };
        let settings = TrendSettings::default();
        let run = |c| compute_trends("r", &[metric(0.505)], &history, &c, false, &settings, &panel())[0].clone();
        assert!(run(carried(Some(&panel().id))).cusum_low > 4.0, "same panel: carried");
        assert!(run(carried(None)).cusum_low > 4.0, "unknown panel (an older file): carried");
        let other = run(carried(Some("another")));
        assert_eq!(other.cusum_low, 0.0, "another panel: restarted");
        assert_eq!(other.segment_start, "s", "the segment is kept");
        assert_eq!((other.panel_models, other.panel_id.as_str()), (3, panel().id.as_str()));
    }

    #[test]
    fn baseline_delta_and_cusum_follow_a_drop() {
        let history: Vec<Vec<RunMetric>> = (0..20).map(|i| vec![metric(0.5 + 0.005 * f64::from(i % 3))]).collect();
        let rows =
            compute_trends("r", &[metric(0.4)], &history, &HashMap::new(), false, &TrendSettings::default(), &panel());
        let r = &rows[0];
        assert_eq!(r.baseline_n, 14);
        assert!((r.baseline.unwrap() - 0.505).abs() < 1e-12, "{r:?}");
        assert!((r.pct_change.unwrap() + 20.79).abs() < 0.01, "{r:?}");
        assert!(r.cusum_low > 5.0 && r.cusum_high == 0.0, "{r:?}");
        assert!(r.robust_z.unwrap() < -10.0);
        assert_eq!(r.trend_n, 14);
        assert_eq!(r.direction, Direction::DownIsBad);
        assert_eq!(r.segment_start, "r");
    }

    #[test]
    fn a_new_segment_has_no_baseline() {
        let rows = compute_trends("r", &[metric(0.4)], &[], &HashMap::new(), true, &TrendSettings::default(), &panel());
        let r = &rows[0];
        assert!(r.instrument_change && r.baseline.is_none() && r.mann_kendall.is_none());
        assert_eq!((r.cusum_low, r.cusum_high), (0.0, 0.0));
    }
}
