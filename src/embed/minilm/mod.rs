//! `minilm`: all-MiniLM-L6-v2 run in-process on the CPU, from a local folder.
//!
//! Matches sentence-transformers: the model's own tokenizer.json, truncation at 256 tokens
//! (sentence-transformers' `max_seq_length` for this model, not the tokenizer's 512), mean
//! pooling over the tokens, L2 normalisation. The forward pass is [`bert`] (its vector kernels in
//! [`kernels`], matrix tiles on CPUs with AMX in [`amx`]); [`hub`] fetches the model's files once
//! from the Hugging Face Hub when it is named by id. Texts are
//! tokenised on all cores, grouped into batches of about [`BATCH_TOKENS`] tokens, and each core
//! runs whole batches.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use safetensors::{Dtype, SafeTensors};
use tokenizers::{Tokenizer, TruncationParams};

pub mod amx;
pub mod bert;
pub mod hub;
#[macro_use]
pub mod kernels;

use super::EmbedError;
pub use bert::MatmulBackend;
use bert::{Bert, BertConfig, NamedTensors, Workspace};

/// sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2.
pub const MAX_TOKENS: usize = 256;
pub const DIM: usize = 384;
/// Tokens a core takes at once: enough rows for the matrix products to run at full speed,
/// few enough that a batch's activations (about 9 KiB a token) stay near the cache.
pub const BATCH_TOKENS: usize = 2048;

pub struct MiniLm {
    model: Bert,
    tokenizer: Tokenizer,
    id: String,
}

/// The files of a model folder, and what each is.
pub(crate) const FILES: [(&str, &str); 3] = [
    ("config.json", "the model's BERT configuration"),
    ("tokenizer.json", "the Hugging Face fast-tokenizer file"),
    ("model.safetensors", "the weights in safetensors format"),
];

