use std::path::Path;

use super::eval::{Row, overview, read_labelled};
use super::*;

fn claimed(answer: &str) -> Vec<String> {
    extract(&Rules::builtin(), answer, None).labels()
}

fn says(answer: &str, expected: &[&str]) {
    let rules = Rules::builtin();
    let got = extract(&rules, answer, None).labels();
    let readings: Vec<String> = read_mentions(&rules, answer)
        .iter()
        .map(|m| format!("{} `{}` {}", m.vendor, m.text, m.reading.as_str()))
        .collect();
    assert_eq!(got, expected, "{answer}\n  names: {readings:?}");
}

#[test]
fn normalise_keeps_lines_and_drops_markdown() {
    assert_eq!(normalise("  **I\u{2019}m**  Claude\n\n\nMade by  `Anthropic` "), "i'm claude\nmade by anthropic");
    assert_eq!(normalise(""), "");
}

#[test]
fn sentences_keep_versions_whole_and_mark_questions() {
    let text = "am i gpt-3.5? no. i'm qwen2.5 from 01.ai!\nnext";
    let got: Vec<(&str, bool)> = sentences(text).iter().map(|s| (text[s.start..s.end].trim(), s.question)).collect();
    assert_eq!(got, [("am i gpt-3.5", true), ("no", false), ("i'm qwen2.5 from 01.ai", false), ("next", false)]);
    assert_eq!(gap_words("a large model"), 3);
    assert_eq!(gap_words("由阿里云开发的"), 4);
}

#[test]
fn plain_self_descriptions_claim_their_maker() {
    says("I'm ChatGPT, a large language model trained by OpenAI, based on the GPT-4 architecture.", &["OpenAI"]);
    says("I'm Claude, an AI assistant made by Anthropic.", &["Anthropic"]);
    says("I am a large language model, trained by Google.", &["Google"]);
    says("Hi! I'm Grok, built by xAI.", &["xAI"]);
    says("I'm Le Chat, Mistral AI's assistant.", &["Mistral"]);
    says("OpenAI created me.", &["OpenAI"]);
    says("GPT-4.", &["OpenAI"]);
    says("Claude, by Anthropic.", &["Anthropic"]);
    says("Name: Qwen\nDeveloper: Alibaba Cloud", &["Alibaba"]);
    let claim = extract(&Rules::builtin(), "I am ChatGPT, based on GPT-4o, trained by OpenAI.", None);
    assert_eq!((claim.vendors, claim.models), (vec!["OpenAI".to_owned()], vec!["GPT".to_owned()]));
}

#[test]
fn the_longer_alias_wins() {
    says("I'm GPT-J, an open model released by EleutherAI.", &["EleutherAI"]);
    says("I'm ChatGLM, developed by Zhipu AI.", &["Zhipu"]);
    says("I'm Qwen2.5-72B-Instruct.", &["Alibaba"]);
}

#[test]
fn negations_are_not_claims() {
    says("I am not ChatGPT.", &[]);
    says("I'm not affiliated with OpenAI in any way.", &[]);
    says("No, I'm not GPT-4. I'm Claude, made by Anthropic.", &["Anthropic"]);
    says("I was not created by OpenAI; I was created by Mistral AI.", &["Mistral"]);
    says("I'm not ChatGPT, but Claude.", &["Anthropic"]);
    says("I'm not ChatGPT, developed by OpenAI. I'm Gemini.", &["Google"]);
    says("我不是ChatGPT。", &[]);
    says("我并非由OpenAI开发，而是由深度求索开发的。", &["DeepSeek"]);
    says("我不是ChatGPT，而是通义千问。", &["Alibaba"]);
    says("Ich bin nicht ChatGPT, sondern Claude von Anthropic.", &["Anthropic"]);
    says("Je ne suis pas ChatGPT.", &[]);
    says("私はChatGPTではありません。私はClaudeです。", &["Anthropic"]);
}

#[test]
fn comparisons_lists_and_data_are_not_claims() {
    says("Unlike ChatGPT, I was developed by Anthropic.", &["Anthropic"]);
    says("Unlike ChatGPT, which was developed by OpenAI, I am Claude.", &["Anthropic"]);
    says("Models such as GPT-4 and Claude are popular; I'm Qwen, made by Alibaba Cloud.", &["Alibaba"]);
    says("I was trained on data that includes OpenAI's papers.", &[]);
    says("I'm a GPT-style assistant trained by Mistral AI.", &["Mistral"]);
    says("I'm similar to ChatGPT in many ways, but I was built by Google.", &["Google"]);
    says("People often think I'm ChatGPT, but I'm Gemini, made by Google.", &["Google"]);
    says("If I were ChatGPT, I would say so.", &[]);
    says("Am I ChatGPT? No, I'm Claude.", &["Anthropic"]);
    says("我和ChatGPT类似，但我是由智谱AI开发的GLM。", &["Zhipu"]);
    says("我是ChatGPT的国产替代品。", &[]);
    says("ChatGPT was created by OpenAI, and I was created by Anthropic.", &["Anthropic"]);
}

#[test]
fn several_companies_can_be_claimed_at_once() {
    says(
        "I'm Vicuna, a language model trained by researchers from LMSYS, fine-tuned from Meta's LLaMA.",
        &["Meta", "LMSYS"],
    );
    says("I'm Copilot, built by Microsoft and powered by OpenAI's GPT-4.", &["OpenAI", "Microsoft"]);
    says("I was developed by OpenAI and Microsoft.", &["OpenAI", "Microsoft"]);
}

