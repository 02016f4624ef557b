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

/// The distinctive phrases of one probe: each model's word 4-grams that are not shared (fewer
/// than half the answering models used them), as hashes of their words (the same phrase hashes
/// alike on every probe), sorted; models in input order. The raw material of `phrase_uptake`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PhraseOverlap {
    pub models: Vec<String>,
    pub distinctive: Vec<Vec<u64>>,
}

/// A model's *signature* phrases: distinctive phrases it used on at least this share of the
/// probes it answered (stock phrases, openers, closers: its own recurring wording).
pub const SIGNATURE_RATE: f64 = 0.05;

/// ... and on at least this many probes: a rate read off fewer recurrences is mostly chance (its
/// relative standard error, 1/sqrt(k) for k recurrences, is above 45%), and on a small suite
/// such phrases came and went night by night, moving a pair's uptake by steps as large as a
/// phrase taken up (`benches/alert_quality`: 40 probes, one pair in a few hundred a night).
pub const SIGNATURE_MIN_PROBES: u32 = 5;

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
    let overlap = overlap(models, &vocabulary, &sets, &users, needed);
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

/// Each model's distinctive phrases of one probe (see [`PhraseOverlap`]).
fn overlap(
    models: &[(String, Vec<Vec<String>>)],
    vocabulary: &[&str],
    sets: &[FastSet<&[u32]>],
    users: &FastMap<&[u32], usize>,
    needed: usize,
) -> PhraseOverlap {
    use std::hash::{Hash, Hasher};
    // A fixed hasher: the same words hash alike on every probe and every run.
    let hash = |g: &[u32]| {
        let mut h = std::hash::DefaultHasher::new();
        g.iter().for_each(|&w| vocabulary[w as usize].hash(&mut h));
        h.finish()
    };
    let distinctive = sets
        .iter()
        .map(|mine| {
            let mut own: Vec<u64> = mine.iter().filter(|g| users[*g] < needed).map(|g| hash(g)).collect();
            own.sort_unstable();
            own.dedup();
            own
        })
        .collect();
    PhraseOverlap { models: models.iter().map(|(m, _)| m.clone()).collect(), distinctive }
}

/// `phrase_uptake` of each pair of `names` over a run's probes. A model's rate of a phrase is
/// the share of the probes it answered on which the phrase was distinctive in its answers; its
/// signature phrases are those at [`SIGNATURE_RATE`] or more, less any phrase that is a signature
/// of at least half the models (the ecosystem's wording, not a model's own). A pair's uptake is
/// the weighted Jaccard of the two models' rates over the union of their signatures,
/// sum min(rate of one, rate of the other) / sum max(...): 0 for two models that never use each
/// other's recurring wording, 1 for the same wording at the same rates. A model taking up
/// another's stock phrases raises it for that pair; the whole ecosystem taking up the same words
/// does not (they stop being distinctive). Returns (i, j, value, probes) for i < j indexes into
/// `names`, probes being the fewer of the two models' answered probes; pairs without a signature
/// phrase left out.
pub fn phrase_uptake<'a>(
    names: &[String],
    probes: impl IntoIterator<Item = &'a PhraseOverlap>,
) -> Vec<(usize, usize, f64, usize)> {
    let m = names.len();
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let mut counts: Vec<FastMap<u64, u32>> = vec![FastMap::default(); m];
    let mut answered = vec![0usize; m];
    for probe in probes {
        for (name, own) in probe.models.iter().zip(&probe.distinctive) {
            let Some(&i) = index.get(name.as_str()) else { continue };
            answered[i] += 1;
            own.iter().for_each(|g| *counts[i].entry(*g).or_default() += 1);
        }
    }
    let rate = |i: usize, g: u64| counts[i].get(&g).map_or(0.0, |&k| f64::from(k) / answered[i] as f64);
    let recurring = |i: usize, g: u64| rate(i, g) >= SIGNATURE_RATE && counts[i][&g] >= SIGNATURE_MIN_PROBES;
    let signatures: Vec<Vec<u64>> =
        (0..m).map(|i| counts[i].keys().copied().filter(|&g| recurring(i, g)).collect()).collect();
    let mut holders: FastMap<u64, usize> = FastMap::default();
    signatures.iter().flatten().for_each(|g| *holders.entry(*g).or_default() += 1);
    let common = m.div_ceil(2).max(2);
    // Sorted, so that every sum below runs in one order (the maps' order is per process: the
    // same run measured twice must give the same bits).
    let signatures: Vec<Vec<u64>> = signatures
        .into_iter()
        .map(|s| {
            let mut own: Vec<u64> = s.into_iter().filter(|g| holders[g] < common).collect();
            own.sort_unstable();
            own
        })
        .collect();
    let mut out = Vec::new();
    for i in 0..m {
        for j in i + 1..m {
            let (mut low, mut high) = (0.0, 0.0);
            for g in sorted_union(&signatures[i], &signatures[j]) {
                let (a, b) = (rate(i, g), rate(j, g));
                low += a.min(b);
                high += a.max(b);
            }
            if high > 0.0 {
                out.push((i, j, low / high, answered[i].min(answered[j])));
            }
        }
    }
    out
}

