//! Per-probe diversity (table `probe_metrics`) from one probe's responses, grouped by model.
//!
//! Everything about models here comes from one small matrix: with `S_m` the sum of model m's
//! unit answer vectors, `n_m` their count and `q_m` the sum of their squared norms (`n_m`
//! unless an answer embedded to zero), `G = S S^T` gives
//! - the mean cosine between a's and b's answers: `sim(a, b) = G_ab / (n_a n_b)`;
//! - the mean cosine between two samples of m: `self(m) = (G_mm - q_m) / (n_m (n_m - 1))`;
//! - the cosine of the two models' centroids: `G_ab / sqrt(G_aa G_bb)`.
//!
//! which costs M^2 d instead of (M n)^2 d for the same numbers.

use faer::Mat;

use super::cluster::{SAME_BEHAVIOUR, clusters, count, normalised_similarity};
use super::homogenization_ratio;
use super::vendi::{Order, kernel_eigenvalues, kernel_matrix_eigenvalues, vendi_from_eigenvalues};

/// One model's samples for one probe: unit rows.
#[derive(Debug, Clone)]
pub struct ModelSamples {
    pub model: String,
    pub rows: Vec<Vec<f64>>,
}

/// The diversity measures of one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeMeasures {
    pub n_models: usize,
    pub n_responses: usize,
    /// Vendi score of all responses, q = 1, 2, inf.
    pub vendi_q1: f64,
    pub vendi_q2: f64,
    pub vendi_qinf: f64,
    /// Vendi (q = 1) of the per-model centroids over the number of models: in (0, 1]; 1 when
    /// every model behaves differently, 1/M when all behave alike.
    pub model_vendi_ratio: f64,
    /// Mean similarity between samples of one model (None with single samples).
    pub intra_similarity: Option<f64>,
    /// Mean similarity between samples of different models (None with one model).
    pub inter_similarity: Option<f64>,
    /// inter / intra: see [`super::homogenization_ratio`].
    pub homogenization_index: Option<f64>,
    /// Behaviours the models fall into on this probe: clusters of models by normalised
    /// similarity (see [`super::cluster`]).
    pub behaviour_clusters: usize,
}

/// The model-pair matrices of one probe (models sorted by name), kept as the Gram matrix of the
/// models' sums (its upper triangle, packed: M (M + 1) / 2 numbers, which is what a run of many
/// models holds per probe until its aggregates are done) and read through [`ProbeModels::sim`],
/// [`ProbeModels::centroid_cosine`] and `self_similarity`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeModels {
    pub models: Vec<String>,
    pub counts: Vec<usize>,
    /// `G_ab = S_a . S_b` for a <= b, row by row.
    gram: Vec<f64>,
    /// `self(m)`: mean cosine between two samples of m (None with one sample).
    pub self_similarity: Vec<Option<f64>>,
}

impl ProbeModels {
    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    fn gram(&self, a: usize, b: usize) -> f64 {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let m = self.len();
        // Row a of the packed triangle starts after the m + (m - 1) + ... entries of rows < a.
        self.gram[a * (2 * m - a + 1) / 2 + (b - a)]
    }

    /// `sim(a, b)`: the mean cosine between a's and b's answers, `G_ab / (n_a n_b)`; on the
    /// diagonal `self(a)` (NaN with one sample).
    pub fn sim(&self, a: usize, b: usize) -> f64 {
        if a == b {
            self.self_similarity[a].unwrap_or(f64::NAN)
        } else {
            self.gram(a, b) / (self.counts[a] * self.counts[b]) as f64
        }
    }

    /// The cosine of the two models' centroids, `G_ab / sqrt(G_aa G_bb)` (1 on the diagonal, 0
    /// for a zero centroid).
    pub fn centroid_cosine(&self, a: usize, b: usize) -> f64 {
        let norms = (self.gram(a, a) * self.gram(b, b)).sqrt();
        if norms > 1e-12 { self.gram(a, b) / norms } else { 0.0 }
    }

    /// `sim` as a row-major M x M matrix.
    pub fn similarity_matrix(&self) -> Vec<f64> {
        let m = self.len();
        (0..m * m).map(|k| self.sim(k / m, k % m)).collect()
    }

