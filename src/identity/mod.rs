//! What an answer claims to be: the maker(s) and model line(s) a model names as its own when
//! asked who it is or who made it, or that it declines to say.
//!
//! # Why
//!
//! What a model says about its maker is one of the strongest black-box signs of lineage: a
//! model tuned on another model's outputs often takes up its teacher's self-description ("I am
//! ChatGPT, a large language model trained by OpenAI"). Reading that takes more than finding a
//! vendor's name, because identity answers name other companies all the time: to deny them ("I
//! am not ChatGPT"), to compare ("unlike ChatGPT, I ..."), to list ("models such as GPT-4 and
//! Claude"), as history ("founded by former OpenAI researchers") or as data ("trained on text
//! that includes OpenAI's papers"). Counting names would call most honest models distilled.
//!
//! # The rule
//!
//! The rule is deliberately a small reading of sentence structure, not a classifier: every
//! decision can be traced to one cue in the data file ([`rules`], `vendors.toml`), and a
//! wrong reading is fixed by a cue, measured on the labelled set (`datasets/identity/`), and
//! versioned. It reads the answer as a listener would:
//!
//! 1. **Names.** Every alias of every vendor and model line is found (as a whole word for Latin
//!    names, with its version tail: "gpt" in "gpt-4o-mini"); where two overlap, the longer alias
//!    wins, so "gpt-j" is EleutherAI's and not OpenAI's.
//! 2. **Sentences and clauses.** The text is cut into sentences and each sentence into clauses
//!    (at commas, dashes, "but", "但是" ...). A clause is the scope of a negation or comparison:
//!    "I'm not ChatGPT, I'm Claude" denies one and claims the other.
//! 3. **Frames.** A name is claimed only when a *frame* stands before it in its clause, within a
//!    few words: an identity frame that speaks in the first person ("I am", "my name is", "我是",
//!    "je suis"), or a link frame ("developed by", "based on", "from", "由", "基于", "entwickelt
//!    von") in a clause about the speaker whose nearest subject is the speaker or a vendor it has
//!    just claimed ("I'm Claude from Anthropic", but not "ChatGPT, made by OpenAI"). A few
//!    frames follow the name ("OpenAI created me", "OpenAI开发了我"). A name with no frame is
//!    a mention, never a claim: being silent costs less than a false claim of lineage.
//! 4. **Scope.** Between the subject and the name, a negation ("not", "不是", "nicht") makes it
//!    denied; a comparison, a list, a topic, a data source or a role being played ("like",
//!    "such as", "about", "data", "playing") makes it compared; in the clause before it, someone
//!    else's belief or a hypothetical ("people often think I'm ...", "if I were ...") makes it
//!    reported; right after it, "-style", "'s rival", "的替代品" make it not the vendor at all.
//!    Japanese and Korean negate after the name ("ではありません"), so that is read too.
//! 5. **Clauses lean on the one before.** A clause with no first person of its own is about the
//!    speaker when the clause before it was and did not end on a denied or compared name ("I'm
//!    Qwen, created by Alibaba Cloud" but not "I'm not ChatGPT, developed by OpenAI"); its start
//!    is an identity frame when it stands in apposition to a clause that named the speaker
//!    ("I'm Le Chat, Mistral's assistant"), or turns back after a denial ("not ChatGPT, but
//!    Claude", "不是ChatGPT，而是Claude"). The answer to a rhetorical "who made me?" and a whole
//!    answer of a few words ("OpenAI.", "Claude, by Anthropic.") start with a frame too.
//! 6. **Declines** are read only when no vendor is claimed: the answer says it cannot or will
//!    not say who made it or what it is, or that it has no such information.
//!
//! Several vendors may be claimed by one answer (a fine-tune that names its base and its tuner;
//! "Copilot, by Microsoft, on OpenAI's GPT-4"): each is a claim. A question clause ("am I
//! ChatGPT?") claims nothing.
//!
//! # Personas
//!
//! A system prompt that gives the model a name or an identity ("You are Aria, made by Acme";
//! "You are ChatGPT"; "你是小智") changes what its answers mean: the claim is still read from
//! the answer, since whether a model takes up an identity it was told to take is itself worth
//! knowing, but the claim is marked [`Claim::persona`] so that callers read it apart from answers
//! given as the model itself. A neutral system prompt ("You are a helpful assistant") is no
//! persona.
//!
//! Everything here is a pure function of the text and the rules; the only I/O is reading a
//! rules file ([`Rules::load`]). The patterns are linear-time (the `regex` crate), and only the
//! first [`READ_BYTES`] of an answer and its first [`READ_NAMES`] names are read, so a
//! degenerate answer (a model repeating "GPT GPT GPT ..." for 64 KiB) costs no more than a long
//! one; identity answers say who they are at the start.

