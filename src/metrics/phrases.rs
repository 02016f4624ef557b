//! Lexical convergence: whether models answer one probe in the same words.
//!
//! Texts are split into lower-cased word tokens (letters, digits and inner apostrophes).
//! - `distinct-n` of a probe: distinct word n-grams over all n-grams in the pooled responses of
//!   every model; lower means more repeated phrasing. It falls as more text is pooled, so it is
//!   compared between runs with the same models and samples (the comparability rule of trends).
//! - A *shared phrase* of a probe: a word 4-gram used by at least half of the models that answered
//!   it (and by two at least). Across a run, table `shared_phrases` counts in how many probes
//!   each phrase was shared and by how many models at most.
//! - Shared-phrase share of a probe: the share of its word positions covered by a shared phrase.

use std::collections::{HashMap, HashSet};

// The n-gram sets are this stage's hottest code (a third of the measure stage at 100 models):
// foldhash instead of SipHash. Nothing here depends on iteration order.
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Words in a shared phrase.
pub const PHRASE_WORDS: usize = 4;

/// Lower-cased word tokens of a text.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_alphanumeric() {
            current.push(c.to_ascii_lowercase());
        } else if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
        } else if (c == '\'' || c == '\u{2019}')
            && !current.is_empty()
            && chars.peek().is_some_and(|n| n.is_alphanumeric())
        {
            current.push('\'');
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Distinct n-grams over all n-grams of the token lists (`None` when there is no n-gram).
pub fn distinct_n<'a, T: std::hash::Hash + Eq + 'a>(texts: impl IntoIterator<Item = &'a [T]>, n: usize) -> Option<f64> {
    let mut seen: FastSet<&[T]> = FastSet::default();
    let mut total = 0usize;
    for t in texts {
        for g in t.windows(n) {
            seen.insert(g);
            total += 1;
        }
    }
    (total > 0).then(|| seen.len() as f64 / total as f64)
}

/// The lexical convergence of one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbePhrases {
    pub distinct_1: Option<f64>,
    pub distinct_2: Option<f64>,
    /// Phrases used by at least half the models, with how many models used each.
    pub shared: Vec<(String, usize)>,
    /// Share of word positions covered by a shared phrase.
    pub shared_share: Option<f64>,
}

/// A probe's texts with each distinct word replaced by a number, per model: n-grams then hash
/// a few integers instead of their words' bytes (hashing slices of words was half of the
/// measure stage's CPU on real answers, BENCHMARKS.md).
struct Coded<'a> {
    /// Word of each number.
    vocabulary: Vec<&'a str>,
    /// Per model, per text, its words' numbers.
    models: Vec<Vec<Vec<u32>>>,
}

fn code<'a>(models: &'a [(String, Vec<Vec<String>>)]) -> Coded<'a> {
    let mut numbers: FastMap<&str, u32> = FastMap::default();
    let mut vocabulary: Vec<&str> = Vec::new();
    let mut coded = Vec::with_capacity(models.len());
    for (_, texts) in models {
        let mut mine = Vec::with_capacity(texts.len());
        for text in texts {
            let ids: Vec<u32> = text
                .iter()
                .map(|w| {
                    *numbers.entry(w.as_str()).or_insert_with(|| {
                        vocabulary.push(w.as_str());
                        (vocabulary.len() - 1) as u32
                    })
                })
                .collect();
            mine.push(ids);
        }
        coded.push(mine);
    }
    Coded { vocabulary, models: coded }
}

/// Lexical convergence of one probe from each model's responses (already split into words).
pub fn probe_phrases(models: &[(String, Vec<Vec<String>>)]) -> ProbePhrases {
    let Coded { vocabulary, models: coded } = code(models);
    let pooled = || coded.iter().flatten().map(Vec::as_slice);
    let answering = coded.iter().filter(|t| !t.is_empty()).count();
    let mut users: FastMap<&[u32], usize> = FastMap::default();
    for texts in &coded {
        let mine: FastSet<&[u32]> = texts.iter().flat_map(|t| t.windows(PHRASE_WORDS)).collect();
        for g in mine {
            *users.entry(g).or_default() += 1;
        }
    }
    let needed = answering.div_ceil(2).max(2);
    let shared: FastMap<&[u32], usize> = users.into_iter().filter(|&(_, n)| n >= needed).collect();
    let mut covered = 0usize;
    if !shared.is_empty() {
        for t in pooled() {
            let mut mark = vec![false; t.len()];
            for (i, g) in t.windows(PHRASE_WORDS).enumerate() {
                if shared.contains_key(g) {
                    mark[i..i + PHRASE_WORDS].iter_mut().for_each(|m| *m = true);
                }
            }
            covered += mark.iter().filter(|&&m| m).count();
        }
    }
    let positions: usize = pooled().map(<[u32]>::len).sum();
    let spell = |g: &[u32]| g.iter().map(|&w| vocabulary[w as usize]).collect::<Vec<_>>().join(" ");
    let mut shared: Vec<(String, usize)> = shared.into_iter().map(|(g, n)| (spell(g), n)).collect();
    shared.sort();
    ProbePhrases {
        distinct_1: distinct_n(pooled(), 1),
        distinct_2: distinct_n(pooled(), 2),
        shared,
        shared_share: (positions > 0).then(|| covered as f64 / positions as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_inner_apostrophes() {
        assert_eq!(words("It\u{2019}s  NOT 'quoted', ok? 42x"), vec!["it's", "not", "quoted", "ok", "42x"]);
    }

    #[test]
    fn distinct_n_counts_repeats() {
        let t = [words("a b a b"), words("a b")];
        assert_eq!(distinct_n(t.iter().map(Vec::as_slice), 1), Some(2.0 / 6.0));
        assert_eq!(distinct_n(t.iter().map(Vec::as_slice), 2), Some(2.0 / 4.0));
        assert_eq!(distinct_n([words("one").as_slice()], 2), None);
    }

    #[test]
    fn a_phrase_most_models_use_is_shared_and_covers_their_text() {
        let m = |name: &str, texts: &[&str]| (name.to_owned(), texts.iter().map(|t| words(t)).collect::<Vec<_>>());
        let models = vec![
            m("a", &["I hope this helps you today"]),
            m("b", &["Sure thing, I hope this helps"]),
            m("c", &["Completely different words here entirely"]),
        ];
        let lex = probe_phrases(&models);
        assert_eq!(lex.shared, vec![("i hope this helps".to_owned(), 2)]);
        // 4 + 4 covered of 6 + 6 + 5 positions.
        assert!((lex.shared_share.unwrap() - 8.0 / 17.0).abs() < 1e-12);
        // One model alone shares nothing, however often it repeats itself.
        let alone = probe_phrases(&[m("a", &["i hope this helps", "i hope this helps"])]);
        assert!(alone.shared.is_empty());
    }
}
