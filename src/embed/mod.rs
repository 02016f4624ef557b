//! Embed: every ok response becomes a vector, by one of three embedders, cached by text.
//!
//! - [`lexical`]: hashed TF over word and character n-grams; sees phrasing; needs no files.
//! - [`minilm`]: all-MiniLM-L6-v2 on the CPU, from a local folder (or fetched once from the
//!   Hugging Face Hub); sees meaning. Its engine (forward pass, kernels, AMX tiles) is in
//!   `minilm/`.
//! - [`remote`]: an OpenAI-compatible `/v1/embeddings` endpoint.
//!
//! An embedder's id names the model and every setting that changes the vectors; it goes into
//! every row that depends on it, so trends never mix two embedders.
//!
//! The cache ([`cache`]) keeps the vectors of MiniLM and remote embedders (CPU time, money),
//! bounded to the texts of the last [`CACHE_RUNS`] runs ([`bound_cache`]). `lexical` vectors are
//! not cached: they are a pure function of the text and cheaper to compute than to read back.

#[macro_use]
mod simd;
pub mod cache;
pub mod claims;
pub mod lexical;
pub mod minilm;
pub mod remote;
pub mod table;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::collect::responses::{OkTexts, ResponsesTable};
use crate::config::{Config, EmbedConfig, LexicalEmbeddings, OutputOptions};
use crate::secrets::SecretKey;
use crate::store::table::{RunRef, Table};
use crate::store::{self, EmbedderTag, Output, StoreError};
use cache::{EmbeddingCache, TextHash};
use minilm::hub;
use table::{EmbeddingRow, EmbeddingsTable};

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("{path}: {problem}")]
    Model { path: PathBuf, problem: String },
    #[error("embedding failed: {0}")]
    Compute(String),
    #[error("remote embeddings endpoint: {0}")]
    Remote(String),
    /// Vectors no later stage could use; none of them was cached.
    #[error(
        "embedder {embedder} gave unusable vectors: {problem}; none of them was cached (fix the embedder and run the same command again)"
    )]
    Vectors { embedder: String, problem: String },
    #[error("embedding cache {path}: {source}")]
    Cache { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::failure::Classify for EmbedError {
    fn failure(&self) -> crate::failure::Failure {
        match self {
            EmbedError::Model { .. } => crate::failure::Failure::BadInput,
            _ => crate::failure::Failure::Failed,
        }
    }
}

pub enum Embedder {
    Lexical,
    MiniLm(Box<minilm::MiniLm>),
    Remote(Box<remote::RemoteEmbedder>),
}

/// Rows read, embedded and written per step: memory holds this many, not the run.
const CHUNK_ROWS: usize = 1024;

impl Embedder {
    /// The embedder a configuration asks for (its keys resolved first).
    pub fn from_config(config: &Config) -> Result<Self, EmbedError> {
        Self::build(&config.embed, config.embed_api_key.clone())
    }

    /// The embedder of an `[embed]` table (or the same settings from the command line), with
    /// the remote embedder's key when it needs one.
    pub fn build(embed: &EmbedConfig, api_key: Option<SecretKey>) -> Result<Self, EmbedError> {
        Ok(match embed {
            EmbedConfig::Lexical => Embedder::Lexical,
            EmbedConfig::MiniLm { model_dir } => Embedder::MiniLm(Box::new(minilm::MiniLm::load(model_dir)?)),
            EmbedConfig::MiniLmHub(model) => Embedder::MiniLm(Box::new(minilm::MiniLm::load(&hub::fetch(model)?)?)),
            EmbedConfig::Remote {
                base_url,
                model,
                timeout_s,
                max_retries,
                requests_per_minute,
                batch_size,
                concurrency,
                ..
            } => {
                let spec = remote::RemoteSpec {
                    base_url: base_url.clone(),
                    model: model.clone(),
                    api_key,
                    timeout: std::time::Duration::from_secs_f64(*timeout_s),
                    max_retries: *max_retries,
                    requests_per_minute: *requests_per_minute,
                    batch_size: *batch_size,
                    concurrency: *concurrency,
                };
                Embedder::Remote(Box::new(remote::RemoteEmbedder::new(spec)?))
            }
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Embedder::Lexical => "lexical",
            Embedder::MiniLm(_) => "minilm",
            Embedder::Remote(_) => "remote",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Embedder::Lexical => lexical::ID,
            Embedder::MiniLm(m) => m.id(),
            Embedder::Remote(r) => r.id(),
        }
    }

    /// Settles what can only be learnt by asking (a remote embedder: that it answers, and its
    /// vectors' length, part of its id): call before the id is used. Returns the length, for a
    /// remote embedder.
    pub async fn settle(&mut self) -> Result<Option<usize>, EmbedError> {
        match self {
            Embedder::Remote(r) => Ok(Some(r.settle().await?)),
            _ => Ok(None),
        }
    }

    /// The length of its vectors when known before embedding (a settled remote embedder).
    pub fn dim(&self) -> Option<usize> {
        match self {
            Embedder::Remote(r) => r.dim(),
            _ => None,
        }
    }

    /// Whether its vectors go through the cache (see the module docs).
    pub fn is_cached(&self) -> bool {
        !matches!(self, Embedder::Lexical)
    }

    /// Its name and id, as the tables that depend on it carry them.
    pub fn tag(&self) -> EmbedderTag {
        EmbedderTag { name: self.name().to_owned(), id: self.id().to_owned() }
    }

    /// Embeds texts, in input order. Blocking: call from a blocking context (the remote
    /// embedder drives its async client on the current tokio runtime).
    pub fn embed_blocking(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        match self {
            Embedder::Lexical => Ok(lexical_vectors(texts)),
            Embedder::MiniLm(m) => m.embed_all(texts),
            Embedder::Remote(r) => {
                // `batch_size` texts a request, `concurrency` requests in flight, in order.
                use futures_util::{StreamExt, TryStreamExt};
                let (batch_size, concurrency) = r.batching();
                let requests = futures_util::stream::iter(texts.chunks(batch_size).map(|b| r.embed_batch(b)));
                let handle = tokio::runtime::Handle::current();
                let batches: Vec<Vec<Vec<f32>>> = handle.block_on(requests.buffered(concurrency).try_collect())?;
                Ok(batches.into_iter().flatten().collect())
            }
        }
    }
}

/// SHA-256 of a text: the cache key.
pub fn text_hash(text: &str) -> TextHash {
    Sha256::digest(text.as_bytes()).into()
}

/// Scales `v` to unit length (the zero vector stays zero).
pub fn l2_normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-12 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) }
}

