//! The simulated ecosystem end to end (`hivewatch demo` over scenario files): stable nights
//! raise nothing, a planted collapse raises a diversity alert on its night, a planted lineage
//! is flagged on that pair and no other; the demo writes every table, the report and the truth.

mod common;

use common::*;

/// Eight models in six families (voices fixed so families differ), 40 probes.
const MODELS: &str = r#"
[[models]]
name = "a-1"
voice = 0
[[models]]
name = "a-2"
voice = 0
[[models]]
name = "b-1"
voice = 1
[[models]]
name = "c-1"
voice = 2
[[models]]
name = "d-1"
voice = 3
[[models]]
name = "e-1"
voice = 4
[[models]]
name = "f-1"
voice = 5
[[models]]
name = "g-1"
voice = 1
"#;

fn run_scenario(dir: &std::path::Path, header: &str, events: &str) -> (String, std::path::PathBuf) {
    let (out, out_dir) = demo_scenario(dir, &format!("{header}\n{MODELS}\n{events}"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    (String::from_utf8_lossy(&out.stdout).into_owned(), out_dir)
}

/// (night, rule, scope) of every warning or critical alert, from the alerts table.
fn raised(out: &std::path::Path) -> Vec<(i64, String, String)> {
    let rows = duckdb(
        out,
        &format!(
            "SELECT {NIGHT}, rule, scope FROM read_parquet('{{out}}/alerts/*/*.parquet', hive_partitioning=true) WHERE severity <> 'info' ORDER BY 1, 2, 3"
        ),
    );
    rows.iter()
        .map(|r| (r[0].as_i64().unwrap(), r[1].as_str().unwrap().to_owned(), r[2].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn a_collapse_is_raised_on_its_night_after_quiet_nights() {
    let dir = tempfile::tempdir().unwrap();
    let header = "[scenario]\nname = \"collapse\"\nseed = 11\nnights = 12\nprobes = 40\n";
    // Night 10: four models are replaced by copies of a-1 (fine-tuned on it overnight).
    let events: String = ["c-1", "d-1", "e-1", "f-1"]
        .iter()
        .map(|m| format!("[[events]]\nkind = \"influence\"\nmodel = \"{m}\"\ntoward = \"a-1\"\nstart = 10\nend = 10\nstrength = 1.0\n"))
        .collect();
    let (stdout, out) = run_scenario(dir.path(), header, &events);
    let alerts = raised(&out);
    assert!(alerts.iter().all(|(night, _, _)| *night >= 10), "quiet nights raise nothing: {alerts:?}\n{stdout}");
    assert!(
        alerts.iter().any(|(night, rule, scope)| *night == 10 && rule == "drop" && scope == "overall"),
        "the collapse is a drop on night 10: {alerts:?}\n{stdout}"
    );
    let families = scalar_i64(
        &out,
        "SELECT count(DISTINCT family) FROM read_parquet('{out}/families/*/*.parquet', hive_partitioning=true) WHERE run_date = (SELECT max(run_date) FROM read_parquet('{out}/families/*/*.parquet', hive_partitioning=true))",
    );
    assert!(families <= 3, "a-1's copies join its family: {families} families");
}

#[test]
fn a_lineage_is_flagged_on_its_pair_only() {
    let dir = tempfile::tempdir().unwrap();
    let header = "[scenario]\nname = \"lineage\"\nseed = 12\nnights = 15\nprobes = 40\n";
    let events =
        "[[events]]\nkind = \"influence\"\nmodel = \"e-1\"\ntoward = \"b-1\"\nstart = 9\nend = 13\nstrength = 0.9\n";
    let (stdout, out) = run_scenario(dir.path(), header, events);
    let alerts = raised(&out);
    let pair: Vec<&(i64, String, String)> = alerts.iter().filter(|(_, rule, _)| rule == "pair").collect();
    assert!(!pair.is_empty(), "the lineage is flagged: {alerts:?}\n{stdout}");
    // e-1 drifts toward b-1, voice and all: g-1 speaks b-1's voice, so e-1 comes to share
    // g-1's recurring phrases too (the demo's truth table counts the target's voice-mates).
    let drawn = ["pair:b-1|e-1", "pair:e-1|g-1"];
    assert!(pair.iter().all(|(_, _, scope)| drawn.contains(&scope.as_str())), "only those pairs: {pair:?}");
    assert!(pair.iter().any(|(_, _, scope)| scope == "pair:b-1|e-1"), "{pair:?}");
    let first = pair[0].0;
    assert!((10..=14).contains(&first), "flagged {} nights after the drift began", first - 9);
    assert!(alerts.iter().all(|(night, _, _)| *night >= 9), "nothing before the drift: {alerts:?}");
}

#[test]
fn the_demo_writes_every_table_the_report_and_the_truth_and_reruns_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("demo");
    for _ in 0..2 {
        let out = hivewatch(&["demo", "--nights", "2", "--output", out_dir.to_str().unwrap()], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("night  2 ") && stdout.contains("html/latest.html"), "{stdout}");
        assert!(stdout.contains("(baseline building: 2 of 8)"), "{stdout}");
        // The story: the events, each not reached in two nights, and what to do next.
        assert!(stdout.contains("not reached: it starts on night 12 (--nights)"), "{stdout}");
        assert!(stdout.contains("events caught: 0 of 0 reached"), "{stdout}");
        assert!(stdout.contains("query diversity_over_time --output"), "a query to paste: {stdout}");
        assert!(stdout.contains("Running it for real"), "{stdout}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("INFO"), "quiet by default: {stderr}");
        assert!(stdout.lines().count() < 40, "a page, not a log: {stdout}");
    }
    for table in [
        "responses",
        "probes",
        "features",
        "probe_metrics",
        "pair_similarity",
        "run_metrics",
        "families",
        "shared_phrases",
        "trends",
        "alerts",
        "runs",
    ] {
        // One file per night (alerts may hold no row), the earlier demo's cleared.
        let files = scalar_i64(&out_dir, &format!("SELECT count(*) FROM glob('{{out}}/{table}/*/*.parquet')"));
        assert_eq!(files, 2, "{table}: two nights, the earlier demo cleared: {:?}", files_under(&out_dir.join(table)));
    }
    assert!(out_dir.join("html/latest.html").exists());
    // The demo recomputes its lexical vectors where they are read ([output] lexical_embeddings).
    assert!(!out_dir.join("embeddings").exists(), "{:?}", files_under(&out_dir.join("embeddings")));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("scenario-truth.json")).unwrap()).unwrap();
    assert_eq!(truth["models"].as_array().unwrap().len(), 12);
    assert!(
        truth["events"].as_array().unwrap().iter().any(|e| e["what"].as_str().unwrap().contains("epistemic narrowing"))
    );

    // A folder that holds anything else is refused, untouched.
    let other = dir.path().join("real-reports");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let out = hivewatch(&["demo", "--nights", "1", "--output", other.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(other.join("keep.txt").exists());
}
