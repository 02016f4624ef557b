//! The shipped suites compiled into the binary, so `suite = "core"` works from any folder (after
//! `cargo install`, outside the clone) and `hivewatch init` can write them out. Each file is
//! `probes/<name>/<file>` byte for byte (a test compares them, and finds any file left out), so
//! the built-in suite and the versioned folder have one suite id.
//!
//! What `run.suite` names ([`SuiteRef::parse`]): a bare name of a built-in suite (`core`,
//! `contagion`: no `/`) is the built-in suite, even when a folder of that name sits beside the
//! configuration; anything else is a folder. The name wins because a configuration must mean
//! the same instrument wherever it is run: a stray folder must not swap the suite silently.
//! Write `./core` for a folder named `core`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Suite;
use crate::input::InputError;

/// The files of one built-in suite: (file name, text).
pub type SuiteFiles = &'static [(&'static str, &'static str)];

const CORE: SuiteFiles = &[
    ("suite.toml", include_str!("../../probes/core/suite.toml")),
    ("agent_governance.toml", include_str!("../../probes/core/agent_governance.toml")),
    ("ai_metaphors.toml", include_str!("../../probes/core/ai_metaphors.toml")),
    ("contested_history.toml", include_str!("../../probes/core/contested_history.toml")),
    ("creative_open.toml", include_str!("../../probes/core/creative_open.toml")),
    ("everyday_advice.toml", include_str!("../../probes/core/everyday_advice.toml")),
    ("moral_dilemmas.toml", include_str!("../../probes/core/moral_dilemmas.toml")),
    ("policy_tradeoffs.toml", include_str!("../../probes/core/policy_tradeoffs.toml")),
    ("reasoning_style.toml", include_str!("../../probes/core/reasoning_style.toml")),
    ("refusal_boundary.toml", include_str!("../../probes/core/refusal_boundary.toml")),
    ("self_description.toml", include_str!("../../probes/core/self_description.toml")),
    ("uncertain_questions.toml", include_str!("../../probes/core/uncertain_questions.toml")),
];

const CONTAGION: SuiteFiles = &[
    ("suite.toml", include_str!("../../probes/contagion/suite.toml")),
    ("agent_injection.toml", include_str!("../../probes/contagion/agent_injection.toml")),
    ("false_claim.toml", include_str!("../../probes/contagion/false_claim.toml")),
    ("finance_shortcut.toml", include_str!("../../probes/contagion/finance_shortcut.toml")),
    ("good_practice.toml", include_str!("../../probes/contagion/good_practice.toml")),
    ("style_meme.toml", include_str!("../../probes/contagion/style_meme.toml")),
    ("unsafe_ops.toml", include_str!("../../probes/contagion/unsafe_ops.toml")),
];

/// Every built-in suite, by name: `probes/<name>/` in the repository.
pub const BUILTIN: &[(&str, SuiteFiles)] = &[("core", CORE), ("contagion", CONTAGION)];