/// Embeds texts through the cache: cached vectors are read, the rest embedded and stored.
/// Returns the vectors and how many were newly embedded.
pub fn embed_cached(
    embedder: &Embedder,
    cache: &mut EmbeddingCache,
    texts: &[&str],
) -> Result<(Vec<Vec<f32>>, usize), EmbedError> {
    if !embedder.is_cached() {
        return Ok((embedder.embed_blocking(texts)?, texts.len()));
    }
    let cache_err = |path: &Path, source| EmbedError::Cache { path: path.to_owned(), source };
    let hashes: Vec<TextHash> = texts.iter().map(|t| text_hash(t)).collect();
    let mut out: Vec<Option<Vec<f32>>> = Vec::with_capacity(texts.len());
    for h in &hashes {
        out.push(cache.get(h).map_err(|e| cache_err(cache.path(), e))?);
    }
    // Embed each missing distinct text once.
    let mut missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
    missing.sort_by_key(|&i| hashes[i]);
    missing.dedup_by_key(|i| hashes[*i]);
    let fresh = embedder.embed_blocking(&missing.iter().map(|&i| texts[i]).collect::<Vec<_>>())?;
    // Checked whole before any is cached: one bad vector must not poison every later run.
    check_vectors(&fresh, missing.len(), cache.dim().or(embedder.dim()))
        .map_err(|problem| EmbedError::Vectors { embedder: embedder.id().to_owned(), problem })?;
    for (&i, v) in missing.iter().zip(&fresh) {
        cache.put(hashes[i], v).map_err(|e| cache_err(cache.path(), e))?;
    }
    let mut filled = Vec::with_capacity(texts.len());
    for (i, v) in out.into_iter().enumerate() {
        match v {
            Some(v) => filled.push(v),
            None => filled.push(cache.get(&hashes[i]).map_err(|e| cache_err(cache.path(), e))?.expect("just stored")),
        }
    }
    Ok((filled, missing.len()))
}

