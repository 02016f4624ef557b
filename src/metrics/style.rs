//! The style signal: how alike two models *write* on a probe, from the per-answer style features
//! of [`crate::features::style`] (research: `datasets/research/relatedness-v3/SPEC.md`, S2-S3).
//!
//! Scaling, over all N answers of the run that have a style ([`ScalingFit`]): each column's mean
//! `mu_f` and population SD `sd_f` (a column with `sd_f <= 1e-12` is dropped);
//! `x'_f = clamp((x_f - mu_f) / sd_f, -4, 4)`. With `G` the groups that keep a column plus 2
//! (the opener and closer words), a kept column of a group with `n_g` kept columns weighs
//! `w_f = 1 / (G n_g)`, so every group weighs `1/G`; a word block weighs
//! `(1/G) / (1 - sum_k p_k^2)` (`p_k` the share of answers whose word is k; 0 when that is
//! `<= 1e-9`), which gives the one-hot block the expected "variance" of a standardised column.
//!
//! Per probe ([`StyleProbe::similarity_matrix`]), for models a != b with samples i, j:
//! `S_p(a, b) = sum_f w_f xbar_af xbar_bf + w_open mean_ij [open_ai = open_bj]
//! + w_close mean_ij [close_ai = close_bj]`, an inner product of weighted standardised vectors
//! (one-hot blocks for the words), so double centring it is the same as for the content
//! similarity. It is calibrated alone exactly as the content is ([`super::relatedness`]) and
//! fused with it ([`super::fusion`]).

use std::collections::{BTreeMap, HashMap};

use crate::features::style::FEATURES;

/// Standardised values are clipped to this many SDs.
const CLIP: f64 = 4.0;

/// Running moments of every column and the word counts, over a run's answers.
#[derive(Debug, Clone)]
pub struct ScalingFit {
    /// Each column's group (features of one group share its weight).
    groups: Vec<usize>,
    n: usize,
    mean: Vec<f64>,
    m2: Vec<f64>,
    open: HashMap<String, usize>,
    close: HashMap<String, usize>,
}

impl ScalingFit {
    /// A fit over columns of the given groups (any labels).
    pub fn new(groups: Vec<usize>) -> Self {
        let k = groups.len();
        ScalingFit { groups, n: 0, mean: vec![0.0; k], m2: vec![0.0; k], open: HashMap::new(), close: HashMap::new() }
    }

    /// The fit of `style-v1`'s 53 columns.
    pub fn style_v1() -> Self {
        ScalingFit::new(FEATURES.iter().map(|(_, g)| *g as usize).collect())
    }

    /// One answer: its raw values (by column), opener and closer words.
    pub fn push(&mut self, values: &[f64], opener: &str, closer: &str) {
        self.n += 1;
        for ((mean, m2), &x) in self.mean.iter_mut().zip(&mut self.m2).zip(values) {
            let delta = x - *mean;
            *mean += delta / self.n as f64;
            *m2 += delta * (x - *mean);
        }
        *self.open.entry(opener.to_owned()).or_default() += 1;
        *self.close.entry(closer.to_owned()).or_default() += 1;
    }

    /// The scaling; None with fewer than two answers (no style signal then).
    pub fn finish(self) -> Option<Scaling> {
        if self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        let sd: Vec<f64> = self.m2.iter().map(|m2| (m2 / n).max(0.0).sqrt()).collect();
        let keep: Vec<usize> = (0..sd.len()).filter(|&f| sd[f] > 1e-12).collect();
        let mut per_group: BTreeMap<usize, usize> = BTreeMap::new();
        for &f in &keep {
            *per_group.entry(self.groups[f]).or_default() += 1;
        }
        let g = (per_group.len() + 2) as f64;
        let w = keep.iter().map(|&f| 1.0 / (g * per_group[&self.groups[f]] as f64)).collect();
        let block = |counts: &HashMap<String, usize>| {
            let h = 1.0 - counts.values().map(|&c| (c as f64 / n).powi(2)).sum::<f64>();
            if h > 1e-9 { (1.0 / g) / h } else { 0.0 }
        };
        let ids = |counts: HashMap<String, usize>| -> HashMap<String, u32> {
            let mut words: Vec<String> = counts.into_keys().collect();
            words.sort_unstable();
            words.into_iter().enumerate().map(|(i, w)| (w, i as u32)).collect()
        };
        let (w_open, w_close) = (block(&self.open), block(&self.close));
        Some(Scaling {
            mean: keep.iter().map(|&f| self.mean[f]).collect(),
            sd: keep.iter().map(|&f| sd[f]).collect(),
            keep,
            w,
            w_open,
            w_close,
            open_ids: ids(self.open),
            close_ids: ids(self.close),
        })
    }
}

