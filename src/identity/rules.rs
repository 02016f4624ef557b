//! The identity rules: versioned data (`src/identity/vendors.toml`) naming the vendors, their
//! model lines and aliases, and the cue patterns the claim reader uses. Its version goes with
//! every claim read through it, so readings of two rule files are never mixed silently.
//!
//! Loaded like the behaviour lexicon (`features::lexicon`): the built-in file is compiled in, a
//! file named by path replaces it, and anything wrong (a TOML error, a pattern that does not
//! compile, an alias given twice) is refused with the file and line.

use std::collections::HashMap;
use std::path::Path;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use crate::input::{InputError, line_of};

/// The rules shipped with hivewatch.
pub const BUILTIN: &str = include_str!("vendors.toml");
/// Where the built-in rules live in the repository (named in errors about them).
pub const BUILTIN_PATH: &str = "src/identity/vendors.toml";

/// What follows an alias and is taken with it: a version or variant ("gpt" + "-4o-mini",
/// "qwen" + "2.5-72b", "claude" + " 3.5"). ASCII only; trailing dots are cut afterwards.
const VERSION_TAIL: &str = r"(?:[ \-_]?[0-9][a-z0-9.]*|-[a-z][a-z0-9.]*)*";

/// A maker of models, with the names it and its models go by.
#[derive(Debug, Clone, PartialEq)]
pub struct Vendor {
    /// The canonical name claims carry ("OpenAI").
    pub name: String,
    /// Names of the maker itself, lower case.
    pub aliases: Vec<String>,
    pub lines: Vec<ModelLine>,
}

/// A line of models ("GPT", "Claude"), whose every name also names its vendor.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelLine {
    pub name: String,
    pub aliases: Vec<String>,
}

/// One vendor's names compiled into one pattern: `(?:(alias)|(alias)|...)TAIL`, longest alias
/// first so that the longest name wins at a given position.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub regex: Regex,
    /// Capture group `i + 1` is this alias: its model line (`None`: the vendor itself) and
    /// whether it must stand as a whole word (it begins with a Latin letter or digit).
    pub groups: Vec<(Option<usize>, bool)>,
    pub exclude: Vec<String>,
}

/// The cue patterns (see `vendors.toml` for what each list means).
#[derive(Debug, Clone)]
pub(crate) struct Cues {
    pub clause_break: Regex,
    pub turn: Vec<Regex>,
    pub not_apposition: Vec<Regex>,
    pub self_: Vec<Regex>,
    pub other_subject: Vec<Regex>,
    pub identity: Vec<Regex>,
    pub field: Vec<Regex>,
    pub link: Vec<Regex>,
    pub after: Vec<Regex>,
    pub negation: Vec<Regex>,
    pub negation_after: Vec<Regex>,
    pub breakers: Vec<Regex>,
    pub reported: Vec<Regex>,
    pub not_after: Vec<Regex>,
    pub self_question: Vec<Regex>,
    pub identity_gap: usize,
    pub link_gap: usize,
    pub apposition_gap: usize,
    pub short_answer_words: usize,
}

/// How a system prompt is read for a persona.
#[derive(Debug, Clone)]
pub(crate) struct PersonaCues {
    pub name: Vec<Regex>,
    pub generic: Vec<String>,
    pub identity: Vec<Regex>,
}

