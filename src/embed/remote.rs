//! `remote`: an OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, text-embeddings-inference,
//! vLLM, Ollama), batched, through the same limits and retry policy as collection.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use super::EmbedError;
use crate::collect::providers::auth_header;
use crate::config::Provider;
use crate::net::client::{MAX_BODY_BYTES, read_reply, transport_error};
use crate::net::limiter::RateLimiter;
use crate::net::retry::{AttemptError, ErrorKind, RetryPolicy, with_retries};
use crate::secrets::{Redactor, SecretKey};

#[derive(Debug, Clone)]
pub struct RemoteSpec {
    /// Ends in `/v1`, as for chat endpoints.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<SecretKey>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub requests_per_minute: Option<f64>,
    /// Texts in one request.
    pub batch_size: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
}

pub struct RemoteEmbedder {
    spec: RemoteSpec,
    client: reqwest::Client,
    limiter: RateLimiter,
    policy: RetryPolicy,
    redactor: Redactor,
    id: String,
    /// The length of its vectors, once [`RemoteEmbedder::settle`] asked.
    dim: Option<usize>,
}

impl RemoteEmbedder {
    pub fn new(spec: RemoteSpec) -> Result<Self, EmbedError> {
        // Collection's client: no redirect to another origin, so the key stays with its host.
        let client = crate::net::client::http_client().map_err(|e| EmbedError::Compute(e.to_string()))?;
        let id = format!("remote:{}#{}", spec.base_url, spec.model);
        Ok(RemoteEmbedder {
            limiter: RateLimiter::new(spec.requests_per_minute),
            policy: RetryPolicy::new(spec.max_retries, spec.timeout * (spec.max_retries + 1) * 2),
            redactor: Redactor::new(spec.api_key.iter()),
            client,
            id,
            dim: None,
            spec,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The length of its vectors (known once settled).
    pub fn dim(&self) -> Option<usize> {
        self.dim
    }

    /// Asks for one vector, before anything else of a night: whether the endpoint answers at
    /// all (not after every model request has been sent), and how long its vectors are. The
    /// length becomes part of the id (`remote:<base_url>#<model>@<n>d`): a model whose vectors
    /// change length is another embedder, with its own cache and a new baseline, where it used
    /// to fail every later night against the old cache.
    pub async fn settle(&mut self) -> Result<usize, EmbedError> {
        let v = self.embed_batch(&["hivewatch checks that the embedder answers"]).await?;
        let dim = v.first().map_or(0, Vec::len);
        self.dim = Some(dim);
        self.id = format!("remote:{}#{}@{dim}d", self.spec.base_url, self.spec.model);
        Ok(dim)
    }

    /// Texts in one request, and requests in flight at once (`[embed] batch_size`, `concurrency`).
    pub fn batching(&self) -> (usize, usize) {
        (self.spec.batch_size.max(1), self.spec.concurrency.max(1))
    }

    pub async fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let body = serde_json::to_vec(&json!({"model": self.spec.model, "input": texts})).expect("serialises");
        let url = format!("{}/embeddings", self.spec.base_url);
        let retried = with_retries(&self.policy, |_| {
            let (body, url) = (&body, &url);
            async move {
                self.limiter.acquire().await;
                tokio::time::timeout(self.spec.timeout, self.attempt(url, body, texts.len())).await.unwrap_or_else(
                    |_| {
                        Err(AttemptError {
                            kind: ErrorKind::Timeout,
                            http_status: None,
                            message: format!("no reply within {:?}", self.spec.timeout),
                            retry_after: None,
                        })
                    },
                )
            }
        })
        .await;
        retried.result.map_err(|e| {
            EmbedError::Remote(format!(
                "{} after {} attempts: {}",
                e.kind.as_str(),
                retried.attempts,
                self.redactor.redact(&e.message)
            ))
        })
    }

    async fn attempt(&self, url: &str, body: &[u8], n: usize) -> Result<Vec<Vec<f32>>, AttemptError> {
        let mut req = self.client.post(url).header(CONTENT_TYPE, "application/json").body(body.to_vec());
        // An OpenAI-compatible endpoint: the same bearer header as chat requests.
        if let Some((name, value)) = self.spec.api_key.as_ref().and_then(|k| auth_header(Provider::Openai, k)) {
            req = req.header(name, value);
        }
        let resp = req.send().await.map_err(transport_error)?;
        let (status, bytes) = read_reply(resp, MAX_BODY_BYTES, &self.redactor).await?;
        parse(&bytes, n).map_err(|message| AttemptError {
            kind: ErrorKind::Malformed,
            http_status: Some(status),
            message,
            retry_after: None,
        })
    }
}

/// Parses `{"data": [{"index": i, "embedding": [...]}, ...]}` into vectors in input order.
/// Empty, all-zero and non-finite vectors (a number past f32's range) are refused: no measure
/// can use them, and they are not what an embedding model answers when it works.
pub fn parse(body: &[u8], n: usize) -> Result<Vec<Vec<f32>>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("reply is not JSON: {e}"))?;
    let data = v.get("data").and_then(Value::as_array).ok_or("reply has no data array")?;
    if data.len() != n {
        return Err(format!("asked for {n} embeddings, got {}", data.len()));
    }
    let mut out: Vec<Option<Vec<f32>>> = vec![None; n];
    for (pos, item) in data.iter().enumerate() {
        let index = item.get("index").and_then(Value::as_u64).map_or(pos, |i| i as usize);
        let emb = item.get("embedding").and_then(Value::as_array).ok_or("an item has no embedding array")?;
        let vec: Option<Vec<f32>> = emb.iter().map(|x| x.as_f64().map(|f| f as f32)).collect();
        let slot = out.get_mut(index).ok_or_else(|| format!("index {index} out of range"))?;
        *slot = Some(vec.ok_or("an embedding holds a non-number")?);
    }
    let out: Vec<Vec<f32>> = out.into_iter().collect::<Option<_>>().ok_or("some inputs got no embedding")?;
    if out.windows(2).any(|w| w[0].len() != w[1].len()) {
        return Err("embeddings of different lengths".into());
    }
    for (i, v) in out.iter().enumerate() {
        if v.is_empty() {
            return Err(format!("embedding {i} is empty"));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(format!("embedding {i} holds a value that is not a finite 32-bit float"));
        }
        if v.iter().all(|&x| x == 0.0) {
            return Err(format!("embedding {i} is all zeros"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_out_of_order_items() {
        let v = parse(br#"{"data":[{"index":1,"embedding":[1,2]},{"index":0,"embedding":[3,4]}]}"#, 2).unwrap();
        assert_eq!(v, vec![vec![3.0, 4.0], vec![1.0, 2.0]]);
        assert!(parse(br#"{"data":[]}"#, 1).is_err());
    }

    /// Issue 16, item 6: empty, all-zero and non-finite vectors were accepted.
    #[test]
    fn unusable_vectors_are_refused() {
        assert!(parse(br#"{"data":[{"embedding":[]}]}"#, 1).unwrap_err().contains("empty"));
        assert!(parse(br#"{"data":[{"embedding":[0,0,0]}]}"#, 1).unwrap_err().contains("all zeros"));
        assert!(parse(br#"{"data":[{"embedding":[1e39,1]}]}"#, 1).unwrap_err().contains("finite"));
        assert!(parse(br#"{"data":[{"embedding":[1,2]},{"embedding":[1]}]}"#, 2).is_err());
    }
}
