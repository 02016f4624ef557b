//! A BERT encoder forward pass written for sentence embedding on the CPU, in f32.
//!
//! Why not a general tensor library: for this job the general path spends most of its time
//! outside the matrix products (a fresh tensor for every step, padding to the longest text of a
//! batch, thread hand-offs between small operations). Here:
//!
//! - The tokens of all texts in a batch are stacked into one `tokens × hidden` matrix with no
//!   padding; only attention looks at text boundaries, one text and head at a time.
//! - The query, key and value projections are one product with a fused weight.
//! - Buffers live in a [`Workspace`] reused across layers and batches; the feed-forward block
//!   runs in row blocks so its 4×-wide intermediate stays in cache.
//! - One thread runs a whole batch (callers run one batch per core), so nothing waits.
//!
//! Matrix products go to the `gemm` crate (AVX-512 or AVX2 kernels chosen at run time); GELU,
//! softmax and layer norm are in [`super::kernels`]. The result matches PyTorch's to float
//! rounding (tests/embed.rs checks it against sentence-transformers).

use std::collections::HashMap;

use serde::Deserialize;

use super::{amx, kernels};

/// The fields of a Hugging Face BERT `config.json` the forward pass uses.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_position")]
    pub position_embedding_type: String,
}

impl BertConfig {
    /// Refuses what this forward pass does not implement.
    fn check(&self) -> Result<(), WeightsError> {
        if self.hidden_act != "gelu" {
            return Err(WeightsError(format!(
                "config.json: hidden_act is {:?}; only \"gelu\" (BERT's exact GELU) is supported",
                self.hidden_act
            )));
        }
        if self.position_embedding_type != "absolute" {
            return Err(WeightsError(format!(
                "config.json: position_embedding_type is {:?}; only \"absolute\" is supported",
                self.position_embedding_type
            )));
        }
        let h = self.hidden_size;
        if self.num_attention_heads == 0 || !h.is_multiple_of(self.num_attention_heads) {
            return Err(WeightsError(format!(
                "config.json: hidden_size {h} is not a multiple of num_attention_heads {}",
                self.num_attention_heads
            )));
        }
        Ok(())
    }
}

fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}
fn default_position() -> String {
    "absolute".into()
}

/// Named float32 tensors with their shapes, as read from a safetensors file.
pub type NamedTensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// `y = x W + b`, the weight stored `[in, out]` (transposed from PyTorch's `[out, in]` at
/// load: `gemm` multiplies a row-major right-hand side without repacking it).
struct Linear {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
    /// The weight packed for AMX tiles, when the forward pass uses them.
    tiles: Option<amx::PackedWeights>,
}

/// How the forward pass multiplies matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulBackend {
    /// AMX tiles for the weight products where the CPU has them (see [`amx`]), else `gemm`.
    Auto,
    /// The `gemm` crate's float32 kernels (AVX-512, AVX2 or portable) everywhere.
    Gemm,
}

struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    /// Query, key and value stacked: `3·hidden` outputs.
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    feed_forward_in: Linear,
    feed_forward_out: Linear,
    output_norm: LayerNorm,
}

