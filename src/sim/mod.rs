//! The simulator: an HTTP server on 127.0.0.1 that speaks the three providers' protocols for any
//! number of synthetic models ([`models`]), with injectable faults ([`faults`]). Every test and
//! the demo stand on it.

pub mod faults;
mod identity;
pub mod models;
pub mod scenario;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use faults::{Fault, FaultSpec};
use models::{GenParams, generate};

/// How the simulator behaves.
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    pub faults: FaultSpec,
    /// When set, requests must carry this key; a wrong key gets a 401 that, like some real
    /// providers, quotes the key it was sent (so redaction is exercised).
    pub api_key: Option<String>,
    /// Added to every answer.
    pub latency: Duration,
    /// Seconds announced in `Retry-After` on injected 429s.
    pub retry_after_s: f64,
    /// A drifting ecosystem: models it names answer as their profile on the current night.
    pub scenario: Option<Arc<scenario::Scenario>>,
}

/// A simulator serving in the background; dropping it shuts it down.
pub struct RunningSim {
    pub addr: SocketAddr,
    state: Arc<SimState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningSim {
    /// `http://127.0.0.1:PORT`: Anthropic and Gemini base URL.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1`: OpenAI-compatible base URL.
    pub fn openai_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Chat requests received so far (all protocols, faults included).
    pub fn requests_received(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Moves the scenario's ecosystem to `night` (1-based).
    pub fn set_night(&self, night: u32) {
        self.state.night.store(night, Ordering::Relaxed);
        self.state.seedless.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `addr` (port 0 for any free port) and serves until stopped.
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<RunningSim> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let state = Arc::new(SimState {
        config,
        requests: AtomicU64::new(0),
        night: AtomicU32::new(1),
        seedless: Default::default(),
    });
    let app = router(Arc::clone(&state));
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = server.await {
            tracing::error!("simulator stopped: {e}");
        }
    });
    Ok(RunningSim { addr, state, shutdown: Some(tx), task: Some(task) })
}

/// What the handlers share.
pub struct SimState {
    config: SimConfig,
    requests: AtomicU64,
    night: AtomicU32,
    /// How many seedless requests each (model, system, prompt) has had tonight: Anthropic sends
    /// no seed, and a scenario must replay exactly, a test must not pass or fail by the draw
    /// (see [`SimState::seedless_seed`]).
    seedless: std::sync::Mutex<std::collections::HashMap<u64, u64>>,
}

impl SimState {
    /// The answer of `model`: as the scenario makes it tonight, or as its name makes it.
    fn generate(&self, model: &str, system: Option<&str>, prompt: &str, mut params: GenParams) -> models::Generated {
        let night = self.night.load(Ordering::Relaxed);
        let scenario = self.config.scenario.as_ref();
        if params.seed.is_none() {
            let stream = scenario.map_or(0, |s| s.meta.seed);
            params.seed = Some(self.seedless_seed(stream, night, model, system, prompt));
        }
        let Some(scenario) = scenario else { return generate(model, system, prompt, params) };
        match scenario.profile(model, night) {
            Some(profile) => models::generate_with(&profile, model, system, prompt, params),
            None => generate(model, system, prompt, params),
        }
    }

    /// The seed of a request that carried none: the n-th such request for one (model, system,
    /// prompt) tonight gets the n-th seed of a stream fixed by the scenario's seed (0 outside a
    /// scenario) and the night. Samples still differ from each other, and a night replays the same
    /// set of answers whatever order its concurrent requests arrive in (which sample index
    /// holds which answer may swap; no measure depends on sample order).
    fn seedless_seed(&self, scenario_seed: u64, night: u32, model: &str, system: Option<&str>, prompt: &str) -> u64 {
        let key = crate::util::stable_hash64(
            format!("{scenario_seed}\u{0}{night}\u{0}{model}\u{0}{}\u{0}{prompt}", system.unwrap_or("")).as_bytes(),
        );
        let mut counts = self.seedless.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = counts.entry(key).or_insert(0);
        *n += 1;
        key.wrapping_add(*n)
    }
}

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/v1/chat/completions", post(openai_chat))
        .route("/v1/messages", post(anthropic_messages))
        .route("/v1/embeddings", post(openai_embeddings))
        .route("/v1beta/models/{target}", post(gemini_generate))
        .with_state(state)
}

#[derive(Clone, Copy, PartialEq)]
enum Wire {
    Openai,
    Anthropic,
    Gemini,
}

