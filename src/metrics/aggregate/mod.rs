//! Run-level aggregates (table `run_metrics`, long format), model-pair similarity over probes
//! (table `pair_similarity`) and behaviour families (table `families`), from per-probe records.
//!
//! Every aggregate is a mean over probes with a bootstrap interval over probes
//! ([`super::bootstrap`]) and says how many probes (`n`) and models went into it. A pair's
//! calibrated similarity (its per-probe double-centred residual, [`super::relatedness`]) has the
//! t interval over its common probes and a test against the scope's null instead.
//!
//! Coverage (a probe some models did not answer): measures whose size grows with the number of
//! answers (Vendi scores, behaviour clusters, distinct-n) are averaged over the probes every
//! model of the run answered, so a failed request never reads as a loss of diversity; ratios
//! and means (Vendi ratio, similarities, rates) are averaged over every probe with the models it
//! has (two at least where the measure is about pairs); a model pair is measured over the probes
//! both answered. A model's own rates are over the probes it answered.
//!
//! Memory: a run of M models keeps one packed M x M Gram matrix per probe; everything over
//! pairs (intervals, resamples) is computed a few hundred pairs at a time.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use faer::Mat;

use super::agreement::fleiss_kappa;
use super::behaviour::ProbeBehaviour;
use super::bootstrap::{ALPHA, ProbeBootstrap, percentile_interval};
use super::herfindahl;
use super::phrases::ProbePhrases;
use super::probe::{ProbeMeasures, ProbeModels};
use super::relatedness;
use super::style::StyleProbe;
use super::vendi::{Order, kernel_matrix_eigenvalues, vendi_from_eigenvalues};
use crate::config::PairCategories;
use crate::vocab::metric;
use crate::vocab::{FamilyLevel, Scope};

mod pairs;

pub use pairs::{
    CalibratedPair, Family, PairSimilarity, StyleTests, TreeNode, families_at, family_definition, style_tests,
};
use pairs::{families, pair_series, raw_families, scope_pairs};

/// Everything measured on one probe.
#[derive(Debug, Clone)]
pub struct ProbeRecord {
    pub probe: String,
    pub category: String,
    /// `None` when no answer of the probe was embedded.
    pub measures: Option<ProbeMeasures>,
    pub models: Option<ProbeModels>,
    pub behaviour: ProbeBehaviour,
    pub phrases: ProbePhrases,
    /// For a paired probe (either side), each model's mean cosine between its answers and the
    /// feed's claim ([`super::contagion::claim_similarity`]); empty for other probes.
    pub claim_similarity: BTreeMap<String, f64>,
    /// How the models write on the probe ([`super::style`]); None when no answer has a style
    /// (or the run's features have none).
    pub style: Option<StyleProbe>,
}

impl ProbeRecord {
    /// Models that answered the probe.
    pub fn n_models(&self) -> usize {
        self.measures.as_ref().map_or(0, |m| m.n_models).max(self.behaviour.models.len())
    }
}

/// One row of `run_metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMetric {
    /// The whole run, a category, a model, or a model pair (metrics `similarity`,
    /// `excess_similarity`, the pair's similarity less the mean over all pairs that night, and
    /// `calibrated_similarity`).
    pub scope: Scope,
    pub metric: String,
    pub value: f64,
    pub ci: Option<(f64, f64)>,
    /// Probes that went into the value.
    pub n: usize,
    /// Models that went into the value.
    pub n_models: usize,
}

#[derive(Debug, Clone, Default)]
pub struct RunAggregates {
    pub metrics: Vec<RunMetric>,
    /// (category or `None` for all probes, pair).
    pub pairs: Vec<(Option<String>, PairSimilarity)>,
    /// One row per model and level of the tree ([`super::tree`]); with too few models for a
    /// null ([`relatedness::MIN_MODELS`]), the raw clustering at every level.
    pub families: Vec<Family>,
    /// The dendrogram of the families (empty without a null).
    pub tree: Vec<TreeNode>,
}

type Get = fn(&ProbeRecord) -> Option<f64>;