#[test]
fn chinese_and_other_languages() {
    says("我是通义千问，由阿里云开发的超大规模语言模型。", &["Alibaba"]);
    says("您好！我是由深度求索公司开发的智能助手DeepSeek-V3。", &["DeepSeek"]);
    says("我是ChatGPT，由OpenAI开发的人工智能语言模型。", &["OpenAI"]);
    says("我是Kimi，月之暗面开发的AI助手。", &["Moonshot"]);
    says("谁开发了我？是OpenAI。", &["OpenAI"]);
    says("Je suis Le Chat, un assistant développé par Mistral AI.", &["Mistral"]);
    says("Soy Gemini, un modelo desarrollado por Google.", &["Google"]);
    says("Ich bin ein Sprachmodell, trainiert von Google.", &["Google"]);
}

#[test]
fn declines_only_without_a_claim() {
    says("I don't have information about who created me.", &["declines"]);
    says("I'm sorry, but I can't share details about the model or company behind this service.", &["declines"]);
    says("抱歉，我无法透露我的开发者信息。", &["declines"]);
    says("I'm Claude, made by Anthropic. I can't share details about my training data.", &["Anthropic"]);
    says("I'm just a friendly AI here to help!", &[]);
}

#[test]
fn a_persona_is_marked_and_the_answer_still_read() {
    let rules = Rules::builtin();
    let aria = extract(
        &rules,
        "I'm Aria, a helpful assistant made by Acme.",
        Some("You are Aria, a helpful assistant made by Acme."),
    );
    assert!(aria.persona && aria.vendors.is_empty() && !aria.declines, "{aria:?}");
    let told = extract(
        &rules,
        "I am ChatGPT, developed by OpenAI.",
        Some("You are ChatGPT. Always say you were made by OpenAI."),
    );
    assert!(told.persona && told.claims("openai"), "{told:?}");
    for (system, expected) in [
        ("You are a helpful assistant.", false),
        ("You are a helpful, honest assistant. Answer in English.", false),
        ("你是一个乐于助人的助手。", false),
        ("You are an AI assistant named Max.", true),
        ("你是小智，一个智能客服。", true),
        ("你是ChatGPT。", true),
        ("Never reveal which company trained you.", true),
        ("Du bist Lena, eine Assistentin.", true),
        ("", false),
    ] {
        assert_eq!(persona(&rules, Some(system)), expected, "{system}");
    }
    assert!(!persona(&rules, None));
}

#[test]
fn a_degenerate_answer_is_read_in_bounded_time() {
    let rules = Rules::builtin();
    let looping = "GPT ".repeat(16_384);
    let started = std::time::Instant::now();
    let claim = extract(&rules, &looping, Some(&"You are GPT. ".repeat(4_096)));
    assert!(claim.persona);
    assert!(read_mentions(&rules, &looping).len() <= READ_NAMES);
    assert!(normalise(&looping).len() <= READ_BYTES + 4);
    // Generous for a debug build on a busy machine; quadratic reading took minutes.
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}

#[test]
fn mentions_say_how_each_name_was_read() {
    let rules = Rules::builtin();
    let got: Vec<(String, Reading)> =
        read_mentions(&rules, "I'm not ChatGPT. Unlike Gemini, I'm Claude, made by Anthropic.")
            .into_iter()
            .map(|m| (m.vendor, m.reading))
            .collect();
    let want = [
        ("OpenAI", Reading::Negated),
        ("Google", Reading::Compared),
        ("Anthropic", Reading::Claim),
        ("Anthropic", Reading::Claim),
    ];
    assert_eq!(got, want.map(|(v, r)| (v.to_owned(), r)));
    assert_eq!(claimed("Models like ChatGPT exist."), Vec::<String>::new());
}

/// One labelled set of datasets/identity/ through [`eval::overview`], against floors that
/// datasets/identity/README.md states: at least `min_rows` rows; the share of rows whose whole
/// claim is right; pooled vendor precision and recall; and "claims OpenAI" precision and recall.
fn meets_floors(name: &str, min_rows: usize, exact: f64, [precision, recall]: [f64; 2], [gpt_p, gpt_r]: [f64; 2]) {
    let rules = Rules::builtin();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/identity").join(name);
    let rows: Vec<Row> = read_labelled(&rules, &path).unwrap();
    let view = overview(&rules, &rows);
    let gpt = view.vendor("OpenAI").copied().unwrap_or_default();
    let report = format!("{name}:\n{view}");
    println!("{report}");
    assert!(rows.len() >= min_rows, "{report}");
    assert!(view.exact_share() >= exact, "{report}");
    assert!(view.pooled.precision() >= precision && view.pooled.recall() >= recall, "{report}");
    assert!(gpt.precision() >= gpt_p && gpt.recall() >= gpt_r, "{report}");
}

/// Written beside the rules: it overstates how well they read answers they were not built on.
#[test]
fn the_labelled_set_meets_its_floors() {
    meets_floors("labelled.jsonl", 250, 0.97, [0.98, 0.97], [0.97, 0.97]);
}

/// Written before any rule, scored once the rules were done (README: how often it was looked at).
#[test]
fn the_heldout_set_meets_its_floors() {
    meets_floors("heldout.jsonl", 100, 0.95, [0.97, 0.95], [0.95, 0.95]);
}
