//! Who is like whom, calibrated: a model pair's similarity judged against what the probe and
//! the two models make likely, with a false-discovery-controlled test against the ecosystem's
//! background (the method of the relatedness research, `datasets/multimodel.md`).
//!
//! Real runs differ from a clean simulation in three ways a raw mean cosine gets wrong: probes
//! differ in how alike any two answers are (a pair that answered only easy probes looks
//! close), some models are near everything (hubs), and pairs share different probes. So, per
//! probe p with the set of present models (m >= 3), the per-probe similarity `S_p(a, b)` (the
//! mean cosine between a's and b's answers) is fitted by the round-robin additive model
//! `S = g + u_a + u_b + e` ([`double_centre`]): `r_a` the mean of a's row, `g` the mean of all
//! off-diagonal entries, `u_a = (m-1)/(m-2) (r_a - g)`, and the residual
//! `e_p(a, b) = S_p(a, b) - g - u_a - u_b`. `g` is the probe's difficulty (the coverage
//! confound), `u_a` the model's closeness to everyone on that probe (the hub); `e` is how much
//! closer a and b are than those predict. No further hub correction: CSLS and mutual proximity
//! were measured against this and did no better (CSLS on top lowered the same-vendor AUC on
//! three of four real sets; mutual proximity fixes hubs but not coverage).
//!
//! Over the `n` probes both answered ([`PairMoments`]): the mean `d`, its standard error
//! `se = sd / sqrt(n)` and the interval `d -+ t(0.975, n-1) se` ([`pair_stat`]). No verdict
//! below [`MIN_COMMON_PROBES`] common probes.
//!
//! The null ([`random_effects_null`]): unrelated pairs differ from each other by a background
//! `tau0` on top of their own sampling error, `d ~ N(mu0, tau0^2 + se^2)`, with `mu0` the median
//! of all `d` and `tau0` fitted so that the lower half of `z = (d - mu0) / sqrt(tau0^2 + se^2)`
//! has a robust SD of 1. `p = 1 - Phi(z)` (one-sided: more alike), `q` by Benjamini-Hochberg
//! over the pairs ([`benjamini_hochberg`]). It needs [`MIN_MODELS`] models.
//!
//! Families ([`families`]): average linkage on `z`, merging while the mean `z` between two
//! clusters is at least `z*`, the smallest `z` with `q <= 0.05` (no free parameter; with one
//! sample per model or many alike).

use super::cluster;

/// Fewest probes two models must share for a verdict on the pair: below about 30 values the
/// normal approximation of `z` is too optimistic (measured on four real sets: datasets/multimodel.md).
pub const MIN_COMMON_PROBES: usize = 30;
/// Fewest models for the null, q-values, families and verdicts: with 12 models (66 pairs) the
/// discoveries of random subsets of the four real sets were 92-94% confirmed on the whole set,
/// as with 13; with 10 models, 84% (datasets/multimodel.md, "How many models").
pub const MIN_MODELS: usize = 12;
/// The false discovery rate of "related" and of the family cut.
pub const FDR: f64 = 0.05;
/// Bisection steps for `tau0`.
const NULL_STEPS: usize = 60;
/// `Phi^-1(0.75)`: a normal's (median - lower quartile) in SDs.
const Q3_NORMAL: f64 = 0.674_489_750_196_081_7;

/// The residuals of one probe's similarity matrix (row-major `m x m`, the diagonal ignored)
/// after the round-robin additive fit; `None` with fewer than three models. Every row of the
/// result sums to zero; the diagonal is 0.
pub fn double_centre(sim: &[f64], m: usize) -> Option<Vec<f64>> {
    if m < 3 {
        return None;
    }
    let row: Vec<f64> =
        (0..m).map(|a| (0..m).filter(|&b| b != a).map(|b| sim[a * m + b]).sum::<f64>() / (m - 1) as f64).collect();
    let g = row.iter().sum::<f64>() / m as f64;
    let k = (m - 1) as f64 / (m - 2) as f64;
    let u: Vec<f64> = row.iter().map(|r| k * (r - g)).collect();
    let mut e = vec![0.0; m * m];
    for a in 0..m {
        for b in 0..m {
            if a != b {
                e[a * m + b] = sim[a * m + b] - g - u[a] - u[b];
            }
        }
    }
    Some(e)
}

