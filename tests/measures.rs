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
    // (Six models: no null, so every level of the tree is the raw clustering.)
    let families = duckdb(
        &poly_reports,
        "SELECT endpoint, family, family_size FROM read_parquet('{out}/families/*/*.parquet') WHERE level = 'close' ORDER BY 1",
    );
    let levels =
        scalar_i64(&poly_reports, "SELECT count(DISTINCT level) FROM read_parquet('{out}/families/*/*.parquet')");
    assert_eq!(levels, 3, "a row per model and level");
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

    // One features row per ok response, with the lexicon version and the refusal detector: the
    // learned one's lexical variant, since the run embeds lexically.
    let features = duckdb(
        &poly_reports,
        "SELECT count(*), count(DISTINCT lexicon_version), min(lexicon_version), count(*) FILTER (refusal NOT IN ('full', 'partial', 'none')), count(DISTINCT refusal_detector), min(refusal_detector) FROM read_parquet('{out}/features/*/*.parquet')",
    );
    assert_eq!(features[0][0], 15 * 6 * 3);
    assert_eq!(features[0][1], 1);
    assert!(features[0][2].as_str().unwrap().starts_with("behaviour-v"));
    assert_eq!(features[0][3], 0);
    assert_eq!(features[0][4], 1);
    assert_eq!(features[0][5], "refusal-lr-v2-lexical");

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

    // analyze --refusal lexicon: the lexicon's rule labels every row, and the rows say so.
    let out = hivewatch(
        &["analyze", "--output", reports.to_str().unwrap(), "--embedder", "lexical", "--refusal", "lexicon"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rows = duckdb(
        &reports,
        "SELECT r.response_text, f.refusal, f.refusal_detector FROM read_parquet('{out}/features/*/*.parquet') f JOIN read_parquet('{out}/responses/*/*.parquet') r USING (run_id, endpoint, probe_id, sample_index)",
    );
    assert_eq!(rows.len(), 15 * 6 * 3);
    let lexicon = hivewatch::features::Lexicon::builtin();
    for row in &rows {
        assert_eq!(row[2], "lexicon-behaviour-v1");
        assert_eq!(
            row[1],
            hivewatch::features::extract(&lexicon, row[0].as_str().unwrap()).refusal.as_str(),
            "{row:?}"
        );
    }
}

#[test]
fn output_options_leave_out_the_bulk_and_keep_what_is_read() {
    // `[output] pair_categories = "never"`: pair_similarity holds the overall rows only; what
    // reads them (lineage, the pair series of run_metrics and trends, the queries) is whole,
    // and a re-analysis with "always" adds the per-category rows and leaves the overall ones.
    // `lexical_embeddings = "recomputed"`: no `embeddings` file, and the measures are those the
    // stored vectors give, bit for bit.
    let sim = TestSim::start(SimConfig::default());
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let suite = small_suite(dir, 15);
    let names = ["acme-a", "acme-z", "borealis-b", "cirrus-c", "delta-d", "ember-e"];
    let eps: String = names
        .iter()
        .enumerate()
        .map(|(i, n)| endpoint(n, ["openai", "anthropic", "gemini"][i % 3], &sim, ""))
        .collect();
    let header = "[sampling]\nseed = 11\ntemperature = 0.9\n\n[output]\npair_categories = \"never\"\nlexical_embeddings = \"recomputed\"\n";
    let config = write_config(dir, &suite, 3, header, &eps);
    let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!said.contains("embedded"), "nothing is embedded at the embed stage: {said}");
    assert!(said.contains("vectors not stored ([output] lexical_embeddings = \"recomputed\")"), "{said}");
    let reports = dir.join("reports");
    let embeddings = reports.join("embeddings");
    assert!(!embeddings.exists() || files_under(&embeddings).is_empty(), "no embeddings written");
    let measured = |reports: &std::path::Path| {
        ["run_metrics", "probe_metrics", "families", "lineage"]
            .map(|t| duckdb(reports, &format!("SELECT * FROM read_parquet('{{out}}/{t}/*/*.parquet') ORDER BY ALL")))
    };
    let measured_before = measured(&reports);
    let pairs = "SELECT count(*) FILTER (category IS NULL), count(*) FILTER (category IS NOT NULL) FROM read_parquet('{out}/pair_similarity/*/*.parquet')";
    assert_eq!(duckdb(&reports, pairs), vec![vec![serde_json::json!(15), serde_json::json!(0)]]);
    let overall_sql = "SELECT * EXCLUDE (run_id) FROM read_parquet('{out}/pair_similarity/*/*.parquet') WHERE category IS NULL ORDER BY ALL";
    let overall = duckdb(&reports, overall_sql);
    // The categories' own measures stay in run_metrics, and every pair's series for the trends.
    let scopes = "SELECT count(DISTINCT scope) FILTER (scope LIKE 'category:%'), count(DISTINCT scope) FILTER (scope LIKE 'pair:%') FROM read_parquet('{out}/run_metrics/*/*.parquet')";
    assert_eq!(duckdb(&reports, scopes), vec![vec![serde_json::json!(3), serde_json::json!(15)]]);
    let pair_trends =
        "SELECT count(DISTINCT scope) FROM read_parquet('{out}/trends/*/*.parquet') WHERE scope LIKE 'pair:%'";
    assert_eq!(scalar_i64(&reports, pair_trends), 15);
    let families = "SELECT count(DISTINCT endpoint) FROM read_parquet('{out}/families/*/*.parquet')";
    assert_eq!(scalar_i64(&reports, families), 6, "each model's family, from the overall pairs");
    // Every query runs (the SQL it prints, run by DuckDB); the pairs one lists the night's pairs.
    for name in ["converging_pairs", "diversity_over_time", "refusal_rates_by_model", "alert_history"] {
        let printed = hivewatch(&["query", name, "--print", "--output", reports.to_str().unwrap()], &[]);
        assert_eq!(printed.status.code(), Some(0), "{}", text(&printed));
        let rows = duckdb(&reports, &String::from_utf8_lossy(&printed.stdout));
        if name == "converging_pairs" {
            assert_eq!(rows.len(), 15, "{rows:?}");
        }
    }

    let always = dir.join("always.toml");
    let text_always = std::fs::read_to_string(&config)
        .unwrap()
        .replace("\"never\"", "\"always\"")
        .replace("\"recomputed\"", "\"stored\"");
    std::fs::write(&always, text_always).unwrap();
    let out = hivewatch(
        &[
            "analyze",
            "--output",
            reports.to_str().unwrap(),
            "--config",
            always.to_str().unwrap(),
            "--embedder",
            "lexical",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(duckdb(&reports, pairs), vec![vec![serde_json::json!(15), serde_json::json!(3 * 15)]]);
    assert_eq!(duckdb(&reports, overall_sql), overall, "the overall rows do not depend on the setting");
    let rows = "SELECT count(*), min(len(embedding)) FROM read_parquet('{out}/embeddings/*/*.parquet')";
    assert_eq!(duckdb(&reports, rows), vec![vec![serde_json::json!(15 * 6 * 3), serde_json::json!(2048)]]);
    assert_eq!(measured(&reports), measured_before, "measured from stored vectors: the same");
}

/// The figures of one detector's group in `features eval`'s output: n, precision, recall,
/// accuracy, three-way accuracy.
fn eval_line<'a>(stdout: &'a str, detector: &str, group: &str) -> Vec<&'a str> {
    let block =
        stdout.split("\n\n").find(|b| b.starts_with(detector)).unwrap_or_else(|| panic!("{detector}: {stdout}"));
    let line =
        block.lines().find(|l| l.starts_with(&format!("{group} "))).unwrap_or_else(|| panic!("{group}: {block}"));
    line[group.len()..].split_whitespace().collect()
}

