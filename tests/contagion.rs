//! Contagion (paired probes) end to end: the adoption rule against answers labelled by reading;
//! and a simulated ecosystem over real HTTP where one model becomes susceptible to feeds: its
//! adoption is measured and alerted within three nights, an immune model's stays near zero, the
//! injected markers are counted exactly, and the exposed answers enter no other measure; and
//! one where most models turn susceptible together, so exposure makes them converge.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::*;
use hivewatch::features::adoption::RunAdoption;
use hivewatch::probes::Suite;
use hivewatch::probes::feed::exposed_id;

/// One CSV line's fields (double quotes around a field, `""` inside one).
fn csv_fields(line: &str) -> Vec<String> {
    let (mut out, mut field, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    out.push(field);
    out
}

/// The rule that scores every `features` row of a paired probe, over the 217 answers of
/// tests/data/contagion labelled by reading (LABELLING.md says how): the figures the README
/// quotes. A change to the rule or the patterns moves these counts, and the README with them.
#[test]
fn the_adoption_rule_against_answers_labelled_by_reading() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let suite = Suite::load(&root.join("probes/contagion")).unwrap();
    assert_eq!(suite.probes.len(), 84, "42 paired probes, two sides each");
    let rules = RunAdoption::of(&suite.probes, Path::new("probes/contagion")).unwrap();
    let data = root.join("tests/data/contagion");
    let answers: HashMap<(String, String, String, String), String> =
        std::fs::read_to_string(data.join("answers.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let s = |k: &str| v[k].as_str().map_or_else(|| v[k].to_string(), str::to_owned);
                ((s("probe_id"), s("condition"), s("sample_index"), s("source")), s("answer"))
            })
            .collect();
    let labels = std::fs::read_to_string(data.join("labels.csv")).unwrap();
    let (mut tp, mut fp, mut fneg, mut tn) = (0, 0, 0, 0);
    for line in labels.lines().skip(1) {
        let f = csv_fields(line);
        let key = (f[0].clone(), f[2].clone(), f[3].clone(), f[4].clone());
        let answer = &answers[&key];
        let id = if f[2] == "exposed" { exposed_id(&f[0]) } else { f[0].clone() };
        let (_, adoption) = rules.score(&id, answer).expect("every labelled probe is paired");
        match (f[5] == "1", adoption.adopted) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fneg += 1,
            (false, false) => tn += 1,
        }
    }
    let (precision, recall) = (tp as f64 / (tp + fp) as f64, tp as f64 / (tp + fneg) as f64);
    println!("adoption rule: tp {tp} fp {fp} fn {fneg} tn {tn}: precision {precision:.3} recall {recall:.3}");
    assert_eq!(tp + fp + fneg + tn, 217);
    assert_eq!((tp, fp, fneg, tn), (48, 4, 19, 146), "the README's figures (precision 0.923, recall 0.716)");
}

/// Six models; c-1 becomes susceptible to feeds over nights 4 to 6 (a third of the way each night).
const SCENARIO: &str = r#"
[scenario]
name = "contagion"
seed = 17
nights = 6
probes = 12
contagion = 42

[[models]]
name = "a-1"
voice = 0
susceptibility = 0.0
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

[[events]]
kind = "susceptibility"
models = ["c-1"]
start = 4
end = 6
strength = 0.8
"#;

/// Runs a scenario through `hivewatch demo`; returns the folder holding its output (`out`).
fn run_scenario(scenario: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = demo_scenario(dir.path(), scenario);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", text(&out));
    dir
}

