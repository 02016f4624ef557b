//! A family tree, not one cut (relatedness v3; `datasets/research/relatedness-v3/SPEC.md`, T):
//! one dendrogram of the models on the fused `z`, cut at three levels so that they nest.
//!
//! The dendrogram ([`Tree::of`]): average linkage (kodama) on `D_ab = zmax + 1 - z_ab`, with
//! untested pairs at `z = 0` (the null's centre: no evidence is never a link) and
//! `zmax = max(0, max z)`; a merge's `mean_z = zmax + 1 - height` is the mean `z` between the two
//! clusters it joins. A level with cut `c` merges while `mean_z >= c` ([`Tree::labels`]).
//!
//! The cuts ([`level_cuts`]), with `zq(alpha) = min { z : q <= alpha }` (Benjamini-Hochberg):
//! - near copies: `max(zq(1e-6), z_close)` (none when no pair reaches 1e-6);
//! - close family: `zq(0.05)`, the single cut before the tree;
//! - vendor line: `zq(0.3)`, chosen leave-one-set-out on the shared sets (every fold chose it).
//!
//! A close family is a set whose average member pair is as related as a pair that passes BH
//! at 5%; with nothing related (labels permuted), the shared sets gave 0-0.35 spurious
//! vendor-line families per run and none at the other levels.

use super::relatedness::FDR;
use crate::vocab::FamilyLevel;

/// The false discovery rate of each level's cut.
pub fn level_fdr(level: FamilyLevel) -> f64 {
    match level {
        FamilyLevel::NearCopy => 1e-6,
        FamilyLevel::Close => FDR,
        FamilyLevel::VendorLine => 0.3,
    }
}

/// `zq(alpha)`: the smallest `z` among tests `(z, q)` with `q <= alpha`.
fn z_at(tests: &[(f64, f64)], alpha: f64) -> Option<f64> {
    tests.iter().filter(|&&(_, q)| q <= alpha).map(|&(z, _)| z).reduce(f64::min)
}

/// Each level's cut on `z` from the pairs' fused tests `(z, q)` (None: no pair qualifies, and
/// every model is alone at that level).
pub fn level_cuts(tests: &[(f64, f64)]) -> [(FamilyLevel, Option<f64>); 3] {
    let close = z_at(tests, level_fdr(FamilyLevel::Close));
    let near = z_at(tests, level_fdr(FamilyLevel::NearCopy)).map(|z| close.map_or(z, |c| z.max(c)));
    let vendor = z_at(tests, level_fdr(FamilyLevel::VendorLine));
    [(FamilyLevel::NearCopy, near), (FamilyLevel::Close, close), (FamilyLevel::VendorLine, vendor)]
}

/// One merge of the dendrogram: clusters `left` and `right` (leaves 0..n-1 are the models in
/// order; step k makes cluster n + k), the mean `z` between them, the merged size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Merge {
    pub left: usize,
    pub right: usize,
    pub mean_z: f64,
    pub size: usize,
}

/// The dendrogram of `n` models.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub n: usize,
    /// `zmax + 1`.
    pub top: f64,
    pub merges: Vec<Merge>,
}

