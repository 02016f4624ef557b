//! The model-pair side of a run's aggregates: each pair's similarity over its common probes
//! (raw, with a bootstrap interval, and calibrated against the scope's null, per signal and
//! fused: [`crate::metrics::fusion`]), the pair series of `run_metrics`, and the family tree
//! cut from the fused pairs ([`crate::metrics::tree`]).

use std::collections::{BTreeMap, HashMap};

use faer::Mat;

use super::{ProbeRecord, RunMetric, RunModels};
use crate::metrics::bootstrap::{ALPHA, ProbeBootstrap};
use crate::metrics::cluster::{SAME_BEHAVIOUR, clusters, normalised_similarity, sizes};
use crate::metrics::fusion::{self, Fused, Signal};
use crate::metrics::relatedness::{self, Calibrated, PairMoments};
use crate::metrics::tree::{Tree, level_cuts};
use crate::vocab::{FamilyLevel, Scope, metric};

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

/// A pair's calibrated similarity (see [`super::relatedness`]): the content signal's mean
/// residual and interval, and the test of the signals fused ([`crate::metrics::fusion`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibratedPair {
    /// Mean double-centred residual `d` of the content signal (the run's embedding).
    pub value: f64,
    pub se: f64,
    /// `d -+ t(0.975, n-1) se`.
    pub ci_low: f64,
    pub ci_high: f64,
    pub n_probes: usize,
    /// The fused test against the scope's nulls: `z`, one-sided `p` and the Benjamini-Hochberg
    /// `q` (None with fewer than 30 common probes in a signal or fewer than 12 models). With
    /// no style signal, the content's own.
    pub z: Option<f64>,
    pub p: Option<f64>,
    pub q: Option<f64>,
    /// Each signal's own `z` against its own null.
    pub z_content: Option<f64>,
    pub z_style: Option<f64>,
    /// The signal with the larger share of a positive fused `z`, and that share.
    pub carried_by: Option<Signal>,
    pub carried_share: Option<f64>,
}

impl CalibratedPair {
    fn of(c: Calibrated, z_style: Option<f64>, fused: Option<Fused>) -> Self {
        CalibratedPair {
            value: c.stat.mean,
            se: c.stat.se,
            ci_low: c.stat.ci.0,
            ci_high: c.stat.ci.1,
            n_probes: c.stat.n,
            z: fused.map(|f| f.z),
            p: fused.map(|f| f.p),
            q: fused.map(|f| f.q),
            z_content: c.test.map(|t| t.0),
            z_style,
            carried_by: fused.and_then(|f| f.carried.map(|c| c.0)),
            carried_share: fused.and_then(|f| f.carried.map(|c| c.1)),
        }
    }
}

/// A model's behaviour family in the run, at one level of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub model: String,
    /// The family's first member by name.
    pub family: String,
    pub size: usize,
    pub level: FamilyLevel,
    /// The level's cut on the fused `z` (None: no pair qualifies, or no null: then the
    /// families are the raw clustering, the same at every level).
    pub cut_z: Option<f64>,
}

/// The behaviour families of a run at `level` of the family tree: family (named by its first
/// member) -> its members. The one definition of "the families": the run's count
/// (`families` and its kin in `run_metrics`), the `run` command's headline, the demo's nightly
/// line and the report all take it from here, at the level `[alerts.concentration] level` names.
pub fn families_at(rows: &[Family], level: FamilyLevel) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in rows.iter().filter(|f| f.level == level) {
        out.entry(f.family.clone()).or_default().push(f.model.clone());
    }
    out
}

/// What a family is, in words, for a run of `models` models at `level`: said wherever the
/// count is shown.
pub fn family_definition(models: usize, level: FamilyLevel) -> String {
    if models < relatedness::MIN_MODELS {
        format!(
            "{models} models are too few to calibrate against (a family tree needs {}): models whose similarity over their self-similarity is at least {SAME_BEHAVIOUR} are one family, at every level",
            relatedness::MIN_MODELS
        )
    } else {
        format!(
            "the family tree's {} level: models joined while their calibrated similarity (content and style fused) passes a false discovery rate of {}; calibrated against tonight's own models, so a narrowing of them all shows in the effective number of models, not in this count",
            level.label(),
            crate::metrics::tree::level_fdr(level)
        )
    }
}

