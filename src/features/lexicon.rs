//! The behaviour lexicon: versioned data (`src/features/behaviour.toml`) that the feature rules read.
//! Its version goes into every `features` row, so rows made with two lexicons are never mixed
//! silently.

use std::path::Path;

use regex::Regex;
use serde::Deserialize;

use crate::input::{InputError, line_of};

/// The lexicon shipped with hivewatch, used unless `[features] lexicon` names another file.
pub const BUILTIN: &str = include_str!("behaviour.toml");
/// Where the built-in lexicon lives in the repository (named in errors about it).
pub const BUILTIN_PATH: &str = "src/features/behaviour.toml";

/// A parsed lexicon: compiled patterns and the refusal thresholds.
#[derive(Debug, Clone)]
pub struct Lexicon {
    pub version: String,
    /// The opening is the first `opening_chars` characters of the normalised text.
    pub opening_chars: usize,
    /// A match in the opening means the model declines.
    pub opening: Vec<Regex>,
    /// Moralising or warning markers, counted as distinct patterns matched anywhere.
    pub lecture: Vec<Regex>,
    pub lecture_full_min: usize,
    pub lecture_partial_min: usize,
    /// The model goes on to offer help, an alternative or a partial answer.
    pub redirect: Vec<Regex>,
    pub hedging: Vec<Regex>,
    pub uncertainty: Vec<Regex>,
    pub confidence: Vec<Regex>,
    pub self_reference: Vec<Regex>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLexicon {
    version: String,
    refusal: RawRefusal,
    hedging: RawPatterns,
    uncertainty: RawPatterns,
    confidence: RawPatterns,
    self_reference: RawPatterns,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRefusal {
    opening_chars: usize,
    opening: Vec<toml::Spanned<String>>,
    lecture: Vec<toml::Spanned<String>>,
    lecture_full_min: usize,
    lecture_partial_min: usize,
    redirect: Vec<toml::Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPatterns {
    patterns: Vec<toml::Spanned<String>>,
}

impl Lexicon {
    /// The lexicon shipped with hivewatch.
    pub fn builtin() -> Lexicon {
        Lexicon::parse(Path::new(BUILTIN_PATH), BUILTIN).expect("the built-in lexicon is valid (tested)")
    }

    /// Reads a lexicon file.
    pub fn load(path: &Path) -> Result<Lexicon, InputError> {
        let source = crate::input::read_text_capped(path, crate::input::cap::LEXICON, "a lexicon", |e| {
            InputError::new(path, None, format!("cannot read the lexicon: {e}"))
                .hint(format!("name an existing file in [features] lexicon, or leave it out to use {BUILTIN_PATH}"))
        })?;
        Lexicon::parse(path, &source)
    }

    /// Parses lexicon text; `path` names it in errors.
    pub fn parse(path: &Path, source: &str) -> Result<Lexicon, InputError> {
        let raw: RawLexicon = toml::from_str(source).map_err(|e| InputError::from_toml(path, source, &e))?;
        let compile = |patterns: &[toml::Spanned<String>]| -> Result<Vec<Regex>, InputError> {
            patterns
                .iter()
                .map(|p| {
                    Regex::new(p.get_ref()).map_err(|e| {
                        InputError::new(path, Some(line_of(source, p.span().start)), format!("bad pattern: {e}")).hint(
                            "patterns use Rust regex syntax on lower-cased text: no lookaround, no backreferences",
                        )
                    })
                })
                .collect()
        };
        if raw.version.trim().is_empty() {
            return Err(InputError::new(path, None, "the lexicon has an empty version")
                .hint("set version = \"behaviour-vN\"; every features row records it"));
        }
        if raw.refusal.opening_chars == 0 {
            return Err(InputError::new(path, None, "refusal.opening_chars must be at least 1"));
        }
        Ok(Lexicon {
            version: raw.version,
            opening_chars: raw.refusal.opening_chars,
            opening: compile(&raw.refusal.opening)?,
            lecture: compile(&raw.refusal.lecture)?,
            lecture_full_min: raw.refusal.lecture_full_min,
            lecture_partial_min: raw.refusal.lecture_partial_min,
            redirect: compile(&raw.refusal.redirect)?,
            hedging: compile(&raw.hedging.patterns)?,
            uncertainty: compile(&raw.uncertainty.patterns)?,
            confidence: compile(&raw.confidence.patterns)?,
            self_reference: compile(&raw.self_reference.patterns)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_lexicon_parses() {
        let lexicon = Lexicon::builtin();
        assert!(lexicon.version.starts_with("behaviour-v"));
        assert!(!lexicon.opening.is_empty() && !lexicon.hedging.is_empty());
    }

    #[test]
    fn a_bad_pattern_names_its_line() {
        let source = BUILTIN.replacen("opening = [", "opening = [\n  '(unclosed',", 1);
        let err = Lexicon::parse(Path::new("lex.toml"), &source).unwrap_err();
        let line = source.lines().position(|l| l.contains("(unclosed")).unwrap() + 1;
        assert_eq!(err.line, Some(line), "{err}");
        assert!(err.to_string().contains("bad pattern"), "{err}");
    }
}
