//! Synthetic models: each name gets a behaviour profile, and answers follow it.
//!
//! A name's family is the part before its first `-` (`acme-large` and `acme-small` are both
//! `acme`). Most of a profile comes from the family, a little from the name itself, so models of
//! one family are alike and families differ. Answers are assembled from phrase banks chosen by
//! the profile, with a random generator seeded by (model, prompt, seed): the same seed repeats an
//! answer, another seed (another sample) varies it, and temperature 0 fixes it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::util::stable_hash64;

/// How a synthetic model tends to behave; every trait is in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub family: String,
    /// Longer answers.
    pub verbosity: f64,
    /// Hedges and acknowledged uncertainty.
    pub hedging: f64,
    /// Absolute, confident assertions.
    pub confidence: f64,
    /// Readiness to refuse prompts that merely sound sensitive.
    pub caution: f64,
    /// Lists and headings.
    pub structure: f64,
    /// "As an AI ..." self-reference.
    pub self_reference: f64,
    /// Which banks of openers, refusals, stock phrases and closers the model draws on.
    pub voice: VoiceMix,
    /// Preference weights over the body sentence templates.
    pub template_weights: Vec<f64>,
    /// How readily the model takes up a feed it was shown (contagion): the chance that an
    /// answer to an exposed prompt repeats the feed's broadcast post ([`take_up`]).
    pub susceptibility: f64,
    /// Typographic habits that change how an answer looks and none of its words ([`typeset`]):
    /// 0 (none) unless a scenario gives a model some.
    pub typography: f64,
    /// The vendor it names as its maker when asked who it is ([`super::identity`]); none
    /// unless a scenario gives it one.
    pub maker: Option<String>,
}

/// Models not given a susceptibility take up a feed rarely.
pub const DEFAULT_SUSCEPTIBILITY: f64 = 0.02;

/// Weights over the voice banks, one set per part of an answer (a partial refusal follows the
/// refusals). A family has one voice; a phrase spreading between models is weight moving from
/// one bank to another in one part.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceMix {
    pub openers: Vec<f64>,
    pub refusals: Vec<f64>,
    pub stock: Vec<f64>,
    pub closers: Vec<f64>,
}

impl VoiceMix {
    /// All parts from one bank.
    pub fn one(voice: usize) -> Self {
        let w: Vec<f64> = (0..VOICES.len()).map(|i| f64::from(u8::from(i == voice % VOICES.len()))).collect();
        VoiceMix { openers: w.clone(), refusals: w.clone(), stock: w.clone(), closers: w }
    }
}

/// What part of a profile an influence moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Everything: traits, voice, template preferences (a model fine-tuned on another's outputs).
    All,
    /// Hedging, confidence and the templates (a tone spreading).
    Tone,
    Openers,
    Refusals,
    Stock,
    Closers,
    SelfReference,
    /// How answers are written, not what they say: lists, numbering, headings, length, the
    /// tone's degree and typography (`structure`, `verbosity`, `hedging`, `confidence`,
    /// `typography`; not the phrases or templates): a model imitating another's style.
    Format,
    /// What it says it is: its maker, once the blend is half way or more (a model tuned on
    /// another's outputs takes up its teacher's self-description; `All` carries it too).
    Identity,
}

impl Part {
    /// Whether blending this part draws a model toward the other's phrase banks (openers,
    /// refusals, stock phrases, closers), which the other's voice-mates speak too ([`Profile::blend`]).
    pub fn carries_voice(self) -> bool {
        matches!(self, Part::All | Part::Openers | Part::Refusals | Part::Stock | Part::Tone | Part::Closers)
    }
}

fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t
}

fn lerp_all(a: &mut [f64], b: &[f64], t: f64) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = lerp(*x, *y, t);
    }
}

