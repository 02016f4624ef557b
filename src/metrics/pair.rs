//! Model-pair similarity (table `pair_similarity`): how alike two models answer, over probes.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};

/// Per-probe responses: probe id -> (model -> unit rows).
#[cfg(test)]
type ProbeResponses = BTreeMap<String, BTreeMap<String, Vec<Vec<f64>>>>;

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

/// Resamples for the bootstrap intervals.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;
/// Fixed so that the stored intervals are reproducible (`hivewatch analyze` gives the same).
pub const BOOTSTRAP_SEED: u64 = 0x6869_7665;

/// Percentile bootstrap interval (level `1 - alpha`) of the mean of `values`: resample the values
/// with replacement `resamples` times, take the alpha/2 and 1 - alpha/2 quantiles of the means.
pub fn bootstrap_mean_ci(values: &[f64], resamples: usize, alpha: f64, seed: u64) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n = values.len();
    let mut means: Vec<f64> =
        (0..resamples).map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64).collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (resamples - 1) as f64).round() as usize).min(resamples - 1)];
    Some((at(alpha / 2.0), at(1.0 - alpha / 2.0)))
}

/// One probe's answers reduced to what pair similarity needs: per model, the sum of its unit
/// answer vectors and their count. `mean_{i in a, j in b} a_i . b_j = (S_a . S_b) / (n_a n_b)`.
#[derive(Debug, Clone, Default)]
pub struct ModelSums(pub BTreeMap<String, (Vec<f64>, usize)>);

impl ModelSums {
    pub fn sum_of(rows: &[Vec<f64>]) -> (Vec<f64>, usize) {
        (super::sum_rows(rows), rows.len())
    }
}

impl FromIterator<(String, (Vec<f64>, usize))> for ModelSums {
    fn from_iter<I: IntoIterator<Item = (String, (Vec<f64>, usize))>>(iter: I) -> Self {
        ModelSums(iter.into_iter().collect())
    }
}

/// One probe's similarity for each of its model pairs (a < b by name), from its sums.
pub fn pair_values(models: &ModelSums) -> Vec<((String, String), f64)> {
    let entries: Vec<(&String, &(Vec<f64>, usize))> = models.0.iter().filter(|(_, (_, n))| *n > 0).collect();
    let mut out = Vec::new();
    for (i, (a, (sa, na))) in entries.iter().enumerate() {
        for (b, (sb, nb)) in &entries[i + 1..] {
            let dot: f64 = sa.iter().zip(sb.iter()).map(|(x, y)| x * y).sum();
            out.push((((*a).clone(), (*b).clone()), dot / (*na * *nb) as f64));
        }
    }
    out
}

/// Similarity of every model pair (a < b by name) over probes given by their sums.
pub fn pair_similarities_from_sums<'a>(probes: impl Iterator<Item = &'a ModelSums>) -> Vec<PairSimilarity> {
    let mut per_pair: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for models in probes {
        for (pair, v) in pair_values(models) {
            per_pair.entry(pair).or_default().push(v);
        }
    }
    summarise(per_pair)
}

/// Mean and bootstrap interval of each pair's per-probe values (in the order given).
pub fn summarise(per_pair: BTreeMap<(String, String), Vec<f64>>) -> Vec<PairSimilarity> {
    per_pair
        .into_iter()
        .map(|((model_a, model_b), values)| {
            let (ci_low, ci_high) =
                bootstrap_mean_ci(&values, BOOTSTRAP_RESAMPLES, 0.05, BOOTSTRAP_SEED).expect("non-empty");
            PairSimilarity {
                model_a,
                model_b,
                mean_similarity: values.iter().sum::<f64>() / values.len() as f64,
                ci_low,
                ci_high,
                n_probes: values.len(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::mean_similarity;

    /// The direct definition, from rows: the reference the sums version is checked against.
    pub fn pair_similarities(probes: &ProbeResponses) -> Vec<PairSimilarity> {
        let mut per_pair: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
        for models in probes.values() {
            let names: Vec<&String> = models.keys().collect();
            for (i, a) in names.iter().enumerate() {
                for b in &names[i + 1..] {
                    if let Some(s) = mean_similarity(&models[*a], &models[*b], false) {
                        per_pair.entry(((*a).clone(), (*b).clone())).or_default().push(s);
                    }
                }
            }
        }
        summarise(per_pair)
    }

    #[test]
    fn bootstrap_interval_contains_the_mean_and_shrinks_with_n() {
        assert_eq!(bootstrap_mean_ci(&[0.5; 10], 200, 0.05, 1), Some((0.5, 0.5)));
        let small: Vec<f64> = (0..10).map(|i| f64::from(i) / 10.0).collect();
        let large: Vec<f64> = (0..1000).map(|i| f64::from(i % 10) / 10.0).collect();
        let (a, b) = bootstrap_mean_ci(&small, 1000, 0.05, 1).unwrap();
        let (c, d) = bootstrap_mean_ci(&large, 1000, 0.05, 1).unwrap();
        assert!(a < 0.45 && b > 0.45 && c < 0.45 && d > 0.45);
        assert!(d - c < (b - a) / 5.0);
        assert_eq!(bootstrap_mean_ci(&small, 1000, 0.05, 1), bootstrap_mean_ci(&small, 1000, 0.05, 1));
    }

    #[test]
    fn pairs_are_named_in_order_and_skip_probes_one_model_missed() {
        let mut probes = ProbeResponses::new();
        let x = vec![vec![1.0, 0.0]];
        let y = vec![vec![0.0, 1.0]];
        probes.insert("p1".into(), [("b".to_string(), x.clone()), ("a".to_string(), x.clone())].into());
        probes.insert(
            "p2".into(),
            [("a".to_string(), x.clone()), ("b".to_string(), y.clone()), ("c".to_string(), y)].into(),
        );
        let pairs = pair_similarities(&probes);
        let ab = pairs.iter().find(|p| p.model_a == "a" && p.model_b == "b").unwrap();
        assert_eq!(ab.n_probes, 2);
        assert!((ab.mean_similarity - 0.5).abs() < 1e-12);
        let bc = pairs.iter().find(|p| p.model_a == "b" && p.model_b == "c").unwrap();
        assert_eq!(bc.n_probes, 1);
        assert!((bc.mean_similarity - 1.0).abs() < 1e-12);
    }

    #[test]
    fn sums_give_the_same_pairs_as_rows() {
        let u = |v: Vec<f32>| crate::metrics::unit_rows(&[v]).pop().unwrap();
        let mut probes = ProbeResponses::new();
        probes.insert(
            "p1".into(),
            [("a".to_string(), vec![u(vec![1.0, 0.2]), u(vec![0.7, 0.1])]), ("b".to_string(), vec![u(vec![0.1, 1.0])])]
                .into(),
        );
        probes.insert(
            "p2".into(),
            [("a".to_string(), vec![u(vec![0.5, 0.5])]), ("b".to_string(), vec![u(vec![0.3, 0.9]), u(vec![0.9, 0.3])])]
                .into(),
        );
        let sums: Vec<ModelSums> =
            probes.values().map(|m| m.iter().map(|(k, rows)| (k.clone(), ModelSums::sum_of(rows))).collect()).collect();
        let (x, y) = (pair_similarities(&probes), pair_similarities_from_sums(sums.iter()));
        assert_eq!(x.len(), y.len());
        for (p, q) in x.iter().zip(&y) {
            assert!((p.mean_similarity - q.mean_similarity).abs() < 1e-12);
            assert!((p.ci_low - q.ci_low).abs() < 1e-12 && (p.ci_high - q.ci_high).abs() < 1e-12);
        }
    }
}
