//! Collection end to end: the binary against the simulator over real HTTP on 127.0.0.1, the
//! tables read back by DuckDB.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hivewatch::sim::SimConfig;

const KEY: &str = "sk-sentinel-7f3a9c2e41d8b6a0";
const WRONG_KEY: &str = "sk-wrongsentinel-5e8d1c0b9a7f";

/// 21 endpoints over the three providers x probes/core x 2 samples: every planned row once;
/// the keys (right and wrong) appear in no file and no log line.
#[test]
fn many_endpoints_every_row_once_and_no_key_anywhere() {
    let sim = TestSim::start(SimConfig { api_key: Some(KEY.into()), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let mut eps = endpoints(21, &sim, "api_key_env = \"HW_TEST_KEY\"");
    // One endpoint with a wrong key: the simulator's 401 quotes it, as some providers do.
    eps.push_str(&endpoint("intruder-gemini", "gemini", &sim, "api_key_env = \"HW_WRONG_KEY\""));
    let config = write_config(dir.path(), &core_suite(), 2, "max_concurrency = 48\n\n[sampling]\nseed = 100\n", &eps);
    let out = hivewatch(
        &["-v", "run", "--config", config.to_str().unwrap()],
        &[("HW_TEST_KEY", KEY), ("HW_WRONG_KEY", WRONG_KEY)],
    );
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let reports = dir.path().join("reports");

    let probes = scalar_i64(
        &reports,
        "SELECT count(DISTINCT probe_id) FROM read_parquet('{out}/responses/*/*.parquet', hive_partitioning=true)",
    );
    assert!(probes >= 150);
    let rows = scalar_i64(
        &reports,
        "SELECT count(*) FROM read_parquet('{out}/responses/*/*.parquet', hive_partitioning=true)",
    );
    assert_eq!(rows, 22 * probes * 2);
    let distinct = scalar_i64(
        &reports,
        "SELECT count(*) FROM (SELECT DISTINCT endpoint, probe_id, sample_index FROM read_parquet('{out}/responses/*/*.parquet', hive_partitioning=true))",
    );
    assert_eq!(distinct, rows, "each (endpoint, probe, sample) exactly once");

    let by_status = duckdb(
        &reports,
        "SELECT endpoint = 'intruder-gemini' AS intruder, status, coalesce(error_kind, ''), count(*) FROM read_parquet('{out}/responses/*/*.parquet', hive_partitioning=true) GROUP BY ALL ORDER BY 1",
    );
    assert_eq!(by_status.len(), 2, "{by_status:?}");
    assert_eq!(by_status[0][1], "ok");
    assert_eq!(by_status[0][3].as_i64().unwrap(), 21 * probes * 2);
    assert_eq!(by_status[1][1], "error");
    assert_eq!(by_status[1][2], "auth");

    // All three providers answered, with tokens and finish reasons recorded.
    let providers = duckdb(
        &reports,
        "SELECT provider, count(*), min(completion_tokens), count(finish_reason), count(DISTINCT run_date) FROM read_parquet('{out}/responses/*/*.parquet', hive_partitioning=true) WHERE status = 'ok' GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(providers.iter().map(|r| r[0].as_str().unwrap()).collect::<Vec<_>>(), ["anthropic", "gemini", "openai"]);
    for r in &providers {
        assert!(r[2].as_i64().unwrap() > 0, "{r:?}");
        assert_eq!(r[1], r[3], "every ok row has a finish reason: {r:?}");
        assert_eq!(r[4], 1);
    }
    // The parameters actually sent: seeds differ per sample; Anthropic takes none.
    let seeds = duckdb(
        &reports,
        "SELECT provider, count(seed), count(DISTINCT seed), min(seed), min(temperature), min(max_tokens) FROM read_parquet('{out}/responses/*/*.parquet') GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(seeds[0][1], 0, "no seed recorded for anthropic: {seeds:?}");
    for r in &seeds[1..] {
        assert_eq!(r[2], 2, "sample i is sent seed 100 + i: {r:?}");
        assert_eq!(r[3], 100);
    }
    for r in &seeds {
        assert_eq!(r[4].as_f64(), Some(0.7), "default temperature recorded: {r:?}");
        assert_eq!(r[5], 512, "default max_tokens recorded: {r:?}");
    }

    let run = duckdb(
        &reports,
        "SELECT planned, ok, failed, coverage, suite_id, endpoints FROM read_parquet('{out}/runs/*/*.parquet', hive_partitioning=true)",
    );
    assert_eq!(run.len(), 1);
    assert_eq!(run[0][0].as_i64().unwrap(), rows);
    assert_eq!(run[0][1].as_i64().unwrap(), 21 * probes * 2);
    assert_eq!(run[0][5], 22);

    // No secret anywhere: not in any file under the output, not in the log.
    for file in files_under(&reports) {
        let bytes = std::fs::read(&file).unwrap();
        for key in [KEY, WRONG_KEY] {
            assert!(!bytes.windows(key.len()).any(|w| w == key.as_bytes()), "{key} found in {}", file.display());
        }
    }
    assert!(!log.contains(KEY) && !log.contains(WRONG_KEY), "a key leaked into the log");
    // ... yet the error was kept, redacted.
    let msg = duckdb(
        &reports,
        "SELECT any_value(error_message) FROM read_parquet('{out}/responses/*/*.parquet') WHERE status = 'error'",
    );
    assert!(msg[0][0].as_str().unwrap().contains("[REDACTED]"), "{msg:?}");
}

/// The fault mix: the run ends in bounded time, every key once, failures typed.
#[test]
fn faults_are_retried_and_failures_are_rows() {
    let sim = TestSim::start(SimConfig {
        faults: "429=0.2,500=0.1,malformed=0.05,hang=0.02,slow=0.1".parse().unwrap(),
        retry_after_s: 0.2,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 30);
    let limits = "[limits]\ntimeout_s = 2\nmax_retries = 3\nmax_request_s = 20\nmax_concurrency = 8\n";
    let config = write_config(dir.path(), &suite, 2, limits, &endpoints(6, &sim, ""));
    let started = Instant::now();
    let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A guard against a hang, not a speed target.
    assert!(elapsed < Duration::from_secs(180), "took {elapsed:?}");
    let reports = dir.path().join("reports");

    let rows = duckdb(
        &reports,
        "SELECT count(*), count(DISTINCT (endpoint, probe_id, sample_index)), sum((status = 'ok')::INT), max(attempts), sum((attempts > 1)::INT) FROM read_parquet('{out}/responses/*/*.parquet')",
    );
    let r = &rows[0];
    assert_eq!(r[0].as_i64().unwrap(), 6 * 30 * 2);
    assert_eq!(r[1], r[0], "each key exactly once");
    assert!(r[2].as_i64().unwrap() > 300, "most requests succeed after retries: {r:?}");
    assert!(r[3].as_i64().unwrap() >= 2 && r[3].as_i64().unwrap() <= 4, "attempts bounded by max_retries + 1: {r:?}");
    assert!(r[4].as_i64().unwrap() > 30, "faults caused retries: {r:?}");

    // Failures carry a kind that matches the injected faults; ok rows carry text.
    let kinds = duckdb(
        &reports,
        "SELECT DISTINCT error_kind FROM read_parquet('{out}/responses/*/*.parquet') WHERE status = 'error'",
    );
    for k in &kinds {
        let k = k[0].as_str().unwrap();
        assert!(["rate_limited", "server_error", "malformed", "timeout", "deadline_exceeded"].contains(&k), "{k}");
    }
    let bad_ok = scalar_i64(
        &reports,
        "SELECT count(*) FROM read_parquet('{out}/responses/*/*.parquet') WHERE status = 'ok' AND (response_text IS NULL OR length(response_text) = 0 OR error_kind IS NOT NULL)",
    );
    assert_eq!(bad_ok, 0);
    // A malformed reply is retried (at most twice), so of the 5% malformed replies few end a
    // request: about one of the 360 is expected (a malformed last attempt after three other
    // faults); issue 16 saw 7.6% (27 here) when they were final. The faults are random, so the
    // bound leaves room: above 10 is the old behaviour, not chance.
    let malformed = duckdb(
        &reports,
        "SELECT count(*) FILTER (error_kind = 'malformed'), count(*) FILTER (status = 'ok' AND attempts > 1) FROM read_parquet('{out}/responses/*/*.parquet')",
    );
    assert!(malformed[0][0].as_i64().unwrap() <= 10, "malformed replies were retried: {malformed:?}");
}

/// SIGKILL in the middle, then the same command: the same rows as an uninterrupted run, and
/// the requests already journaled are not sent again.
#[test]
fn sigkill_then_same_command_resumes_to_the_same_rows() {
    let sim = TestSim::start(SimConfig { latency: Duration::from_millis(15), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 40);
    let eps = endpoints(6, &sim, "");
    let header = "max_concurrency = 6\n\n[sampling]\nseed = 7\ntemperature = 0.9\n\n[limits]\nmax_concurrency = 1\n";
    let planned = 6 * 40 * 2;

    // The reference: one uninterrupted run.
    let ref_dir = dir.path().join("reference");
    std::fs::create_dir_all(&ref_dir).unwrap();
    let ref_config = write_config(&ref_dir, &suite, 2, header, &eps);
    let out = hivewatch(&["run", "--config", ref_config.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // The interrupted one.
    let run_dir = dir.path().join("killed");
    std::fs::create_dir_all(&run_dir).unwrap();
    let config = write_config(&run_dir, &suite, 2, header, &eps);
    let before = sim.requests();
    let mut child = Command::new(BIN)
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let runs = run_dir.join("reports/.hivewatch/runs");
    let journal_lines = || -> usize {
        let Ok(entries) = std::fs::read_dir(&runs) else { return 0 };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("journal.jsonl")).ok())
            .map(|t| t.lines().count())
            .sum()
    };
    assert!(wait_until(Duration::from_secs(60), || journal_lines() >= planned / 3), "the run made no progress");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Requests on the wire at the kill reach the simulator's count within its latency.
    std::thread::sleep(Duration::from_millis(300));
    let at_kill = sim.requests();
    let journaled = journal_lines();
    assert!(journaled < planned, "killed too late to test anything ({journaled} of {planned})");
    assert!(!run_dir.join("reports/responses").exists(), "no table before the run completes");

    let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("resumed"), "{}", text(&out));
    // Journaled requests were not sent again: the resumed night sends exactly the others (those
    // in flight at the kill, and outcomes still queued for the journal's writer, among them; a
    // line torn by the kill is cut off and its request sent again).
    let resent = sim.requests() - at_kill;
    let unjournaled = (planned - journaled) as u64;
    assert!(
        (unjournaled..=unjournaled + 1).contains(&resent),
        "sent {resent} again for {unjournaled} not journaled ({} in all for {planned} planned)",
        sim.requests() - before
    );

    let rows_sql = "SELECT endpoint, probe_id, sample_index, status, response_text FROM read_parquet('{out}/responses/*/*.parquet') ORDER BY 1, 2, 3";
    let resumed = duckdb(&run_dir.join("reports"), rows_sql);
    let reference = duckdb(&ref_dir.join("reports"), rows_sql);
    assert_eq!(resumed.len(), planned);
    let keys = |rows: &[Vec<serde_json::Value>]| rows.iter().map(|r| r[..3].to_vec()).collect::<Vec<_>>();
    assert_eq!(keys(&resumed), keys(&reference));
    // Seeded providers give the very same texts.
    let seeded = |rows: &[Vec<serde_json::Value>]| {
        rows.iter()
            .filter(|r| !r[0].as_str().unwrap().contains("borealis") && !r[0].as_str().unwrap().contains("ember"))
            .cloned()
            .collect::<Vec<_>>()
    };
    let (a, b) = (seeded(&resumed), seeded(&reference));
    let same = a.iter().zip(&b).filter(|(x, y)| x[4] == y[4]).count();
    assert!(same * 10 >= a.len() * 9, "seeded answers repeat: {same} of {}", a.len());
    // One run row, one run id.
    assert_eq!(
        scalar_i64(
            &run_dir.join("reports"),
            "SELECT count(DISTINCT run_id) FROM read_parquet('{out}/*/*/*.parquet', union_by_name=true)"
        ),
        1
    );
}

/// A second run on the same output while one is running refuses, with exit code 4.
#[test]
fn second_run_on_the_same_output_is_refused() {
    let sim = TestSim::start(SimConfig { latency: Duration::from_millis(50), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 30);
    let config = write_config(dir.path(), &suite, 2, "[limits]\nmax_concurrency = 1\n", &endpoints(2, &sim, ""));
    let mut first = Command::new(BIN)
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock_held =
        || std::fs::read_to_string(dir.path().join("reports/.hivewatch/lock")).is_ok_and(|t| t.contains("pid"));
    assert!(wait_until(Duration::from_secs(30), lock_held));
    let second = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(second.status.code(), Some(4), "{}", text(&second));
    assert!(text(&second).contains("another hivewatch run is writing to"), "{}", text(&second));
}

/// Killed mid-night, then run again with a changed configuration. Another temperature changes
/// what is measured: a new run starts, and stdout says so with the old journal's path (left
/// where it is). Other limits (rate, concurrency, timeouts, retries) change nothing measured:
/// the night resumes, and what its journal holds is not sent again.
#[test]
fn a_changed_rate_limit_resumes_the_night_and_a_changed_temperature_says_why_not() {
    let sim = TestSim::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 30);
    let eps = endpoints(4, &sim, "");
    let planned = 4 * 30 * 2;
    let config_with = |run: &str, limits: &str, temperature: f64| {
        let header = format!("{run}\n[sampling]\nseed = 7\ntemperature = {temperature}\n\n[limits]\n{limits}");
        write_config(dir.path(), &suite, 2, &header, &eps)
    };
    // 60 requests an endpoint at 10 a second: about 6 s.
    let config = config_with("", "requests_per_minute = 600\nmax_concurrency = 1\n", 0.9);
    let mut child = Command::new(BIN)
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let runs = dir.path().join("reports/.hivewatch/runs");
    let journals = || -> Vec<std::path::PathBuf> {
        let Ok(entries) = std::fs::read_dir(&runs) else { return Vec::new() };
        entries.filter_map(|e| Some(e.ok()?.path().join("journal.jsonl"))).filter(|p| p.is_file()).collect()
    };
    let journal_lines =
        || -> usize { journals().iter().map(|p| std::fs::read_to_string(p).unwrap_or_default().lines().count()).sum() };
    assert!(wait_until(Duration::from_secs(60), || journal_lines() >= planned / 4), "the run made no progress");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let journaled = journal_lines();
    assert!(journaled < planned, "killed too late to test anything ({journaled} of {planned})");
    let old_journal = journals().pop().unwrap();

    // What is measured changed: a new run, said on stdout, the old journal kept.
    let config = config_with("", "requests_per_minute = 60000\n", 0.5);
    let before = sim.requests();
    let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(", resumed"), "{stdout}");
    assert!(stdout.contains("note: an unfinished run"), "{stdout}");
    assert!(stdout.contains(&old_journal.display().to_string()), "{stdout}");
    assert!(stdout.contains("(changed: every endpoint: sampling)"), "{stdout}");
    assert_eq!(sim.requests() - before, planned as u64, "a new run sends everything");
    assert!(old_journal.is_file(), "the old journal stays");

    // Only limits changed from the killed run's configuration: it resumes.
    let limits =
        "requests_per_minute = 60000\nmax_concurrency = 8\ntimeout_s = 30\nmax_retries = 2\nmax_request_s = 100\n";
    let config = config_with("max_concurrency = 12", limits, 0.9);
    let before = sim.requests();
    let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(", resumed"), "{stdout}");
    assert!(!stdout.contains("note: an unfinished run"), "{stdout}");
    let sent = (sim.requests() - before) as usize;
    // What the journal held is not sent again (a line torn by the kill is sent once more).
    assert!(sent + journaled >= planned && sent + journaled <= planned + 1, "sent {sent}, journaled {journaled}");
    assert!(!old_journal.exists(), "the resumed run completed");
    let per_run = duckdb(
        &dir.path().join("reports"),
        "SELECT count(*) FROM read_parquet('{out}/responses/*/*.parquet') GROUP BY run_id ORDER BY 1",
    );
    assert_eq!(per_run, vec![vec![serde_json::json!(planned)], vec![serde_json::json!(planned)]]);
}