/// A run's style scaling: which columns count, their centre, spread and weight, and the words.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    /// The kept columns (indices into the raw values).
    pub keep: Vec<usize>,
    /// Mean and population SD of each kept column over the run's answers.
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
    /// `w_f` of each kept column.
    w: Vec<f64>,
    pub w_open: f64,
    pub w_close: f64,
    open_ids: HashMap<String, u32>,
    close_ids: HashMap<String, u32>,
}

/// One answer, scaled: `sqrt(w_f) x'_f` of the kept columns, and its word ids.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaledStyle {
    pub x: Vec<f64>,
    pub opener: u32,
    pub closer: u32,
}

impl Scaling {
    /// The weights `w_f` of the kept columns.
    pub fn weights(&self) -> &[f64] {
        &self.w
    }

    /// An answer of the run, scaled (its words must have been seen by the fit; an unseen word
    /// gets an id of its own, matching nothing).
    pub fn scale(&self, values: &[f64], opener: &str, closer: &str) -> ScaledStyle {
        let x = (self.keep.iter().enumerate())
            .map(|(i, &f)| ((values[f] - self.mean[i]) / self.sd[i]).clamp(-CLIP, CLIP) * self.w[i].sqrt())
            .collect();
        let id = |ids: &HashMap<String, u32>, w: &str| ids.get(w).copied().unwrap_or(u32::MAX);
        ScaledStyle { x, opener: id(&self.open_ids, opener), closer: id(&self.close_ids, closer) }
    }

    /// Bytes of a scaled answer (for the measure stage's spill): the values, then the two ids.
    pub fn to_bytes(s: &ScaledStyle) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 * s.x.len() + 8);
        out.extend(s.x.iter().flat_map(|v| v.to_le_bytes()));
        out.extend(s.opener.to_le_bytes());
        out.extend(s.closer.to_le_bytes());
        out
    }

    /// The inverse of [`Scaling::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> ScaledStyle {
        let (values, ids) = bytes.split_at(bytes.len() - 8);
        let x = values.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
        let id = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
        ScaledStyle { x, opener: id(&ids[..4]), closer: id(&ids[4..]) }
    }
}

/// The style of one probe's models (sorted by name): each model's mean scaled vector and the
/// shares of its samples' opener and closer words.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleProbe {
    pub models: Vec<String>,
    /// Row-major models x kept columns.
    xbar: Vec<f64>,
    dim: usize,
    open: Vec<Vec<(u32, f64)>>,
    close: Vec<Vec<(u32, f64)>>,
    w_open: f64,
    w_close: f64,
}

/// Word shares of a model's samples, by word id.
fn shares(ids: impl Iterator<Item = u32>, n: usize) -> Vec<(u32, f64)> {
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for id in ids {
        *counts.entry(id).or_default() += 1;
    }
    counts.into_iter().map(|(id, c)| (id, c as f64 / n as f64)).collect()
}