pub mod eval;
pub mod rules;
pub mod stage;
pub mod summary;
pub mod table;
mod text;

use regex::Regex;

pub use rules::{ModelLine, Rules, Vendor};
use text::{Found, clauses, find_names, sentences};
pub use text::{normalise, persona};

/// What one answer claims about who made it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claim {
    /// Canonical names of the vendors the answer claims as its maker or base, in the rules'
    /// order.
    pub vendors: Vec<String>,
    /// The model lines it claims to be or to be built on ("GPT", "Claude"), in the rules' order;
    /// each one's vendor is in `vendors`.
    pub models: Vec<String>,
    /// No vendor is claimed, and the answer says it cannot or will not say who made it or what
    /// it is, or that it has no such information.
    pub declines: bool,
    /// The system prompt gave the model a name or an identity: read this claim apart.
    pub persona: bool,
}

impl Claim {
    /// Whether the answer claims this vendor (its canonical name, any case), or declines when
    /// `vendor` is `declines`.
    pub fn claims(&self, vendor: &str) -> bool {
        if vendor.eq_ignore_ascii_case("declines") {
            return self.declines;
        }
        self.vendors.iter().any(|v| v.eq_ignore_ascii_case(vendor))
    }

    /// The labels of the answer as the labelled sets write them: the vendors claimed, or
    /// `["declines"]`, or nothing.
    pub fn labels(&self) -> Vec<String> {
        if self.declines { vec!["declines".to_owned()] } else { self.vendors.clone() }
    }
}

/// How one vendor name in an answer was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reading {
    /// The answer claims it as its own maker, model or base.
    Claim,
    /// Denied: "I'm not ChatGPT", "不是由OpenAI开发的".
    Negated,
    /// Compared, listed, a topic, a data source, a role played: "unlike ChatGPT", "GPT-style".
    Compared,
    /// Someone else's belief, a question put to it, a hypothetical: "people think I'm ChatGPT".
    Reported,
    /// In a question: "am I ChatGPT?".
    Question,
    /// The frame belongs to another subject: "ChatGPT, made by OpenAI", or the clause is not
    /// about the speaker.
    OtherSubject,
    /// Named with no frame that makes it a claim.
    NoFrame,
}

impl Reading {
    pub fn as_str(self) -> &'static str {
        match self {
            Reading::Claim => "claim",
            Reading::Negated => "negated",
            Reading::Compared => "compared",
            Reading::Reported => "reported",
            Reading::Question => "question",
            Reading::OtherSubject => "other-subject",
            Reading::NoFrame => "no-frame",
        }
    }
}

/// One vendor name found in an answer, and how it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// The vendor's canonical name.
    pub vendor: String,
    /// The model line, when the name is one of a line's.
    pub model: Option<String>,
    /// The name as it stands in the normalised answer ("gpt-4o").
    pub text: String,
    pub reading: Reading,
}

/// How much of an answer (or a system prompt) is read, in bytes of its normalised text.
pub const READ_BYTES: usize = 8_192;
/// How many vendor names of an answer are read.
pub const READ_NAMES: usize = 256;

