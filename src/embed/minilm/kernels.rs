//! The element-wise and row-wise kernels of the BERT forward pass ([`super::bert`]): GELU,
//! softmax, layer norm, bias and residual adds. The matrix products go to the `gemm` crate.
//!
//! Each kernel is plain Rust written so the compiler vectorises it (reductions keep 16 partial
//! sums, the transcendental functions are branch-free polynomials), compiled three times by
//! `multiversion!` (`crate::embed::simd`): for AVX-512, for AVX2 with FMA, and for the baseline x86-64 or any other
//! target; the widest the CPU has is chosen at run time. That keeps one portable binary while
//! using the vector units the machine has.

/// Lanes of the partial sums in reductions: one AVX-512 register of f32.
const LANES: usize = 16;

#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

#[inline(always)]
fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter().chain(tail).fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// Sum of squared deviations from `mean`.
#[inline(always)]
fn sum_sq_dev(x: &[f32], mean: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            let d = c[i] - mean;
            acc[i] += d * d;
        }
    }
    acc.iter().sum::<f32>() + tail.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>()
}

/// erf(x) as a rational function, accurate to a few ulp of f32 (Eigen's `generic_fast_erf`
/// coefficients); beyond |x| = 4 erf is ±1 in f32.
#[inline(always)]
#[allow(clippy::excessive_precision)] // the published coefficients, as published
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = (-2.72614225801306e-10f32).mul_add(x2, 2.77068142495902e-08);
    p = p.mul_add(x2, -2.10102402082508e-06);
    p = p.mul_add(x2, -5.69250639462346e-05);
    p = p.mul_add(x2, -7.34990630326855e-04);
    p = p.mul_add(x2, -2.95459980854025e-03);
    p = p.mul_add(x2, -1.60960333262415e-02);
    p *= x;
    let mut q = (-1.45660718464996e-05f32).mul_add(x2, -2.13374055278905e-04);
    q = q.mul_add(x2, -1.68282697438203e-03);
    q = q.mul_add(x2, -7.37332916720468e-03);
    q = q.mul_add(x2, -1.42647390514189e-02);
    p / q
}

/// e^x for x ≤ 0 (softmax after subtracting the row maximum), to about 2 ulp: Cody–Waite range
/// reduction by ln 2 and a degree-6 polynomial (Cephes' `expf`).
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub fn exp_nonpositive(x: f32) -> f32 {
    let x = x.max(-87.0);
    // Adding 1.5·2²³ rounds x·log₂e to the nearest integer n and leaves n in the low mantissa
    // bits: no float-to-int conversion, which the compiler would not vectorise.
    const SHIFT: f32 = 12_582_912.0;
    let t = x.mul_add(std::f32::consts::LOG2_E, SHIFT);
    let n = t - SHIFT;
    // ln 2 split in two so n·ln 2 is subtracted without rounding error.
    let r = n.mul_add(-0.693359375, x);
    let r = n.mul_add(2.12194440e-4, r);
    let mut p = 1.9875691500e-4f32.mul_add(r, 1.3981999507e-3);
    p = p.mul_add(r, 8.3334519073e-3);
    p = p.mul_add(r, 4.1665795894e-2);
    p = p.mul_add(r, 1.6666665459e-1);
    p = p.mul_add(r, 5.0000001201e-1);
    let p = p.mul_add(r * r, r) + 1.0;
    // 2ⁿ from its exponent bits, n + 127 = t's bits − (0x4B40_0000 − 127); n ≥ -126 here,
    // so the result is normal.
    let scale = f32::from_bits(t.to_bits().wrapping_sub(0x4B40_0000 - 127) << 23);
    p * scale
}

