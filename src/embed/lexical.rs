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
//! inverse-document-frequency proxy: word unigrams that are English function words weigh 0.1. A
//! corpus-fitted IDF would make a text's vector depend on the other texts of the night, so it
//! could not be cached by text and two nights would not be comparable; the fixed proxy keeps the
//! vector a function of the text alone. Word and character blocks are normalised separately and
//! mixed 1:1, so long words do not drown the word n-grams.
//!
//! The vectors are fixed bit for bit (stored vectors and the cache depend on it; the tests hold
//! this code to a plain implementation of the definition and to a golden digest), and that fixes
//! the order of every floating-point sum: a bucket's word features add in ascending hash order,
//! and the norms sum the buckets in index order. The speed comes from what the order leaves free:
//! each bucket's few word features are sorted rather than the text's; a word's character n-grams
//! are counted once and scaled by its count (integer sums); ASCII text is split without a branch
//! per byte; and eight texts go through the norms side by side, so the eight chains of dependent
//! additions overlap instead of each waiting on the adder's latency.

/// Vector length.
pub const DIM: usize = 2048;
/// The id names every setting that changes the vectors.
pub const ID: &str = "lexical-v1:fnv1a64,words1-2,chars3-5,sublinear-tf,bucket-log1p-chars,stopword-idf0.1,d2048,l2";

/// English function words, weighted 0.1 as word unigrams.
const STOP_WORDS: [&str; 63] = [
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as", "is",
    "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "i", "you", "he",
    "she", "we", "they", "me", "my", "your", "our", "their", "not", "no", "so", "do", "does", "did", "have", "has",
    "had", "can", "could", "would", "should", "will", "there", "than", "then", "which", "who", "what", "when", "how",
];

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv_step(h: u64, byte: u8) -> u64 {
    (h ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
}

fn fnv_feed(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, &b| fnv_step(h, b))
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv_feed(FNV_OFFSET, bytes)
}

/// Feature kinds, fed first into the hash so equal strings of different kinds differ.
const WORD: u8 = 1;
const BIGRAM: u8 = 2;
const CHARS: u8 = 3;

/// The bucket a feature hash falls in; its sign is the hash's top bit.
fn bucket(h: u64) -> usize {
    (h % DIM as u64) as usize
}

/// Multiplier that gives each stop word's unigram hash a slot of its own in [`STOP_HASHES`]
/// (found by search; `stop_words_have_slots_of_their_own` checks it).
const STOP_SLOT_MULTIPLIER: u64 = 52163;

fn stop_slot(unigram_hash: u64) -> usize {
    (unigram_hash.wrapping_mul(STOP_SLOT_MULTIPLIER) >> 56) as usize
}

/// The stop words' unigram hashes, each in its slot. A word is a stop word when its unigram hash
/// is in its slot: one load and a compare, no branch (stop words are some 40% of tokens, so a
/// branch on them is unpredictable). Words are told apart by their 64-bit hashes everywhere in
/// this embedder, so this is the same as comparing the words.
static STOP_HASHES: std::sync::LazyLock<[u64; 256]> = std::sync::LazyLock::new(|| {
    let mut table = [0; 256];
    for w in STOP_WORDS {
        let h = fnv_feed(fnv1a64(&[WORD]), w.as_bytes());
        table[stop_slot(h)] = h;
    }
    table
});

/// Texts embedded side by side. The sums over all buckets (each block's norm and the vector's)
/// must run bucket by bucket in index order, so each is one long chain of dependent additions,
/// bound by the adder's latency; eight texts' chains interleaved keep the adder busy instead.
pub const LANES: usize = 8;

/// The embedding of one text. The empty text gives the zero vector.
pub fn embed(text: &str) -> Vec<f32> {
    embed_batch(&[text]).pop().expect("one text in, one vector out")
}