impl MiniLm {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        Self::load_with(dir, MatmulBackend::Auto)
    }

    /// As [`Self::load`], choosing how matrices are multiplied (tests and benchmarks compare
    /// the two; both give the reference vectors).
    pub fn load_with(dir: &Path, backend: MatmulBackend) -> Result<Self, EmbedError> {
        let file = |name: &str| -> Result<PathBuf, EmbedError> {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                let what = FILES.iter().find(|(n, _)| *n == name).map_or("", |(_, w)| w);
                Err(EmbedError::Model {
                    path,
                    problem: format!(
                        "missing ({what}); the folder must hold config.json, tokenizer.json and model.safetensors of sentence-transformers/all-MiniLM-L6-v2"
                    ),
                })
            }
        };
        let bad = |path: &Path, problem: String| EmbedError::Model { path: path.to_owned(), problem };

        let config_path = file("config.json")?;
        let config_text = std::fs::read_to_string(&config_path).map_err(|e| bad(&config_path, e.to_string()))?;
        let config: BertConfig = serde_json::from_str(&config_text)
            .map_err(|e| bad(&config_path, format!("not a BERT config.json: {e}")))?;

        let tokenizer_path = file("tokenizer.json")?;
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| bad(&tokenizer_path, format!("not a tokenizer.json: {e}")))?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| bad(&tokenizer_path, e.to_string()))?;
        // The file's own padding (this model's pads to a fixed 128) would add [PAD] tokens the
        // forward pass would read as text: it runs on unpadded sequences.
        tokenizer.with_padding(None);

        let weights_path = file("model.safetensors")?;
        let weights = std::fs::read(&weights_path).map_err(|e| bad(&weights_path, e.to_string()))?;
        let digest = crate::util::sha256_hex(&weights);
        if config.hidden_size != DIM {
            return Err(bad(
                &config_path,
                format!("hidden_size is {}, all-MiniLM-L6-v2 has {DIM}", config.hidden_size),
            ));
        }
        if config.max_position_embeddings < MAX_TOKENS {
            return Err(bad(
                &config_path,
                format!(
                    "max_position_embeddings is {}, below the {MAX_TOKENS} tokens texts are cut to",
                    config.max_position_embeddings
                ),
            ));
        }
        let tensors = read_f32_tensors(&weights).map_err(|problem| bad(&weights_path, problem))?;
        let model = Bert::from_tensors(config, &tensors, backend)
            .map_err(|e| bad(&weights_path, format!("weights do not fit config.json: {}", e.0)))?;
        tracing::debug!(
            "minilm: {} loaded; weight products on {}",
            dir.display(),
            if model.uses_tiles() { "AMX tiles (bf16 split in three)" } else { "gemm f32 kernels" }
        );
        let id = format!("minilm:all-MiniLM-L6-v2@{}:max{MAX_TOKENS}:mean:l2", &digest[..12]);
        Ok(MiniLm { model, tokenizer, id })
    }

    /// Whether the weight products run on AMX tiles (see `embed::amx`).
    pub fn uses_tiles(&self) -> bool {
        self.model.uses_tiles()
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Token ids after truncation, with [CLS] and [SEP], as sentence-transformers makes them.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let enc = self.tokenizer.encode(text, true).map_err(|e| EmbedError::Compute(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Embeds texts on the calling thread, in one forward pass.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let ids = texts.iter().map(|t| self.token_ids(t)).collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        Ok(self.pooled(&refs, &mut Workspace::default()))
    }

    /// Embeds texts on all cores, in input order.
    pub fn embed_all(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let ids = crate::util::parallel_map(texts, |t| self.token_ids(t)).into_iter().collect::<Result<Vec<_>, _>>()?;
        // Batches of consecutive texts up to BATCH_TOKENS tokens; no padding, so order within a
        // batch does not matter.
        let mut batches: Vec<std::ops::Range<usize>> = Vec::new();
        let (mut first, mut tokens) = (0, 0);
        for (i, t) in ids.iter().enumerate() {
            if tokens > 0 && tokens + t.len() > BATCH_TOKENS {
                batches.push(first..i);
                (first, tokens) = (i, 0);
            }
            tokens += t.len();
        }
        if first < ids.len() {
            batches.push(first..ids.len());
        }
        let out: Mutex<Vec<Vec<f32>>> = Mutex::new(vec![Vec::new(); texts.len()]);
        let next = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(batches.len());
        let work = || {
            let mut ws = Workspace::default();
            while let Some(batch) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                let refs: Vec<&[u32]> = ids[batch.clone()].iter().map(Vec::as_slice).collect();
                let vectors = self.pooled(&refs, &mut ws);
                let mut out = out.lock().expect("no worker panics while holding the lock");
                for (slot, v) in out[batch.clone()].iter_mut().zip(vectors) {
                    *slot = v;
                }
            }
        };
        if threads <= 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(work);
                }
            });
        }
        Ok(out.into_inner().expect("workers finished"))
    }

    fn pooled(&self, ids: &[&[u32]], ws: &mut Workspace) -> Vec<Vec<f32>> {
        let mut vectors = self.model.mean_pooled(ids, ws);
        for v in &mut vectors {
            crate::embed::l2_normalise(v);
        }
        vectors
    }
}

/// The f32 tensors of a safetensors file by name, with their shapes. Other tensors (such as
/// the integer `position_ids` some exports carry) are skipped; a weight in another float type
/// is an error naming it.
fn read_f32_tensors(bytes: &[u8]) -> Result<NamedTensors, String> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
    let mut out = NamedTensors::new();
    for (name, view) in file.iter() {
        match view.dtype() {
            Dtype::F32 => {
                let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
                out.insert(name.to_owned(), (view.shape().to_vec(), data));
            }
            Dtype::F16 | Dtype::BF16 | Dtype::F64 => {
                return Err(format!(
                    "tensor {name} is {:?}; only f32 weights are read (sentence-transformers' all-MiniLM-L6-v2 ships f32)",
                    view.dtype()
                ));
            }
            _ => {}
        }
    }
    Ok(out)
}
