//! The crate's layering, checked from the source (ARCHITECTURE.md, "Invariants"): every module
//! belongs to a layer, and a module may name (`crate::x`) only modules of its own layer or of
//! the layers below it. That keeps the foundations, the configuration and the store's plumbing
//! free of any stage, and leaves no import cycle between layers: adding an arrow that runs back
//! up the pipeline fails this test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, bottom first; a top-level module's layer is its index here.
const LAYERS: &[(&str, &[&str])] = &[
    ("foundations", &["input", "secrets", "util", "vocab"]),
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
    ("orchestration", &["run", "import", "progress", "sim", "remote", "consortium"]),
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
