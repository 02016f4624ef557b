//! How an answer is written, apart from what it says (`style-v1`): 53 cheap numbers of one
//! answer's text (length, layout, markdown, punctuation, casing, emoji, the lexicon's hedges and
//! refusal, first and second person, opener and closer kinds) and two identity features, the
//! answer's opener and closer *words*. The measure stage compares models by them probe by probe
//! (the style signal of [`crate::metrics::style`]); they are stored in `features` beside the
//! lexicon's counts.
//!
//! Every feature is a pure function of the text (and of the lexicon's counts the features stage
//! already has): no model, no name, nothing per set. The definitions are the research's
//! (`datasets/research/relatedness-v3/SPEC.md`, S1); changing any of them is a new [`VERSION`]
//! and, like a lexicon change, a new baseline. Notation: `L(x) = ln(1 + x)`;
//! `rate(c) = ln(1 + 100 c / max(words, 1))` (per 100 words, damped); `flag(b)` = 1 or 0.

use std::sync::LazyLock;

use regex::Regex;

use super::{Features, Refusal, normalise, sentences};

/// The style instrument's version, in every `features` row that has style.
pub const VERSION: &str = "style-v1";

/// Numeric style features per answer.
pub const COUNT: usize = 53;

/// What a feature is about: every group weighs the same in the style similarity, however many
/// features it has ([`crate::metrics::style`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    Length,
    Layout,
    Markup,
    Punct,
    Chars,
    Lexicon,
    Refusal,
    Person,
    Opener,
    Closer,
}

use Group::{Chars, Closer, Layout, Length, Lexicon, Markup, Opener, Person, Punct};

/// The features' names (a `features` column is `style_<name>`) and groups, in order.
pub const FEATURES: [(&str, Group); COUNT] = [
    ("words", Length),
    ("word_len", Length),
    ("sent_len", Length),
    ("paragraphs", Length),
    ("bullets", Layout),
    ("numbered", Layout),
    ("headings", Layout),
    ("bold_lines", Layout),
    ("item_bold", Layout),
    ("item_term", Layout),
    ("tables", Layout),
    ("fences", Layout),
    ("quotes_rules", Layout),
    ("double_breaks", Layout),
    ("edge_space", Layout),
    ("bold", Markup),
    ("inline_code", Markup),
    ("exclaim", Punct),
    ("question", Punct),
    ("emdash", Punct),
    ("endash", Punct),
    ("spaced_hyphen", Punct),
    ("semicolon", Punct),
    ("colon", Punct),
    ("comma", Punct),
    ("paren", Punct),
    ("dquote", Punct),
    ("curly", Punct),
    ("ellipsis", Punct),
    ("emoji", Chars),
    ("allcaps", Chars),
    ("digits", Chars),
    ("nonascii", Chars),
    ("hedges", Lexicon),
    ("uncertainty", Lexicon),
    ("confidence", Lexicon),
    ("self_reference", Lexicon),
    ("refusal_full", Group::Refusal),
    ("refusal_partial", Group::Refusal),
    ("first_person", Person),
    ("second_person", Person),
    ("op_affirm", Opener),
    ("op_apology", Opener),
    ("op_ai", Opener),
    ("op_here", Opener),
    ("op_markup", Opener),
    ("op_colon", Opener),
    ("cl_hope", Closer),
    ("cl_invite", Closer),
    ("cl_wish", Closer),
    ("cl_question", Closer),
    ("cl_summary", Closer),
    ("note", Closer),
];

/// One answer's style.
#[derive(Debug, Clone, PartialEq)]
pub struct Style {
    /// By [`FEATURES`].
    pub values: [f64; COUNT],
    /// The first word (`\w+`) of the first sentence, normalised, at most 24 characters.
    pub opener: String,
    /// The same of the last sentence.
    pub closer: String,
}

/// The patterns, compiled once.
struct Patterns {
    /// Tested on each non-blank line.
    bullet: Regex,
    numbered: Regex,
    heading: Regex,
    bold_line: Regex,
    item_bold: Regex,
    item_term: Regex,
    table: Regex,
    fence: Regex,
    quote: Regex,
    rule: Regex,
    /// Counted in the text.
    double_break: Regex,
    bold: Regex,
    inline_code: Regex,
    emdash: Regex,
    spaced_hyphen: Regex,
    dquote: Regex,
    curly: Regex,
    straight: Regex,
    ellipsis: Regex,
    emoji: Regex,
    allcaps: Regex,
    /// On the normalised text, its first and last sentence, its last paragraph.
    first_person: Regex,
    second_person: Regex,
    note: Regex,
    op_affirm: Regex,
    op_apology: Regex,
    op_ai: Regex,
    op_here: Regex,
    op_markup: Regex,
    cl_hope: Regex,
    cl_invite: Regex,
    cl_wish: Regex,
    cl_summary: Regex,
    word: Regex,
}