/// Applies auth and faults; `Some(response)` ends the request there.
async fn gate(state: &SimState, wire: Wire, headers: &HeaderMap) -> Option<Response> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let config = &state.config;
    if let Some(expected) = &config.api_key {
        let presented = match wire {
            Wire::Openai => headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned),
            Wire::Anthropic => headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_owned),
            Wire::Gemini => headers.get("x-goog-api-key").and_then(|v| v.to_str().ok()).map(str::to_owned),
        };
        match presented {
            Some(k) if &k == expected => {}
            Some(k) => return Some(error(wire, StatusCode::UNAUTHORIZED, &format!("Incorrect API key provided: {k}"))),
            None => return Some(error(wire, StatusCode::UNAUTHORIZED, "No API key provided")),
        }
    }
    let u: f64 = rand::rng().random();
    match config.faults.pick(u) {
        None => None,
        Some(Fault::RateLimit) => {
            let mut r = error(wire, StatusCode::TOO_MANY_REQUESTS, "Rate limit reached, slow down");
            r.headers_mut().insert("retry-after", format!("{}", config.retry_after_s).parse().expect("header"));
            Some(r)
        }
        Some(Fault::ServerError) => Some(error(wire, StatusCode::INTERNAL_SERVER_ERROR, "The server had an error")),
        Some(Fault::Malformed) => Some(
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                "{\"choices\": [{\"message\": {\"content\": \"trunc",
            )
                .into_response(),
        ),
        Some(Fault::Hang) => {
            // Never answer; the client's timeout (or disconnect) ends this.
            std::future::pending::<()>().await;
            None
        }
        Some(Fault::Slow) => {
            let ms = rand::rng().random_range(300..1500);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            None
        }
    }
}

fn error(wire: Wire, status: StatusCode, message: &str) -> Response {
    let body = match wire {
        Wire::Openai => json!({"error": {"message": message, "type": "sim_error", "code": status.as_u16()}}),
        Wire::Anthropic => json!({"type": "error", "error": {"type": "sim_error", "message": message}}),
        Wire::Gemini => json!({"error": {"code": status.as_u16(), "message": message, "status": "SIM_ERROR"}}),
    };
    (status, Json(body)).into_response()
}

fn bad_request(wire: Wire, message: &str) -> Response {
    error(wire, StatusCode::BAD_REQUEST, message)
}

async fn latency(config: &SimConfig) {
    if !config.latency.is_zero() {
        tokio::time::sleep(config.latency).await;
    }
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect(),
        _ => String::new(),
    }
}

async fn openai_chat(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Option<Json<Value>>) -> Response {
    if let Some(r) = gate(&state, Wire::Openai, &headers).await {
        return r;
    }
    let Some(Json(req)) = body else { return bad_request(Wire::Openai, "body is not JSON") };
    let Some(model) = req.get("model").and_then(Value::as_str) else {
        return bad_request(Wire::Openai, "model is required");
    };
    let Some(messages) = req.get("messages").and_then(Value::as_array) else {
        return bad_request(Wire::Openai, "messages is required");
    };
    let role_text = |role: &str| {
        messages
            .iter()
            .filter(|m| m.get("role").and_then(Value::as_str) == Some(role))
            .map(|m| text_of(&m["content"]))
            .next_back()
    };
    let Some(prompt) = role_text("user") else { return bad_request(Wire::Openai, "no user message") };
    let system = role_text("system");
    let params = GenParams {
        temperature: req.get("temperature").and_then(Value::as_f64),
        max_tokens: req
            .get("max_tokens")
            .or(req.get("max_completion_tokens"))
            .and_then(Value::as_u64)
            .map(|v| v as u32),
        seed: req.get("seed").and_then(Value::as_u64),
    };
    latency(&state.config).await;
    let g = state.generate(model, system.as_deref(), &prompt, params);
    Json(json!({
        "id": format!("chatcmpl-sim{:016x}", rand::random::<u64>()),
        "object": "chat.completion",
        "created": chrono::Utc::now().timestamp(),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": g.text}, "finish_reason": g.finish_reason}],
        "usage": {"prompt_tokens": g.prompt_tokens, "completion_tokens": g.completion_tokens, "total_tokens": g.prompt_tokens + g.completion_tokens},
    }))
    .into_response()
}

async fn anthropic_messages(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    if let Some(r) = gate(&state, Wire::Anthropic, &headers).await {
        return r;
    }
    let Some(Json(req)) = body else { return bad_request(Wire::Anthropic, "body is not JSON") };
    let Some(model) = req.get("model").and_then(Value::as_str) else {
        return bad_request(Wire::Anthropic, "model: Field required");
    };
    let Some(max_tokens) = req.get("max_tokens").and_then(Value::as_u64) else {
        return bad_request(Wire::Anthropic, "max_tokens: Field required");
    };
    let Some(prompt) = req
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.iter().rfind(|m| m.get("role").and_then(Value::as_str) == Some("user")))
        .map(|m| text_of(&m["content"]))
    else {
        return bad_request(Wire::Anthropic, "messages: a user message is required");
    };
    let system = req.get("system").map(text_of);
    let params = GenParams {
        temperature: req.get("temperature").and_then(Value::as_f64),
        max_tokens: Some(max_tokens as u32),
        seed: None,
    };
    latency(&state.config).await;
    let g = state.generate(model, system.as_deref(), &prompt, params);
    let stop_reason = if g.finish_reason == "length" { "max_tokens" } else { "end_turn" };
    Json(json!({
        "id": format!("msg_sim{:016x}", rand::random::<u64>()),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": g.text}],
        "stop_reason": stop_reason,
        "usage": {"input_tokens": g.prompt_tokens, "output_tokens": g.completion_tokens},
    }))
    .into_response()
}

