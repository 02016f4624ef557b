//! Watching over nights: trends against earlier runs, alerts in their table and in the exit
//! code, the webhook (received by a test server on 127.0.0.1, retried after a failure), the
//! Prometheus textfile, and no diversity alert when the instrument changes.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use hivewatch::sim::SimConfig;

const NAMES: [&str; 6] = ["acme-a", "borealis-b", "cirrus-c", "delta-d", "ember-e", "gala-g"];

fn night(
    dir: &std::path::Path,
    sim: &TestSim,
    suite: &std::path::Path,
    models: &[String],
    date: &str,
    hook: &Hook,
    extra: &str,
) -> (Option<i32>, String) {
    let eps: String = NAMES
        .iter()
        .zip(models)
        .map(|(name, model)| {
            endpoint(name, "openai", sim, "").replace(&format!("model = \"{name}\""), &format!("model = \"{model}\""))
        })
        .collect();
    let textfile = dir.join("hivewatch.prom");
    let alerts = format!(
        "[sampling]\nseed = 5\n\n[alerts]\nwebhook_url_env = \"HW_TEST_WEBHOOK\"\nreport_base_url = \"https://reports.example.org/hw\"\ntextfile = {:?}\n{extra}",
        textfile.display().to_string()
    );
    let config = write_config(dir, suite, 2, &alerts, &eps);
    let out = hivewatch(
        &["run", "--config", config.to_str().unwrap(), "--run-date", date],
        &[("HW_TEST_WEBHOOK", &hook.url)],
    );
    (out.status.code(), text(&out))
}