static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("a style-v1 pattern");
    const ITEM: &str = r"(?:[-*+\x{2022}]|[0-9]{1,3}[.)])";
    Patterns {
        bullet: re(r"^\s*[-*+\x{2022}]\s+\S"),
        numbered: re(r"^\s*[0-9]{1,3}[.)]\s+\S"),
        heading: re(r"^\s{0,3}#{1,6}\s"),
        bold_line: re(r"^\s*\*\*[^*]+\*\*:?\s*$"),
        item_bold: re(&format!(r"^\s*{ITEM}\s+\*\*")),
        item_term: re(&format!(r"^\s*{ITEM}\s+[^:\n]{{1,60}}:\s")),
        table: re(r"^\s*\|.*\|\s*$"),
        fence: re(r"^\s*```"),
        quote: re(r"^\s*>"),
        rule: re(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$"),
        double_break: re(r"\n[ \t]*\n"),
        bold: re(r"\*\*[^*\n]+\*\*|__[^_\n]+__"),
        inline_code: re(r"`[^`\n]+`"),
        emdash: re(r"\x{2014}|\s--\s"),
        spaced_hyphen: re(r"\S - \S"),
        dquote: re(r#"["\x{201C}\x{201D}]"#),
        curly: re(r"[\x{2018}\x{2019}\x{201C}\x{201D}]"),
        straight: re(r#"['"]"#),
        ellipsis: re(r"\x{2026}|\.\.\."),
        emoji: re(r"[\x{1F300}-\x{1FAFF}\x{2600}-\x{27BF}]"),
        allcaps: re(r"\b[A-Z]{2,}\b"),
        first_person: re(r"\b(?:i|i'm|i've|i'd|i'll|me|my|mine|myself)\b"),
        second_person: re(r"\b(?:you|your|yours|yourself|you're|you've|you'll|you'd)\b"),
        note: re(r"\b(?:please note|note:|note that|keep in mind|remember that|it's important to|it is important to)"),
        op_affirm: re(
            r"^(?:sure|certainly|absolutely|of course|definitely|yes|yeah|great|okay|ok|alright|gladly|happy to|i'd be happy|i would be happy|i'm happy|i'd be glad|i would be glad)\b",
        ),
        op_apology: re(r"^(?:i'm sorry|i am sorry|sorry|i apologi[sz]e|unfortunately)\b"),
        op_ai: re(
            r"^as an? (?:[a-z-]+ )?(?:ai|artificial intelligence|language model|large language model|assistant)\b",
        ),
        op_here: re(r"^here(?:'s| is| are)\b"),
        op_markup: re(r"^\s*(?:#|\*\*|[-*+\x{2022}]\s|[0-9]{1,3}[.)]\s|\|)"),
        cl_hope: re(r"\bi hope (?:this|that|these|it|my|you)\b"),
        cl_invite: re(r"\b(?:let me know|feel free|don't hesitate|do not hesitate|happy to help|glad to help)\b"),
        cl_wish: re(r"\b(?:good luck|best of luck|enjoy|have a (?:great|good|nice|wonderful))\b"),
        cl_summary: re(
            r"^(?:in conclusion|in summary|overall|to summarize|to summarise|to sum up|ultimately|in short)\b",
        ),
        word: re(r"\w+"),
    }
});

/// `ln(1 + x)`.
fn l(x: f64) -> f64 {
    x.ln_1p()
}

fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}

fn cnt(re: &Regex, s: &str) -> usize {
    re.find_iter(s).count()
}

/// The first `\w+` of a (normalised) piece, at most 24 characters; empty when none.
fn first_word(piece: &str) -> String {
    PATTERNS.word.find(piece).map(|m| m.as_str().chars().take(24).collect()).unwrap_or_default()
}

