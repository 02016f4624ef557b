//! The crate's layering, checked from the source (ARCHITECTURE.md, "Invariants"): every module
//! belongs to a layer, and a module may name (`crate::x`) only modules of its own layer or of
//! the layers below it. That keeps the foundations, the configuration and the store's plumbing
//! free of any stage, and leaves no import cycle between layers: adding an arrow that runs back
//! up the pipeline fails this test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, bottom first; a top-level module's layer is its index here.
const LAYERS: &[(&str, &[&str])] = &[
    ("foundations", &["failure", "input", "net", "say", "secrets", "util", "vocab"]),
    ("what people write", &["config", "probes"]),
    ("store plumbing", &["store"]),
    ("stage: plan", &["plan"]),
    ("stage: collect", &["collect"]),
    ("stage: embed", &["embed"]),
    ("stage: features", &["features"]),
    ("stage: identity", &["identity"]),
    ("stage: metrics", &["metrics"]),
    ("stage: lineage", &["lineage"]),
    ("stage: trend", &["trend"]),
    ("stage: alert", &["alert"]),
    ("stage: report", &["report"]),
    ("the pipeline's tail", &["pipeline"]),
    (
        "orchestration",
        &["session", "night", "run", "import", "analyze", "progress", "sim", "remote", "consortium", "tables"],
    ),
    ("the edge", &["demo", "cli", "exit", "query"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/metrics/tables/x.rs` -> `metrics`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_str().unwrap();
    first.trim_end_matches(".rs").to_owned()
}

/// The top-level modules a file's non-test code names as `crate::x`.
fn crate_references(text: &str) -> BTreeSet<String> {
    // Unit tests may reach anywhere; they sit after the file's `#[cfg(test)]`.
    let code = text.split("\n#[cfg(test)]").next().unwrap_or(text);
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.insert(name);
            } else if rest.starts_with('{') {
                let group = &rest[1..rest.find('}').unwrap_or(rest.len())];
                for part in group.split(',') {
                    let name = part.trim().split("::").next().unwrap_or("").to_owned();
                    if !name.is_empty() {
                        out.insert(name);
                    }
                }
            }
        }
    }
    out
}

#[test]
fn no_module_names_a_module_above_its_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut unknown = BTreeSet::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            unknown.insert(module);
            continue;
        };
        for target in crate_references(&std::fs::read_to_string(file).unwrap()) {
            match layer_of(&target) {
                Some(layer) if layer > own => problems.push(format!(
                    "{} ({}) names crate::{target} ({}), which is above it",
                    file.strip_prefix(&src).unwrap().display(),
                    LAYERS[own].0,
                    LAYERS[layer].0
                )),
                Some(_) => {}
                None => {
                    unknown.insert(target);
                }
            }
        }
    }
    assert!(unknown.is_empty(), "modules with no layer (add them to LAYERS and to ARCHITECTURE.md): {unknown:?}");
    assert!(problems.is_empty(), "imports that run back up the layers:\n{}", problems.join("\n"));
}

#[test]
fn the_check_sees_a_backward_import() {
    // The scanner must find both forms, or the test above could pass by seeing nothing.
    let text = "use crate::store::Output;\nuse crate::{alert, trend::TrendRow};\n// crate::report in a comment\nfn f() { crate::util::x(); }\n#[cfg(test)]\nmod tests { use crate::cli; }\n";
    let found = crate_references(text);
    assert_eq!(found, ["alert", "store", "trend", "util"].iter().map(|s| s.to_string()).collect());
    assert!(layer_of("alert") > layer_of("store"));
}

/// A file's module path under src (`metrics/tables/run_metrics.rs` -> [metrics, tables,
/// run_metrics]; a `mod.rs` is its folder's module).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_str().unwrap().to_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The source file of the longest prefix of `path` that is a module (the rest names an item).
fn file_of(modules: &std::collections::BTreeMap<Vec<String>, PathBuf>, path: &[String]) -> Option<PathBuf> {
    (1..=path.len()).rev().find_map(|k| modules.get(&path[..k]).cloned())
}