/// The embeddings of `texts`, in order; each is what [`embed`] gives for it, bit for bit.
pub fn embed_batch(texts: &[&str]) -> Vec<Vec<f32>> {
    SCRATCH.with_borrow_mut(|scratch| {
        let mut out = Vec::with_capacity(texts.len());
        for group in texts.chunks(LANES) {
            embed_group(group, scratch, &mut out);
        }
        out
    })
}

/// Embeds up to [`LANES`] texts: features one text at a time, the sums over buckets for all of
/// them at once. Lanes without a text keep whatever an earlier group left; their sums are ignored.
fn embed_group(texts: &[&str], scratch: &mut Scratch, out: &mut Vec<Vec<f32>>) {
    scratch.mixed[..texts.len() * DIM].fill(0.0);
    let ln1p: &[f32; 64] = &LN1P;
    for (lane, text) in texts.iter().enumerate() {
        count_features(text, scratch);
        let Scratch { word_counts, counts, damped, mixed, .. } = scratch;
        word_counts.write_block(lane_of(mixed, lane));
        damp_char_counts(counts, lane_of(damped, lane), ln1p);
    }
    let Scratch { damped, mixed, .. } = scratch;
    // Each block normalised (an empty text's blocks are zero and stay so), the two added, and
    // the sum normalised. The word block divided in place is the `0 + x / norm` it used to be
    // added as (x / norm is never -0).
    for (lane, norm) in norms(mixed).into_iter().enumerate().take(texts.len()) {
        if norm > 0.0 {
            divide(lane_of(mixed, lane), norm);
        }
    }
    for (lane, norm) in norms(damped).into_iter().enumerate().take(texts.len()) {
        if norm > 0.0 {
            add_divided(lane_of(mixed, lane), lane_of(damped, lane), norm);
        }
    }
    for (lane, norm) in norms(mixed).into_iter().enumerate().take(texts.len()) {
        let v = lane_of(mixed, lane);
        if norm > 1e-12 {
            divide(v, norm);
        }
        out.push(v.to_vec());
    }
}

/// Lane `lane` of a group's blocks, which lie one after the other.
fn lane_of(blocks: &mut [f32], lane: usize) -> &mut [f32; DIM] {
    (&mut blocks[lane * DIM..][..DIM]).try_into().expect("LANES blocks of DIM")
}

/// Splits `text` into words and counts their features: word features into `word_counts`, the
/// signed character n-gram counts per bucket into `counts`.
fn count_features(text: &str, scratch: &mut Scratch) {
    let Scratch { lowered, words, edges, word_counts, distinct, char_bounds, padded, counts, .. } = scratch;
    if text.is_ascii() {
        split_ascii_words(text.as_bytes(), lowered, words, edges);
    } else {
        split_words(text, lowered, words);
    }
    let word = |i: usize| &lowered[words[i].0 as usize..words[i].1 as usize];
    let stops: &[u64; 256] = &STOP_HASHES;
    let word_seed = fnv1a64(&[WORD]);
    let bigram_seed = fnv1a64(&[BIGRAM]);
    // The bigram (previous word, this word) is hashed in the same pass over this word's bytes as
    // its unigram and the start of its own bigram: three independent chains, side by side.
    let mut open_bigram: Option<u64> = None;
    distinct.clear();
    for i in 0..words.len() {
        let (mut unigram, mut bigram_start, mut bigram_end) = (word_seed, bigram_seed, open_bigram.unwrap_or(0));
        for &b in word(i) {
            unigram = fnv_step(unigram, b);
            bigram_start = fnv_step(bigram_start, b);
            bigram_end = fnv_step(bigram_end, b);
        }
        let idf = if stops[stop_slot(unigram)] == unigram { 0.1 } else { 1.0 };
        if let Some(feature) = word_counts.add(unigram, idf) {
            distinct.push((feature, i));
        }
        if open_bigram.is_some() {
            word_counts.add(bigram_end, 1.0);
        }
        open_bigram = Some(fnv_step(bigram_start, b' '));
    }
    // A word's character n-grams are the same at each occurrence: counted once, times the
    // word's count (integer sums, so the order does not matter).
    for &(feature, i) in distinct.iter() {
        let times = word_counts.entries[feature].tf as i32;
        count_char_ngrams(word(i), words[i].2, times, padded, char_bounds, counts);
    }
}

