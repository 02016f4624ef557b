//! Watching over nights: trends against earlier runs, alerts in their table and in the exit
//! code, the webhook (received by a test server on 127.0.0.1, retried after a failure), the
//! Prometheus textfile, and no diversity alert when the instrument changes.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use hivewatch::sim::SimConfig;

/// A webhook receiver that answers 500 to its first `fail_first` posts, then 200.
struct Hook {
    _rt: tokio::runtime::Runtime,
    url: String,
    attempts: Arc<AtomicU32>,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Hook {
    fn start(fail_first: u32) -> Hook {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let attempts = Arc::new(AtomicU32::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (a, b) = (Arc::clone(&attempts), Arc::clone(&bodies));
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
                let (a, b) = (Arc::clone(&a), Arc::clone(&b));
                async move {
                    if a.fetch_add(1, Ordering::SeqCst) < fail_first {
                        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    b.lock().unwrap().push(body);
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = rt.block_on(tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))).unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Hook { _rt: rt, url, attempts, bodies }
    }
}

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
        "[sampling]\nseed = 5\n\n[alerts]\nwebhook_url_env = \"HW_TEST_WEBHOOK\"\ntextfile = {:?}\n{extra}",
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
    assert!(log.contains("effective_models fell"), "{log}");

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

    // The analysts' queries in reports/queries run against what these nights wrote.
    let query = |name: &str| -> Vec<Vec<serde_json::Value>> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/queries").join(name);
        let sql = std::fs::read_to_string(&path).unwrap().replace("'reports/", "'{out}/");
        duckdb(&reports, &sql)
    };
    let diversity = query("diversity_over_time.sql");
    assert_eq!(diversity.iter().filter(|r| r[3] == "effective_models").count(), 7, "{diversity:?}");
    let history = query("alert_history.sql");
    assert_eq!(history[0][0], "2026-01-07", "newest first");
    assert!(history.iter().any(|r| r[0] == "2026-01-05" && r[3] == "critical" && r[4] == "drop"), "{history:?}");
    let refusals = query("refusal_rates_by_model.sql");
    assert_eq!(refusals.len(), 6 * 7, "six models, seven nights");
    assert!(refusals.iter().all(|r| (0.0..=1.0).contains(&r[3].as_f64().unwrap())));
    let pairs = query("converging_pairs.sql");
    // Two embedders' latest runs, fifteen pairs each, the top twenty shown.
    assert_eq!(pairs.len(), 20, "{pairs:?}");
    assert!(pairs.iter().all(|p| p[0] == "2026-01-06" || p[0] == "2026-01-07"), "{pairs:?}");
    let drivers = query("probes_that_drove_a_drop.sql");
    assert!(!drivers.is_empty() && drivers.len() <= 20);
    let changes: Vec<f64> = drivers.iter().map(|r| r[5].as_f64().unwrap()).collect();
    assert!(changes.windows(2).all(|w| w[0] <= w[1]), "largest fall first: {changes:?}");
    let listed =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/queries")).unwrap().count();
    assert_eq!(listed, 5, "every query in reports/queries is run here");
}
