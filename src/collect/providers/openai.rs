//! OpenAI-compatible chat completions: OpenAI, vLLM, Ollama, llama.cpp, LM Studio, OpenRouter,
//! Together, Groq, Mistral, DeepSeek all take this shape at `{base_url}/chat/completions`.

use serde_json::{Value, json};

use super::{ChatReply, ChatRequest, as_u64, json};

pub fn url(base_url: &str) -> String {
    format!("{base_url}/chat/completions")
}

pub fn body(model: &str, req: &ChatRequest<'_>) -> Value {
    let mut messages = Vec::with_capacity(2);
    if let Some(system) = req.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": req.prompt}));
    let mut body = json!({
        "model": model,
        "messages": messages,
        "max_tokens": req.params.max_tokens,
        "stream": false,
    });
    let o = body.as_object_mut().expect("object");
    if let Some(t) = req.params.temperature {
        o.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.params.top_p {
        o.insert("top_p".into(), json!(p));
    }
    if let Some(s) = req.params.seed {
        o.insert("seed".into(), json!(s));
    }
    body
}

pub fn parse(body: &[u8]) -> Result<ChatReply, String> {
    let v = json(body)?;
    let choice = v.get("choices").and_then(|c| c.get(0)).ok_or("reply has no choices[0]")?;
    let message = choice.get("message").ok_or("reply has no choices[0].message")?;
    // A refusal may come in `refusal` with a null `content`.
    let text = match (message.get("content"), message.get("refusal")) {
        (Some(Value::String(s)), _) => s.clone(),
        (_, Some(Value::String(r))) => r.clone(),
        (Some(Value::Null) | None, _) => String::new(),
        (Some(other), _) => return Err(format!("choices[0].message.content is not text but {}", kind(other))),
    };
    let usage = v.get("usage");
    Ok(ChatReply {
        text,
        finish_reason: choice.get("finish_reason").and_then(Value::as_str).map(str::to_owned),
        prompt_tokens: usage.and_then(|u| u.get("prompt_tokens")).and_then(as_u64),
        completion_tokens: usage.and_then(|u| u.get("completion_tokens")).and_then(as_u64),
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        _ => "something else",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::SentParams;

    #[test]
    fn body_carries_what_is_set_only() {
        let req = ChatRequest {
            system: Some("sys"),
            prompt: "hi",
            params: SentParams { temperature: Some(0.5), top_p: None, max_tokens: 9, seed: Some(3) },
        };
        let b = body("m", &req);
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][1]["content"], "hi");
        assert_eq!(b["seed"], 3);
        assert!(b.get("top_p").is_none());
    }

    #[test]
    fn parses_usage_and_refusal() {
        let r = parse(br#"{"choices":[{"message":{"content":null,"refusal":"no"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#).unwrap();
        assert_eq!(r.text, "no");
        assert_eq!(r.prompt_tokens, Some(3));
        assert!(parse(b"{\"choices\":[]}").is_err());
        assert!(parse(b"<html>").is_err());
    }
}
