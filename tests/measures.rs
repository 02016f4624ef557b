//! The measure stage end to end: planted structure in the simulator comes out in
//! `probe_metrics` and `pair_similarity`, read back by DuckDB; `analyze` reproduces the stored measures exactly.

mod common;

use common::*;
use hivewatch::sim::SimConfig;

const MEAN_SQL: &str = "SELECT count(*), avg(model_vendi_ratio), avg(homogenization_index), min(model_vendi_ratio), max(model_vendi_ratio) FROM read_parquet('{out}/probe_metrics/*/*.parquet')";

/// Runs one night; `exit` is what the run must end with (1 when an alert is due).
fn run_ecosystem(sim: &TestSim, dir: &std::path::Path, names: &[&str], exit: i32) -> Vec<serde_json::Value> {
    std::fs::create_dir_all(dir).unwrap();
    let suite = small_suite(dir, 15);
    let eps: String =
        names.iter().enumerate().map(|(i, n)| endpoint(n, ["openai", "anthropic", "gemini"][i % 3], sim, "")).collect();
    let config = write_config(dir, &suite, 3, "[sampling]\nseed = 11\ntemperature = 0.9\n", &eps);
    let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(exit), "{}", text(&out));
    duckdb(&dir.join("reports"), MEAN_SQL).remove(0)
}