/// What `answer` claims, read with `rules`; `system` is the system prompt it was given, if any.
pub fn extract(rules: &Rules, answer: &str, system: Option<&str>) -> Claim {
    let text = normalise(answer);
    let mut vendors: Vec<usize> = Vec::new();
    let mut models: Vec<(usize, usize)> = Vec::new();
    for (found, reading) in read(rules, &text) {
        if reading == Reading::Claim {
            vendors.push(found.vendor);
            if let Some(line) = found.line {
                models.push((found.vendor, line));
            }
        }
    }
    vendors.sort_unstable();
    vendors.dedup();
    models.sort_unstable();
    models.dedup();
    let declines = vendors.is_empty() && rules.declines.iter().any(|r| r.is_match(&text));
    Claim {
        vendors: vendors.iter().map(|&v| rules.vendors[v].name.clone()).collect(),
        models: models.iter().map(|&(v, l)| rules.vendors[v].lines[l].name.clone()).collect(),
        declines,
        persona: persona(rules, system),
    }
}

/// Every vendor name in `answer` and how it was read: what [`extract`] decided, name by name
/// (for `identity eval`'s confusions and for anyone asking why).
pub fn read_mentions(rules: &Rules, answer: &str) -> Vec<Mention> {
    let text = normalise(answer);
    read(rules, &text)
        .into_iter()
        .map(|(f, reading)| {
            let vendor = &rules.vendors[f.vendor];
            Mention {
                vendor: vendor.name.clone(),
                model: f.line.map(|l| vendor.lines[l].name.clone()),
                text: text[f.start..f.end].to_owned(),
                reading,
            }
        })
        .collect()
}

/// How the last name of a clause was read, as far as the next clause cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    Claimed,
    /// Denied, compared, reported, another subject's or in a question.
    Rejected,
    /// Named with no frame.
    Neutral,
}

/// What one clause leaves for the next.
#[derive(Debug, Clone, Copy)]
struct ClauseState {
    about_self: bool,
    /// A name in it was denied, or it has a negation and no name.
    negated: bool,
    /// It names the speaker: an identity frame, not spoiled by a rejected name.
    framed: bool,
    last: Option<Last>,
}

/// Where a clause stands before its names are read.
#[derive(Debug, Clone, Copy)]
struct Context {
    about_self: bool,
    /// The clause's start is an identity frame.
    start_frame: bool,
    question: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The clause's start, standing for the clause before it ([`Context::start_frame`]).
    Start,
    Identity,
    Link,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    start: usize,
    end: usize,
    kind: Kind,
}

fn any(list: &[Regex], text: &str) -> bool {
    list.iter().any(|r| r.is_match(text))
}

fn starts_with(list: &[Regex], text: &str) -> bool {
    list.iter().any(|r| r.find(text).is_some_and(|m| m.start() == 0))
}

/// Every name in the normalised text, read sentence by sentence and clause by clause.
fn read(rules: &Rules, text: &str) -> Vec<(Found, Reading)> {
    let cues = &rules.cues;
    let found = find_names(rules, text);
    let mut out = Vec::with_capacity(found.len());
    if found.is_empty() {
        return out;
    }
    let short = gap_words(text) <= cues.short_answer_words;
    let (mut previous_sentence, mut answers_question) = (None::<ClauseState>, false);
    for (si, sentence) in sentences(text).into_iter().enumerate() {
        let spans = clauses(rules, text, sentence);
        let mut previous: Option<ClauseState> = None;
        for (k, &(cs, ce)) in spans.iter().enumerate() {
            let clause = &text[cs..ce];
            let next = spans.get(k + 1).map(|&(s, e)| &text[s..e]);
            let mut ctx = context(rules, clause, previous, if k == 0 { previous_sentence } else { None }, next);
            if k == 0 && (answers_question || (short && si == 0)) {
                ctx.about_self = true;
                ctx.start_frame = true;
            }
            ctx.question = sentence.question && k + 1 == spans.len();
            previous = Some(read_clause(rules, text, (cs, ce), &found, ctx, &mut out));
        }
        answers_question = sentence.question && any(&cues.self_question, &text[sentence.start..sentence.end]);
        previous_sentence = previous.or(previous_sentence);
    }
    out
}

