//! Time-series statistics over a run's history: Mann-Kendall with Sen's slope, robust
//! baselines, and a two-sided CUSUM. Pure functions; the Mann-Kendall test is checked against
//! `pymannkendall.original_test` (ties included) in the tests.

/// The result of the Mann-Kendall trend test (as `pymannkendall.original_test` reports it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannKendall {
    /// `S = sum_{i<j} sign(x_j - x_i)`.
    pub s: f64,
    /// `Var(S) = (n(n-1)(2n+5) - sum_t t(t-1)(2t+5)) / 18`, t the sizes of groups of tied values.
    pub var_s: f64,
    /// `(S - sign(S)) / sqrt(Var S)` (continuity-corrected), 0 when S = 0.
    pub z: f64,
    /// Two-sided p-value `2 (1 - Phi(|z|))`.
    pub p: f64,
    /// Kendall's tau `S / (n(n-1)/2)`.
    pub tau: f64,
    /// Sen's slope: the median of `(x_j - x_i) / (j - i)` over i < j (per run).
    pub slope: f64,
    /// `median(x) - median(0..n) * slope`.
    pub intercept: f64,
}

/// Standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Median of the values (None for none); the mean of the two middle values for an even count.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// The Mann-Kendall test and Sen's slope of a series in time order (None with fewer than 3
/// values, or when every value is tied).
pub fn mann_kendall(x: &[f64]) -> Option<MannKendall> {
    let n = x.len();
    if n < 3 {
        return None;
    }
    let mut s = 0.0;
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            s += (x[j] - x[i]).signum() * f64::from(u8::from(x[j] != x[i]));
            slopes.push((x[j] - x[i]) / (j - i) as f64);
        }
    }
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && sorted[j + 1] == sorted[i] {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        ties += t * (t - 1.0) * (2.0 * t + 5.0);
        i = j + 1;
    }
    let nf = n as f64;
    let var_s = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    if var_s <= 0.0 {
        return None;
    }
    let z = if s > 0.0 {
        (s - 1.0) / var_s.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / var_s.sqrt()
    } else {
        0.0
    };
    let slope = median(&slopes).expect("n >= 3");
    let positions: Vec<f64> = (0..n).map(|i| i as f64).collect();
    Some(MannKendall {
        s,
        var_s,
        z,
        p: 2.0 * (1.0 - normal_cdf(z.abs())),
        tau: s / (0.5 * nf * (nf - 1.0)),
        slope,
        intercept: median(x).expect("n >= 3") - median(&positions).expect("n >= 3") * slope,
    })
}

/// A robust z-score of `value` against `history`: `(value - median) / (1.4826 MAD)`. None with
/// fewer than 3 past values or no spread (MAD = 0).
pub fn robust_z(value: f64, history: &[f64]) -> Option<f64> {
    if history.len() < 3 {
        return None;
    }
    let med = median(history)?;
    let deviations: Vec<f64> = history.iter().map(|h| (h - med).abs()).collect();
    let mad = median(&deviations)?;
    (mad > 1e-12).then(|| (value - med) / (1.4826 * mad))
}

/// The two sides of a CUSUM after one more observation, in units of the baseline's spread:
/// `low = max(0, low + (mu - x)/sigma - k)`, `high = max(0, high + (x - mu)/sigma - k)`.
/// A side above the decision interval h signals a sustained shift down (low) or up (high).
pub fn cusum_step(previous: (f64, f64), x: f64, mu: f64, sigma: f64, k: f64) -> (f64, f64) {
    let u = (x - mu) / sigma;
    ((previous.0 - u - k).max(0.0), (previous.1 + u - k).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn normal_cdf_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((normal_cdf(1.959963984540054) - 0.975).abs() < 1e-12);
        assert!((normal_cdf(-3.0) - 0.0013498980316301).abs() < 1e-13);
    }

    #[test]
    fn mann_kendall_on_a_rising_series() {
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let mk = mann_kendall(&x).unwrap();
        assert_eq!(mk.s, 45.0);
        assert_eq!(mk.tau, 1.0);
        assert_eq!(mk.slope, 1.0);
        assert!(mk.p < 0.001);
        assert_eq!(mann_kendall(&[1.0, 1.0, 1.0]), None);
        assert_eq!(mann_kendall(&[1.0, 2.0]), None);
    }

    #[test]
    fn robust_z_and_cusum() {
        let history = [1.0, 1.1, 0.9, 1.0, 1.05, 0.95];
        let z = robust_z(0.5, &history).unwrap();
        assert!(z < -5.0, "{z}");
        assert_eq!(robust_z(1.0, &[1.0, 1.0, 1.0]), None);
        let mut c = (0.0, 0.0);
        for _ in 0..4 {
            c = cusum_step(c, 0.0, 1.0, 0.5, 0.5);
        }
        assert!((c.0 - 4.0 * 1.5).abs() < 1e-12 && c.1 == 0.0);
    }
}
