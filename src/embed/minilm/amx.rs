//! Matrix products on Intel AMX tiles (Sapphire Rapids and later), at float32 accuracy.
//!
//! AMX multiplies bfloat16 matrices into float32 sums at some sixteen times the rate of AVX-512
//! float32 arithmetic. bfloat16 alone keeps 8 bits of each number, too few for vectors that must
//! equal sentence-transformers' to a cosine of 0.9999. So each operand is split in two,
//! `x ≈ hi + lo` with `hi = bf16(x)` and `lo = bf16(x − hi)` (16 significant bits), and a
//! product is summed from three tile products, `hi·hi + hi·lo + lo·hi` (the `lo·lo` term is
//! below float32 rounding of the result). The weights are split and laid out for the tiles once,
//! at load ([`PackedWeights`]); activations are split per product.
//!
//! Used only where [`available`] says the CPU has AMX and Linux granted this process the tile
//! state; everywhere else the forward pass multiplies with the `gemm` crate.

use std::sync::OnceLock;

/// Rows of a tile, and float32 columns of an accumulator tile.
const TILE: usize = 16;
/// bfloat16 values along the shared dimension per tile product.
const TILE_K: usize = 32;

/// Whether this CPU has AMX-BF16 and the kernel lets this process use the tiles (asked once).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(detect)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn detect() -> bool {
    // CPUID leaf 7: EDX bit 22 is AMX-BF16, bit 24 AMX-TILE.
    let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
    if leaf7.edx & (1 << 22) == 0 || leaf7.edx & (1 << 24) == 0 {
        return false;
    }
    // Linux hands out the 8 KiB tile state only on request (arch_prctl ARCH_REQ_XCOMP_PERM for
    // XFEATURE_XTILEDATA); a refusal (older kernel, hypervisor without it) means no AMX.
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: a plain system call with integer arguments.
    let granted = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) } == 0;
    if !granted {
        tracing::debug!("CPU has AMX but the kernel did not grant the tile state: using AVX kernels");
    }
    granted
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect() -> bool {
    false
}

/// Whether a `k × n` right-hand side can be multiplied on tiles.
pub fn fits(k: usize, n: usize) -> bool {
    k.is_multiple_of(TILE_K) && n.is_multiple_of(2 * TILE) && k > 0 && n > 0
}

/// bfloat16 bits of `x`, rounded to nearest even (inputs are finite).
#[inline(always)]
fn bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    (bits.wrapping_add(0x7FFF + ((bits >> 16) & 1)) >> 16) as u16
}

#[inline(always)]
fn widen(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// bfloat16 values in one tile: 16 rows × 32.
const TILE_VALUES: usize = TILE * TILE_K;

multiversion! {
    /// Splits the row-major `rows × k` matrix `x` into bfloat16 halves, `hi + lo ≈ x`, laid out
    /// tile by tile (each 16 rows × 32 columns block contiguous, blocks of one 16-row band in
    /// order of k), so each tile load reads 1 KiB in a row. Rows past `rows` up to the next
    /// multiple of 16 are zero.
    pub fn split_into_tiles(x: &[f32], k: usize, hi: &mut [u16], lo: &mut [u16]) {
        let rows = x.len() / k;
        let steps = k / TILE_K;
        let padded = rows.div_ceil(TILE) * TILE;
        for r in 0..padded {
            for step in 0..steps {
                let at = ((r / TILE) * steps + step) * TILE_VALUES + (r % TILE) * TILE_K;
                let (hi, lo) = (&mut hi[at..at + TILE_K], &mut lo[at..at + TILE_K]);
                if r >= rows {
                    hi.fill(0);
                    lo.fill(0);
                    continue;
                }
                let src = &x[r * k + step * TILE_K..r * k + (step + 1) * TILE_K];
                for ((v, h), l) in src.iter().zip(hi.iter_mut()).zip(lo.iter_mut()) {
                    let top = bf16(*v);
                    *h = top;
                    *l = bf16(*v - widen(top));
                }
            }
        }
    }
}

/// A `k × n` right-hand side split into bfloat16 halves, laid out for the tiles: in panels of
/// 32 columns, each panel a run of 1 KiB tiles (32 values of k × 16 columns, the two halves of
/// the panel one after the other), and within a tile the pair-interleaved order AMX reads:
/// tile row `r` holds, for each column `j`, rows `2r` and `2r + 1` of column `j` side by side.
pub struct PackedWeights {
    hi: Vec<u16>,
    lo: Vec<u16>,
    k: usize,
    n: usize,
}

impl PackedWeights {
    /// Packs a row-major `k × n` matrix. Panics unless [`fits`]`(k, n)`.
    pub fn pack(w: &[f32], k: usize, n: usize) -> Self {
        assert!(fits(k, n) && w.len() == k * n);
        let steps = k / TILE_K;
        let (mut hi, mut lo) = (vec![0u16; k * n], vec![0u16; k * n]);
        for r in 0..k {
            for j in 0..n {
                let (panel, half, col) = (j / (2 * TILE), (j / TILE) % 2, j % TILE);
                let (step, row) = (r / TILE_K, r % TILE_K);
                let tile = (panel * steps + step) * 2 + half;
                let at = tile * TILE_VALUES + (row / 2) * 2 * TILE + col * 2 + row % 2;
                let top = bf16(w[r * n + j]);
                hi[at] = top;
                lo[at] = bf16(w[r * n + j] - widen(top));
            }
        }
        PackedWeights { hi, lo, k, n }
    }
}

/// Per-thread scratch: the split activations, and one padded block for a last partial tile row.
#[derive(Default)]
pub struct Scratch {
    hi: Vec<u16>,
    lo: Vec<u16>,
    tail: Vec<f32>,
}

/// The AMX tile configuration (palette 1): eight tiles of 16 rows × 64 bytes.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    bytes_per_row: [u16; 16],
    rows: [u8; 16],
}

