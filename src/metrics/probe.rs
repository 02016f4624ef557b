//! Per-probe diversity (table `probe_metrics`) and per-pair similarity (table `pair_similarity`)
//! from one probe's responses, grouped by model.

use super::vendi::{Order, vendi_score};
use super::{homogenization_ratio, intra_inter_similarity, sum_rows};

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
    /// inter / intra: see [`homogenization_index`].
    pub homogenization_index: Option<f64>,
}

/// The centroid of unit rows, scaled to unit length.
pub fn centroid(rows: &[Vec<f64>]) -> Vec<f64> {
    let mut c = sum_rows(rows);
    let norm = c.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        c.iter_mut().for_each(|x| *x /= norm);
    }
    c
}

/// Measures of one probe. Models are taken in the order given; the results do not depend on it.
/// `None` when no model answered.
pub fn probe_measures(models: &[ModelSamples]) -> Option<ProbeMeasures> {
    let models: Vec<&ModelSamples> = models.iter().filter(|m| !m.rows.is_empty()).collect();
    if models.is_empty() {
        return None;
    }
    let all: Vec<Vec<f64>> = models.iter().flat_map(|m| m.rows.iter().cloned()).collect();
    let centroids: Vec<Vec<f64>> = models.iter().map(|m| centroid(&m.rows)).collect();
    let groups: Vec<&[Vec<f64>]> = models.iter().map(|m| m.rows.as_slice()).collect();
    let (intra, inter) = intra_inter_similarity(&groups);
    Some(ProbeMeasures {
        n_models: models.len(),
        n_responses: all.len(),
        vendi_q1: vendi_score(&all, Order::One),
        vendi_q2: vendi_score(&all, Order::Q(2.0)),
        vendi_qinf: vendi_score(&all, Order::Infinity),
        model_vendi_ratio: vendi_score(&centroids, Order::One) / models.len() as f64,
        intra_similarity: intra,
        inter_similarity: inter,
        homogenization_index: intra.zip(inter).and_then(|(a, e)| homogenization_ratio(a, e)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::unit_rows;

    fn model(name: &str, rows: Vec<Vec<f32>>) -> ModelSamples {
        ModelSamples { model: name.into(), rows: unit_rows(&rows) }
    }

    #[test]
    fn alike_models_give_ratio_one_over_m_distinct_give_one() {
        let alike: Vec<ModelSamples> = (0..4).map(|i| model(&format!("m{i}"), vec![vec![1.0, 0.0, 0.0]; 2])).collect();
        let m = probe_measures(&alike).unwrap();
        assert!((m.model_vendi_ratio - 0.25).abs() < 1e-9);
        assert!((m.vendi_q1 - 1.0).abs() < 1e-9);
        let distinct: Vec<ModelSamples> = (0..3)
            .map(|i| model(&format!("m{i}"), vec![(0..3).map(|j| f32::from(u8::from(i == j))).collect(); 2]))
            .collect();
        let m = probe_measures(&distinct).unwrap();
        assert!((m.model_vendi_ratio - 1.0).abs() < 1e-9);
        assert!((m.vendi_q1 - 3.0).abs() < 1e-9);
        assert_eq!(m.inter_similarity, Some(0.0));
        assert_eq!(m.intra_similarity, Some(1.0));
    }

    #[test]
    fn model_order_does_not_matter() {
        let a = model("a", vec![vec![1.0, 0.2], vec![0.9, 0.1]]);
        let b = model("b", vec![vec![0.1, 1.0], vec![0.3, 0.8]]);
        let c = model("c", vec![vec![0.5, 0.5]]);
        let x = probe_measures(&[a.clone(), b.clone(), c.clone()]).unwrap();
        let y = probe_measures(&[c, b, a]).unwrap();
        assert!((x.vendi_q1 - y.vendi_q1).abs() < 1e-9);
        assert!((x.model_vendi_ratio - y.model_vendi_ratio).abs() < 1e-9);
        assert!((x.homogenization_index.unwrap() - y.homogenization_index.unwrap()).abs() < 1e-12);
        assert!(x.model_vendi_ratio > 0.0 && x.model_vendi_ratio <= 1.0 + 1e-12);
    }
}