/// Adds `times` to the signed counts of the character 3- to 5-grams of " word ": n-grams of
/// chars (not bytes), hashed from their UTF-8; the 3-, 4- and 5-gram at one start share their
/// hash prefix.
fn count_char_ngrams(
    word: &[u8],
    ascii: bool,
    times: i32,
    padded: &mut Vec<u8>,
    char_bounds: &mut Vec<usize>,
    counts: &mut [i32; DIM],
) {
    let mut count = |h: u64| counts[bucket(h)] += if (h >> 63) == 0 { times } else { -times };
    let seed = fnv1a64(&[CHARS]);
    padded.clear();
    padded.push(b' ');
    padded.extend_from_slice(word);
    padded.push(b' ');
    let p = &padded[..];
    if ascii {
        // One byte a char: the windows hashed directly, a start's three n-grams from one chain
        // of five steps, in straight-line code so the chains of neighbouring starts overlap.
        let full = p.len().saturating_sub(4);
        for s in 0..full {
            let h3 = fnv_step(fnv_step(fnv_step(seed, p[s]), p[s + 1]), p[s + 2]);
            let h4 = fnv_step(h3, p[s + 3]);
            count(h3);
            count(h4);
            count(fnv_step(h4, p[s + 4]));
        }
        // The last starts have room for a 3- and a 4-gram, then a 3-gram only.
        for s in full..p.len().saturating_sub(2) {
            let h3 = fnv_step(fnv_step(fnv_step(seed, p[s]), p[s + 1]), p[s + 2]);
            count(h3);
            if s + 3 < p.len() {
                count(fnv_step(h3, p[s + 3]));
            }
        }
        return;
    }
    char_bounds.clear();
    char_bounds.extend((0..p.len()).filter(|&at| p[at] & 0xC0 != 0x80)); // UTF-8 char starts
    char_bounds.push(p.len());
    let n_chars = char_bounds.len() - 1;
    for start in 0..n_chars {
        let mut h = seed;
        for n in 1..=5usize.min(n_chars - start) {
            h = fnv_feed(h, &p[char_bounds[start + n - 1]..char_bounds[start + n]]);
            if n >= 3 {
                count(h);
            }
        }
    }
}

/// Words: maximal runs of alphanumeric characters (any script), lower-cased, appended to
/// `lowered` with their ranges in `words` and whether they are plain ASCII. ASCII runs are found
/// and lower-cased a run at a time; other characters go through `char`'s Unicode tables.
fn split_words(text: &str, lowered: &mut Vec<u8>, words: &mut Vec<(u32, u32, bool)>) {
    lowered.clear();
    words.clear();
    let bytes = text.as_bytes();
    // The character at `i` (not ASCII), its length, and whether it belongs to a word.
    let wide = |i: usize| {
        let c = text[i..].chars().next().expect("i is a char boundary");
        (c, c.len_utf8(), c.is_alphanumeric())
    };
    let mut i = 0;
    while i < bytes.len() {
        let (len, alnum) = if bytes[i] < 0x80 {
            (1, bytes[i].is_ascii_alphanumeric())
        } else {
            let (_, len, alnum) = wide(i);
            (len, alnum)
        };
        if !alnum {
            i += len;
            continue;
        }
        // A word starts at `i`.
        let at = lowered.len();
        let mut ascii = true;
        loop {
            let run = i;
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            lowered.extend(bytes[run..i].iter().map(u8::to_ascii_lowercase));
            if i < bytes.len() && bytes[i] >= 0x80 {
                let (c, len, alnum) = wide(i);
                if alnum {
                    for l in c.to_lowercase() {
                        lowered.extend_from_slice(l.encode_utf8(&mut [0; 4]).as_bytes());
                    }
                    ascii = false;
                    i += len;
                    continue;
                }
            }
            break;
        }
        words.push((at as u32, lowered.len() as u32, ascii));
    }
}