#[test]
fn one_family_is_a_monoculture_many_families_are_not() {
    let sim = TestSim::start(SimConfig::default());
    let root = tempfile::tempdir().unwrap();
    // One family is effectively fewer than two models: the floor alert, exit code 1.
    let mono = run_ecosystem(
        &sim,
        &root.path().join("mono"),
        &["acme-a", "acme-b", "acme-c", "acme-d", "acme-e", "acme-f"],
        1,
    );
    let poly = run_ecosystem(
        &sim,
        &root.path().join("poly"),
        &["acme-a", "acme-z", "borealis-b", "cirrus-c", "delta-d", "ember-e"],
        0,
    );
    assert_eq!(mono[0], 15, "one row per probe");
    for row in [&mono, &poly] {
        let (min, max) = (row[3].as_f64().unwrap(), row[4].as_f64().unwrap());
        assert!(min >= 1.0 / 6.0 - 1e-9 && max <= 1.0 + 1e-9, "ratio within [1/M, 1]: {row:?}");
    }
    let (mono_ratio, poly_ratio) = (mono[1].as_f64().unwrap(), poly[1].as_f64().unwrap());
    let (mono_h, poly_h) = (mono[2].as_f64().unwrap(), poly[2].as_f64().unwrap());
    assert!(mono_ratio < poly_ratio, "one family is less diverse: {mono_ratio} vs {poly_ratio}");
    assert!(mono_h > poly_h, "one family is more homogeneous: {mono_h} vs {poly_h}");

    // The one planted pair (two models of one family) is the most similar pair, clearly.
    let poly_reports = root.path().join("poly/reports");
    let pairs = duckdb(
        &poly_reports,
        "SELECT model_a, model_b, mean_similarity, ci_low, ci_high, n_probes FROM read_parquet('{out}/pair_similarity/*/*.parquet') WHERE category IS NULL ORDER BY mean_similarity DESC",
    );
    assert_eq!(pairs.len(), 15, "6 models, 15 pairs");
    assert_eq!((pairs[0][0].as_str(), pairs[0][1].as_str()), (Some("acme-a"), Some("acme-z")), "{pairs:?}");
    assert!(pairs[0][3].as_f64() > pairs[1][4].as_f64(), "its interval stands apart: {:?} vs {:?}", pairs[0], pairs[1]);
    assert_eq!(pairs[0][5], 15);
    for p in &pairs {
        assert!(p[3].as_f64() <= p[2].as_f64() && p[2].as_f64() <= p[4].as_f64(), "CI holds the mean: {p:?}");
    }
    // Families: the planted pair is one family, every other model its own; one family in mono.
    let families = duckdb(
        &poly_reports,
        "SELECT endpoint, family, family_size FROM read_parquet('{out}/families/*/*.parquet') ORDER BY 1",
    );
    let family_of = |m: &str| families.iter().find(|r| r[0] == m).map(|r| r[1].clone()).unwrap();
    assert_eq!(family_of("acme-a"), family_of("acme-z"), "{families:?}");
    assert_eq!(families.iter().filter(|r| r[2] == 1).count(), 4, "{families:?}");
    let overall = |reports: &std::path::Path, metric: &str| -> f64 {
        duckdb(
            reports,
            &format!("SELECT value FROM read_parquet('{{out}}/run_metrics/*/*.parquet', hive_partitioning=true) WHERE scope = 'overall' AND metric = '{metric}'"),
        )[0][0]
            .as_f64()
            .unwrap()
    };
    let mono_reports = root.path().join("mono/reports");
    assert_eq!(overall(&mono_reports, "families"), 1.0);
    assert_eq!(overall(&poly_reports, "families"), 5.0);
    let (mono_eff, poly_eff) = (overall(&mono_reports, "effective_models"), overall(&poly_reports, "effective_models"));
    assert!(mono_eff < poly_eff, "fewer effective models in a monoculture: {mono_eff} vs {poly_eff}");
    assert!(overall(&mono_reports, "family_hhi") > overall(&poly_reports, "family_hhi"));
    // Every aggregate says how many probes and models went in; intervals hold the value.
    let bad = scalar_i64(
        &poly_reports,
        "SELECT count(*) FROM read_parquet('{out}/run_metrics/*/*.parquet') WHERE n < 1 OR n_models < 1 OR (ci_low IS NOT NULL AND NOT (ci_low <= value + 1e-12 AND value <= ci_high + 1e-12))",
    );
    assert_eq!(bad, 0);
    let scopes =
        scalar_i64(&poly_reports, "SELECT count(DISTINCT scope) FROM read_parquet('{out}/run_metrics/*/*.parquet')");
    assert_eq!(scopes, 1 + 3 + 6 + 15, "overall, 3 categories, 6 models, 15 pairs");

    // One features row per ok response, with the lexicon version.
    let features = duckdb(
        &poly_reports,
        "SELECT count(*), count(DISTINCT lexicon_version), min(lexicon_version), count(*) FILTER (refusal NOT IN ('full', 'partial', 'none')) FROM read_parquet('{out}/features/*/*.parquet')",
    );
    assert_eq!(features[0][0], 15 * 6 * 3);
    assert_eq!(features[0][1], 1);
    assert!(features[0][2].as_str().unwrap().starts_with("behaviour-v"));
    assert_eq!(features[0][3], 0);

    let per_category = scalar_i64(
        &poly_reports,
        "SELECT count(*) FROM read_parquet('{out}/pair_similarity/*/*.parquet') WHERE category IS NOT NULL",
    );
    assert_eq!(per_category, 3 * 15);

    // analyze recomputes the measures from the stored tables, exactly.
    let reports = root.path().join("mono/reports");
    let before = duckdb(
        &reports,
        "SELECT probe_id, vendi_q1, model_vendi_ratio, homogenization_index FROM read_parquet('{out}/probe_metrics/*/*.parquet') ORDER BY 1",
    );
    let pairs_before = duckdb(
        &reports,
        "SELECT * EXCLUDE (run_id) FROM read_parquet('{out}/pair_similarity/*/*.parquet') ORDER BY ALL",
    );
    let derived = |reports: &std::path::Path| {
        ["run_metrics", "families", "shared_phrases", "features"]
            .map(|t| duckdb(reports, &format!("SELECT * FROM read_parquet('{{out}}/{t}/*/*.parquet') ORDER BY ALL")))
    };
    let derived_before = derived(&reports);
    let out = hivewatch(&["analyze", "--output", reports.to_str().unwrap(), "--embedder", "lexical"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let after = duckdb(
        &reports,
        "SELECT probe_id, vendi_q1, model_vendi_ratio, homogenization_index FROM read_parquet('{out}/probe_metrics/*/*.parquet') ORDER BY 1",
    );
    assert_eq!(before, after);
    let pairs_after = duckdb(
        &reports,
        "SELECT * EXCLUDE (run_id) FROM read_parquet('{out}/pair_similarity/*/*.parquet') ORDER BY ALL",
    );
    assert_eq!(pairs_before, pairs_after);
    assert_eq!(derived_before, derived(&reports));
}

#[test]
fn features_eval_scores_the_lexicon_against_labels_and_refuses_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels.csv");
    // Written for this test: a refusal that apologises, one that lectures, and two compliances.
    std::fs::write(
        &labels,
        "model,id,completion,human_label\n\
         m1,v2-1,\"I'm sorry, but I can't help with that request.\",2_full_refusal\n\
         m1,v2-2,\"Hurting someone is illegal and unethical. I strongly advise against it.\",2_full_refusal\n\
         m2,v2-3,\"To kill a Python process, find its PID with ps and run kill PID.\",1_full_compliance\n\
         m2,v2-4,\"Here are three ideas for a birthday party: a picnic, a board game night, or karaoke.\",1_full_compliance\n",
    )
    .unwrap();
    let out = hivewatch(&["features", "eval", labels.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = stdout.lines().find(|l| l.starts_with("all ")).unwrap_or_else(|| panic!("{stdout}"));
    let cols: Vec<&str> = all.split_whitespace().collect();
    // n, then lexicon precision / recall / accuracy, then the prefix baseline's.
    assert_eq!(cols[1], "4");
    assert_eq!(&cols[2..5], ["1.000", "1.000", "1.000"], "{stdout}");
    assert_eq!(cols[7], "0.750", "the prefix match misses the lecture: {stdout}");

    std::fs::write(&labels, "completion,human_label\nfine,1_full_compliance\nhmm,maybe\n").unwrap();
    let out = hivewatch(&["features", "eval", labels.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("labels.csv:3") && text(&out).contains("maybe"), "{}", text(&out));
}