/// Whether a clause is about the speaker and whether its start is an identity frame, from the
/// clause before it in the sentence (or, for a sentence's first clause, the sentence before and
/// the clause after).
fn context(
    rules: &Rules,
    clause: &str,
    previous: Option<ClauseState>,
    previous_sentence: Option<ClauseState>,
    next: Option<&str>,
) -> Context {
    let cues = &rules.cues;
    let other = any(&cues.other_subject, clause);
    let turn = any(&cues.turn, clause);
    let inherited = match previous {
        Some(p) => !other && p.about_self && (turn || p.last != Some(Last::Rejected)),
        None => {
            let fragment = starts_with(&cues.link, clause)
                && previous_sentence.is_some_and(|p| p.about_self && !p.negated && p.last != Some(Last::Rejected));
            let before_i = next.is_some_and(|n| starts_with(&cues.self_, n));
            !other && (fragment || before_i)
        }
    };
    let start_frame = match previous {
        Some(p) if inherited => (turn && p.negated) || (p.framed && !turn && !any(&cues.not_apposition, clause)),
        _ => false,
    };
    Context { about_self: inherited || any(&cues.self_, clause), start_frame, question: false }
}

/// Reads the names of one clause, appending them to `out`, and returns what the next clause
/// needs to know.
fn read_clause(
    rules: &Rules,
    text: &str,
    (cs, ce): (usize, usize),
    found: &[Found],
    ctx: Context,
    out: &mut Vec<(Found, Reading)>,
) -> ClauseState {
    let cues = &rules.cues;
    let clause = &text[cs..ce];
    let mut frames = Vec::new();
    if ctx.start_frame {
        frames.push(Frame { start: 0, end: 0, kind: Kind::Start });
    }
    for (list, kind) in [(&cues.identity, Kind::Identity), (&cues.field, Kind::Identity), (&cues.link, Kind::Link)] {
        for r in list {
            frames.extend(r.find_iter(clause).map(|m| Frame { start: m.start(), end: m.end(), kind }));
        }
    }
    let selves: Vec<usize> = cues.self_.iter().flat_map(|r| r.find_iter(clause).map(|m| m.start())).collect();
    let mut read: Vec<Read> = Vec::new();
    for f in found.iter().filter(|f| f.start >= cs && f.end <= ce) {
        let span = (f.start - cs, f.core_end - cs, f.end - cs);
        let reading = if ctx.question {
            Reading::Question
        } else {
            read_name(rules, clause, (span, f.vendor), &frames, &selves, &read, ctx.about_self)
        };
        let modifier = any(&cues.not_after, &clause[span.1..]) || any(&cues.not_after, &clause[span.2..]);
        read.push(Read { start: span.0, end: span.2, vendor: f.vendor, reading, modifier });
        out.push((*f, reading));
    }
    let last = read.last().map(|r| match r.reading {
        Reading::Claim => Last::Claimed,
        _ if r.modifier => Last::Neutral,
        Reading::NoFrame => Last::Neutral,
        _ => Last::Rejected,
    });
    let negated =
        read.iter().any(|r| r.reading == Reading::Negated) || (read.is_empty() && any(&cues.negation, clause));
    let framed = frames.iter().any(|f| f.kind != Kind::Link) && last != Some(Last::Rejected);
    ClauseState { about_self: ctx.about_self, negated, framed, last }
}

/// A name of a clause as read, for the names after it.
#[derive(Debug, Clone, Copy)]
struct Read {
    start: usize,
    end: usize,
    vendor: usize,
    reading: Reading,
    /// It only qualifies a noun ("a gpt-style assistant"): never the subject of a frame.
    modifier: bool,
}

