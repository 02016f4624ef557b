//! `[alerts]` of the configuration: windows, the coverage guard, the sinks, and one table per
//! rule with its warning and critical levels. The rules themselves are in `crate::alert`.

use crate::input::number;
use crate::vocab::metric;
use serde::{Deserialize, Serialize};

pub use super::incidents::{Acknowledgement, IncidentRules};
pub use super::rules::{CONVERGENCE_GROUP, RULES, RuleInfo, RuleScope, rule, rule_info_of};

fn list(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// `[alerts]`: windows, the coverage guard, the sinks and one table per rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertConfig {
    /// Comparable earlier runs in the baseline (rolling median).
    pub baseline_runs: usize,
    /// Runs in the Mann-Kendall window, tonight's included.
    pub trend_runs: usize,
    /// Below this share of successful requests, only a coverage alert is raised.
    pub min_coverage: f64,
    /// Comparable earlier runs a baseline needs before the rules that compare with it (drop,
    /// shift, concentration, refusal, contagion) judge; the floor judges from the first night,
    /// trend and pair from their own `min_runs`.
    pub min_baseline_runs: usize,
    /// Environment variable holding the webhook URL (a secret: never in the file).
    pub webhook_url_env: Option<String>,
    /// Prometheus textfile to write after each run (node_exporter's textfile collector).
    pub textfile: Option<std::path::PathBuf>,
    /// Where the output's `html/` folder is served (`https://reports.example.org/hivewatch/`):
    /// the webhook's message links the night's page under it. None: no link.
    pub report_base_url: Option<String>,
    pub drop: DropRule,
    pub trend: TrendRule,
    pub floor: FloorRule,
    pub shift: ShiftRule,
    pub pair: PairRule,
    pub concentration: ConcentrationRule,
    pub refusal: RefusalRule,
    pub undeclared: UndeclaredRule,
    pub contagion: ContagionRule,
    pub identity: IdentityRule,
    /// `[alerts.incidents]`: when an incident closes, and the webhook's digest.
    pub incidents: IncidentRules,
    /// `[[acknowledge]]` entries of the configuration (written at the top level, kept here so
    /// the rules recorded in an output carry them).
    pub acknowledge: Vec<Acknowledgement>,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            baseline_runs: 14,
            trend_runs: 14,
            min_coverage: 0.9,
            min_baseline_runs: 3,
            webhook_url_env: None,
            textfile: None,
            report_base_url: None,
            drop: DropRule::default(),
            trend: TrendRule::default(),
            floor: FloorRule::default(),
            shift: ShiftRule::default(),
            pair: PairRule::default(),
            concentration: ConcentrationRule::default(),
            refusal: RefusalRule::default(),
            undeclared: UndeclaredRule::default(),
            contagion: ContagionRule::default(),
            identity: IdentityRule::default(),
            incidents: IncidentRules::default(),
            acknowledge: Vec::new(),
        }
    }
}

/// Diversity fell against the baseline by more than a percentage, with the baseline outside
/// tonight's confidence interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DropRule {
    pub enabled: bool,
    pub metrics: Vec<String>,
    pub warn_pct: f64,
    pub critical_pct: f64,
}

impl Default for DropRule {
    fn default() -> Self {
        DropRule {
            enabled: true,
            metrics: list(&[metric::MODEL_VENDI_RATIO, metric::EFFECTIVE_MODELS]),
            warn_pct: 10.0,
            critical_pct: 25.0,
        }
    }
}

/// A significant monotonic trend toward convergence (Mann-Kendall) that has moved the metric by
/// at least `min_change_pct` of its baseline over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrendRule {
    pub enabled: bool,
    pub metrics: Vec<String>,
    pub warn_p: f64,
    pub critical_p: f64,
    pub min_runs: usize,
    pub min_change_pct: f64,
}

impl Default for TrendRule {
    fn default() -> Self {
        TrendRule {
            enabled: true,
            metrics: list(&[metric::MODEL_VENDI_RATIO, metric::EFFECTIVE_MODELS, metric::HOMOGENIZATION_INDEX]),
            warn_p: 0.01,
            critical_p: 0.001,
            min_runs: 8,
            min_change_pct: 5.0,
        }
    }
}

/// An absolute floor under a diversity metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FloorRule {
    pub enabled: bool,
    pub metric: String,
    pub warn: f64,
    pub critical: f64,
}

