//! Bootstrap intervals over probes: every aggregate of a run is a mean over probes, and its
//! interval comes from resampling the run's probes with replacement.
//!
//! One set of resamples serves every quantity of a scope: resample `r` gives probe `p` a weight
//! `w_rp` (how many times it was drawn), and a quantity's mean in that resample is
//! `sum_p w_rp m_p v_p / sum_p w_rp m_p` (`m_p` = 1 when the probe has a value). For all the
//! quantities at once this is two matrix products, which keeps 5,000 model pairs x 1,000
//! probes x 1,000 resamples to a second or two. With no missing values it is the ordinary
//! percentile bootstrap of the mean ([`bootstrap_mean_ci`]), draw for draw.

use faer::Mat;
use rand::{Rng, SeedableRng};

/// Resamples for the bootstrap intervals.
pub const RESAMPLES: usize = 1000;
/// Fixed so that stored intervals are reproducible (`hivewatch analyze` gives the same).
pub const SEED: u64 = 0x6869_7665;
/// Intervals are 95%.
pub const ALPHA: f64 = 0.05;

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
    Some(percentile_interval(&mut means, alpha))
}

/// The alpha/2 and 1 - alpha/2 quantiles of bootstrap draws (nearest rank: the draws at ranks
/// `round(q (n - 1))` of the sorted draws; reorders `draws`, selecting rather than sorting).
pub fn percentile_interval(means: &mut [f64], alpha: f64) -> (f64, f64) {
    let last = means.len() - 1;
    let rank = |q: f64| ((q * last as f64).round() as usize).min(last);
    let (lo, hi) = (rank(alpha / 2.0), rank(1.0 - alpha / 2.0));
    let (_, &mut high, _) = means.select_nth_unstable_by(hi, f64::total_cmp);
    // The lower rank lies in the part before `hi` (or is `hi`).
    let low = if lo == hi { high } else { *means[..hi].select_nth_unstable_by(lo, f64::total_cmp).1 };
    (low, high)
}

/// Columns of a wide matrix taken this many at a time (see [`ProbeBootstrap::summarise`]).
const BLOCK: usize = 256;

/// Resampling weights for the probes of one scope (`resamples` x `probes`).
pub struct ProbeBootstrap {
    weights: Mat<f64>,
}

impl ProbeBootstrap {
    /// The same draws as [`bootstrap_mean_ci`] with the same seed: resample r draws `probes`
    /// indices in turn.
    pub fn new(probes: usize, resamples: usize, seed: u64) -> Self {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut weights = Mat::<f64>::zeros(resamples, probes);
        if probes > 0 {
            for r in 0..resamples {
                for _ in 0..probes {
                    weights[(r, rng.random_range(0..probes))] += 1.0;
                }
            }
        }
        ProbeBootstrap { weights }
    }

    /// The run's standard resampling of `probes` probes.
    pub fn standard(probes: usize) -> Self {
        Self::new(probes, RESAMPLES, SEED)
    }

    /// For each resample (row) and column of `values` (probes x quantities; NaN where a probe
    /// has no value): the mean over the resample's probes that have a value (NaN if none).
    pub fn resample_means(&self, values: &Mat<f64>) -> Mat<f64> {
        let (probes, k) = (values.nrows(), values.ncols());
        assert_eq!(probes, self.weights.ncols(), "one row of values per probe");
        let filled = Mat::<f64>::from_fn(probes, k, |p, j| if values[(p, j)].is_nan() { 0.0 } else { values[(p, j)] });
        let sums = &self.weights * &filled;
        let complete = (0..k).all(|j| (0..probes).all(|p| !values[(p, j)].is_nan()));
        if complete {
            // Every probe has a value: a resample's count is its number of draws, `probes`.
            let n = probes as f64;
            return Mat::<f64>::from_fn(sums.nrows(), k, |r, j| if n > 0.0 { sums[(r, j)] / n } else { f64::NAN });
        }
        let present = Mat::<f64>::from_fn(probes, k, |p, j| if values[(p, j)].is_nan() { 0.0 } else { 1.0 });
        let counts = &self.weights * &present;
        Mat::<f64>::from_fn(sums.nrows(), k, |r, j| {
            if counts[(r, j)] > 0.0 { sums[(r, j)] / counts[(r, j)] } else { f64::NAN }
        })
    }

    /// For each column of `values` (probes x quantities; NaN where a probe has no value): the
    /// mean over probes with a value and its percentile interval (`None` when no probe has one).
    pub fn mean_intervals(&self, values: &Mat<f64>, alpha: f64) -> Vec<Option<(f64, f64, f64)>> {
        let resampled = self.resample_means(values);
        (0..values.ncols())
            .map(|j| {
                let present: Vec<f64> = (0..values.nrows()).map(|p| values[(p, j)]).filter(|v| !v.is_nan()).collect();
                if present.is_empty() {
                    return None;
                }
                let mean = present.iter().sum::<f64>() / present.len() as f64;
                let mut means: Vec<f64> =
                    (0..resampled.nrows()).map(|r| resampled[(r, j)]).filter(|v| !v.is_nan()).collect();
                if means.is_empty() {
                    return Some((mean, mean, mean));
                }
                let (lo, hi) = percentile_interval(&mut means, alpha);
                Some((mean, lo, hi))
            })
            .collect()
    }
}