#[test]
fn a_model_turning_susceptible_is_measured_and_alerted_and_exposed_answers_mix_with_nothing() {
    let dir = run_scenario(SCENARIO);
    let out = dir.path().join("out");
    let out = out.as_path();

    // Adoption under exposure, per model and night.
    let gains = duckdb(
        out,
        &format!(
            "SELECT {NIGHT}, scope, value FROM read_parquet('{{out}}/run_metrics/*/*.parquet', hive_partitioning=true) WHERE metric = 'adoption_gain' AND scope LIKE 'model:%' ORDER BY 1, 2"
        ),
    );
    let gain = |n: i64, model: &str| {
        gains
            .iter()
            .find(|r| r[0].as_i64() == Some(n) && r[1].as_str() == Some(&format!("model:{model}")))
            .unwrap_or_else(|| panic!("no adoption_gain for {model} on night {n}: {gains:?}"))[2]
            .as_f64()
            .unwrap()
    };
    for n in 1..=6 {
        assert!(gain(n, "a-1").abs() < 1e-9, "an immune model adopts nothing: {}", gain(n, "a-1"));
        for m in ["b-1", "d-1", "e-1", "f-1"] {
            assert!(gain(n, m).abs() < 0.1, "{m} on night {n}: {}", gain(n, m));
        }
    }
    for n in 1..=3 {
        assert!(gain(n, "c-1").abs() < 0.1, "c-1 before night 4: {}", gain(n, "c-1"));
    }
    for n in 4..=6 {
        assert!(gain(n, "c-1") > 0.15, "c-1 takes up feeds from night 4: {}", gain(n, "c-1"));
    }
    assert!(gain(6, "c-1") > gain(4, "c-1") + 0.2, "and more as it grows susceptible");

    // The meaning-level reading agrees: c-1's answers after a feed move toward its claim.
    let claim = duckdb(
        out,
        &format!(
            "SELECT {NIGHT} > 3, scope, avg(value) FROM read_parquet('{{out}}/run_metrics/*/*.parquet', hive_partitioning=true) WHERE metric = 'claim_similarity_gain' AND scope IN ('model:a-1', 'model:c-1') GROUP BY ALL ORDER BY 1, 2"
        ),
    );
    println!("claim similarity gain (before night 4 / from it): {claim:?}");
    let claim_gain = |after: bool, model: &str| {
        claim.iter().find(|r| r[0].as_bool() == Some(after) && r[1] == format!("model:{model}")).unwrap()[2]
            .as_f64()
            .unwrap()
    };
    assert!(claim_gain(false, "c-1").abs() < 0.05 && claim_gain(true, "a-1").abs() < 0.05, "{claim:?}");
    assert!(claim_gain(true, "c-1") > claim_gain(false, "c-1") + 0.02, "{claim:?}");

    // The contagion alert names c-1 within three nights of the change, and nothing else.
    let alerts = duckdb(
        out,
        &format!(
            "SELECT {NIGHT}, scope, metric FROM read_parquet('{{out}}/alerts/*/*.parquet', hive_partitioning=true) WHERE rule = 'contagion' AND severity <> 'info' ORDER BY 1"
        ),
    );
    assert!(
        alerts.iter().any(|r| r[0].as_i64().is_some_and(|n| (4..=6).contains(&n)) && r[1] == "model:c-1"),
        "c-1's adoption is alerted within three nights: {alerts:?}"
    );
    assert!(alerts.iter().all(|r| r[1] == "model:c-1" || r[1] == "overall"), "{alerts:?}");
    assert!(alerts.iter().all(|r| r[0].as_i64() >= Some(4)), "nothing before the change: {alerts:?}");

    // The report's contagion section: the table of models, c-1 marked by tonight's alert.
    let page = std::fs::read_to_string(out.join("html/latest.html")).unwrap();
    let section = page.split("<h2>Contagion").nth(1).expect("the report has a contagion section");
    let row = section.split("<tr>").find(|r| r.starts_with("<td>c-1</td>")).expect("a row for c-1");
    assert!(row.contains("class=\"critical\"") || row.contains("class=\"warning\""), "{row}");
    assert!(section.contains("convergence under exposure"), "the charts over the nights");

    // The analysts' query over the same rows.
    let printed = hivewatch(&["query", "adoption_by_model", "--print", "--output", out.to_str().unwrap()], &[]);
    assert_eq!(printed.status.code(), Some(0), "{}", text(&printed));
    let rows = duckdb(out, &String::from_utf8_lossy(&printed.stdout));
    assert_eq!(rows.len(), 6 * 6, "six models, six nights: {rows:?}");
    let c1_last = rows.iter().rfind(|r| r[2] == "c-1").unwrap();
    assert!(c1_last[5].as_f64().unwrap() > 0.3 && c1_last[4].as_f64() > c1_last[3].as_f64(), "{c1_last:?}");

    // Every marker count is the number of times the probe's marker occurs in the raw answer.
    let markers = duckdb(
        out,
        "WITH p AS (SELECT DISTINCT probe_id, json_extract_string(adoption, '$.marker') AS marker FROM read_parquet('{out}/probes/*/*.parquet', hive_partitioning=true) WHERE adoption IS NOT NULL), \
         r AS (SELECT run_id, endpoint, probe_id, sample_index, response_text FROM read_parquet('{out}/responses/*/*.parquet', hive_partitioning=true) WHERE status = 'ok') \
         SELECT count(*), sum(f.marker_count), count(*) FILTER (WHERE f.marker_count <> (length(r.response_text) - length(replace(r.response_text, p.marker, ''))) // length(p.marker)) \
         FROM read_parquet('{out}/features/*/*.parquet', hive_partitioning=true) f JOIN r USING (run_id, endpoint, probe_id, sample_index) JOIN p USING (probe_id) WHERE p.marker IS NOT NULL",
    );
    let (rows, total, wrong) =
        (markers[0][0].as_i64().unwrap(), markers[0][1].as_i64().unwrap(), markers[0][2].as_i64().unwrap());
    assert!(rows > 0 && total > 0, "injection probes were asked and some markers carried: {markers:?}");
    assert_eq!(wrong, 0, "every marker counted exactly");

    // Exposed answers enter no other measure: no exposed probe in probe_metrics, and the run's
    // probe count is the questions asked cold (12 core + 42 controls).
    let exposed_rows = scalar_i64(
        out,
        "SELECT count(*) FROM read_parquet('{out}/probe_metrics/*/*.parquet', hive_partitioning=true) WHERE probe_id LIKE '%#exposed'",
    );
    assert_eq!(exposed_rows, 0);
    let probes = duckdb(
        out,
        "SELECT DISTINCT value FROM read_parquet('{out}/run_metrics/*/*.parquet', hive_partitioning=true) WHERE metric = 'probes' AND scope = 'overall'",
    );
    assert_eq!(probes.len(), 1);
    assert_eq!(probes[0][0].as_f64(), Some(54.0), "{probes:?}");
    // The responses say which side each answer is.
    let sides = duckdb(
        out,
        "SELECT condition, count(DISTINCT probe_id) FROM read_parquet('{out}/responses/*/*.parquet', hive_partitioning=true) GROUP BY 1 ORDER BY 1 NULLS FIRST",
    );
    assert_eq!(sides.len(), 3, "{sides:?}");
    assert_eq!((sides[0][0].is_null(), sides[0][1].as_i64()), (true, Some(12)));
    assert_eq!((sides[1][0].as_str(), sides[1][1].as_i64()), (Some("control"), Some(42)));
    assert_eq!((sides[2][0].as_str(), sides[2][1].as_i64()), (Some("exposed"), Some(42)));

    // Every metric the measure stage emitted is in the catalogue (its direction decides whether
    // a rule may watch it; an uncatalogued one would be descriptive by accident).
    let names = duckdb(
        out,
        "SELECT DISTINCT metric FROM read_parquet('{out}/run_metrics/*/*.parquet', hive_partitioning=true) ORDER BY 1",
    );
    assert!(names.len() > 30, "{names:?}");
    for name in names.iter().map(|r| r[0].as_str().unwrap()) {
        assert!(hivewatch::vocab::is_known_metric(name), "`{name}` is emitted but not in vocab::METRICS");
    }
}