    /// `centroid_cosine` as a row-major M x M matrix.
    pub fn centroid_cosine_matrix(&self) -> Vec<f64> {
        let m = self.len();
        (0..m * m).map(|k| self.centroid_cosine(k / m, k % m)).collect()
    }
}

/// The centroid of unit rows, scaled to unit length.
pub fn centroid(rows: &[Vec<f64>]) -> Vec<f64> {
    let mut c = super::sum_rows(rows);
    let norm = c.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        c.iter_mut().for_each(|x| *x /= norm);
    }
    c
}

/// Sums, counts and the Gram matrix of sums of one probe's models.
pub fn probe_models(models: &[ModelSamples]) -> ProbeModels {
    let mut kept: Vec<&ModelSamples> = models.iter().filter(|m| !m.rows.is_empty()).collect();
    kept.sort_by(|a, b| a.model.cmp(&b.model));
    let m = kept.len();
    let d = kept.first().map_or(0, |k| k.rows[0].len());
    let sums = Mat::<f64>::from_fn(m, d, |i, j| kept[i].rows.iter().map(|r| r[j]).sum());
    let gram = &sums * sums.transpose();
    let counts: Vec<usize> = kept.iter().map(|k| k.rows.len()).collect();
    let sq_norms: Vec<f64> = kept.iter().map(|k| k.rows.iter().flatten().map(|x| x * x).sum()).collect();
    let self_similarity: Vec<Option<f64>> = (0..m)
        .map(|i| {
            let n = counts[i] as f64;
            (counts[i] >= 2).then(|| (gram[(i, i)] - sq_norms[i]) / (n * (n - 1.0)))
        })
        .collect();
    let mut packed = Vec::with_capacity(m * (m + 1) / 2);
    for a in 0..m {
        for b in a..m {
            packed.push(gram[(a, b)]);
        }
    }
    ProbeModels { models: kept.iter().map(|k| k.model.clone()).collect(), counts, gram: packed, self_similarity }
}

