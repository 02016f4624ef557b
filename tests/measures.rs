//! The measure stage end to end: planted structure in the simulator comes out in
//! `probe_metrics` and `pair_similarity`, read back by DuckDB; `analyze` reproduces the stored measures exactly.

mod common;

use common::*;
use hivewatch::sim::SimConfig;

const MEAN_SQL: &str = "SELECT count(*), avg(model_vendi_ratio), avg(homogenization_index), min(model_vendi_ratio), max(model_vendi_ratio) FROM read_parquet('{out}/probe_metrics/*/*.parquet')";

fn run_ecosystem(sim: &TestSim, dir: &std::path::Path, names: &[&str]) -> Vec<serde_json::Value> {
    std::fs::create_dir_all(dir).unwrap();
    let suite = small_suite(dir, 15);
    let eps: String =
        names.iter().enumerate().map(|(i, n)| endpoint(n, ["openai", "anthropic", "gemini"][i % 3], sim, "")).collect();
    let config = write_config(dir, &suite, 3, "[sampling]\nseed = 11\ntemperature = 0.9\n", &eps);
    let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    duckdb(&dir.join("reports"), MEAN_SQL).remove(0)
}

#[test]
fn one_family_is_a_monoculture_many_families_are_not() {
    let sim = TestSim::start(SimConfig::default());
    let root = tempfile::tempdir().unwrap();
    let mono =
        run_ecosystem(&sim, &root.path().join("mono"), &["acme-a", "acme-b", "acme-c", "acme-d", "acme-e", "acme-f"]);
    let poly = run_ecosystem(
        &sim,
        &root.path().join("poly"),
        &["acme-a", "acme-z", "cirrus-c", "delta-d", "ember-e", "fjord-f"],
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
}