#[test]
fn a_monoculture_forming_raises_alerts_everywhere_and_a_new_suite_raises_none() {
    let sim = TestSim::start(SimConfig::default());
    let hook = Hook::start(1);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let suite = small_suite(dir, 12);
    let diverse: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
    for day in 1..=4 {
        let (code, log) = night(dir, &sim, &suite, &diverse, &format!("2026-01-0{day}"), &hook, "");
        assert_eq!(code, Some(0), "night {day}: {log}");
    }
    assert_eq!(hook.attempts.load(Ordering::SeqCst), 0, "nothing to tell on quiet nights");

    // Night 5: every endpoint now serves one family's model.
    let mono: Vec<String> = (0..6).map(|i| format!("acme-x{i}")).collect();
    let (code, log) = night(dir, &sim, &suite, &mono, "2026-01-05", &hook, "");
    assert_eq!(code, Some(1), "an alert is exit code 1: {log}");
    assert!(log.contains("effective number of models fell"), "{log}");
    // Issue 30, item 16: the lexical embedder keeps no cache, and the night says so.
    assert!(log.contains("keeps no cache") && !log.contains("the rest from the cache"), "{log}");

    let reports = dir.join("reports");
    let alerts = duckdb(
        &reports,
        "SELECT run_date, severity, rule, metric FROM read_parquet('{out}/alerts/*/*.parquet', hive_partitioning=true) WHERE severity <> 'info' ORDER BY ALL",
    );
    assert!(alerts.iter().all(|a| a[0] == "2026-01-05"), "only night 5 alerts: {alerts:?}");
    assert!(alerts.iter().any(|a| a[1] == "critical" && a[2] == "drop" && a[3] == "effective_models"), "{alerts:?}");
    let statuses = duckdb(
        &reports,
        "SELECT status, count(*) FROM read_parquet('{out}/trends/*/*.parquet', hive_partitioning=true) WHERE run_date = '2026-01-05' AND scope = 'overall' AND metric = 'effective_models' GROUP BY 1",
    );
    assert_eq!(statuses, vec![vec![serde_json::json!("alert"), serde_json::json!(1)]]);
    let baseline_n = scalar_i64(
        &reports,
        "SELECT baseline_n FROM read_parquet('{out}/trends/*/*.parquet', hive_partitioning=true) WHERE run_date = '2026-01-05' AND scope = 'overall' AND metric = 'effective_models'",
    );
    assert_eq!(baseline_n, 4);

    // The webhook: one failure, one retry, one message with text and blocks.
    assert!(wait_until(std::time::Duration::from_secs(5), || hook.bodies.lock().unwrap().len() == 1));
    assert_eq!(hook.attempts.load(Ordering::SeqCst), 2);
    let body = hook.bodies.lock().unwrap()[0].clone();
    assert!(body["text"].as_str().unwrap().contains("critical"), "{body}");
    assert!(body["blocks"].as_array().unwrap().len() >= 2, "{body}");
    assert!(!body.to_string().contains(&hook.url), "the webhook URL is a secret");
    // Issue 30, item 16: the message links the night's page under [alerts] report_base_url.
    let page = files_under(&reports.join("html/2026-01-05")).pop().unwrap();
    let link = format!("https://reports.example.org/hw/2026-01-05/{}", page.file_name().unwrap().to_str().unwrap());
    assert!(body.to_string().contains(&link), "{link} in {body}");

    // The textfile parses as Prometheus text.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/prom_parse.py");
    let out = std::process::Command::new(python()).arg(script).arg(dir.join("hivewatch.prom")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let families: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let critical = families["hivewatch_alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s[0]["severity"] == "critical")
        .map(|s| s[1].as_f64().unwrap())
        .unwrap();
    assert!(critical >= 1.0, "{families}");
    assert!(families["hivewatch_last_success_timestamp_seconds"][0][1].as_f64().unwrap() > 1.7e9);
    assert!(families["hivewatch_metric"].as_array().unwrap().iter().any(|s| s[0]["metric"] == "effective_models"));

    // Night 6: a new suite (the diverse models again) is a change of instrument: no
    // comparison with the nights before, no diversity alert.
    let other = small_suite(&dir.join("other"), 9);
    let (code, log) = night(dir, &sim, &other, &diverse, "2026-01-06", &hook, "");
    assert_eq!(code, Some(0), "{log}");
    let night6 = duckdb(
        &reports,
        "SELECT severity, rule FROM read_parquet('{out}/alerts/*/*.parquet', hive_partitioning=true) WHERE run_date = '2026-01-06'",
    );
    assert_eq!(night6, vec![vec![serde_json::json!("info"), serde_json::json!("instrument_change")]]);

    // Night 7: the same suite, now embedded by another embedder (the simulator's embeddings
    // API): also a change of instrument, not a drop.
    let remote =
        format!("\n[embed]\nembedder = \"remote\"\nbase_url = \"{}\"\nmodel = \"sim-embed\"\n", sim.openai_url());
    let (code, log) = night(dir, &sim, &other, &diverse, "2026-01-07", &hook, &remote);
    assert_eq!(code, Some(0), "{log}");
    let night7 = duckdb(
        &reports,
        "SELECT severity, rule FROM read_parquet('{out}/alerts/*/*.parquet', hive_partitioning=true) WHERE run_date = '2026-01-07'",
    );
    assert_eq!(night7, vec![vec![serde_json::json!("info"), serde_json::json!("instrument_change")]]);

    // The analysts' queries in reports/queries run against what these nights wrote, through
    // `hivewatch query` (the SQL it prints, run here by DuckDB so the rows can be checked).
    let query = |name: &str| -> Vec<Vec<serde_json::Value>> {
        let out = hivewatch(&["query", name, "--print", "--output", reports.to_str().unwrap()], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        duckdb(&reports, &String::from_utf8_lossy(&out.stdout))
    };
    let diversity = query("diversity_over_time");
    assert_eq!(diversity.iter().filter(|r| r[3] == "effective_models").count(), 7, "{diversity:?}");
    let history = query("alert_history");
    assert_eq!(history[0][0], "2026-01-07", "newest first");
    assert!(history.iter().any(|r| r[0] == "2026-01-05" && r[3] == "critical" && r[4] == "drop"), "{history:?}");
    let refusals = query("refusal_rates_by_model");
    assert_eq!(refusals.len(), 6 * 7, "six models, seven nights");
    assert!(refusals.iter().all(|r| (0.0..=1.0).contains(&r[3].as_f64().unwrap())));
    let pairs = query("converging_pairs");
    // Two embedders' latest runs, fifteen pairs each, the top twenty shown: one row per pair,
    // its similarity and its excess similarity side by side.
    assert_eq!(pairs.len(), 20, "{pairs:?}");
    assert!(pairs.iter().all(|p| p[0] == "2026-01-06" || p[0] == "2026-01-07"), "{pairs:?}");
    let distinct: std::collections::BTreeSet<String> = pairs.iter().map(|p| format!("{}{}", p[1], p[2])).collect();
    assert_eq!(distinct.len(), 20, "no pair twice: {pairs:?}");
    assert!(pairs.iter().all(|p| p[3].as_f64().unwrap() > p[4].as_f64().unwrap()), "similarity above its excess");
    assert!(pairs.iter().all(|p| p[1].as_str().unwrap().len() <= 16), "a short embedder id: {pairs:?}");
    let drivers = query("probes_that_drove_a_drop");
    assert!(!drivers.is_empty() && drivers.len() <= 20);
    let changes: Vec<f64> = drivers.iter().map(|r| r[5].as_f64().unwrap()).collect();
    assert!(changes.windows(2).all(|w| w[0] <= w[1]), "largest fall first: {changes:?}");
    let listed =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/queries")).unwrap().count();
    assert!(query("adoption_by_model").is_empty(), "no paired probes these nights (tests/contagion.rs has them)");
    assert!(query("claimed_identity").is_empty(), "no simulated model names a maker here (tests/identity.rs has them)");
    assert_eq!(listed, 7, "every query in reports/queries is run here");

    // Run through the DuckDB command line (scripts/test.sh installs it beside the Python).
    let cli = duckdb_cli();
    let out = hivewatch(
        &["query", "diversity_over_time", "--output", reports.to_str().unwrap()],
        &[("HIVEWATCH_DUCKDB", cli.to_str().unwrap())],
    );
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(printed.contains("effective_models") && printed.contains("lexical-"), "{printed}");
    assert!(!printed.contains("fnv1a64"), "the long embedder id is shortened: {printed}");
    // With no DuckDB: the SQL to paste, the output root bound, and how to install DuckDB.
    let empty = tempfile::tempdir().unwrap();
    let out = hivewatch(
        &["query", "alert_history", "--output", reports.to_str().unwrap()],
        &[("HIVEWATCH_DUCKDB", ""), ("PATH", empty.path().to_str().unwrap())],
    );
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(printed.contains("pip install duckdb-cli"), "{printed}");
    assert!(printed.contains(&format!("SET VARIABLE hivewatch_out = '{}';", reports.display())), "{printed}");
    let listed = hivewatch(&["query"], &[]);
    assert!(text(&listed).contains("converging_pairs"), "{}", text(&listed));

    // Issue 30, item 5: the command the report's footer prints works, exactly as printed.
    let page = std::fs::read_to_string(reports.join("html/latest.html")).unwrap();
    let footer = page.rsplit("<code>").next().unwrap().split("</code>").next().unwrap();
    let footer = footer.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&");
    assert!(footer.starts_with("hivewatch query"), "{footer}");
    let out = hivewatch(&footer.split_whitespace().skip(1).collect::<Vec<_>>(), &[]);
    assert_eq!(out.status.code(), Some(0), "{footer}: {}", text(&out));
    // Issue 30, item 16: each query's whole description in the list, not its first line.
    let said = String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    for entry in std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/queries")).unwrap() {
        let sql = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let lines = sql.lines().map_while(|l| l.strip_prefix("--")).map(str::trim);
        let description = lines.take_while(|l| !l.starts_with("Run it:")).collect::<Vec<_>>().join(" ");
        assert!(said.contains(&description), "{description:?} in {said}");
    }

    // Issue 30, item 16: --csv, to stdout or to a file, the same bytes.
    let root_arg = reports.to_str().unwrap();
    let with_duckdb = [("HIVEWATCH_DUCKDB", cli.to_str().unwrap())];
    let out = hivewatch(&["query", "diversity_over_time", "--output", root_arg, "--csv"], &with_duckdb);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "run_date,run_id,embedder,metric,value,ci_low,ci_high,n,n_models");
    assert_eq!(lines.len() - 1, diversity.len(), "{csv}");
    assert!(lines[1..].iter().all(|l| l.split(',').count() == 9), "{csv}");
    let file = dir.join("diversity.csv");
    let arg = format!("--csv={}", file.display());
    let out = hivewatch(&["query", "diversity_over_time", "--output", root_arg, &arg], &with_duckdb);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stdout.is_empty(), "the rows went to the file");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), csv);
    // No DuckDB: CSV is refused with how to install it (the SQL alone is --print).
    let out = hivewatch(
        &["query", "diversity_over_time", "--output", root_arg, "--csv"],
        &[("HIVEWATCH_DUCKDB", ""), ("PATH", empty.path().to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("pip install duckdb-cli"), "{}", text(&out));
}

/// One night on a panel of (endpoint, model) pairs, with its own sampling seed.
fn panel_night(
    dir: &std::path::Path,
    sim: &TestSim,
    suite: &std::path::Path,
    panel: &[(&str, &str)],
    date: &str,
    seed: u32,
) -> (Option<i32>, String) {
    let eps: String = panel
        .iter()
        .map(|(name, model)| {
            endpoint(name, "openai", sim, "").replace(&format!("model = \"{name}\""), &format!("model = \"{model}\""))
        })
        .collect();
    let config = write_config(dir, suite, 2, &format!("[sampling]\nseed = {seed}\n"), &eps);
    let out = hivewatch(&["run", "--config", config.to_str().unwrap(), "--run-date", date], &[]);
    (out.status.code(), text(&out))
}

#[test]
fn retiring_adding_or_swapping_a_model_raises_no_drop_and_a_real_drop_during_a_change_is_caught() {
    let sim = TestSim::start(SimConfig::default());
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let suite = small_suite(dir, 12);
    let reports = dir.join("reports");
    let five = [
        ("acme-a", "acme-a"),
        ("borealis-b", "borealis-b"),
        ("cirrus-c", "cirrus-c"),
        ("delta-chat", "delta-chat"),
        ("ember-e", "ember-e"),
    ];
    for day in 1..=6 {
        let (code, log) = panel_night(dir, &sim, &suite, &five, &format!("2026-03-0{day}"), day);
        assert_eq!(code, Some(0), "stable night {day}: {log}");
    }
    let paging = |date: &str| {
        duckdb(
            &reports,
            &format!(
                "SELECT rule, metric, message FROM read_parquet('{{out}}/alerts/*/*.parquet', hive_partitioning=true) WHERE run_date = '{date}' AND severity <> 'info'"
            ),
        )
    };
    let info = |date: &str| -> String {
        duckdb(
            &reports,
            &format!("SELECT message FROM read_parquet('{{out}}/alerts/*/*.parquet', hive_partitioning=true) WHERE run_date = '{date}' AND rule = 'panel_change'"),
        )
        .first()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .unwrap_or_default()
    };
    let judged = |date: &str| {
        duckdb(
            &reports,
            &format!("SELECT panel_models, full_value, full_models, value, baseline FROM read_parquet('{{out}}/trends/*/*.parquet', hive_partitioning=true) WHERE run_date = '{date}' AND scope = 'overall' AND metric = 'effective_models'"),
        )[0]
        .clone()
    };

    // Night 7: delta-chat retired. On all the models, effective_models would fall; judged on
    // the four that every night had, it does not.
    let four: Vec<(&str, &str)> = five.iter().copied().filter(|(n, _)| *n != "delta-chat").collect();
    let (code, log) = panel_night(dir, &sim, &suite, &four, "2026-03-07", 7);
    assert_eq!(code, Some(0), "retiring a model pages no one: {log}");
    assert!(paging("2026-03-07").is_empty(), "{:?}", paging("2026-03-07"));
    let said = info("2026-03-07");
    assert!(said.contains("5 -> 4 models: delta-chat missing"), "said in words: {said}");
    assert!(log.contains("5 -> 4 models: delta-chat missing"), "on stdout too: {log}");
    let row = judged("2026-03-07");
    assert_eq!(row[0], 4, "judged on four models: {row:?}");
    let full_baseline = duckdb(
        &reports,
        "SELECT median(value) FROM read_parquet('{out}/run_metrics/*/*.parquet', hive_partitioning=true) WHERE run_date < '2026-03-07' AND scope = 'overall' AND metric = 'effective_models'",
    )[0][0]
    .as_f64()
    .unwrap();
    let (tonight, baseline) = (row[3].as_f64().unwrap(), row[4].as_f64().unwrap());
    // The spread the CUSUM counted in on the last five-model night: the shift rule warns at 6.
    let spread = duckdb(
        &reports,
        "SELECT baseline_spread FROM read_parquet('{out}/trends/*/*.parquet', hive_partitioning=true) WHERE run_date = '2026-03-06' AND scope = 'overall' AND metric = 'effective_models'",
    )[0][0]
    .as_f64()
    .unwrap();
    assert!(
        (full_baseline - tonight) / spread > 6.0,
        "against the five-model baseline ({full_baseline:.3}, spread {spread:.4}) tonight's {tonight:.3} would be a shift"
    );
    assert!(((tonight - baseline) / baseline).abs() < 0.10, "the judged baseline {baseline:.3} matches {tonight:.3}");

    // Night 8: fjord-f added: judged on the four, its value on all five beside it.
    let mut added = four.clone();
    added.push(("fjord-f", "fjord-f"));
    let (code, log) = panel_night(dir, &sim, &suite, &added, "2026-03-08", 8);
    assert_eq!(code, Some(0), "adding a model pages no one: {log}");
    assert!(info("2026-03-08").contains("4 -> 5 models: fjord-f new"), "{}", info("2026-03-08"));
    let row = judged("2026-03-08");
    assert_eq!((row[0].as_i64(), row[2].as_i64()), (Some(4), Some(5)), "{row:?}");
    assert!(row[1].as_f64().is_some(), "the full panel's value beside the judged one: {row:?}");

    // Night 9: fjord-f swapped for another model of acme's family (a near copy of acme-a).
    let mut swapped = four.clone();
    swapped.push(("gala-g", "acme-g"));
    let (code, log) = panel_night(dir, &sim, &suite, &swapped, "2026-03-09", 9);
    assert_eq!(code, Some(0), "swapping a model pages no one: {log}");
    assert!(info("2026-03-09").contains("5 -> 5 models: fjord-f missing; gala-g new"), "{}", info("2026-03-09"));
    for date in ["2026-03-07", "2026-03-08", "2026-03-09"] {
        assert!(paging(date).is_empty(), "{date}: {:?}", paging(date));
    }

    // Night 10: another model joins while the four all turn into one family's copies: a real
    // drop during a panel change is still caught, on the models compared.
    let mut collapse: Vec<(&str, &str)> =
        vec![("acme-a", "acme-x0"), ("borealis-b", "acme-x1"), ("cirrus-c", "acme-x2"), ("ember-e", "acme-x3")];
    collapse.push(("hydra-h", "hydra-h"));
    let (code, log) = panel_night(dir, &sim, &suite, &collapse, "2026-03-10", 10);
    assert_eq!(code, Some(1), "the collapse pages: {log}");
    let raised = paging("2026-03-10");
    let drop = raised
        .iter()
        .find(|r| r[0] == "drop" && r[1] == "effective_models")
        .unwrap_or_else(|| panic!("a drop on effective_models: {raised:?}"));
    assert!(
        drop[2].as_str().unwrap().contains("on the 4 models tonight shares with its baseline (all 5 models tonight:"),
        "{drop:?}"
    );
}

/// A backfill (`run --run-date` before the first stored night) is a night like any other: the
/// later nights whose trend window holds it are judged again with it, so their baselines count
/// it, and no chart draws a change of instrument where nothing changed.
#[test]
fn a_backfilled_night_is_counted_by_the_later_nights_and_draws_no_change_of_instrument() {
    let sim = TestSim::start(SimConfig::default());
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let suite = small_suite(dir, 8);
    let reports = dir.join("reports");
    let panel = [("acme-a", "acme-a"), ("borealis-b", "borealis-b"), ("cirrus-c", "cirrus-c"), ("ember-e", "ember-e")];
    for day in 3..=5 {
        let (code, log) = panel_night(dir, &sim, &suite, &panel, &format!("2026-04-0{day}"), day);
        assert_eq!(code, Some(0), "night {day}: {log}");
        assert!(!log.contains("backfill"), "a night after the others is no backfill: {log}");
    }
    let baseline_n = |date: &str| {
        scalar_i64(
            &reports,
            &format!(
                "SELECT max(baseline_n) FROM read_parquet('{{out}}/trends/*/*.parquet', hive_partitioning=true) WHERE run_date = '{date}' AND scope = 'overall'"
            ),
        )
    };
    assert_eq!(baseline_n("2026-04-05"), 2, "two nights before the last");
    // Two earlier nights, oldest first, as an analyst backfills.
    for day in 1..=2 {
        let (code, log) = panel_night(dir, &sim, &suite, &panel, &format!("2026-04-0{day}"), day);
        assert_eq!(code, Some(0), "backfill {day}: {log}");
        assert!(log.contains("backfill: judged the 3 later night(s) from 2026-04-03 to 2026-04-05 again"), "{log}");
    }
    assert_eq!(baseline_n("2026-04-05"), 4, "the last night's baseline counts both backfilled nights");
    assert_eq!(baseline_n("2026-04-03"), 2, "so does the old first night's");
    let changes =
        scalar_i64(&reports, "SELECT count(*) FROM read_parquet('{out}/trends/*/*.parquet') WHERE instrument_change");
    assert_eq!(changes, 0, "suite, sampling and embedder never changed");
    let page = std::fs::read_to_string(reports.join("html/latest.html")).unwrap();
    assert!(page.contains("2026-04-05"), "latest.html still shows the latest night");
    assert!(!page.contains(r#"<line class="segment""#), "no change of instrument is drawn");
}