/// [`split_words`] for ASCII text, without a branch per byte (word boundaries are unpredictable):
/// every byte is written lower-cased at the end of `lowered`, which grows only past letters and
/// digits, and the position at every change between word and separator is written at the end of
/// `edges`, which grows only at a change.
fn split_ascii_words(bytes: &[u8], lowered: &mut Vec<u8>, words: &mut Vec<(u32, u32, bool)>, edges: &mut Vec<u32>) {
    // A table, because the comparisons of `is_ascii_alphanumeric` compile to a branch.
    static ALNUM: [u8; 128] = {
        let mut table = [0; 128];
        let mut b = 0;
        while b < 128 {
            table[b] = (b as u8).is_ascii_alphanumeric() as u8;
            b += 1;
        }
        table
    };
    lowered.clear();
    lowered.resize(bytes.len() + 1, 0);
    edges.clear();
    edges.resize(bytes.len() + 2, 0);
    // Plain slices, so the loop keeps their addresses in registers.
    let (out, ends) = (&mut lowered[..], &mut edges[..]);
    let (mut len, mut changes, mut in_word) = (0, 0, 0);
    for &b in bytes {
        let alnum = usize::from(ALNUM[usize::from(b & 0x7f)]);
        out[len] = b.to_ascii_lowercase();
        ends[changes] = len as u32;
        changes += alnum ^ in_word;
        len += alnum;
        in_word = alnum;
    }
    ends[changes] = len as u32;
    changes += in_word;
    lowered.truncate(len);
    words.clear();
    words.extend(edges[..changes].chunks_exact(2).map(|e| (e[0], e[1], true)));
}

/// One distinct word feature: its hash, weight before term frequency, count, and the next
/// feature in the same bucket (index + 1 into the entries; 0 ends the chain).
#[derive(Clone, Copy)]
struct WordFeature {
    hash: u64,
    idf: f32,
    tf: u32,
    next: u32,
}

/// A text's word features counted per distinct hash, chained per bucket. A bucket's features
/// must add in ascending hash order, and only the order within a bucket matters, so a bucket's
/// few features are sorted, never the whole text's.
struct WordCounts {
    /// Per bucket, its last feature (index + 1 into `entries`; 0: none).
    heads: Box<[u32; DIM]>,
    /// The buckets with features, as a bit set.
    touched: [u64; DIM / 64],
    entries: Vec<WordFeature>,
    /// One bucket's features, to sort.
    chain: Vec<(u64, f32)>,
}

impl Default for WordCounts {
    fn default() -> Self {
        Self { heads: Box::new([0; DIM]), touched: [0; DIM / 64], entries: Vec::new(), chain: Vec::new() }
    }
}

impl WordCounts {
    /// Counts one occurrence; returns the feature's index when it is new.
    fn add(&mut self, hash: u64, idf: f32) -> Option<usize> {
        let b = bucket(hash);
        let mut at = self.heads[b];
        while at != 0 {
            let e = &mut self.entries[at as usize - 1];
            if e.hash == hash {
                e.tf += 1;
                return None;
            }
            at = e.next;
        }
        self.entries.push(WordFeature { hash, idf, tf: 1, next: self.heads[b] });
        self.heads[b] = self.entries.len() as u32;
        self.touched[b / 64] |= 1 << (b % 64);
        Some(self.entries.len() - 1)
    }

