//! `lexical`: hashed TF over word and character n-grams, L2-normalised. Needs no files.
//!
//! It sees phrasing (shared stock phrases, templates, boilerplate) rather than meaning.
//! Features: word 1- and 2-grams of the lower-cased text, and character 3- to 5-grams of each
//! word padded with spaces. Each feature is hashed (FNV-1a 64, fixed forever: the vectors must
//! not change between releases) into one of [`DIM`] buckets with a hash-derived sign, so
//! collisions cancel in expectation instead of piling up.
//!
//! Weighting: sublinear term frequency (`1 + ln(tf)` for word features; for the far more numerous
//! character n-grams, `ln(1 + |x|)` of each bucket's signed count), times a fixed
//! inverse-document-frequency proxy: word unigrams that are English function words weigh 0.1. A corpus-fitted IDF would make
//! a text's vector depend on the other texts of the night, so it could not be cached by text
//! and two nights would not be comparable; the fixed proxy keeps the vector a function of the
//! text alone. Word and character blocks are normalised separately and mixed 1:1, so long words
//! do not drown the word n-grams.

/// Vector length.
pub const DIM: usize = 2048;
/// The id names every setting that changes the vectors.
pub const ID: &str = "lexical-v1:fnv1a64,words1-2,chars3-5,sublinear-tf,bucket-log1p-chars,stopword-idf0.1,d2048,l2";

/// English function words, weighted 0.1 as word unigrams. A `match` compiles to a switch on
/// length and a few byte comparisons, where a list lookup compared every entry.
fn is_stop_word(w: &str) -> bool {
    matches!(
        w,
        "a" | "an"
            | "the"
            | "and"
            | "or"
            | "but"
            | "if"
            | "of"
            | "to"
            | "in"
            | "on"
            | "at"
            | "by"
            | "for"
            | "with"
            | "from"
            | "as"
            | "is"
            | "are"
            | "was"
            | "were"
            | "be"
            | "been"
            | "being"
            | "it"
            | "its"
            | "this"
            | "that"
            | "these"
            | "those"
            | "i"
            | "you"
            | "he"
            | "she"
            | "we"
            | "they"
            | "me"
            | "my"
            | "your"
            | "our"
            | "their"
            | "not"
            | "no"
            | "so"
            | "do"
            | "does"
            | "did"
            | "have"
            | "has"
            | "had"
            | "can"
            | "could"
            | "would"
            | "should"
            | "will"
            | "there"
            | "than"
            | "then"
            | "which"
            | "who"
            | "what"
            | "when"
            | "how"
    )
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv_feed(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv_feed(FNV_OFFSET, bytes)
}

/// Feature kinds, fed first into the hash so equal strings of different kinds differ.
const WORD: u8 = 1;
const BIGRAM: u8 = 2;
const CHARS: u8 = 3;

/// Adds one block of feature hashes (sorted, so equal features are adjacent and the sums run in
/// a fixed order: the vector is bit-for-bit the same in every process) into `v`, normalised.
fn add_block(v: &mut [f32], hashes: &mut [(u64, f32)], block: &mut [f32]) {
    hashes.sort_unstable_by_key(|&(h, _)| h);
    block.fill(0.0);
    // Buckets touched, to visit only those (in index order, so every sum runs in the same
    // order as over the whole block: skipped buckets would only add +0.0).
    let mut touched = [0u64; DIM / 64];
    let mut i = 0;
    while i < hashes.len() {
        let (h, idf) = hashes[i];
        let mut tf = 0u32;
        while i < hashes.len() && hashes[i].0 == h {
            tf += 1;
            i += 1;
        }
        // 1 + ln 1 = 1 exactly: most features occur once.
        let weight = if tf == 1 { idf } else { (1.0 + (tf as f32).ln()) * idf };
        let sign = if (h >> 63) == 0 { 1.0 } else { -1.0 };
        let bucket = (h % DIM as u64) as usize;
        block[bucket] += sign * weight;
        touched[bucket / 64] |= 1 << (bucket % 64);
    }
    let buckets = || {
        touched.iter().enumerate().flat_map(|(word, &bits)| {
            let mut bits = bits;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let at = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    word * 64 + at
                })
            })
        })
    };
    let norm = buckets().map(|b| block[b] * block[b]).sum::<f32>().sqrt();
    if norm > 0.0 {
        for b in buckets() {
            v[b] += block[b] / norm;
        }
    }
}

/// Character n-grams are many (about three a byte): instead of sorting them to count each, their
/// signed counts are summed per bucket and each bucket is damped by `sign(x) ln(1 + |x|)`, the
/// sublinear weighting applied after hashing.
fn add_char_block(v: &mut [f32], hashes: &[u64], counts: &mut [i32], block: &mut [f32]) {
    counts.fill(0);
    for &h in hashes {
        counts[(h % DIM as u64) as usize] += if (h >> 63) == 0 { 1 } else { -1 };
    }
    // ln(1 + k) from a table for the usual small counts (ln 1 = 0 leaves empty buckets +0.0).
    static LN1P: std::sync::LazyLock<[f32; 64]> =
        std::sync::LazyLock::new(|| std::array::from_fn(|k| (k as f32).ln_1p()));
    let table: &[f32; 64] = &LN1P; // once, not a lazy-initialisation check per bucket
    for (x, &k) in block.iter_mut().zip(counts.iter()) {
        let size = k.unsigned_abs() as usize;
        let damped = if size < 64 { table[size] } else { (size as f32).ln_1p() };
        *x = if k < 0 { -damped } else { damped };
    }
    let norm = block.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (x, b) in v.iter_mut().zip(block.iter()) {
            *x += b / norm;
        }
    }
}

