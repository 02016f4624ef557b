//! The three wire protocols. Each provider module is pure: it builds a request body and parses a
//! reply body; sending, limits and retries live one level up, shared by all of them.

pub mod anthropic;
pub mod gemini;
pub mod openai;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{Endpoint, Provider};
use crate::plan::SentParams;
use crate::secrets::SecretKey;

/// One chat turn as the suite defines it.
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest<'a> {
    pub system: Option<&'a str>,
    pub prompt: &'a str,
    pub params: SentParams,
}

/// What a provider answered, reduced to what the reports keep.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    pub text: String,
    pub finish_reason: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

/// A request ready to send: where, with which headers, which JSON body.
pub struct WireRequest {
    pub url: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

/// Builds the request for `ep`. The key, if any, goes in a header marked sensitive (never in
/// the URL, not even for Gemini, which also accepts `?key=`).
pub fn build(ep: &Endpoint, req: &ChatRequest<'_>) -> WireRequest {
    let mut headers = HeaderMap::new();
    let (url, body) = match ep.provider {
        Provider::Openai => (openai::url(&ep.base_url), openai::body(&ep.model, req)),
        Provider::Anthropic => {
            headers
                .insert(HeaderName::from_static("anthropic-version"), HeaderValue::from_static(anthropic::API_VERSION));
            (anthropic::url(&ep.base_url), anthropic::body(&ep.model, req))
        }
        Provider::Gemini => (gemini::url(&ep.base_url, &ep.model), gemini::body(req)),
    };
    if let Some(key) = &ep.api_key
        && let Some((name, value)) = auth_header(ep.provider, key)
    {
        headers.insert(name, value);
    }
    WireRequest { url, headers, body }
}

/// The provider's authentication header for `key`, marked sensitive.
pub fn auth_header(provider: Provider, key: &SecretKey) -> Option<(HeaderName, HeaderValue)> {
    let (name, raw) = match provider {
        Provider::Openai => (reqwest::header::AUTHORIZATION, format!("Bearer {}", key.expose())),
        Provider::Anthropic => (HeaderName::from_static("x-api-key"), key.expose().to_owned()),
        Provider::Gemini => (HeaderName::from_static("x-goog-api-key"), key.expose().to_owned()),
    };
    // A key with characters no header can carry is unusable; sending no header gives the
    // provider's own 401, which names no key.
    let mut value = HeaderValue::from_str(&raw).ok()?;
    value.set_sensitive(true);
    Some((name, value))
}

/// Parses a successful reply body. The error says what was missing, never echoes the body.
pub fn parse(provider: Provider, body: &[u8]) -> Result<ChatReply, String> {
    match provider {
        Provider::Openai => openai::parse(body),
        Provider::Anthropic => anthropic::parse(body),
        Provider::Gemini => gemini::parse(body),
    }
}

/// The reply's JSON; a 200 that carries the provider's error object instead of an answer
/// (`{"error": {"message": "You exceeded your current quota"}}`, Anthropic's `{"type": "error",
/// ...}`) is an error with the provider's own message.
fn json(body: &[u8]) -> Result<serde_json::Value, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("reply is not valid JSON: {e}"))?;
    if let Some(message) = provider_error(&v) {
        return Err(format!("the provider answered HTTP 200 with an error: {message}"));
    }
    Ok(v)
}

/// The message of an error object in a reply, if it holds one (a `null` error is none).
fn provider_error(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let error = v.get("error")?;
    let text = |x: &Value| x.as_str().map(str::to_owned).filter(|s| !s.trim().is_empty());
    match error {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => Some(
            o.get("message")
                .and_then(text)
                .or_else(|| o.get("type").and_then(text))
                .or_else(|| o.get("status").and_then(text))
                .unwrap_or_else(|| "(an error object without a message)".to_owned()),
        ),
        other => Some(other.to_string()),
    }
}

fn as_u64(v: &serde_json::Value) -> Option<u64> {
    v.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16, item 8: `{"error": {...}}` with HTTP 200 read as "reply has no choices[0]".
    #[test]
    fn a_200_carrying_an_error_keeps_the_providers_message() {
        let quota = br#"{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota"}}"#;
        for provider in [Provider::Openai, Provider::Anthropic, Provider::Gemini] {
            let e = parse(provider, quota).unwrap_err();
            assert!(e.contains("You exceeded your current quota"), "{provider:?}: {e}");
        }
        let anthropic = br#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#;
        assert!(parse(Provider::Anthropic, anthropic).unwrap_err().contains("Overloaded"));
        // A null error beside an answer is an answer.
        let ok = br#"{"error": null, "choices": [{"message": {"content": "hi"}}]}"#;
        assert_eq!(parse(Provider::Openai, ok).unwrap().text, "hi");
    }
}