/// Measures of one probe. The results do not depend on the order of models or samples.
/// `None` when no model answered.
pub fn probe_measures(models: &[ModelSamples]) -> Option<(ProbeMeasures, ProbeModels)> {
    let pm = probe_models(models);
    let m = pm.len();
    if m == 0 {
        return None;
    }
    // Rows in model-name order, so the eigenvalues do not depend on the input order.
    let mut by_name: Vec<&ModelSamples> = models.iter().filter(|s| !s.rows.is_empty()).collect();
    by_name.sort_by(|a, b| a.model.cmp(&b.model));
    let all: Vec<Vec<f64>> = by_name.iter().flat_map(|s| s.rows.iter().cloned()).collect();
    let eigen = kernel_eigenvalues(&all);
    let centroid_eigen = kernel_matrix_eigenvalues(&pm.centroid_cosine_matrix(), m);

    let intra: Vec<f64> = pm.self_similarity.iter().flatten().copied().collect();
    let intra = (!intra.is_empty()).then(|| intra.iter().sum::<f64>() / intra.len() as f64);
    let mut inter = Vec::new();
    let mut normalised = vec![1.0; m * m];
    for a in 0..m {
        for b in 0..m {
            if a != b {
                normalised[a * m + b] =
                    normalised_similarity(pm.sim(a, b), pm.self_similarity[a], pm.self_similarity[b]);
                if a < b {
                    inter.push(pm.sim(a, b));
                }
            }
        }
    }
    let inter = (!inter.is_empty()).then(|| inter.iter().sum::<f64>() / inter.len() as f64);
    let measures = ProbeMeasures {
        n_models: m,
        n_responses: all.len(),
        vendi_q1: vendi_from_eigenvalues(&eigen, Order::One),
        vendi_q2: vendi_from_eigenvalues(&eigen, Order::Q(2.0)),
        vendi_qinf: vendi_from_eigenvalues(&eigen, Order::Infinity),
        model_vendi_ratio: vendi_from_eigenvalues(&centroid_eigen, Order::One) / m as f64,
        intra_similarity: intra,
        inter_similarity: inter,
        homogenization_index: intra.zip(inter).and_then(|(a, e)| homogenization_ratio(a, e)),
        behaviour_clusters: count(&clusters(&normalised, m, SAME_BEHAVIOUR)),
    };
    Some((measures, pm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::unit_rows;
    use crate::metrics::vendi::vendi_score;

    fn model(name: &str, rows: Vec<Vec<f32>>) -> ModelSamples {
        ModelSamples { model: name.into(), rows: unit_rows(&rows) }
    }

    #[test]
    fn alike_models_give_ratio_one_over_m_distinct_give_one() {
        let alike: Vec<ModelSamples> = (0..4).map(|i| model(&format!("m{i}"), vec![vec![1.0, 0.0, 0.0]; 2])).collect();
        let (m, _) = probe_measures(&alike).unwrap();
        assert!((m.model_vendi_ratio - 0.25).abs() < 1e-9);
        assert!((m.vendi_q1 - 1.0).abs() < 1e-9);
        assert_eq!(m.behaviour_clusters, 1);
        let distinct: Vec<ModelSamples> = (0..3)
            .map(|i| model(&format!("m{i}"), vec![(0..3).map(|j| f32::from(u8::from(i == j))).collect(); 2]))
            .collect();
        let (m, _) = probe_measures(&distinct).unwrap();
        assert!((m.model_vendi_ratio - 1.0).abs() < 1e-9);
        assert!((m.vendi_q1 - 3.0).abs() < 1e-9);
        assert_eq!(m.inter_similarity, Some(0.0));
        assert_eq!(m.intra_similarity, Some(1.0));
        assert_eq!(m.behaviour_clusters, 3);
    }

    #[test]
    fn model_order_does_not_matter() {
        let a = model("a", vec![vec![1.0, 0.2], vec![0.9, 0.1]]);
        let b = model("b", vec![vec![0.1, 1.0], vec![0.3, 0.8]]);
        let c = model("c", vec![vec![0.5, 0.5]]);
        let (x, px) = probe_measures(&[a.clone(), b.clone(), c.clone()]).unwrap();
        let (y, py) = probe_measures(&[c, b, a]).unwrap();
        assert!((x.vendi_q1 - y.vendi_q1).abs() < 1e-9);
        assert!((x.model_vendi_ratio - y.model_vendi_ratio).abs() < 1e-9);
        assert!((x.homogenization_index.unwrap() - y.homogenization_index.unwrap()).abs() < 1e-12);
        assert_eq!(x.behaviour_clusters, y.behaviour_clusters);
        // NaN diagonal entries (single samples) compare unequal, so compare the printed form.
        assert_eq!(format!("{px:?}"), format!("{py:?}"));
        assert!(x.model_vendi_ratio > 0.0 && x.model_vendi_ratio <= 1.0 + 1e-12);
    }

    #[test]
    fn the_gram_shortcut_equals_the_definitions() {
        let a = model("a", vec![vec![1.0, 0.2, 0.1], vec![0.9, 0.1, 0.4], vec![0.2, 0.3, 0.9]]);
        let b = model("b", vec![vec![0.1, 1.0, 0.0], vec![0.3, 0.8, 0.2]]);
        let c = model("c", vec![vec![0.5, 0.5, 0.5]]);
        let (m, pm) = probe_measures(&[a.clone(), b.clone(), c.clone()]).unwrap();
        let mean = crate::metrics::reference::mean_similarity;
        assert!((pm.sim(0, 1) - mean(&a.rows, &b.rows, false).unwrap()).abs() < 1e-12);
        assert!((pm.self_similarity[0].unwrap() - mean(&a.rows, &a.rows, true).unwrap()).abs() < 1e-12);
        assert_eq!(pm.self_similarity[2], None);
        let groups: Vec<&[Vec<f64>]> = vec![&a.rows, &b.rows, &c.rows];
        let (intra, inter) = crate::metrics::reference::intra_inter_similarity(&groups);
        assert!((m.intra_similarity.unwrap() - intra.unwrap()).abs() < 1e-12);
        assert!((m.inter_similarity.unwrap() - inter.unwrap()).abs() < 1e-12);
        let centroids: Vec<Vec<f64>> = [&a, &b, &c].iter().map(|s| centroid(&s.rows)).collect();
        assert!((m.model_vendi_ratio - vendi_score(&centroids, Order::One) / 3.0).abs() < 1e-9);
    }
}