/// Buffers reused from text to text on one thread: embedding allocates only its result.
#[derive(Default)]
struct Scratch {
    lowered: String,
    words: Vec<(usize, usize)>,
    word_features: Vec<(u64, f32)>,
    char_features: Vec<u64>,
    bounds: Vec<usize>,
    padded: Vec<u8>,
    block: Vec<f32>,
    counts: Vec<i32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// The embedding of one text. The empty text gives the zero vector.
pub fn embed(text: &str) -> Vec<f32> {
    SCRATCH.with_borrow_mut(|scratch| embed_with(text, scratch))
}

fn embed_with(text: &str, scratch: &mut Scratch) -> Vec<f32> {
    let Scratch { lowered, words, word_features, char_features, bounds, padded, block, counts } = scratch;
    // Word tokens: maximal runs of alphanumeric characters (any script), lower-cased.
    lowered.clear();
    words.clear();
    for w in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let at = lowered.len();
        if w.is_ascii() {
            lowered.extend(w.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            lowered.extend(w.chars().flat_map(char::to_lowercase));
        }
        words.push((at, lowered.len()));
    }
    let word = |i: usize| &lowered[words[i].0..words[i].1];

    word_features.clear();
    char_features.clear();
    let word_seed = fnv1a64(&[WORD]);
    let bigram_seed = fnv1a64(&[BIGRAM]);
    let char_seed = fnv1a64(&[CHARS]);
    for i in 0..words.len() {
        let w = word(i);
        let idf = if is_stop_word(w) { 0.1 } else { 1.0 };
        word_features.push((fnv_feed(word_seed, w.as_bytes()), idf));
        if i + 1 < words.len() {
            let h = fnv_feed(fnv_feed(fnv_feed(bigram_seed, w.as_bytes()), b" "), word(i + 1).as_bytes());
            word_features.push((h, 1.0));
        }
        // Character 3- to 5-grams of " word ", over chars (not bytes), hashed from their UTF-8;
        // the 3-, 4- and 5-gram at one start share their hash prefix.
        padded.clear();
        padded.push(b' ');
        padded.extend_from_slice(w.as_bytes());
        padded.push(b' ');
        if w.is_ascii() {
            // One byte a char: hash the windows directly.
            for start in 0..padded.len() {
                let mut h = char_seed;
                for (n, &b) in padded[start..padded.len().min(start + 5)].iter().enumerate() {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(FNV_PRIME);
                    if n >= 2 {
                        char_features.push(h);
                    }
                }
            }
            continue;
        }
        bounds.clear();
        bounds.push(0);
        bounds.extend(w.char_indices().map(|(at, _)| at + 1));
        bounds.push(padded.len() - 1);
        bounds.push(padded.len());
        let n_chars = bounds.len() - 1;
        for start in 0..n_chars {
            let mut h = char_seed;
            for n in 1..=5usize.min(n_chars - start) {
                h = fnv_feed(h, &padded[bounds[start + n - 1]..bounds[start + n]]);
                if n >= 3 {
                    char_features.push(h);
                }
            }
        }
    }
    let mut v = vec![0f32; DIM];
    block.resize(DIM, 0.0);
    counts.resize(DIM, 0);
    add_block(&mut v, word_features, block);
    add_char_block(&mut v, char_features, counts, block);
    super::l2_normalise(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::cosine;

    #[test]
    fn deterministic_normalised_and_sensitive_to_phrasing() {
        let a = embed("I'm sorry, but I can't help with that request.");
        assert_eq!(a, embed("I'm sorry, but I can't help with that request."));
        assert!((a.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        let b = embed("I'm sorry, but I can't assist with that.");
        let c = embed("Rivers carve valleys over thousands of years of erosion.");
        assert!(cosine(&a, &b) > 0.5, "{}", cosine(&a, &b));
        assert!(cosine(&a, &c) < 0.2, "{}", cosine(&a, &c));
    }

    #[test]
    fn same_vector_bit_for_bit_across_calls() {
        let t = "Without doubt, the trade-off between cost and climate is real. Without doubt.";
        let a = embed(t);
        for _ in 0..5 {
            assert_eq!(a, embed(t));
        }
    }

    #[test]
    fn empty_and_non_ascii_texts() {
        assert!(embed("").iter().all(|&x| x == 0.0));
        let v = embed("Ça va très bien, merci — 日本語のテキスト");
        assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn the_hash_never_changes() {
        // The published FNV-1a 64 test vectors. A change here changes every stored vector.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    /// SHA-256 of the vectors' f32 bits for fixed texts: any change to the features, hashing,
    /// weighting or summation order changes stored vectors, and must come with a new [`ID`].
    #[test]
    fn vectors_never_change() {
        let texts = [
            "I'm sorry, but I can't help with that request. As an AI language model, I must decline.",
            "Ça va très bien, merci — 日本語のテキスト, naïve café résumé.",
            "The the the quick brown fox; it is what it is, and that is that! 42 times 7 = 294.",
        ];
        let mut bytes = Vec::new();
        for t in texts {
            bytes.extend(embed(t).iter().flat_map(|x| x.to_le_bytes()));
        }
        assert_eq!(crate::util::sha256_hex(&bytes), "15f29bf18a9a2a9aada6860a913163149193176636533e6b81b1de02b1d52dfe");
    }
}
