//! `minilm`: all-MiniLM-L6-v2 run in-process on the CPU with candle, from a local folder.
//!
//! Matches sentence-transformers: the model's own tokenizer.json, truncation at 256 tokens
//! (sentence-transformers' `max_seq_length` for this model, not the tokenizer's 512), mean
//! pooling over the attention mask, L2 normalisation. Texts are batched by length to avoid
//! padding work.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::EmbedError;

/// sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2.
pub const MAX_TOKENS: usize = 256;
pub const DIM: usize = 384;

pub struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    id: String,
    device: Device,
}

const FILES: [(&str, &str); 3] = [
    ("config.json", "the model's BERT configuration"),
    ("tokenizer.json", "the Hugging Face fast-tokenizer file"),
    ("model.safetensors", "the weights in safetensors format"),
];

impl MiniLm {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
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
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|e| bad(&config_path, format!("not a BERT config.json: {e}")))?;

        let tokenizer_path = file("tokenizer.json")?;
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| bad(&tokenizer_path, format!("not a tokenizer.json: {e}")))?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| bad(&tokenizer_path, e.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..Default::default() }));

        let weights_path = file("model.safetensors")?;
        let weights = std::fs::read(&weights_path).map_err(|e| bad(&weights_path, e.to_string()))?;
        let digest = crate::util::sha256_hex(&weights);
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| bad(&weights_path, format!("not a safetensors file: {e}")))?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| bad(&weights_path, format!("weights do not fit config.json: {e}")))?;
        if config.hidden_size != DIM {
            return Err(bad(
                &config_path,
                format!("hidden_size is {}, all-MiniLM-L6-v2 has {DIM}", config.hidden_size),
            ));
        }
        let id = format!("minilm:all-MiniLM-L6-v2@{}:max{MAX_TOKENS}:mean:l2", &digest[..12]);
        Ok(MiniLm { model, tokenizer, id, device })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Token ids after truncation, with [CLS] and [SEP], as sentence-transformers makes them.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let enc = self.tokenizer.encode(text, true).map_err(|e| EmbedError::Compute(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Embeds texts in one forward pass (callers batch by length).
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let c = |e: candle_core::Error| EmbedError::Compute(e.to_string());
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| EmbedError::Compute(e.to_string()))?;
        let len = encodings[0].get_ids().len();
        let n = encodings.len();
        let mut ids = Vec::with_capacity(n * len);
        let mut types = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            types.extend_from_slice(e.get_type_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let ids = Tensor::from_vec(ids, (n, len), &self.device).map_err(c)?;
        let types = Tensor::from_vec(types, (n, len), &self.device).map_err(c)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device).map_err(c)?;
        let hidden = self.model.forward(&ids, &types, Some(&mask)).map_err(c)?; // (n, len, 384)
        // Mean over real tokens only.
        let mask_f = mask.to_dtype(DType::F32).map_err(c)?.unsqueeze(2).map_err(c)?; // (n, len, 1)
        let summed = hidden.broadcast_mul(&mask_f).map_err(c)?.sum(1).map_err(c)?; // (n, 384)
        let counts = mask_f.sum(1).map_err(c)?.clamp(1e-9f32, f32::MAX).map_err(c)?; // (n, 1)
        let mean = summed.broadcast_div(&counts).map_err(c)?;
        let rows: Vec<Vec<f32>> = mean.to_vec2().map_err(c)?;
        Ok(rows
            .into_iter()
            .map(|mut v| {
                super::l2_normalise(&mut v);
                v
            })
            .collect())
    }
}
