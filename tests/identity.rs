//! What models say they are (issue 29), through the binary: `hivewatch identity eval` on the
//! held-out labelled set; and on the simulated ecosystem (`hivewatch demo --scenario`, the
//! simulator on 127.0.0.1), a model tuned on another's outputs that takes up its teacher's
//! self-description is `claims_other_identity` in table `identity`, and an endpoint whose backend
//! is swapped raises the `identity` alert on the night of the swap. Read back with DuckDB.

mod common;

use common::*;

fn heldout() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/identity/heldout.jsonl").to_owned()
}

#[test]
fn identity_eval_prints_precision_recall_and_accuracy() {
    let out = hivewatch(&["identity", "eval", &heldout(), "--vendor", "OpenAI"], &[]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(printed.contains("claims OpenAI"), "{printed}");
    assert!(printed.contains("precision") && printed.contains("recall") && printed.contains("accuracy"), "{printed}");
    // The held-out set's figure for OpenAI (datasets/identity/README.md): 19 of 19, none false.
    let all = printed.lines().find(|l| l.starts_with("all ")).unwrap_or_else(|| panic!("{printed}"));
    let numbers: Vec<&str> = all.split_whitespace().collect();
    assert_eq!(numbers[2..5], ["19", "0", "0"], "tp fp fn: {all}");
}

#[test]
fn identity_eval_groups_by_model_and_names_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("labels.jsonl");
    let rows = [
        r#"{"model": "m1", "response": "I'm ChatGPT, made by OpenAI.", "label": true}"#,
        r#"{"model": "m1", "response": "I am not ChatGPT; I'm Claude, by Anthropic.", "label": false}"#,
        r#"{"model": "m2", "prompt": "你是谁？", "response": "我是通义千问，由阿里云开发。", "label": false}"#,
    ];
    std::fs::write(&file, rows.join("\n")).unwrap();
    let out = hivewatch(&["identity", "eval", file.to_str().unwrap(), "--vendor", "chatgpt"], &[]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(printed.contains("model:m1") && printed.contains("model:m2"), "per model: {printed}");

    // A line that is not JSON is refused with its file and line, and the exit code of bad input.
    std::fs::write(&file, format!("{}\n{{not json\n", rows[0])).unwrap();
    let out = hivewatch(&["identity", "eval", file.to_str().unwrap(), "--vendor", "OpenAI"], &[]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(2), "{printed}");
    assert!(printed.contains("labels.jsonl:2"), "names file:line: {printed}");
    // A vendor the rules do not know is refused, with the ones they do.
    std::fs::write(&file, rows[0]).unwrap();
    let out = hivewatch(&["identity", "eval", file.to_str().unwrap(), "--vendor", "Acme"], &[]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(2), "{printed}");
    assert!(printed.contains("Acme") && printed.contains("Anthropic"), "{printed}");
}

/// A scenario of one-model families, each with its own voice and a maker it names when asked
/// who it is (and declares); `events` appended.
fn scenario(seed: u64, nights: u32, makers: &[(&str, &str)], events: &str) -> String {
    let mut s = format!("[scenario]\nname = \"identity\"\nseed = {seed}\nnights = {nights}\n");
    for (i, (name, maker)) in makers.iter().enumerate() {
        s.push_str(&format!("[[models]]\nname = \"{name}\"\nvoice = {i}\nmaker = \"{maker}\"\n"));
    }
    s.push_str(events);
    s
}

/// (model, main_claim, verdict) of every model's own answers (no persona), by night.
fn claims(out: &std::path::Path) -> Vec<(i64, String, String, String)> {
    duckdb(
        out,
        &format!(
            "SELECT DISTINCT {NIGHT} AS night, model, coalesce(main_claim, ''), coalesce(verdict, '') FROM read_parquet('{{out}}/identity/*/*.parquet', hive_partitioning=true) WHERE NOT persona ORDER BY ALL"
        ),
    )
    .into_iter()
    .map(|r| {
        let s = |i: usize| r[i].as_str().unwrap().to_owned();
        (r[0].as_i64().unwrap(), s(1), s(2), s(3))
    })
    .collect()
}

#[test]
fn a_student_taking_up_its_teachers_self_description_claims_another_identity() {
    let dir = tempfile::tempdir().unwrap();
    // s-1 (Mistral's, as declared) is tuned on t-1's outputs (OpenAI's): from half way on, it says
    // what t-1 says of itself.
    let makers = [("t-1", "OpenAI"), ("s-1", "Mistral AI"), ("h-1", "Anthropic"), ("g-1", "Google")];
    let events =
        "[[events]]\nkind = \"influence\"\nmodel = \"s-1\"\ntoward = \"t-1\"\nstart = 1\nend = 1\nstrength = 0.9\n";
    let (out, out_dir) = demo_scenario(dir.path(), &scenario(51, 1, &makers, events));
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    let rows = claims(&out_dir);
    let of = |m: &str| rows.iter().find(|r| r.1 == m).cloned().unwrap_or_else(|| panic!("{m}: {rows:?}"));
    assert_eq!(of("s-1").2, "OpenAI", "{rows:?}");
    assert_eq!(of("s-1").3, "claims_other_identity", "{rows:?}");
    for honest in ["t-1", "h-1", "g-1"] {
        assert_eq!(of(honest).3, "claims_own_identity", "{rows:?}");
    }
    assert_eq!(rows.iter().filter(|r| r.3 == "claims_other_identity").count(), 1, "{rows:?}");
    // Every row carries the rules' version and counts answers across probes and samples.
    let (versions, answers) = (
        scalar_i64(&out_dir, "SELECT count(DISTINCT rules_version) FROM read_parquet('{out}/identity/*/*.parquet')"),
        scalar_i64(&out_dir, "SELECT min(answers) FROM read_parquet('{out}/identity/*/*.parquet')"),
    );
    assert_eq!(versions, 1);
    assert!(answers >= 10, "identity answers per model: {answers}");
    // The analysts' query finds it, and only it.
    let out = hivewatch(&["query", "claimed_identity", "--print", "--output", out_dir.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let found = duckdb(&out_dir, &String::from_utf8_lossy(&out.stdout));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0][1].as_str(), found[0][3].as_str()), (Some("s-1"), Some("OpenAI")), "{found:?}");
    // The lineage table shows the claim beside the measured relatives: s-1's row to t-1 says
    // its claimed maker is the vendor t-1 declares; no other model claims another's identity.
    let lineage = duckdb(
        &out_dir,
        "SELECT model, relative, claimed_maker, identity_verdict FROM read_parquet('{out}/lineage/*/*.parquet', hive_partitioning=true) WHERE claims_relative_vendor AND identity_verdict = 'claims_other_identity' ORDER BY ALL",
    );
    let strs: Vec<Vec<&str>> = lineage.iter().map(|r| r.iter().map(|v| v.as_str().unwrap()).collect()).collect();
    assert_eq!(strs, [["s-1", "t-1", "OpenAI", "claims_other_identity"]], "{lineage:?}");
    let honest = scalar_i64(
        &out_dir,
        "SELECT count(*) FROM read_parquet('{out}/lineage/*/*.parquet') WHERE model = 'h-1' AND claimed_maker = 'Anthropic' AND identity_verdict = 'claims_own_identity'",
    );
    assert!(honest >= 1, "an honest model's rows carry its own claim");
    // The report's card says it.
    let page = std::fs::read_to_string(out_dir.join("html/latest.html")).unwrap();
    assert!(page.contains("claims to be made by OpenAI"), "the card shows the claim");
    assert!(
        page.contains("nearest OpenAI model: t-1"),
        "the card and the identity table show where the claimed vendor's model stands"
    );
}