    /// Writes the text's word block into `block` (zero where no feature fell; only the buckets
    /// with features are visited) and forgets the text's features.
    fn write_block(&mut self, block: &mut [f32; DIM]) {
        let ln: &[f32; 64] = &LN;
        for word in 0..DIM / 64 {
            let mut bits = std::mem::take(&mut self.touched[word]);
            while bits != 0 {
                let b = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let mut at = std::mem::take(&mut self.heads[b]);
                let first = self.entries[at as usize - 1];
                let mut sum = 0f32;
                if first.next == 0 {
                    sum += signed_weight(&first, ln);
                } else {
                    self.chain.clear();
                    while at != 0 {
                        let e = &self.entries[at as usize - 1];
                        self.chain.push((e.hash, signed_weight(e, ln)));
                        at = e.next;
                    }
                    self.chain.sort_unstable_by_key(|&(h, _)| h);
                    for &(_, w) in &self.chain {
                        sum += w;
                    }
                }
                block[b] = sum;
            }
        }
        self.entries.clear();
    }
}

/// ln(k) and ln(1 + k) for the usual small counts, computed as the functions would.
static LN: std::sync::LazyLock<[f32; 64]> = std::sync::LazyLock::new(|| std::array::from_fn(|k| (k as f32).ln()));
static LN1P: std::sync::LazyLock<[f32; 64]> = std::sync::LazyLock::new(|| std::array::from_fn(|k| (k as f32).ln_1p()));

/// A word feature's signed contribution: `(1 + ln tf) * idf`, negative when the hash's top bit is set.
fn signed_weight(e: &WordFeature, ln: &[f32; 64]) -> f32 {
    // 1 + ln 1 = 1 exactly: most features occur once.
    let ln_tf = if e.tf < 64 { ln[e.tf as usize] } else { (e.tf as f32).ln() };
    let weight = if e.tf == 1 { e.idf } else { (1.0 + ln_tf) * e.idf };
    if (e.hash >> 63) == 0 { weight } else { -weight }
}

multiversion! {
    /// Character n-grams are many (about three a byte): instead of counting each, their signed
    /// counts are summed per bucket and each bucket is damped by `sign(x) ln(1 + |x|)`, the
    /// sublinear weighting applied after hashing. Clears `counts`.
    fn damp_char_counts(counts: &mut [i32; DIM], damped: &mut [f32; DIM], ln1p: &[f32; 64]) {
        let mut largest = 0;
        for (x, &k) in damped.iter_mut().zip(counts.iter()) {
            let size = k.unsigned_abs();
            largest = largest.max(size);
            // The sign without a branch: signs are random, a branch would be mispredicted for
            // half the buckets.
            *x = f32::from_bits(ln1p[size.min(63) as usize].to_bits() | (k as u32 & 0x8000_0000));
        }
        if largest >= 64 {
            for (x, &k) in damped.iter_mut().zip(counts.iter()) {
                if k.unsigned_abs() >= 64 {
                    *x = (k.unsigned_abs() as f32).ln_1p().copysign(k as f32);
                }
            }
        }
        counts.fill(0);
    }
}

/// Each lane's L2 norm, its squares summed in bucket order. Plain scalar code on purpose: the
/// eight chains interleaved keep the adder busy, and vectorised across lanes the compiler would
/// gather, which is slower.
fn norms(blocks: &[f32]) -> [f32; LANES] {
    let lanes: [&[f32; DIM]; LANES] =
        std::array::from_fn(|l| blocks[l * DIM..][..DIM].try_into().expect("LANES blocks of DIM"));
    let mut sums = [0f32; LANES];
    for b in 0..DIM {
        for (sum, lane) in sums.iter_mut().zip(lanes) {
            *sum += lane[b] * lane[b];
        }
    }
    sums.map(f32::sqrt)
}

multiversion! {
    /// `v += x / by`, element by element.
    fn add_divided(v: &mut [f32; DIM], x: &[f32; DIM], by: f32) {
        for (v, x) in v.iter_mut().zip(x) {
            *v += x / by;
        }
    }
}