pub struct Bert {
    config: BertConfig,
    word_embeddings: Vec<f32>,
    position_embeddings: Vec<f32>,
    token_type_embeddings: Vec<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

/// Scratch buffers for one thread, grown to the largest batch seen and reused.
#[derive(Default)]
pub struct Workspace {
    hidden: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    projected: Vec<f32>,
    intermediate: Vec<f32>,
    scores: Vec<f32>,
    tiles: amx::Scratch,
}

fn grow(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

/// Rows of the feed-forward block done at once: 256 × 1536 floats is 1.5 MiB, in L2.
const FEED_FORWARD_ROWS: usize = 256;

/// dst (m×n) ← alpha·dst + beta·lhs (m×k) · rhs (k×n), every matrix given by pointer, row
/// stride and column stride (in elements).
///
/// # Safety
/// Every element the strides address must lie inside the allocation its pointer is in, and
/// `dst` must not overlap `lhs` or `rhs`.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: (*mut f32, isize, isize),
    lhs: (*const f32, isize, isize),
    rhs: (*const f32, isize, isize),
    alpha: Option<f32>,
    beta: f32,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0,
            dst.2,
            dst.1,
            alpha.is_some(),
            lhs.0,
            lhs.2,
            lhs.1,
            rhs.0,
            rhs.2,
            rhs.1,
            alpha.unwrap_or(0.0),
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

impl Linear {
    fn new(weight: Vec<f32>, bias: Vec<f32>, inputs: usize, outputs: usize, use_tiles: bool) -> Self {
        let tiles =
            (use_tiles && amx::fits(inputs, outputs)).then(|| amx::PackedWeights::pack(&weight, inputs, outputs));
        // The float32 weight is only read by gemm: not kept beside its packed halves.
        let weight = if tiles.is_some() { Vec::new() } else { weight };
        Linear { weight, bias, inputs, outputs, tiles }
    }

    /// `out[rows × outputs] = x[rows × inputs] · W + b`.
    fn forward(&self, x: &[f32], rows: usize, out: &mut [f32], scratch: &mut amx::Scratch) {
        assert!(x.len() >= rows * self.inputs && out.len() >= rows * self.outputs);
        kernels::fill_rows(&mut out[..rows * self.outputs], &self.bias);
        if let Some(tiles) = &self.tiles {
            amx::matmul_accumulate(x, rows, tiles, out, scratch);
            return;
        }
        // SAFETY: x holds rows×inputs, out rows×outputs, weight inputs×outputs (checked at load).
        unsafe {
            matmul(
                (rows, self.outputs, self.inputs),
                (out.as_mut_ptr(), self.outputs as isize, 1),
                (x.as_ptr(), self.inputs as isize, 1),
                (self.weight.as_ptr(), self.outputs as isize, 1),
                Some(1.0),
                1.0,
            );
        }
    }
}

/// The `cols × rows` transpose of a row-major `rows × cols` matrix.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols).flat_map(|c| (0..rows).map(move |r| m[r * cols + c])).collect()
}

/// What is wrong with a weights file, for the caller to wrap with the path.
#[derive(Debug)]
pub struct WeightsError(pub String);

impl Bert {
    /// Builds the model from `config` and named f32 tensors (as in a sentence-transformers or
    /// Hugging Face `model.safetensors`, with or without the `bert.` prefix).
    pub fn from_tensors(
        config: BertConfig,
        tensors: &NamedTensors,
        backend: MatmulBackend,
    ) -> Result<Self, WeightsError> {
        let use_tiles = backend == MatmulBackend::Auto && amx::available();
        config.check()?;
        let h = config.hidden_size;
        let take = |name: &str, shape: &[usize]| -> Result<Vec<f32>, WeightsError> {
            let found = tensors.get(name).or_else(|| tensors.get(&format!("bert.{name}")));
            match found {
                Some((s, data)) if s == shape => Ok(data.clone()),
                Some((s, _)) => {
                    Err(WeightsError(format!("tensor {name} has shape {s:?}, config.json implies {shape:?}")))
                }
                None => Err(WeightsError(format!("tensor {name} is missing"))),
            }
        };
        // A weight transposed to [in, out], with its bias.
        let dense = |prefix: &str, inputs: usize, outputs: usize| -> Result<(Vec<f32>, Vec<f32>), WeightsError> {
            let weight = take(&format!("{prefix}.weight"), &[outputs, inputs])?;
            Ok((transpose(&weight, outputs, inputs), take(&format!("{prefix}.bias"), &[outputs])?))
        };
        let linear = |prefix: &str, inputs: usize, outputs: usize| -> Result<Linear, WeightsError> {
            let (weight, bias) = dense(prefix, inputs, outputs)?;
            Ok(Linear::new(weight, bias, inputs, outputs, use_tiles))
        };
        let norm = |prefix: &str| -> Result<LayerNorm, WeightsError> {
            Ok(LayerNorm {
                gamma: take(&format!("{prefix}.weight"), &[h])?,
                beta: take(&format!("{prefix}.bias"), &[h])?,
            })
        };
        let i = config.intermediate_size;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let (q, k, v) = (
                dense(&format!("{p}.attention.self.query"), h, h)?,
                dense(&format!("{p}.attention.self.key"), h, h)?,
                dense(&format!("{p}.attention.self.value"), h, h)?,
            );
            // Side by side: each input row of the fused weight is q's, then k's, then v's.
            let weight = (0..h).flat_map(|r| [&q.0, &k.0, &v.0].map(|w| &w[r * h..(r + 1) * h])).flatten();
            let bias = [q.1, k.1, v.1].concat();
            let qkv = Linear::new(weight.copied().collect(), bias, h, 3 * h, use_tiles);
            layers.push(Layer {
                qkv,
                attention_out: linear(&format!("{p}.attention.output.dense"), h, h)?,
                attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                feed_forward_in: linear(&format!("{p}.intermediate.dense"), h, i)?,
                feed_forward_out: linear(&format!("{p}.output.dense"), i, h)?,
                output_norm: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        Ok(Bert {
            word_embeddings: take("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            position_embeddings: take("embeddings.position_embeddings.weight", &[config.max_position_embeddings, h])?,
            token_type_embeddings: take("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, h])?,
            embedding_norm: norm("embeddings.LayerNorm")?,
            layers,
            config,
        })
    }

    /// Whether the weight products run on AMX tiles.
    pub fn uses_tiles(&self) -> bool {
        self.layers.iter().any(|l| l.qkv.tiles.is_some())
    }

    /// Mean-pooled last hidden states, one vector per text, for texts given as token ids (with
    /// their special tokens; all of type 0).
    ///
    /// # Panics
    /// If an id is outside the vocabulary or a text is longer than the position table (the
    /// model's own tokenizer, truncating, never makes either).
    pub fn mean_pooled(&self, texts: &[&[u32]], ws: &mut Workspace) -> Vec<Vec<f32>> {
        let h = self.config.hidden_size;
        let eps = self.config.layer_norm_eps as f32;
        let tokens: usize = texts.iter().map(|t| t.len()).sum();
        let starts: Vec<usize> = texts
            .iter()
            .scan(0, |at, t| {
                let s = *at;
                *at += t.len();
                Some(s)
            })
            .collect();

        // Embeddings: word + position + type, then layer norm.
        let hidden = grow(&mut ws.hidden, tokens * h);
        let projected = grow(&mut ws.projected, tokens * h);
        for (text, &start) in texts.iter().zip(&starts) {
            assert!(text.len() <= self.config.max_position_embeddings, "text longer than the position table");
            for (p, &id) in text.iter().enumerate() {
                let id = id as usize;
                assert!(id < self.config.vocab_size, "token id {id} outside the vocabulary");
                let row = &mut projected[(start + p) * h..(start + p + 1) * h];
                let word = &self.word_embeddings[id * h..(id + 1) * h];
                let position = &self.position_embeddings[p * h..(p + 1) * h];
                for (((o, w), q), t) in row.iter_mut().zip(word).zip(position).zip(&self.token_type_embeddings[..h]) {
                    *o = w + q + t;
                }
            }
        }
        hidden.fill(0.0);
        let norm = &self.embedding_norm;
        kernels::residual_layer_norm(hidden, projected, &norm.gamma, &norm.beta, eps);

        for layer in &self.layers {
            self.attention(layer, texts, &starts, ws);
            let (hidden, projected) = (&mut ws.hidden[..tokens * h], &mut ws.projected[..tokens * h]);
            let norm = &layer.attention_norm;
            kernels::residual_layer_norm(hidden, projected, &norm.gamma, &norm.beta, eps);

            // Feed-forward in row blocks, so the wide intermediate stays in cache.
            let i = self.config.intermediate_size;
            let intermediate = grow(&mut ws.intermediate, FEED_FORWARD_ROWS * i);
            for first in (0..tokens).step_by(FEED_FORWARD_ROWS) {
                let rows = FEED_FORWARD_ROWS.min(tokens - first);
                let x = &hidden[first * h..(first + rows) * h];
                layer.feed_forward_in.forward(x, rows, intermediate, &mut ws.tiles);
                kernels::gelu(&mut intermediate[..rows * i]);
                let out = &mut projected[first * h..(first + rows) * h];
                layer.feed_forward_out.forward(intermediate, rows, out, &mut ws.tiles);
            }
            let norm = &layer.output_norm;
            kernels::residual_layer_norm(hidden, projected, &norm.gamma, &norm.beta, eps);
        }

        let hidden = &ws.hidden[..tokens * h];
        texts
            .iter()
            .zip(&starts)
            .map(|(text, &start)| {
                let mut pooled = vec![0f32; h];
                kernels::mean_rows(&hidden[start * h..(start + text.len()) * h], &mut pooled);
                pooled
            })
            .collect()
    }

    /// Self-attention of one layer: `ws.projected` ← attention output projection of `ws.hidden`.
    fn attention(&self, layer: &Layer, texts: &[&[u32]], starts: &[usize], ws: &mut Workspace) {
        let h = self.config.hidden_size;
        let heads = self.config.num_attention_heads;
        let d = h / heads;
        let tokens: usize = texts.iter().map(|t| t.len()).sum();
        let hidden = &ws.hidden[..tokens * h];
        let qkv = grow(&mut ws.qkv, tokens * 3 * h);
        layer.qkv.forward(hidden, tokens, qkv, &mut ws.tiles);
        let context = grow(&mut ws.context, tokens * h);
        let longest = texts.iter().map(|t| t.len()).max().unwrap_or(0);
        let scores = grow(&mut ws.scores, longest * longest);
        let scale = 1.0 / (d as f32).sqrt();
        let row = 3 * h as isize;
        for (text, &start) in texts.iter().zip(starts) {
            let len = text.len();
            for head in 0..heads {
                let q = qkv[start * 3 * h + head * d..].as_ptr();
                let k = qkv[start * 3 * h + h + head * d..].as_ptr();
                let v = qkv[start * 3 * h + 2 * h + head * d..].as_ptr();
                let scores = &mut scores[..len * len];
                // SAFETY: q, k, v address rows start..start+len of qkv (3h wide), columns
                // head·d.. +d of their third; scores is len×len; context rows start..start+len.
                unsafe {
                    // scores = Q Kᵀ / √d
                    matmul(
                        (len, len, d),
                        (scores.as_mut_ptr(), len as isize, 1),
                        (q, row, 1),
                        (k, 1, row),
                        None,
                        scale,
                    );
                }
                kernels::softmax_rows(scores, len);
                // SAFETY: as above.
                unsafe {
                    // context = softmax(scores) V
                    matmul(
                        (len, d, len),
                        (context[start * h + head * d..].as_mut_ptr(), h as isize, 1),
                        (scores.as_ptr(), len as isize, 1),
                        (v, row, 1),
                        None,
                        1.0,
                    );
                }
            }
        }
        let projected = grow(&mut ws.projected, tokens * h);
        layer.attention_out.forward(&ws.context[..tokens * h], tokens, projected, &mut ws.tiles);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(
        m: usize,
        n: usize,
        k: usize,
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
    ) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|l| f64::from(a(i, l)) * f64::from(b(l, j))).sum::<f64>() as f32;
            }
        }
        out
    }

    /// The attention products read Q, K and V in place from the fused QKV rows (K transposed
    /// through its strides); they must equal the plain product for every text length.
    #[test]
    fn strided_products_match_the_plain_product() {
        let shapes = [(64usize, 16usize), (384, 32)]
            .into_iter()
            .flat_map(|(h, d)| [1usize, 2, 7, 31, 53, 64, 100, 127, 128, 129, 200].map(move |len| (h, d, len)));
        for (h, d, len) in shapes {
            let qkv: Vec<f32> = (0..len * 3 * h).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
            let row = 3 * h;
            let (q0, k0) = (d, h + d); // second head
            // Stale values in the destinations must be overwritten, not added to.
            let mut scores = vec![0.5f32; len * len];
            unsafe {
                matmul(
                    (len, len, d),
                    (scores.as_mut_ptr(), len as isize, 1),
                    (qkv[q0..].as_ptr(), row as isize, 1),
                    (qkv[k0..].as_ptr(), 1, row as isize),
                    None,
                    0.25,
                );
            }
            let want = naive(len, len, d, |i, l| qkv[i * row + q0 + l] * 0.25, |l, j| qkv[j * row + k0 + l]);
            for (x, (g, w)) in scores.iter().zip(&want).enumerate() {
                assert!((g - w).abs() < 1e-4, "len {len} at {x}: {g} vs {w}");
            }
            // context (rows of width h, head 1) = scores V
            let mut context = vec![0.5f32; len * h];
            let v0 = 2 * h + d;
            unsafe {
                matmul(
                    (len, d, len),
                    (context[d..].as_mut_ptr(), h as isize, 1),
                    (scores.as_ptr(), len as isize, 1),
                    (qkv[v0..].as_ptr(), row as isize, 1),
                    None,
                    1.0,
                );
            }
            let want = naive(len, d, len, |i, l| scores[i * len + l], |l, j| qkv[l * row + v0 + j]);
            for i in 0..len {
                for j in 0..d {
                    let (g, w) = (context[i * h + d + j], want[i * d + j]);
                    assert!((g - w).abs() < 1e-3 * (1.0 + w.abs()), "context len {len} ({i},{j}): {g} vs {w}");
                }
            }
        }
    }
}