#[test]
fn a_swapped_backend_raises_the_identity_alert_on_its_night() {
    let dir = tempfile::tempdir().unwrap();
    let makers = [("a-1", "Anthropic"), ("b-1", "Google"), ("c-1", "OpenAI")];
    let events = "[[events]]\nkind = \"swap\"\nmodel = \"a-1\"\nto = \"b-1\"\nstart = 3\n";
    let (out, out_dir) = demo_scenario(dir.path(), &scenario(52, 3, &makers, events));
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    let rows = claims(&out_dir);
    let night = |n: i64, m: &str| rows.iter().find(|r| r.0 == n && r.1 == m).cloned();
    assert_eq!(night(2, "a-1").map(|r| r.2), Some("Anthropic".to_owned()), "{rows:?}");
    assert_eq!(
        night(3, "a-1").map(|r| (r.2, r.3)),
        Some(("Google".into(), "claims_other_identity".into())),
        "{rows:?}"
    );
    let alerts = duckdb(
        &out_dir,
        &format!(
            "SELECT {NIGHT} AS night, scope, severity FROM read_parquet('{{out}}/alerts/*/*.parquet', hive_partitioning=true) WHERE rule = 'identity' ORDER BY ALL"
        ),
    );
    let alerts: Vec<(i64, String, String)> = alerts
        .into_iter()
        .map(|r| (r[0].as_i64().unwrap(), r[1].as_str().unwrap().to_owned(), r[2].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(alerts.len(), 1, "one identity alert, on the swap's night: {alerts:?}");
    assert_eq!((alerts[0].0, alerts[0].1.as_str()), (3, "model:a-1"), "{alerts:?}");
    assert_ne!(alerts[0].2, "info");
    // It opened an incident.
    let opened = scalar_i64(
        &out_dir,
        "SELECT count(*) FROM read_parquet('{out}/incidents/*/*.parquet') WHERE rule = 'identity' AND event = 'opened'",
    );
    assert_eq!(opened, 1);
}
