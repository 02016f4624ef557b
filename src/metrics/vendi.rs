//! The Vendi score (Friedman & Dieng, 2023): the effective number of distinct items in a set.
//!
//! With `K` the n x n cosine-similarity matrix of the items (unit rows, so `K_ii = 1`) and
//! `lambda_i` the eigenvalues of `K / n` (non-negative, summing to 1):
//!
//! - order q = 1: `VS_1 = exp(-sum_i lambda_i ln lambda_i)`
//! - order q (q != 1): `VS_q = exp(ln(sum_i lambda_i^q) / (1 - q))`
//! - order q = inf: `VS_inf = 1 / max_i lambda_i`
//!
//! 1 when every item is the same, n when all are orthogonal. When n > d the nonzero eigenvalues
//! of `K / n = X X^T / n` are those of the d x d matrix `X^T X / n` (the dual), which is far
//! cheaper; both give the same score. Eigenvalues at or below zero (rounding) are left out of the
//! sums, as the reference implementation (PyPI `vendi-score`) does.

use faer::{Mat, Side};

/// The order of a Vendi score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Order {
    One,
    /// Any finite q other than 1 (2 is the one hivewatch reports).
    Q(f64),
    Infinity,
}

/// Vendi score of eigenvalues of `K / n` (they should sum to 1).
pub fn vendi_from_eigenvalues(eigenvalues: &[f64], order: Order) -> f64 {
    let positive = eigenvalues.iter().copied().filter(|&l| l > 0.0);
    let entropy = match order {
        Order::One => -positive.map(|l| l * l.ln()).sum::<f64>(),
        Order::Q(q) => {
            assert!(q != 1.0 && q.is_finite(), "use Order::One or Order::Infinity");
            positive.map(|l| l.powf(q)).sum::<f64>().ln() / (1.0 - q)
        }
        Order::Infinity => -eigenvalues.iter().copied().fold(f64::NEG_INFINITY, f64::max).ln(),
    };
    entropy.exp()
}

/// Eigenvalues of `K / n` for unit rows `x` (n x d): from the n x n kernel when n <= d, from the
/// d x d dual otherwise.
pub fn kernel_eigenvalues(x: &[Vec<f64>]) -> Vec<f64> {
    let n = x.len();
    if n == 0 {
        return Vec::new();
    }
    let d = x[0].len();
    let xm = Mat::<f64>::from_fn(n, d, |i, j| x[i][j]);
    let scaled = if n <= d { &xm * xm.transpose() } else { xm.transpose() * &xm } * faer::Scale(1.0 / n as f64);
    scaled.self_adjoint_eigenvalues(Side::Lower).expect("a symmetric eigenproblem converges")
}

/// Eigenvalues of `K / n` for a given similarity matrix (row-major, n x n, symmetric).
pub fn kernel_matrix_eigenvalues(k: &[f64], n: usize) -> Vec<f64> {
    let m = Mat::<f64>::from_fn(n, n, |i, j| k[i * n + j] / n as f64);
    m.self_adjoint_eigenvalues(Side::Lower).expect("a symmetric eigenproblem converges")
}

/// The Vendi score of items given as unit rows.
pub fn vendi_score(x: &[Vec<f64>], order: Order) -> f64 {
    vendi_from_eigenvalues(&kernel_eigenvalues(x), order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::unit_rows;

    fn rows(n: usize, d: usize, seed: u64) -> Vec<Vec<f64>> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        unit_rows(&(0..n).map(|_| (0..d).map(|_| rng.random_range(-1.0f32..1.0)).collect()).collect::<Vec<_>>())
    }

    #[test]
    fn identical_items_score_one_orthogonal_items_score_n() {
        let same = unit_rows(&vec![vec![0.3, 0.4, 0.5]; 7]);
        for o in [Order::One, Order::Q(2.0), Order::Infinity] {
            assert!((vendi_score(&same, o) - 1.0).abs() < 1e-9, "{o:?}");
        }
        let eye: Vec<Vec<f64>> = (0..5).map(|i| (0..5).map(|j| f64::from(u8::from(i == j))).collect()).collect();
        for o in [Order::One, Order::Q(2.0), Order::Infinity] {
            assert!((vendi_score(&eye, o) - 5.0).abs() < 1e-9, "{o:?}");
        }
    }

    #[test]
    fn primal_and_dual_agree_and_order_does_not_matter() {
        let x = rows(40, 8, 3); // n > d: dual
        let k: Vec<f64> =
            x.iter().flat_map(|a| x.iter().map(move |b| a.iter().zip(b).map(|(p, q)| p * q).sum())).collect();
        for o in [Order::One, Order::Q(2.0), Order::Infinity] {
            let primal = vendi_from_eigenvalues(&kernel_matrix_eigenvalues(&k, 40), o);
            let dual = vendi_score(&x, o);
            assert!((primal - dual).abs() < 1e-9, "{o:?}: {primal} vs {dual}");
            let mut shuffled = x.clone();
            shuffled.reverse();
            assert!((vendi_score(&shuffled, o) - dual).abs() < 1e-9);
            assert!((1.0 - 1e-9..=40.0 + 1e-9).contains(&dual));
        }
        // Orders are ordered: VS_1 >= VS_2 >= VS_inf.
        let (v1, v2, vi) =
            (vendi_score(&x, Order::One), vendi_score(&x, Order::Q(2.0)), vendi_score(&x, Order::Infinity));
        assert!(v1 >= v2 && v2 >= vi, "{v1} {v2} {vi}");
    }
}
