//! `hivewatch import`: the example files of datasets/ become runs in the same tables, trends
//! compare imported runs on the same prompts, bad rows are refused or listed with their line.

mod common;

use common::*;
use hivewatch::sim::SimConfig;

/// `hivewatch import --format FORMAT FILES... EXTRA... --output OUT`.
fn import(format: &str, files: &[&str], extra: &[&str], out: &std::path::Path) -> std::process::Output {
    let mut args = vec!["import", "--format", format];
    args.extend(files);
    args.extend(extra);
    args.extend(["--output", out.to_str().unwrap()]);
    hivewatch(&args, &[])
}

fn example(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/examples").join(name).display().to_string()
}

#[test]
fn jsonl_with_dates_becomes_two_comparable_runs_and_reimports_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    for _ in 0..2 {
        let o = import("jsonl", &[&example("generic.jsonl")], &[], &out);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let runs = duckdb(
        &out,
        "SELECT run_date, count(*), min(suite_id) = max(suite_id), sum(ok), max(endpoints), max(probes) FROM read_parquet('{out}/runs/*/*.parquet', hive_partitioning=true) GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(runs.len(), 2, "two dates, two runs, the second import rewrote them: {runs:?}");
    for r in &runs {
        assert_eq!(
            (r[1].as_i64(), r[3].as_f64(), r[4].as_i64(), r[5].as_i64()),
            (Some(1), Some(6.0), Some(3), Some(2)),
            "{r:?}"
        );
    }
    let suites = scalar_i64(&out, "SELECT count(DISTINCT suite_id) FROM read_parquet('{out}/runs/*/*.parquet')");
    assert_eq!(suites, 1, "the same prompts: one suite id");
    let responses = duckdb(
        &out,
        "SELECT count(*), count(DISTINCT provider), min(provider), count(*) FILTER (status = 'ok') FROM read_parquet('{out}/responses/*/*.parquet')",
    );
    assert_eq!(
        responses[0],
        vec![serde_json::json!(12), serde_json::json!(1), serde_json::json!("import"), serde_json::json!(12)]
    );
    // The second run is compared with the first: same suite, same embedder.
    let baseline_n = scalar_i64(
        &out,
        "SELECT baseline_n FROM read_parquet('{out}/trends/*/*.parquet', hive_partitioning=true) WHERE run_date = '2025-02-01' AND scope = 'overall' AND metric = 'effective_models'",
    );
    assert_eq!(baseline_n, 1);
    // model-c refuses one prompt: the features saw it.
    let refusals = scalar_i64(&out, "SELECT count(*) FROM read_parquet('{out}/features/*/*.parquet') WHERE refused");
    assert_eq!(refusals, 1);
    let pages: Vec<_> = files_under(&out.join("html/2025-02-01"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .collect();
    assert_eq!(pages.len(), 1, "one page for the run of 2025-02-01: {pages:?}");
}

#[test]
fn alpaca_eval_files_are_one_run_with_prompts_matched_by_text() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let o = import(
        "alpaca-eval",
        &[&example("alpaca_model_a.json"), &example("alpaca_model_b.json")],
        &["--run-date", "2024-06-01"],
        &out,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = duckdb(
        &out,
        "SELECT count(DISTINCT run_id), count(DISTINCT endpoint), count(DISTINCT probe_id), count(DISTINCT category) FROM read_parquet('{out}/responses/*/*.parquet')",
    );
    assert_eq!(r[0], vec![serde_json::json!(1), serde_json::json!(2), serde_json::json!(3), serde_json::json!(2)]);
    let pairs = scalar_i64(
        &out,
        "SELECT count(*) FROM read_parquet('{out}/pair_similarity/*/*.parquet') WHERE category IS NULL AND n_probes = 3",
    );
    assert_eq!(pairs, 1, "the two models meet on all three prompts");
}

#[test]
fn bad_rows_are_refused_with_their_line_or_listed_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    let good = std::fs::read_to_string(example("generic.csv")).unwrap();
    std::fs::write(
        &csv,
        good.replacen(
            "model-b,q1,policy,Should cities favour trains or cars?,\"It depends on density.\"",
            "model-b,q1,policy,,\"It depends on density.\"",
            1,
        ),
    )
    .unwrap();
    let out = dir.path().join("reports");
    let o = import("csv", &[csv.to_str().unwrap()], &[], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bad.csv:3") && text(&o).contains("no `prompt`"), "{}", text(&o));
    assert!(!out.join("responses").exists(), "nothing written");

    let o = import("csv", &[csv.to_str().unwrap()], &["--on-bad-row", "skip"], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("skipped") && text(&o).contains("bad.csv:3"), "{}", text(&o));
    assert_eq!(scalar_i64(&out, "SELECT count(*) FROM read_parquet('{out}/responses/*/*.parquet')"), 3);
}

#[test]
fn inspect_ai_logs_become_a_run_on_the_day_of_the_eval() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let o = import("inspect-ai", &[&example("inspect_model_a.json"), &example("inspect_model_b.json")], &[], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = duckdb(
        &out,
        "SELECT min(run_date)::VARCHAR, count(DISTINCT run_id), list(DISTINCT endpoint ORDER BY endpoint), list(DISTINCT probe_id ORDER BY probe_id), min(length(response_text)) FROM read_parquet('{out}/responses/*/*.parquet', hive_partitioning=true)",
    );
    assert_eq!(r[0][0], "2026-11-22", "the eval's creation day: {r:?}");
    assert_eq!(r[0][1], 1);
    assert_eq!(r[0][2], serde_json::json!(["model-a", "model-b"]));
    assert_eq!(r[0][3], serde_json::json!(["q1", "q2"]));
    assert!(r[0][4].as_i64().unwrap() > 20, "the completions were read: {r:?}");
}

#[test]
fn promptfoo_output_becomes_a_run_with_a_model_per_provider() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let o = import("promptfoo", &[&example("promptfoo_output.json")], &[], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = duckdb(
        &out,
        "SELECT count(*), list(DISTINCT endpoint ORDER BY endpoint), count(DISTINCT probe_id), count(DISTINCT response_text) FROM read_parquet('{out}/responses/*/*.parquet')",
    );
    assert_eq!(
        r[0],
        vec![
            serde_json::json!(4),
            serde_json::json!(["model-a", "model-b"]),
            serde_json::json!(2),
            serde_json::json!(4)
        ]
    );
}

/// Issue 16, item 9: importing an export that has grown by a date gives the earlier dates the
/// same run ids (from the rows' source, date and content, not the file's bytes, nor the rows'
/// order): their tables are rewritten, not duplicated.
#[test]
fn a_grown_export_reimports_its_earlier_dates_as_the_same_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let export = dir.path().join("export.jsonl");
    let lines: Vec<String> =
        std::fs::read_to_string(example("generic.jsonl")).unwrap().lines().map(str::to_owned).collect();
    std::fs::write(&export, lines.join("\n") + "\n").unwrap();
    let ids_sql = "SELECT run_date::VARCHAR, run_id FROM read_parquet('{out}/runs/*/*.parquet', hive_partitioning=true) ORDER BY 1";
    let o = import("jsonl", &[export.to_str().unwrap()], &[], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before = duckdb(&out, ids_sql);
    assert_eq!(before.len(), 2);

    // A third date appended, and the earlier rows written in another order.
    let mut grown: Vec<String> = lines.iter().rev().cloned().collect();
    grown.extend(lines.iter().filter(|l| l.contains("2025-02-01")).map(|l| l.replace("2025-02-01", "2025-03-01")));
    std::fs::write(&export, grown.join("\n") + "\n").unwrap();
    let o = import("jsonl", &[export.to_str().unwrap()], &[], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let after = duckdb(&out, ids_sql);
    assert_eq!(after.len(), 3, "one run per date: {after:?}");
    assert_eq!(after[..2], before[..], "the earlier dates keep their run ids");
    let per_date = duckdb(
        &out,
        "SELECT run_date, count(*), count(DISTINCT run_id) FROM read_parquet('{out}/responses/*/*.parquet', hive_partitioning=true) GROUP BY 1 ORDER BY 1",
    );
    for r in &per_date {
        assert_eq!((r[1].as_i64(), r[2].as_i64()), (Some(6), Some(1)), "{per_date:?}");
    }
}

/// Issue 16, item 17: one invalid UTF-8 row rejected the whole file with no line; now the row
/// is reported with its line, and `--on-bad-row skip` imports the rest.
#[test]
fn invalid_utf8_rows_are_reported_with_their_line_and_skippable() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("bad.jsonl");
    let mut bytes = std::fs::read(example("generic.jsonl")).unwrap();
    let second = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let at = second + bytes[second..].windows(8).position(|w| w == b"It depen").unwrap();
    bytes[at] = 0xff;
    std::fs::write(&jsonl, &bytes).unwrap();
    let csv = dir.path().join("bad.csv");
    let mut bytes = std::fs::read(example("generic.csv")).unwrap();
    let at = bytes.windows(8).position(|w| w == b"Six hour").unwrap();
    bytes[at] = 0xfe;
    std::fs::write(&csv, &bytes).unwrap();
    for (format, file, line, rows) in [("jsonl", &jsonl, 2, 11), ("csv", &csv, 4, 3)] {
        let out = dir.path().join(format!("reports-{format}"));
        let o = import(format, &[file.to_str().unwrap()], &[], &out);
        let said = text(&o);
        assert_eq!(o.status.code(), Some(2), "{said}");
        let at = format!("{}:{line}:", file.display());
        assert!(said.contains(&at) && said.contains("not UTF-8"), "{said}");
        let o = import(format, &[file.to_str().unwrap()], &["--on-bad-row", "skip"], &out);
        let said = text(&o);
        assert_eq!(o.status.code(), Some(0), "{said}");
        assert!(said.contains(&format!("skipped {}:{line}: ", file.display())), "{said}");
        assert_eq!(scalar_i64(&out, "SELECT count(*) FROM read_parquet('{out}/responses/*/*.parquet')"), rows);
    }
}

/// Issue 16, item 17: the output lock is taken before the files are parsed (a held output is
/// exit 4 at once, whatever the files hold).
#[test]
fn the_output_lock_is_taken_before_the_files_are_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let _held = hivewatch::store::lock::acquire(&hivewatch::store::Output::local(&out)).unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"model\": \"m\"}\n").unwrap();
    let o = import("jsonl", &[bad.to_str().unwrap()], &[], &out);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("another hivewatch run is writing to"), "{}", text(&o));
}