/// One merge of the family tree ([`crate::metrics::tree::Merge`]) with the models it joins
/// where a side is a single model.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeNode {
    /// 0-based; the merge makes cluster `models + step` (models are clusters 0..models-1, by name).
    pub step: usize,
    pub left: usize,
    pub right: usize,
    pub left_model: Option<String>,
    pub right_model: Option<String>,
    pub mean_z: f64,
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

/// Each scope's style `z` by pair index (category None: all probes), from the records' style
/// ([`crate::metrics::style`]), calibrated against the scope's own null exactly as the content
/// is. Computed apart from the rest so the stage can let go of the per-probe styles before the
/// aggregates' larger matrices are built; empty when no record has a style.
#[derive(Debug, Clone, Default)]
pub struct StyleTests(pub(super) BTreeMap<Option<String>, Vec<Option<f64>>>);

/// Probes whose style residuals are computed side by side.
const STYLE_CHUNK: usize = 64;

/// The style signal of every scope (see [`StyleTests`]): each probe's style similarity
/// double-centred once, in probe order, into the moments of the whole run and of its category.
pub fn style_tests(records: &[ProbeRecord]) -> StyleTests {
    let mut sorted: Vec<&ProbeRecord> = records.iter().collect();
    sorted.sort_by(|a, b| a.probe.cmp(&b.probe));
    if !sorted.iter().any(|r| r.style.is_some()) {
        return StyleTests::default();
    }
    let run = RunModels::of(&sorted);
    let mut scopes: BTreeMap<Option<String>, (Vec<PairMoments>, Vec<bool>)> = BTreeMap::new();
    let fresh = || (vec![PairMoments::default(); run.pairs().len()], vec![false; run.len()]);
    for chunk in sorted.chunks(STYLE_CHUNK) {
        let residuals = crate::util::parallel_map(chunk, |r| {
            let s = r.style.as_ref()?;
            let global: Vec<usize> = s.models.iter().map(|n| run.index[n]).collect();
            Some((global, relatedness::double_centre(&s.similarity_matrix(), s.len())))
        });
        for (r, found) in chunk.iter().zip(residuals) {
            let Some((global, e)) = found else { continue };
            for scope in [None, Some(r.category.clone())] {
                let (moments, seen) = scopes.entry(scope).or_insert_with(fresh);
                global.iter().for_each(|&g| seen[g] = true);
                let (Some(e), k) = (&e, global.len()) else { continue };
                for x in 0..k {
                    for y in x + 1..k {
                        moments[run.pair_index(global[x], global[y])].push(e[x * k + y]);
                    }
                }
            }
        }
    }
    StyleTests(
        scopes
            .into_iter()
            .map(|(scope, (moments, seen))| {
                let models = seen.iter().filter(|&&s| s).count();
                let (calibrated, _) = relatedness::calibrate_pairs(&moments, models);
                (scope, calibrated.iter().map(|c| c.and_then(|c| c.test.map(|t| t.0))).collect())
            })
            .collect(),
    )
}

/// Each model pair's mean similarity over the scope's probes both answered, with its interval,
/// and its calibrated similarity: each signal judged against its own null, then fused (the
/// style's `z` of the scope by pair index, when the run has a style signal).
pub(super) fn scope_pairs(
    records: &[&ProbeRecord],
    members: &[usize],
    run: &RunModels,
    z_style: Option<&[Option<f64>]>,
) -> Vec<PairSimilarity> {
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
    let (moments, models) = residual_moments(records, members, run, |r| {
        r.models.as_ref().map(|pm| (pm.models.as_slice(), pm.similarity_matrix()))
    });
    let (calibrated, _) = relatedness::calibrate_pairs(&moments, models);
    let z_content: Vec<Option<f64>> = calibrated.iter().map(|c| c.and_then(|c| c.test.map(|t| t.0))).collect();
    let z_style = z_style.filter(|z| z.iter().any(Option::is_some));
    let mut signals = vec![(Signal::Content, z_content.as_slice())];
    // A run without style (features from before it, or too few answers) fuses content alone.
    if let Some(z) = z_style {
        signals.push((Signal::Style, z));
    }
    let (fused, _) = fusion::fuse(&signals);
    raw.into_iter()
        .zip(&pairs)
        .zip(calibrated)
        .enumerate()
        .filter_map(|(k, ((s, &(a, b)), c))| {
            let (mean, lo, hi, n) = s?;
            Some(PairSimilarity {
                model_a: run.names[a].clone(),
                model_b: run.names[b].clone(),
                mean_similarity: mean,
                ci_low: lo,
                ci_high: hi,
                n_probes: n,
                calibrated: c.map(|c| CalibratedPair::of(c, z_style.and_then(|z| z[k]), fused[k])),
            })
        })
        .collect()
}

