//! What a simulated model says about itself. A model given a `maker` in its scenario (a vendor
//! the identity rules know, such as "OpenAI") opens its answers to questions about who it is
//! or who made it with a self-description naming that maker and one of its model lines, in the
//! prompt's language; a model given none says nothing of the kind. Which wording is used is a
//! hash of the request, not a draw of the answer's random generator, so the answers of every
//! model without a maker replay exactly as before.

use crate::util::stable_hash64;

/// Words of a prompt that ask the model who it is or who made it.
const ASKS: &[&str] = &[
    "who made you",
    "who created you",
    "who built you",
    "who trained you",
    "who developed you",
    "developed you",
    "behind you",
    "who are you",
    "what are you",
    "introduce yourself",
    "introducing yourself",
    "which company",
    "what model are you",
    "your name",
    "你是谁",
    "谁开发",
    "谁创造",
    "哪家公司",
    "什么模型",
    "介绍一下你自己",
    "介绍你自己",
];

/// A product name for each maker the simulator describes itself with (the identity rules know
/// each as a model line of that vendor); other makers are named without one.
const LINES: &[(&str, &str)] = &[
    ("OpenAI", "ChatGPT"),
    ("Anthropic", "Claude"),
    ("Google", "Gemini"),
    ("Meta", "Llama"),
    ("Mistral", "Le Chat"),
    ("Alibaba", "Qwen"),
    ("DeepSeek", "DeepSeek"),
    ("xAI", "Grok"),
    ("Microsoft", "Phi"),
    ("Cohere", "Command R"),
    ("01.AI", "Yi"),
    ("Zhipu", "ChatGLM"),
    ("Moonshot", "Kimi"),
];

/// Whether a prompt asks the model who it is or who made it.
pub fn asks_identity(prompt: &str) -> bool {
    let lower = prompt.to_lowercase();
    ASKS.iter().any(|a| lower.contains(a))
}

/// The sentence with which a model made by `maker` introduces itself, in English or (for a
/// prompt in Chinese) in Chinese; `key` chooses the wording.
pub fn self_description(maker: &str, prompt: &str, key: &str) -> String {
    let line = LINES.iter().find(|(m, _)| m.eq_ignore_ascii_case(maker)).map(|(_, l)| *l);
    let pick = stable_hash64(key.as_bytes()) % 3;
    let chinese = prompt.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    match (line, chinese, pick) {
        (Some(l), true, _) => format!("我是{l}，由{maker}开发的人工智能助手。"),
        (None, true, _) => format!("我是由{maker}开发的人工智能助手。"),
        (Some(l), false, 0) => format!("I'm {l}, an AI assistant made by {maker}."),
        (Some(l), false, 1) => format!("I am {l}, a large language model trained by {maker}."),
        (Some(l), false, _) => format!("My name is {l}, and I was developed by {maker}."),
        (None, false, _) => format!("I'm an AI assistant created by {maker}."),
    }
}

/// An answer of a model made by `maker` (if it has one), opened with its self-description when
/// the prompt asks who it is; `key` (the model and sampling seed) chooses the wording.
pub fn introduce(maker: Option<&str>, prompt: &str, key: &str, answer: String) -> String {
    match maker.filter(|_| asks_identity(prompt)) {
        Some(maker) => format!("{} {answer}", self_description(maker, prompt, &format!("{key}\u{0}{prompt}"))),
        None => answer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Rules, extract};

    /// Every wording, in both languages, is read by the identity rules as a claim of its maker.
    #[test]
    fn every_self_description_claims_its_maker() {
        let rules = Rules::builtin();
        for (maker, _) in LINES {
            for prompt in ["Who made you?", "你是谁？哪家公司开发了你？"] {
                for key in 0..12 {
                    let text = self_description(maker, prompt, &key.to_string());
                    let claim = extract(&rules, &text, None);
                    let canonical = rules.vendor(maker).map(|v| v.name.clone());
                    assert_eq!(claim.vendors, canonical.into_iter().collect::<Vec<_>>(), "{text}");
                }
            }
        }
        assert!(asks_identity("Who made you, and what were they trying to make?"));
        assert!(!asks_identity("How should I plan a garden?"));
    }
}