/// Checks vectors fresh from an embedder: as many as texts, none empty, every value finite, all
/// of one length, and that of the vectors cached before (`expected`).
pub fn check_vectors(vectors: &[Vec<f32>], texts: usize, expected: Option<usize>) -> Result<(), String> {
    if vectors.len() != texts {
        return Err(format!("{} vectors for {texts} texts", vectors.len()));
    }
    let Some(first) = vectors.first() else { return Ok(()) };
    let dim = expected.unwrap_or(first.len());
    for (i, v) in vectors.iter().enumerate() {
        if v.is_empty() {
            return Err(format!("vector {i} of the batch is empty"));
        }
        if v.len() != dim {
            return Err(match expected {
                Some(d) => {
                    format!("a vector of {} dimensions where this embedder gave {d} before", v.len())
                }
                None => format!("vectors of {dim} and of {} dimensions in one batch", v.len()),
            });
        }
        if let Some(x) = v.iter().find(|x| !x.is_finite()) {
            return Err(format!("vector {i} of the batch holds {x}"));
        }
    }
    Ok(())
}

/// Runs whose texts the cache keeps: a text of a recent night is likely to come again (a
/// deterministic model, a stock answer), an old one rarely is.
pub const CACHE_RUNS: usize = 14;

/// Keeps the cache of `embedder` bounded: once it holds more than twice what the last
/// `keep_runs` runs could reference (`rows_per_run` texts each), only the texts those runs'
/// `embeddings` files reference are kept (and no text of a run no longer stored). So the cache
/// file, and the time to open it, stay the size of a few weeks of runs, in year three as in
/// week one. Returns how many vectors were dropped.
pub fn bound_cache(
    output: &Output,
    embedder: &EmbedderTag,
    cache: &mut EmbeddingCache,
    keep_runs: usize,
    rows_per_run: u64,
) -> Result<usize, EmbedError> {
    let limit = 2 * keep_runs as u64 * rows_per_run.max(1);
    if (cache.len() as u64) <= limit {
        return Ok(0);
    }
    let path = |date, run_id: &str| {
        store::table::path::<EmbeddingsTable>(output, &RunRef::new(date, run_id, embedder.clone()))
    };
    let ours = path(NaiveDate::MIN, "");
    let suffix = ours.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
    let mut files: Vec<(NaiveDate, String)> = output
        .list_partitions(EmbeddingsTable::DECL.name)?
        .into_iter()
        .filter(|(_, stem)| stem.ends_with(&suffix))
        .collect();
    files.sort();
    let mut keep = std::collections::HashSet::new();
    for (date, stem) in files.iter().rev().take(keep_runs) {
        let run_id = stem.strip_suffix(&suffix).unwrap_or(stem);
        keep.extend(table::text_hashes(&path(*date, run_id))?);
    }
    let dropped = cache
        .retain(|h| keep.contains(h))
        .map_err(|source| EmbedError::Cache { path: cache.path().to_owned(), source })?;
    tracing::info!(
        dropped,
        kept = cache.len(),
        runs = keep_runs.min(files.len()),
        "pruned the embedding cache to the texts of the last runs"
    );
    Ok(dropped)
}