const CONFIG: TileConfig = TileConfig {
    palette: 1,
    start_row: 0,
    reserved: [0; 14],
    bytes_per_row: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
    rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
};

/// Rows of `out` done together: their split activations (64 KiB per depth slice) stay in L2
/// while each panel slice is reused across them.
const BAND_ROWS: usize = 128;

/// Tile steps along k (32 values each) per pass over a panel: the panel's slice (4 KiB a step)
/// stays in L1 while every 16-row block of the band goes through it.
const DEPTH_STEPS: usize = 4;

/// `out[rows × n] += x[rows × k] · W`. Call only when [`available`].
pub fn matmul_accumulate(x: &[f32], rows: usize, w: &PackedWeights, out: &mut [f32], scratch: &mut Scratch) {
    let (k, n) = (w.k, w.n);
    assert!(available() && x.len() >= rows * k && out.len() >= rows * n);
    let padded = rows.div_ceil(TILE) * TILE;
    if scratch.hi.len() < padded * k {
        scratch.hi.resize(padded * k, 0);
        scratch.lo.resize(padded * k, 0);
    }
    split_into_tiles(&x[..rows * k], k, &mut scratch.hi[..padded * k], &mut scratch.lo[..padded * k]);
    let full = rows / TILE * TILE;
    // SAFETY: AMX is available and granted (asserted); the tile rows stay inside `out`, the split
    // activations and the weights, whose sizes were checked above.
    unsafe {
        tiles(0..full, k, n, &scratch.hi, &scratch.lo, w, out.as_mut_ptr());
    }
    if full < rows {
        // The last rows, as a whole tile row computed in a scratch block.
        let extra = rows - full;
        scratch.tail.clear();
        scratch.tail.resize(TILE * n, 0.0);
        scratch.tail[..extra * n].copy_from_slice(&out[full * n..rows * n]);
        // SAFETY: as above; the scratch block is one tile row of 16 × n, addressed as rows
        // `full..full + 16` shifted back by `full` rows.
        unsafe {
            tiles(full..padded, k, n, &scratch.hi, &scratch.lo, w, scratch.tail.as_mut_ptr().wrapping_sub(full * n));
        }
        out[full * n..rows * n].copy_from_slice(&scratch.tail[..extra * n]);
    }
}