/// The other files a file's non-test code names: through `crate::`, `super::` and `self::`
/// paths (grouped `crate::{a, b}` too) and through its own child modules by name. A module
/// naming its own descendants is not counted: a parent re-exports and drives its children.
fn file_references(
    src: &Path,
    file: &Path,
    text: &str,
    modules: &std::collections::BTreeMap<Vec<String>, PathBuf>,
) -> BTreeSet<PathBuf> {
    let code = text.split("\n#[cfg(test)]").next().unwrap_or(text);
    let own = module_path(src, file);
    let mut found = BTreeSet::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let children: Vec<String> = code
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l.strip_prefix("pub mod ").or_else(|| l.strip_prefix("mod "))?;
            rest.strip_suffix(';').map(str::to_owned)
        })
        .collect();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        for (head, base) in
            [("crate::", Vec::new()), ("super::", own[..own.len().saturating_sub(1)].to_vec()), ("self::", own.clone())]
        {
            let mut rest = line;
            while let Some(at) = rest.find(head) {
                let preceded =
                    rest[..at].chars().last().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
                rest = &rest[at + head.len()..];
                if preceded {
                    continue;
                }
                // `a::b::c`, or `a::{b, c::d}`: the segments up to a group, then each member.
                let mut segs = Vec::new();
                let mut r = rest;
                loop {
                    let s = ident(r);
                    if s.is_empty() {
                        break;
                    }
                    r = &r[s.len()..];
                    segs.push(s);
                    match r.strip_prefix("::") {
                        Some(next) => r = next,
                        None => break,
                    }
                }
                let mut paths: Vec<Vec<String>> = Vec::new();
                match r.strip_prefix('{') {
                    Some(group) => {
                        for part in group[..group.find('}').unwrap_or(group.len())].split(',') {
                            let member = part.trim().split("::").map(ident).filter(|s| !s.is_empty());
                            paths.push(segs.iter().cloned().chain(member).collect());
                        }
                    }
                    None => paths.push(segs),
                }
                for p in paths.into_iter().filter(|p| !p.is_empty()) {
                    let full: Vec<String> = base.iter().cloned().chain(p).collect();
                    found.extend(file_of(modules, &full));
                }
            }
        }
        for child in &children {
            if line.contains(&format!("{child}::"))
                && let Some(f) = file_of(modules, &[own.clone(), vec![child.clone()]].concat())
            {
                found.insert(f);
            }
        }
    }
    found.retain(|f| {
        let other = module_path(src, f);
        f != file && !(other.len() > own.len() && other[..own.len()] == own[..])
    });
    found
}

/// Issue 27: the layers keep arrows between top-level modules pointing down, but files inside
/// one module could still name each other in a circle (`cli` <-> `demo`, `features::eval` <->
/// `train`, `report::data` <-> `lineage` <-> `contagion` did). No file-level cycle is allowed.
#[test]
fn no_two_files_name_each_other_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: std::collections::BTreeMap<Vec<String>, PathBuf> =
        files.iter().map(|f| (module_path(&src, f), f.clone())).collect();
    let edges: std::collections::BTreeMap<PathBuf, BTreeSet<PathBuf>> = files
        .iter()
        .map(|f| (f.clone(), file_references(&src, f, &std::fs::read_to_string(f).unwrap(), &modules)))
        .collect();
    // Each file's reach, by search from it; a file that reaches itself sits on a cycle.
    let mut cycles = Vec::new();
    for start in &files {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(PathBuf, Vec<PathBuf>)> = vec![(start.clone(), vec![start.clone()])];
        while let Some((at, path)) = stack.pop() {
            for next in &edges[&at] {
                if next == start {
                    let names: Vec<String> =
                        path.iter().map(|p| p.strip_prefix(&src).unwrap().display().to_string()).collect();
                    cycles.push(names.join(" -> "));
                } else if seen.insert(next.clone()) {
                    stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
                }
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "files that name each other in a circle (break it with a module both can name):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    let files = [src.join("a/mod.rs"), src.join("a/x.rs"), src.join("a/y.rs")];
    let modules: std::collections::BTreeMap<Vec<String>, PathBuf> =
        files.iter().map(|f| (module_path(src, f), f.clone())).collect();
    let x = file_references(src, &files[1], "use super::y::Thing;\nfn f() { crate::a::y::g(); }\n", &modules);
    let y = file_references(src, &files[2], "use crate::a::{x, z};\n", &modules);
    let parent = file_references(src, &files[0], "pub mod x;\npub mod y;\nuse x::Thing;\n", &modules);
    assert_eq!(x, BTreeSet::from([files[2].clone()]));
    assert_eq!(y, BTreeSet::from([files[1].clone(), files[0].clone()]));
    assert!(parent.is_empty(), "a parent naming its children is no arrow: {parent:?}");
}

/// No file in src grows past about 500 lines unless it says why here.
#[test]
fn no_file_is_longer_than_a_reader_can_hold() {
    const LIMIT: usize = 520;
    // File, and why it is longer.
    const LONGER: &[(&str, &str)] = &[(
        "sim/models.rs",
        "a simulated model's whole answer is one recipe (generate_with): the order of its random draws is what makes a seed replay",
    )];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // Unit tests at the end do not count: they read alone.
        let code = text.split("\n#[cfg(test)]").next().unwrap_or(&text);
        let n = code.lines().count();
        let rel = f.strip_prefix(&src).unwrap().display().to_string();
        if n > LIMIT && !LONGER.iter().any(|(name, _)| *name == rel) {
            long.push(format!("{rel}: {n} lines"));
        }
    }
    long.sort();
    assert!(long.is_empty(), "files over {LIMIT} lines (split them, or state why in LONGER):\n{}", long.join("\n"));
}
