//! Several signals, fused honestly (relatedness v3; `datasets/research/relatedness-v3/SPEC.md`,
//! F and C): each signal (the run's embedding: *content*; [`super::style`]: *style*) is
//! calibrated alone against its own null ([`super::relatedness`]), and their z are fused by
//! Stouffer's sum with the run's correlation of the signals:
//!
//! `z_F = sum_k z_k / sqrt(sum_j sum_k R_jk)` (two signals: `(z_content + z_style) / sqrt(2 + 2r)`),
//!
//! `R_jk` the Pearson correlation of the two signals' z over the K pairs tested in both,
//! clamped to [0, 1] (a negative correlation never inflates z; undefined, with fewer than three
//! pairs or no variance: 1). Equal weights: weights fitted on the shared sets did not transfer
//! from set to set. `p_F = 1 - Phi(z_F)`, `q_F` by Benjamini-Hochberg over the K pairs.
//!
//! Which signal carried a verdict: for `z_F > 0`, `c_k = z_k / sqrt(sum R)` (so the `c_k` sum to
//! `z_F`); the carrier is the larger (content on a tie), its share `c_k / z_F` (above 1 when
//! the other signal is negative).

use super::relatedness::{benjamini_hochberg, normal_sf};

/// What a signal measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    /// What the answers say: the run's embedding.
    Content,
    /// How they are written: [`super::style`].
    Style,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Content => "content",
            Signal::Style => "style",
        }
    }

    pub fn parse(s: &str) -> Option<Signal> {
        [Signal::Content, Signal::Style].into_iter().find(|k| k.as_str() == s)
    }
}

/// Pearson's correlation of `x` and `y`, clamped to [0, 1]; 1 when it is undefined (fewer than
/// three values, or either without variance).
pub fn correlation(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len();
    if n < 3 || y.len() != n {
        return 1.0;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / n as f64;
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    let r = sxy / (sxx * syy).sqrt();
    if r.is_finite() { r.clamp(0.0, 1.0) } else { 1.0 }
}

/// One pair's fused test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fused {
    pub z: f64,
    pub p: f64,
    pub q: f64,
    /// The signal that carried it and its share of `z` (None when `z <= 0`).
    pub carried: Option<(Signal, f64)>,
}

/// The fused tests of pairs from each signal's z (by pair index; None where a signal has no
/// test). Pairs tested by every signal are fused; the others get None. With one signal, its z
/// as is. Also returns `R`'s off-diagonal correlation (two signals) for the record.
pub fn fuse(signals: &[(Signal, &[Option<f64>])]) -> (Vec<Option<Fused>>, Option<f64>) {
    let Some(&(_, first)) = signals.first() else { return (Vec::new(), None) };
    let tested: Vec<usize> = (0..first.len()).filter(|&k| signals.iter().all(|(_, z)| z[k].is_some())).collect();
    let column = |z: &[Option<f64>]| tested.iter().map(|&k| z[k].expect("tested")).collect::<Vec<f64>>();
    let columns: Vec<Vec<f64>> = signals.iter().map(|(_, z)| column(z)).collect();
    let mut sum_r = 0.0;
    let mut r01 = None;
    for (j, a) in columns.iter().enumerate() {
        for (k, b) in columns.iter().enumerate() {
            let r = if j == k { 1.0 } else { correlation(a, b) };
            if (j, k) == (0, 1) {
                r01 = Some(r);
            }
            sum_r += r;
        }
    }
    let den = sum_r.sqrt();
    let fused: Vec<f64> = (0..tested.len()).map(|i| columns.iter().map(|c| c[i]).sum::<f64>() / den).collect();
    let p: Vec<f64> = fused.iter().map(|&z| normal_sf(z)).collect();
    let q = benjamini_hochberg(&p);
    let mut out = vec![None; first.len()];
    for (i, &k) in tested.iter().enumerate() {
        let z = fused[i];
        let carried = (z > 0.0).then(|| {
            let (signal, c) = signals
                .iter()
                .zip(&columns)
                .map(|((s, _), col)| (*s, col[i] / den))
                .reduce(|best, x| if x.1 > best.1 { x } else { best })
                .expect("a signal");
            (signal, c / z)
        });
        out[k] = Some(Fused { z, p: p[i], q: q[i], carried });
    }
    (out, r01)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_is_pearsons_clamped_and_one_when_undefined() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((correlation(&x, &[2.0, 4.0, 6.0, 8.5]) - 0.998_381_439_457_029_8).abs() < 1e-12);
        assert_eq!(correlation(&x, &[4.0, 3.0, 2.0, 1.0]), 0.0, "negative: 0");
        assert_eq!(correlation(&x, &[1.0, 1.0, 1.0, 1.0]), 1.0, "no variance: 1");
        assert_eq!(correlation(&x[..2], &[1.0, 2.0]), 1.0, "too few: 1");
    }

    #[test]
    fn two_signals_fuse_by_stouffer_with_their_correlation() {
        let content = [Some(3.0), Some(-1.0), Some(0.5), None, Some(2.0)];
        let style = [Some(1.0), Some(0.0), Some(2.5), Some(4.0), Some(-1.0)];
        let (out, r) = fuse(&[(Signal::Content, &content), (Signal::Style, &style)]);
        assert!(out[3].is_none(), "a pair one signal did not test is not fused");
        let r = r.unwrap();
        let want_r = correlation(&[3.0, -1.0, 0.5, 2.0], &[1.0, 0.0, 2.5, -1.0]);
        assert_eq!(r, want_r);
        let den = (2.0 + 2.0 * r).sqrt();
        let f0 = out[0].unwrap();
        assert!((f0.z - 4.0 / den).abs() < 1e-15);
        assert_eq!(f0.carried.map(|c| c.0), Some(Signal::Content));
        assert!((f0.carried.unwrap().1 - 0.75).abs() < 1e-15);
        let f2 = out[2].unwrap();
        assert_eq!(f2.carried.map(|c| c.0), Some(Signal::Style));
        assert!((f2.carried.unwrap().1 - 2.5 / 3.0).abs() < 1e-15);
        // A share above 1 when the other signal is negative; no carrier at z <= 0.
        assert!(out[4].unwrap().carried.unwrap().1 > 1.0);
        assert_eq!(out[1].unwrap().carried, None);
        // q over the four fused pairs.
        let p: Vec<f64> = [0, 1, 2, 4].iter().map(|&k| out[k].unwrap().p).collect();
        let q = benjamini_hochberg(&p);
        assert_eq!(out[4].unwrap().q, q[3]);
        // One signal: its own z, and the same q as BH over its tests.
        let (alone, none) = fuse(&[(Signal::Content, &content)]);
        assert_eq!((alone[0].unwrap().z, none), (3.0, None));
        assert_eq!(alone[0].unwrap().carried, Some((Signal::Content, 1.0)));
        assert_eq!(Signal::parse("style"), Some(Signal::Style));
    }
}