/// Running mean and sum of squared deviations of one pair's per-probe values (Welford).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PairMoments {
    pub n: usize,
    mean: f64,
    m2: f64,
}

impl PairMoments {
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then_some(self.mean)
    }

    /// The sample variance (n - 1 in the denominator).
    pub fn variance(&self) -> Option<f64> {
        (self.n > 1).then(|| (self.m2 / (self.n - 1) as f64).max(0.0))
    }
}

/// A pair's calibrated similarity over its common probes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairStat {
    /// Mean residual `d`.
    pub mean: f64,
    pub se: f64,
    /// `d -+ t(0.975, n-1) se`.
    pub ci: (f64, f64),
    pub n: usize,
}

/// Mean, standard error and 95% t interval; `None` with fewer than two probes. `t975` gives
/// `t(0.975, df)` (cached by the caller; [`t_quantile`]).
pub fn pair_stat(m: &PairMoments, t975: &mut impl FnMut(usize) -> f64) -> Option<PairStat> {
    let (mean, var) = (m.mean()?, m.variance()?);
    let se = (var / m.n as f64).sqrt();
    let h = t975(m.n - 1) * se;
    Some(PairStat { mean, se, ci: (mean - h, mean + h), n: m.n })
}

/// `ln Gamma` (libm's).
fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// The regularised incomplete beta function `I_x(a, b)` (continued fraction, modified Lentz).
pub fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front = (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(1.0 - x, b, a);
    }
    let tiny = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    d = if d.abs() < tiny { 1.0 / tiny } else { 1.0 / d };
    let mut f = d;
    for i in 1..=300 {
        let m = f64::from(i);
        let num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        for n in [num, -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0))] {
            d = 1.0 + n * d;
            d = if d.abs() < tiny { 1.0 / tiny } else { 1.0 / d };
            c = 1.0 + n / c;
            if c.abs() < tiny {
                c = tiny;
            }
            f *= c * d;
        }
        if (c * d - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * f / a
}

/// Student's t distribution function with `df` degrees of freedom.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(df / (df + t * t), df / 2.0, 0.5);
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The `p` quantile of Student's t with `df` degrees of freedom (bisection on [`t_cdf`]).
pub fn t_quantile(p: f64, df: usize) -> f64 {
    assert!(p > 0.0 && p < 1.0 && df > 0, "t_quantile({p}, {df})");
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let df = df as f64;
    let mut hi = 2.0;
    while t_cdf(hi, df) < p {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// `P(Z > z)` for a standard normal Z.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// The `q` quantile of `values` by linear interpolation between order statistics (numpy's
/// default); `values` is reordered. NaN for no values.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * q;
    let lo = h.floor() as usize;
    let (_, &mut a, rest) = values.select_nth_unstable_by(lo, f64::total_cmp);
    if lo + 1 >= n {
        return a;
    }
    let b = rest.iter().copied().fold(f64::INFINITY, f64::min);
    a + (h - lo as f64) * (b - a)
}

/// The fitted null: an unrelated pair's mean residual is `N(mu0, tau0^2 + se^2)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Null {
    pub mu0: f64,
    pub tau0: f64,
}

impl Null {
    /// `z = (d - mu0) / sqrt(tau0^2 + se^2)`; 0 when that spread is nil (no evidence either way).
    pub fn z(&self, mean: f64, se: f64) -> f64 {
        let s = (self.tau0 * self.tau0 + se * se).sqrt();
        if s > 1e-15 { (mean - self.mu0) / s } else { 0.0 }
    }
}

