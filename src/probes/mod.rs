//! Probe suites: `probes/<suite>/suite.toml` plus any number of `*.toml` files of `[[probes]]`;
//! the shipped ones are also compiled in ([`builtin`]).
//!
//! The suite id is a hash of the suite's canonical content (metadata and every probe, sorted by
//! id), so any edit, even a comma, yields a new id and trends never compare different suites.
//!
//! A probe with a `[probes.feed]` is a pair, control and exposed ([`feed`]): the suite holds
//! both, and both are hashed (the exposed prompt carries the posts, the control the claim and
//! the adoption rules). A probe without one serialises as it always did, so suites without
//! feeds keep their ids.

pub mod builtin;
pub mod feed;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::input::{InputError, LineIndex};
use feed::{AdoptionRules, Condition, Feed, Pairing};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probe {
    pub id: String,
    pub category: String,
    pub prompt: String,
    pub system: Option<String>,
    pub tags: Vec<String>,
    /// The side of a pair this probe is, for a probe with a feed (see [`feed`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairing: Option<Pairing>,
}

impl Probe {
    /// A plain probe (no feed).
    pub fn plain(id: String, category: String, prompt: String, system: Option<String>) -> Probe {
        Probe { id, category, prompt, system, tags: Vec::new(), pairing: None }
    }

    pub fn condition(&self) -> Option<Condition> {
        self.pairing.as_ref().map(|p| p.condition)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Suite {
    pub name: String,
    pub version: String,
    pub description: String,
    /// Hash of the canonical content: see the module doc.
    pub id: String,
    /// Sorted by id.
    pub probes: Vec<Probe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    suite: Option<RawSuiteMeta>,
    #[serde(default)]
    probes: Vec<RawProbe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuiteMeta {
    name: String,
    version: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    id: Spanned<String>,
    category: String,
    prompt: String,
    system: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    feed: Option<Feed>,
    adoption: Option<AdoptionRules>,
}

const SUITE_FILE: &str = "suite.toml";

impl Suite {
    /// Loads every `*.toml` file in a suite folder.
    pub fn load(dir: &Path) -> Result<Self, InputError> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            InputError::new(dir, None, format!("cannot read the probe suite folder: {e}")).hint(format!(
                "run.suite names a built-in suite ({}: they work from any folder) or a folder holding suite.toml, such as probes/core",
                builtin::names()
            ))
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| InputError::new(dir, None, e.to_string()))?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = crate::input::read_text_capped(&path, crate::input::cap::SUITE_FILE, "a suite file", |e| {
                    InputError::new(&path, None, format!("cannot read: {e}"))
                })?;
                files.push((path, text));
            }
        }
        Self::from_sources(dir, files)
    }

    /// Builds a suite from (path, TOML text) pairs; `dir` names the suite in errors.
    pub fn from_sources(dir: &Path, mut files: Vec<(PathBuf, String)>) -> Result<Self, InputError> {
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut meta: Option<(RawSuiteMeta, PathBuf)> = None;
        let mut probes = Vec::new();
        // id -> (file, line), to name both places of a duplicate.
        let mut seen: HashMap<String, (PathBuf, usize)> = HashMap::new();

        for (path, text) in &files {
            let raw: RawFile = toml::from_str(text).map_err(|e| InputError::from_toml(path, text, &e))?;
            if let Some(m) = raw.suite {
                if let Some((_, first)) = &meta {
                    return Err(InputError::new(
                        path,
                        None,
                        format!("a second [suite] table (the first is in {})", first.display()),
                    )
                    .hint("keep the suite's name, version and description in suite.toml only"));
                }
                meta = Some((m, path.clone()));
            }
            let lines = LineIndex::new(text);
            for p in raw.probes {
                let line = lines.line(p.id.span().start);
                let id = p.id.into_inner();
                let at = |msg: String| InputError::new(path, Some(line), msg);
                if id.is_empty()
                    || !id.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                    || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
                {
                    return Err(at(format!("probe id {id:?} is not valid"))
                        .hint("use lower-case letters, digits and _ . - (starting with a letter or digit)"));
                }
                if let Some((first_path, first_line)) = seen.get(&id) {
                    return Err(at(format!(
                        "probe id {id:?} is used twice (first at {}:{first_line})",
                        first_path.display()
                    ))
                    .hint("every probe needs its own id: it keys the rows of every report"));
                }
                if p.prompt.trim().is_empty() {
                    return Err(at(format!("probe {id:?} has an empty prompt")));
                }
                let category = p.category.trim().to_owned();
                if category.is_empty() {
                    return Err(at(format!("probe {id:?} has an empty category")));
                }
                seen.insert(id.clone(), (path.clone(), line));
                let probe = Probe {
                    id,
                    category,
                    prompt: p.prompt,
                    system: p.system.filter(|s| !s.trim().is_empty()),
                    tags: p.tags,
                    pairing: None,
                };
                match (p.feed, p.adoption) {
                    (None, None) => probes.push(probe),
                    (Some(f), Some(rules)) => {
                        feed::check(&f, &rules).map_err(|m| {
                            at(format!("probe {:?}: {m}", probe.id))
                                .hint("see probes/contagion for paired probes that load")
                        })?;
                        probes.extend(paired(probe, &f, rules));
                    }
                    (Some(_), None) | (None, Some(_)) => {
                        return Err(at(format!("probe {:?} has a feed or adoption rules, not both", probe.id))
                            .hint("a paired probe needs [probes.feed] (claim, posts) and [probes.adoption] (adopt, reject, marker)"));
                    }
                }
            }
        }

        let Some((meta, _)) = meta else {
            return Err(InputError::new(&dir.join(SUITE_FILE), None, "the suite has no [suite] table")
                .hint("add suite.toml with [suite] name = \"...\", version = \"...\", description = \"...\""));
        };
        if probes.is_empty() {
            return Err(InputError::new(dir, None, "the suite holds no probes")
                .hint("add *.toml files with [[probes]] tables (id, category, prompt)"));
        }
        probes.sort_by(|a, b| a.id.cmp(&b.id));
        let id = suite_id(&meta.name, &meta.version, &meta.description, &probes);
        Ok(Suite { name: meta.name, version: meta.version, description: meta.description, id, probes })
    }

    /// Number of probes in each category, by category name.
    pub fn categories(&self) -> BTreeMap<&str, usize> {
        let mut out = BTreeMap::new();
        for p in &self.probes {
            *out.entry(p.category.as_str()).or_default() += 1;
        }
        out
    }
}

