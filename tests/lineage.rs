//! Declared against measured lineage on the simulated ecosystem, through the whole nightly
//! pipeline (`hivewatch demo --scenario`): a model declared with a parent it does not resemble
//! is `declared_not_evident`; a model tuned on another's outputs, declaring nothing, is
//! `undeclared` and raises the `undeclared` alert; a model copying another's style but not its
//! content is found by the style signal and not by content alone; a stable ecosystem declared
//! truthfully raises no alert and has no `declared_not_evident` row. Read back with DuckDB.

mod common;

use common::*;

/// Twelve models in six families of two (each family its own voice, so no two families share
/// phrasing); `extra` is appended to the model list (events, or a model's fields).
fn scenario(seed: u64, f2: &str, events: &str) -> String {
    let mut s = format!("[scenario]\nname = \"lineage\"\nseed = {seed}\nnights = 1\nprobes = 60\n");
    for (i, family) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
        for k in 1..=2 {
            s.push_str(&format!("[[models]]\nname = \"{family}-{k}\"\nvoice = {i}\n"));
            if *family == "f" && k == 2 {
                s.push_str(f2);
            }
        }
    }
    s.push_str(events);
    s
}

fn run(dir: &std::path::Path, scenario: &str) -> std::path::PathBuf {
    let (out, out_dir) = demo_scenario(dir, scenario);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    out_dir
}

fn text_of(out: &std::process::Output) -> String {
    text(out)
}

/// (model, relative, declared, verdict, q) of every row with a verdict.
fn verdicts(out: &std::path::Path) -> Vec<(String, String, String, String, f64)> {
    duckdb(
        out,
        "SELECT model, relative, coalesce(declared, ''), verdict, coalesce(q_value, -1) FROM read_parquet('{out}/lineage/*/*.parquet') WHERE verdict IS NOT NULL ORDER BY ALL",
    )
    .into_iter()
    .map(|r| {
        (
            r[0].as_str().unwrap().to_owned(),
            r[1].as_str().unwrap().to_owned(),
            r[2].as_str().unwrap().to_owned(),
            r[3].as_str().unwrap().to_owned(),
            r[4].as_f64().unwrap(),
        )
    })
    .collect()
}

fn alerts(out: &std::path::Path) -> Vec<(String, String)> {
    duckdb(
        out,
        "SELECT rule, scope FROM read_parquet('{out}/alerts/*/*.parquet') WHERE severity <> 'info' ORDER BY ALL",
    )
    .into_iter()
    .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_str().unwrap().to_owned()))
    .collect()
}

#[test]
fn a_stable_ecosystem_declared_truthfully_raises_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &scenario(41, "", ""));
    let rows = verdicts(&out);
    // Every family pair is declared (same family) and evident, both ways.
    for f in ["a", "b", "c", "d", "e", "f"] {
        for (m, r) in [(format!("{f}-1"), format!("{f}-2")), (format!("{f}-2"), format!("{f}-1"))] {
            assert!(
                rows.iter().any(|x| x.0 == m && x.1 == r && x.2 == "family" && x.3 == "declared_and_evident"),
                "{m} / {r}: {rows:?}"
            );
        }
    }
    assert!(!rows.iter().any(|x| x.3 == "declared_not_evident"), "{rows:?}");
    // At the table's 5% false discovery rate an unrelated pair may be called undeclared now and
    // then; none is anywhere near the alert's level, and nothing pages. With style fused in
    // (issue 24) there is none at all here (seeds 41-44 checked: families have their own
    // voices and formats, and no two share both).
    assert!(rows.iter().filter(|x| x.3 == "undeclared").all(|x| x.4 > 1e-3), "{rows:?}");
    assert!(!rows.iter().any(|x| x.3 == "undeclared"), "no new undeclared relative: {rows:?}");
    assert!(!alerts(&out).iter().any(|(rule, _)| rule == "undeclared"), "{:?}", alerts(&out));
    // Families come from the calibrated similarity: the six declared ones, at the close level.
    let families = scalar_i64(
        &out,
        "SELECT count(DISTINCT family) FROM read_parquet('{out}/families/*/*.parquet') WHERE level = 'close'",
    );
    assert_eq!(families, 6);
}

