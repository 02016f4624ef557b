//! Run-level aggregates (table `run_metrics`, long format), model-pair similarity over probes
//! (table `pair_similarity`) and behaviour families (table `families`), from per-probe records.
//!
//! Every aggregate is a mean over probes with a bootstrap interval over probes
//! ([`super::bootstrap`]) and says how many probes (`n`) and models went into it.
//!
//! Coverage (a probe some models did not answer): measures whose size grows with the number of
//! answers (Vendi scores, behaviour clusters, distinct-n) are averaged over the probes every
//! model of the run answered, so a failed request never reads as a loss of diversity; ratios
//! and means (Vendi ratio, similarities, rates) are averaged over every probe with the models it
//! has (two at least where the measure is about pairs); a model pair is measured over the probes
//! both answered. A model's own rates are over the probes it answered.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use faer::Mat;

use super::agreement::fleiss_kappa;
use super::behaviour::ProbeBehaviour;
use super::bootstrap::{ALPHA, ProbeBootstrap};
use super::cluster::{SAME_BEHAVIOUR, clusters, normalised_similarity, sizes};
use super::herfindahl;
use super::lexical::ProbeLexical;
use super::probe::{ProbeMeasures, ProbeModels};
use super::vendi::{Order, kernel_matrix_eigenvalues, vendi_from_eigenvalues};

/// Everything measured on one probe.
#[derive(Debug, Clone)]
pub struct ProbeRecord {
    pub probe: String,
    pub category: String,
    /// `None` when no answer of the probe was embedded.
    pub measures: Option<ProbeMeasures>,
    pub models: Option<ProbeModels>,
    pub behaviour: ProbeBehaviour,
    pub lexical: ProbeLexical,
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
    /// `overall`, `category:NAME` or `model:NAME`.
    pub scope: String,
    pub metric: String,
    pub value: f64,
    pub ci: Option<(f64, f64)>,
    /// Probes that went into the value.
    pub n: usize,
    /// Models that went into the value.
    pub n_models: usize,
}

/// Similarity of one model pair over a set of probes.
#[derive(Debug, Clone, PartialEq)]
pub struct PairSimilarity {
    pub model_a: String,
    pub model_b: String,
    /// Mean over probes answered by both of the probe's mean cross-model cosine
    /// `s_p(a, b) = mean_{i in a, j in b} a_i . b_j`.
    pub mean_similarity: f64,
    /// Percentile bootstrap interval of that mean, resampling probes.
    pub ci_low: f64,
    pub ci_high: f64,
    pub n_probes: usize,
}

/// A model's behaviour family in the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub model: String,
    /// The family's first member by name.
    pub family: String,
    pub size: usize,
}

#[derive(Debug, Clone, Default)]
pub struct RunAggregates {
    pub metrics: Vec<RunMetric>,
    /// (category or `None` for all probes, pair).
    pub pairs: Vec<(Option<String>, PairSimilarity)>,
    pub families: Vec<Family>,
}

type Get = fn(&ProbeRecord) -> Option<f64>;

/// Per-probe quantities averaged per scope: (metric, needs every model, fewest models, value).
const PROBE_METRICS: &[(&str, bool, usize, Get)] = &[
    ("vendi_q1", true, 1, |r| r.measures.as_ref().map(|m| m.vendi_q1)),
    ("vendi_q2", true, 1, |r| r.measures.as_ref().map(|m| m.vendi_q2)),
    ("vendi_qinf", true, 1, |r| r.measures.as_ref().map(|m| m.vendi_qinf)),
    ("model_vendi_ratio", false, 2, |r| r.measures.as_ref().map(|m| m.model_vendi_ratio)),
    ("intra_similarity", false, 1, |r| r.measures.as_ref().and_then(|m| m.intra_similarity)),
    ("inter_similarity", false, 2, |r| r.measures.as_ref().and_then(|m| m.inter_similarity)),
    ("homogenization_index", false, 2, |r| r.measures.as_ref().and_then(|m| m.homogenization_index)),
    ("behaviour_clusters", true, 1, |r| r.measures.as_ref().map(|m| m.behaviour_clusters as f64)),
    ("refusal_rate", false, 1, |r| r.behaviour.refusal_rate),
    ("refusal_agreement", false, 2, |r| r.behaviour.refusal_agreement),
    ("refusal_entropy", false, 2, |r| r.behaviour.refusal_entropy),
    ("hedging_rate", false, 1, |r| r.behaviour.hedging_rate),
    ("confident_rate", false, 1, |r| r.behaviour.confident_rate),
    ("self_reference_rate", false, 1, |r| r.behaviour.self_reference_rate),
    ("distinct_1", true, 1, |r| r.lexical.distinct_1),
    ("distinct_2", true, 1, |r| r.lexical.distinct_2),
    ("shared_phrase_share", false, 2, |r| r.lexical.shared_share),
];