/// How one name in a clause is read (see the module docs). `span` is (start, end of the alias,
/// end with its version tail), relative to the clause; `earlier` the clause's names before it.
fn read_name(
    rules: &Rules,
    clause: &str,
    ((start, core_end, end), vendor): ((usize, usize, usize), usize),
    frames: &[Frame],
    selves: &[usize],
    earlier: &[Read],
    about_self: bool,
) -> Reading {
    let cues = &rules.cues;
    let (before, after) = (&clause[..start], &clause[end..]);
    if any(&cues.not_after, &clause[core_end..]) || any(&cues.not_after, after) {
        return Reading::Compared;
    }
    if any(&cues.negation_after, after) {
        return Reading::Negated;
    }
    if any(&cues.reported, before) {
        return Reading::Reported;
    }
    if let Some(previous) = earlier.last() {
        let gap = &clause[previous.end..start];
        // "StableLM Zephyr": two names side by side are one product's name, the first one's.
        if gap.chars().all(char::is_whitespace) && previous.vendor != vendor {
            return Reading::NoFrame;
        }
        // "developed by OpenAI and Microsoft": a list goes on from a claimed name.
        if previous.reading == Reading::Claim && is_conjunction(gap) {
            return Reading::Claim;
        }
    }
    let framed = frames.iter().filter(|f| f.end <= start).max_by_key(|f| (f.end, f.kind != Kind::Link));
    let reading = framed.map_or(Reading::NoFrame, |frame| {
        let limit = match frame.kind {
            Kind::Start => cues.apposition_gap,
            Kind::Identity => cues.identity_gap,
            Kind::Link => cues.link_gap,
        };
        if gap_words(&clause[frame.end..start]) > limit {
            return Reading::NoFrame;
        }
        match subject(frame, selves, earlier, about_self) {
            Err(reading) => reading,
            Ok(subject) => scope(rules, &clause[words_before(clause, subject, 2)..start], &clause[subject..start]),
        }
    });
    if reading != Reading::NoFrame {
        return reading;
    }
    // "OpenAI created me", "OpenAI开发了我".
    if about_self && let Some(m) = cues.after.iter().find_map(|r| r.find(after)) {
        if any(&cues.negation, m.as_str()) {
            return Reading::Negated;
        }
        return scope(rules, before, before);
    }
    match scope(rules, before, before) {
        Reading::Claim => Reading::NoFrame,
        rejected => rejected,
    }
}

/// Where the subject of a frame starts: the frame itself for an identity frame (it speaks in
/// the first person); for a link frame, the nearest first person or name before it, which must
/// be the speaker or a name it has claimed.
fn subject(frame: &Frame, selves: &[usize], earlier: &[Read], about_self: bool) -> Result<usize, Reading> {
    if frame.kind != Kind::Link {
        return Ok(frame.start);
    }
    let me = selves.iter().copied().filter(|&s| s < frame.start).max();
    let name = earlier.iter().rev().find(|e| e.end <= frame.start && !e.modifier);
    match (me, name) {
        (me, Some(n)) if me.is_none_or(|m| n.start > m) => {
            if n.reading == Reading::Claim {
                Ok(n.start)
            } else {
                Err(Reading::OtherSubject)
            }
        }
        (Some(m), _) => Ok(m),
        (None, _) if about_self => Ok(0),
        _ => Err(Reading::OtherSubject),
    }
}

/// The window between a subject and a name: denied, compared, or a claim. A negation is looked
/// for from two words before the subject ("no soy chatgpt", "je ne suis pas"), since several
/// languages negate before the verb.
fn scope(rules: &Rules, negation_window: &str, window: &str) -> Reading {
    if any(&rules.cues.negation, negation_window) {
        Reading::Negated
    } else if any(&rules.cues.breakers, window) {
        Reading::Compared
    } else {
        Reading::Claim
    }
}

/// The byte offset `n` words before `at` (or the clause start).
fn words_before(clause: &str, at: usize, n: usize) -> usize {
    let mut pos = at;
    for _ in 0..n {
        let head = clause[..pos].trim_end();
        pos = head.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    }
    pos
}

fn is_conjunction(gap: &str) -> bool {
    matches!(gap.trim(), "and" | "&" | "/" | "和" | "与" | "及" | "以及" | "、" | "y" | "et" | "und")
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30FF}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FFFF}')
}

/// Words in a piece of text: runs of letters and digits, a CJK character counting half a word.
fn gap_words(text: &str) -> usize {
    let (mut words, mut cjk, mut in_word) = (0usize, 0usize, false);
    for c in text.chars() {
        if is_cjk(c) {
            cjk += 1;
            in_word = false;
        } else if c.is_alphanumeric() || c == '\'' {
            words += usize::from(!in_word);
            in_word = true;
        } else {
            in_word = false;
        }
    }
    words + cjk.div_ceil(2)
}

#[cfg(test)]
mod tests;