multiversion! {
    /// `v /= by`, element by element.
    fn divide(v: &mut [f32; DIM], by: f32) {
        for v in v.iter_mut() {
            *v /= by;
        }
    }
}

/// Buffers reused from text to text on one thread: embedding allocates only its results.
struct Scratch {
    /// A text's words, lower-cased, one after the other.
    lowered: Vec<u8>,
    /// Each word's byte range in `lowered`, and whether it is plain ASCII.
    words: Vec<(u32, u32, bool)>,
    /// Where words start and end, for [`split_ascii_words`].
    edges: Vec<u32>,
    word_counts: WordCounts,
    /// Each distinct word: its unigram feature in `word_counts` and one place it occurs.
    distinct: Vec<(usize, usize)>,
    /// Where the chars of a non-ASCII word start.
    char_bounds: Vec<usize>,
    /// A word with a space either side.
    padded: Vec<u8>,
    /// A text's signed character n-gram count per bucket.
    counts: Box<[i32; DIM]>,
    /// A group's damped character blocks, one after the other.
    damped: Vec<f32>,
    /// A group's word blocks, then its vectors, one after the other.
    mixed: Vec<f32>,
}

impl Default for Scratch {
    fn default() -> Self {
        Self {
            lowered: Vec::new(),
            words: Vec::new(),
            edges: Vec::new(),
            word_counts: WordCounts::default(),
            distinct: Vec::new(),
            char_bounds: Vec::new(),
            padded: Vec::new(),
            counts: Box::new([0; DIM]),
            damped: vec![0.0; DIM * LANES],
            mixed: vec![0.0; DIM * LANES],
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
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

    /// Texts that reach every path: empty and separator-only texts, one-letter words, words
    /// repeated past the count tables (64), non-ASCII words in several scripts, a lower-casing
    /// that changes length, and ordinary prose of many lengths.
    fn varied_texts() -> Vec<String> {
        let mut texts: Vec<String> = [
            "",
            " ",
            "...!?",
            "a",
            "a b",
            "ab",
            "I'm sorry, but I can't help with that request. As an AI language model, I must decline.",
            "Ça va très bien, merci — 日本語のテキスト, naïve café résumé.",
            "İstanbul ΣΊΣΥΦΟΣ ǅemal 𝔘nicode ẞtraße \u{212A}elvin ١٢٣ ۴۵ Ⅻ ½ ² ³",
            "The the the quick brown fox; it is what it is, and that is that! 42 times 7 = 294.",
        ]
        .map(String::from)
        .to_vec();
        texts.push("x".repeat(300));
        texts.push("the ".repeat(100));
        texts.push("spam eggs ".repeat(70) + "ham");
        // Prose of many lengths from a fixed word list and a fixed generator.
        let vocabulary = "the of and model answer may however it is important to note that \
            climate policy trade-off balance AI language I cannot help with this request \
            étude Müller 東京 risk 2024 safety users should consider different perspectives"
            .split_whitespace()
            .collect::<Vec<_>>();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for n in 0..40 {
            let mut text = String::new();
            for _ in 0..(n * 7 % 300) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(vocabulary[(state % vocabulary.len() as u64) as usize]);
                text.push_str(if state.is_multiple_of(11) { ". " } else { " " });
            }
            texts.push(text);
        }
        texts
    }

    #[test]
    fn fast_path_gives_the_definitions_bits() {
        let texts = varied_texts();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let batched = embed_batch(&refs);
        for (text, fast) in texts.iter().zip(&batched) {
            let want = definition::embed(text);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(fast), bits(&want), "batched: {text:?}");
            assert_eq!(bits(&embed(text)), bits(&want), "alone: {text:?}");
        }
    }

    #[test]
    fn stop_words_have_slots_of_their_own() {
        for w in STOP_WORDS {
            let h = fnv_feed(fnv1a64(&[WORD]), w.as_bytes());
            assert_eq!(STOP_HASHES[stop_slot(h)], h, "{w} shares a slot");
        }
    }

