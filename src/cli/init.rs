//! `hivewatch init [DIR]`: a starting point outside the clone. Writes `hivewatch.toml` (the
//! example configuration, `hivewatch.example.toml` as shipped) and the shipped suites
//! (`probes/core`, `probes/contagion`, from [`crate::probes::builtin`]) into DIR.
//!
//! The configuration points at the written copy (`suite = "probes/core"`), not at the built-in
//! suite: the suite is the instrument, and a nightly watch must keep asking the same questions
//! when the binary is upgraded (a built-in suite may change with a release, which starts a new
//! series); the copy is also there to read, and to edit knowingly (any edit is a new suite id).
//! `suite = "core"` follows the suite shipped with the binary instead.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit;
use crate::input::InputError;
use crate::say::say;

/// The example configuration, as shipped.
const EXAMPLE: &str = include_str!("../../hivewatch.example.toml");

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The folder to write into (created if missing).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Overwrite files that exist (by default nothing is written when any does).
    #[arg(long)]
    force: bool,
}

/// Every file `init` writes, relative to DIR, with its text.
fn files() -> Vec<(PathBuf, String)> {
    let config =
        EXAMPLE.replacen("copy to hivewatch.toml and edit.", "written by `hivewatch init`; edit the endpoints.", 1);
    let mut out = vec![(PathBuf::from("hivewatch.toml"), config)];
    for (name, files) in crate::probes::builtin::BUILTIN {
        out.extend(files.iter().map(|(file, text)| (Path::new("probes").join(name).join(file), (*text).to_owned())));
    }
    out
}

pub fn command(a: &InitArgs) -> Result<i32> {
    let files = files();
    let existing: Vec<String> =
        files.iter().map(|(rel, _)| a.dir.join(rel)).filter(|p| p.exists()).map(|p| p.display().to_string()).collect();
    if !existing.is_empty() && !a.force {
        let more = match existing.len() {
            1 => String::new(),
            n => format!(
                " and {} other file(s) it would write, such as {}",
                n - 1,
                existing[1..].iter().take(2).cloned().collect::<Vec<_>>().join(", ")
            ),
        };
        return Err(InputError::new(Path::new(&existing[0]), None, format!("exists already{more}"))
            .hint("nothing was written; pass --force to overwrite them, or name another folder: hivewatch init DIR")
            .into());
    }
    for (rel, text) in &files {
        let path = a.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let suites: Vec<String> = crate::probes::builtin::BUILTIN
        .iter()
        .map(|(name, f)| format!("{} ({} files)", a.dir.join("probes").join(name).display(), f.len()))
        .collect();
    say!(
        "wrote {} and {}{}",
        a.dir.join("hivewatch.toml").display(),
        suites.join(", "),
        if existing.is_empty() { String::new() } else { format!(" (overwrote {} file(s))", existing.len()) }
    );
    say!(
        "the configuration asks the written probes/core (the instrument stays fixed across upgrades; suite = \"core\" follows the binary's)"
    );
    let cd = if a.dir == Path::new(".") { String::new() } else { format!("cd {} && ", a.dir.display()) };
    say!("next: edit its [[endpoints]] (keys stay in the environment), then `{cd}hivewatch run --dry-run`");
    say!("no keys yet? `hivewatch simulate serve --port 8080` serves simulated models and prints each base_url");
    Ok(exit::OK)
}
