//! The model-pair side of a run's aggregates: each pair's similarity over its common probes
//! (raw, with a bootstrap interval, and calibrated against the scope's null), the pair series
//! of `run_metrics`, and the families cut from the calibrated pairs.

use std::collections::{BTreeMap, HashMap};

use faer::Mat;

use super::{ProbeRecord, RunMetric, RunModels};
use crate::metrics::bootstrap::{ALPHA, ProbeBootstrap};
use crate::metrics::cluster::{SAME_BEHAVIOUR, clusters, normalised_similarity, sizes};
use crate::metrics::relatedness::{self, Calibrated, PairMoments};
use crate::vocab::{Scope, metric};

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
    /// The calibrated similarity over the probes both answered among three models or more (None
    /// with fewer than two such probes).
    pub calibrated: Option<CalibratedPair>,
}

/// A pair's calibrated similarity (see [`super::relatedness`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibratedPair {
    /// Mean double-centred residual `d`.
    pub value: f64,
    pub se: f64,
    /// `d -+ t(0.975, n-1) se`.
    pub ci_low: f64,
    pub ci_high: f64,
    pub n_probes: usize,
    /// Against the scope's null: `z`, one-sided `p` and the Benjamini-Hochberg `q` (None with
    /// fewer than 30 common probes or fewer than 12 models).
    pub z: Option<f64>,
    pub p: Option<f64>,
    pub q: Option<f64>,
}

impl CalibratedPair {
    fn of(c: Calibrated) -> Self {
        let test = c.test;
        CalibratedPair {
            value: c.stat.mean,
            se: c.stat.se,
            ci_low: c.stat.ci.0,
            ci_high: c.stat.ci.1,
            n_probes: c.stat.n,
            z: test.map(|t| t.0),
            p: test.map(|t| t.1),
            q: test.map(|t| t.2),
        }
    }
}

/// A model's behaviour family in the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub model: String,
    /// The family's first member by name.
    pub family: String,
    pub size: usize,
}

/// Each pair as a series of its own, so trends can see two models converging; the excess over
/// tonight's mean pair similarity separates a pair drawing together from the whole ecosystem
/// drawing together, and the calibrated similarity also takes out each model's closeness to
/// everyone (a hub) and the probes' difficulty.
pub(super) fn pair_series(pairs: &[&PairSimilarity]) -> Vec<RunMetric> {
    let mean_pair = pairs.iter().map(|p| p.mean_similarity).sum::<f64>() / pairs.len().max(1) as f64;
    let mut out = Vec::with_capacity(3 * pairs.len());
    for p in pairs {
        let scope = Scope::pair(&p.model_a, &p.model_b);
        for (metric, shift) in [(metric::SIMILARITY, 0.0), (metric::EXCESS_SIMILARITY, mean_pair)] {
            out.push(RunMetric {
                scope: scope.clone(),
                metric: metric.into(),
                value: p.mean_similarity - shift,
                ci: Some((p.ci_low - shift, p.ci_high - shift)),
                n: p.n_probes,
                n_models: 2,
            });
        }
        if let Some(c) = p.calibrated {
            out.push(RunMetric {
                scope,
                metric: metric::CALIBRATED_SIMILARITY.into(),
                value: c.value,
                ci: Some((c.ci_low, c.ci_high)),
                n: c.n_probes,
                n_models: 2,
            });
        }
    }
    out
}

/// Each model pair's mean similarity over the scope's probes both answered, with its interval,
/// and its calibrated similarity judged against the scope's null.
pub(super) fn scope_pairs(records: &[&ProbeRecord], members: &[usize], run: &RunModels) -> Vec<PairSimilarity> {
    let pairs = run.pairs();
    let raw = ProbeBootstrap::standard(members.len()).summarise(
        pairs.len(),
        |cols| {
            Mat::<f64>::from_fn(members.len(), cols.len(), |p, j| {
                run.pair_value(records[members[p]], members[p], pairs[cols.start + j], |pm, x, y| pm.sim(x, y))
            })
        },
        ALPHA,
    );
    let (moments, models) = residual_moments(records, members, run);
    let (calibrated, _) = relatedness::calibrate_pairs(&moments, models);
    raw.into_iter()
        .zip(&pairs)
        .zip(calibrated)
        .filter_map(|((s, &(a, b)), c)| {
            let (mean, lo, hi, n) = s?;
            Some(PairSimilarity {
                model_a: run.names[a].clone(),
                model_b: run.names[b].clone(),
                mean_similarity: mean,
                ci_low: lo,
                ci_high: hi,
                n_probes: n,
                calibrated: c.map(CalibratedPair::of),
            })
        })
        .collect()
}