/// The random-effects empirical null from the pairs' means and standard errors: `mu0` the
/// median of the means; `tau0 >= 0` such that `(median(z) - Q1(z)) / Phi^-1(0.75) = 1`, found by
/// bisection on `[0, max |d - mu0|]` (60 steps); `tau0 = 0` when the pairs spread no more than
/// their standard errors. `None` for no pairs.
pub fn random_effects_null(means: &[f64], ses: &[f64]) -> Option<Null> {
    if means.is_empty() {
        return None;
    }
    let mu0 = quantile(&mut means.to_vec(), 0.5);
    let mut z = vec![0.0; means.len()];
    let mut spread = |tau: f64| {
        let null = Null { mu0, tau0: tau };
        for (z, (&d, &se)) in z.iter_mut().zip(means.iter().zip(ses)) {
            *z = null.z(d, se);
        }
        (quantile(&mut z, 0.5) - quantile(&mut z, 0.25)) / Q3_NORMAL
    };
    if spread(0.0) <= 1.0 {
        return Some(Null { mu0, tau0: 0.0 });
    }
    let (mut lo, mut hi) = (0.0, means.iter().map(|d| (d - mu0).abs()).fold(0.0, f64::max) + 1e-9);
    for _ in 0..NULL_STEPS {
        let mid = 0.5 * (lo + hi);
        if spread(mid) > 1.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(Null { mu0, tau0: 0.5 * (lo + hi) })
}

/// Benjamini-Hochberg q-values of `p` (same order): `q_(i) = min_{j >= i} p_(j) K / j`, at most 1.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let k = p.len();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let mut q = vec![0.0; k];
    let mut running = 1.0f64;
    for (i, &at) in order.iter().enumerate().rev() {
        running = running.min(p[at] * k as f64 / (i + 1) as f64);
        q[at] = running.min(1.0);
    }
    q
}

/// One pair's calibrated figures, by pair index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibrated {
    pub stat: PairStat,
    /// `z`, `p` and `q` (None below the minimums: [`MIN_COMMON_PROBES`], [`MIN_MODELS`]).
    pub test: Option<(f64, f64, f64)>,
}

/// Every pair of a scope judged against the scope's null: `pairs[k]` the moments of pair k's
/// residuals, `models` the number of models in the scope. Pairs with fewer than two probes get
/// `None`; the null is fitted (and `z`, `p`, `q` given) over the pairs with at least
/// [`MIN_COMMON_PROBES`] probes when the scope has [`MIN_MODELS`] models. Also returns the null.
pub fn calibrate_pairs(pairs: &[PairMoments], models: usize) -> (Vec<Option<Calibrated>>, Option<Null>) {
    let mut cache = std::collections::HashMap::new();
    let mut t975 = |df: usize| *cache.entry(df).or_insert_with(|| t_quantile(0.975, df));
    let stats: Vec<Option<PairStat>> = pairs.iter().map(|m| pair_stat(m, &mut t975)).collect();
    let tested: Vec<usize> = if models >= MIN_MODELS {
        (0..pairs.len()).filter(|&k| stats[k].is_some_and(|s| s.n >= MIN_COMMON_PROBES)).collect()
    } else {
        Vec::new()
    };
    let means: Vec<f64> = tested.iter().map(|&k| stats[k].expect("tested").mean).collect();
    let ses: Vec<f64> = tested.iter().map(|&k| stats[k].expect("tested").se).collect();
    let null = random_effects_null(&means, &ses);
    let mut out: Vec<Option<Calibrated>> =
        stats.iter().map(|s| s.map(|stat| Calibrated { stat, test: None })).collect();
    if let Some(null) = null {
        let z: Vec<f64> = means.iter().zip(&ses).map(|(&d, &se)| null.z(d, se)).collect();
        let p: Vec<f64> = z.iter().map(|&z| normal_sf(z)).collect();
        let q = benjamini_hochberg(&p);
        for (i, &k) in tested.iter().enumerate() {
            if let Some(c) = &mut out[k] {
                c.test = Some((z[i], p[i], q[i]));
            }
        }
    }
    (out, null)
}

/// The family cut `z*`: the smallest `z` among pairs with `q <= FDR` (None when no pair is).
pub fn z_cut(tests: impl Iterator<Item = (f64, f64)>) -> Option<f64> {
    tests.filter(|&(_, q)| q <= FDR).map(|(z, _)| z).reduce(f64::min)
}

/// Family labels (0, 1, ... in order of first appearance) of `n` models from their pairs' `z`
/// (`z[a * n + b]`, NaN where a pair has no test: counted as 0, the null's centre, so no
/// evidence is never a link): average linkage on `zmax + 1 - z`, merging while the mean `z`
/// between two clusters is at least `cut`.
pub fn families(z: &[f64], n: usize, cut: f64) -> Vec<usize> {
    if n <= 1 {
        return vec![0; n];
    }
    let at = |a: usize, b: usize| {
        let v = z[a * n + b];
        if v.is_finite() { v } else { 0.0 }
    };
    let top = (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b))).map(|(a, b)| at(a, b)).fold(0.0, f64::max) + 1.0;
    let mut condensed = Vec::with_capacity(n * (n - 1) / 2);
    for a in 0..n {
        for b in a + 1..n {
            condensed.push(top - at(a, b));
        }
    }
    cluster::linkage_labels(condensed, n, top - cut)
}