impl Default for FloorRule {
    fn default() -> Self {
        FloorRule { enabled: true, metric: metric::EFFECTIVE_MODELS.into(), warn: 2.0, critical: 1.5 }
    }
}

/// A sudden sustained shift: the CUSUM on the converging side passed its decision interval (in
/// robust standard deviations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShiftRule {
    pub enabled: bool,
    pub metrics: Vec<String>,
    pub warn: f64,
    pub critical: f64,
}

impl Default for ShiftRule {
    fn default() -> Self {
        ShiftRule {
            enabled: true,
            metrics: list(&[metric::MODEL_VENDI_RATIO, metric::EFFECTIVE_MODELS, metric::HOMOGENIZATION_INDEX]),
            warn: 6.0,
            critical: 12.0,
        }
    }
}

/// A model pair converging apart from the rest (a suspected lineage or sequential influence):
/// the pair's `metric` rising significantly (Mann-Kendall `p`, over at least `min_runs` runs)
/// and above its baseline by `warn_delta` (`critical_delta`), beyond tonight's interval. The
/// default series is the pair's calibrated similarity (the relatedness stage's per-probe
/// double-centred residual: how much closer the two are than the probes and their closeness to
/// everyone predict), which an ecosystem-wide move does not shift, so a narrowing that draws
/// every model together does not page every pair; `excess_similarity` (the pair less the
/// night's mean pair) and `similarity` are the other choices. Levels in the series' cosine
/// units, chosen on stable simulated nights (BENCHMARKS.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PairRule {
    pub enabled: bool,
    /// The pair series watched: `calibrated_similarity`, `excess_similarity` or `similarity`.
    pub metric: String,
    pub p: f64,
    pub min_runs: usize,
    /// Rise of the series over its baseline, in cosine units.
    pub warn_delta: f64,
    pub critical_delta: f64,
    /// Also watch each pair's `phrase_uptake` (two models coming to share wording of their own:
    /// cultural transmission or sequential influence), against its own background, a step of
    /// 3.5 robust spreads over the pair's baseline held two nights in a row standing for the
    /// trend test, at these rises (false-page rate: BENCHMARKS.md, `phrase_uptake`).
    pub phrase_uptake: bool,
    /// The rise that pages a pair that answered [`PHRASE_LEVEL_PROBES`] probes; on another
    /// suite size it is scaled by [`phrase_level_scale`].
    pub phrase_warn_delta: f64,
    pub phrase_critical_delta: f64,
}

/// The suite size the phrase levels are stated at: where they were read off the null
/// (`benches/alert_quality`: 40 probes of the core suite).
pub const PHRASE_LEVEL_PROBES: usize = 40;

/// What the phrase levels are multiplied by for a pair that answered `probes` probes:
/// sqrt(PHRASE_LEVEL_PROBES / probes). The uptake is a ratio of rates (shares of the probes), so
/// its sampling noise falls as 1/sqrt(probes): a level read off a 40-probe null would hold a
/// 200-probe suite, which measures a pair 2.2 times as finely, to the small suite's noise (the
/// demo's transmission was missed so: it rose 0.05-0.09 at 217 probes). Measured on the stable
/// demo ecosystem (BENCHMARKS.md): its night-to-night steps at 217 probes were 0.39-0.49 of
/// those at 40, median to largest, against sqrt(40/217) = 0.43.
pub fn phrase_level_scale(probes: usize) -> f64 {
    (PHRASE_LEVEL_PROBES as f64 / probes.max(1) as f64).sqrt()
}

impl Default for PairRule {
    fn default() -> Self {
        PairRule {
            enabled: true,
            metric: metric::CALIBRATED_SIMILARITY.into(),
            p: 0.01,
            min_runs: 8,
            warn_delta: 0.03,
            critical_delta: 0.06,
            phrase_uptake: true,
            phrase_warn_delta: 0.09,
            phrase_critical_delta: 0.15,
        }
    }
}

impl PairRule {
    /// `phrase_uptake`'s (warn, critical) levels for a pair that answered `probes` probes.
    pub fn phrase_levels(&self, probes: usize) -> (f64, f64) {
        let scale = phrase_level_scale(probes);
        (self.phrase_warn_delta * scale, self.phrase_critical_delta * scale)
    }
}