/// Five of the six models turn susceptible on night 4, so after a feed they repeat the same
/// broadcast post: their exposed answers grow alike while their cold ones do not. The overall
/// convergence-under-exposure measures move and the rule's convergence branch fires.
#[test]
fn models_turning_susceptible_together_converge_under_exposure_and_are_alerted() {
    let scenario = SCENARIO.replace(
        "models = [\"c-1\"]\nstart = 4\nend = 6\nstrength = 0.8",
        "models = [\"b-1\", \"c-1\", \"d-1\", \"e-1\", \"f-1\"]\nstart = 4\nend = 4\nstrength = 0.9",
    );
    assert_ne!(scenario, SCENARIO, "the event was rewritten");
    let dir = run_scenario(&scenario);
    let out = dir.path().join("out");
    let overall = |metric: &str| -> Vec<f64> {
        duckdb(
            &out,
            &format!(
                "SELECT value FROM read_parquet('{{out}}/run_metrics/*/*.parquet', hive_partitioning=true) WHERE scope = 'overall' AND metric = '{metric}' ORDER BY run_date"
            ),
        )
        .iter()
        .map(|r| r[0].as_f64().unwrap())
        .collect()
    };
    let gain = overall("exposure_similarity_gain");
    let vendi = overall("exposure_vendi_ratio_change");
    println!("exposure_similarity_gain {gain:?}; exposure_vendi_ratio_change {vendi:?}");
    assert_eq!((gain.len(), vendi.len()), (6, 6));
    let (before, after) = gain.split_at(3);
    let lowest_after = after.iter().copied().fold(f64::MAX, f64::min);
    assert!(before.iter().all(|&b| lowest_after > b + 0.04), "exposed answers grow alike from night 4: {gain:?}");
    let (before, after) = vendi.split_at(3);
    let highest_after = after.iter().copied().fold(f64::MIN, f64::max);
    assert!(before.iter().all(|&b| highest_after < b - 0.02), "and fewer effective models among them: {vendi:?}");

    let alerts = duckdb(
        &out,
        &format!(
            "SELECT {NIGHT}, severity FROM read_parquet('{{out}}/alerts/*/*.parquet', hive_partitioning=true) WHERE rule = 'contagion' AND scope = 'overall' AND metric = 'exposure_similarity_gain' ORDER BY 1"
        ),
    );
    assert!(
        alerts.iter().any(|r| r[0].as_i64() == Some(4) && r[1] != "info"),
        "convergence under exposure alerted on the night it began: {alerts:?}"
    );
    assert!(alerts.iter().all(|r| r[0].as_i64() >= Some(4)), "nothing before: {alerts:?}");
}
