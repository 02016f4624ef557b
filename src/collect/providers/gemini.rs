//! Google's Gemini API: `{base_url}/v1beta/models/{model}:generateContent`, key in
//! `x-goog-api-key` (the header, not the `?key=` query the API also accepts, so no URL we log
//! or store can carry it).

use serde_json::{Value, json};

use super::{ChatReply, ChatRequest, as_u64, json};

pub fn url(base_url: &str, model: &str) -> String {
    let model = model.strip_prefix("models/").unwrap_or(model);
    format!("{base_url}/v1beta/models/{model}:generateContent")
}

pub fn body(req: &ChatRequest<'_>) -> Value {
    let mut config = serde_json::Map::new();
    config.insert("maxOutputTokens".into(), json!(req.params.max_tokens));
    if let Some(t) = req.params.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.params.top_p {
        config.insert("topP".into(), json!(p));
    }
    if let Some(s) = req.params.seed {
        // Gemini's seed is an int32.
        config.insert("seed".into(), json!(s as u32 as i32));
    }
    let mut body = json!({
        "contents": [{"role": "user", "parts": [{"text": req.prompt}]}],
        "generationConfig": config,
    });
    if let Some(system) = req.system {
        body.as_object_mut().expect("object").insert("systemInstruction".into(), json!({"parts": [{"text": system}]}));
    }
    body
}

pub fn parse(body: &[u8]) -> Result<ChatReply, String> {
    let v = json(body)?;
    let usage = v.get("usageMetadata");
    let prompt_tokens = usage.and_then(|u| u.get("promptTokenCount")).and_then(as_u64);
    let Some(candidate) = v.get("candidates").and_then(|c| c.get(0)) else {
        // A prompt blocked by the API's own filter: a reply with no text, whose finish reason
        // (kept in the error message) says why.
        if let Some(reason) = v.pointer("/promptFeedback/blockReason").and_then(Value::as_str) {
            return Ok(ChatReply {
                text: String::new(),
                finish_reason: Some(format!("prompt_blocked:{reason}")),
                prompt_tokens,
                completion_tokens: Some(0),
            });
        }
        return Err("reply has no candidates[0]".into());
    };
    let text: String = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .map(|parts| parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect())
        .unwrap_or_default();
    Ok(ChatReply {
        text,
        finish_reason: candidate.get("finishReason").and_then(Value::as_str).map(str::to_owned),
        prompt_tokens,
        completion_tokens: usage.and_then(|u| u.get("candidatesTokenCount")).and_then(as_u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_strips_models_prefix() {
        assert_eq!(url("http://h", "models/g-1"), "http://h/v1beta/models/g-1:generateContent");
    }

    #[test]
    fn blocked_prompt_is_a_reply() {
        let r = parse(br#"{"promptFeedback":{"blockReason":"SAFETY"}}"#).unwrap();
        assert_eq!(r.finish_reason.as_deref(), Some("prompt_blocked:SAFETY"));
        let r = parse(br#"{"candidates":[{"content":{"parts":[{"text":"x"},{"text":"y"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":5}}"#).unwrap();
        assert_eq!(r.text, "xy");
        assert_eq!(r.completion_tokens, Some(5));
    }
}
