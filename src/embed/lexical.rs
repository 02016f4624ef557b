//! `lexical`: hashed TF over word and character n-grams, L2-normalised. Needs no files.
//!
//! It sees phrasing (shared stock phrases, templates, boilerplate) rather than meaning.
//! Features: word 1- and 2-grams of the lower-cased text, and character 3- to 5-grams of each
//! word padded with spaces. Each feature is hashed (FNV-1a 64, fixed forever: the vectors must
//! not change between releases) into one of [`DIM`] buckets with a hash-derived sign, so
//! collisions cancel in expectation instead of piling up.
//!
//! Weighting: sublinear term frequency `1 + ln(tf)`, times a fixed inverse-document-frequency
//! proxy: word unigrams that are English function words weigh 0.1. A corpus-fitted IDF would make
//! a text's vector depend on the other texts of the night, so it could not be cached by text
//! and two nights would not be comparable; the fixed proxy keeps the vector a function of the
//! text alone. Word and character blocks are normalised separately and mixed 1:1, so long words
//! do not drown the word n-grams.

/// Vector length.
pub const DIM: usize = 2048;
/// The id names every setting that changes the vectors.
pub const ID: &str = "lexical-v1:fnv1a64,words1-2,chars3-5,sublinear-tf,stopword-idf0.1,d2048,l2";

const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as", "is",
    "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "i", "you", "he",
    "she", "we", "they", "me", "my", "your", "our", "their", "not", "no", "so", "do", "does", "did", "have", "has",
    "had", "can", "could", "would", "should", "will", "there", "than", "then", "which", "who", "what", "when", "how",
];

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
const CHARS: u8 = 10;

/// Word tokens: maximal runs of alphanumeric characters (any script), lower-cased.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Adds one block of feature hashes (sorted, so equal features are adjacent and the sums run in
/// a fixed order: the vector is bit-for-bit the same in every process) into `v`, normalised.
fn add_block(v: &mut [f32], hashes: &mut [(u64, f32)]) {
    hashes.sort_unstable_by_key(|&(h, _)| h);
    let mut block = vec![0f32; DIM];
    let mut i = 0;
    while i < hashes.len() {
        let (h, idf) = hashes[i];
        let mut tf = 0u32;
        while i < hashes.len() && hashes[i].0 == h {
            tf += 1;
            i += 1;
        }
        let weight = (1.0 + (tf as f32).ln()) * idf;
        let sign = if (h >> 63) == 0 { 1.0 } else { -1.0 };
        block[(h % DIM as u64) as usize] += sign * weight;
    }
    let norm = block.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (x, b) in v.iter_mut().zip(&block) {
            *x += b / norm;
        }
    }
}

/// The embedding of one text. The empty text gives the zero vector.
pub fn embed(text: &str) -> Vec<f32> {
    let words = words(text);
    let mut word_features: Vec<(u64, f32)> = Vec::with_capacity(words.len() * 2);
    let mut char_features: Vec<(u64, f32)> = Vec::with_capacity(words.len() * 12);
    let mut chars: Vec<u8> = Vec::new();
    let mut bounds: Vec<usize> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let idf = if STOP_WORDS.contains(&w.as_str()) { 0.1 } else { 1.0 };
        word_features.push((fnv_feed(fnv1a64(&[WORD]), w.as_bytes()), idf));
        if let Some(next) = words.get(i + 1) {
            let h = fnv_feed(fnv_feed(fnv_feed(fnv1a64(&[BIGRAM]), w.as_bytes()), b" "), next.as_bytes());
            word_features.push((h, 1.0));
        }
        // Character n-grams of " word ", over chars (not bytes), hashed from their UTF-8.
        chars.clear();
        bounds.clear();
        chars.push(b' ');
        bounds.push(0);
        for (at, _) in w.char_indices() {
            bounds.push(1 + at);
        }
        chars.extend_from_slice(w.as_bytes());
        bounds.push(chars.len());
        chars.push(b' ');
        bounds.push(chars.len());
        let n_chars = bounds.len() - 1;
        for n in 3..=5usize {
            for start in 0..(n_chars + 1).saturating_sub(n) {
                let gram = &chars[bounds[start]..bounds[start + n]];
                char_features.push((fnv_feed(fnv1a64(&[CHARS + n as u8]), gram), 1.0));
            }
        }
    }
    let mut v = vec![0f32; DIM];
    add_block(&mut v, &mut word_features);
    add_block(&mut v, &mut char_features);
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
}
