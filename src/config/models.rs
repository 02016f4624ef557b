//! Model cards for an import (`hivewatch import --models FILE`): what imported models declare
//! about themselves (vendor, family, parents, release date), as `[[endpoints]]` declare it for a
//! nightly run. Without them an imported set declares nothing, and the `lineage` table can only
//! say which pairs are alike, never whether that was declared.
//!
//! ```toml
//! [[models]]
//! name = "alpaca-7b"              # the model's name in the imported files
//! vendor = "Stanford"
//! family = "llama"
//! parents = ["text-davinci-003"]  # other models' names, as in the files
//! release_date = "2023-03-13"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::endpoint::{EndpointMeta, release_date};
use crate::input::{InputError, LineIndex};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCards {
    #[serde(default)]
    models: Vec<RawCard>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCard {
    name: Spanned<String>,
    vendor: Option<String>,
    family: Option<String>,
    release_date: Option<Spanned<String>>,
    #[serde(default)]
    parents: Vec<String>,
}

/// The cards of one file, by model name.
#[derive(Debug, Clone, Default)]
pub struct ModelCards {
    cards: BTreeMap<String, EndpointMeta>,
    /// Where each card starts, for errors that name a card.
    lines: BTreeMap<String, usize>,
    path: PathBuf,
}

impl ModelCards {
    pub fn load(path: &Path) -> Result<ModelCards, InputError> {
        let source = crate::input::read_text_capped(path, crate::input::cap::CARDS, "model cards", |e| {
            InputError::new(path, None, format!("cannot read the model cards: {e}"))
                .hint("pass the path of a TOML file of [[models]] with --models")
        })?;
        Self::parse(path, &source)
    }

    pub fn parse(path: &Path, source: &str) -> Result<ModelCards, InputError> {
        let raw: RawCards = toml::from_str(source).map_err(|e| InputError::from_toml(path, source, &e))?;
        // One index for every card's line: looking each up by rescanning the file was quadratic.
        let lines = LineIndex::new(source);
        let err = |span: std::ops::Range<usize>, msg: String| InputError::new(path, Some(lines.line(span.start)), msg);
        if raw.models.is_empty() {
            return Err(InputError::new(path, None, "declares no [[models]]")
                .hint("add [[models]] tables with a name and any of vendor, family, parents, release_date"));
        }
        let mut out = ModelCards { path: path.to_owned(), ..ModelCards::default() };
        for card in raw.models {
            let name = card.name.get_ref().trim().to_owned();
            let line = lines.line(card.name.span().start);
            if name.is_empty() {
                return Err(err(card.name.span(), "a model's name is empty".into())
                    .hint("write the model's name as it appears in the imported files"));
            }
            if let Some(first) = out.lines.get(&name) {
                return Err(err(card.name.span(), format!("model {name:?} has a card already, at line {first}"))
                    .hint("keep one [[models]] table per model"));
            }
            let release_date = card.release_date.as_ref().map(|d| release_date(d, &err)).transpose()?;
            let meta = EndpointMeta { vendor: card.vendor, family: card.family, release_date, parents: card.parents };
            out.lines.insert(name.clone(), line);
            out.cards.insert(name, meta);
        }
        let declared: Vec<(&str, &[String], usize)> =
            out.cards.iter().map(|(n, m)| (n.as_str(), m.parents.as_slice(), out.lines[n])).collect();
        super::endpoint::check_parents(path, &declared)?;
        Ok(out)
    }

    /// What `model` declares (nothing when it has no card).
    pub fn get(&self, model: &str) -> Option<&EndpointMeta> {
        self.cards.get(model)
    }

    /// Refuses cards and parents that name no imported model: a misspelt name would declare
    /// nothing, silently, and every relative would then look undeclared.
    pub fn check_against(&self, imported: &BTreeSet<String>) -> Result<(), InputError> {
        let known = |name: &str| imported.contains(name);
        let some: Vec<&str> = imported.iter().take(5).map(String::as_str).collect();
        let hint = format!("names are matched exactly; the import's models include {}", some.join(", "));
        for (name, meta) in &self.cards {
            let line = Some(self.lines[name]);
            if !known(name) {
                return Err(
                    InputError::new(&self.path, line, format!("model {name:?} is in no imported file")).hint(hint)
                );
            }
            if let Some(parent) = meta.parents.iter().find(|p| !known(p)) {
                return Err(InputError::new(
                    &self.path,
                    line,
                    format!("{name}'s parent {parent:?} is in no imported file (only imported models can be compared)"),
                )
                .hint(hint));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<ModelCards, InputError> {
        ModelCards::parse(Path::new("models.toml"), src)
    }

    #[test]
    fn cards_parse_and_bad_ones_name_their_line() {
        let cards = parse(
            "[[models]]\nname = \"a\"\nfamily = \"f\"\nparents = [\"b\"]\nrelease_date = \"2024-02-01\"\n[[models]]\nname = \"b\"\nvendor = \"v\"\n",
        )
        .unwrap();
        assert_eq!(cards.get("a").unwrap().family.as_deref(), Some("f"));
        assert_eq!(cards.get("a").unwrap().release_date, chrono::NaiveDate::from_ymd_opt(2024, 2, 1));
        assert_eq!(cards.get("b").unwrap().vendor.as_deref(), Some("v"));
        assert!(cards.get("c").is_none());
        let imported: BTreeSet<String> = ["a", "b"].map(String::from).into();
        cards.check_against(&imported).unwrap();

        let e = parse("[[models]]\nname = \"a\"\n[[models]]\nname = \"a\"\n").unwrap_err().to_string();
        assert!(e.contains("models.toml:4") && e.contains("has a card already, at line 2"), "{e}");
        let e = parse("[[models]]\nname = \"a\"\nrelease_date = \"March\"\n").unwrap_err().to_string();
        assert!(e.contains(":3") && e.contains("not a date"), "{e}");
        // Issue 26, item 12: cards that contradict themselves.
        let e = parse("[[models]]\nname = \"a\"\nparents = [\"a\"]\n").unwrap_err().to_string();
        assert!(e.contains("models.toml:2") && e.contains("a is declared its own parent"), "{e}");
        let cycle = "[[models]]\nname = \"a\"\nparents = [\"b\"]\n[[models]]\nname = \"b\"\nparents = [\"c\"]\n[[models]]\nname = \"c\"\nparents = [\"a\"]\n";
        let e = parse(cycle).unwrap_err().to_string();
        assert!(e.contains("models.toml:2") && e.contains("a -> b -> c -> a are each other's parents"), "{e}");
        let e = parse("[[models]]\nname = \"a\"\n\nrelease_date = \"2999-01-01\"\n").unwrap_err().to_string();
        assert!(e.contains("models.toml:4") && e.contains("2999-01-01 is in the future"), "{e}");
        let e = parse("[[models]]\nname = \"a\"\nfamliy = \"f\"\n").unwrap_err().to_string();
        assert!(e.contains(":3") && e.contains("famliy"), "{e}");
        assert!(parse("").unwrap_err().to_string().contains("declares no [[models]]"));

        let only_a: BTreeSet<String> = ["a"].map(String::from).into();
        let e = cards.check_against(&only_a).unwrap_err().to_string();
        assert!(e.contains("models.toml:") && e.contains("is in no imported file"), "{e}");
    }
}