/// Per-probe quantities averaged per scope: (metric, needs every model, fewest models, value).
const PROBE_METRICS: &[(&str, bool, usize, Get)] = &[
    (metric::VENDI_Q1, true, 1, |r| r.measures.as_ref().map(|m| m.vendi_q1)),
    (metric::VENDI_Q2, true, 1, |r| r.measures.as_ref().map(|m| m.vendi_q2)),
    (metric::VENDI_QINF, true, 1, |r| r.measures.as_ref().map(|m| m.vendi_qinf)),
    (metric::MODEL_VENDI_RATIO, false, 2, |r| r.measures.as_ref().map(|m| m.model_vendi_ratio)),
    (metric::INTRA_SIMILARITY, false, 1, |r| r.measures.as_ref().and_then(|m| m.intra_similarity)),
    (metric::INTER_SIMILARITY, false, 2, |r| r.measures.as_ref().and_then(|m| m.inter_similarity)),
    (metric::HOMOGENIZATION_INDEX, false, 2, |r| r.measures.as_ref().and_then(|m| m.homogenization_index)),
    (metric::BEHAVIOUR_CLUSTERS, true, 1, |r| r.measures.as_ref().map(|m| m.behaviour_clusters as f64)),
    (metric::REFUSAL_RATE, false, 1, |r| r.behaviour.refusal_rate),
    (metric::REFUSAL_AGREEMENT, false, 2, |r| r.behaviour.refusal_agreement),
    (metric::REFUSAL_ENTROPY, false, 2, |r| r.behaviour.refusal_entropy),
    (metric::HEDGING_RATE, false, 1, |r| r.behaviour.hedging_rate),
    (metric::CONFIDENT_RATE, false, 1, |r| r.behaviour.confident_rate),
    (metric::SELF_REFERENCE_RATE, false, 1, |r| r.behaviour.self_reference_rate),
    (metric::DISTINCT_1, true, 1, |r| r.phrases.distinct_1),
    (metric::DISTINCT_2, true, 1, |r| r.phrases.distinct_2),
    (metric::SHARED_PHRASE_SHARE, false, 2, |r| r.phrases.shared_share),
];

/// Per-model quantities of one probe, by the model's index in the record.
const MODEL_METRICS: &[&str] = &[
    metric::REFUSAL_RATE,
    metric::HEDGING_RATE,
    metric::CONFIDENT_RATE,
    metric::SELF_REFERENCE_RATE,
    metric::SELF_SIMILARITY,
    metric::SIMILARITY_TO_OTHERS,
];

/// One row per probe, one column per quantity: the mean over probes with a value and its
/// bootstrap interval, for each column.
fn summarise_columns(values: &Mat<f64>) -> Vec<Option<(f64, f64, f64, usize)>> {
    ProbeBootstrap::standard(values.nrows()).summarise(
        values.ncols(),
        |r| values.subcols(r.start, r.len()).to_owned(),
        ALPHA,
    )
}

/// The run's models and, for each probe record, where each model sits in its matrices.
struct RunModels {
    /// Every model of the run, sorted by name.
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// `local[p][m]`: model m's index in record p's `ProbeModels` (None when it has no vector).
    local: Vec<Vec<Option<usize>>>,
}

impl RunModels {
    fn of(records: &[&ProbeRecord]) -> Self {
        let names: Vec<String> = records
            .iter()
            .flat_map(|r| record_models(r))
            .map(str::to_owned)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let index: HashMap<String, usize> = names.iter().enumerate().map(|(i, m)| (m.clone(), i)).collect();
        let local = records
            .iter()
            .map(|r| {
                let mut l = vec![None; names.len()];
                for (k, name) in r.models.iter().flat_map(|m| m.models.iter()).enumerate() {
                    l[index[name]] = Some(k);
                }
                l
            })
            .collect();
        RunModels { names, index, local }
    }

    fn len(&self) -> usize {
        self.names.len()
    }

    /// Every pair (a, b) with a < b, in the order of [`RunModels::pair_index`].
    fn pairs(&self) -> Vec<(usize, usize)> {
        let m = self.len();
        (0..m).flat_map(|a| (a + 1..m).map(move |b| (a, b))).collect()
    }

    /// The position of pair (a, b), a < b, in [`RunModels::pairs`].
    fn pair_index(&self, a: usize, b: usize) -> usize {
        let m = self.len();
        a * (2 * m - a - 1) / 2 + (b - a - 1)
    }

    /// `f` of record p's matrices at the pair's entries, NaN when either model is missing there.
    fn pair_value(
        &self,
        record: &ProbeRecord,
        p: usize,
        (a, b): (usize, usize),
        f: impl Fn(&ProbeModels, usize, usize) -> f64,
    ) -> f64 {
        match (&record.models, self.local[p][a], self.local[p][b]) {
            (Some(pm), Some(x), Some(y)) => f(pm, x, y),
            _ => f64::NAN,
        }
    }
}

/// Names of the models a record has anything from (vectors or features).
fn record_models(r: &ProbeRecord) -> impl Iterator<Item = &str> {
    r.models
        .iter()
        .flat_map(|m| m.models.iter().map(String::as_str))
        .chain(r.behaviour.models.iter().map(|(n, _)| n.as_str()))
}

/// A metric of the `overall` scope over a run of `n_models` models.
fn overall(metric: &str, value: f64, ci: Option<(f64, f64)>, n: usize, n_models: usize) -> RunMetric {
    RunMetric { scope: Scope::Overall, metric: metric.into(), value, ci, n, n_models }
}

/// The run's aggregates from its probe records (in any order), the per-category pairs included.
pub fn aggregate(records: &[ProbeRecord]) -> RunAggregates {
    aggregate_with(records, &style_tests(records), PairCategories::Always)
}