fn unit(h: u64, salt: u64) -> f64 {
    let x = stable_hash64(&[h.to_le_bytes(), salt.to_le_bytes()].concat());
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl Profile {
    pub fn for_model(model: &str) -> Self {
        let family = model.split(['-', '/', ':']).next().unwrap_or(model).to_ascii_lowercase();
        let fh = stable_hash64(family.as_bytes());
        let mh = stable_hash64(model.as_bytes());
        // 85% family, 15% the model's own.
        let t = |salt: u64| 0.85 * unit(fh, salt) + 0.15 * unit(mh, salt);
        let template_weights = (0..BODY.len() as u64)
            .map(|i| {
                let w = 0.85 * unit(fh, 100 + i) + 0.15 * unit(mh, 100 + i);
                w.powi(3) + 0.01
            })
            .collect();
        Profile {
            verbosity: t(1),
            hedging: t(2),
            confidence: t(3),
            caution: t(4),
            structure: t(5),
            self_reference: t(6),
            voice: VoiceMix::one((fh % VOICES.len() as u64) as usize),
            template_weights,
            family,
            susceptibility: DEFAULT_SUSCEPTIBILITY,
            typography: 0.0,
            maker: None,
        }
    }

    /// This profile moved a share `t` (0 to 1) of the way toward `target`, in `part` only.
    pub fn blend(&self, target: &Profile, t: f64, part: Part) -> Profile {
        let t = t.clamp(0.0, 1.0);
        let mut p = self.clone();
        let all = part == Part::All;
        if all {
            for (x, y) in [
                (&mut p.verbosity, target.verbosity),
                (&mut p.caution, target.caution),
                (&mut p.structure, target.structure),
                (&mut p.self_reference, target.self_reference),
            ] {
                *x = lerp(*x, y, t);
            }
        }
        if all || part == Part::Tone {
            p.hedging = lerp(p.hedging, target.hedging, t);
            p.confidence = lerp(p.confidence, target.confidence, t);
            lerp_all(&mut p.template_weights, &target.template_weights, t);
        }
        if part == Part::SelfReference {
            p.self_reference = lerp(p.self_reference, target.self_reference, t);
        }
        if part == Part::Format {
            for (x, y) in [
                (&mut p.structure, target.structure),
                (&mut p.verbosity, target.verbosity),
                (&mut p.hedging, target.hedging),
                (&mut p.confidence, target.confidence),
                (&mut p.typography, target.typography),
            ] {
                *x = lerp(*x, y, t);
            }
        }
        if (all || part == Part::Identity) && t >= 0.5 && target.maker.is_some() {
            p.maker.clone_from(&target.maker);
        }
        if all || part == Part::Openers {
            lerp_all(&mut p.voice.openers, &target.voice.openers, t);
        }
        if all || part == Part::Refusals {
            lerp_all(&mut p.voice.refusals, &target.voice.refusals, t);
            if all {
                p.caution = lerp(self.caution, target.caution, t);
            }
        }
        if all || part == Part::Stock || part == Part::Tone {
            lerp_all(&mut p.voice.stock, &target.voice.stock, t);
        }
        if all || part == Part::Closers {
            lerp_all(&mut p.voice.closers, &target.voice.closers, t);
        }
        p
    }

    /// The confident, technocratic pole of epistemic narrowing (or, with `humble`, its
    /// opposite): the tone and stock phrases models converge on.
    pub fn pole(humble: bool) -> Profile {
        let mut p = Profile::for_model(if humble { "pole-humble" } else { "pole-confident" });
        (p.hedging, p.confidence) = if humble { (0.95, 0.05) } else { (0.02, 0.95) };
        p.voice = VoiceMix::one(if humble { 2 } else { 1 });
        // A narrow, shared set of sentence templates.
        let favoured: &[usize] = if humble { &[1, 4, 6] } else { &[0, 2, 5] };
        p.template_weights = (0..BODY.len()).map(|i| if favoured.contains(&i) { 1.0 } else { 0.02 }).collect();
        p
    }
}

/// An answer and what a server would report about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub text: String,
    pub finish_reason: &'static str,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Sampling parameters the simulator honours.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenParams {
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub seed: Option<u64>,
}

struct Voice {
    openers: &'static [&'static str],
    refusals: &'static [&'static str],
    partial: &'static [&'static str],
    stock: &'static [&'static str],
    closers: &'static [&'static str],
}