impl StyleProbe {
    /// From each model's scaled samples (models with none are left out); None when no model
    /// has a sample.
    pub fn of(samples: &BTreeMap<String, Vec<ScaledStyle>>, scaling: &Scaling) -> Option<StyleProbe> {
        let present: Vec<(&String, &Vec<ScaledStyle>)> = samples.iter().filter(|(_, s)| !s.is_empty()).collect();
        if present.is_empty() {
            return None;
        }
        let dim = scaling.keep.len();
        let mut xbar = Vec::with_capacity(present.len() * dim);
        for (_, rows) in &present {
            let n = rows.len() as f64;
            xbar.extend((0..dim).map(|f| rows.iter().map(|r| r.x[f]).sum::<f64>() / n));
        }
        Some(StyleProbe {
            models: present.iter().map(|(m, _)| (*m).clone()).collect(),
            xbar,
            dim,
            open: present.iter().map(|(_, r)| shares(r.iter().map(|s| s.opener), r.len())).collect(),
            close: present.iter().map(|(_, r)| shares(r.iter().map(|s| s.closer), r.len())).collect(),
            w_open: scaling.w_open,
            w_close: scaling.w_close,
        })
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// `S_p` as a row-major M x M matrix (its diagonal is each model with itself; the centring
    /// ignores it).
    pub fn similarity_matrix(&self) -> Vec<f64> {
        let m = self.len();
        let row = |a: usize| &self.xbar[a * self.dim..(a + 1) * self.dim];
        let mut s = vec![0.0; m * m];
        for a in 0..m {
            for b in a..m {
                let v = row(a).iter().zip(row(b)).map(|(x, y)| x * y).sum::<f64>();
                s[a * m + b] = v;
                s[b * m + a] = v;
            }
        }
        for (block, w) in [(&self.open, self.w_open), (&self.close, self.w_close)] {
            if w == 0.0 {
                continue;
            }
            let mut by_word: BTreeMap<u32, Vec<(usize, f64)>> = BTreeMap::new();
            for (a, words) in block.iter().enumerate() {
                for &(id, share) in words {
                    by_word.entry(id).or_default().push((a, share));
                }
            }
            for holders in by_word.values() {
                for &(a, pa) in holders {
                    for &(b, pb) in holders {
                        s[a * m + b] += w * pa * pb;
                    }
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_weigh_alike_and_the_similarity_is_the_weighted_inner_product() {
        // Two groups: A with two columns, B with one; a constant column is dropped.
        let rows = [
            ([1.0, 0.0, 2.0, 5.0], "sure", "hope"),
            ([3.0, 1.0, 0.0, 5.0], "the", "hope"),
            ([0.5, 2.0, 1.0, 5.0], "the", "it"),
            ([2.0, 1.0, 1.0, 5.0], "here", "it"),
        ];
        let mut fit = ScalingFit::new(vec![0, 0, 1, 2]);
        for (v, o, c) in &rows {
            fit.push(v, o, c);
        }
        let scaling = fit.finish().unwrap();
        assert_eq!(scaling.keep, vec![0, 1, 2]);
        // G = 2 groups + 2 word blocks.
        assert_eq!(scaling.weights(), [0.125, 0.125, 0.25]);
        // Openers: shares 1/4, 1/2, 1/4 -> h = 1 - 6/16; closers 1/2, 1/2 -> h = 1/2.
        assert!((scaling.w_open - 0.25 / (1.0 - 6.0 / 16.0)).abs() < 1e-15);
        assert!((scaling.w_close - 0.5).abs() < 1e-15);
        let scaled: Vec<ScaledStyle> = rows.iter().map(|(v, o, c)| scaling.scale(v, o, c)).collect();
        assert_eq!(Scaling::from_bytes(&Scaling::to_bytes(&scaled[1])), scaled[1]);
        let samples: BTreeMap<String, Vec<ScaledStyle>> =
            scaled.iter().enumerate().map(|(i, s)| (format!("m{i}"), vec![s.clone()])).collect();
        let probe = StyleProbe::of(&samples, &scaling).unwrap();
        let s = probe.similarity_matrix();
        // Direct: standardise by hand.
        let col = |f: usize| rows.iter().map(|r| r.0[f]).collect::<Vec<f64>>();
        let z = |f: usize, i: usize| {
            let c = col(f);
            let mu = c.iter().sum::<f64>() / 4.0;
            let sd = (c.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / 4.0).sqrt();
            (c[i] - mu) / sd
        };
        for a in 0..4 {
            for b in 0..4 {
                let mut want = (0..3).map(|f| [0.125, 0.125, 0.25][f] * z(f, a) * z(f, b)).sum::<f64>();
                want += scaling.w_open * f64::from(u8::from(rows[a].1 == rows[b].1));
                want += scaling.w_close * f64::from(u8::from(rows[a].2 == rows[b].2));
                assert!((s[a * 4 + b] - want).abs() < 1e-12, "{a} {b}");
            }
        }
    }

    #[test]
    fn several_samples_count_word_matches_over_all_pairs_of_samples() {
        let mut fit = ScalingFit::new(vec![0]);
        for (x, o) in [(0.0, "a"), (1.0, "b"), (2.0, "a"), (3.0, "c")] {
            fit.push(&[x], o, "z");
        }
        let scaling = fit.finish().unwrap();
        assert_eq!(scaling.w_close, 0.0, "one closer for every answer says nothing");
        let s = |x: f64, o: &str| scaling.scale(&[x], o, "z");
        let samples: BTreeMap<String, Vec<ScaledStyle>> = [
            ("p".to_owned(), vec![s(0.0, "a"), s(1.0, "b")]),
            ("q".to_owned(), vec![s(2.0, "a"), s(3.0, "a"), s(3.0, "c")]),
        ]
        .into_iter()
        .collect();
        let probe = StyleProbe::of(&samples, &scaling).unwrap();
        let m = probe.similarity_matrix();
        let xp = (samples["p"][0].x[0] + samples["p"][1].x[0]) / 2.0;
        let xq = samples["q"].iter().map(|r| r.x[0]).sum::<f64>() / 3.0;
        // (a, a) twice over 2 x 3 sample pairs.
        let want = xp * xq + scaling.w_open * 2.0 / 6.0;
        assert!((m[1] - want).abs() < 1e-12 && (m[2] - want).abs() < 1e-12);
        assert!(ScalingFit::new(vec![0]).finish().is_none());
    }
}
