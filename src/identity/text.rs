//! The text an answer is read as: normalised, its vendor names found, cut into sentences and
//! clauses (the first steps of the rule in the module docs of [`super`]); and whether a system
//! prompt sets a persona.

use std::cmp::Reverse;

use super::{READ_BYTES, READ_NAMES, Rules};

/// The text the rules see: Unicode lowercase, typographic quotes made plain, markdown's `*`,
/// `` ` `` and `#` dropped, runs of spaces made one space and runs of line breaks one line break
/// (a line is a sentence), trimmed.
/// Stops after [`READ_BYTES`] (at a character boundary).
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(READ_BYTES + 8));
    let mut pending: Option<char> = None;
    for c in text.chars() {
        if out.len() >= READ_BYTES {
            break;
        }
        let c = match c {
            '\u{2019}' | '\u{2018}' | '\u{02BC}' => '\'',
            '\u{201C}' | '\u{201D}' => '"',
            '*' | '`' | '#' => continue,
            c => c,
        };
        if c == '\n' || c == '\r' {
            pending = Some('\n');
        } else if c.is_whitespace() {
            pending = pending.or(Some(' '));
        } else {
            if let Some(p) = pending.take().filter(|_| !out.is_empty()) {
                out.push(p);
            }
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// A vendor name found in the normalised text (byte offsets).
#[derive(Debug, Clone, Copy)]
pub(super) struct Found {
    pub start: usize,
    /// End of the alias itself, before its version tail.
    pub core_end: usize,
    pub end: usize,
    pub vendor: usize,
    pub line: Option<usize>,
}

/// Every vendor name in the text, left to right, none overlapping: where two overlap, the one
/// with the longer alias wins, then the longer match.
pub(super) fn find_names(rules: &Rules, text: &str) -> Vec<Found> {
    let mut all = Vec::new();
    for (vendor, names) in rules.names.iter().enumerate() {
        for caps in names.regex.captures_iter(text) {
            let whole = caps.get(0).expect("group 0 is the match");
            let Some((group, core)) = caps.iter().skip(1).enumerate().find_map(|(i, m)| m.map(|m| (i, m))) else {
                continue;
            };
            let (line, whole_word) = names.groups[group];
            let start = whole.start();
            let end = (start + whole.as_str().trim_end_matches('.').len()).max(core.end());
            let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
            if whole_word && alnum(text[..start].chars().next_back()) {
                continue;
            }
            if alnum(text[..end].chars().next_back()) && alnum(text[end..].chars().next()) {
                continue;
            }
            if names.exclude.iter().any(|e| text[start..].starts_with(e.as_str())) {
                continue;
            }
            all.push(Found { start, core_end: core.end(), end, vendor, line });
        }
    }
    all.sort_by_key(|f| (Reverse(f.core_end - f.start), Reverse(f.end - f.start), f.start));
    let mut kept: Vec<Found> = Vec::new();
    for f in all {
        if kept.iter().all(|k| f.end <= k.start || f.start >= k.end) {
            kept.push(f);
        }
    }
    kept.sort_by_key(|f| f.start);
    kept.truncate(READ_NAMES);
    kept
}

/// A sentence of the normalised text (byte offsets), and whether it ends in a question mark.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sentence {
    pub start: usize,
    pub end: usize,
    pub question: bool,
}

/// Sentences end at `! ? 。 ！ ？ ; ； …` and line breaks, and at `.` before a space, the end or
/// a non-ASCII character (so "gpt-3.5" and "01.ai" stay whole).
pub(super) fn sentences(text: &str) -> Vec<Sentence> {
    let mut out: Vec<Sentence> = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        let ends = match c {
            '!' | '?' | '。' | '！' | '？' | ';' | '；' | '\n' | '…' => true,
            '.' => next.is_none_or(|n| n.is_whitespace() || !n.is_ascii()),
            _ => false,
        };
        if !ends {
            continue;
        }
        let question = matches!(c, '?' | '？');
        if text[start..i].trim().is_empty() {
            if let Some(last) = out.last_mut().filter(|_| question) {
                last.question = true;
            }
        } else {
            out.push(Sentence { start, end: i, question });
        }
        start = i + c.len_utf8();
    }
    if !text[start..].trim().is_empty() {
        out.push(Sentence { start, end: text.len(), question: false });
    }
    out
}

/// The clauses of one sentence (byte offsets, trimmed, none empty): cut at each `clause_break`
/// match; punctuation is dropped, a word ("but", "但是") begins the next clause.
pub(super) fn clauses(rules: &Rules, text: &str, sentence: Sentence) -> Vec<(usize, usize)> {
    let mut cuts = Vec::new();
    let mut start = sentence.start;
    for m in rules.cues.clause_break.find_iter(&text[sentence.start..sentence.end]) {
        let (ms, me) = (sentence.start + m.start(), sentence.start + m.end());
        cuts.push((start, ms));
        start = if m.as_str().chars().any(char::is_alphabetic) { ms } else { me };
    }
    cuts.push((start, sentence.end));
    cuts.into_iter()
        .filter_map(|(s, e)| {
            let piece = &text[s..e];
            let lead = piece.len() - piece.trim_start().len();
            let trimmed = piece.trim();
            (!trimmed.is_empty()).then(|| (s + lead, s + lead + trimmed.len()))
        })
        .collect()
}

/// Whether a system prompt gives the model a name or an identity: a name after "you are",
/// "your name is", "你是", "du bist" ... (a capitalised or non-Latin word that is not a
/// generic one: "You are a helpful assistant" is no persona), a cue about its maker or
/// identity ("made by", "never reveal", "扮演"), or a vendor's name.
pub fn persona(rules: &Rules, system: Option<&str>) -> bool {
    let Some(system) = system.map(str::trim).filter(|s| !s.is_empty()) else { return false };
    let cues = &rules.persona;
    let named = cues
        .name
        .iter()
        .any(|r| r.captures_iter(system).any(|c| c.name("name").is_some_and(|n| is_name(&cues.generic, n.as_str()))));
    if named {
        return true;
    }
    let text = normalise(system);
    cues.identity.iter().any(|r| r.is_match(&text)) || !find_names(rules, &text).is_empty()
}

fn is_name(generic: &[String], name: &str) -> bool {
    let Some(first) = name.chars().next() else { return false };
    let capital = first.is_uppercase() || (!first.is_ascii() && first.is_alphabetic() && !first.is_lowercase());
    let lower = name.to_lowercase();
    capital && !generic.iter().any(|g| lower == *g || (!g.is_ascii() && lower.starts_with(g.as_str())))
}