/// The lexical embedder's vectors of `texts`, in input order: groups of texts embedded side by
/// side (see `lexical::LANES`), on all cores. What a lexical run's `embeddings` hold, bit for bit.
pub fn lexical_vectors(texts: &[&str]) -> Vec<Vec<f32>> {
    let groups: Vec<&[&str]> = texts.chunks(lexical::LANES).collect();
    crate::util::parallel_map(&groups, |g| lexical::embed_batch(g)).into_iter().flatten().collect()
}

/// What one embedding pass over a run did.
#[derive(Debug, Clone)]
pub struct EmbedStats {
    pub embedder_id: String,
    pub rows: u64,
    pub newly_embedded: u64,
    /// Whether the embedder keeps a cache (`lexical` computes every vector from its text).
    pub cached: bool,
    /// The `embeddings` file; `None` when a lexical run's vectors are not stored
    /// (`[output] lexical_embeddings = "recomputed"`: the measure stage computes them again).
    pub path: Option<PathBuf>,
}

/// Embeds the ok responses of one run and writes its `embeddings` table for this embedder (the
/// run's: `run.tag` is `embedder.tag()`; and, for a run with paired probes, `claim_embeddings`).
/// Blocking (see [`Embedder::embed_blocking`]). With `keep.lexical_embeddings` `Recomputed` and
/// the lexical embedder, the rows are counted and no vector is computed or written.
pub fn embed_run(
    output: &Output,
    run: &RunRef,
    embedder: &Embedder,
    cache: &mut EmbeddingCache,
    keep: &OutputOptions,
) -> Result<EmbedStats, EmbedError> {
    let mut reader = OkTexts::open(&store::table::path::<ResponsesTable>(output, run), CHUNK_ROWS)?;
    if matches!(embedder, Embedder::Lexical) && keep.lexical_embeddings == LexicalEmbeddings::Recomputed {
        let mut rows = 0u64;
        while let Some(chunk) = reader.next_chunk()? {
            rows += chunk.len() as u64;
        }
        claims::embed_claims(output, run, embedder)?;
        let (embedder_id, cached) = (embedder.id().to_owned(), false);
        return Ok(EmbedStats { embedder_id, rows, newly_embedded: 0, cached, path: None });
    }
    let mut writer = store::table::writer::<EmbeddingsTable>(output, run)?;
    let out = writer.path().to_owned();
    let mut newly = 0u64;
    while let Some(chunk) = reader.next_chunk()? {
        let texts: Vec<&str> = chunk.iter().map(|r| r.text.as_str()).collect();
        let (vectors, n) = embed_cached(embedder, cache, &texts)?;
        newly += n as u64;
        let rows: Vec<EmbeddingRow> = chunk.into_iter().zip(vectors).map(|(r, v)| EmbeddingRow::of(r, v)).collect();
        writer.write(&store::table::batch::<EmbeddingsTable>(run, &rows)?)?;
    }
    let rows = writer.finish()?;
    claims::embed_claims(output, run, embedder)?;
    Ok(EmbedStats {
        embedder_id: embedder.id().to_owned(),
        rows,
        newly_embedded: newly,
        cached: embedder.is_cached(),
        path: Some(out),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::responses::OkText;

    /// Issue 16, item 6: mixed lengths, empty and non-finite vectors were cached and crashed
    /// every later stage.
    #[test]
    fn vectors_are_checked_before_they_are_cached() {
        let v = |xs: &[f32]| xs.to_vec();
        assert!(check_vectors(&[v(&[1.0, 0.0]), v(&[0.0, 1.0])], 2, None).is_ok());
        assert!(check_vectors(&[v(&[1.0, 0.0]), v(&[0.0, 1.0])], 2, Some(2)).is_ok());
        let e = check_vectors(&[v(&[1.0, 0.0]), v(&[1.0])], 2, None).unwrap_err();
        assert!(e.contains("2 and of 1"), "{e}");
        let e = check_vectors(&[v(&[1.0, 0.0, 0.0])], 1, Some(2)).unwrap_err();
        assert!(e.contains("3 dimensions where this embedder gave 2"), "{e}");
        assert!(check_vectors(&[v(&[])], 1, None).unwrap_err().contains("empty"));
        assert!(check_vectors(&[v(&[f32::NAN, 1.0])], 1, None).unwrap_err().contains("NaN"));
        assert!(check_vectors(&[v(&[f32::INFINITY, 1.0])], 1, None).unwrap_err().contains("inf"));
        assert!(check_vectors(&[v(&[1.0])], 2, None).is_err());
    }

    #[test]
    fn the_cache_stays_the_size_of_the_last_runs_however_long_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let output = Output::local(dir.path());
        let tag = EmbedderTag { name: "remote".into(), id: "remote:test#m".into() };
        let mut cache = EmbeddingCache::open(&output.embed_cache_dir(), &tag.id).unwrap();
        let (keep_runs, rows) = (3usize, 20u64);
        let first = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let mut sizes = Vec::new();
        for night in 0..60u64 {
            let date = first + chrono::Days::new(night);
            let run_id = format!("run-{night:03}");
            // Every night answers anew, but for one text that comes back every night.
            let texts: Vec<OkText> = (0..rows)
                .map(|i| OkText {
                    endpoint: format!("m{}", i % 4),
                    probe_id: format!("p{i}"),
                    sample_index: 0,
                    text: if i == 0 { "the same answer".into() } else { format!("night {night} answer {i}") },
                })
                .collect();
            let vectors: Vec<Vec<f32>> = texts.iter().map(|_| vec![0.5; 16]).collect();
            for (t, v) in texts.iter().zip(&vectors) {
                cache.put(text_hash(&t.text), v).unwrap();
            }
            let stored: Vec<_> = texts.into_iter().zip(vectors).map(|(t, v)| EmbeddingRow::of(t, v)).collect();
            let run = RunRef::new(date, &run_id, tag.clone());
            crate::store::table::write::<EmbeddingsTable>(&output, &run, &stored).unwrap();
            bound_cache(&output, &tag, &mut cache, keep_runs, rows).unwrap();
            assert!(cache.len() as u64 <= 2 * keep_runs as u64 * rows, "night {night}: {}", cache.len());
            sizes.push(std::fs::metadata(cache.path()).unwrap().len());
            // The last runs' texts are still there.
            assert!(cache.get(&text_hash(&format!("night {night} answer 5"))).unwrap().is_some());
            assert!(cache.get(&text_hash("the same answer")).unwrap().is_some());
        }
        assert!(cache.get(&text_hash("night 0 answer 5")).unwrap().is_none(), "an old night's texts are gone");
        // Year three (here: night 60) costs what week one did: the file never passes what
        // twice the kept runs hold (100 bytes a record of 16 floats, and the header line).
        let bound = 2 * keep_runs as u64 * rows * 100 + 64;
        assert!(sizes.iter().all(|s| *s <= bound), "{sizes:?}");
        let early = *sizes[..10].iter().max().unwrap();
        assert!(sizes[50..].iter().all(|s| *s <= early), "{sizes:?}");
        // Reopening reads the bounded file.
        drop(cache);
        let cache = EmbeddingCache::open(&output.embed_cache_dir(), &tag.id).unwrap();
        assert!(cache.len() as u64 <= 2 * keep_runs as u64 * rows);
    }

    #[test]
    fn lexical_vectors_are_computed_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = EmbeddingCache::open(dir.path(), lexical::ID).unwrap();
        let (vectors, fresh) = embed_cached(&Embedder::Lexical, &mut cache, &["a text", "another"]).unwrap();
        assert_eq!((vectors.len(), fresh), (2, 2));
        assert!(cache.is_empty());
    }
}
