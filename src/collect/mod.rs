//! Collect: send every planned request, with limits and retries, and journal every outcome.
//!
//! Shape of the fan-out: each endpoint has its own lazy queue of pending requests and
//! `max_concurrency` workers pulling from it. A worker first waits for its endpoint's rate
//! slot, then for a global permit, and holds the permit only while a request is on the wire.
//! So a slow or rate-limited endpoint only ever occupies its own workers, never the global cap.
//! Outcomes flow through a bounded channel to one writer that appends them to the journal;
//! memory is bounded by the number of workers, not by the size of the run.

pub mod journal;
pub mod providers;
pub mod responses;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::Endpoint;
use crate::net::client::{MAX_BODY_BYTES, read_reply, transport_error};
use crate::net::limiter::RateLimiter;
use crate::net::retry::{AttemptError, ErrorKind, RetryPolicy, with_retries};
use crate::plan::{Plan, RequestKey, SentParams};
use crate::secrets::Redactor;
use journal::Journal;
use providers::{ChatReply, ChatRequest, WireRequest};

/// Response text kept per row, in bytes; longer text is cut at a char boundary and flagged.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Error message kept per row, in bytes (after redaction).
pub const MAX_ERROR_BYTES: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
        }
    }
}

/// The outcome of one planned request: a journal line, later a `responses` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseRecord {
    pub endpoint: String,
    pub probe_id: String,
    pub sample_index: u32,
    pub params: SentParams,
    pub status: Status,
    pub error_kind: Option<ErrorKind>,
    /// Redacted.
    pub error_message: Option<String>,
    pub http_status: Option<u16>,
    pub attempts: u32,
    /// Duration of the last attempt: the provider's latency.
    pub latency_ms: u64,
    /// Wall time of the whole request, retries and waits included.
    pub elapsed_ms: u64,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub finish_reason: Option<String>,
    /// Redacted, capped at [`MAX_TEXT_BYTES`].
    pub text: Option<String>,
    pub text_truncated: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// Counts of what a collection did.
#[derive(Debug, Clone, Default)]
pub struct CollectSummary {
    pub already_done: u64,
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
}

/// Where progress goes: a bar on a terminal, periodic log lines otherwise.
pub trait Progress: Send {
    /// A resumed run: what its journal already held, ok and failed (called before `start`).
    fn resumed(&mut self, _ok: u64, _failed: u64) {}
    fn start(&mut self, total: u64, already_done: u64);
    fn record(&mut self, record: &ResponseRecord);
    fn finish(&mut self);
}

/// Sends every request of `plan` not in `done`, appending outcomes to `journal`.
pub async fn collect(
    plan: Arc<Plan>,
    done: HashSet<RequestKey>,
    journal: &mut Journal,
    redactor: Redactor,
    progress: &mut dyn Progress,
) -> std::io::Result<CollectSummary> {
    let client = crate::net::client::http_client()?;
    let done = Arc::new(done);
    let global = Arc::new(Semaphore::new(plan.config.max_concurrency as usize));
    let (tx, mut rx) = mpsc::channel::<ResponseRecord>(1024);
    let mut workers = JoinSet::new();

    for (index, ep) in plan.config.endpoints.iter().enumerate() {
        let index = index as u32;
        let done = Arc::clone(&done);
        let pending = plan.keys_of_endpoint(index).filter(move |k| !done.contains(k));
        let runner = Arc::new(EndpointRunner {
            plan: Arc::clone(&plan),
            index,
            queue: Mutex::new(Box::new(pending)),
            limiter: RateLimiter::new(ep.limits.requests_per_minute),
            policy: RetryPolicy::new(ep.limits.max_retries, ep.limits.max_request_time),
            global: Arc::clone(&global),
            client: client.clone(),
            redactor: redactor.clone(),
        });
        for _ in 0..ep.limits.max_concurrency {
            let runner = Arc::clone(&runner);
            let tx = tx.clone();
            workers.spawn(async move { runner.work(tx).await });
        }
    }
    drop(tx);

    let mut summary = CollectSummary { already_done: done.len() as u64, ..Default::default() };
    progress.start(plan.total_requests(), summary.already_done);
    while let Some(record) = rx.recv().await {
        journal.append(&record)?;
        summary.sent += 1;
        match record.status {
            Status::Ok => summary.ok += 1,
            Status::Error => summary.failed += 1,
        }
        progress.record(&record);
    }
    journal.sync()?;
    progress.finish();
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    Ok(summary)
}

type PendingKeys = Box<dyn Iterator<Item = RequestKey> + Send>;

struct EndpointRunner {
    plan: Arc<Plan>,
    index: u32,
    queue: Mutex<PendingKeys>,
    limiter: RateLimiter,
    policy: RetryPolicy,
    global: Arc<Semaphore>,
    client: reqwest::Client,
    redactor: Redactor,
}