/// The union of two sorted, deduplicated lists, in order.
fn sorted_union<'a>(a: &'a [u64], b: &'a [u64]) -> impl Iterator<Item = u64> + 'a {
    let (mut i, mut j) = (0, 0);
    std::iter::from_fn(move || {
        let (x, y) = (a.get(i).copied(), b.get(j).copied());
        let next = match (x, y) {
            (None, None) => return None,
            (Some(x), Some(y)) if x == y => x,
            (Some(x), Some(y)) => x.min(y),
            (Some(x), None) => x,
            (None, Some(y)) => y,
        };
        i += usize::from(x == Some(next));
        j += usize::from(y == Some(next));
        Some(next)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One model's answers to a probe, as words.
    fn model(name: &str, texts: &[&str]) -> (String, Vec<Vec<String>>) {
        (name.to_owned(), texts.iter().map(|t| words(t)).collect())
    }

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
        let models = vec![
            model("a", &["I hope this helps you today"]),
            model("b", &["Sure thing, I hope this helps"]),
            model("c", &["Completely different words here entirely"]),
        ];
        let lex = probe_phrases(&models);
        assert_eq!(lex.shared, vec![("i hope this helps".to_owned(), 2)]);
        // 4 + 4 covered of 6 + 6 + 5 positions.
        assert!((lex.shared_share.unwrap() - 8.0 / 17.0).abs() < 1e-12);
        // One model alone shares nothing, however often it repeats itself.
        let alone = probe_phrases(&[model("a", &["i hope this helps", "i hope this helps"])]);
        assert!(alone.shared.is_empty());
    }

    #[test]
    fn the_union_of_two_sorted_lists_is_sorted_and_whole() {
        let u: Vec<u64> = sorted_union(&[1, 4, 6, 9], &[2, 4, 9, 11]).collect();
        assert_eq!(u, [1, 2, 4, 6, 9, 11]);
        assert_eq!(sorted_union(&[], &[3]).collect::<Vec<_>>(), [3]);
        assert_eq!(sorted_union(&[], &[]).count(), 0);
    }

    #[test]
    fn a_phrase_most_models_use_is_not_distinctive() {
        let models = vec![
            model("a", &["the answer is simple let's delve into it now"]),
            model("b", &["the answer is simple let's delve into it now"]),
            model("c", &["the answer is simple quite another phrase here too"]),
            model("d", &["the answer is simple yet more words of mine"]),
        ];
        let lex = probe_phrases(&models);
        // 9 words -> 6 4-grams; "the answer is simple" is shared (4 of 4); a and b's other five
        // are used by two of four models: shared too (half are needed); c's and d's are their own.
        assert_eq!(lex.overlap.distinctive.iter().map(Vec::len).collect::<Vec<_>>(), vec![0, 0, 5, 5]);
        // The same words hash alike on another probe.
        let again = probe_phrases(&[model("d", &["the answer is simple yet more words of mine"])]);
        assert_eq!(again.overlap.distinctive[0].len(), 6);
        assert!(lex.overlap.distinctive[3].iter().all(|g| again.overlap.distinctive[0].contains(g)));
    }

    #[test]
    fn a_model_taking_up_anothers_signature_raises_that_pairs_uptake_only() {
        let names: Vec<String> = ["a", "b", "c", "d", "e", "f"].iter().map(|s| (*s).to_owned()).collect();
        // Ten probes. a's signature: phrase 1 on every probe; c's: 3; d's: 4; e's 5; f's 6.
        // b uses a's phrase 1 on five probes of ten (rate 0.5) and its own 2 on every probe;
        // phrase 9 is every model's: a signature of all, so nobody's own.
        let probe = |b_takes: bool| PhraseOverlap {
            models: names.clone(),
            distinctive: vec![
                vec![1, 9],
                if b_takes { vec![1, 2, 9] } else { vec![2, 9] },
                vec![3, 9],
                vec![4, 9],
                vec![5, 9],
                vec![6, 9],
            ],
        };
        let probes: Vec<PhraseOverlap> = (0..10).map(|k| probe(k % 2 == 0)).collect();
        let uptake = phrase_uptake(&names, &probes);
        assert_eq!(uptake.len(), 15);
        // a|b: over {1, 2}: min 0.5 + 0 over max 1 + 1.
        assert_eq!(uptake[0], (0, 1, 0.25, 10));
        assert!(uptake[1..].iter().all(|&(_, _, v, n)| v == 0.0 && n == 10), "{uptake:?}");
        // On four probes nothing recurs on the SIGNATURE_MIN_PROBES it takes to be a signature.
        assert!(phrase_uptake(&names, &probes[..4]).is_empty());
    }
}