impl Suite {
    /// A smaller suite of `n` questions spread evenly over this one (every k-th by id; a paired
    /// probe counts once and keeps both its sides), with its own name and id, so runs on it are
    /// never compared with runs on the whole suite.
    pub fn sample(&self, n: usize) -> Suite {
        let questions: Vec<&str> =
            self.probes.iter().map(|p| p.id.as_str()).filter(|id| !feed::is_exposed(id)).collect();
        if n >= questions.len() {
            return self.clone();
        }
        let kept: std::collections::HashSet<&str> = (0..n).map(|i| questions[i * questions.len() / n]).collect();
        let probes: Vec<Probe> =
            self.probes.iter().filter(|p| kept.contains(feed::control_id(&p.id))).cloned().collect();
        let name = format!("{}-sample{n}", self.name);
        Suite::assemble(name, self.version.clone(), self.description.clone(), probes)
    }

    /// A suite of these probes (sorted by id here), its id computed as for a loaded one: what
    /// the demo uses to ask the core and the contagion probes in one night.
    pub fn assemble(name: String, version: String, description: String, mut probes: Vec<Probe>) -> Suite {
        probes.sort_by(|a, b| a.id.cmp(&b.id));
        let id = suite_id(&name, &version, &description, &probes);
        Suite { name, version, description, id, probes }
    }

    /// Whether any probe of the suite is paired (has a feed).
    pub fn has_feeds(&self) -> bool {
        self.probes.iter().any(|p| p.pairing.is_some())
    }
}