impl EndpointRunner {
    fn endpoint(&self) -> &Endpoint {
        &self.plan.config.endpoints[self.index as usize]
    }

    async fn work(&self, tx: mpsc::Sender<ResponseRecord>) {
        loop {
            let next = self.queue.lock().expect("queue lock").next();
            let Some(key) = next else { return };
            let record = self.execute(key).await;
            if tx.send(record).await.is_err() {
                return; // the writer stopped: the run is ending
            }
        }
    }

    async fn execute(&self, key: RequestKey) -> ResponseRecord {
        let ep = self.endpoint();
        let probe = &self.plan.suite.probes[key.probe as usize];
        let params = SentParams::for_sample(ep, key.sample);
        let request = ChatRequest { system: probe.system.as_deref(), prompt: &probe.prompt, params };
        let wire = providers::build(ep, &request);
        let body = serde_json::to_vec(&wire.body).expect("request body serialises");
        let started_at = Utc::now();
        let t0 = Instant::now();
        let last_latency = AtomicU64::new(0);

        let retried = with_retries(&self.policy, |_| {
            let (wire, body, last_latency) = (&wire, &body, &last_latency);
            async move {
                self.limiter.acquire().await;
                let _permit = self.global.acquire().await.expect("semaphore never closes");
                let t = Instant::now();
                let r = send_once(&self.client, wire, body, ep, MAX_BODY_BYTES, &self.redactor).await;
                last_latency.store(t.elapsed().as_millis() as u64, Ordering::Relaxed);
                r
            }
        })
        .await;

        let mut record = ResponseRecord {
            endpoint: ep.name.clone(),
            probe_id: probe.id.clone(),
            sample_index: key.sample,
            params,
            status: Status::Ok,
            error_kind: None,
            error_message: None,
            http_status: None,
            attempts: retried.attempts,
            latency_ms: last_latency.load(Ordering::Relaxed),
            elapsed_ms: t0.elapsed().as_millis() as u64,
            prompt_tokens: None,
            completion_tokens: None,
            finish_reason: None,
            text: None,
            text_truncated: false,
            started_at,
            finished_at: Utc::now(),
        };
        match retried.result {
            Ok((reply, status)) => {
                let (text, truncated) = self.redactor.redact_capped(&reply.text, MAX_TEXT_BYTES);
                record.http_status = Some(status);
                record.prompt_tokens = reply.prompt_tokens;
                record.completion_tokens = reply.completion_tokens;
                record.finish_reason = reply.finish_reason;
                record.text = Some(text);
                record.text_truncated = truncated;
            }
            Err(e) => {
                let message = self.redactor.redact_capped(&e.message, MAX_ERROR_BYTES).0;
                tracing::debug!(endpoint = %ep.name, probe = %probe.id, kind = e.kind.as_str(), "request failed: {message}");
                record.status = Status::Error;
                record.error_kind = Some(e.kind);
                record.http_status = e.http_status;
                record.error_message = Some(message);
            }
        }
        record
    }
}

/// One attempt: send, read the body under a cap, classify, parse. Bounded by `timeout_s`.
/// `redactor` scrubs keys from the error body it quotes before that is cut.
pub async fn send_once(
    client: &reqwest::Client,
    wire: &WireRequest,
    body: &[u8],
    ep: &Endpoint,
    body_cap: usize,
    redactor: &Redactor,
) -> Result<(ChatReply, u16), AttemptError> {
    let attempt = async {
        let resp = client
            .post(&wire.url)
            .headers(wire.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map_err(transport_error)?;
        let (status, bytes) = read_reply(resp, body_cap, redactor).await?;
        let reply = providers::parse(ep.provider, &bytes).map_err(|message| AttemptError {
            kind: ErrorKind::Malformed,
            http_status: Some(status),
            message,
            retry_after: None,
        })?;
        if reply.text.trim().is_empty() {
            // Not an ok row with empty text: nothing was answered.
            return Err(AttemptError {
                kind: ErrorKind::NoContent,
                http_status: Some(status),
                message: format!(
                    "the reply holds no text (finish reason: {})",
                    reply.finish_reason.as_deref().unwrap_or("none given")
                ),
                retry_after: None,
            });
        }
        Ok((reply, status))
    };
    match tokio::time::timeout(ep.limits.timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(AttemptError {
            kind: ErrorKind::Timeout,
            http_status: None,
            message: format!("no complete reply within timeout_s = {:?}", ep.limits.timeout),
            retry_after: None,
        }),
    }
}

/// Cuts `text` to at most `max` bytes at a char boundary; says whether it cut.
pub fn cap_text(mut text: String, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_text_respects_char_boundaries() {
        let (t, cut) = cap_text("aé".repeat(10), 4);
        assert_eq!(t, "aéa");
        assert!(cut);
        assert_eq!(cap_text("abc".into(), 3), ("abc".into(), false));
    }
}