/// Each pair's running moments of one signal's per-probe double-centred residuals over the
/// scope's probes (in probe order), and how many models the signal has in the scope. `signal`
/// gives a record's models (sorted by name) and their similarity matrix.
pub(super) fn residual_moments<'r>(
    records: &[&'r ProbeRecord],
    members: &[usize],
    run: &RunModels,
    signal: impl Fn(&'r ProbeRecord) -> Option<(&'r [String], Vec<f64>)>,
) -> (Vec<PairMoments>, usize) {
    let mut moments = vec![PairMoments::default(); run.pairs().len()];
    let mut seen = vec![false; run.len()];
    for &p in members {
        let Some((names, sim)) = signal(records[p]) else { continue };
        let global: Vec<usize> = names.iter().map(|n| run.index[n]).collect();
        global.iter().for_each(|&g| seen[g] = true);
        let k = names.len();
        let Some(e) = relatedness::double_centre(&sim, k) else { continue };
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
/// [`super::cluster`]) at [`SAME_BEHAVIOUR`]; each family is named by its first member, and
/// every level of the tree is this one clustering. Raw similarity mixes probe difficulty and
/// hubness into the pairs (why the calibrated families exist), but a handful of models cannot
/// give a null to calibrate against.
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
    let labels = clusters(&normalised, m, SAME_BEHAVIOUR);
    FamilyLevel::ALL.into_iter().flat_map(|level| named_families(models, &labels, level, None)).collect()
}

/// Families from cluster labels, each named by its first member.
pub(super) fn named_families(
    models: &[String],
    labels: &[usize],
    level: FamilyLevel,
    cut_z: Option<f64>,
) -> Vec<Family> {
    let family_sizes = sizes(labels);
    let mut first: BTreeMap<usize, &str> = BTreeMap::new();
    for (i, &l) in labels.iter().enumerate() {
        first.entry(l).or_insert(models[i].as_str());
    }
    labels
        .iter()
        .enumerate()
        .map(|(i, &l)| Family {
            model: models[i].clone(),
            family: first[&l].to_owned(),
            size: family_sizes[l],
            level,
            cut_z,
        })
        .collect()
}

/// The family tree on the fused calibrated similarity ([`crate::metrics::tree`]): average
/// linkage on the pairs' `z`, cut at each level's false discovery rate (a level where no pair
/// qualifies has every model alone), and the dendrogram. Empty when the run has no null (fewer
/// than [`relatedness::MIN_MODELS`] models: then [`raw_families`]).
pub(super) fn families(models: &[String], pairs: &[&PairSimilarity]) -> (Vec<Family>, Vec<TreeNode>) {
    let m = models.len();
    let tested: Vec<(f64, f64)> = pairs.iter().filter_map(|p| p.calibrated.and_then(|c| Some((c.z?, c.q?)))).collect();
    if tested.is_empty() {
        return (Vec::new(), Vec::new());
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
    let tree = Tree::of(&z, m);
    let families =
        level_cuts(&tested).into_iter().flat_map(|(level, cut)| named_families(models, &tree.labels(cut), level, cut));
    let leaf = |c: usize| (c < m).then(|| models[c].clone());
    let nodes = (tree.merges.iter().enumerate())
        .map(|(step, g)| TreeNode {
            step,
            left: g.left,
            right: g.right,
            left_model: leaf(g.left),
            right_model: leaf(g.right),
            mean_z: g.mean_z,
            size: g.size,
        })
        .collect();
    (families.collect(), nodes)
}