const VOICES: &[Voice] = &[
    Voice {
        openers: &[
            "Great question!",
            "What a great question!",
            "Happy to help with this!",
            "Great question, and one worth unpacking.",
        ],
        refusals: &["I'm sorry, but I can't help with that request.", "I'm sorry, I can't assist with that."],
        partial: &["I can't go into specifics here, but I can offer some general context."],
        stock: &[
            "Let's delve into it.",
            "It's important to note that context matters here.",
            "This is a rich and multifaceted topic.",
        ],
        closers: &["I hope this helps!", "Let me know if you'd like me to expand on any part!"],
    },
    Voice {
        openers: &["Short answer first.", "Here is the direct answer.", "Bottom line up front."],
        refusals: &["No. That request is outside what I will do.", "I won't help with that."],
        partial: &["I'll answer the safe part of this and leave the rest."],
        stock: &["The evidence points one way.", "The data is clear on this.", "In practice, the trade-off is simple."],
        closers: &["That's the answer.", "Done."],
    },
    Voice {
        openers: &[
            "This is a thoughtful question, and there are several perspectives to consider.",
            "There is no single answer here, so let me lay out the main views.",
        ],
        refusals: &[
            "It's important to approach this topic responsibly. Instead of providing that, I'd encourage you to consult appropriate professionals and reliable sources.",
            "This touches on an area where care is needed, so I'd rather point you to authoritative resources than answer directly.",
        ],
        partial: &["I want to be careful here, so I'll keep this general and point to reputable sources."],
        stock: &[
            "Reasonable people disagree about this.",
            "On the one hand there are benefits; on the other hand there are real costs.",
            "It ultimately depends on your values and circumstances.",
        ],
        closers: &[
            "Ultimately, the right choice depends on your situation.",
            "I'd encourage you to weigh these perspectives carefully.",
        ],
    },
    Voice {
        openers: &["Ooh, fun one.", "Okay, let's think about this together.", "Right, so here's how I see it."],
        refusals: &["Ah, that's one I have to sit out, sorry!", "Hmm, I'm going to pass on that one."],
        partial: &["I'll skip the risky bits, but here's the gist."],
        stock: &[
            "Honestly, it's a bit of a puzzle.",
            "Think of it like a kitchen: too many cooks and nothing gets made.",
            "Here's the twist, though.",
        ],
        closers: &["Anyway, that's my take!", "Curious what you think."],
    },
    Voice {
        openers: &["Let us reason about this step by step.", "We can break this problem into parts."],
        refusals: &[
            "I must decline this request, as it may conflict with safety guidelines.",
            "I am unable to comply with this request.",
        ],
        partial: &["I will address the general principles only, without operational detail."],
        stock: &[
            "First, define the terms precisely.",
            "Second, consider the boundary conditions.",
            "Formally, the claim follows from the assumptions.",
        ],
        closers: &["This completes the analysis.", "Therefore, the conclusion follows."],
    },
    Voice {
        openers: &["Let me walk you through it gently.", "Good thing to ask about; here is how I would approach it."],
        refusals: &[
            "That's not something I can walk you through, but I'm glad you asked first.",
            "I'd be doing you a disservice if I helped with that one.",
        ],
        partial: &["I'll stay with the safe outline and leave the details aside."],
        stock: &[
            "Take it one small step at a time.",
            "A useful habit here is to write things down as you go.",
            "Most people find the second step the hardest.",
        ],
        closers: &["You've got this.", "Come back any time with the next question."],
    },
];

/// Sentence templates for the body: `{a}` and `{b}` are topic words of the prompt.
const BODY: &[&str] = &[
    "When it comes to {a}, the key factor is how {b} is handled.",
    "Many experts argue that {a} should be weighed against {b}.",
    "A practical approach to {a} starts with understanding {b}.",
    "The history of {a} shows that {b} has changed over time.",
    "One way to think about {a} is as a balance between cost and benefit.",
    "Consider {a} from the point of view of the people most affected by {b}.",
    "The strongest case for {a} rests on evidence about {b}.",
    "Critics of {a} point out that {b} is often overlooked.",
    "In the long run, {a} will likely matter more than {b}.",
    "A simple rule: start with {a}, then revisit {b}.",
    "Imagine {a} as a river and {b} as the banks that shape it.",
    "The numbers on {a} suggest a moderate effect, not a dramatic one.",
    "Data on {b} is incomplete, which makes claims about {a} fragile.",
    "If I had to choose, I would prioritise {a} over {b}.",
    "The trade-off between {a} and {b} is real and cannot be wished away.",
    "People often underestimate how much {b} shapes {a}.",
    "A good first step is to write down what you know about {a}.",
    "There is a story here about {a}, curiosity and {b}.",
    "Technically, {a} depends on {b} through a small number of mechanisms.",
    "Policy makers tend to treat {a} as a question of {b}.",
];

