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
    /// Which models used the same distinctive phrases ([`PhraseOverlap`]).
    pub overlap: PhraseOverlap,
}

/// The distinctive phrases of one probe: a model's word 4-grams that are not shared (fewer
/// than half the answering models used them). Per model (in input order) how many it used,
/// and per pair of models how many of them both used: the raw counts of `phrase_uptake`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PhraseOverlap {
    pub models: Vec<String>,
    pub distinctive: Vec<u32>,
    /// (i, j, phrases both used) with i < j indexes into `models`; pairs with none left out.
    pub common: Vec<(u32, u32, u32)>,
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
    let sets: Vec<FastSet<&[u32]>> =
        coded.iter().map(|texts| texts.iter().flat_map(|t| t.windows(PHRASE_WORDS)).collect()).collect();
    for mine in &sets {
        for g in mine {
            *users.entry(g).or_default() += 1;
        }
    }
    let needed = answering.div_ceil(2).max(2);
    let overlap = overlap(models, &sets, &users, needed);
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
        overlap,
    }
}

/// The distinctive phrases each model used and those each pair used both (see [`PhraseOverlap`]).
fn overlap(
    models: &[(String, Vec<Vec<String>>)],
    sets: &[FastSet<&[u32]>],
    users: &FastMap<&[u32], usize>,
    needed: usize,
) -> PhraseOverlap {
    let mut distinctive = vec![0u32; sets.len()];
    let mut by_phrase: FastMap<&[u32], Vec<u32>> = FastMap::default();
    for (i, mine) in sets.iter().enumerate() {
        for &g in mine {
            let n = users[&g];
            if n < needed {
                distinctive[i] += 1;
                if n >= 2 {
                    by_phrase.entry(g).or_default().push(i as u32);
                }
            }
        }
    }
    let mut common: FastMap<(u32, u32), u32> = FastMap::default();
    for who in by_phrase.values() {
        for (k, &i) in who.iter().enumerate() {
            for &j in &who[k + 1..] {
                *common.entry((i.min(j), i.max(j))).or_default() += 1;
            }
        }
    }
    let mut common: Vec<(u32, u32, u32)> = common.into_iter().map(|((i, j), n)| (i, j, n)).collect();
    common.sort_unstable();
    PhraseOverlap { models: models.iter().map(|(m, _)| m.clone()).collect(), distinctive, common }
}

/// `phrase_uptake` of each pair of `names` over a run's probes: the Dice overlap of the two
/// models' distinctive phrases, pooled over the probes both answered,
/// 2 x (phrases both used) / (distinctive phrases of one + of the other). 0 for two models that
/// never reuse each other's own wording, up to 1; a model taking up another's stock phrases
/// raises it for that pair, while phrases most models use (an ecosystem-wide move) are not
/// distinctive and leave it be. Returns (i, j, value, probes) for i < j indexes into `names`.
pub fn phrase_uptake<'a>(
    names: &[String],
    probes: impl IntoIterator<Item = &'a PhraseOverlap>,
) -> Vec<(usize, usize, f64, usize)> {
    let m = names.len();
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    // Per pair (i < j, row-major over the upper triangle): phrases both used, denominators, probes.
    let at = |i: usize, j: usize| i * m + j;
    let mut sums = vec![(0u64, 0u64, 0usize); m * m];
    for probe in probes {
        let global: Vec<Option<usize>> = probe.models.iter().map(|n| index.get(n.as_str()).copied()).collect();
        let present: Vec<(usize, u32)> = global
            .iter()
            .zip(&probe.distinctive)
            .filter_map(|(g, &d)| Some((((*g)?), d)))
            .filter(|&(_, d)| d > 0)
            .collect();
        for (k, &(i, di)) in present.iter().enumerate() {
            for &(j, dj) in &present[k + 1..] {
                let s = &mut sums[at(i.min(j), i.max(j))];
                s.1 += u64::from(di) + u64::from(dj);
                s.2 += 1;
            }
        }
        for &(i, j, n) in &probe.common {
            if let (Some(a), Some(b)) = (global[i as usize], global[j as usize]) {
                sums[at(a.min(b), a.max(b))].0 += u64::from(n);
            }
        }
    }
    let mut out = Vec::new();
    for i in 0..m {
        for j in i + 1..m {
            let (both, total, n) = sums[at(i, j)];
            if total > 0 {
                out.push((i, j, 2.0 * both as f64 / total as f64, n));
            }
        }
    }
    out
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

    #[test]
    fn a_model_taking_up_anothers_own_phrases_raises_that_pairs_uptake_only() {
        let m = |name: &str, texts: &[&str]| (name.to_owned(), texts.iter().map(|t| words(t)).collect::<Vec<_>>());
        // Everyone says "the answer is simple" (shared: not distinctive); a coins "let's delve into
        // it now", b takes it up, the others keep to their own words.
        let models = vec![
            m("a", &["the answer is simple let's delve into it now"]),
            m("b", &["the answer is simple let's delve into it now"]),
            m("c", &["the answer is simple quite another phrase here too"]),
            m("d", &["the answer is simple yet more words of mine"]),
            m("e", &["the answer is simple so says model e today"]),
            m("f", &["the answer is simple and f agrees with that"]),
        ];
        let lex = probe_phrases(&models);
        // Each text: 9 words -> 6 4-grams; "the answer is simple" is shared (6 of 6), the other 5
        // are the model's own (a phrase two of six models use is not shared: half are needed).
        assert_eq!(lex.overlap.distinctive, vec![5; 6]);
        assert_eq!(lex.overlap.common, vec![(0, 1, 5)]);
        let names: Vec<String> = ["a", "b", "c", "d", "e", "f"].iter().map(|s| (*s).to_owned()).collect();
        let uptake = phrase_uptake(&names, [&lex.overlap]);
        assert_eq!(uptake.len(), 15);
        assert_eq!(uptake[0], (0, 1, 1.0, 1), "a|b use each other's distinctive phrases");
        assert!(uptake[1..].iter().all(|&(_, _, v, n)| v == 0.0 && n == 1), "{uptake:?}");
    }

    #[test]
    fn uptake_pools_probes_and_skips_models_absent_from_a_probe() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| (*s).to_owned()).collect();
        let one =
            PhraseOverlap { models: vec!["b".into(), "a".into()], distinctive: vec![10, 10], common: vec![(0, 1, 2)] };
        let two = PhraseOverlap {
            models: vec!["a".into(), "b".into(), "c".into()],
            distinctive: vec![20, 0, 10],
            common: vec![(0, 2, 3)],
        };
        let uptake = phrase_uptake(&names, [&one, &two]);
        // a|b: 2 x 2 / (10 + 10) from the first probe only (b had no distinctive phrase in the second).
        assert_eq!(uptake, vec![(0, 1, 0.2, 1), (0, 2, 0.2, 1)]);
    }
}