/// Classical (Torgerson) multidimensional scaling to two dimensions: from the dissimilarities
/// `d` (row-major `n x n`, symmetric, zero diagonal), `B = -1/2 J D^2 J` (`J` the centring
/// matrix), and each item's coordinates are its entries in `B`'s two leading eigenvectors times
/// the square roots of their eigenvalues (negative eigenvalues count as 0). Each axis is signed
/// so its largest coordinate is positive, for a stable picture.
pub fn classical_mds(d: &[f64], n: usize) -> Vec<(f64, f64)> {
    if n < 2 {
        return vec![(0.0, 0.0); n];
    }
    let sq = |a: usize, b: usize| d[a * n + b] * d[a * n + b];
    let row: Vec<f64> = (0..n).map(|a| (0..n).map(|b| sq(a, b)).sum::<f64>() / n as f64).collect();
    let all = row.iter().sum::<f64>() / n as f64;
    let b = faer::Mat::<f64>::from_fn(n, n, |i, j| -0.5 * (sq(i, j) - row[i] - row[j] + all));
    let Ok(evd) = b.self_adjoint_eigen(faer::Side::Lower) else { return vec![(0.0, 0.0); n] };
    let (values, vectors) = (evd.S().column_vector(), evd.U());
    let axis = |k: usize| -> Vec<f64> {
        let scale = values[k].max(0.0).sqrt();
        let v: Vec<f64> = (0..n).map(|i| vectors[(i, k)] * scale).collect();
        let flip = v.iter().copied().fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m }) < 0.0;
        v.into_iter().map(|x| if flip { -x } else { x }).collect()
    };
    let (x, y) = (axis(n - 1), axis(n - 2));
    x.into_iter().zip(y).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (no dependency on rand's stream for fixed figures).
    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn double_centring_is_the_least_squares_additive_fit() {
        // S = g + u_a + u_b exactly, plus one planted pair: the residual is zero everywhere
        // but on the plant (less what the fit absorbs), and every row sums to zero.
        let (m, g) = (6, 0.4);
        let u = [0.05, -0.02, 0.0, 0.1, -0.08, -0.05];
        let mut s = vec![0.0; m * m];
        for a in 0..m {
            for b in 0..m {
                s[a * m + b] = if a == b { f64::NAN } else { g + u[a] + u[b] };
            }
        }
        let e = double_centre(&s, m).unwrap();
        assert!(e.iter().all(|x| x.abs() < 1e-12), "{e:?}");
        s[1] += 0.3;
        s[m] += 0.3;
        let e = double_centre(&s, m).unwrap();
        for a in 0..m {
            assert!((0..m).map(|b| e[a * m + b]).sum::<f64>().abs() < 1e-12);
        }
        assert!(e[1] > 0.1 && (e[1] - e[m]).abs() < 1e-15);
        // The direct least squares fit of S = g + u_a + u_b over the 15 pairs (normal equations
        // solved by gradient descent) leaves the same residuals.
        let pairs: Vec<(usize, usize)> = (0..m).flat_map(|a| (a + 1..m).map(move |b| (a, b))).collect();
        let (mut gg, mut uu) = (0.0, vec![0.0; m]);
        for _ in 0..20000 {
            let mut dg = 0.0;
            let mut du = vec![0.0; m];
            for &(a, b) in &pairs {
                let r = s[a * m + b] - gg - uu[a] - uu[b];
                dg += r;
                du[a] += r;
                du[b] += r;
            }
            gg += 0.02 * dg;
            for i in 0..m {
                uu[i] += 0.02 * du[i];
            }
            // Identify: the u sum to zero.
            let mean = uu.iter().sum::<f64>() / m as f64;
            uu.iter_mut().for_each(|x| *x -= mean);
        }
        for &(a, b) in &pairs {
            let direct = s[a * m + b] - gg - uu[a] - uu[b];
            assert!((direct - e[a * m + b]).abs() < 1e-9, "{a} {b}: {direct} vs {}", e[a * m + b]);
        }
        assert_eq!(double_centre(&s[..4], 2), None);
    }

    #[test]
    fn moments_and_the_t_interval_match_a_direct_computation() {
        let mut seed = 3;
        let x: Vec<f64> = (0..40).map(|_| lcg(&mut seed) - 0.3).collect();
        let mut m = PairMoments::default();
        x.iter().for_each(|&v| m.push(v));
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let s = pair_stat(&m, &mut |df| t_quantile(0.975, df)).unwrap();
        assert!((s.mean - mean).abs() < 1e-14 && (s.se - (var / n).sqrt()).abs() < 1e-14);
        // scipy.stats.t.ppf(0.975, 39) = 2.022690920036761
        assert!((s.ci.1 - mean - 2.022_690_920_036_761 * s.se).abs() < 1e-12);
        let mut one = PairMoments::default();
        one.push(1.0);
        assert_eq!(pair_stat(&one, &mut |_| 2.0), None);
    }

    #[test]
    fn t_quantiles_match_reference_values() {
        // scipy.stats.t.ppf(0.975, df)
        for (df, want) in [
            (1, 12.706_204_736_174_694),
            (2, 4.302_652_729_749_462),
            (10, 2.228_138_851_986_274),
            (29, 2.045_229_642_132_703),
            (100, 1.983_971_518_523_551_8),
            (1000, 1.962_339_080_826_408_3),
        ] {
            let got = t_quantile(0.975, df);
            assert!((got - want).abs() < 1e-9, "df {df}: {got} vs {want}");
        }
        assert!((t_quantile(0.025, 10) + 2.228_138_851_986_274).abs() < 1e-9);
        assert!((t_cdf(0.0, 5.0) - 0.5).abs() < 1e-15);
        // Normal tail: scipy.stats.norm.isf(0.05) = 1.6448536269514729
        assert!((normal_sf(1.644_853_626_951_472_9) - 0.05).abs() < 1e-15);
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let mut v = vec![5.0, 1.0, 4.0, 2.0, 3.0, 10.0];
        // numpy.quantile([1, 2, 3, 4, 5, 10], [0.25, 0.5]) = [2.25, 3.5]
        assert!((quantile(&mut v, 0.25) - 2.25).abs() < 1e-15);
        assert!((quantile(&mut v, 0.5) - 3.5).abs() < 1e-15);
        assert_eq!(quantile(&mut v, 1.0), 10.0);
        assert_eq!(quantile(&mut [7.0], 0.25), 7.0);
        assert!(quantile(&mut [], 0.5).is_nan());
    }

    #[test]
    fn the_null_fits_the_lower_half_to_unit_spread() {
        // 200 background pairs N(0.01, 0.02^2) measured with se 0.005, and 10 related pairs far
        // above: tau0 comes out near 0.02 and the related pairs stand out.
        let mut seed = 11;
        let mut normal = || {
            let (u, v) = (lcg(&mut seed).max(1e-12), lcg(&mut seed));
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        };
        let mut means: Vec<f64> = (0..200).map(|_| 0.01 + 0.02 * normal() + 0.005 * normal()).collect();
        means.extend((0..10).map(|i| 0.2 + 0.01 * f64::from(i)));
        let ses = vec![0.005; means.len()];
        let null = random_effects_null(&means, &ses).unwrap();
        assert!((null.tau0 - 0.02).abs() < 0.006, "{null:?}");
        // The definition holds at the fitted tau0: the lower half's robust spread is 1.
        let mut z: Vec<f64> = means.iter().zip(&ses).map(|(&d, &s)| null.z(d, s)).collect();
        let spread = (quantile(&mut z.clone(), 0.5) - quantile(&mut z, 0.25)) / Q3_NORMAL;
        assert!((spread - 1.0).abs() < 1e-6, "{spread}");
        assert_eq!(null.mu0, quantile(&mut means.clone(), 0.5));
        // Pairs no more spread than their errors: tau0 = 0.
        let tight: Vec<f64> = (0..50).map(|i| 0.001 * f64::from(i % 3)).collect();
        assert_eq!(random_effects_null(&tight, &[0.1; 50]).unwrap().tau0, 0.0);
        assert_eq!(random_effects_null(&[], &[]), None);
    }

    #[test]
    fn benjamini_hochberg_matches_a_direct_computation() {
        let p = [0.01, 0.04, 0.03, 0.2, 0.001, 0.5];
        let q = benjamini_hochberg(&p);
        // Direct: q_i = min over j with p_j >= p_i of p_j K / rank_j.
        let k = p.len() as f64;
        for i in 0..p.len() {
            let want = (0..p.len())
                .filter(|&j| p[j] >= p[i])
                .map(|j| p[j] * k / (p.iter().filter(|&&x| x <= p[j]).count() as f64))
                .fold(1.0f64, f64::min);
            assert!((q[i] - want).abs() < 1e-15, "{i}: {} vs {want}", q[i]);
        }
        // scipy.stats.false_discovery_control(p)
        let want = [0.03, 0.06, 0.06, 0.24, 0.006, 0.5];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
    }

    #[test]
    fn calibrated_pairs_need_enough_probes_and_models() {
        let pairs: Vec<PairMoments> = (0..66)
            .map(|k| {
                let mut m = PairMoments::default();
                let n = if k == 5 { 20 } else { 40 };
                let mut seed = k as u64 + 1;
                for _ in 0..n {
                    m.push(if k < 3 { 0.3 } else { 0.0 } + 0.1 * (lcg(&mut seed) - 0.5));
                }
                m
            })
            .collect();
        let (out, null) = calibrate_pairs(&pairs, 12);
        assert!(null.is_some());
        assert!(out[5].unwrap().test.is_none(), "20 common probes: no test");
        assert!(out[5].unwrap().stat.n == 20);
        for c in &out[..3] {
            let (z, p, q) = c.unwrap().test.unwrap();
            assert!(z > 5.0 && p < 1e-6 && q < 0.05, "{c:?}");
        }
        let significant = out.iter().filter(|c| c.unwrap().test.is_some_and(|t| t.2 <= FDR)).count();
        assert_eq!(significant, 3);
        let (few, none) = calibrate_pairs(&pairs, 11);
        assert!(none.is_none() && few.iter().all(|c| c.unwrap().test.is_none()));
        let zs = out.iter().filter_map(|c| c.unwrap().test.map(|t| (t.0, t.2)));
        let cut = z_cut(zs).unwrap();
        assert!(cut > 5.0);
    }

    #[test]
    fn classical_mds_recovers_points_in_the_plane() {
        // Distances between points of the plane are reproduced exactly (up to a rigid motion).
        let pts = [(0.0, 0.0), (3.0, 0.0), (0.0, 4.0), (1.0, 1.0), (-2.0, 0.5)];
        let n = pts.len();
        let dist = |a: (f64, f64), b: (f64, f64)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
        let d: Vec<f64> = (0..n * n).map(|k| dist(pts[k / n], pts[k % n])).collect();
        let xy = classical_mds(&d, n);
        for a in 0..n {
            for b in 0..n {
                assert!((dist(xy[a], xy[b]) - d[a * n + b]).abs() < 1e-9, "{a} {b}");
            }
        }
        assert_eq!(classical_mds(&[0.0], 1), vec![(0.0, 0.0)]);
    }

    #[test]
    fn families_merge_while_the_mean_z_reaches_the_cut() {
        // 0-1-2 strongly linked, 3-4 linked, 5 alone; one pair untested (NaN).
        let n = 6;
        let mut z = vec![0.0; n * n];
        let mut set = |a: usize, b: usize, v: f64| {
            z[a * n + b] = v;
            z[b * n + a] = v;
        };
        set(0, 1, 8.0);
        set(0, 2, 7.0);
        set(1, 2, 6.0);
        set(3, 4, 4.0);
        set(2, 3, 1.0);
        set(4, 5, f64::NAN);
        assert_eq!(families(&z, n, 3.0), vec![0, 0, 0, 1, 1, 2]);
        // A cut above 4 splits 3 and 4; above every z splits all.
        assert_eq!(families(&z, n, 4.5), vec![0, 0, 0, 1, 2, 3]);
        assert_eq!(families(&z, n, 9.0), vec![0, 1, 2, 3, 4, 5]);
        // Average linkage: {0,1,2} and {3,4} join only when the mean z of their six pairs
        // (1 + 0 * 5) / 6 reaches the cut.
        assert_eq!(families(&z, n, 1.0 / 6.0), vec![0, 0, 0, 0, 0, 1]);
        assert_eq!(families(&z, 1, 1.0), vec![0]);
    }
}