impl ProbeBootstrap {
    pub fn resamples(&self) -> usize {
        self.weights.nrows()
    }

    /// [`ProbeBootstrap::mean_intervals`] with each column's count of probes with a value, for
    /// `columns` columns whose values (probes x a range of columns) `block` gives on demand: a
    /// few hundred columns at a time, the blocks on all cores, so thousands of model pairs never
    /// need a probes x pairs matrix (nor its resamples) in memory at once.
    pub fn summarise(
        &self,
        columns: usize,
        block: impl Fn(std::ops::Range<usize>) -> Mat<f64> + Sync,
        alpha: f64,
    ) -> Vec<Option<(f64, f64, f64, usize)>> {
        let ranges: Vec<std::ops::Range<usize>> =
            (0..columns.div_ceil(BLOCK)).map(|b| b * BLOCK..((b + 1) * BLOCK).min(columns)).collect();
        crate::util::parallel_map(&ranges, |range| {
            let values = block(range.clone());
            let n = (0..values.ncols()).map(|j| (0..values.nrows()).filter(|&p| !values[(p, j)].is_nan()).count());
            self.mean_intervals(&values, alpha)
                .into_iter()
                .zip(n)
                .map(|(s, n)| s.map(|(v, lo, hi)| (v, lo, hi, n)))
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect()
    }

    /// [`ProbeBootstrap::resample_means`] of `columns` columns given by `block` (as in
    /// [`ProbeBootstrap::summarise`]), assembled into one resamples x columns matrix.
    pub fn resample_means_by_blocks(
        &self,
        columns: usize,
        block: impl Fn(std::ops::Range<usize>) -> Mat<f64> + Sync,
    ) -> Mat<f64> {
        let ranges: Vec<std::ops::Range<usize>> =
            (0..columns.div_ceil(BLOCK)).map(|b| b * BLOCK..((b + 1) * BLOCK).min(columns)).collect();
        let parts = crate::util::parallel_map(&ranges, |range| self.resample_means(&block(range.clone())));
        let mut out = Mat::<f64>::zeros(self.resamples(), columns);
        for (range, part) in ranges.iter().zip(&parts) {
            for (j, col) in range.clone().enumerate() {
                for r in 0..self.resamples() {
                    out[(r, col)] = part[(r, j)];
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn matrix_bootstrap_is_the_plain_bootstrap_when_nothing_is_missing() {
        let a: Vec<f64> = (0..37).map(|i| (f64::from(i) * 0.37).sin()).collect();
        let b: Vec<f64> = (0..37).map(|i| f64::from(i % 5)).collect();
        let values = Mat::<f64>::from_fn(37, 2, |p, j| if j == 0 { a[p] } else { b[p] });
        let got = ProbeBootstrap::new(37, 500, 9).mean_intervals(&values, 0.05);
        for (col, v) in [a, b].iter().enumerate() {
            let (lo, hi) = bootstrap_mean_ci(v, 500, 0.05, 9).unwrap();
            let (mean, glo, ghi) = got[col].unwrap();
            assert!((mean - v.iter().sum::<f64>() / 37.0).abs() < 1e-12);
            assert!((glo - lo).abs() < 1e-12 && (ghi - hi).abs() < 1e-12, "{glo} {lo} {ghi} {hi}");
        }
    }

    #[test]
    fn blocks_give_what_the_whole_matrix_gives() {
        let values = Mat::<f64>::from_fn(23, 600, |p, j| {
            if (p * 7 + j) % 11 == 0 { f64::NAN } else { ((p * 31 + j * 17) % 13) as f64 / 13.0 }
        });
        let boot = ProbeBootstrap::new(23, 200, 4);
        let whole = boot.mean_intervals(&values, 0.05);
        let blocked = boot.summarise(600, |r| values.subcols(r.start, r.len()).to_owned(), 0.05);
        for (j, (w, b)) in whole.iter().zip(&blocked).enumerate() {
            let n = (0..23).filter(|&p| !values[(p, j)].is_nan()).count();
            assert_eq!(w.map(|(v, lo, hi)| (v, lo, hi, n)), *b, "column {j}");
        }
        let means = boot.resample_means(&values);
        let by_blocks = boot.resample_means_by_blocks(600, |r| values.subcols(r.start, r.len()).to_owned());
        assert!((0..200).all(|r| (0..600).all(|j| means[(r, j)] == by_blocks[(r, j)])));
        // The selection picks what a full sort picks.
        let mut draws: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 1009) as f64).collect();
        let mut sorted = draws.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = |q: f64| sorted[(q * 999.0f64).round() as usize];
        assert_eq!(percentile_interval(&mut draws, 0.05), (rank(0.025), rank(0.975)));
    }

    #[test]
    fn missing_values_are_left_out_not_counted_as_zero() {
        let values = Mat::<f64>::from_fn(6, 1, |p, _| if p % 2 == 0 { 1.0 } else { f64::NAN });
        let (mean, lo, hi) = ProbeBootstrap::standard(6).mean_intervals(&values, ALPHA)[0].unwrap();
        assert_eq!((mean, lo, hi), (1.0, 1.0, 1.0));
        let none = Mat::<f64>::from_fn(3, 1, |_, _| f64::NAN);
        assert_eq!(ProbeBootstrap::standard(3).mean_intervals(&none, ALPHA)[0], None);
    }
}