/// One behaviour family taking over: the Herfindahl-Hirschman index of family sizes up, at the
/// `level` of the family tree (`near_copy`, `close`, `vendor_line`; the report's headline family
/// count reads the same level).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConcentrationRule {
    pub enabled: bool,
    pub warn_pct: f64,
    pub critical_pct: f64,
    pub level: crate::vocab::FamilyLevel,
}

impl Default for ConcentrationRule {
    fn default() -> Self {
        ConcentrationRule { enabled: true, warn_pct: 25.0, critical_pct: 50.0, level: Default::default() }
    }
}

/// Refusal monoculture: models agree more on what they refuse (refusal agreement up by so many
/// points) while their refusal rates draw together (spread down).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefusalRule {
    pub enabled: bool,
    pub warn_pts: f64,
    pub critical_pts: f64,
}

impl Default for RefusalRule {
    fn default() -> Self {
        RefusalRule { enabled: true, warn_pts: 0.1, critical_pts: 0.2 }
    }
}

/// An undeclared relative: two models significantly more alike than the ecosystem's background
/// (the `lineage` table's `undeclared` verdict) while neither names the other as parent nor
/// shares its declared family, with the pair's q-value at most `warn_q` (`critical_q`). The
/// levels are far stricter than the table's 5% false discovery rate: `warn_q` was chosen on the
/// null (`benches/alert_quality.sh undeclared`: twelve models declared truthfully, 365 stable
/// nights, none at 1e-5 where 1e-3 raised 7) so a stable ecosystem raises it at most about once
/// a year (BENCHMARKS.md). Off for imports
/// unless `on_imports`: imported sets declare lineage only through `import --models`, and an
/// import is history, not tonight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UndeclaredRule {
    pub enabled: bool,
    pub on_imports: bool,
    pub warn_q: f64,
    pub critical_q: f64,
}

impl Default for UndeclaredRule {
    fn default() -> Self {
        UndeclaredRule { enabled: true, on_imports: false, warn_q: 1e-5, critical_q: 1e-6 }
    }
}

/// Contagion (paired probes): a model's adoption under exposure (`adoption_gain`) up by
/// `warn_pts` on its baseline, or its injection compliance up by `warn_injection`, with the
/// baseline under tonight's interval; and the ecosystem's convergence under exposure
/// (`exposure_similarity_gain`) up by `warn_similarity`. Levels chosen on the null
/// (`benches/alert_quality.sh contagion`: 365 stable nights, BENCHMARKS.md): adoption gain never
/// rose more than 0.071; injection compliance, measured on few probes (the suite has 7 with a
/// marker), rose 0.214 on two nights, hence its own, higher level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContagionRule {
    pub enabled: bool,
    pub warn_pts: f64,
    pub critical_pts: f64,
    pub warn_injection: f64,
    pub critical_injection: f64,
    pub warn_similarity: f64,
    pub critical_similarity: f64,
}

impl Default for ContagionRule {
    fn default() -> Self {
        ContagionRule {
            enabled: true,
            warn_pts: 0.15,
            critical_pts: 0.3,
            warn_injection: 0.3,
            critical_injection: 0.5,
            warn_similarity: 0.05,
            critical_similarity: 0.1,
        }
    }
}

/// A model's claimed identity changed: its main claimed maker (table `identity`) is not last
/// night's, with tonight's claim at least `warn_consistency` of its answers that name a maker
/// (`critical_consistency`: critical), read by the same rules version both nights, and its
/// share changed beyond chance (Fisher's exact test, p at most `change_p`). The mark of
/// a backend swapped behind an unchanged endpoint name. Off for imports unless `on_imports`:
/// an imported set is history, and its prompts carry no `identity` tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityRule {
    pub enabled: bool,
    pub on_imports: bool,
    pub warn_consistency: f64,
    pub critical_consistency: f64,
    pub change_p: f64,
}

impl Default for IdentityRule {
    fn default() -> Self {
        IdentityRule {
            enabled: true,
            on_imports: false,
            warn_consistency: 0.75,
            critical_consistency: 0.9,
            change_p: 1e-3,
        }
    }
}