multiversion! {
    /// x ← GELU(x) = x/2 · (1 + erf(x/√2)), the exact form BERT uses (`hidden_act = "gelu"`).
    pub fn gelu(x: &mut [f32]) {
        for v in x.iter_mut() {
            let u = *v;
            *v = 0.5 * u * (1.0 + erf(u * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

multiversion! {
    /// Softmax of each row of a row-major matrix with `cols` columns, in place.
    pub fn softmax_rows(x: &mut [f32], cols: usize) {
        for row in x.chunks_exact_mut(cols) {
            let m = max(row);
            for v in row.iter_mut() {
                *v = exp_nonpositive(*v - m);
            }
            let inv = 1.0 / sum(row);
            for v in row.iter_mut() {
                *v *= inv;
            }
        }
    }
}

multiversion! {
    /// Each row of `x` (row-major, `row.len()` columns) ← `row`: a bias broadcast before a
    /// product accumulates onto it.
    pub fn fill_rows(x: &mut [f32], row: &[f32]) {
        for r in x.chunks_exact_mut(row.len()) {
            r.copy_from_slice(row);
        }
    }
}

multiversion! {
    /// The post-norm residual step of BERT: for each row, `x ← LayerNorm(y + x)` with the
    /// given gain, bias and epsilon (biased variance, as PyTorch's `LayerNorm`). `y` is scratch.
    pub fn residual_layer_norm(x: &mut [f32], y: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let cols = gamma.len();
        for (xr, yr) in x.chunks_exact_mut(cols).zip(y.chunks_exact_mut(cols)) {
            for (a, b) in yr.iter_mut().zip(xr.iter()) {
                *a += b;
            }
            let mean = sum(yr) / cols as f32;
            let inv_std = 1.0 / (sum_sq_dev(yr, mean) / cols as f32 + eps).sqrt();
            for (((o, a), g), b) in xr.iter_mut().zip(yr.iter()).zip(gamma).zip(beta) {
                *o = (a - mean) * inv_std * g + b;
            }
        }
    }
}

multiversion! {
    /// `out` ← the mean of the rows of `x` (row-major, `out.len()` columns).
    pub fn mean_rows(x: &[f32], out: &mut [f32]) {
        out.fill(0.0);
        let rows = x.len() / out.len();
        for row in x.chunks_exact(out.len()) {
            for (o, v) in out.iter_mut().zip(row) {
                *o += v;
            }
        }
        let inv = 1.0 / rows.max(1) as f32;
        for o in out.iter_mut() {
            *o *= inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_libm() {
        let mut worst = 0f32;
        for i in -60_000..=60_000 {
            let x = i as f32 * 1e-4;
            worst = worst.max((erf(x) - libm::erff(x)).abs());
        }
        assert!(worst < 5e-7, "max |erf - libm::erff| = {worst}");
        assert_eq!(erf(10.0), 1.0);
        assert_eq!(erf(-10.0), -1.0);
    }

    #[test]
    fn exp_matches_std() {
        let mut worst = 0f32;
        for i in 0..=870_000 {
            let x = -(i as f32) * 1e-4;
            let want = x.exp();
            if want > f32::MIN_POSITIVE {
                worst = worst.max(((exp_nonpositive(x) - want) / want).abs());
            }
        }
        assert!(worst < 4e-7, "max relative error {worst}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
    }

    #[test]
    fn gelu_softmax_and_layer_norm_match_plain_formulas() {
        let xs: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.31).collect();
        let mut g = xs.clone();
        gelu(&mut g);
        for (x, y) in xs.iter().zip(&g) {
            let want = 0.5 * x * (1.0 + libm::erff(x / 2f32.sqrt()));
            assert!((y - want).abs() < 1e-6, "gelu({x}) = {y}, want {want}");
        }

        let mut s = xs.clone();
        softmax_rows(&mut s, 37);
        let m = xs.iter().cloned().fold(f32::MIN, f32::max);
        let z: f32 = xs.iter().map(|x| (x - m).exp()).sum();
        for (x, y) in xs.iter().zip(&s) {
            assert!((y - (x - m).exp() / z).abs() < 1e-7);
        }

        let mut x = xs.clone();
        let mut y: Vec<f32> = xs.iter().map(|v| v * 0.5 + 1.0).collect();
        let gamma: Vec<f32> = (0..37).map(|i| 1.0 + i as f32 * 0.01).collect();
        let beta: Vec<f32> = (0..37).map(|i| i as f32 * -0.02).collect();
        let summed: Vec<f64> = xs.iter().map(|v| f64::from(v * 1.5 + 1.0)).collect();
        residual_layer_norm(&mut x, &mut y, &gamma, &beta, 1e-12);
        let mean = summed.iter().sum::<f64>() / 37.0;
        let var = summed.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 37.0;
        for i in 0..37 {
            let want = (summed[i] - mean) / var.sqrt() * f64::from(gamma[i]) + f64::from(beta[i]);
            assert!((f64::from(x[i]) - want).abs() < 1e-5, "{i}: {} vs {want}", x[i]);
        }
    }
}
