//! Measures of diversity and convergence across models: small pure functions, each with its
//! formula in its doc comment and its own tests (against a reference implementation where one
//! exists). [`stage`] runs them over a stored run and writes the tables of [`tables`].

pub mod aggregate;
pub mod agreement;
pub mod behaviour;
pub mod bootstrap;
pub mod cluster;
pub mod contagion;
pub mod fusion;
pub mod phrases;
pub mod probe;
pub mod relatedness;
pub mod spill;
pub mod stage;
pub mod style;
pub mod tables;
pub mod tree;
pub mod vendi;
#[cfg(test)]
mod worked_example;

/// Rows scaled to unit length, as f64 (the zero row stays zero).
pub fn unit_rows(rows: &[Vec<f32>]) -> Vec<Vec<f64>> {
    rows.iter()
        .map(|r| {
            let norm = r.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
            r.iter().map(|&x| if norm > 0.0 { f64::from(x) / norm } else { 0.0 }).collect()
        })
        .collect()
}

/// The homogenization index of one probe from its mean intra-model similarity (between samples
/// of one model, over models with two or more samples) and mean inter-model similarity (between
/// answers of different models, over model pairs): `H = inter / intra`. Near 1 when models are
/// as alike as resamples of one model; lower when models differ. Undefined when intra is zero.
pub fn homogenization_ratio(intra: f64, inter: f64) -> Option<f64> {
    (intra.abs() > 1e-12).then(|| inter / intra)
}

/// The sum of rows (the zero vector for none).
pub fn sum_rows(rows: &[Vec<f64>]) -> Vec<f64> {
    let mut s = vec![0.0; rows.first().map_or(0, Vec::len)];
    for r in rows {
        for (x, y) in s.iter_mut().zip(r) {
            *x += y;
        }
    }
    s
}

/// Herfindahl-Hirschman index of group sizes: `HHI = sum_k s_k^2`, `s_k` the share of group k.
/// 1 when one group holds everything, 1/K for K equal groups. `1 / HHI` is the effective number
/// of groups.
pub fn herfindahl(sizes: &[usize]) -> Option<f64> {
    let total: usize = sizes.iter().sum();
    (total > 0).then(|| sizes.iter().map(|&s| (s as f64 / total as f64).powi(2)).sum())
}

/// The measures' direct definitions over rows, O((M n)^2 d): the references that the fast
/// paths of [`probe`] are tested against.
#[cfg(test)]
pub mod reference {
    /// Mean cosine similarity between the rows of `a` and the rows of `b` (unit rows), over all
    /// pairs; with `same = true` (a and b are one set) the diagonal is left out.
    pub fn mean_similarity(a: &[Vec<f64>], b: &[Vec<f64>], same: bool) -> Option<f64> {
        let mut sum = 0.0;
        let mut n = 0u64;
        for (i, x) in a.iter().enumerate() {
            for (j, y) in b.iter().enumerate() {
                if same && i >= j {
                    continue;
                }
                sum += x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>();
                n += 1;
            }
        }
        (n > 0).then(|| sum / n as f64)
    }

    /// Mean intra-model and mean inter-model similarity of one probe's groups of samples.
    pub fn intra_inter_similarity(groups: &[&[Vec<f64>]]) -> (Option<f64>, Option<f64>) {
        let intra: Vec<f64> = groups.iter().filter_map(|g| mean_similarity(g, g, true)).collect();
        let mut inter = Vec::new();
        for i in 0..groups.len() {
            for j in i + 1..groups.len() {
                inter.extend(mean_similarity(groups[i], groups[j], false));
            }
        }
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        (mean(&intra), mean(&inter))
    }

    pub fn homogenization_index(groups: &[&[Vec<f64>]]) -> Option<f64> {
        let (intra, inter) = intra_inter_similarity(groups);
        super::homogenization_ratio(intra?, inter?)
    }
}

#[cfg(test)]
mod tests {
    use super::reference::homogenization_index;
    use super::*;

    #[test]
    fn herfindahl_bounds() {
        assert_eq!(herfindahl(&[5]), Some(1.0));
        assert!((herfindahl(&[1, 1, 1, 1]).unwrap() - 0.25).abs() < 1e-12);
        assert_eq!(herfindahl(&[]), None);
    }

    #[test]
    fn homogenization_is_one_when_models_are_resamples_of_one() {
        let b = unit_rows(&[vec![1.0, 0.1], vec![1.0, 0.0]]);
        let c = unit_rows(&[vec![0.0, 1.0], vec![0.1, 1.0]]);
        let apart = homogenization_index(&[&b, &c]).unwrap();
        let alike = homogenization_index(&[&b, &b]).unwrap();
        assert!(apart < 0.3, "{apart}");
        assert!((alike - 1.0).abs() < 0.01, "{alike}");
    }
}