/// [`aggregate`] with the style signal computed beforehand ([`style_tests`]), so the records
/// need not keep their per-probe styles (a model with a style always has features, so the
/// records name the same models with or without them). The pairs of each category are measured
/// only where `pair_categories` keeps them for the run's number of models (no measure reads
/// them: they are only written).
pub fn aggregate_with(records: &[ProbeRecord], style: &StyleTests, pair_categories: PairCategories) -> RunAggregates {
    let mut records: Vec<&ProbeRecord> = records.iter().collect();
    records.sort_by(|a, b| a.probe.cmp(&b.probe));
    let run = RunModels::of(&records);
    let (m, p) = (run.len(), records.len());
    let category_pairs = pair_categories.keep(m);
    let mut out = RunAggregates::default();

    let mut scopes: Vec<(Scope, Option<String>, Vec<usize>)> = vec![(Scope::Overall, None, (0..p).collect())];
    for c in records.iter().map(|r| r.category.as_str()).collect::<BTreeSet<_>>() {
        let members = (0..p).filter(|&i| records[i].category == c).collect();
        scopes.push((Scope::Category(c.to_owned()), Some(c.to_owned()), members));
    }
    for (scope, category, members) in &scopes {
        out.metrics.extend(scope_metrics(scope, &records, members, &run));
        if category.is_some() && !category_pairs {
            continue;
        }
        let z_style = style.0.get(category).map(Vec::as_slice);
        out.pairs.extend(scope_pairs(&records, members, &run, z_style).into_iter().map(|p| (category.clone(), p)));
    }

    let per_model = model_metrics(&records, &run);
    out.metrics.extend(rate_spreads(&per_model, p));
    if let Some((kappa, n)) = refusal_kappa(&records, m) {
        out.metrics.push(overall(metric::REFUSAL_KAPPA, kappa, None, n, m));
    }
    let overall_pairs: Vec<&PairSimilarity> = out.pairs.iter().filter(|(c, _)| c.is_none()).map(|(_, p)| p).collect();
    if records.iter().any(|r| r.models.is_some()) {
        let (effective, ci) = effective_models(&records, &run);
        out.metrics.push(overall(metric::EFFECTIVE_MODELS, effective, ci, p, m));
        let ratio_ci = ci.map(|(lo, hi)| (lo / m as f64, hi / m as f64));
        out.metrics.push(overall(metric::EFFECTIVE_MODELS_RATIO, effective / m as f64, ratio_ci, p, m));

        (out.families, out.tree) = families(&run.names, &overall_pairs);
        if out.families.is_empty() {
            // Too few models for a null: the raw clustering, as before calibration.
            let self_similarity: Vec<Option<f64>> = run
                .names
                .iter()
                .map(|name| {
                    let scope = Scope::Model(name.clone());
                    per_model.iter().find(|x| x.scope == scope && x.metric == metric::SELF_SIMILARITY).map(|x| x.value)
                })
                .collect();
            out.families = raw_families(&run.names, &overall_pairs, &self_similarity);
        }
        out.metrics.extend(family_metrics(&out.families, p));
        if let Some(max) = overall_pairs.iter().map(|p| p.mean_similarity).reduce(f64::max) {
            out.metrics.push(overall(metric::MAX_PAIR_SIMILARITY, max, None, p, m));
        }
        let tested: Vec<f64> = overall_pairs.iter().filter_map(|p| p.calibrated.and_then(|c| c.q)).collect();
        if !tested.is_empty() {
            let related = tested.iter().filter(|&&q| q <= relatedness::FDR).count();
            out.metrics.push(overall(metric::RELATED_PAIRS, related as f64, None, p, m));
        }
    }
    out.metrics.extend(per_model);
    out.metrics.extend(pair_series(&overall_pairs));
    let uptake = super::phrases::phrase_uptake(&run.names, records.iter().map(|r| &r.phrases.overlap));
    out.metrics.extend(uptake.into_iter().map(|(i, j, value, n)| RunMetric {
        scope: Scope::pair(&run.names[i], &run.names[j]),
        metric: metric::PHRASE_UPTAKE.into(),
        value,
        ci: None,
        n,
        n_models: 2,
    }));
    out.metrics.extend(out.families.iter().filter(|f| f.level == FamilyLevel::Close).map(|f| RunMetric {
        scope: Scope::Model(f.model.clone()),
        metric: metric::FAMILY_SIZE.into(),
        value: f.size as f64,
        ci: None,
        n: p,
        n_models: m,
    }));
    out.metrics.push(overall(metric::MODELS, m as f64, None, p, m));
    out.metrics.push(overall(metric::PROBES, p as f64, None, p, m));
    out
}

