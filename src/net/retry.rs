//! The one layer that owns retries: bounded by attempts and by wall time, exponential backoff
//! with jitter, `Retry-After` honoured. What may be retried is decided by [`ErrorKind`].

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Why a request failed. Stored as snake_case text in the `error_kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No reply within `timeout_s` (or HTTP 408).
    Timeout,
    /// The connection could not be made or broke.
    Connect,
    /// HTTP 429 until the attempts or the time ran out.
    RateLimited,
    /// HTTP 5xx.
    ServerError,
    /// HTTP 401 or 403: the key is wrong or lacks access.
    Auth,
    /// Another HTTP 4xx: the request itself is wrong (model name, parameters).
    ClientError,
    /// A 2xx reply that is not the provider's JSON shape (truncated JSON, a proxy's HTML page),
    /// or that carries the provider's error object (its message is kept).
    Malformed,
    /// A 2xx reply in the provider's shape with no text in it (the message says the finish
    /// reason: a content filter, a blocked prompt, the token limit spent on reasoning).
    NoContent,
    /// A reply larger than the cap.
    BodyTooLarge,
    /// The request's wall-time budget (`max_request_s`) ran out.
    DeadlineExceeded,
    /// A redirect that was not followed: to another origin (a key never goes there), or one
    /// that would have dropped the request's body.
    Redirect,
}

impl ErrorKind {
    /// 429, 5xx, timeouts, broken connections and malformed replies are transient (a malformed
    /// reply only [`RetryPolicy::max_malformed_retries`] times); other 4xx, empty, oversized and
    /// redirected replies would come back the same.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout
                | ErrorKind::Connect
                | ErrorKind::RateLimited
                | ErrorKind::ServerError
                | ErrorKind::Malformed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::ServerError => "server_error",
            ErrorKind::Auth => "auth",
            ErrorKind::ClientError => "client_error",
            ErrorKind::Malformed => "malformed",
            ErrorKind::NoContent => "no_content",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
            ErrorKind::Redirect => "redirect",
        }
    }

    /// The kind of an HTTP status that is not a success.
    pub fn from_status(status: u16) -> Self {
        match status {
            429 => ErrorKind::RateLimited,
            408 => ErrorKind::Timeout,
            401 | 403 => ErrorKind::Auth,
            500..=599 => ErrorKind::ServerError,
            _ => ErrorKind::ClientError,
        }
    }
}

/// One failed attempt.
#[derive(Debug, Clone)]
pub struct AttemptError {
    pub kind: ErrorKind,
    pub http_status: Option<u16>,
    /// Human-readable; may quote the provider, so it is redacted before it is kept.
    pub message: String,
    /// What the server asked us to wait, from `Retry-After` (or `retry-after-ms`).
    pub retry_after: Option<Duration>,
}

/// Bounds and pacing of retries for one endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// Wall time for the whole request: attempts plus waits.
    pub max_elapsed: Duration,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Retries of malformed replies, within `max_attempts`: a proxy's error page or a cut body
    /// passes in practice, a server that always answers garbage should not cost every retry.
    pub max_malformed_retries: u32,
}

impl RetryPolicy {
    pub fn new(max_retries: u32, max_elapsed: Duration) -> Self {
        RetryPolicy {
            max_attempts: max_retries.saturating_add(1),
            max_elapsed,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_malformed_retries: 2,
        }
    }

    /// The wait before attempt `failed_attempt + 1`. Exponential (base * 2^(n-1), capped) with
    /// "equal jitter" (uniform in [d/2, d]), so concurrent retries spread out yet always back
    /// off; a `Retry-After` is a floor, with up to 10% jitter on top.
    pub fn delay(&self, failed_attempt: u32, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(failed_attempt.saturating_sub(1).min(30)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let backoff = exp.mul_f64(rng.random_range(0.5..=1.0));
        match retry_after.map(|ra| ra.min(MAX_RETRY_AFTER)) {
            Some(ra) => ra.mul_f64(rng.random_range(1.0..=1.1)).max(backoff.min(ra)),
            None => backoff,
        }
    }
}

/// The result of a request after retries.
#[derive(Debug)]
pub struct Retried<T> {
    pub result: Result<T, AttemptError>,
    pub attempts: u32,
}

/// Runs `attempt(n)` (n from 1) until it succeeds, fails for good, or the policy's attempts or
/// wall time run out. Waiting happens here only; `attempt` should take its rate-limit slot and
/// concurrency permit itself, so waiting retries hold neither.
pub async fn with_retries<T, F, Fut>(policy: &RetryPolicy, mut attempt: F) -> Retried<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let started = Instant::now();
    let deadline = started + policy.max_elapsed;
    let mut n = 0;
    let mut malformed = 0;
    loop {
        n += 1;
        let outcome = match tokio::time::timeout_at(deadline, attempt(n)).await {
            Ok(r) => r,
            Err(_) => Err(AttemptError {
                kind: ErrorKind::DeadlineExceeded,
                http_status: None,
                message: format!("no reply within the request's budget of {:?}", policy.max_elapsed),
                retry_after: None,
            }),
        };
        let err = match outcome {
            Ok(v) => return Retried { result: Ok(v), attempts: n },
            Err(e) => e,
        };
        if err.kind == ErrorKind::Malformed {
            malformed += 1;
        }
        if !err.kind.is_retryable() || n >= policy.max_attempts || malformed > policy.max_malformed_retries {
            return Retried { result: Err(err), attempts: n };
        }
        let wait = policy.delay(n, err.retry_after, &mut rand::rng());
        if Instant::now().checked_add(wait).is_none_or(|at| at >= deadline) {
            let mut err = err;
            err.message.push_str(&format!(
                " (not retried: waiting {wait:.1?} would pass the request's budget of {:?})",
                policy.max_elapsed
            ));
            return Retried { result: Err(err), attempts: n };
        }
        tracing::debug!(attempt = n, kind = err.kind.as_str(), ?wait, "retrying");
        tokio::time::sleep(wait).await;
    }
}

/// The longest wait a server can ask for. Any budget (`max_request_s`) is shorter, so a
/// longer `Retry-After` ends the request at once, exactly as this one does.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

/// Parses `Retry-After` (seconds or an HTTP date) or `retry-after-ms`. Saturating: a value past
/// [`MAX_RETRY_AFTER`] (`1e300`, an integer past `u64`, `inf`) reads as that maximum, a
/// negative one or NaN as no header, so no header value can panic a worker.
pub fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name| headers.get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok()).map(str::trim);
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && let Some(d) = saturating_seconds(ms / 1000.0)
    {
        return Some(d);
    }
    let v = text(reqwest::header::RETRY_AFTER.as_str())?;
    if let Ok(secs) = v.parse::<f64>() {
        return saturating_seconds(secs);
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO).min(MAX_RETRY_AFTER))
}

/// Seconds as a duration capped at [`MAX_RETRY_AFTER`]; `None` for NaN and negative values.
fn saturating_seconds(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(if secs >= MAX_RETRY_AFTER.as_secs_f64() { MAX_RETRY_AFTER } else { Duration::from_secs_f64(secs) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn err(kind: ErrorKind) -> AttemptError {
        AttemptError { kind, http_status: None, message: "x".into(), retry_after: None }
    }

    #[test]
    fn delays_grow_and_stay_bounded() {
        let p = RetryPolicy::new(10, Duration::from_secs(600));
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for n in 1..12 {
            let d = p.delay(n, None, &mut rng);
            let cap = p.base_delay.saturating_mul(1 << (n - 1)).min(p.max_delay);
            assert!(d >= cap / 2 && d <= cap, "attempt {n}: {d:?} vs {cap:?}");
        }
        let d = p.delay(1, Some(Duration::from_secs(3)), &mut rng);
        assert!(d >= Duration::from_secs(3) && d <= Duration::from_millis(3300), "{d:?}");
    }

    #[test]
    fn statuses_classify() {
        assert!(ErrorKind::from_status(429).is_retryable());
        assert!(ErrorKind::from_status(503).is_retryable());
        assert!(!ErrorKind::from_status(400).is_retryable());
        assert_eq!(ErrorKind::from_status(401), ErrorKind::Auth);
        assert!(ErrorKind::Malformed.is_retryable());
        assert!(!ErrorKind::NoContent.is_retryable());
        assert!(!ErrorKind::Redirect.is_retryable());
    }

    /// Issue 16, item 8: a malformed 200 was final; now it is retried, a bounded number of times.
    #[tokio::test(start_paused = true)]
    async fn malformed_replies_are_retried_a_bounded_number_of_times() {
        let p = RetryPolicy::new(10, Duration::from_secs(600));
        let r = with_retries(&p, |n| async move { if n < 2 { Err(err(ErrorKind::Malformed)) } else { Ok(n) } }).await;
        assert_eq!((r.result.unwrap(), r.attempts), (2, 2));
        let always: Retried<()> = with_retries(&p, |_| async { Err(err(ErrorKind::Malformed)) }).await;
        assert_eq!(always.attempts, 1 + p.max_malformed_retries);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_up_to_the_limit() {
        let p = RetryPolicy::new(3, Duration::from_secs(600));
        let calls = AtomicU32::new(0);
        let r: Retried<()> = with_retries(&p, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(err(ErrorKind::ServerError)) }
        })
        .await;
        assert_eq!(r.attempts, 4);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_client_errors_and_stops_at_success() {
        let p = RetryPolicy::new(5, Duration::from_secs(600));
        let r: Retried<()> = with_retries(&p, |_| async { Err(err(ErrorKind::ClientError)) }).await;
        assert_eq!(r.attempts, 1);
        let r = with_retries(&p, |n| async move { if n < 3 { Err(err(ErrorKind::Timeout)) } else { Ok(n) } }).await;
        assert_eq!(r.result.unwrap(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn wall_time_bounds_retries_and_retry_after_is_honoured() {
        let p = RetryPolicy::new(100, Duration::from_secs(10));
        let start = Instant::now();
        let r: Retried<()> = with_retries(&p, |_| async {
            Err(AttemptError { retry_after: Some(Duration::from_secs(4)), ..err(ErrorKind::RateLimited) })
        })
        .await;
        // Waits of >= 4 s each: the third would pass 10 s.
        assert_eq!(r.attempts, 3);
        assert!(start.elapsed() >= Duration::from_secs(8));
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(r.result.unwrap_err().kind, ErrorKind::RateLimited);

        let hang: Retried<()> = with_retries(&p, |_| std::future::pending()).await;
        assert_eq!(hang.result.unwrap_err().kind, ErrorKind::DeadlineExceeded);
    }

    #[test]
    fn parses_retry_after_forms() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(150)));
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
    }

    /// Issue 16, item 4: `Retry-After: 1e300` panicked a worker (and every rerun).
    #[test]
    fn absurd_retry_after_values_saturate_instead_of_panicking() {
        let parse = |name: &str, value: &str| {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
            parse_retry_after(&h)
        };
        for huge in ["1e300", "9.3e18", "18446744073709551616", "99999999999999999999999999", "inf", "1e19"] {
            assert_eq!(parse("retry-after", huge), Some(MAX_RETRY_AFTER), "{huge}");
            assert_eq!(parse("retry-after-ms", huge), Some(MAX_RETRY_AFTER), "ms {huge}");
        }
        for nothing in ["-1", "-1e300", "NaN", "-inf", "soon"] {
            assert_eq!(parse("retry-after", nothing), None, "{nothing}");
        }
        assert_eq!(parse("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"), Some(MAX_RETRY_AFTER));
        // The delay built from the largest value does not overflow either.
        let p = RetryPolicy::new(3, Duration::from_secs(600));
        let d = p.delay(1, Some(Duration::MAX), &mut rand::rngs::StdRng::seed_from_u64(3));
        assert!(d >= MAX_RETRY_AFTER);
    }

    /// A wait past the request's budget ends the request at once, with the server's error.
    #[tokio::test(start_paused = true)]
    async fn a_retry_after_past_the_budget_ends_the_request_now() {
        let p = RetryPolicy::new(4, Duration::from_secs(300));
        let start = Instant::now();
        let r: Retried<()> = with_retries(&p, |_| async {
            Err(AttemptError { retry_after: Some(MAX_RETRY_AFTER), ..err(ErrorKind::RateLimited) })
        })
        .await;
        assert_eq!(r.attempts, 1);
        assert_eq!(start.elapsed(), Duration::ZERO);
        let e = r.result.unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert!(e.message.contains("would pass the request's budget"), "{}", e.message);
    }
}