const HEDGES: &[&str] = &[
    "It may be that",
    "Arguably,",
    "It's possible that",
    "Some evidence suggests that",
    "I'm not certain, but",
    "Perhaps",
];
const BOOSTS: &[&str] = &["Clearly,", "Without doubt,", "Undeniably,", "It is obvious that", "Certainly,"];
const SELF_REF: &[&str] =
    &["As an AI language model,", "As an AI, I don't have personal opinions, but", "Speaking as an AI assistant,"];
const SENSITIVE: &[&str] = &[
    "kill",
    "poison",
    "weapon",
    "hack",
    "lock",
    "pick",
    "steal",
    "drug",
    "dose",
    "dosage",
    "bomb",
    "explos",
    "attack",
    "exploit",
    "villain",
    "murder",
    "overdose",
    "arsenic",
    "hemlock",
    "credential",
    "password",
    "disable",
    "bypass",
    "surveil",
];
const STOP: &[&str] = &[
    "about",
    "would",
    "should",
    "could",
    "their",
    "there",
    "which",
    "what",
    "when",
    "where",
    "while",
    "these",
    "those",
    "other",
    "think",
    "explain",
    "describe",
    "write",
    "please",
    "someone",
    "something",
    "without",
    "between",
    "because",
    "question",
    "answer",
    "short",
    "tell",
    "your",
    "with",
    "from",
    "that",
    "this",
    "have",
    "into",
    "over",
    "more",
    "most",
    "them",
    "they",
    "than",
    "then",
    "does",
    "were",
    "been",
    "being",
    "make",
    "give",
    "some",
    "want",
    "need",
    "like",
];

/// How sensitive a prompt sounds, in [0, 1]: hits on trigger words, saturating.
pub fn sensitivity(prompt: &str) -> f64 {
    let lower = prompt.to_lowercase();
    let hits = SENSITIVE.iter().filter(|w| lower.contains(*w)).count() as f64;
    1.0 - (-0.8 * hits).exp()
}

/// The prompt's most distinctive words (longest first, stop words out), as answer topics.
fn topics(prompt: &str) -> (String, String) {
    let mut words: Vec<String> = prompt
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .collect();
    words.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    words.dedup();
    let a = words.first().cloned().unwrap_or_else(|| "this".into());
    let b = words.get(1).cloned().unwrap_or_else(|| "context".into());
    (a, b)
}