/// JSONL rows of `hist` as (model, prompt id, response, date).
fn hist_jsonl(rows: &[(&str, &str, &str, &str)]) -> String {
    rows.iter()
        .map(|(m, p, r, d)| {
            format!("{}\n", serde_json::json!({"model": m, "prompt_id": p, "prompt": format!("Question {p}?"), "response": r, "date": d}))
        })
        .collect()
}

/// The same rows as CSV.
fn hist_csv(rows: &[(&str, &str, &str, &str)]) -> String {
    let mut out = String::from("model,prompt_id,prompt,response,date\n");
    for (m, p, r, d) in rows {
        out.push_str(&format!("{m},{p},Question {p}?,\"{r}\",{d}\n"));
    }
    out
}

/// Every table's rows of `date`, by run id.
fn runs_of(out: &std::path::Path, date: &str) -> Vec<Vec<serde_json::Value>> {
    let tables = ["runs", "responses", "probes", "embeddings", "features", "run_metrics"];
    let union: Vec<String> = tables
        .iter()
        .map(|t| format!("SELECT '{t}' AS t, run_id FROM read_parquet('{{out}}/{t}/*/*.parquet', hive_partitioning=true) WHERE run_date = '{date}'"))
        .collect();
    duckdb(
        out,
        &format!(
            "SELECT t, count(DISTINCT run_id), count(*) FROM ({}) GROUP BY t ORDER BY t",
            union.join(" UNION ALL ")
        ),
    )
}