/// The spread across models of their rates: the population standard deviation.
fn rate_spreads(per_model: &[RunMetric], probes: usize) -> Vec<RunMetric> {
    MODEL_METRICS[..4]
        .iter()
        .filter_map(|rate| {
            let rates: Vec<f64> = per_model.iter().filter(|m| m.metric == *rate).map(|m| m.value).collect();
            if rates.len() < 2 {
                return None;
            }
            let mean = rates.iter().sum::<f64>() / rates.len() as f64;
            let sd = (rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rates.len() as f64).sqrt();
            Some(overall(&metric::spread(rate), sd, None, probes, rates.len()))
        })
        .collect()
}

/// At each level of the tree, the number of families and their concentration (HHI); the
/// effective number of families at the close level.
fn family_metrics(families: &[Family], probes: usize) -> Vec<RunMetric> {
    let mut out = Vec::new();
    for level in FamilyLevel::ALL {
        let sizes: Vec<usize> = families_at(families, level).into_values().map(|m| m.len()).collect();
        let Some(hhi) = herfindahl(&sizes) else { continue };
        let m = sizes.iter().sum();
        out.push(overall(metric::families_at(level), sizes.len() as f64, None, probes, m));
        out.push(overall(metric::family_hhi_at(level), hhi, None, probes, m));
        if level == FamilyLevel::Close {
            out.push(overall(metric::EFFECTIVE_FAMILIES, 1.0 / hhi, None, probes, m));
        }
    }
    out
}

/// The means over a scope's probes of the per-probe quantities, with coverage rules.
fn scope_metrics(scope: &Scope, records: &[&ProbeRecord], members: &[usize], run: &RunModels) -> Vec<RunMetric> {
    let scope_models: BTreeSet<usize> =
        members.iter().flat_map(|&i| record_models(records[i])).map(|n| run.index[n]).collect();
    let values = Mat::<f64>::from_fn(members.len(), PROBE_METRICS.len(), |p, j| {
        let (_, every_model, min_models, get) = PROBE_METRICS[j];
        let r = records[members[p]];
        let n = r.n_models();
        if (every_model && n < scope_models.len()) || n < min_models { f64::NAN } else { get(r).unwrap_or(f64::NAN) }
    });
    summarise_columns(&values)
        .into_iter()
        .enumerate()
        .filter_map(|(j, s)| {
            let (value, lo, hi, n) = s?;
            Some(RunMetric {
                scope: scope.clone(),
                metric: PROBE_METRICS[j].0.into(),
                value,
                ci: Some((lo, hi)),
                n,
                n_models: scope_models.len(),
            })
        })
        .collect()
}

/// Per model, over the probes it answered: [`MODEL_METRICS`].
fn model_metrics(records: &[&ProbeRecord], run: &RunModels) -> Vec<RunMetric> {
    let k = MODEL_METRICS.len();
    let values = Mat::<f64>::from_fn(records.len(), run.len() * k, |p, col| {
        let (m, j) = (col / k, col % k);
        let r = records[p];
        let rates = r.behaviour.models.iter().find(|(n, _)| *n == run.names[m]).map(|(_, x)| x);
        let v = match (j, rates, &r.models, run.local[p][m]) {
            (0, Some(x), _, _) => Some(x.refusal),
            (1, Some(x), _, _) => Some(x.hedging),
            (2, Some(x), _, _) => Some(x.confident),
            (3, Some(x), _, _) => Some(x.self_reference),
            (4, _, Some(pm), Some(i)) => pm.self_similarity[i],
            (5, _, Some(pm), Some(i)) if pm.len() > 1 => {
                Some((0..pm.len()).filter(|&o| o != i).map(|o| pm.sim(i, o)).sum::<f64>() / (pm.len() - 1) as f64)
            }
            _ => None,
        };
        v.unwrap_or(f64::NAN)
    });
    summarise_columns(&values)
        .into_iter()
        .enumerate()
        .filter_map(|(col, s)| {
            let (value, lo, hi, n) = s?;
            Some(RunMetric {
                scope: Scope::Model(run.names[col / k].clone()),
                metric: MODEL_METRICS[col % k].into(),
                value,
                ci: Some((lo, hi)),
                n,
                n_models: 1,
            })
        })
        .collect()
}

/// Fleiss' kappa of models refusing (models as raters), over the probes every model answered,
/// and how many probes that is.
fn refusal_kappa(records: &[&ProbeRecord], models: usize) -> Option<(f64, usize)> {
    let table: Vec<Vec<u32>> = records
        .iter()
        .filter(|r| r.behaviour.models.len() == models)
        .map(|r| {
            let k = r.behaviour.refusers() as u32;
            vec![k, models as u32 - k]
        })
        .collect();
    Some((fleiss_kappa(&table)?, table.len()))
}