/// Parsed and compiled identity rules.
#[derive(Debug, Clone)]
pub struct Rules {
    pub version: String,
    pub vendors: Vec<Vendor>,
    pub(crate) names: Vec<Names>,
    pub(crate) cues: Cues,
    pub(crate) declines: Vec<Regex>,
    pub(crate) persona: PersonaCues,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    version: String,
    vendor: Vec<RawVendor>,
    cues: RawCues,
    declines: RawPatterns,
    persona: RawPersona,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVendor {
    name: Spanned<String>,
    aliases: Vec<Spanned<String>>,
    #[serde(default)]
    lines: Vec<RawLine>,
    #[serde(default)]
    exclude: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    name: String,
    aliases: Vec<Spanned<String>>,
}

type Patterns = Vec<Spanned<String>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCues {
    clause_break: Spanned<String>,
    turn: Patterns,
    not_apposition: Patterns,
    #[serde(rename = "self")]
    self_: Patterns,
    other_subject: Patterns,
    identity: Patterns,
    field: Patterns,
    link: Patterns,
    after: Patterns,
    negation: Patterns,
    negation_after: Patterns,
    breakers: Patterns,
    reported: Patterns,
    not_after: Patterns,
    self_question: Patterns,
    identity_gap: usize,
    link_gap: usize,
    apposition_gap: usize,
    short_answer_words: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPatterns {
    patterns: Patterns,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPersona {
    name: Patterns,
    generic: Vec<String>,
    identity: Patterns,
}

/// Compiles the patterns of one list, naming the line of a bad one.
struct Compiler<'a> {
    path: &'a Path,
    source: &'a str,
}

impl Compiler<'_> {
    fn error(&self, at: usize, message: String) -> InputError {
        InputError::new(self.path, Some(line_of(self.source, at)), message)
    }

    fn one(&self, pattern: &Spanned<String>) -> Result<Regex, InputError> {
        Regex::new(pattern.get_ref()).map_err(|e| {
            self.error(pattern.span().start, format!("bad pattern: {e}"))
                .hint("patterns use Rust regex syntax on lower-cased text: no lookaround, no backreferences")
        })
    }

    fn list(&self, patterns: &[Spanned<String>]) -> Result<Vec<Regex>, InputError> {
        patterns.iter().map(|p| self.one(p)).collect()
    }
}

impl Rules {
    /// The rules shipped with hivewatch.
    pub fn builtin() -> Rules {
        Rules::parse(Path::new(BUILTIN_PATH), BUILTIN).expect("the built-in identity rules are valid (tested)")
    }

    /// Reads a rules file.
    pub fn load(path: &Path) -> Result<Rules, InputError> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            InputError::new(path, None, format!("cannot read the identity rules: {e}"))
                .hint(format!("name an existing file, or leave it out to use {BUILTIN_PATH}"))
        })?;
        Rules::parse(path, &source)
    }

    /// The built-in rules, or the file at `path` when one is named.
    pub fn from_option(path: Option<&Path>) -> Result<Rules, InputError> {
        path.map_or_else(|| Ok(Rules::builtin()), Rules::load)
    }

    /// Parses rules text; `path` names it in errors.
    pub fn parse(path: &Path, source: &str) -> Result<Rules, InputError> {
        let raw: RawRules = toml::from_str(source).map_err(|e| InputError::from_toml(path, source, &e))?;
        if raw.version.trim().is_empty() {
            return Err(InputError::new(path, None, "the identity rules have an empty version")
                .hint("set version = \"identity-vN\"; every claim records it"));
        }
        let c = Compiler { path, source };
        let (vendors, names) = compile_vendors(&c, raw.vendor)?;
        let cues = compile_cues(&c, raw.cues)?;
        let persona = PersonaCues {
            name: c.list(&raw.persona.name)?,
            generic: raw.persona.generic.iter().map(|g| g.to_lowercase()).collect(),
            identity: c.list(&raw.persona.identity)?,
        };
        for (regex, pattern) in persona.name.iter().zip(&raw.persona.name) {
            if !regex.capture_names().any(|n| n == Some("name")) {
                return Err(c
                    .error(pattern.span().start, "a persona name pattern has no capture group `name`".to_owned())
                    .hint("capture the name as (?P<name>...)"));
            }
        }
        Ok(Rules { version: raw.version, vendors, names, cues, declines: c.list(&raw.declines.patterns)?, persona })
    }

    /// The vendor a name refers to: its canonical name, one of its aliases, a model line's name
    /// or alias (any case). `None` for a name the rules do not know.
    pub fn vendor(&self, name: &str) -> Option<&Vendor> {
        let wanted = canonical(&name.trim().to_lowercase());
        self.vendors.iter().find(|v| {
            canonical(&v.name.to_lowercase()) == wanted
                || v.aliases.iter().any(|a| canonical(a) == wanted)
                || v.lines.iter().any(|l| {
                    canonical(&l.name.to_lowercase()) == wanted || l.aliases.iter().any(|a| canonical(a) == wanted)
                })
        })
    }
}