#[test]
fn a_false_parent_is_not_evident_and_a_hidden_tuning_is_undeclared() {
    let dir = tempfile::tempdir().unwrap();
    // f-2 declares a-1 as its parent but takes nothing from it (weight 0); e-1 is tuned on
    // b-1's outputs and declares nothing of it.
    let f2 = "parent = \"a-1\"\nparent_weight = 0.0\n";
    let events =
        "[[events]]\nkind = \"influence\"\nmodel = \"e-1\"\ntoward = \"b-1\"\nstart = 1\nend = 1\nstrength = 0.9\n";
    let out = run(dir.path(), &scenario(42, f2, events));
    let rows = verdicts(&out);
    let find = |m: &str, r: &str| rows.iter().find(|x| x.0 == m && x.1 == r).cloned();
    let false_parent = find("f-2", "a-1").unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!((false_parent.2.as_str(), false_parent.3.as_str()), ("parent", "declared_not_evident"), "{rows:?}");
    let hidden = find("e-1", "b-1").unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!((hidden.2.as_str(), hidden.3.as_str()), ("", "undeclared"), "{rows:?}");
    // A nightly run pages on it, on that pair.
    let raised = alerts(&out);
    assert!(raised.contains(&("undeclared".into(), "pair:b-1|e-1".into())), "{raised:?}");
    assert!(
        raised.iter().filter(|(rule, _)| rule == "undeclared").all(|(_, s)| s.contains("e-1")),
        "only pairs with the tuned model: {raised:?}"
    );
    // The declared parent is drawn on the report's map.
    let page = std::fs::read_to_string(out.join("html/latest.html")).unwrap();
    assert!(page.contains("f-2 declares a-1 as a parent"), "the map draws the declared parent");
}

/// (z, q, z_content, z_style, carried_by) of every overall pair, by (model_a, model_b).
/// (model_a, model_b, z, q, z_content, z_style, carried_by).
type PairTest = (String, String, Option<f64>, Option<f64>, f64, f64, String);

fn pair_tests(out: &std::path::Path) -> Vec<PairTest> {
    duckdb(
        out,
        "SELECT model_a, model_b, z, q_value, z_content, z_style, coalesce(carried_by, '') FROM read_parquet('{out}/pair_similarity/*/*.parquet') WHERE category IS NULL ORDER BY 1, 2",
    )
    .into_iter()
    .map(|r| {
        let s = |i: usize| r[i].as_str().unwrap().to_owned();
        (s(0), s(1), r[2].as_f64(), r[3].as_f64(), r[4].as_f64().unwrap(), r[5].as_f64().unwrap(), s(6))
    })
    .collect()
}

/// Issue 24: d-1 takes b-1's format (lists, numbering, headings, length, the degree of its
/// hedging and its typography: how its answers are written) and keeps its own voice and
/// templates (what they say). The style signal finds the pair (z about 12), content alone does
/// not (its q over the night's pairs stays above 5%; z about 1.5), the fused test does and says
/// style carried it, and `lineage` calls it undeclared.
#[test]
fn a_model_copying_anothers_style_is_found_by_style_not_by_content() {
    use hivewatch::metrics::relatedness::{benjamini_hochberg, normal_sf};
    let dir = tempfile::tempdir().unwrap();
    let events = "[[events]]\nkind = \"transmission\"\nfrom = \"b-1\"\nto = [\"d-1\"]\npart = \"format\"\nstart = 1\nend = 1\nstrength = 1.0\n";
    // b-1 has a house style (em dashes, bold topics, curly apostrophes) on top of its family's.
    let with_style = scenario(43, "", events)
        .replace("name = \"b-1\"\nvoice = 1\n", "name = \"b-1\"\nvoice = 1\ntypography = 1.0\n");
    let out = run(dir.path(), &with_style);
    let pairs = pair_tests(&out);
    let content_q = benjamini_hochberg(&pairs.iter().map(|p| normal_sf(p.4)).collect::<Vec<f64>>());
    let at = pairs.iter().position(|p| p.0 == "b-1" && p.1 == "d-1").unwrap_or_else(|| panic!("{pairs:?}"));
    let (_, _, z, q, z_content, z_style, carried) = pairs[at].clone();
    assert!(content_q[at] > 0.05, "content alone does not find it: z_content {z_content}, q {}", content_q[at]);
    assert!(z_style > 3.0, "style does: z_style {z_style}");
    assert!(q.unwrap() <= 0.05 && z.unwrap() > z_content, "the fused test finds it: z {z:?}, q {q:?}");
    assert_eq!(carried, "style");
    let rows = verdicts(&out);
    assert!(rows.iter().any(|x| x.0 == "d-1" && x.1 == "b-1" && x.2.is_empty() && x.3 == "undeclared"), "{rows:?}");
    // Every family pair is still found.
    for f in ["a", "b", "c", "d", "e", "f"] {
        let (a, b) = (format!("{f}-1"), format!("{f}-2"));
        assert!(pairs.iter().any(|p| p.0 == a && p.1 == b && p.3.is_some_and(|q| q <= 0.05)), "{f}: {pairs:?}");
    }
}