    #[test]
    fn ascii_words_split_as_in_general() {
        for text in varied_texts().iter().filter(|t| t.is_ascii()) {
            let (mut lowered, mut words, mut edges) = (Vec::new(), Vec::new(), Vec::new());
            split_ascii_words(text.as_bytes(), &mut lowered, &mut words, &mut edges);
            let (mut lowered2, mut words2) = (Vec::new(), Vec::new());
            split_words(text, &mut lowered2, &mut words2);
            assert_eq!((lowered, words), (lowered2, words2), "{text:?}");
        }
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

/// The definition written plainly (the code before it was made fast): every feature hashed into
/// a list, the list sorted, and the sums run over it. The fast path must give the same bits.
#[cfg(test)]
mod definition {
    use super::{BIGRAM, CHARS, DIM, STOP_WORDS, WORD, fnv_feed, fnv1a64};

    fn add_block(v: &mut [f32], hashes: &mut [(u64, f32)]) {
        hashes.sort_unstable_by_key(|&(h, _)| h);
        let mut block = vec![0f32; DIM];
        let mut touched = vec![false; DIM];
        let mut i = 0;
        while i < hashes.len() {
            let (h, idf) = hashes[i];
            let mut tf = 0u32;
            while i < hashes.len() && hashes[i].0 == h {
                tf += 1;
                i += 1;
            }
            let weight = if tf == 1 { idf } else { (1.0 + (tf as f32).ln()) * idf };
            let bucket = (h % DIM as u64) as usize;
            block[bucket] += if (h >> 63) == 0 { weight } else { -weight };
            touched[bucket] = true;
        }
        let norm = (0..DIM).filter(|&b| touched[b]).map(|b| block[b] * block[b]).sum::<f32>().sqrt();
        if norm > 0.0 {
            for b in (0..DIM).filter(|&b| touched[b]) {
                v[b] += block[b] / norm;
            }
        }
    }

    fn add_char_block(v: &mut [f32], hashes: &[u64]) {
        let mut counts = vec![0i32; DIM];
        for &h in hashes {
            counts[(h % DIM as u64) as usize] += if (h >> 63) == 0 { 1 } else { -1 };
        }
        let block: Vec<f32> = counts
            .iter()
            .map(|&k| if k < 0 { -(k.unsigned_abs() as f32).ln_1p() } else { (k as f32).ln_1p() })
            .collect();
        let norm = block.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (x, b) in v.iter_mut().zip(&block) {
                *x += b / norm;
            }
        }
    }

    pub fn embed(text: &str) -> Vec<f32> {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| w.chars().flat_map(char::to_lowercase).collect())
            .collect();
        let mut word_features = Vec::new();
        let mut char_features = Vec::new();
        for (i, w) in words.iter().enumerate() {
            let idf = if STOP_WORDS.contains(&w.as_str()) { 0.1 } else { 1.0 };
            word_features.push((fnv_feed(fnv1a64(&[WORD]), w.as_bytes()), idf));
            if let Some(next) = words.get(i + 1) {
                let h = fnv_feed(fnv_feed(fnv_feed(fnv1a64(&[BIGRAM]), w.as_bytes()), b" "), next.as_bytes());
                word_features.push((h, 1.0));
            }
            let padded: Vec<char> = std::iter::once(' ').chain(w.chars()).chain(std::iter::once(' ')).collect();
            for start in 0..padded.len() {
                for n in 3..=5 {
                    if start + n <= padded.len() {
                        let gram: String = padded[start..start + n].iter().collect();
                        char_features.push(fnv_feed(fnv1a64(&[CHARS]), gram.as_bytes()));
                    }
                }
            }
        }
        let mut v = vec![0f32; DIM];
        add_block(&mut v, &mut word_features);
        add_char_block(&mut v, &char_features);
        crate::embed::l2_normalise(&mut v);
        v
    }
}