impl Tree {
    /// Average linkage of `n` models on their pairs' `z` (`z[a * n + b]`, NaN where a pair has
    /// no test: counted as 0).
    pub fn of(z: &[f64], n: usize) -> Tree {
        let at = |a: usize, b: usize| {
            let v = z[a * n + b];
            if v.is_finite() { v } else { 0.0 }
        };
        let pairs = || (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b)));
        let top = pairs().map(|(a, b)| at(a, b)).fold(0.0, f64::max) + 1.0;
        if n < 2 {
            return Tree { n, top, merges: Vec::new() };
        }
        let mut condensed: Vec<f64> = pairs().map(|(a, b)| top - at(a, b)).collect();
        let dendrogram = kodama::linkage(&mut condensed, n, kodama::Method::Average);
        let merges = dendrogram
            .steps()
            .iter()
            .map(|s| Merge { left: s.cluster1, right: s.cluster2, mean_z: top - s.dissimilarity, size: s.size })
            .collect();
        Tree { n, top, merges }
    }

    /// Family labels (0, 1, ... in order of first appearance) at a cut: clusters merge while
    /// the merge's mean `z` is at least `cut`; no cut leaves every model alone.
    pub fn labels(&self, cut: Option<f64>) -> Vec<usize> {
        let n = self.n;
        let mut parent: Vec<usize> = (0..2 * n.max(1)).collect();
        fn root(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        if let Some(cut) = cut {
            for (k, m) in self.merges.iter().enumerate() {
                // The dissimilarity test of the cut before the tree, `top - mean_z <= top - cut`.
                if self.top - m.mean_z <= self.top - cut + 1e-12 {
                    for c in [m.left, m.right] {
                        let r = root(&mut parent, c);
                        parent[r] = n + k;
                    }
                }
            }
        }
        let mut seen: Vec<usize> = Vec::new();
        (0..n)
            .map(|i| {
                let r = root(&mut parent, i);
                seen.iter().position(|&s| s == r).unwrap_or_else(|| {
                    seen.push(r);
                    seen.len() - 1
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::relatedness;

    fn planted() -> (Vec<f64>, usize) {
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
        (z, n)
    }

    #[test]
    fn cutting_the_tree_is_the_single_cut_of_before() {
        let (z, n) = planted();
        let tree = Tree::of(&z, n);
        assert_eq!(tree.merges.len(), n - 1);
        assert_eq!(tree.top, 9.0);
        for cut in [0.1, 1.0 / 6.0, 3.0, 4.0, 4.5, 6.5, 9.0] {
            assert_eq!(tree.labels(Some(cut)), relatedness::families(&z, n, cut), "cut {cut}");
        }
        assert_eq!(tree.labels(None), vec![0, 1, 2, 3, 4, 5]);
        // The first merge is the closest pair, at its own z; cluster numbers follow scipy's.
        assert_eq!(tree.merges[0], Merge { left: 0, right: 1, mean_z: 8.0, size: 2 });
        assert_eq!(tree.merges[1].left, 2);
        assert_eq!(tree.merges[1].right, n);
        assert!((tree.merges[1].mean_z - 6.5).abs() < 1e-12);
        assert_eq!(Tree::of(&[0.0], 1).labels(Some(1.0)), vec![0]);
    }

    #[test]
    fn the_levels_nest_and_follow_their_false_discovery_rates() {
        let tests = [(9.0, 1e-9), (6.0, 1e-7), (3.0, 0.01), (2.5, 0.04), (2.0, 0.2), (1.0, 0.6)];
        let cuts = level_cuts(&tests);
        assert_eq!(cuts.map(|c| c.1), [Some(6.0), Some(2.5), Some(2.0)]);
        assert_eq!(cuts.map(|c| c.0), FamilyLevel::ALL);
        // No pair at 1e-6: no near copies; none at 0.3: no level at all.
        assert_eq!(level_cuts(&[(3.0, 0.01), (2.0, 0.2)]).map(|c| c.1), [None, Some(3.0), Some(2.0)]);
        assert_eq!(level_cuts(&[(1.0, 0.9)]).map(|c| c.1), [None, None, None]);
        // Levels nest: every near-copy family lies inside a close family, inside a vendor line.
        let (z, n) = planted();
        let tree = Tree::of(&z, n);
        let [near, close, vendor] = [Some(7.5), Some(4.0), Some(0.9)].map(|c| tree.labels(c));
        for a in 0..n {
            for b in 0..n {
                assert!(near[a] != near[b] || close[a] == close[b]);
                assert!(close[a] != close[b] || vendor[a] == vendor[b]);
            }
        }
    }
}