/// The effective number of distinct models: Vendi (q = 1) of the matrix of mean centroid
/// cosines, `C_ab = mean over probes both answered of cos(centroid_a, centroid_b)` (1 on the
/// diagonal; 0 for a pair that never met). M when every model answers apart, 1 when all alike.
/// The interval recomputes it on each bootstrap resample of the probes.
fn effective_models(records: &[&ProbeRecord], run: &RunModels) -> (f64, Option<(f64, f64)>) {
    let m = run.len();
    let pairs = run.pairs();
    let cosine = |p: usize, k: usize| run.pair_value(records[p], p, pairs[k], |pm, x, y| pm.centroid_cosine(x, y));
    let vendi_of = |pair_mean: &dyn Fn(usize) -> f64| {
        let mut kernel = vec![0.0; m * m];
        for a in 0..m {
            kernel[a * m + a] = 1.0;
        }
        for (i, &(a, b)) in pairs.iter().enumerate() {
            let v = pair_mean(i);
            let v = if v.is_nan() { 0.0 } else { v };
            kernel[a * m + b] = v;
            kernel[b * m + a] = v;
        }
        vendi_from_eigenvalues(&kernel_matrix_eigenvalues(&kernel, m), Order::One)
    };
    let means: Vec<f64> = (0..pairs.len())
        .map(|k| {
            let (mut sum, mut n) = (0.0, 0usize);
            for p in 0..records.len() {
                let v = cosine(p, k);
                if !v.is_nan() {
                    sum += v;
                    n += 1;
                }
            }
            if n == 0 { f64::NAN } else { sum / n as f64 }
        })
        .collect();
    let resampled = ProbeBootstrap::standard(records.len()).resample_means_by_blocks(pairs.len(), |cols| {
        Mat::<f64>::from_fn(records.len(), cols.len(), |p, j| cosine(p, cols.start + j))
    });
    let rows: Vec<usize> = (0..resampled.nrows()).collect();
    let mut draws: Vec<f64> = crate::util::parallel_map(&rows, |&r| vendi_of(&|i| resampled[(r, i)]));
    let ci = (!draws.is_empty()).then(|| percentile_interval(&mut draws, ALPHA));
    (vendi_of(&|i| means[i]), ci)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::behaviour::probe_behaviour;
    use crate::metrics::fusion::Signal;
    use crate::metrics::phrases::probe_phrases;
    use crate::metrics::probe::{ModelSamples, probe_measures};
    use crate::metrics::unit_rows;

    /// A record from each model's sample vectors on one probe.
    fn record(probe: &str, category: &str, models: &[(&str, Vec<Vec<f32>>)]) -> ProbeRecord {
        let samples: Vec<ModelSamples> =
            models.iter().map(|(m, rows)| ModelSamples { model: (*m).into(), rows: unit_rows(rows) }).collect();
        let (measures, models) = probe_measures(&samples).unzip();
        ProbeRecord {
            probe: probe.into(),
            category: category.into(),
            measures,
            models,
            behaviour: probe_behaviour(&[]),
            phrases: probe_phrases(&[]),
            claim_similarity: BTreeMap::new(),
            style: None,
        }
    }

    fn metric(agg: &RunAggregates, scope: &str, name: &str) -> RunMetric {
        agg.metrics
            .iter()
            .find(|m| m.scope == scope && m.metric == name)
            .unwrap_or_else(|| panic!("{scope} {name}"))
            .clone()
    }

    fn one_hot(i: usize, d: usize, noise: f32) -> Vec<f32> {
        (0..d).map(|j| if j == i { 1.0 } else { noise * ((i * 7 + j * 3) % 5) as f32 / 5.0 }).collect()
    }

    #[test]
    fn identical_models_are_one_model_orthogonal_models_are_each_their_own() {
        let names = ["a", "b", "c", "d"];
        let same: Vec<ProbeRecord> = (0..6)
            .map(|p| {
                let rows = vec![one_hot(p % 3, 4, 0.0); 2];
                record(&format!("p{p}"), "x", &names.map(|n| (n, rows.clone())))
            })
            .collect();
        let agg = aggregate(&same);
        assert!((metric(&agg, "overall", "effective_models").value - 1.0).abs() < 1e-9);
        // Four models are too few for a null: no tests, and the families of the raw clustering
        // (identical models: one family of four), the same at every level of the tree.
        assert!(agg.families.iter().all(|f| f.family == "a" && f.size == 4) && agg.families.len() == 3 * 4);
        assert!(agg.tree.is_empty());
        assert_eq!(metric(&agg, "overall", "families").value, 1.0);
        assert!(!agg.metrics.iter().any(|m| m.metric == "related_pairs"));
        assert!(agg.pairs.iter().all(|(_, p)| p.calibrated.is_some_and(|c| c.z.is_none() && c.q.is_none())));

        let apart: Vec<ProbeRecord> = (0..6)
            .map(|p| {
                let models: Vec<(&str, Vec<Vec<f32>>)> =
                    names.iter().enumerate().map(|(i, n)| (*n, vec![one_hot(i, 4, 0.0); 2])).collect();
                record(&format!("p{p}"), "x", &models)
            })
            .collect();
        let agg = aggregate(&apart);
        assert!((metric(&agg, "overall", "effective_models").value - 4.0).abs() < 1e-9);
        assert_eq!(metric(&agg, "overall", "families").value, 4.0);
        let ratio = metric(&agg, "overall", "effective_models_ratio");
        assert!((ratio.value - 1.0).abs() < 1e-9 && ratio.n_models == 4);
    }

    /// A deterministic generator for the synthetic ecosystems below.
    struct Lcg(u64);

    impl Lcg {
        fn unit(&mut self) -> f32 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        }

        fn vector(&mut self, d: usize) -> Vec<f32> {
            (0..d).map(|_| self.unit()).collect()
        }
    }

    /// `models` models over `probes` probes, `samples` samples each: model i answers probe p
    /// with its group's direction for the probe (groups of `groups`; a model alone is its own
    /// group) plus its own offset and sampling noise. Models listed in `easy_only` answer only
    /// the probes whose every answer is alike (an easy probe: one shared direction).
    fn ecosystem(
        models: usize,
        probes: usize,
        samples: usize,
        groups: &[&[usize]],
        easy_only: &[usize],
    ) -> Vec<ProbeRecord> {
        let names: Vec<String> = (0..models).map(|i| format!("m{i:02}")).collect();
        let group_of = |i: usize| groups.iter().position(|g| g.contains(&i)).map_or(100 + i, |g| g);
        let mut rng = Lcg(7);
        let d = 24;
        (0..probes)
            .map(|p| {
                let easy = p % 2 == 0;
                let common = rng.vector(d);
                let directions: HashMap<usize, Vec<f32>> = (0..models).map(|i| (group_of(i), rng.vector(d))).collect();
                let rows: Vec<(&str, Vec<Vec<f32>>)> = (0..models)
                    .filter(|i| easy || !easy_only.contains(i))
                    .map(|i| {
                        let own = rng.vector(d);
                        let answers = (0..samples)
                            .map(|_| {
                                let noise = rng.vector(d);
                                (0..d)
                                    .map(|j| {
                                        let base = directions[&group_of(i)][j] + 0.5 * own[j] + 0.3 * noise[j];
                                        if easy { 3.0 * common[j] + 0.4 * base } else { base }
                                    })
                                    .collect()
                            })
                            .collect();
                        (names[i].as_str(), answers)
                    })
                    .collect();
                record(&format!("p{p:03}"), if p % 3 == 0 { "x" } else { "y" }, &rows)
            })
            .collect()
    }

    #[test]
    fn planted_groups_form_calibrated_families_and_probe_order_does_not_matter() {
        for samples in [1, 3] {
            let records = ecosystem(14, 40, samples, &[&[0, 1], &[2, 3, 4]], &[]);
            let agg = aggregate(&records);
            let close = |f: &&Family| f.level == FamilyLevel::Close;
            let family = |m: &str| agg.families.iter().filter(close).find(|f| f.model == m).unwrap().family.clone();
            assert_eq!((family("m00"), family("m01")), ("m00".into(), "m00".into()), "{:?}", agg.families);
            // A tree of 13 merges, and levels that nest.
            assert_eq!(agg.tree.len(), 13);
            assert_eq!(agg.families.len(), 3 * 14);
            assert!(["m02", "m03", "m04"].iter().all(|m| family(m) == "m02"), "{:?}", agg.families);
            assert!((5..14).all(|i| family(&format!("m{i:02}")) == format!("m{i:02}")), "{:?}", agg.families);
            assert_eq!(metric(&agg, "overall", "families").value, 11.0);
            assert!((metric(&agg, "overall", "family_hhi").value - (4.0 + 9.0 + 9.0) / 196.0).abs() < 1e-12);
            assert_eq!(metric(&agg, "overall", "related_pairs").value, 4.0, "samples {samples}");
            // The planted pairs are the significant ones, with their intervals above the rest.
            let pair = |a: &str, b: &str| {
                agg.pairs.iter().find(|(c, p)| c.is_none() && p.model_a == a && p.model_b == b).unwrap().1.clone()
            };
            let planted = pair("m00", "m01").calibrated.unwrap();
            assert!(planted.q.unwrap() < 1e-3 && planted.ci_low > 0.0, "{planted:?}");
            let plain = pair("m05", "m06").calibrated.unwrap();
            assert!(plain.q.unwrap() > 0.05 && plain.n_probes == 40, "{plain:?}");
            assert!(metric(&agg, "pair:m00|m01", "calibrated_similarity").value > 0.0);

            let mut reversed = records.clone();
            reversed.reverse();
            let again = aggregate(&reversed);
            assert_eq!(format!("{:?}", agg.metrics), format!("{:?}", again.metrics));
            assert_eq!(agg.pairs, again.pairs);
            assert_eq!(agg.families, again.families);
            for m in &agg.metrics {
                if let Some((lo, hi)) = m.ci {
                    assert!(lo <= m.value + 1e-12 && m.value <= hi + 1e-12, "{m:?}");
                }
            }
            // 14 models: 91 pairs overall and in each of the two categories; 40 probes overall,
            // but no category has 30, so no pair is tested within one.
            assert_eq!(agg.pairs.len(), 3 * 91);
            assert!(agg.pairs.iter().filter(|(c, _)| c.is_some()).all(|(_, p)| p.calibrated.unwrap().q.is_none()));
        }
    }

    /// Gives each record a style: every model its own random style per probe, except that m05
    /// writes like m06 (their content is unrelated).
    fn with_styles(records: &mut [ProbeRecord]) {
        use crate::metrics::style::{ScalingFit, StyleProbe};
        let mut rng = Lcg(11);
        let raw: Vec<Vec<(String, Vec<f64>, String)>> = records
            .iter()
            .map(|r| {
                let names = &r.models.as_ref().unwrap().models;
                let mut rows: Vec<(String, Vec<f64>, String)> = names
                    .iter()
                    .map(|n| {
                        (n.clone(), (0..4).map(|_| f64::from(rng.unit())).collect(), format!("w{}", rng.unit() > 0.5))
                    })
                    .collect();
                let copied = rows.iter().find(|x| x.0 == "m06").map(|x| (x.1.clone(), x.2.clone()));
                if let (Some(at), Some((v, w))) = (rows.iter().position(|x| x.0 == "m05"), copied) {
                    rows[at].1 = v.iter().map(|x| x + 0.05 * f64::from(rng.unit())).collect();
                    rows[at].2 = w;
                }
                rows
            })
            .collect();
        let mut fit = ScalingFit::new(vec![0, 0, 1, 2]);
        raw.iter().flatten().for_each(|(_, v, w)| fit.push(v, w, "end"));
        let scaling = fit.finish().unwrap();
        for (r, rows) in records.iter_mut().zip(&raw) {
            let samples = rows.iter().map(|(n, v, w)| (n.clone(), vec![scaling.scale(v, w, "end")])).collect();
            r.style = StyleProbe::of(&samples, &scaling);
        }
    }

    #[test]
    fn a_style_signal_fuses_with_content_and_carries_what_content_misses() {
        let mut records = ecosystem(14, 40, 1, &[&[0, 1]], &[]);
        with_styles(&mut records);
        let agg = aggregate(&records);
        let pair = |a: &str, b: &str| {
            agg.pairs
                .iter()
                .find(|(c, p)| c.is_none() && p.model_a == a && p.model_b == b)
                .unwrap()
                .1
                .calibrated
                .unwrap()
        };
        let copied = pair("m05", "m06");
        assert!(copied.z_style.unwrap() > 5.0 && copied.z_content.unwrap() < 3.0, "{copied:?}");
        assert_eq!(copied.carried_by, Some(Signal::Style));
        assert!(copied.q.unwrap() <= relatedness::FDR, "{copied:?}");
        let planted = pair("m00", "m01");
        assert_eq!(planted.carried_by, Some(Signal::Content), "{planted:?}");
        // The stage's way (styles measured first, then let go of) gives the same aggregates.
        let style = style_tests(&records);
        records.iter_mut().for_each(|r| r.style = None);
        let lean = aggregate_with(&records, &style, PairCategories::Always);
        assert_eq!(lean.pairs, agg.pairs);
        assert_eq!(lean.families, agg.families);
        // Without the per-category pairs, the overall pairs, the families and every metric are
        // the same: nothing is measured from the category pairs.
        let overall = aggregate_with(&records, &style, PairCategories::Never);
        assert!(agg.pairs.iter().any(|(c, _)| c.is_some()));
        let want: Vec<_> = agg.pairs.iter().filter(|(c, _)| c.is_none()).cloned().collect();
        assert_eq!(overall.pairs, want);
        assert_eq!((overall.families, overall.metrics), (lean.families, lean.metrics));
        assert!(aggregate(&records).pairs.iter().all(|(_, p)| p.calibrated.unwrap().z_style.is_none()));
    }

    #[test]
    fn sharing_only_the_easy_probes_never_makes_a_pair_related() {
        // m05 and m06 are unrelated but answered only the easy probes, where every answer is
        // alike: their raw mean similarity tops every pair's, their calibrated similarity does not.
        let records = ecosystem(14, 80, 1, &[&[0, 1]], &[5, 6]);
        let agg = aggregate(&records);
        let overall: Vec<&PairSimilarity> = agg.pairs.iter().filter(|(c, _)| c.is_none()).map(|(_, p)| p).collect();
        let shared = overall.iter().find(|p| p.model_a == "m05" && p.model_b == "m06").unwrap();
        assert_eq!(shared.n_probes, 40);
        // Every pair with m05 or m06 shares only easy probes: each is above every unrelated pair
        // of models that answered everything, under the raw mean.
        let easy = |p: &&&PairSimilarity| ["m05", "m06"].iter().any(|m| p.model_a == *m || p.model_b == *m);
        let full_max = overall
            .iter()
            .filter(|p| !(easy(p) || (p.model_a == "m00" && p.model_b == "m01")))
            .map(|p| p.mean_similarity)
            .fold(f64::MIN, f64::max);
        assert!(overall.iter().filter(easy).all(|p| p.mean_similarity > full_max));
        let c = shared.calibrated.unwrap();
        assert!(c.q.unwrap() > 0.05, "{c:?}");
        let planted = overall.iter().find(|p| p.model_a == "m00" && p.model_b == "m01").unwrap().calibrated.unwrap();
        assert!(planted.q.unwrap() < 0.05 && planted.z.unwrap() > c.z.unwrap());
        let related: Vec<String> = overall
            .iter()
            .filter(|p| p.calibrated.and_then(|c| c.q).is_some_and(|q| q <= 0.05))
            .map(|p| format!("{}|{}", p.model_a, p.model_b))
            .collect();
        assert_eq!(related, ["m00|m01"]);
    }

    #[test]
    fn per_model_rates_their_spread_and_refusal_kappa() {
        use crate::features::Flags;
        use crate::features::Refusal;
        let flag = |refuses: bool| Flags {
            refusal: if refuses { Refusal::Full } else { Refusal::None },
            hedging: !refuses,
            confident: false,
            self_reference: false,
        };
        // a refuses every probe, b none, c the even probes.
        let records: Vec<ProbeRecord> = (0..10)
            .map(|p| {
                let mut r = record(&format!("p{p}"), "x", &[]);
                r.behaviour = probe_behaviour(&[
                    ("a".into(), vec![flag(true); 2]),
                    ("b".into(), vec![flag(false); 2]),
                    ("c".into(), vec![flag(p % 2 == 0); 2]),
                ]);
                r
            })
            .collect();
        let agg = aggregate(&records);
        assert_eq!(metric(&agg, "model:a", "refusal_rate").value, 1.0);
        assert_eq!(metric(&agg, "model:b", "refusal_rate").value, 0.0);
        assert_eq!(metric(&agg, "model:c", "refusal_rate").value, 0.5);
        assert_eq!(metric(&agg, "model:b", "hedging_rate").value, 1.0);
        // Population SD of (1, 0, 0.5).
        let spread = metric(&agg, "overall", "refusal_rate_spread");
        assert!((spread.value - (1.0f64 / 6.0).sqrt()).abs() < 1e-12, "{spread:?}");
        assert_eq!(spread.n_models, 3);
        // Two refusers of three on even probes, one on odd: agreement below chance is negative.
        let kappa = metric(&agg, "overall", "refusal_kappa");
        let table: Vec<Vec<u32>> = (0..10).map(|p| if p % 2 == 0 { vec![2, 1] } else { vec![1, 2] }).collect();
        assert_eq!(kappa.value, fleiss_kappa(&table).unwrap());
        assert!(kappa.value < 0.0);
        assert!((metric(&agg, "overall", "refusal_agreement").value - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn a_probe_some_models_missed_is_left_out_of_size_measures_only() {
        let full = |p: &str| {
            record(
                p,
                "x",
                &[("a", vec![one_hot(0, 3, 0.0)]), ("b", vec![one_hot(1, 3, 0.0)]), ("c", vec![one_hot(2, 3, 0.0)])],
            )
        };
        let partial = record("p9", "x", &[("a", vec![one_hot(0, 3, 0.0)]), ("b", vec![one_hot(0, 3, 0.0)])]);
        let agg = aggregate(&[full("p1"), full("p2"), partial]);
        let vendi = metric(&agg, "overall", "vendi_q1");
        assert_eq!((vendi.n, vendi.n_models), (2, 3));
        assert!((vendi.value - 3.0).abs() < 1e-9, "only the probes all three answered: {vendi:?}");
        // The ratio counts every probe with two models: (1 + 1 + 1/2) / 3.
        let ratio = metric(&agg, "overall", "model_vendi_ratio");
        assert_eq!(ratio.n, 3);
        assert!((ratio.value - 2.5 / 3.0).abs() < 1e-9, "{ratio:?}");
        // A pair is measured on the probes both answered.
        let ac = agg.pairs.iter().find(|(c, p)| c.is_none() && p.model_a == "a" && p.model_b == "c").unwrap();
        assert_eq!(ac.1.n_probes, 2);
        let ab = agg.pairs.iter().find(|(c, p)| c.is_none() && p.model_a == "a" && p.model_b == "b").unwrap();
        assert_eq!(ab.1.n_probes, 3);
        assert!((ab.1.mean_similarity - 1.0 / 3.0).abs() < 1e-9);
    }
}