/// An alias with its separators taken out: two aliases with the same canonical form match the
/// same text, so only one may be written.
fn canonical(alias: &str) -> String {
    alias.chars().filter(|c| !matches!(c, ' ' | '-' | '_')).collect()
}

/// The pattern of one alias: literal, except that a space or hyphen also matches the other,
/// an underscore, or nothing.
fn alias_pattern(alias: &str) -> String {
    let mut out = String::new();
    for c in alias.chars() {
        if c == ' ' || c == '-' {
            out.push_str(r"[ \-_]?");
        } else {
            out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
        }
    }
    out
}

fn compile_vendors(c: &Compiler, raw: Vec<RawVendor>) -> Result<(Vec<Vendor>, Vec<Names>), InputError> {
    let mut seen_alias: HashMap<String, String> = HashMap::new();
    let mut seen_vendor: HashMap<String, ()> = HashMap::new();
    let (mut vendors, mut names) = (Vec::new(), Vec::new());
    for v in raw {
        let name = v.name.get_ref().trim().to_owned();
        if name.is_empty() || seen_vendor.insert(name.to_lowercase(), ()).is_some() {
            return Err(c.error(v.name.span().start, format!("vendor name `{name}` is empty or given twice")));
        }
        // (alias, line) pairs, checked as they come.
        let mut all: Vec<(String, Option<usize>)> = Vec::new();
        let groups =
            std::iter::once((None, &v.aliases)).chain(v.lines.iter().enumerate().map(|(i, l)| (Some(i), &l.aliases)));
        for (line, aliases) in groups {
            for alias in aliases {
                let text = alias.get_ref().trim().to_owned();
                let key = canonical(&text);
                if key.is_empty() || text != text.to_lowercase() {
                    return Err(c
                        .error(alias.span().start, format!("alias `{text}` is empty or not in lower case"))
                        .hint("write aliases in lower case: answers are lower-cased before matching"));
                }
                if let Some(first) = seen_alias.insert(key, name.clone()) {
                    return Err(c
                        .error(alias.span().start, format!("alias `{text}` is given twice (first under {first})"))
                        .hint(
                            "a space or hyphen inside an alias also matches the other or nothing; keep one spelling",
                        ));
                }
                all.push((text, line));
            }
        }
        if all.is_empty() {
            return Err(c.error(v.name.span().start, format!("vendor `{name}` has no alias")));
        }
        all.sort_by(|a, b| b.0.chars().count().cmp(&a.0.chars().count()).then_with(|| a.0.cmp(&b.0)));
        let alternation: Vec<String> = all.iter().map(|(a, _)| format!("({})", alias_pattern(a))).collect();
        let regex = Regex::new(&format!("(?:{}){VERSION_TAIL}", alternation.join("|")))
            .map_err(|e| c.error(v.name.span().start, format!("the aliases of `{name}` do not compile: {e}")))?;
        let groups = all
            .iter()
            .map(|(a, line)| (*line, a.chars().next().is_some_and(|ch| ch.is_ascii_alphanumeric())))
            .collect();
        names.push(Names { regex, groups, exclude: v.exclude.iter().map(|e| e.to_lowercase()).collect() });
        let strings = |list: &[Spanned<String>]| list.iter().map(|a| a.get_ref().trim().to_owned()).collect();
        vendors.push(Vendor {
            name,
            aliases: strings(&v.aliases),
            lines: v.lines.iter().map(|l| ModelLine { name: l.name.clone(), aliases: strings(&l.aliases) }).collect(),
        });
    }
    Ok((vendors, names))
}