/// Issue 26, item 4. Before: a run's id hashed its date's content, so one corrected answer, late
/// rows added to a date, or the same export as CSV instead of JSONL added a second (third) run
/// for the date, and a killed import retried left the killed run's files. Now there is one run
/// per (source, date), the source being `--source` or the file's stem: importing a date again
/// replaces that run's rows in every table.
#[test]
fn a_date_imported_again_replaces_its_run_in_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let mut rows = vec![
        ("model-a", "q1", "Trains, mostly.", "2025-02-01"),
        ("model-b", "q1", "It depends on density.", "2025-02-01"),
        ("model-a", "q2", "Six hours of sun.", "2025-02-01"),
        ("model-b", "q2", "Warmth and light.", "2025-02-01"),
        ("model-a", "q1", "Trains.", "2025-02-02"),
        ("model-b", "q1", "Cars.", "2025-02-02"),
    ];
    let jsonl = dir.path().join("hist.jsonl");
    let csv = dir.path().join("hist.csv");
    let ids = "SELECT run_date::VARCHAR, run_id FROM read_parquet('{out}/runs/*/*.parquet', hive_partitioning=true) ORDER BY 1";
    std::fs::write(&jsonl, hist_jsonl(&rows)).unwrap();
    let o = import("jsonl", &[jsonl.to_str().unwrap()], &[], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("source hist"), "{}", text(&o));
    let first = duckdb(&out, ids);
    assert_eq!(first.len(), 2);

    // One answer corrected, a late row added to the first date: the same two runs.
    rows[1].2 = "It depends on how dense the city is.";
    rows.push(("model-c", "q1", "Bicycles.", "2025-02-01"));
    std::fs::write(&jsonl, hist_jsonl(&rows)).unwrap();
    let o = import("jsonl", &[jsonl.to_str().unwrap()], &[], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(duckdb(&out, ids), first, "the same runs");
    // The same export as CSV: still the same runs.
    std::fs::write(&csv, hist_csv(&rows)).unwrap();
    let o = import("csv", &[csv.to_str().unwrap()], &[], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(duckdb(&out, ids), first, "the same runs");
    for r in runs_of(&out, "2025-02-01") {
        assert_eq!(r[1], 1, "one run in {r:?}");
    }
    let texts = duckdb(
        &out,
        "SELECT count(*), count(*) FILTER (response_text = 'It depends on density.') FROM read_parquet('{out}/responses/*/*.parquet', hive_partitioning=true) WHERE run_date = '2025-02-01'",
    );
    assert_eq!(texts[0], vec![serde_json::json!(5), serde_json::json!(0)], "the corrected rows only");
    // Another source is another run of the same date.
    let o = import("jsonl", &[jsonl.to_str().unwrap()], &["--source", "other-tool"], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(duckdb(&out, ids).len(), 4);
}

/// Issue 26, item 4: an import killed while its tail embedded, retried after its file was fixed
/// (a date corrected), leaves nothing of the killed run.
#[test]
fn a_killed_import_retried_leaves_nothing_of_the_killed_one() {
    let sim = TestSim::start(SimConfig { latency: std::time::Duration::from_millis(3000), ..SimConfig::default() });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let jsonl = dir.path().join("hist.jsonl");
    let rows: Vec<(String, String, String)> =
        (0..60).map(|i| (format!("model-{}", i % 3), format!("q{}", i / 3), format!("answer number {i}"))).collect();
    let write = |date: &str| {
        let text: String = rows.iter().map(|(m, p, r)| hist_jsonl(&[(m, p, r, date)])).collect();
        std::fs::write(&jsonl, text).unwrap();
    };
    write("2025-03-09");
    let mut child = std::process::Command::new(BIN)
        .args(["import", "--format", "jsonl", jsonl.to_str().unwrap(), "--output", out.to_str().unwrap()])
        .args(["--embedder", "remote", "--base-url", &sim.openai_url(), "--model", "sim-embed"])
        .env("NO_PROXY", "127.0.0.1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let partition = out.join("responses/run_date=2025-03-09");
    let written = wait_until(std::time::Duration::from_secs(60), || {
        std::fs::read_dir(&partition)
            .is_ok_and(|d| d.filter_map(Result::ok).any(|e| e.path().extension().is_some_and(|x| x == "parquet")))
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert!(written, "the import wrote its responses before it was killed");

    write("2025-03-08"); // the date was wrong
    let o = import("jsonl", &[jsonl.to_str().unwrap()], &[], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("left by an import that did not finish"), "{}", text(&o));
    let dates = duckdb(
        &out,
        "SELECT DISTINCT run_date::VARCHAR FROM read_parquet('{out}/*/*/*.parquet', hive_partitioning=true, union_by_name=true) ORDER BY 1",
    );
    assert_eq!(dates, vec![vec![serde_json::json!("2025-03-08")]], "nothing of the killed run in any table");
}

/// Issue 26, item 5: prompt ids ending in `#exposed` (the exposed side of a paired probe)
/// vanished from every measure; they are refused with their file and line.
#[test]
fn exposed_prompt_ids_are_refused_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("exposed.jsonl");
    let rows = [("model-a", "q1", "Yes.", "2025-02-01"), ("model-b", "q1#exposed", "No.", "2025-02-01")];
    std::fs::write(&jsonl, hist_jsonl(&rows)).unwrap();
    let out = dir.path().join("reports");
    let o = import("jsonl", &[jsonl.to_str().unwrap()], &[], &out);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(2), "{said}");
    assert!(said.contains(&format!("{}:2:", jsonl.display())) && said.contains("#exposed"), "{said}");
}

/// Issue 26, item 12: model cards that contradict themselves (a model its own parent, two
/// models each other's parent, a release date in 2999) were accepted; each is refused with its
/// file and line.
#[test]
fn contradictory_model_cards_are_refused_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let cards = dir.path().join("models.toml");
    for (toml, said) in [
        (
            "[[models]]\nname = \"model-a\"\nparents = [\"model-a\"]\n",
            "models.toml:2: model-a is declared its own parent",
        ),
        (
            "[[models]]\nname = \"model-a\"\nparents = [\"model-b\"]\n\n[[models]]\nname = \"model-b\"\nparents = [\"model-a\"]\n",
            "models.toml:2: model-a -> model-b -> model-a are each other's parents",
        ),
        (
            "[[models]]\nname = \"model-a\"\nrelease_date = \"2999-01-01\"\n",
            "models.toml:3: release_date 2999-01-01 is in the future",
        ),
    ] {
        std::fs::write(&cards, toml).unwrap();
        let o = import("jsonl", &[&example("generic.jsonl")], &["--models", cards.to_str().unwrap()], &out);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(said), "{said:?} in {}", text(&o));
    }
    assert!(!out.join("runs").exists(), "nothing imported");
}

/// An import that raises an alert says so on stdout as `run` does: the headline figures, where
/// the report is, and each alert (four models giving one answer: the `floor` rule's critical).
#[test]
fn an_import_prints_its_alerts_and_its_report_as_a_run_does() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("same.jsonl");
    let mut rows = String::new();
    for p in 0..8 {
        for m in ["model-a", "model-b", "model-c", "model-d"] {
            let row = serde_json::json!({
                "model": m,
                "prompt": format!("Question {p}: should cities favour trains or cars, and why?"),
                "response": format!("Trains, for cost, climate and fairness; case {p} changes none of it."),
                "date": "2025-03-01",
            });
            rows.push_str(&format!("{row}\n"));
        }
    }
    std::fs::write(&file, rows).unwrap();
    let out_dir = dir.path().join("reports");
    let o = import("jsonl", &[file.to_str().unwrap()], &[], &out_dir);
    assert_eq!(o.status.code(), Some(0), "an import exits 0 whatever it raises: {}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let report = stdout.lines().find_map(|l| l.strip_prefix("report: ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(std::path::Path::new(report).is_file(), "{stdout}");
    assert!(stdout.contains("effective models"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("critical") && l.contains("floor")), "{stdout}");
    let critical = scalar_i64(
        &out_dir,
        "SELECT count(*) FROM read_parquet('{out}/alerts/*/*.parquet') WHERE severity = 'critical' AND rule = 'floor'",
    );
    assert_eq!(critical, 1, "stdout says what the alerts table holds");
}