/// Each pair's running moments of its per-probe double-centred residuals over the scope's
/// probes (in probe order), and how many models have vectors in the scope.
pub(super) fn residual_moments(
    records: &[&ProbeRecord],
    members: &[usize],
    run: &RunModels,
) -> (Vec<PairMoments>, usize) {
    let mut moments = vec![PairMoments::default(); run.pairs().len()];
    let mut seen = vec![false; run.len()];
    for &p in members {
        let Some(pm) = &records[p].models else { continue };
        let global: Vec<usize> = pm.models.iter().map(|n| run.index[n]).collect();
        global.iter().for_each(|&g| seen[g] = true);
        let k = pm.len();
        let Some(e) = relatedness::double_centre(&pm.similarity_matrix(), k) else { continue };
        for x in 0..k {
            for y in x + 1..k {
                // `global` is ascending: models are sorted by name in both.
                moments[run.pair_index(global[x], global[y])].push(e[x * k + y]);
            }
        }
    }
    (moments, seen.iter().filter(|&&s| s).count())
}

/// Behaviour families where the run has too few models for the calibrated ones (fewer than
/// [`relatedness::MIN_MODELS`]): models clustered by run-level normalised similarity (see
/// [`super::cluster`]) at [`SAME_BEHAVIOUR`]; each family is named by its first member. Raw
/// similarity mixes probe difficulty and hubness into the pairs (why the calibrated families
/// exist), but a handful of models cannot give a null to calibrate against.
pub(super) fn raw_families(
    models: &[String],
    pairs: &[&PairSimilarity],
    self_similarity: &[Option<f64>],
) -> Vec<Family> {
    let m = models.len();
    let index: HashMap<&str, usize> = models.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    // Pairs that never met stay at 0: never one family on no evidence.
    let mut normalised = vec![0.0; m * m];
    for a in 0..m {
        normalised[a * m + a] = 1.0;
    }
    for p in pairs {
        let (a, b) = (index[p.model_a.as_str()], index[p.model_b.as_str()]);
        let v = normalised_similarity(p.mean_similarity, self_similarity[a], self_similarity[b]);
        normalised[a * m + b] = v;
        normalised[b * m + a] = v;
    }
    named_families(models, &clusters(&normalised, m, SAME_BEHAVIOUR))
}

/// Families from cluster labels, each named by its first member.
pub(super) fn named_families(models: &[String], labels: &[usize]) -> Vec<Family> {
    let family_sizes = sizes(labels);
    let mut first: BTreeMap<usize, &str> = BTreeMap::new();
    for (i, &l) in labels.iter().enumerate() {
        first.entry(l).or_insert(models[i].as_str());
    }
    labels
        .iter()
        .enumerate()
        .map(|(i, &l)| Family { model: models[i].clone(), family: first[&l].to_owned(), size: family_sizes[l] })
        .collect()
}

/// Behaviour families on the calibrated similarity ([`relatedness::families`]): average
/// linkage on the pairs' `z`, cut at the smallest `z` with `q <= 0.05`; every model its own
/// family when no pair is significant. Empty when the run has no null (fewer than
/// [`relatedness::MIN_MODELS`] models: then [`raw_families`]).
pub(super) fn families(models: &[String], pairs: &[&PairSimilarity]) -> Vec<Family> {
    let m = models.len();
    let tested: Vec<(f64, f64)> = pairs.iter().filter_map(|p| p.calibrated.and_then(|c| Some((c.z?, c.q?)))).collect();
    if tested.is_empty() {
        return Vec::new();
    }
    let index: HashMap<&str, usize> = models.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let mut z = vec![f64::NAN; m * m];
    for p in pairs {
        if let Some(v) = p.calibrated.and_then(|c| c.z) {
            let (a, b) = (index[p.model_a.as_str()], index[p.model_b.as_str()]);
            z[a * m + b] = v;
            z[b * m + a] = v;
        }
    }
    let labels = match relatedness::z_cut(tested.into_iter()) {
        Some(cut) => relatedness::families(&z, m, cut),
        None => (0..m).collect(),
    };
    named_families(models, &labels)
}