async fn gemini_generate(
    State(state): State<Arc<SimState>>,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let Some(model) = target.strip_suffix(":generateContent") else {
        return error(Wire::Gemini, StatusCode::NOT_FOUND, "only :generateContent is simulated");
    };
    if let Some(r) = gate(&state, Wire::Gemini, &headers).await {
        return r;
    }
    let Some(Json(req)) = body else { return bad_request(Wire::Gemini, "body is not JSON") };
    let Some(prompt) = req
        .get("contents")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().rfind(|m| m.get("role").and_then(Value::as_str).is_none_or(|r| r == "user")))
        .map(|m| text_of(&m["parts"]))
    else {
        return bad_request(Wire::Gemini, "contents is required");
    };
    let system = req.get("systemInstruction").map(|s| text_of(&s["parts"]));
    let gc = req.get("generationConfig");
    let params = GenParams {
        temperature: gc.and_then(|g| g.get("temperature")).and_then(Value::as_f64),
        max_tokens: gc.and_then(|g| g.get("maxOutputTokens")).and_then(Value::as_u64).map(|v| v as u32),
        seed: gc.and_then(|g| g.get("seed")).and_then(Value::as_i64).map(|s| s as u64),
    };
    latency(&state.config).await;
    let g = state.generate(model, system.as_deref(), &prompt, params);
    let finish = if g.finish_reason == "length" { "MAX_TOKENS" } else { "STOP" };
    Json(json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": g.text}]}, "finishReason": finish, "index": 0}],
        "usageMetadata": {"promptTokenCount": g.prompt_tokens, "candidatesTokenCount": g.completion_tokens, "totalTokenCount": g.prompt_tokens + g.completion_tokens},
        "modelVersion": model,
    }))
    .into_response()
}

/// Width of the simulator's embeddings.
pub const SIM_EMBEDDING_DIM: usize = 256;

/// The simulator's embedding of a text: the lexical embedding folded to
/// [`SIM_EMBEDDING_DIM`] and renormalised (a fixed unit vector for a text with no word).
/// Deterministic, so tests can check it.
pub fn sim_embedding(text: &str) -> Vec<f32> {
    let full = crate::embed::lexical::embed(text);
    let mut v = vec![0f32; SIM_EMBEDDING_DIM];
    for (i, x) in full.iter().enumerate() {
        v[i % SIM_EMBEDDING_DIM] += x;
    }
    if v.iter().all(|&x| x == 0.0) {
        // A text with no word (""): a neural embedder still gives a vector for it (its special
        // tokens alone), and a remote embedder answering zeros is refused as broken.
        v[0] = 1.0;
    }
    crate::embed::l2_normalise(&mut v);
    v
}

async fn openai_embeddings(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    if let Some(r) = gate(&state, Wire::Openai, &headers).await {
        return r;
    }
    let Some(Json(req)) = body else { return bad_request(Wire::Openai, "body is not JSON") };
    let Some(model) = req.get("model").and_then(Value::as_str) else {
        return bad_request(Wire::Openai, "model is required");
    };
    let inputs: Vec<String> = match req.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => match items.iter().map(|i| i.as_str().map(str::to_owned)).collect() {
            Some(v) => v,
            None => return bad_request(Wire::Openai, "input must be a string or a list of strings"),
        },
        _ => return bad_request(Wire::Openai, "input is required"),
    };
    latency(&state.config).await;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": sim_embedding(t)}))
        .collect();
    let tokens: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
    Json(json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(scenario: bool) -> SimState {
        let scenario = scenario.then(|| Arc::new(scenario::Scenario::demo()));
        let config = SimConfig { scenario, ..SimConfig::default() };
        SimState { config, requests: AtomicU64::new(0), night: AtomicU32::new(1), seedless: Default::default() }
    }

    /// Anthropic sends no seed: its samples still differ from each other, and a night replays
    /// the same answers, in a scenario (the lineage test once failed on a replay that did not)
    /// and outside one (a family test once failed on a draw in CI).
    #[test]
    fn seedless_requests_vary_and_replay() {
        let model = &scenario::Scenario::demo().models[0].name;
        let params = || GenParams { temperature: Some(0.8), max_tokens: Some(300), seed: None };
        let night = |sim: &SimState| -> Vec<String> {
            (0..4).map(|_| sim.generate(model, None, "How should I plan a garden?", params()).text).collect()
        };
        for scenario in [true, false] {
            let (first, second) = (state(scenario), state(scenario));
            let a = night(&first);
            assert!(a.iter().any(|t| t != &a[0]), "samples differ: {a:?}");
            assert_eq!(a, night(&second), "the same night replays");
            first.night.store(2, Ordering::Relaxed);
            first.seedless.lock().unwrap().clear();
            assert_ne!(a, night(&first), "another night samples anew");
        }
    }
}