/// The names of the built-in suites, for messages: "core, contagion".
pub fn names() -> String {
    BUILTIN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// The files of the built-in suite `name`.
pub fn files(name: &str) -> Option<SuiteFiles> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// The built-in suite `name`, loaded (named `probes/<name>` in messages).
pub fn suite(name: &str) -> Option<Suite> {
    let files = files(name)?;
    let dir = Path::new("probes").join(name);
    let sources = files.iter().map(|(file, text)| (dir.join(file), (*text).to_owned())).collect();
    Some(Suite::from_sources(&dir, sources).expect("the built-in suites are valid (checked by tests)"))
}

/// What `run.suite` (or `probes validate`) names: a built-in suite or a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuiteRef {
    BuiltIn(&'static str),
    Folder(PathBuf),
}

impl SuiteRef {
    /// A built-in suite's bare name is that suite; anything else is a folder, resolved by
    /// `resolve` (against the configuration's folder). See the module doc for why the name wins.
    pub fn parse(text: &str, resolve: impl Fn(&str) -> PathBuf) -> SuiteRef {
        let text = text.trim();
        match BUILTIN.iter().find(|(n, _)| *n == text) {
            Some((name, _)) => SuiteRef::BuiltIn(name),
            None => SuiteRef::Folder(resolve(text)),
        }
    }

    /// Loads the suite. A folder that cannot be read is refused with the built-in names.
    pub fn load(&self) -> Result<Suite, InputError> {
        match self {
            SuiteRef::BuiltIn(name) => Ok(suite(name).expect("a built-in name")),
            SuiteRef::Folder(dir) => Suite::load(dir),
        }
    }

    /// A folder of the same name beside a built-in name is not used: said once, with the fix.
    pub fn warn_if_shadowing(&self, base: &Path) {
        if let SuiteRef::BuiltIn(name) = self
            && base.join(name).join("suite.toml").is_file()
        {
            tracing::warn!(
                "suite = {name:?} is the built-in suite {name}, not the folder {}: write suite = \"./{name}\" to use the folder",
                base.join(name).display()
            );
        }
    }
}

impl std::fmt::Display for SuiteRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SuiteRef::BuiltIn(name) => write!(f, "{name} (built in)"),
            SuiteRef::Folder(dir) => write!(f, "{}", dir.display()),
        }
    }
}

/// Serialised as the configuration's content hash has always seen it: a folder as its path, a
/// built-in suite as `builtin:<name>`.
impl Serialize for SuiteRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SuiteRef::BuiltIn(name) => s.serialize_str(&format!("builtin:{name}")),
            SuiteRef::Folder(dir) => dir.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in suites are `probes/` byte for byte, and every file of `probes/<name>/` is
    /// built in: the versioned suite cannot drift from what the binary asks.
    #[test]
    fn the_built_in_suites_are_the_probes_folders_byte_for_byte() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("probes");
        for (name, files) in BUILTIN {
            let dir = root.join(name);
            let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            on_disk.sort();
            let mut built_in: Vec<String> = files.iter().map(|(f, _)| (*f).to_owned()).collect();
            built_in.sort();
            assert_eq!(on_disk, built_in, "src/probes/builtin.rs must embed every file of probes/{name}");
            for (file, text) in *files {
                let bytes = std::fs::read(dir.join(file)).unwrap();
                assert_eq!(bytes, text.as_bytes(), "probes/{name}/{file} differs from the built-in copy");
            }
            let loaded = Suite::load(&dir).unwrap();
            assert_eq!(loaded.id, suite(name).unwrap().id, "probes/{name}");
        }
        // Every suite folder of the repository is built in.
        let folders = std::fs::read_dir(&root).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count();
        assert_eq!(folders, BUILTIN.len());
    }

    #[test]
    fn a_bare_built_in_name_is_the_built_in_suite_and_anything_else_a_folder() {
        let resolve = |p: &str| Path::new("/etc/hw").join(p);
        assert_eq!(SuiteRef::parse("core", resolve), SuiteRef::BuiltIn("core"));
        assert_eq!(SuiteRef::parse(" contagion ", resolve), SuiteRef::BuiltIn("contagion"));
        assert_eq!(SuiteRef::parse("./core", resolve), SuiteRef::Folder("/etc/hw/./core".into()));
        assert_eq!(SuiteRef::parse("probes/core", resolve), SuiteRef::Folder("/etc/hw/probes/core".into()));
        assert_eq!(SuiteRef::parse("mine", resolve), SuiteRef::Folder("/etc/hw/mine".into()));
        let e = SuiteRef::parse("nosuch", resolve).load().unwrap_err();
        assert!(e.to_string().contains("core, contagion"), "{e}");
        assert_eq!(serde_json::to_string(&SuiteRef::BuiltIn("core")).unwrap(), "\"builtin:core\"");
        assert_eq!(serde_json::to_string(&SuiteRef::Folder("/a/b".into())).unwrap(), "\"/a/b\"");
    }
}