/// The tile loop over rows `band` (multiples of 16) × all `n` columns of `out` (row-major,
/// `n` wide, `out` pointing at row 0).
///
/// # Safety
/// AMX must be available and granted; `hi` and `lo` hold the split activations of the rows of
/// `band`, `out` the rows of `band` × `n`.
#[cfg(target_arch = "x86_64")]
unsafe fn tiles(
    band: std::ops::Range<usize>,
    k: usize,
    n: usize,
    hi: &[u16],
    lo: &[u16],
    w: &PackedWeights,
    out: *mut f32,
) {
    debug_assert!(band.start.is_multiple_of(TILE) && band.end.is_multiple_of(TILE) && hi.len() >= band.end * k);
    let steps = k / TILE_K;
    let c_stride = n * 4; // bytes between rows of out
    // SAFETY: the caller guarantees AMX; every tile load and store addresses 16 rows of 64 bytes
    // inside the operands (block offsets below are within rows × n, rows × k and k × n).
    unsafe {
        std::arch::asm!("ldtilecfg [{cfg}]", cfg = in(reg) &CONFIG, options(nostack, readonly));
        for first in band.clone().step_by(BAND_ROWS) {
            for k0 in (0..steps).step_by(DEPTH_STEPS) {
                let depth = DEPTH_STEPS.min(steps - k0);
                for panel in 0..n / (2 * TILE) {
                    for m0 in (first..band.end.min(first + BAND_ROWS)).step_by(TILE) {
                        let c = out.wrapping_add(m0 * n + panel * 2 * TILE);
                        let a = ((m0 / TILE) * steps + k0) * TILE_VALUES;
                        let b = (panel * steps + k0) * 2 * TILE_VALUES;
                        std::arch::asm!(
                            "tileloadd tmm0, [{c} + {cs}*1]",
                            "tileloadd tmm1, [{c} + {cs}*1 + 64]",
                            "2:",
                            "tileloadd tmm2, [{ah} + {row}*1]",
                            "tileloadd tmm3, [{al} + {row}*1]",
                            "tileloadd tmm4, [{bh} + {row}*1]",
                            "tileloadd tmm5, [{bl} + {row}*1]",
                            "tileloadd tmm6, [{bh} + {row}*1 + 1024]",
                            "tileloadd tmm7, [{bl} + {row}*1 + 1024]",
                            "tdpbf16ps tmm0, tmm2, tmm4",
                            "tdpbf16ps tmm0, tmm2, tmm5",
                            "tdpbf16ps tmm0, tmm3, tmm4",
                            "tdpbf16ps tmm1, tmm2, tmm6",
                            "tdpbf16ps tmm1, tmm2, tmm7",
                            "tdpbf16ps tmm1, tmm3, tmm6",
                            "add {ah}, 1024",
                            "add {al}, 1024",
                            "add {bh}, 2048",
                            "add {bl}, 2048",
                            "dec {steps}",
                            "jnz 2b",
                            "tilestored [{c} + {cs}*1], tmm0",
                            "tilestored [{c} + {cs}*1 + 64], tmm1",
                            c = in(reg) c,
                            cs = in(reg) c_stride,
                            row = in(reg) 64usize,
                            ah = inout(reg) hi.as_ptr().add(a) => _,
                            al = inout(reg) lo.as_ptr().add(a) => _,
                            bh = inout(reg) w.hi.as_ptr().add(b) => _,
                            bl = inout(reg) w.lo.as_ptr().add(b) => _,
                            steps = inout(reg) depth => _,
                            options(nostack),
                        );
                    }
                }
            }
        }
        // Give the tile state back, so a context switch does not have to save it.
        std::arch::asm!("tilerelease", options(nostack, nomem));
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn tiles(_: std::ops::Range<usize>, _: usize, _: usize, _: &[u16], _: &[u16], _: &PackedWeights, _: *mut f32) {
    unreachable!("AMX is never available off x86_64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_sixteen_bits() {
        for x in [1.0f32, -2.5e3, 1e-20, 65_504.5, 0.1, -0.0, 123_456.79] {
            let (mut hi, mut lo) = ([0u16; TILE_VALUES], [0u16; TILE_VALUES]);
            split_into_tiles(&[x; TILE_K], TILE_K, &mut hi, &mut lo);
            let back = widen(hi[0]) + widen(lo[0]);
            assert!((back - x).abs() <= x.abs() * 2f32.powi(-16), "{x}: {back}");
        }
    }

    #[test]
    fn tile_product_matches_float64() {
        if !available() {
            // Skipped only where the machine has no AMX: scripts/test.sh sets the variable when
            // /proc/cpuinfo lists amx_tile, so a machine with AMX that this code fails to use
            // fails here instead of passing without testing.
            assert!(
                std::env::var_os("HIVEWATCH_EXPECT_AMX").is_none(),
                "the CPU lists AMX but it is not available to this process"
            );
            eprintln!("NOTICE: no AMX on this machine: the tile product is not tested here");
            return;
        }
        for (rows, k, n) in [(16usize, 32usize, 32usize), (37, 384, 1152), (5, 64, 96), (300, 1536, 384)] {
            let x: Vec<f32> = (0..rows * k).map(|i| ((i * 7919 % 2001) as f32 / 1000.0 - 1.0) * 1.7).collect();
            let w: Vec<f32> = (0..k * n).map(|i| ((i * 104_729 % 3001) as f32 / 1500.0 - 1.0) * 0.05).collect();
            let bias: Vec<f32> = (0..rows * n).map(|i| (i % 13) as f32 * 0.01).collect();
            let mut out = bias.clone();
            matmul_accumulate(&x, rows, &PackedWeights::pack(&w, k, n), &mut out, &mut Scratch::default());
            for i in 0..rows {
                for j in 0..n {
                    let want: f64 = f64::from(bias[i * n + j])
                        + (0..k).map(|l| f64::from(x[i * k + l]) * f64::from(w[l * n + j])).sum::<f64>();
                    let scale: f64 = (0..k).map(|l| (f64::from(x[i * k + l]) * f64::from(w[l * n + j])).abs()).sum();
                    let got = f64::from(out[i * n + j]);
                    assert!(
                        (got - want).abs() <= 1e-5 * scale + 1e-6,
                        "({rows},{k},{n}) at ({i},{j}): {got} vs {want}"
                    );
                }
            }
        }
    }
}
