//! Behaviour clusters: models grouped by how alike they answer, by average-linkage
//! hierarchical clustering (kodama, a port of fastcluster) cut at a similarity threshold.
//!
//! The similarity clustered is *normalised* by each model's self-similarity:
//! `ns(a, b) = sim(a, b) / sqrt(self(a) self(b))`, with `sim(a, b)` the mean cosine between
//! a's and b's answers and `self(m)` the mean cosine between two samples of m (1 when m has a
//! single sample). Two models that are as alike as resamples of one model have `ns` near 1
//! whatever the embedder's scale, which is what makes one threshold usable for every embedder.

/// Models whose normalised similarity (average linkage) is at least this are one behaviour
/// (one family, per run; one cluster, per probe).
pub const SAME_BEHAVIOUR: f64 = 0.9;

/// `sim / sqrt(self_a self_b)`, where a missing or non-positive self-similarity counts as 1.
pub fn normalised_similarity(sim: f64, self_a: Option<f64>, self_b: Option<f64>) -> f64 {
    let s = |x: Option<f64>| x.filter(|&v| v > 1e-12).unwrap_or(1.0);
    sim / (s(self_a) * s(self_b)).sqrt()
}

/// Cluster labels (0, 1, ... in order of first appearance) of `n` items given their symmetric
/// similarity matrix (row-major, n x n): average linkage on `1 - similarity`, merging while
/// the linkage similarity is at least `threshold`.
pub fn clusters(similarity: &[f64], n: usize, threshold: f64) -> Vec<usize> {
    if n <= 1 {
        return vec![0; n];
    }
    let mut condensed = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let d = 1.0 - similarity[i * n + j];
            condensed.push(if d.is_finite() { d } else { f64::MAX });
        }
    }
    linkage_labels(condensed, n, 1.0 - threshold)
}

/// Cluster labels (0, 1, ... in order of first appearance) of `n` items from their condensed
/// dissimilarities (pairs (0,1), (0,2), ..., (1,2), ...): average linkage, merging while the
/// linkage dissimilarity is at most `max_dissimilarity`.
pub fn linkage_labels(mut condensed: Vec<f64>, n: usize, max_dissimilarity: f64) -> Vec<usize> {
    if n <= 1 {
        return vec![0; n];
    }
    let dendrogram = kodama::linkage(&mut condensed, n, kodama::Method::Average);
    // Union-find over the merges below the cut; kodama names the cluster made at step k `n + k`.
    let mut parent: Vec<usize> = (0..2 * n - 1).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for (k, step) in dendrogram.steps().iter().enumerate() {
        if step.dissimilarity <= max_dissimilarity + 1e-12 {
            for c in [step.cluster1, step.cluster2] {
                let r = root(&mut parent, c);
                parent[r] = n + k;
            }
        }
    }
    let mut labels = vec![usize::MAX; n];
    let mut seen: Vec<usize> = Vec::new();
    for (i, label) in labels.iter_mut().enumerate() {
        let r = root(&mut parent, i);
        *label = seen.iter().position(|&s| s == r).unwrap_or_else(|| {
            seen.push(r);
            seen.len() - 1
        });
    }
    labels
}

/// The number of distinct labels.
pub fn count(labels: &[usize]) -> usize {
    labels.iter().copied().max().map_or(0, |m| m + 1)
}

/// Sizes of each cluster, by label.
pub fn sizes(labels: &[usize]) -> Vec<usize> {
    let mut sizes = vec![0; count(labels)];
    for &l in labels {
        sizes[l] += 1;
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(n: usize, f: impl Fn(usize, usize) -> f64) -> Vec<f64> {
        (0..n * n).map(|k| if k / n == k % n { 1.0 } else { f(k / n, k % n) }).collect()
    }

    #[test]
    fn two_blocks_come_out_as_two_clusters() {
        // Items 0, 2, 4 are alike; 1, 3 are alike; the blocks are far apart.
        let m = matrix(5, |i, j| if i % 2 == j % 2 { 0.95 } else { 0.2 });
        assert_eq!(clusters(&m, 5, SAME_BEHAVIOUR), vec![0, 1, 0, 1, 0]);
        assert_eq!(sizes(&clusters(&m, 5, SAME_BEHAVIOUR)), vec![3, 2]);
        // A low enough threshold merges everything; one above every similarity splits all.
        assert_eq!(count(&clusters(&m, 5, 0.1)), 1);
        assert_eq!(count(&clusters(&m, 5, 0.99)), 5);
    }

    #[test]
    fn identical_items_are_one_cluster_and_order_does_not_change_the_partition() {
        assert_eq!(clusters(&matrix(4, |_, _| 1.0), 4, SAME_BEHAVIOUR), vec![0; 4]);
        let m = matrix(6, |i, j| if i / 3 == j / 3 { 0.93 } else { 0.5 + 0.01 * (i + j) as f64 });
        let labels = clusters(&m, 6, SAME_BEHAVIOUR);
        let perm = [5, 3, 1, 0, 2, 4];
        let permuted = matrix(6, |i, j| m[perm[i] * 6 + perm[j]]);
        let plabels = clusters(&permuted, 6, SAME_BEHAVIOUR);
        for a in 0..6 {
            for b in 0..6 {
                assert_eq!(labels[perm[a]] == labels[perm[b]], plabels[a] == plabels[b]);
            }
        }
        assert_eq!(count(&labels), 2);
    }

    #[test]
    fn normalising_by_self_similarity() {
        assert!((normalised_similarity(0.45, Some(0.5), Some(0.5)) - 0.9).abs() < 1e-12);
        assert_eq!(normalised_similarity(0.7, None, None), 0.7);
        assert_eq!(normalised_similarity(0.7, Some(0.0), None), 0.7);
    }
}