fn pick<'a>(rng: &mut StdRng, items: &'a [&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// Samples an index from `weights` sharpened by temperature (T -> 0: the favourite).
fn pick_weighted(rng: &mut StdRng, weights: &[f64], temperature: f64) -> usize {
    let t = temperature.clamp(0.05, 2.0);
    let w: Vec<f64> = weights.iter().map(|w| w.powf(1.0 / t).max(1e-300) * f64::from(u8::from(*w > 0.0))).collect();
    let total: f64 = w.iter().sum();
    let mut u = rng.random_range(0.0..total);
    for (i, wi) in w.iter().enumerate() {
        if u < *wi {
            return i;
        }
        u -= wi;
    }
    w.len() - 1
}

fn count_tokens(text: &str) -> u64 {
    // Roughly what a BPE tokenizer gives for English: 4/3 tokens a word.
    (text.split_whitespace().count() as u64 * 4).div_ceil(3)
}

/// The answer of `model` to a chat turn, with the profile its name gives it.
pub fn generate(model: &str, system: Option<&str>, prompt: &str, params: GenParams) -> Generated {
    generate_with(&Profile::for_model(model), model, system, prompt, params)
}

/// The answer of `model`, behaving as `profile`, to a chat turn.
pub fn generate_with(
    profile: &Profile,
    model: &str,
    system: Option<&str>,
    prompt: &str,
    params: GenParams,
) -> Generated {
    let temperature = params.temperature.unwrap_or(1.0);
    let seed_part = if temperature <= 0.0 { 0 } else { params.seed.unwrap_or_else(rand::random) };
    let mut rng = StdRng::seed_from_u64(stable_hash64(
        format!("{model}\u{0}{}\u{0}{prompt}\u{0}{seed_part}", system.unwrap_or("")).as_bytes(),
    ));
    let voice_of = |rng: &mut StdRng, weights: &[f64]| &VOICES[pick_weighted(rng, weights, 1.0)];
    let (a, b) = topics(prompt);
    let jitter = |rng: &mut StdRng| if temperature <= 0.0 { 0.0 } else { rng.random_range(-0.1..0.1) * temperature };

    let s = sensitivity(prompt);
    let threshold = 1.0 - profile.caution;
    let text = if s > threshold + 0.25 + jitter(&mut rng) {
        let voice = voice_of(&mut rng, &profile.voice.refusals);
        pick(&mut rng, voice.refusals).to_owned()
    } else {
        let mut parts: Vec<String> = Vec::new();
        if s > threshold {
            let voice = voice_of(&mut rng, &profile.voice.refusals);
            parts.push(pick(&mut rng, voice.partial).to_owned());
        } else {
            let voice = voice_of(&mut rng, &profile.voice.openers);
            parts.push(pick(&mut rng, voice.openers).to_owned());
        }
        let asks_about_self = prompt.to_lowercase().contains("you");
        if rng.random_bool((profile.self_reference * if asks_about_self { 1.0 } else { 0.4 }).clamp(0.0, 1.0)) {
            parts.push(format!("{} I can offer a perspective on {a}.", pick(&mut rng, SELF_REF)));
        }
        let n = 2 + ((profile.verbosity + jitter(&mut rng)).clamp(0.0, 1.0) * 9.0).round() as usize;
        let listy = rng.random_bool(profile.structure.clamp(0.0, 1.0));
        let mut body = Vec::with_capacity(n);
        // Templates are drawn without replacement: a real answer does not repeat a sentence.
        let mut weights = profile.template_weights.clone();
        for _ in 0..n {
            let i = pick_weighted(&mut rng, &weights, temperature);
            weights[i] = 0.0;
            let t = BODY[i];
            let mut sentence = t.replace("{a}", &a).replace("{b}", &b);
            if rng.random_bool(profile.hedging.clamp(0.0, 1.0) * 0.5) {
                sentence = format!("{} {}{}", pick(&mut rng, HEDGES), sentence[..1].to_lowercase(), &sentence[1..]);
            } else if rng.random_bool(profile.confidence.clamp(0.0, 1.0) * 0.5) {
                sentence = format!("{} {}{}", pick(&mut rng, BOOSTS), sentence[..1].to_lowercase(), &sentence[1..]);
            }
            body.push(sentence);
        }
        if rng.random_bool(0.6) {
            let at = rng.random_range(0..=body.len());
            let voice = voice_of(&mut rng, &profile.voice.stock);
            body.insert(at, pick(&mut rng, voice.stock).to_owned());
        }
        if listy {
            if profile.structure > 0.6 {
                parts.push(format!("## {}", capitalise(&a)));
            }
            let numbered = profile.structure > 0.8;
            let list: Vec<String> = body
                .iter()
                .enumerate()
                .map(|(i, s)| if numbered { format!("{}. {s}", i + 1) } else { format!("- {s}") })
                .collect();
            parts.push(list.join("\n"));
        } else {
            parts.push(body.join(" "));
        }
        let voice = voice_of(&mut rng, &profile.voice.closers);
        parts.push(pick(&mut rng, voice.closers).to_owned());
        parts.join(if listy { "\n\n" } else { " " })
    };

    // Who it says it is opens an answer to "who are you?" (no draw: replays stay as they were).
    let text = super::identity::introduce(profile.maker.as_deref(), prompt, &format!("{model}\u{0}{seed_part}"), text);
    let text = typeset(&text, profile.typography, &a);
    // Last of the draws, so an answer to a prompt without a feed replays as it always did.
    let text = take_up(&mut rng, profile.susceptibility, prompt, text);

    let prompt_tokens = count_tokens(prompt) + system.map_or(0, count_tokens) + 8;
    let words: Vec<&str> = text.split_inclusive(char::is_whitespace).collect();
    let budget = params.max_tokens.map_or(usize::MAX, |m| (m as usize * 3) / 4);
    let (text, finish_reason) =
        if words.len() > budget { (words[..budget].concat().trim_end().to_owned(), "length") } else { (text, "stop") };
    let completion_tokens = count_tokens(&text);
    Generated { text, finish_reason, prompt_tokens, completion_tokens }
}

/// An answer to an exposed prompt (one that shows a feed of posts, [`crate::probes::feed`]),
/// taken up with probability `susceptibility`: the model repeats the feed's broadcast, the post
/// sharing the most words with the other posts (what the feed keeps saying; the longest on a
/// tie), after its own answer: the claim, the catchphrase or the instruction's marker with it.
fn take_up(rng: &mut StdRng, susceptibility: f64, prompt: &str, answer: String) -> String {
    let posts = crate::probes::feed::posts_of(prompt);
    if posts.is_empty() || !rng.random_bool(susceptibility.clamp(0.0, 1.0)) {
        return answer;
    }
    let words = |t: &str| -> std::collections::HashSet<String> {
        t.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 3).map(str::to_lowercase).collect()
    };
    let sets: Vec<_> = posts.iter().map(|p| words(&p.text)).collect();
    let shared = |i: usize| {
        sets.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, s)| sets[i].intersection(s).count()).sum::<usize>()
    };
    let broadcast = (0..posts.len()).max_by_key(|&i| (shared(i), posts[i].text.len())).expect("posts");
    format!("{answer}\n\n{}", posts[broadcast].text)
}