/// A probe with a feed as its two sides: the control (its id, its prompt) and the exposed
/// probe (`<id>#exposed`, the feed then the question).
fn paired(probe: Probe, f: &Feed, adoption: AdoptionRules) -> [Probe; 2] {
    let side = |condition| Pairing {
        condition,
        feed_id: feed::feed_id(f),
        claim: f.claim.clone(),
        adoption: adoption.clone(),
    };
    let exposed = Probe {
        id: feed::exposed_id(&probe.id),
        prompt: feed::exposed_prompt(f, &probe.prompt),
        pairing: Some(side(Condition::Exposed)),
        ..probe.clone()
    };
    [Probe { pairing: Some(side(Condition::Control)), ..probe }, exposed]
}

/// The suite id: the first 16 hex digits of SHA-256 over the canonical JSON of the suite.
pub fn suite_id(name: &str, version: &str, description: &str, sorted_probes: &[Probe]) -> String {
    #[derive(Serialize)]
    struct Canonical<'a> {
        name: &'a str,
        version: &'a str,
        description: &'a str,
        probes: &'a [Probe],
    }
    let json =
        serde_json::to_vec(&Canonical { name, version, description, probes: sorted_probes }).expect("suite serialises");
    crate::util::sha256_hex(&json)[..16].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(files: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
        files.iter().map(|(p, t)| (PathBuf::from(p), t.to_string())).collect()
    }

    const META: &str = "[suite]\nname = \"t\"\nversion = \"1\"\ndescription = \"d\"\n";
    const TWO: &str = "[[probes]]\nid = \"b-1\"\ncategory = \"b\"\nprompt = \"x\"\n\n[[probes]]\nid = \"a-1\"\ncategory = \"a\"\nprompt = \"y\"\ntags = [\"t\"]\n";

    #[test]
    fn loads_sorts_and_hashes() {
        let s = Suite::from_sources(Path::new("s"), src(&[("s/suite.toml", META), ("s/x.toml", TWO)])).unwrap();
        assert_eq!(s.probes.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["a-1", "b-1"]);
        assert_eq!(s.id.len(), 16);
        // File order does not matter; content does.
        let again = Suite::from_sources(Path::new("s"), src(&[("s/x.toml", TWO), ("s/suite.toml", META)])).unwrap();
        assert_eq!(s.id, again.id);
        let edited = Suite::from_sources(
            Path::new("s"),
            src(&[("s/suite.toml", META), ("s/x.toml", &TWO.replace("\"y\"", "\"y.\""))]),
        )
        .unwrap();
        assert_ne!(s.id, edited.id);
    }

    #[test]
    fn duplicate_ids_name_both_places() {
        let dup = "[[probes]]\nid = \"a-1\"\ncategory = \"a\"\nprompt = \"z\"\n";
        let e =
            Suite::from_sources(Path::new("s"), src(&[("s/suite.toml", META), ("s/x.toml", TWO), ("s/y.toml", dup)]))
                .unwrap_err();
        assert_eq!(e.path, Path::new("s/y.toml"));
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("first at s/x.toml:7"), "{e}");
    }

    #[test]
    fn empty_suite_and_missing_meta_are_refused() {
        let e = Suite::from_sources(Path::new("s"), src(&[("s/suite.toml", META)])).unwrap_err();
        assert!(e.message.contains("no probes"), "{e}");
        let e = Suite::from_sources(Path::new("s"), src(&[("s/x.toml", TWO)])).unwrap_err();
        assert!(e.message.contains("no [suite]"), "{e}");
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let bad = "[[probes]]\nid = \"a-1\"\ncategory = \"a\"\nprompt = \"unterminated\n";
        let e = Suite::from_sources(Path::new("s"), src(&[("s/suite.toml", META), ("s/x.toml", bad)])).unwrap_err();
        assert_eq!(e.path, Path::new("s/x.toml"));
        assert_eq!(e.line, Some(4), "{e}");
    }

    #[test]
    fn bad_ids_and_unknown_fields_are_refused() {
        let bad = "[[probes]]\nid = \"Has Space\"\ncategory = \"a\"\nprompt = \"p\"\n";
        assert!(Suite::from_sources(Path::new("s"), src(&[("s/suite.toml", META), ("s/x.toml", bad)])).is_err());
        let unk = "[[probes]]\nid = \"a\"\ncategory = \"a\"\nprompt = \"p\"\npromt = \"q\"\n";
        let e = Suite::from_sources(Path::new("s"), src(&[("s/suite.toml", META), ("s/x.toml", unk)])).unwrap_err();
        assert!(e.message.contains("promt"), "{e}");
    }

    const PAIRED: &str = "[[probes]]\nid = \"c-1\"\ncategory = \"meme\"\nprompt = \"Tips?\"\n\n[probes.feed]\nclaim = \"Say wagmi.\"\nposts = [{ author = \"a\", text = \"wagmi, frens\" }]\n\n[probes.adoption]\nadopt = ['\\bwagmi\\b']\n";

    #[test]
    fn a_probe_with_a_feed_is_asked_cold_and_exposed() {
        let s = Suite::from_sources(
            Path::new("s"),
            src(&[("s/suite.toml", META), ("s/x.toml", TWO), ("s/p.toml", PAIRED)]),
        )
        .unwrap();
        let ids: Vec<&str> = s.probes.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["a-1", "b-1", "c-1", "c-1#exposed"]);
        let (control, exposed) = (&s.probes[2], &s.probes[3]);
        assert_eq!(control.prompt, "Tips?");
        assert_eq!(exposed.prompt, "Posts from a feed you follow:\n\n@a: wagmi, frens\n\nQuestion: Tips?");
        assert_eq!(control.condition(), Some(Condition::Control));
        assert_eq!(exposed.condition(), Some(Condition::Exposed));
        let (c, e) = (control.pairing.as_ref().unwrap(), exposed.pairing.as_ref().unwrap());
        assert_eq!((&c.feed_id, &c.adoption), (&e.feed_id, &e.adoption));
        assert!(s.has_feeds());
        // The feed is hashed: one post edited is a new suite.
        let edited = PAIRED.replace("wagmi, frens", "wagmi, friends");
        let other = Suite::from_sources(
            Path::new("s"),
            src(&[("s/suite.toml", META), ("s/x.toml", TWO), ("s/p.toml", &edited)]),
        )
        .unwrap();
        assert_ne!(s.id, other.id);
        // A sample counts a pair as one question and keeps it whole.
        let ids = |s: &Suite| s.probes.iter().map(|p| p.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&s.sample(2)), ["a-1", "b-1"]);
        let z = "[[probes]]\nid = \"z-1\"\ncategory = \"z\"\nprompt = \"z\"\n";
        let two =
            Suite::from_sources(Path::new("s"), src(&[("s/suite.toml", META), ("s/p.toml", PAIRED), ("s/z.toml", z)]))
                .unwrap();
        assert_eq!(ids(&two.sample(1)), ["c-1", "c-1#exposed"]);
    }

    #[test]
    fn a_suite_without_feeds_hashes_as_before_pairs_existed() {
        let s = Suite::from_sources(Path::new("s"), src(&[("s/suite.toml", META), ("s/x.toml", TWO)])).unwrap();
        let json = serde_json::to_string(&s.probes[0]).unwrap();
        assert_eq!(json, r#"{"id":"a-1","category":"a","prompt":"y","system":null,"tags":["t"]}"#);
        assert!(!s.has_feeds());
    }

    #[test]
    fn half_a_pair_or_a_bad_pattern_is_refused_at_its_line() {
        let no_rules = PAIRED.split("\n[probes.adoption]").next().unwrap().to_owned();
        let e =
            Suite::from_sources(Path::new("s"), src(&[("s/suite.toml", META), ("s/p.toml", &no_rules)])).unwrap_err();
        assert_eq!((e.path.as_path(), e.line), (Path::new("s/p.toml"), Some(2)));
        assert!(e.message.contains("not both"), "{e}");
        let bad = PAIRED.replace("\\bwagmi\\b", "(wagmi");
        let e = Suite::from_sources(Path::new("s"), src(&[("s/suite.toml", META), ("s/p.toml", &bad)])).unwrap_err();
        assert!(e.message.contains("not a valid regular expression"), "{e}");
    }
}