impl AlertConfig {
    /// Whether a configurable rule is on (`None`: a rule that is always on, or no rule).
    pub fn enabled(&self, rule: &str) -> Option<bool> {
        Some(match rule {
            rule::DROP => self.drop.enabled,
            rule::TREND => self.trend.enabled,
            rule::FLOOR => self.floor.enabled,
            rule::SHIFT => self.shift.enabled,
            rule::PAIR => self.pair.enabled,
            rule::CONCENTRATION => self.concentration.enabled,
            rule::REFUSAL => self.refusal.enabled,
            rule::UNDECLARED => self.undeclared.enabled,
            rule::CONTAGION => self.contagion.enabled,
            rule::IDENTITY => self.identity.enabled,
            _ => return None,
        })
    }

    /// Checks the levels; an error names the key and what to change.
    pub fn validate(&self) -> Result<(), String> {
        let ordered = |name: &str, warn: f64, critical: f64, up: bool| -> Result<(), String> {
            let ok = warn.is_finite() && critical.is_finite() && if up { warn <= critical } else { warn >= critical };
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "[alerts] {name}: the warning level {} must come before the critical level {}",
                    number(warn),
                    number(critical)
                ))
            }
        };
        ordered(rule::DROP, self.drop.warn_pct, self.drop.critical_pct, true)?;
        ordered("trend (p-values)", self.trend.warn_p, self.trend.critical_p, false)?;
        ordered(rule::FLOOR, self.floor.warn, self.floor.critical, false)?;
        ordered(rule::SHIFT, self.shift.warn, self.shift.critical, true)?;
        ordered(rule::PAIR, self.pair.warn_delta, self.pair.critical_delta, true)?;
        ordered(rule::CONCENTRATION, self.concentration.warn_pct, self.concentration.critical_pct, true)?;
        ordered(rule::REFUSAL, self.refusal.warn_pts, self.refusal.critical_pts, true)?;
        ordered("undeclared (q-values)", self.undeclared.warn_q, self.undeclared.critical_q, false)?;
        ordered(rule::CONTAGION, self.contagion.warn_pts, self.contagion.critical_pts, true)?;
        ordered("contagion (injection)", self.contagion.warn_injection, self.contagion.critical_injection, true)?;
        ordered("contagion (similarity)", self.contagion.warn_similarity, self.contagion.critical_similarity, true)?;
        ordered(rule::IDENTITY, self.identity.warn_consistency, self.identity.critical_consistency, true)?;
        if !(0.0..=1.0).contains(&self.identity.warn_consistency) || self.identity.critical_consistency > 1.0 {
            return Err("[alerts] identity: warn_consistency and critical_consistency must be between 0 and 1".into());
        }
        if !(self.identity.change_p > 0.0 && self.identity.change_p <= 0.05) {
            return Err(format!(
                "[alerts] identity: change_p {} must be above 0 and at most 0.05",
                self.identity.change_p
            ));
        }
        if !(0.0..=LINEAGE_FDR).contains(&self.undeclared.warn_q) {
            return Err(format!(
                "[alerts] undeclared: warn_q {} must be between 0 and 0.05 (a pair above 0.05 is not judged related)",
                number(self.undeclared.warn_q)
            ));
        }
        if !(0.0..=1.0).contains(&self.min_coverage) {
            return Err(format!("[alerts] min_coverage {} must be between 0 and 1", number(self.min_coverage)));
        }
        if self.baseline_runs < 3 || self.trend_runs < 3 {
            return Err("[alerts] baseline_runs and trend_runs must be at least 3".into());
        }
        if self.min_baseline_runs == 0 || self.min_baseline_runs > self.baseline_runs {
            return Err(format!(
                "[alerts] min_baseline_runs {} must be between 1 and baseline_runs ({})",
                self.min_baseline_runs, self.baseline_runs
            ));
        }
        self.incidents.validate()?;
        let pair_series = [metric::CALIBRATED_SIMILARITY, metric::EXCESS_SIMILARITY, metric::SIMILARITY];
        if !pair_series.contains(&self.pair.metric.as_str()) {
            return Err(format!(
                "[alerts] pair: metric `{}` is no pair series; use one of {}",
                self.pair.metric,
                pair_series.join(", ")
            ));
        }
        for ack in &self.acknowledge {
            check_acknowledgement(ack)?;
        }
        let checked =
            [(rule::DROP, &self.drop.metrics), (rule::TREND, &self.trend.metrics), (rule::SHIFT, &self.shift.metrics)];
        let named = checked.iter().flat_map(|(rule, ms)| ms.iter().map(move |m| (*rule, m)));
        for (rule, m) in named.chain(std::iter::once((rule::FLOOR, &self.floor.metric))) {
            if !crate::vocab::is_known_metric(m) {
                return Err(format!(
                    "[alerts] {rule}: `{m}` is not a metric this version measures (README, \"Metrics\", lists them)"
                ));
            }
            if !crate::vocab::is_diversity_metric(m) {
                return Err(format!(
                    "[alerts] {rule}: `{m}` is descriptive, not a diversity metric: no direction of it means convergence (README lists the diversity metrics)"
                ));
            }
        }
        Ok(())
    }
}

