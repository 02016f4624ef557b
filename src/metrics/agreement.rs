//! Agreement of models on categorical judgements (e.g. "refused this probe or not").

/// Fleiss' kappa for N items each rated by the same number n >= 2 of raters into k categories.
/// `counts[i][j]` is how many raters put item i in category j.
///
/// `P_i = (sum_j n_ij^2 - n) / (n (n - 1))`, `P_bar = mean_i P_i`,
/// `p_j = sum_i n_ij / (N n)`, `P_e = sum_j p_j^2`, `kappa = (P_bar - P_e) / (1 - P_e)`.
/// `None` when undefined: no items, unequal rater counts, fewer than 2 raters, or `P_e = 1`
/// (every rating in one category: perfect agreement that chance alone explains).
pub fn fleiss_kappa(counts: &[Vec<u32>]) -> Option<f64> {
    let n = counts.first()?.iter().sum::<u32>();
    if n < 2 || counts.iter().any(|row| row.iter().sum::<u32>() != n) {
        return None;
    }
    let (items, n) = (counts.len() as f64, f64::from(n));
    let k = counts[0].len();
    let p_bar = counts
        .iter()
        .map(|row| (row.iter().map(|&c| f64::from(c) * f64::from(c)).sum::<f64>() - n) / (n * (n - 1.0)))
        .sum::<f64>()
        / items;
    let p_e: f64 = (0..k)
        .map(|j| {
            let p = counts.iter().map(|row| f64::from(row[j])).sum::<f64>() / (items * n);
            p * p
        })
        .sum();
    ((1.0 - p_e).abs() > 1e-12).then(|| (p_bar - p_e) / (1.0 - p_e))
}

/// Shannon entropy in bits of a distribution given by counts: `H = -sum_j p_j log2 p_j`.
pub fn entropy_bits(counts: &[u32]) -> f64 {
    let total: u32 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / f64::from(total);
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleiss_kappa_matches_the_wikipedia_example() {
        // The worked example of Fleiss' kappa on Wikipedia: 10 items, 14 raters, 5 categories;
        // kappa = 0.210.
        let table = vec![
            vec![0, 0, 0, 0, 14],
            vec![0, 2, 6, 4, 2],
            vec![0, 0, 3, 5, 6],
            vec![0, 3, 9, 2, 0],
            vec![2, 2, 8, 1, 1],
            vec![7, 7, 0, 0, 0],
            vec![3, 2, 6, 3, 0],
            vec![2, 5, 3, 2, 2],
            vec![6, 5, 2, 1, 0],
            vec![0, 2, 2, 3, 7],
        ];
        let k = fleiss_kappa(&table).unwrap();
        assert!((k - 0.2099).abs() < 1e-3, "{k}");
        assert_eq!(fleiss_kappa(&[vec![3, 0], vec![2, 0]]), None);
        assert_eq!(fleiss_kappa(&[vec![3, 0], vec![3, 0]]), None);
        assert!((fleiss_kappa(&[vec![3, 0], vec![0, 3]]).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn entropy_in_bits() {
        assert_eq!(entropy_bits(&[4, 0]), 0.0);
        assert!((entropy_bits(&[2, 2]) - 1.0).abs() < 1e-12);
    }
}