/// The style of an answer, given the lexicon's counts of it (`features`, from
/// [`super::extract`]: hedges, uncertainty, confidence, self-reference and the lexicon rule's
/// refusal label). `None` for an empty or whitespace-only answer: missing, not zero.
pub fn style(text: &str, lexicon: &Features) -> Option<Style> {
    let t = text.replace("\r\n", "\n");
    if t.trim().is_empty() {
        return None;
    }
    let p = &*PATTERNS;
    let words = t.split_whitespace().count();
    let rate = |c: usize| l(100.0 * c as f64 / words.max(1) as f64);
    let norm = normalise(&t);
    let sents = sentences(&t, usize::MAX);
    let (first, last) = (&sents[0], &sents[sents.len() - 1]);
    let mut v = [0.0; COUNT];
    layout(&t, words, sents.len(), &mut v[..15]);
    let chars = t.chars().count().max(1) as f64;
    let (curly, straight) = (cnt(&p.curly, &t), cnt(&p.straight, &t));
    let count_char = |c: char| t.chars().filter(|&x| x == c).count();
    let rest = [
        l(cnt(&p.bold, &t) as f64),
        l(cnt(&p.inline_code, &t) as f64),
        rate(count_char('!')),
        rate(count_char('?')),
        rate(cnt(&p.emdash, &t)),
        rate(count_char('\u{2013}')),
        rate(cnt(&p.spaced_hyphen, &t)),
        rate(count_char(';')),
        rate(count_char(':')),
        rate(count_char(',')),
        rate(count_char('(')),
        rate(cnt(&p.dquote, &t)),
        if curly + straight > 0 { curly as f64 / (curly + straight) as f64 } else { 0.0 },
        rate(cnt(&p.ellipsis, &t)),
        l(cnt(&p.emoji, &t) as f64),
        rate(cnt(&p.allcaps, &t)),
        t.chars().filter(char::is_ascii_digit).count() as f64 / chars,
        t.chars().filter(|&c| c > '\u{7f}').count() as f64 / chars,
        l(f64::from(lexicon.hedges)),
        l(f64::from(lexicon.uncertainty)),
        l(f64::from(lexicon.confidence)),
        l(f64::from(lexicon.self_reference)),
        flag(lexicon.signals.lexicon == Refusal::Full),
        flag(lexicon.signals.lexicon == Refusal::Partial),
        rate(cnt(&p.first_person, &norm)),
        rate(cnt(&p.second_person, &norm)),
    ];
    v[15..41].copy_from_slice(&rest);
    ends(&t, (first, last), &norm, &mut v[41..]);
    Some(Style { values: v, opener: first_word(first), closer: first_word(last) })
}

/// Features 1-15: length and layout.
fn layout(t: &str, words: usize, sentences: usize, v: &mut [f64]) {
    let p = &*PATTERNS;
    let lines: Vec<&str> = t.split('\n').collect();
    let nonblank: Vec<&str> = lines.iter().copied().filter(|l| !l.trim().is_empty()).collect();
    let paragraphs = lines
        .iter()
        .zip(std::iter::once(&"").chain(lines.iter()))
        .filter(|(l, before)| !l.trim().is_empty() && before.trim().is_empty())
        .count();
    let lines_matching = |re: &Regex| nonblank.iter().filter(|l| re.is_match(l)).count() as f64;
    let letters: usize = t.split_whitespace().map(|w| w.chars().count()).sum();
    let breaks = t.matches('\n').count();
    let edge = |c: Option<char>| flag(c.is_some_and(char::is_whitespace));
    v.copy_from_slice(&[
        l(words as f64),
        l(letters as f64 / words.max(1) as f64),
        l(words as f64 / sentences as f64),
        l(paragraphs as f64),
        l(lines_matching(&p.bullet)),
        l(lines_matching(&p.numbered)),
        l(lines_matching(&p.heading)),
        l(lines_matching(&p.bold_line)),
        l(lines_matching(&p.item_bold)),
        l(lines_matching(&p.item_term)),
        l(lines_matching(&p.table)),
        l(lines_matching(&p.fence)),
        l(lines_matching(&p.quote) + lines_matching(&p.rule)),
        if breaks > 0 { cnt(&p.double_break, t) as f64 / breaks as f64 } else { 0.0 },
        edge(t.chars().next()) + edge(t.chars().next_back()),
    ]);
}