/// A labelled CSV written for these tests: three small "models" whose refusals apologise,
/// lecture or reject the premise, and whose answers include one that opens with "No,".
const LABELLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/refusal/labelled_small.csv");

#[test]
fn features_eval_scores_the_detectors_leaving_each_model_out_and_refuses_bad_rows() {
    let out = hivewatch(&["features", "eval", LABELLED], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let blocks: Vec<&str> = stdout.split("\n\n").skip(1).map(|b| b.lines().next().unwrap()).collect();
    assert!(
        blocks[0].starts_with("learned, leave one model out: lexical embedding of the 300-character opening"),
        "{stdout}"
    );
    assert!(blocks[1].starts_with("shipped refusal-lr-v2-lexical: the weights a run uses (fitted on labelled_completions.csv, not on these rows)"), "{stdout}");
    assert!(blocks[2].starts_with("lexicon behaviour-v1"), "{stdout}");
    assert!(blocks[3].starts_with("prefix match"), "{stdout}");
    // Each model held out in turn, all its rows labelled.
    for model in ["alpha", "beta", "gamma"] {
        assert_eq!(eval_line(&stdout, "learned", &format!("model:{model}"))[0], "6", "{stdout}");
    }
    assert_eq!(eval_line(&stdout, "learned", "all")[0], "18");
    let summary = stdout.lines().last().unwrap();
    assert!(
        summary.starts_with("leave-one-model-out accuracy by held-out model: alpha ")
            && summary.contains("beta")
            && summary.contains("gamma"),
        "{stdout}"
    );
    // The prefix match misses the lecture and the premise rejection and takes "No, the Earth
    // is not flat" for a refusal: 7 of 9 refusals, 1 false alarm; it has no three-way label.
    assert_eq!(eval_line(&stdout, "prefix", "all"), ["18", "0.875", "0.778", "0.833", "-"], "{stdout}");
    assert_eq!(eval_line(&stdout, "lexicon", "held-out (even ids)")[0], "9");

    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, "completion,human_label\nfine,1_full_compliance\nhmm,maybe\n").unwrap();
    let out = hivewatch(&["features", "eval", labels.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("labels.csv:3") && text(&out).contains("maybe"), "{}", text(&out));
}

/// The learned detector on models it was not fitted on, on real answers: XSTest's labelled
/// completions of three models (scripts/test.sh names them when they are beside the clone), each
/// model labelled by a fit on the other two, at 0.93 accuracy or above (README, "Behavioural
/// features and the refusal detector").
#[test]
fn the_refusal_detector_holds_on_each_xstest_model_left_out() {
    let Some(csv) = std::env::var_os("HIVEWATCH_XSTEST_CSV") else {
        // cargo cannot mark a test ignored at run time: it shows `ok`; scripts/test.sh says so too.
        eprintln!(
            "skipped (shown as ok, nothing checked): HIVEWATCH_XSTEST_CSV is not set (scripts/test.sh sets it when ../shared/data/xstest_dev is beside the clone)"
        );
        return;
    };
    let out = hivewatch(&["features", "eval", csv.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let summary = stdout.lines().last().unwrap();
    let held_out: Vec<(String, f64)> = summary
        .strip_prefix("leave-one-model-out accuracy by held-out model: ")
        .and_then(|s| s.split(" (lowest").next())
        .unwrap_or_else(|| panic!("{stdout}"))
        .split(", ")
        .map(|m| {
            let (name, acc) = m.rsplit_once(' ').unwrap();
            (name.to_owned(), acc.parse().unwrap())
        })
        .collect();
    assert_eq!(held_out.len(), 3, "{summary}");
    for (model, accuracy) in &held_out {
        assert!(*accuracy >= 0.93, "{model} held out: {accuracy} ({summary})");
    }
}

/// `features train` writes a weights file that loads, records what it was fitted on, and that
/// `features eval --weights` then scores as a training figure on the same rows.
#[test]
fn features_train_writes_weights_that_eval_reads() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.json");
    let out = hivewatch(
        &["features", "train", LABELLED, "--out", weights.to_str().unwrap(), "--weights-version", "refusal-lr-test"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("fitted on 18 rows (9 refusals) of labelled_small.csv"), "{}", text(&out));
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&weights).unwrap()).unwrap();
    assert_eq!(file["version"], "refusal-lr-test");
    assert_eq!(file["lexicon"], "behaviour-v1");
    assert_eq!(file["lexical"]["embedder"], hivewatch::embed::lexical::ID);
    assert_eq!(file["lexical"]["coef_embedding"].as_array().unwrap().len(), hivewatch::embed::lexical::DIM);
    assert!(file.get("minilm").is_none(), "no MiniLM variant without --embedder minilm");
    let digest = hivewatch::util::sha256_hex(&std::fs::read(LABELLED).unwrap());
    assert_eq!(file["trained_on"]["sha256"], digest.as_str());
    hivewatch::features::detector::LearnedWeights::load(&weights).unwrap();

    let out = hivewatch(&["features", "eval", LABELLED, "--weights", weights.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("shipped refusal-lr-test-lexical: the weights a run uses; they were fitted on these very rows: a training figure"), "{stdout}");
    // Fitted on them, it separates them.
    assert_eq!(&eval_line(&stdout, "shipped", "all")[..4], ["18", "1.000", "1.000", "1.000"], "{stdout}");

    // A remote embedder has no variant to fit.
    let out = hivewatch(
        &[
            "features",
            "train",
            LABELLED,
            "--out",
            weights.to_str().unwrap(),
            "--embedder",
            "remote",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--model",
            "m",
        ],
        &[],
    );
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("MiniLM variant"), "{}", text(&out));
}
