//! Anthropic's Messages API: `{base_url}/v1/messages`, key in `x-api-key`.

use serde_json::{Value, json};

use super::{ChatReply, ChatRequest, as_u64, json};

pub const API_VERSION: &str = "2023-06-01";

pub fn url(base_url: &str) -> String {
    format!("{base_url}/v1/messages")
}

pub fn body(model: &str, req: &ChatRequest<'_>) -> Value {
    let mut body = json!({
        "model": model,
        "max_tokens": req.params.max_tokens,
        "messages": [{"role": "user", "content": req.prompt}],
    });
    let o = body.as_object_mut().expect("object");
    if let Some(system) = req.system {
        o.insert("system".into(), json!(system));
    }
    if let Some(t) = req.params.temperature {
        o.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.params.top_p {
        o.insert("top_p".into(), json!(p));
    }
    body
}

pub fn parse(body: &[u8]) -> Result<ChatReply, String> {
    let v = json(body)?;
    let content = v.get("content").and_then(Value::as_array).ok_or("reply has no content array")?;
    let text: String = content
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    let usage = v.get("usage");
    Ok(ChatReply {
        text,
        finish_reason: v.get("stop_reason").and_then(Value::as_str).map(str::to_owned),
        prompt_tokens: usage.and_then(|u| u.get("input_tokens")).and_then(as_u64),
        completion_tokens: usage.and_then(|u| u.get("output_tokens")).and_then(as_u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_text_blocks() {
        let r = parse(br#"{"content":[{"type":"text","text":"a"},{"type":"tool_use"},{"type":"text","text":"b"}],"stop_reason":"end_turn","usage":{"input_tokens":4,"output_tokens":2}}"#).unwrap();
        assert_eq!(r.text, "ab");
        assert_eq!(r.completion_tokens, Some(2));
        assert!(parse(br#"{"type":"error"}"#).is_err());
    }
}