/// Features 42-53: how the answer opens and closes.
fn ends(t: &str, (first, last): (&str, &str), norm: &str, v: &mut [f64]) {
    let p = &*PATTERNS;
    let first_line = t.split('\n').find(|l| !l.trim().is_empty()).unwrap_or("");
    let last_par = normalise(t.trim().rsplit("\n\n").next().unwrap_or(""));
    v.copy_from_slice(&[
        flag(p.op_affirm.is_match(first)),
        flag(p.op_apology.is_match(first)),
        flag(p.op_ai.is_match(first)),
        flag(p.op_here.is_match(first)),
        flag(p.op_markup.is_match(first_line)),
        flag(first_line.trim_end().ends_with(':')),
        flag(p.cl_hope.is_match(last)),
        flag(p.cl_invite.is_match(last)),
        flag(p.cl_wish.is_match(last)),
        flag(last.trim_end().ends_with('?')),
        flag(p.cl_summary.is_match(&last_par)),
        l(cnt(&p.note, norm) as f64),
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{Lexicon, extract};

    /// `datasets/research/relatedness-v3/style_examples.py` (SPEC.md, appendix A): every value
    /// of four texts to 1e-9, and their opener and closer words.
    #[test]
    fn the_features_match_the_reference_values() {
        let cases: [(&str, &str, &str, &str); 4] = [
            (
                "Sure! Here are three tips:\n\n1. **Sleep** well - at least 7 hours.\n2. **Eat** greens; avoid sugar.\n3. Walk daily \u{2014} it helps.\n\nI hope this helps!",
                "sure",
                "i",
                "words=3.367295830, word_len=1.623622547, sent_len=1.734601055, paragraphs=1.386294361, bullets=0.000000000, numbered=1.386294361, headings=0.000000000, bold_lines=0.000000000, item_bold=1.098612289, item_term=0.000000000, tables=0.000000000, fences=0.000000000, quotes_rules=0.000000000, double_breaks=0.333333333, edge_space=0.000000000, bold=1.098612289, inline_code=0.000000000, exclaim=2.097141119, question=0.000000000, emdash=1.519825754, endash=0.000000000, spaced_hyphen=1.519825754, semicolon=1.519825754, colon=1.519825754, comma=0.000000000, paren=0.000000000, dquote=0.000000000, curly=0.000000000, ellipsis=0.000000000, emoji=0.000000000, allcaps=0.000000000, digits=0.027972028, nonascii=0.006993007, hedges=0.000000000, uncertainty=0.000000000, confidence=0.000000000, self_reference=0.000000000, refusal_full=0.000000000, refusal_partial=0.000000000, first_person=1.519825754, second_person=0.000000000, op_affirm=1.000000000, op_apology=0.000000000, op_ai=0.000000000, op_here=0.000000000, op_markup=0.000000000, op_colon=1.000000000, cl_hope=1.000000000, cl_invite=0.000000000, cl_wish=0.000000000, cl_question=0.000000000, cl_summary=0.000000000, note=0.000000000",
            ),
            (
                "As an AI language model, I cannot provide medical advice. However, here are some general points you might consider:\n- See a doctor.\n- Rest.\n\nLet me know if you have other questions?",
                "as",
                "let",
                "words=3.526360525, word_len=1.701989470, sent_len=2.028148247, paragraphs=1.098612289, bullets=1.098612289, numbered=0.000000000, headings=0.000000000, bold_lines=0.000000000, item_bold=0.000000000, item_term=0.000000000, tables=0.000000000, fences=0.000000000, quotes_rules=0.000000000, double_breaks=0.250000000, edge_space=0.000000000, bold=0.000000000, inline_code=0.000000000, exclaim=0.000000000, question=1.393841567, emdash=0.000000000, endash=0.000000000, spaced_hyphen=0.000000000, semicolon=0.000000000, colon=1.393841567, comma=1.954530892, paren=0.000000000, dquote=0.000000000, curly=0.000000000, ellipsis=0.000000000, emoji=0.000000000, allcaps=1.393841567, digits=0.000000000, nonascii=0.000000000, hedges=0.693147181, uncertainty=0.000000000, confidence=0.000000000, self_reference=0.693147181, refusal_full=0.000000000, refusal_partial=1.000000000, first_person=1.954530892, second_person=1.954530892, op_affirm=0.000000000, op_apology=0.000000000, op_ai=1.000000000, op_here=0.000000000, op_markup=0.000000000, op_colon=1.000000000, cl_hope=0.000000000, cl_invite=1.000000000, cl_wish=0.000000000, cl_question=1.000000000, cl_summary=0.000000000, note=0.000000000",
            ),
            (
                "## Answer\n\nThe capital of France is `Paris` (population ~2.1M). NOTE: it's also the largest city \u{1F600}...\n\n| city | pop |\n|---|---|\n| Paris | 2.1M |\n\nIn conclusion, Paris.",
                "answer",
                "in",
                "words=3.465735903, word_len=1.671958269, sent_len=1.491654877, paragraphs=1.609437912, bullets=0.000000000, numbered=0.000000000, headings=0.693147181, bold_lines=0.000000000, item_bold=0.000000000, item_term=0.000000000, tables=1.386294361, fences=0.000000000, quotes_rules=0.000000000, double_breaks=0.375000000, edge_space=0.000000000, bold=0.000000000, inline_code=0.693147181, exclaim=0.000000000, question=0.000000000, emdash=0.000000000, endash=0.000000000, spaced_hyphen=0.000000000, semicolon=0.000000000, colon=1.441210119, comma=1.441210119, paren=1.441210119, dquote=0.000000000, curly=0.000000000, ellipsis=1.441210119, emoji=0.693147181, allcaps=1.441210119, digits=0.023952096, nonascii=0.005988024, hedges=0.000000000, uncertainty=0.000000000, confidence=0.000000000, self_reference=0.000000000, refusal_full=0.000000000, refusal_partial=0.000000000, first_person=0.000000000, second_person=0.000000000, op_affirm=0.000000000, op_apology=0.000000000, op_ai=0.000000000, op_here=0.000000000, op_markup=1.000000000, op_colon=0.000000000, cl_hope=0.000000000, cl_invite=0.000000000, cl_wish=0.000000000, cl_question=0.000000000, cl_summary=1.000000000, note=0.693147181",
            ),
            (
                "  The answer is 42.\n",
                "the",
                "the",
                "words=1.609437912, word_len=1.504077397, sent_len=1.609437912, paragraphs=0.693147181, bullets=0.000000000, numbered=0.000000000, headings=0.000000000, bold_lines=0.000000000, item_bold=0.000000000, item_term=0.000000000, tables=0.000000000, fences=0.000000000, quotes_rules=0.000000000, double_breaks=0.000000000, edge_space=2.000000000, bold=0.000000000, inline_code=0.000000000, exclaim=0.000000000, question=0.000000000, emdash=0.000000000, endash=0.000000000, spaced_hyphen=0.000000000, semicolon=0.000000000, colon=0.000000000, comma=0.000000000, paren=0.000000000, dquote=0.000000000, curly=0.000000000, ellipsis=0.000000000, emoji=0.000000000, allcaps=0.000000000, digits=0.100000000, nonascii=0.000000000, hedges=0.000000000, uncertainty=0.000000000, confidence=0.000000000, self_reference=0.000000000, refusal_full=0.000000000, refusal_partial=0.000000000, first_person=0.000000000, second_person=0.000000000, op_affirm=0.000000000, op_apology=0.000000000, op_ai=0.000000000, op_here=0.000000000, op_markup=0.000000000, op_colon=0.000000000, cl_hope=0.000000000, cl_invite=0.000000000, cl_wish=0.000000000, cl_question=0.000000000, cl_summary=0.000000000, note=0.000000000",
            ),
        ];
        let lexicon = Lexicon::builtin();
        for (i, (text, opener, closer, want)) in cases.iter().enumerate() {
            let s = extract(&lexicon, text).style.expect("a non-empty answer");
            assert_eq!((s.opener.as_str(), s.closer.as_str()), (*opener, *closer), "text {i}");
            for (k, pair) in want.split(", ").enumerate() {
                let (name, value) = pair.split_once('=').unwrap();
                assert_eq!(name, FEATURES[k].0, "text {i}: feature {k}");
                let value: f64 = value.parse().unwrap();
                // The reference prints nine decimals: agree to half a unit of the last one.
                assert!((s.values[k] - value).abs() <= 5e-10 + 1e-12, "text {i}: {name} = {} vs {value}", s.values[k]);
            }
        }
    }

    #[test]
    fn empty_answers_have_no_style_and_line_ends_do_not_matter() {
        let lexicon = Lexicon::builtin();
        assert_eq!(extract(&lexicon, " \n\t ").style, None);
        assert_eq!(extract(&lexicon, "").style, None);
        let unix = extract(&lexicon, "Hello there.\n\n- one\n- two\n").style.unwrap();
        let windows = extract(&lexicon, "Hello there.\r\n\r\n- one\r\n- two\r\n").style.unwrap();
        assert_eq!(unix, windows);
        // Long words are cut to 24 characters.
        let long = extract(&lexicon, &format!("{} is long.", "x".repeat(40))).style.unwrap();
        assert_eq!(long.opener.chars().count(), 24);
    }

    #[test]
    fn each_group_is_named_and_the_names_are_distinct() {
        let mut names: Vec<&str> = FEATURES.iter().map(|f| f.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COUNT);
        let mut groups: Vec<Group> = FEATURES.iter().map(|f| f.1).collect();
        groups.dedup();
        assert_eq!(groups.len(), 10, "ten groups, each a run of features");
    }
}