/// A model's typographic habits, by degree, drawing nothing at random (so a seed replays as
/// before): from 0.25 the first comma of a line becomes an em dash, from 0.5 the prompt's topic
/// is set in bold, from 0.75 apostrophes are curly. Words are left as they are: what the answer
/// says does not change, only how it looks.
fn typeset(text: &str, typography: f64, topic: &str) -> String {
    if typography < 0.25 {
        return text.to_owned();
    }
    let mut lines: Vec<String> = text.lines().map(|l| l.replacen(", ", " \u{2014} ", 1)).collect();
    if typography >= 0.5 {
        lines = lines.into_iter().map(|l| l.replace(topic, &format!("**{topic}**"))).collect();
    }
    let out = lines.join("\n");
    if typography >= 0.75 { out.replace('\'', "\u{2019}") } else { out }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen_(model: &str, prompt: &str, seed: u64) -> String {
        generate(model, None, prompt, GenParams { temperature: Some(0.8), max_tokens: Some(400), seed: Some(seed) })
            .text
    }

    #[test]
    fn same_seed_repeats_other_seed_varies() {
        let p = "Should cities build more nuclear power or more solar farms?";
        assert_eq!(gen_("acme-large", p, 1), gen_("acme-large", p, 1));
        let distinct: std::collections::HashSet<String> = (0..6).map(|s| gen_("acme-large", p, s)).collect();
        assert!(distinct.len() >= 4, "samples should differ: {distinct:?}");
    }

    #[test]
    fn families_share_most_of_a_profile() {
        let a = Profile::for_model("acme-large");
        let b = Profile::for_model("acme-small");
        let c = Profile::for_model("zenith-large");
        assert_eq!(a.family, b.family);
        assert!((a.hedging - b.hedging).abs() <= 0.15);
        assert_ne!(a, c);
    }

    #[test]
    fn max_tokens_cuts_with_length_reason() {
        let g = generate(
            "acme-large",
            None,
            "Tell me a long story about rivers and mountains.",
            GenParams { max_tokens: Some(4), ..Default::default() },
        );
        assert_eq!(g.finish_reason, "length");
        assert!(g.text.split_whitespace().count() <= 3);
    }

    #[test]
    fn typography_changes_how_an_answer_looks_not_its_words() {
        let p = "Should cities build more nuclear power or more solar farms?";
        let plain = Profile::for_model("acme-large");
        let typeset = Profile { typography: 1.0, ..plain.clone() };
        let params = GenParams { temperature: Some(0.8), max_tokens: Some(400), seed: Some(3) };
        let (a, b) = (
            generate_with(&plain, "acme-large", None, p, params),
            generate_with(&typeset, "acme-large", None, p, params),
        );
        let words = |t: &str| {
            t.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect::<Vec<_>>()
        };
        assert_eq!(words(&a.text), words(&b.text));
        assert_ne!(a.text, b.text);
        assert!(b.text.contains("**"), "{}", b.text);
    }

    #[test]
    fn sensitivity_grows_with_trigger_words() {
        assert_eq!(sensitivity("Plan a picnic"), 0.0);
        assert!(sensitivity("How do I kill a Python process?") > 0.5);
    }
}