/// Per-model quantities of one probe, by the model's index in the record.
const MODEL_METRICS: &[&str] = &[
    "refusal_rate",
    "hedging_rate",
    "confident_rate",
    "self_reference_rate",
    "self_similarity",
    "similarity_to_others",
];

/// One row per probe, one column per quantity: the mean over probes with a value and its
/// bootstrap interval, for each column.
fn summarise_columns(values: &Mat<f64>) -> Vec<Option<(f64, f64, f64, usize)>> {
    let n: Vec<usize> =
        (0..values.ncols()).map(|j| (0..values.nrows()).filter(|&p| !values[(p, j)].is_nan()).count()).collect();
    ProbeBootstrap::standard(values.nrows())
        .mean_intervals(values, ALPHA)
        .into_iter()
        .zip(n)
        .map(|(s, n)| s.map(|(v, lo, hi)| (v, lo, hi, n)))
        .collect()
}

/// The run's aggregates from its probe records (in any order).
pub fn aggregate(records: &[ProbeRecord]) -> RunAggregates {
    let mut records: Vec<&ProbeRecord> = records.iter().collect();
    records.sort_by(|a, b| a.probe.cmp(&b.probe));
    let models: Vec<String> = records
        .iter()
        .flat_map(|r| {
            r.models
                .iter()
                .flat_map(|m| m.models.iter().cloned())
                .chain(r.behaviour.models.iter().map(|(n, _)| n.clone()))
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index: HashMap<&str, usize> = models.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
    let m_all = models.len();
    // For each record: run model index -> index in the record's model matrices.
    let local: Vec<Vec<Option<usize>>> = records
        .iter()
        .map(|r| {
            let mut l = vec![None; m_all];
            if let Some(pm) = &r.models {
                for (k, name) in pm.models.iter().enumerate() {
                    l[index[name.as_str()]] = Some(k);
                }
            }
            l
        })
        .collect();

    let mut out = RunAggregates::default();
    let categories: BTreeSet<&str> = records.iter().map(|r| r.category.as_str()).collect();
    let mut scopes: Vec<(String, Option<String>, Vec<usize>)> =
        vec![("overall".into(), None, (0..records.len()).collect())];
    for c in categories {
        let members = (0..records.len()).filter(|&i| records[i].category == c).collect();
        scopes.push((format!("category:{c}"), Some(c.to_owned()), members));
    }

    let pairs: Vec<(usize, usize)> = (0..m_all).flat_map(|a| (a + 1..m_all).map(move |b| (a, b))).collect();
    let pair_value = |i: usize, (a, b): (usize, usize), f: &dyn Fn(&ProbeModels, usize, usize) -> f64| -> f64 {
        match (&records[i].models, local[i][a], local[i][b]) {
            (Some(pm), Some(x), Some(y)) => f(pm, x, y),
            _ => f64::NAN,
        }
    };

    for (scope, category, members) in &scopes {
        // Probe-level quantities.
        let scope_models: BTreeSet<usize> = members
            .iter()
            .flat_map(|&i| {
                let r = records[i];
                r.models
                    .iter()
                    .flat_map(|m| m.models.iter())
                    .chain(r.behaviour.models.iter().map(|(n, _)| n))
                    .map(|n| index[n.as_str()])
            })
            .collect();
        let values = Mat::<f64>::from_fn(members.len(), PROBE_METRICS.len(), |p, j| {
            let (_, full, min_models, get) = PROBE_METRICS[j];
            let r = records[members[p]];
            let n = r.n_models();
            if (full && n < scope_models.len()) || n < min_models { f64::NAN } else { get(r).unwrap_or(f64::NAN) }
        });
        for (j, s) in summarise_columns(&values).into_iter().enumerate() {
            if let Some((value, lo, hi, n)) = s {
                out.metrics.push(RunMetric {
                    scope: scope.clone(),
                    metric: PROBE_METRICS[j].0.into(),
                    value,
                    ci: Some((lo, hi)),
                    n,
                    n_models: scope_models.len(),
                });
            }
        }
        // Model pairs.
        let values = Mat::<f64>::from_fn(members.len(), pairs.len(), |p, k| {
            pair_value(members[p], pairs[k], &|pm, x, y| pm.sim(x, y))
        });
        for (k, s) in summarise_columns(&values).into_iter().enumerate() {
            if let Some((mean, lo, hi, n)) = s {
                let (a, b) = pairs[k];
                out.pairs.push((
                    category.clone(),
                    PairSimilarity {
                        model_a: models[a].clone(),
                        model_b: models[b].clone(),
                        mean_similarity: mean,
                        ci_low: lo,
                        ci_high: hi,
                        n_probes: n,
                    },
                ));
            }
        }
    }

    let all: Vec<usize> = (0..records.len()).collect();
    let overall = |metric: &str, value: f64, ci: Option<(f64, f64)>, n: usize, n_models: usize| RunMetric {
        scope: "overall".into(),
        metric: metric.into(),
        value,
        ci,
        n,
        n_models,
    };

    // Per model.
    let model_values = Mat::<f64>::from_fn(records.len(), m_all * MODEL_METRICS.len(), |p, col| {
        let (m, j) = (col / MODEL_METRICS.len(), col % MODEL_METRICS.len());
        let r = records[p];
        let rates = r.behaviour.models.iter().find(|(n, _)| *n == models[m]).map(|(_, x)| x);
        let v = match (j, rates, &r.models, local[p][m]) {
            (0, Some(x), _, _) => Some(x.refusal),
            (1, Some(x), _, _) => Some(x.hedging),
            (2, Some(x), _, _) => Some(x.confident),
            (3, Some(x), _, _) => Some(x.self_reference),
            (4, _, Some(pm), Some(k)) => pm.self_similarity[k],
            (5, _, Some(pm), Some(k)) if pm.len() > 1 => {
                Some((0..pm.len()).filter(|&o| o != k).map(|o| pm.sim(k, o)).sum::<f64>() / (pm.len() - 1) as f64)
            }
            _ => None,
        };
        v.unwrap_or(f64::NAN)
    });
    let model_summaries = summarise_columns(&model_values);
    for (col, s) in model_summaries.iter().enumerate() {
        if let Some((value, lo, hi, n)) = *s {
            out.metrics.push(RunMetric {
                scope: format!("model:{}", models[col / MODEL_METRICS.len()]),
                metric: MODEL_METRICS[col % MODEL_METRICS.len()].into(),
                value,
                ci: Some((lo, hi)),
                n,
                n_models: 1,
            });
        }
    }
    // Spread across models of their rates: the population standard deviation.
    for (j, metric) in MODEL_METRICS.iter().enumerate().take(4) {
        let rates: Vec<f64> =
            (0..m_all).filter_map(|m| model_summaries[m * MODEL_METRICS.len() + j].map(|s| s.0)).collect();
        if rates.len() >= 2 {
            let mean = rates.iter().sum::<f64>() / rates.len() as f64;
            let sd = (rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rates.len() as f64).sqrt();
            out.metrics.push(overall(&format!("{metric}_spread"), sd, None, records.len(), rates.len()));
        }
    }

    // Refusal agreement over probes every model answered: Fleiss' kappa (models as raters).
    let table: Vec<Vec<u32>> = records
        .iter()
        .filter(|r| r.behaviour.models.len() == m_all)
        .map(|r| {
            let k = r.behaviour.refusers() as u32;
            vec![k, m_all as u32 - k]
        })
        .collect();
    if let Some(kappa) = fleiss_kappa(&table) {
        out.metrics.push(overall("refusal_kappa", kappa, None, table.len(), m_all));
    }

    if m_all >= 1 && records.iter().any(|r| r.models.is_some()) {
        // Effective number of distinct models: Vendi (q = 1) of the mean centroid-cosine matrix.
        let cos = Mat::<f64>::from_fn(records.len(), pairs.len(), |p, k| {
            pair_value(all[p], pairs[k], &|pm, x, y| pm.centroid_cosine[x * pm.len() + y])
        });
        let vendi_of = |pair_means: &dyn Fn(usize) -> f64| {
            let mut k = vec![0.0; m_all * m_all];
            for a in 0..m_all {
                k[a * m_all + a] = 1.0;
            }
            for (i, &(a, b)) in pairs.iter().enumerate() {
                let v = pair_means(i);
                let v = if v.is_nan() { 0.0 } else { v };
                k[a * m_all + b] = v;
                k[b * m_all + a] = v;
            }
            vendi_from_eigenvalues(&kernel_matrix_eigenvalues(&k, m_all), Order::One)
        };
        let present = |k: usize| (0..records.len()).filter(|&p| !cos[(p, k)].is_nan()).count();
        let means: Vec<f64> = (0..pairs.len())
            .map(|k| {
                let n = present(k);
                if n == 0 {
                    f64::NAN
                } else {
                    (0..records.len()).filter_map(|p| Some(cos[(p, k)]).filter(|v| !v.is_nan())).sum::<f64>() / n as f64
                }
            })
            .collect();
        let effective = vendi_of(&|i| means[i]);
        let resampled = ProbeBootstrap::standard(records.len()).resample_means(&cos);
        let mut draws: Vec<f64> = (0..resampled.nrows()).map(|r| vendi_of(&|i| resampled[(r, i)])).collect();
        let ci = (!draws.is_empty()).then(|| super::bootstrap::percentile_interval(&mut draws, ALPHA));
        out.metrics.push(overall("effective_models", effective, ci, records.len(), m_all));
        out.metrics.push(overall(
            "effective_models_ratio",
            effective / m_all as f64,
            ci.map(|(lo, hi)| (lo / m_all as f64, hi / m_all as f64)),
            records.len(),
            m_all,
        ));

        // Behaviour families: models clustered by run-level normalised similarity.
        let pair_mean: HashMap<(&str, &str), f64> = out
            .pairs
            .iter()
            .filter(|(c, _)| c.is_none())
            .map(|(_, p)| ((p.model_a.as_str(), p.model_b.as_str()), p.mean_similarity))
            .collect();
        let self_sim: Vec<Option<f64>> =
            (0..m_all).map(|m| model_summaries[m * MODEL_METRICS.len() + 4].map(|s| s.0)).collect();
        let mut ns = vec![1.0; m_all * m_all];
        for &(a, b) in &pairs {
            let v = pair_mean.get(&(models[a].as_str(), models[b].as_str())).copied().unwrap_or(0.0);
            let v = normalised_similarity(v, self_sim[a], self_sim[b]);
            ns[a * m_all + b] = v;
            ns[b * m_all + a] = v;
        }
        let labels = clusters(&ns, m_all, SAME_BEHAVIOUR);
        let family_sizes = sizes(&labels);
        let mut first: BTreeMap<usize, &str> = BTreeMap::new();
        for (m, &l) in labels.iter().enumerate() {
            first.entry(l).or_insert(models[m].as_str());
        }
        for (m, &l) in labels.iter().enumerate() {
            out.families.push(Family { model: models[m].clone(), family: first[&l].to_owned(), size: family_sizes[l] });
            out.metrics.push(RunMetric {
                scope: format!("model:{}", models[m]),
                metric: "family_size".into(),
                value: family_sizes[l] as f64,
                ci: None,
                n: records.len(),
                n_models: m_all,
            });
        }
        let hhi = herfindahl(&family_sizes).expect("at least one model");
        out.metrics.push(overall("families", family_sizes.len() as f64, None, records.len(), m_all));
        out.metrics.push(overall("family_hhi", hhi, None, records.len(), m_all));
        out.metrics.push(overall("effective_families", 1.0 / hhi, None, records.len(), m_all));
        if let Some(max) =
            out.pairs.iter().filter(|(c, _)| c.is_none()).map(|(_, p)| p.mean_similarity).reduce(f64::max)
        {
            out.metrics.push(overall("max_pair_similarity", max, None, records.len(), m_all));
        }
    }
    out.metrics.push(overall("models", m_all as f64, None, records.len(), m_all));
    out.metrics.push(overall("probes", records.len() as f64, None, records.len(), m_all));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::behaviour::probe_behaviour;
    use crate::metrics::lexical::probe_lexical;
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
            lexical: probe_lexical(&[]),
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
    fn identical_models_are_one_family_orthogonal_models_are_each_their_own() {
        let names = ["a", "b", "c", "d"];
        let same: Vec<ProbeRecord> = (0..6)
            .map(|p| {
                let rows = vec![one_hot(p % 3, 4, 0.0); 2];
                record(&format!("p{p}"), "x", &names.map(|n| (n, rows.clone())))
            })
            .collect();
        let agg = aggregate(&same);
        assert_eq!(metric(&agg, "overall", "families").value, 1.0);
        assert!((metric(&agg, "overall", "effective_models").value - 1.0).abs() < 1e-9);
        assert!((metric(&agg, "overall", "family_hhi").value - 1.0).abs() < 1e-12);
        assert!(agg.families.iter().all(|f| f.family == "a" && f.size == 4));

        let apart: Vec<ProbeRecord> = (0..6)
            .map(|p| {
                let models: Vec<(&str, Vec<Vec<f32>>)> =
                    names.iter().enumerate().map(|(i, n)| (*n, vec![one_hot(i, 4, 0.0); 2])).collect();
                record(&format!("p{p}"), "x", &models)
            })
            .collect();
        let agg = aggregate(&apart);
        assert_eq!(metric(&agg, "overall", "families").value, 4.0);
        assert!((metric(&agg, "overall", "effective_models").value - 4.0).abs() < 1e-9);
        assert!((metric(&agg, "overall", "effective_families").value - 4.0).abs() < 1e-9);
        let ratio = metric(&agg, "overall", "effective_models_ratio");
        assert!((ratio.value - 1.0).abs() < 1e-9 && ratio.n_models == 4);
    }

    #[test]
    fn planted_pairs_form_families_and_probe_order_does_not_matter() {
        // a and b answer alike (with sampling noise), c and d alike, e alone.
        let mut rng = 1u64;
        let mut noise = move || {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((rng >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.2
        };
        let records: Vec<ProbeRecord> = (0..20)
            .map(|p| {
                let mut jitter = |base: usize| -> Vec<Vec<f32>> {
                    (0..3).map(|_| one_hot(base, 6, 0.0).iter().map(|x| x + noise()).collect()).collect()
                };
                let models = [("a", jitter(0)), ("b", jitter(0)), ("c", jitter(1)), ("d", jitter(1)), ("e", jitter(2))];
                record(&format!("p{p:02}"), if p % 2 == 0 { "even" } else { "odd" }, &models)
            })
            .collect();
        let agg = aggregate(&records);
        let family = |m: &str| agg.families.iter().find(|f| f.model == m).unwrap().family.clone();
        assert_eq!((family("a"), family("b")), ("a".into(), "a".into()));
        assert_eq!((family("c"), family("d")), ("c".into(), "c".into()));
        assert_eq!(family("e"), "e");
        assert_eq!(metric(&agg, "overall", "families").value, 3.0);
        // HHI of sizes 2, 2, 1.
        assert!((metric(&agg, "overall", "family_hhi").value - (4.0 + 4.0 + 1.0) / 25.0).abs() < 1e-12);

        let mut reversed = records.clone();
        reversed.reverse();
        let again = aggregate(&reversed);
        assert_eq!(format!("{:?}", agg.metrics), format!("{:?}", again.metrics));
        assert_eq!(agg.pairs, again.pairs);
        for m in &agg.metrics {
            if let Some((lo, hi)) = m.ci {
                assert!(lo <= m.value + 1e-12 && m.value <= hi + 1e-12, "{m:?}");
            }
        }
        // 5 models: 10 pairs overall and in each of the two categories.
        assert_eq!(agg.pairs.len(), 30);
        assert_eq!(metric(&agg, "category:even", "vendi_q1").n, 10);
    }

    #[test]
    fn per_model_rates_their_spread_and_refusal_kappa() {
        use crate::features::Refusal;
        use crate::store::features::Flags;
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