/// The night's answers as a generic JSONL export (model, prompt, response), as another tool would
/// have written them.
fn export_jsonl(night: &std::path::Path, file: &std::path::Path) {
    let rows = duckdb(
        night,
        "SELECT r.endpoint, p.prompt, r.response_text FROM read_parquet('{out}/responses/*/*.parquet') r JOIN read_parquet('{out}/probes/*/*.parquet') p USING (probe_id) WHERE r.status = 'ok' ORDER BY ALL",
    );
    let lines: Vec<String> = rows
        .iter()
        .map(|r| serde_json::json!({"model": r[0], "prompt": r[1], "response": r[2], "date": "2025-03-01"}).to_string())
        .collect();
    std::fs::write(file, lines.join("\n")).unwrap();
}

/// Issue 13: an import declares lineage with model cards (`--models`), and the `lineage` table
/// then judges it as a nightly run's: the same night exported and imported with cards that say
/// what its configuration said finds every family pair declared and evident; imported without
/// cards, the same pairs are undeclared; a card naming no imported model is refused at its line.
#[test]
fn an_import_declares_lineage_with_model_cards() {
    let dir = tempfile::tempdir().unwrap();
    let night = run(dir.path(), &scenario(41, "", ""));
    let export = dir.path().join("night.jsonl");
    export_jsonl(&night, &export);
    let mut cards = String::new();
    for f in ["a", "b", "c", "d", "e", "f"] {
        for k in 1..=2 {
            cards.push_str(&format!("[[models]]\nname = \"{f}-{k}\"\nvendor = \"{f} labs\"\nfamily = \"{f}\"\n\n"));
        }
    }
    cards.push_str("[[models]]\nname = \"a-1\"\nrelease_date = \"2025-01-01\"\n");
    let cards_file = dir.path().join("models.toml");
    let import = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["import", "--format", "jsonl", export.to_str().unwrap(), "--output", out.to_str().unwrap()];
        args.extend(extra);
        hivewatch(&args, &[])
    };

    // A card given twice is refused at its line, before anything is written.
    std::fs::write(&cards_file, &cards).unwrap();
    let declared = dir.path().join("declared");
    let o = import(&declared, &["--models", cards_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text_of(&o));
    assert!(text_of(&o).contains("models.toml:62") && text_of(&o).contains("has a card already"), "{}", text_of(&o));
    assert!(!declared.exists(), "nothing written");
    // A misspelt name, likewise, once the files are read.
    let misspelt = cards.replace("name = \"a-1\"\nrelease_date = \"2025-01-01\"", "name = \"a-one\"");
    std::fs::write(&cards_file, misspelt).unwrap();
    let o = import(&declared, &["--models", cards_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text_of(&o));
    assert!(text_of(&o).contains("\"a-one\" is in no imported file"), "{}", text_of(&o));

    let truthful = cards.replace("\n[[models]]\nname = \"a-1\"\nrelease_date = \"2025-01-01\"\n", "\n");
    std::fs::write(&cards_file, truthful).unwrap();
    let o = import(&declared, &["--models", cards_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text_of(&o));
    let family = duckdb(
        &declared,
        "SELECT DISTINCT model, vendor, family FROM read_parquet('{out}/responses/*/*.parquet') WHERE model IN ('a-1', 'f-2') ORDER BY 1",
    );
    assert_eq!(family, vec![vec!["a-1", "a labs", "a"], vec!["f-2", "f labs", "f"]], "the cards are in responses");
    let night_rows = verdicts(&night);
    let imported_rows = verdicts(&declared);
    for f in ["a", "b", "c", "d", "e", "f"] {
        let (m, r) = (format!("{f}-1"), format!("{f}-2"));
        let find = |rows: &[(String, String, String, String, f64)]| {
            rows.iter().find(|x| x.0 == m && x.1 == r).map(|x| (x.2.clone(), x.3.clone()))
        };
        assert_eq!(find(&night_rows), Some(("family".into(), "declared_and_evident".into())), "{night_rows:?}");
        assert_eq!(
            find(&imported_rows),
            find(&night_rows),
            "the import judges {m} / {r} as the night: {imported_rows:?}"
        );
    }

    // Without cards nothing is declared: the same pairs are alike and undeclared.
    let bare = dir.path().join("bare");
    let o = import(&bare, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text_of(&o));
    let rows = verdicts(&bare);
    assert!(rows.iter().any(|x| x.0 == "a-1" && x.1 == "a-2" && x.2.is_empty() && x.3 == "undeclared"), "{rows:?}");
}