fn compile_cues(c: &Compiler, raw: RawCues) -> Result<Cues, InputError> {
    Ok(Cues {
        clause_break: c.one(&raw.clause_break)?,
        turn: c.list(&raw.turn)?,
        not_apposition: c.list(&raw.not_apposition)?,
        self_: c.list(&raw.self_)?,
        other_subject: c.list(&raw.other_subject)?,
        identity: c.list(&raw.identity)?,
        field: c.list(&raw.field)?,
        link: c.list(&raw.link)?,
        after: c.list(&raw.after)?,
        negation: c.list(&raw.negation)?,
        negation_after: c.list(&raw.negation_after)?,
        breakers: c.list(&raw.breakers)?,
        reported: c.list(&raw.reported)?,
        not_after: c.list(&raw.not_after)?,
        self_question: c.list(&raw.self_question)?,
        identity_gap: raw.identity_gap,
        link_gap: raw.link_gap,
        apposition_gap: raw.apposition_gap,
        short_answer_words: raw.short_answer_words,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_rules_parse() {
        let rules = Rules::builtin();
        assert!(rules.version.starts_with("identity-v"));
        assert!(rules.vendors.len() >= 30);
        assert_eq!(rules.vendor("chatgpt").unwrap().name, "OpenAI");
        assert_eq!(rules.vendor("OPENAI").unwrap().name, "OpenAI");
        assert_eq!(rules.vendor("通义千问").unwrap().name, "Alibaba");
        assert!(rules.vendor("Acme").is_none());
    }

    #[test]
    fn a_bad_pattern_names_its_line() {
        let source = BUILTIN.replacen("identity = [", "identity = [\n  '(unclosed',", 1);
        let err = Rules::parse(Path::new("v.toml"), &source).unwrap_err();
        let line = source.lines().position(|l| l.contains("(unclosed")).unwrap() + 1;
        assert_eq!(err.line, Some(line), "{err}");
        assert!(err.to_string().contains("bad pattern"), "{err}");
    }

    #[test]
    fn an_alias_given_twice_names_its_line() {
        // "open-ai" matches what "open ai" matches: refused where it is written.
        let source = BUILTIN.replacen("aliases = [\"anthropic\"", "aliases = [\"open-ai\", \"anthropic\"", 1);
        let err = Rules::parse(Path::new("v.toml"), &source).unwrap_err();
        let line = source.lines().position(|l| l.contains("[\"open-ai\", ")).unwrap() + 1;
        assert_eq!(err.line, Some(line), "{err}");
        assert!(err.to_string().contains("given twice (first under OpenAI)"), "{err}");
    }

    #[test]
    fn malformed_toml_and_upper_case_aliases_are_refused_with_their_line() {
        let source = BUILTIN.replacen("name = \"Anthropic\"", "name = \"Anthropic\"\nnonsense = ", 1);
        let err = Rules::parse(Path::new("v.toml"), &source).unwrap_err();
        let line = source.lines().position(|l| l.starts_with("nonsense")).unwrap() + 1;
        assert!(err.line.is_some_and(|l| l == line || l == line + 1), "{err}");
        let source = BUILTIN.replacen("\"anthropic pbc\"", "\"Anthropic PBC\"", 1);
        let err = Rules::parse(Path::new("v.toml"), &source).unwrap_err();
        let line = source.lines().position(|l| l.contains("Anthropic PBC")).unwrap() + 1;
        assert_eq!(err.line, Some(line), "{err}");
        let err =
            Rules::parse(Path::new("v.toml"), &BUILTIN.replacen("version = \"identity-v1\"", "version = \"\"", 1))
                .unwrap_err();
        assert!(err.to_string().contains("empty version"), "{err}");
    }

    #[test]
    fn aliases_take_separators_and_version_tails() {
        let rules = Rules::builtin();
        let openai = &rules.names[rules.vendors.iter().position(|v| v.name == "OpenAI").unwrap()];
        for text in ["openai", "open-ai", "open ai", "gpt-4o-mini", "gpt 4", "chatgpt", "chat-gpt", "gpt3.5"] {
            let m = openai.regex.find(text).unwrap();
            assert_eq!(m.as_str(), text, "{text}");
        }
    }
}
