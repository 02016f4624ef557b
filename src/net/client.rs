//! The HTTP pieces every client of hivewatch shares: the redirect-safe client of requests that
//! carry a key (model requests, `endpoints check`, the remote embedder), reading a reply under a
//! size cap, and turning what went wrong into an [`AttemptError`] the retry layer can judge.
//! Infrastructure, not a stage: collection, the embedders, object storage and the webhook use it.

use std::time::Duration;

use super::retry::{self, AttemptError, ErrorKind};
use crate::secrets::Redactor;

/// A reply body larger than this is refused (a misbehaving server must not exhaust memory).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// The start of an error body quoted in the error message, in bytes (after redaction).
pub const ERROR_SNIPPET_BYTES: usize = 600;

/// Redirect hops followed within one origin before the redirect is refused.
const MAX_SAME_ORIGIN_REDIRECTS: usize = 5;

/// The HTTP client of every request that carries a key (model requests, `endpoints check`, the
/// remote embedder). It follows a redirect only to the same origin (scheme, host and port) and
/// only when it keeps the method and body (307, 308), at most
/// [`MAX_SAME_ORIGIN_REDIRECTS`] hops; any other redirect is not followed, so a key (in
/// `x-api-key`, `x-goog-api-key` or `Authorization`) never reaches another host, and the 3xx
/// reply becomes the attempt's error ([`ErrorKind::Redirect`]). No `Referer` is sent.
pub fn http_client() -> std::io::Result<reqwest::Client> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
        let keeps_body = matches!(attempt.status().as_u16(), 307 | 308);
        if same_origin && keeps_body && attempt.previous().len() <= MAX_SAME_ORIGIN_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    reqwest::Client::builder()
        .user_agent(concat!("hivewatch/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(30))
        .redirect(policy)
        .referer(false)
        .build()
        .map_err(|e| std::io::Error::other(format!("cannot build the HTTP client: {e}")))
}

/// The client of a request that must follow no redirect at all and send no `Referer` (the
/// webhook, whose URL is its secret), each attempt bounded by `timeout`.
pub fn no_redirect_client(timeout: Duration) -> std::io::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("hivewatch/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .build()
        .map_err(|e| std::io::Error::other(format!("cannot build the HTTP client: {e}")))
}

/// What an attempt that met a redirect it did not follow says: where the redirect pointed
/// (its origin only: a path or query could carry anything) and why it was not followed.
fn redirect_error(resp: &reqwest::Response, status: u16) -> AttemptError {
    let target = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|location| resp.url().join(location).ok());
    let message = match target {
        Some(to) if to.origin() != resp.url().origin() => format!(
            "HTTP {status}: refused a redirect to another host ({}): a request carrying a key is never sent to another origin; set base_url to the address that answers",
            to.origin().ascii_serialization()
        ),
        Some(_) => format!(
            "HTTP {status}: a redirect within {} was not followed (only 307 and 308, at most {MAX_SAME_ORIGIN_REDIRECTS} hops, keep the request intact); set base_url to the address that answers",
            resp.url().origin().ascii_serialization()
        ),
        None => format!("HTTP {status}: a redirect without a usable Location"),
    };
    AttemptError { kind: ErrorKind::Redirect, http_status: Some(status), message, retry_after: None }
}

/// Reads a reply under `body_cap` bytes; a status other than 2xx becomes an [`AttemptError`]
/// carrying the start of the body (keys scrubbed by `redactor` before it is cut) and any
/// `Retry-After`. Shared by every HTTP client here.
pub async fn read_reply(
    mut resp: reqwest::Response,
    body_cap: usize,
    redactor: &Redactor,
) -> Result<(u16, Vec<u8>), AttemptError> {
    let status = resp.status().as_u16();
    if resp.status().is_redirection() {
        return Err(redirect_error(&resp, status));
    }
    let retry_after = retry::parse_retry_after(resp.headers());
    let too_large = || AttemptError {
        kind: ErrorKind::BodyTooLarge,
        http_status: Some(status),
        message: format!("reply body is larger than the {body_cap}-byte cap"),
        retry_after: None,
    };
    if resp.content_length().is_some_and(|n| n > body_cap as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport_error)? {
        if bytes.len() + chunk.len() > body_cap {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    if !(200..300).contains(&status) {
        return Err(AttemptError {
            kind: ErrorKind::from_status(status),
            http_status: Some(status),
            message: format!("HTTP {status}: {}", snippet(&bytes, redactor)),
            retry_after,
        });
    }
    Ok((status, bytes))
}

/// A failure below HTTP: timeout or connection, with the whole cause chain.
pub fn transport_error(e: reqwest::Error) -> AttemptError {
    let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Connect };
    // The whole chain says why ("connection refused"); the URL in it is ours and carries no key,
    // and the caller redacts anyway.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    AttemptError { kind, http_status: None, message, retry_after: None }
}

/// The start of an error body, for the error message: whitespace collapsed, keys scrubbed,
/// then cut to [`ERROR_SNIPPET_BYTES`] (in that order, so no key is kept in part).
fn snippet(bytes: &[u8], redactor: &Redactor) -> String {
    // A window well past the snippet, so whitespace collapsing still leaves enough text.
    const WINDOW: usize = 64 * 1024;
    let window_cut = bytes.len() > WINDOW;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(WINDOW)]);
    let text = redactor.redact_cut_end(text.split_whitespace().collect::<Vec<_>>().join(" "), window_cut);
    let (text, cut) = redactor.redact_capped(&text, ERROR_SNIPPET_BYTES);
    redactor.redact_cut_end(text, window_cut && !cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16, item 2: the body was cut at 600 bytes before keys were removed.
    #[test]
    fn an_error_body_is_redacted_before_it_is_cut() {
        let key = crate::secrets::SecretKey::new("tk-test-0123456789abcdefghij".into());
        let redactor = Redactor::new([&key]);
        for at in [590, 595, 599, 600] {
            let body = format!("{}{} trailing", "e".repeat(at), key.expose());
            let s = snippet(body.as_bytes(), &redactor);
            assert!(!s.contains("tk-test-01"), "key starting at {at} kept in part: {s}");
            assert!(s.len() <= ERROR_SNIPPET_BYTES + crate::secrets::REDACTED.len());
        }
    }
}