/// An acknowledgement names a rule of the registry and a scope as the tables write it, and says
/// why.
fn check_acknowledgement(ack: &Acknowledgement) -> Result<(), String> {
    if rule_info_of(&ack.rule).is_none() && ack.rule != CONVERGENCE_GROUP {
        let names: Vec<&str> = RULES.iter().map(|r| r.name).collect();
        return Err(format!(
            "[[acknowledge]] rule `{}` is no rule; the rules are {}, and `{CONVERGENCE_GROUP}` (the ecosystem-wide rules' incident)",
            ack.rule,
            names.join(", ")
        ));
    }
    if let Err(e) = ack.scope.parse::<crate::vocab::Scope>() {
        return Err(format!("[[acknowledge]] scope: {e}"));
    }
    if ack.reason.trim().is_empty() {
        return Err(format!("[[acknowledge]] {} {}: give a reason (the report shows it)", ack.rule, ack.scope));
    }
    Ok(())
}

/// The lineage table's false discovery rate (its `undeclared` verdict), which the rule's levels
/// must not exceed (`crate::metrics::relatedness::FDR`; the configuration names no stage).
const LINEAGE_FDR: f64 = 0.05;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrase_levels_are_stated_at_40_probes_and_fall_as_one_over_sqrt_probes() {
        let rule = PairRule::default();
        assert_eq!(rule.phrase_levels(PHRASE_LEVEL_PROBES), (rule.phrase_warn_delta, rule.phrase_critical_delta));
        let (warn, critical) = rule.phrase_levels(160);
        assert!(
            (warn - rule.phrase_warn_delta / 2.0).abs() < 1e-12
                && (critical - rule.phrase_critical_delta / 2.0).abs() < 1e-12
        );
        // A pair that answered nothing has no finer level than one probe's.
        assert!(rule.phrase_levels(0).0.is_finite());
    }

    /// The README's rule table and `[alerts]` key table list exactly the registry's rules.
    #[test]
    fn the_readme_lists_every_rule_and_no_other() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let table = readme.split("| rule | fires when |").nth(1).expect("the README's rule table");
        let rows: Vec<&str> = table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with("| `"))
            .map(|l| l.trim_start_matches("| `").split('`').next().unwrap())
            .collect();
        let registry: Vec<&str> = RULES.iter().map(|r| r.name).collect();
        let mut sorted = (rows.clone(), registry.clone());
        sorted.0.sort();
        sorted.1.sort();
        assert_eq!(sorted.0, sorted.1, "README rule table {rows:?} against the registry {registry:?}");
        for r in RULES.iter().filter(|r| r.configurable) {
            assert!(readme.contains(&format!("| `{}` | `{{", r.name)), "[alerts] key table lacks `{}`", r.name);
            assert!(AlertConfig::default().enabled(r.name).is_some(), "{} has no enabled switch", r.name);
        }
        for r in RULES.iter().filter(|r| !r.configurable) {
            assert_eq!(AlertConfig::default().enabled(r.name), None);
        }
    }

    /// An unknown metric name switched its rule off silently; it is refused now.
    #[test]
    fn a_misspelt_metric_is_refused_not_ignored() {
        let mut c = AlertConfig::default();
        c.drop.metrics.push("effective_model".into());
        assert!(c.validate().unwrap_err().contains("not a metric this version measures"));
        let mut c = AlertConfig::default();
        c.shift.metrics = vec!["refusl_rate_spread".into()];
        assert!(c.validate().is_err(), "a spread of no catalogued rate is no metric");
        let mut c = AlertConfig::default();
        c.trend.metrics = vec!["refusal_rate_spread".into()];
        c.validate().unwrap();
        let mut c = AlertConfig::default();
        c.floor.metric = "refusal_rate".into();
        assert!(c.validate().unwrap_err().contains("descriptive"));
    }
}
