//! Issue 16, "Hardening from a hostile run": hostile servers on 127.0.0.1 (redirects to another
//! host, absurd `Retry-After`, malformed and empty 200s, keys echoed at the cut, embedders that
//! change their vectors, HTML for model files, endless bodies), broken outputs, torn journals,
//! stale runs, signals, closed pipes. Each test failed before its fix; the "held" ones guard
//! what held.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use hivewatch::sim::SimConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "zq9-hostile-key-4b1d7e0c2a9f";

// -------------------------------------------------------------------------------------------
// A hostile HTTP server: raw HTTP/1.1 over TCP, so it can misbehave in ways a framework won't.

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The `model` of a JSON request body (OpenAI and Anthropic), or the model in a Gemini path.
    fn model(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["model"].as_str().map(str::to_owned))
            .or_else(|| self.path.split("/models/").nth(1).and_then(|m| m.split(':').next()).map(str::to_owned))
            .unwrap_or_default()
    }
}

/// How to answer.
enum Reply {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// 200 with a body that never ends.
    Endless,
    /// Headers, then one byte of body every 300 ms, forever.
    Slowloris,
    /// The reply after a pause.
    Later(Duration, Box<Reply>),
}

fn reply(status: u16, body: impl Into<Vec<u8>>) -> Reply {
    Reply::Full { status, headers: vec![("content-type".into(), "application/json".into())], body: body.into() }
}

fn with_header(r: Reply, name: &str, value: &str) -> Reply {
    match r {
        Reply::Full { status, mut headers, body } => {
            headers.push((name.into(), value.into()));
            Reply::Full { status, headers, body }
        }
        other => other,
    }
}

/// A correct chat answer in the protocol the path names.
fn chat_ok(seen: &Seen, text: &str) -> Reply {
    let body = if seen.path.ends_with("/v1/messages") {
        serde_json::json!({"content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 5}})
    } else if seen.path.contains(":generateContent") {
        serde_json::json!({"candidates": [{"content": {"parts": [{"text": text}]}, "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 5}})
    } else {
        serde_json::json!({"choices": [{"message": {"content": text}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 5}})
    };
    reply(200, body.to_string())
}

/// Embeddings of `dim` dimensions (never all zero), one per input.
fn embeddings(seen: &Seen, dim: usize) -> Reply {
    let inputs = serde_json::from_slice::<serde_json::Value>(&seen.body)
        .ok()
        .and_then(|v| v["input"].as_array().map(Vec::len))
        .unwrap_or(1);
    let data: Vec<serde_json::Value> = (0..inputs)
        .map(|i| {
            let v: Vec<f32> = (0..dim).map(|j| 1.0 + ((i * 7 + j * 3) % 11) as f32).collect();
            serde_json::json!({"index": i, "embedding": v})
        })
        .collect();
    reply(200, serde_json::json!({"data": data}).to_string())
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

struct Hostile {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    _rt: tokio::runtime::Runtime,
}

impl Hostile {
    /// Serves `handler(request, how many times this very request was seen before)`.
    fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Hostile {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::clone(&seen);
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (handler, log) = (Arc::clone(&handler), Arc::clone(&log));
                tokio::spawn(async move {
                    let _ = serve(stream, handler, log).await;
                });
            }
        });
        Hostile { url, seen, _rt: rt }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(
    mut stream: tokio::net::TcpStream,
    handler: Arc<Handler>,
    log: Arc<Mutex<Vec<Seen>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // One request: headers up to a blank line, then Content-Length bytes.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let path = lines.next().unwrap_or_default().split(' ').nth(1).unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> =
            lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        let seen = Seen { path, headers, body };
        let before = {
            let mut log = log.lock().unwrap();
            let before = log.iter().filter(|s| s.path == seen.path && s.body == seen.body).count();
            log.push(seen.clone());
            before
        };
        let mut r = handler(&seen, before);
        while let Reply::Later(pause, inner) = r {
            tokio::time::sleep(pause).await;
            r = *inner;
        }
        match r {
            Reply::Full { status, headers, body } => {
                let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                for (n, v) in headers {
                    out.push_str(&format!("{n}: {v}\r\n"));
                }
                out.push_str("\r\n");
                stream.write_all(out.as_bytes()).await?;
                stream.write_all(&body).await?;
            }
            Reply::Endless => {
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n[")
                    .await?;
                let block = vec![b' '; 64 * 1024];
                loop {
                    stream.write_all(&block).await?;
                }
            }
            Reply::Slowloris => {
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n")
                    .await?;
                loop {
                    stream.write_all(b" ").await?;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
            Reply::Later(..) => unreachable!(),
        }
    }
}

// -------------------------------------------------------------------------------------------
// Helpers.

/// `[[endpoints]]` for the hostile server: openai at `/v1`, the others at the root.
fn hostile_endpoint(name: &str, provider: &str, server: &str, extra: &str) -> String {
    let base = if provider == "openai" { format!("{server}/v1") } else { server.to_owned() };
    format!(
        "\n[[endpoints]]\nname = \"{name}\"\nprovider = \"{provider}\"\nbase_url = \"{base}\"\nmodel = \"{name}\"\n{extra}\n"
    )
}

fn reports(dir: &Path) -> PathBuf {
    dir.join("reports")
}

/// Every file under `dir` whose bytes hold `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    if !dir.exists() {
        return Vec::new();
    }
    files_under(dir)
        .into_iter()
        .filter(|f| std::fs::read(f).unwrap().windows(needle.len()).any(|w| w == needle.as_bytes()))
        .collect()
}

/// A pid that belonged to a process that has exited.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// A child process killed and reaped however the test ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn journal_lines(runs: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(runs) else { return 0 };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("journal.jsonl")).ok())
        .map(|t| t.lines().count())
        .sum()
}

// -------------------------------------------------------------------------------------------
// Security.

/// Item 1: an endpoint that redirects to another host: no request reaches that host (so no key
/// does), the rows say a redirect to another host was refused, and so does `endpoints check`
/// and the remote embedder.
#[test]
fn a_redirect_to_another_host_is_refused_for_every_provider() {
    let thief = Hostile::start(|seen, _| chat_ok(seen, "the other host's answer"));
    let target = thief.url.clone();
    let redirector =
        Hostile::start(move |seen, _| with_header(reply(307, "moved"), "location", &format!("{target}{}", seen.path)));
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 3);
    let key_env = "api_key_env = \"HW_HOSTILE_KEY\"\nmax_retries = 1";
    let eps: String = ["openai", "anthropic", "gemini"]
        .iter()
        .map(|p| hostile_endpoint(&format!("redirected-{p}"), p, &redirector.url, key_env))
        .collect();
    let config = write_config(dir.path(), &suite, 1, "", &eps);
    let env = [("HW_HOSTILE_KEY", KEY)];
    let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &env);
    let log = text(&out);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{log}");
    assert!(thief.seen().is_empty(), "the other host was sent {:?}", thief.seen());
    let asked = redirector.seen();
    assert_eq!(asked.len(), 9, "each request once: a refused redirect is not retried");
    for seen in &asked {
        let key = seen.header("x-api-key").or(seen.header("x-goog-api-key")).or(seen.header("authorization"));
        assert!(key.is_some_and(|k| k.ends_with(KEY)), "the key went to its own host only: {seen:?}");
    }

    let rows = duckdb(
        &reports(dir.path()),
        "SELECT provider, status, error_kind, http_status, error_message FROM read_parquet('{out}/responses/*/*.parquet') ORDER BY 1",
    );
    assert_eq!(rows.len(), 9);
    for r in &rows {
        assert_eq!(
            (r[1].as_str(), r[2].as_str(), r[3].as_i64()),
            (Some("error"), Some("redirect"), Some(307)),
            "{r:?}"
        );
        let message = r[4].as_str().unwrap();
        assert!(message.contains("refused a redirect to another host") && message.contains(&thief.url), "{message}");
    }
    assert!(files_holding(&reports(dir.path()), KEY).is_empty() && !log.contains(KEY));

    let check = hivewatch(&["endpoints", "check", "--config", config.to_str().unwrap()], &env);
    let said = text(&check);
    assert_eq!(check.status.code(), Some(hivewatch::exit::CHECK_FAILED), "{said}");
    assert_eq!(said.matches("FAILED").count(), 3, "{said}");
    assert!(said.contains("redirect: HTTP 307: refused a redirect to another host"), "{said}");
    assert!(thief.seen().is_empty());

    let mut embed = Command::new(BIN)
        .args(["embed", "--embedder", "remote", "--model", "m", "--api-key-env", "HW_HOSTILE_KEY", "--base-url"])
        .arg(format!("{}/v1", redirector.url))
        .env("HW_HOSTILE_KEY", KEY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    embed.stdin.take().unwrap().write_all(b"{\"text\": \"hello\"}\n").unwrap();
    let embed = embed.wait_with_output().unwrap();
    let said = text(&embed);
    assert_ne!(embed.status.code(), Some(0), "{said}");
    assert!(said.contains("refused a redirect to another host"), "{said}");
    assert!(thief.seen().is_empty() && !said.contains(KEY));
}

// -------------------------------------------------------------------------------------------
// Replies that used to crash a night, lose the provider's word, or pass as answers; and what held.

/// Items 2, 4 and 8, and what held (deep JSON, endless and slow bodies, invalid UTF-8): one run
/// against a server that answers each endpoint in its own hostile way. Nothing panics; each
/// endpoint's rows say what happened.
#[test]
fn hostile_replies_are_rows_with_their_reason_never_a_crash() {
    let leaky_body = format!("{}{KEY} was the key you sent", "e".repeat(590));
    let server = Hostile::start(move |seen, before| match seen.model().as_str() {
        // Item 4: on a 200 and on a 429, in both headers and several forms.
        "calm" => {
            with_header(with_header(chat_ok(seen, "calm answer"), "retry-after", "1e300"), "retry-after-ms", "1e300")
        }
        "limited" => with_header(reply(429, r#"{"error": {"message": "slow down"}}"#), "retry-after", "1e300"),
        "limited-int" => {
            with_header(reply(429, r#"{"error": {"message": "slow down"}}"#), "retry-after", "99999999999999999999999")
        }
        // Item 8: a proxy's HTML page first, then the answer.
        "flaky" if before == 0 => Reply::Full {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            body: b"<html><body>502 Bad Gateway</body></html>".to_vec(),
        },
        "flaky" => chat_ok(seen, "recovered answer"),
        "quota" => {
            reply(200, r#"{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota"}}"#)
        }
        "silent" => reply(200, r#"{"choices": [{"message": {"content": null}, "finish_reason": "content_filter"}]}"#),
        // Item 2: the key straddles byte 600 of an error body.
        "leaky" => reply(400, leaky_body.clone()),
        // What held.
        "deep" => reply(200, "[".repeat(100_000)),
        "endless" => Reply::Endless,
        "slowloris" => Reply::Slowloris,
        "badutf8" => reply(200, b"{\"choices\": [{\"message\": {\"content\": \"\xff\xfe\"}}]}".to_vec()),
        _ => reply(404, "unknown"),
    });
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 2);
    let names = [
        "calm",
        "limited",
        "limited-int",
        "flaky",
        "quota",
        "silent",
        "leaky",
        "deep",
        "endless",
        "slowloris",
        "badutf8",
    ];
    let limits = "api_key_env = \"HW_HOSTILE_KEY\"\ntimeout_s = 2\nmax_retries = 3\nmax_request_s = 30";
    let eps: String = names.iter().map(|n| hostile_endpoint(n, "openai", &server.url, limits)).collect();
    let config = write_config(dir.path(), &suite, 1, "max_concurrency = 32", &eps);
    let started = Instant::now();
    let out = hivewatch(&["-v", "run", "--config", config.to_str().unwrap()], &[("HW_HOSTILE_KEY", KEY)]);
    let log = text(&out);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(started.elapsed() < Duration::from_secs(120), "bounded: {:?}", started.elapsed());

    let rows = duckdb(
        &reports(dir.path()),
        "SELECT endpoint, any_value(status), any_value(coalesce(error_kind, '')), max(attempts), any_value(coalesce(error_message, response_text)) FROM read_parquet('{out}/responses/*/*.parquet') GROUP BY 1",
    );
    let row = |name: &str| rows.iter().find(|r| r[0] == name).unwrap_or_else(|| panic!("{name}: {rows:?}")).clone();
    let expect = |name: &str, status: &str, kind: &str| {
        let r = row(name);
        assert_eq!((r[1].as_str().unwrap(), r[2].as_str().unwrap()), (status, kind), "{name}: {r:?}");
        r
    };
    expect("calm", "ok", "");
    for name in ["limited", "limited-int"] {
        let r = expect(name, "error", "rate_limited");
        assert_eq!(r[3], 1, "a wait past the budget ends the request at once: {r:?}");
        assert!(r[4].as_str().unwrap().contains("would pass the request's budget"), "{r:?}");
    }
    let r = expect("flaky", "ok", "");
    assert_eq!(
        (r[3].as_i64(), r[4].as_str()),
        (Some(2), Some("recovered answer")),
        "a malformed 200 is retried: {r:?}"
    );
    let r = expect("quota", "error", "malformed");
    assert!(r[4].as_str().unwrap().contains("You exceeded your current quota"), "{r:?}");
    assert_eq!(r[3], 3, "malformed replies are retried twice, not max_retries times: {r:?}");
    let r = expect("silent", "error", "no_content");
    assert!(r[4].as_str().unwrap().contains("content_filter"), "{r:?}");
    expect("leaky", "error", "client_error");
    expect("deep", "error", "malformed");
    expect("endless", "error", "body_too_large");
    assert!(
        ["timeout", "deadline_exceeded"].contains(&row("slowloris")[2].as_str().unwrap()),
        "{:?}",
        row("slowloris")
    );
    expect("badutf8", "error", "malformed");

    // No part of the key (8 characters or more) anywhere: tables, journal, log.
    let part = &KEY[..8];
    assert!(files_holding(dir.path(), part).iter().all(|f| f.ends_with("hivewatch.toml")), "{part} kept");
    assert!(!log.contains(part), "{part} in the log");
}

// -------------------------------------------------------------------------------------------
// The remote embedder.

/// Item 6: a remote embedder that changes its vector length mid-run: a clear error (exit 3, not
/// a panic), nothing of it cached; the same command with a sane embedder then completes.
#[test]
fn an_embedder_that_changes_its_vector_length_fails_clearly_and_poisons_nothing() {
    let sim = TestSim::start(SimConfig::default());
    let sane = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let (s, c) = (Arc::clone(&sane), Arc::clone(&calls));
    let embedder = Hostile::start(move |seen, _| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        embeddings(seen, if s.load(Ordering::SeqCst) || n == 0 { 8 } else { 4 })
    });
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 40);
    let header = format!("\n[embed]\nembedder = \"remote\"\nbase_url = \"{}/v1\"\nmodel = \"e\"\n", embedder.url);
    let config = write_config(dir.path(), &suite, 2, &header, &endpoints(2, &sim, ""));
    let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(3), "{log}");
    assert!(log.contains("unusable vectors") && log.contains("dimensions"), "{log}");
    assert!(calls.load(Ordering::SeqCst) >= 2);
    let cache_dir = reports(dir.path()).join(".hivewatch/embed-cache");
    for f in files_under(&cache_dir) {
        assert!(std::fs::metadata(&f).unwrap().len() < 200, "nothing cached: {}", f.display());
    }

    sane.store(true, Ordering::SeqCst);
    let before = sim.requests();
    let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    assert!(text(&out).contains("resumed"), "{}", text(&out));
    assert_eq!(sim.requests(), before, "nothing sent again");
}

// -------------------------------------------------------------------------------------------
// Outputs, leftovers, journals, resumes, signals.

/// Item 18: an output that is a file or a dangling link is a configuration error (exit 2, with
/// a hint and the OS error once), for run, import and analyze alike.
#[test]
fn an_output_that_cannot_hold_tables_is_bad_input() {
    let sim = TestSim::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 2);
    let config = write_config(dir.path(), &suite, 1, "", &endpoints(1, &sim, ""));
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let link = dir.path().join("dangling");
    std::os::unix::fs::symlink(dir.path().join("unmounted/disk"), &link).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/examples/generic.jsonl");
    for output in [&file, &link] {
        let o = output.to_str().unwrap();
        for args in [
            vec!["run", "--config", config.to_str().unwrap(), "--output", o],
            vec!["import", "--format", "jsonl", example.to_str().unwrap(), "--output", o],
            vec!["analyze", "--output", o],
        ] {
            let out = hivewatch(&args, &[]);
            let said = text(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
            assert!(said.contains("cannot be used") && said.contains("hint:"), "{args:?}: {said}");
            assert!(!said.contains("rerun") && !said.contains("resume"), "{said}");
            for os in ["os error 17", "os error 20", "os error 2)"] {
                assert!(said.matches(os).count() <= 1, "the OS error twice: {said}");
            }
        }
    }
    assert_eq!(sim.requests(), 0, "nothing sent");
}

/// Writes an unfinished run of `plan` on `date` into `output` with `journal` as its journal,
/// as a killed run leaves it; returns its id.
fn unfinished_run(config: &Path, date: &str, journal: &[u8]) -> String {
    let cfg = hivewatch::config::Config::load(config).unwrap();
    let suite = cfg.load_suite().unwrap();
    let output = hivewatch::store::Output::local(cfg.output.dir().expect("a folder output"));
    let plan = hivewatch::plan::Plan::new(cfg, suite);
    let started_at = chrono::Utc::now() - chrono::Duration::days(3);
    let state = hivewatch::collect::journal::RunState {
        run_id: format!("20251101T020000Z-{}-beef", &plan.fingerprint[..8]),
        fingerprint: plan.fingerprint.clone(),
        run_date: date.parse().unwrap(),
        started_at,
        finished_at: None,
        config_hash: plan.config_hash.clone(),
        suite_id: plan.suite.id.clone(),
        tool_version: "0.1.0".into(),
        status: hivewatch::collect::journal::RunStatus::Collecting,
        measured: Some(plan.measured.clone()),
    };
    let dir = hivewatch::collect::journal::RunDir::create(&output, &state).unwrap();
    std::fs::write(dir.journal_path(), journal).unwrap();
    state.run_id
}

/// A journal line for (endpoint, probe, sample), as collection writes it.
fn journal_line(endpoint: &str, probe: &str, sample: u32) -> String {
    let now = chrono::Utc::now();
    let record = hivewatch::collect::ResponseRecord {
        endpoint: endpoint.into(),
        probe_id: probe.into(),
        sample_index: sample,
        params: hivewatch::plan::SentParams { temperature: Some(0.7), top_p: None, max_tokens: 512, seed: None },
        status: hivewatch::collect::Status::Ok,
        error_kind: None,
        error_message: None,
        http_status: Some(200),
        attempts: 1,
        latency_ms: 1,
        elapsed_ms: 1,
        prompt_tokens: None,
        completion_tokens: None,
        finish_reason: Some("stop".into()),
        text: Some(format!("journaled answer of {endpoint} to {probe}, sample {sample}")),
        text_truncated: false,
        started_at: now,
        finished_at: now,
    };
    format!("{}\n", serde_json::to_string(&record).unwrap())
}

/// Item 14: a journal with a torn middle line (a power cut) is recovered with a warning, and
/// the temporary files and scratch folders killed processes left are removed on start (those
/// of a live process kept).
#[test]
fn a_torn_journal_line_is_skipped_and_leftovers_of_dead_processes_removed() {
    let sim = TestSim::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 5);
    let eps = endpoint("acme-m0", "openai", &sim, "");
    let config = write_config(dir.path(), &suite, 2, "", &eps);
    let journal = [
        journal_line("acme-m0", "p-000", 0),
        "{\"endpoint\":\"acme-m0\",\"probe_id\":\"p-0\u{0}\u{0}\u{0}\u{0}\n".into(),
        journal_line("acme-m0", "p-001", 1),
    ]
    .concat();
    let run_id = unfinished_run(&config, "2025-11-01", journal.as_bytes());

    let out = reports(dir.path());
    let partition = out.join("responses/run_date=2025-11-01");
    std::fs::create_dir_all(&partition).unwrap();
    let (dead, me) = (dead_pid(), std::process::id());
    let dead_tmp = partition.join(format!(".{run_id}.parquet.tmp-{dead}"));
    let live_tmp = partition.join(format!(".other.parquet.tmp-{me}"));
    let dead_spill = out.join(format!(".hivewatch/tmp/spill-{dead}-x1y2"));
    std::fs::create_dir_all(&dead_spill).unwrap();
    for f in [&dead_tmp, &live_tmp, &dead_spill.join("part-03.bin")] {
        std::fs::write(f, vec![7u8; 4096]).unwrap();
    }

    let before = sim.requests();
    let run = hivewatch(&["run", "--config", config.to_str().unwrap(), "--run-date", "2025-11-01"], &[]);
    let log = text(&run);
    assert!(matches!(run.status.code(), Some(0 | 1)), "{log}");
    assert!(log.contains("resumed") && log.contains("does not parse"), "{log}");
    assert_eq!(sim.requests() - before, 10 - 2, "the two good lines are not sent again, the torn one is");
    let rows = duckdb(
        &out,
        "SELECT count(*), count(DISTINCT (probe_id, sample_index)), min(run_id) FROM read_parquet('{out}/responses/*/*.parquet')",
    );
    assert_eq!((rows[0][0].as_i64(), rows[0][1].as_i64()), (Some(10), Some(10)), "{rows:?}");
    assert_eq!(rows[0][2], run_id.as_str());
    assert!(!dead_tmp.exists() && !dead_spill.exists(), "leftovers of a dead process removed");
    assert!(live_tmp.exists(), "a live process's file kept");

    // A journal that is mostly garbage cannot be recovered: the error says how to start over.
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 5);
    let config = write_config(dir.path(), &suite, 2, "", &eps);
    unfinished_run(&config, "2025-11-01", b"garbage\nmore garbage\n{}\n");
    let run = hivewatch(&["run", "--config", config.to_str().unwrap(), "--run-date", "2025-11-01"], &[]);
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    assert!(text(&run).contains("--fresh"), "{}", text(&run));
}

/// Item 10: an unfinished run of another night is reported, never continued under tonight's
/// date; asking for its date finishes it.
#[test]
fn an_unfinished_run_of_another_night_is_reported_not_continued() {
    let sim = TestSim::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 4);
    let config = write_config(dir.path(), &suite, 1, "", &endpoint("acme-m0", "openai", &sim, ""));
    let stale = unfinished_run(&config, "2025-11-01", journal_line("acme-m0", "p-000", 0).as_bytes());

    let tonight = hivewatch(&["run", "--config", config.to_str().unwrap(), "--run-date", "2025-11-02"], &[]);
    let log = text(&tonight);
    assert!(matches!(tonight.status.code(), Some(0 | 1)), "{log}");
    assert!(!log.contains("resumed"), "{log}");
    assert!(log.contains(&format!("run {stale} of 2025-11-01 was left unfinished")), "{log}");
    assert!(log.contains("--run-date 2025-11-01"), "the command that finishes it: {log}");
    let runs = duckdb(
        &reports(dir.path()),
        "SELECT run_date::VARCHAR, run_id, planned FROM read_parquet('{out}/runs/*/*.parquet', hive_partitioning=true)",
    );
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0][0], "2025-11-02");
    assert_ne!(runs[0][1], stale.as_str());

    let finish = hivewatch(&["run", "--config", config.to_str().unwrap(), "--run-date", "2025-11-01"], &[]);
    let log = text(&finish);
    assert!(log.contains(&format!("run {stale} (2025-11-01), resumed")), "{log}");
    let runs = scalar_i64(&reports(dir.path()), "SELECT count(*) FROM read_parquet('{out}/runs/*/*.parquet')");
    assert_eq!(runs, 2);
}

/// Item 19: SIGTERM after collection, while the tail embeds (slowly): the process stops within
/// seconds (exit 3), no run is marked complete and no partial table is visible, and the same
/// command resumes without sending anything again.
#[test]
fn sigterm_after_collection_stops_the_run_cleanly_and_it_resumes() {
    let sim = TestSim::start(SimConfig::default());
    let slow = Arc::new(AtomicBool::new(true));
    let s = Arc::clone(&slow);
    let embedder = Hostile::start(move |seen, _| {
        let r = embeddings(seen, 8);
        if s.load(Ordering::SeqCst) { Reply::Later(Duration::from_secs(3), Box::new(r)) } else { r }
    });
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 40);
    let header = format!("\n[embed]\nembedder = \"remote\"\nbase_url = \"{}/v1\"\nmodel = \"e\"\n", embedder.url);
    let config = write_config(dir.path(), &suite, 2, &header, &endpoints(2, &sim, ""));
    let planned = 2 * 40 * 2;
    let mut child = Reaped(
        Command::new(BIN)
            .args(["run", "--config", config.to_str().unwrap()])
            .env("NO_PROXY", "127.0.0.1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let runs_dir = reports(dir.path()).join(".hivewatch/runs");
    assert!(wait_until(Duration::from_secs(60), || journal_lines(&runs_dir) >= planned), "collection did not finish");
    assert!(wait_until(Duration::from_secs(30), || !embedder.seen().is_empty()), "the tail did not start embedding");
    let signalled = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap().success());
    let mut exited = None;
    while signalled.elapsed() < Duration::from_secs(30) {
        if let Some(status) = child.0.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = exited.expect("SIGTERM was not honoured within 30 s");
    let mut log = String::new();
    child.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert_eq!(status.code(), Some(3), "{log}");
    assert!(signalled.elapsed() < Duration::from_secs(10), "stopped in {:?}", signalled.elapsed());
    assert!(log.contains("SIGTERM"), "{log}");
    let visible: Vec<PathBuf> = files_under(&reports(dir.path()))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .collect();
    // What collection wrote (the answers and the prompts asked), and nothing derived from them.
    let collected = ["responses", "probes"].map(|t| reports(dir.path()).join(t));
    assert!(visible.iter().all(|f| collected.iter().any(|c| f.starts_with(c))), "{visible:?}");
    assert!(!reports(dir.path()).join("runs").exists(), "the run is not complete");

    slow.store(false, Ordering::SeqCst);
    let before = sim.requests();
    let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    assert!(text(&out).contains("resumed"), "{}", text(&out));
    assert_eq!(sim.requests(), before, "nothing sent again");
    assert_eq!(scalar_i64(&reports(dir.path()), "SELECT count(*) FROM read_parquet('{out}/runs/*/*.parquet')"), 1);
}

// -------------------------------------------------------------------------------------------
// analyze and import.

/// Item 11: `analyze` and `import` judge runs by the configuration's rules (the ones `run`
/// recorded, or `--config`), say which, and never rewrite history with the built-in ones.
#[test]
fn analyze_and_import_judge_by_the_configured_rules_and_say_which() {
    let sim = TestSim::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 6);
    // One endpoint nothing answers: coverage 2/3, under the default guard of 0.9.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut eps = endpoints(2, &sim, "");
    eps.push_str(&format!(
        "\n[[endpoints]]\nname = \"gone\"\nprovider = \"openai\"\nbase_url = \"http://{closed}/v1\"\nmodel = \"gone\"\nmax_retries = 0\n"
    ));
    let rules = "\n[alerts]\nmin_coverage = 0.0\nfloor = { enabled = false }\n";
    let config = write_config(dir.path(), &suite, 2, rules, &eps);
    let out = reports(dir.path());
    let coverage_or_floor =
        "SELECT count(*) FROM read_parquet('{out}/alerts/*/*.parquet') WHERE rule IN ('coverage', 'floor')";
    let run = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    assert!(matches!(run.status.code(), Some(0 | 1)), "{}", text(&run));
    assert_eq!(scalar_i64(&out, coverage_or_floor), 0);

    let analyze = hivewatch(&["analyze", "--output", out.to_str().unwrap()], &[]);
    let said = text(&analyze);
    assert_eq!(analyze.status.code(), Some(0), "{said}");
    assert!(said.contains("alert rules: recorded by the last run") && said.contains("disabled: floor"), "{said}");
    assert_eq!(scalar_i64(&out, coverage_or_floor), 0, "history not rewritten with the built-in rules");

    // Another configuration, with the built-in rules: named, and used.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let defaults = write_config(&other, &suite, 2, "", &eps);
    let analyze =
        hivewatch(&["analyze", "--output", out.to_str().unwrap(), "--config", defaults.to_str().unwrap()], &[]);
    let said = text(&analyze);
    assert!(said.contains(&format!("alert rules: [alerts] of {}", defaults.display())), "{said}");
    assert!(said.contains("disabled: none"), "{said}");
    assert!(scalar_i64(&out, coverage_or_floor) > 0);

    // import: --config's rules; with none, the recorded ones; in a fresh output, the built-in.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/examples/generic.jsonl");
    let example = example.to_str().unwrap();
    let import = hivewatch(
        &[
            "import",
            "--format",
            "jsonl",
            example,
            "--output",
            out.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert!(text(&import).contains(&format!("alert rules: [alerts] of {}", config.display())), "{}", text(&import));
    let fresh = dir.path().join("fresh");
    let import = hivewatch(&["import", "--format", "jsonl", example, "--output", fresh.to_str().unwrap()], &[]);
    assert_eq!(import.status.code(), Some(0), "{}", text(&import));
    assert!(text(&import).contains("alert rules: the built-in ones"), "{}", text(&import));
}

/// Item 7: `import ... | head` and `analyze ... | head`: stdout closed at once; the work is
/// finished and the exit is quiet (no panic, exit 0).
#[test]
fn a_closed_stdout_is_no_error_for_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = reports(dir.path());
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/examples/generic.jsonl");
    let commands: [Vec<&str>; 2] = [
        vec!["import", "--format", "jsonl", example.to_str().unwrap(), "--output", out.to_str().unwrap()],
        vec!["analyze", "--output", out.to_str().unwrap()],
    ];
    for args in commands {
        let mut child = Command::new(BIN).args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take()); // the reader is gone before anything is printed
        let done = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    }
    let runs = duckdb(
        &out,
        "SELECT (SELECT count(*) FROM read_parquet('{out}/runs/*/*.parquet')), (SELECT count(*) FROM read_parquet('{out}/responses/*/*.parquet'))",
    );
    assert_eq!((runs[0][0].as_i64(), runs[0][1].as_i64()), (Some(2), Some(12)), "the import finished");
    let pages = std::fs::read_dir(out.join("html/2025-02-01")).map_or(0, |d| d.count());
    assert!(pages > 0 && out.join("html/latest.html").exists(), "the report was written");
}

// -------------------------------------------------------------------------------------------
// Hub downloads.

/// Item 15: a hub (or a proxy) answering an HTML login page, or an endless body: nothing that
/// looks fetched is kept, and the error says what came; a broken file already cached is named,
/// to be deleted.
#[test]
fn hub_downloads_are_capped_and_checked_before_they_count() {
    let endless = Arc::new(AtomicBool::new(false));
    let e = Arc::clone(&endless);
    let hub = Hostile::start(move |_, _| {
        if e.load(Ordering::SeqCst) {
            Reply::Endless
        } else {
            Reply::Full {
                status: 200,
                headers: vec![("content-type".into(), "text/html".into())],
                body: b"<!doctype html><html><body><form>Sign in to Hugging Face</form></body></html>".to_vec(),
            }
        }
    });
    let cache = tempfile::tempdir().unwrap();
    let env = [("HF_ENDPOINT", hub.url.as_str()), ("HIVEWATCH_MODEL_CACHE", cache.path().to_str().unwrap())];
    let args = ["embed", "--embedder", "minilm", "--hf-model", "acme/mini"];
    let embed = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(BIN);
        cmd.args(args).stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let folder = cache.path().join("acme--mini/main");
    let out = embed(&env);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("is not config.json") && said.contains("nothing was kept"), "{said}");
    assert!(!folder.join("config.json").exists(), "an HTML page does not count as fetched");
    assert!(files_under(cache.path()).is_empty(), "{:?}", files_under(cache.path()));

    endless.store(true, Ordering::SeqCst);
    let out = embed(&env);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("more than 1048576 bytes"), "{said}");
    assert!(files_under(cache.path()).is_empty(), "no part file left: {:?}", files_under(cache.path()));

    // Files saved by an older version that never checked them.
    std::fs::create_dir_all(&folder).unwrap();
    for f in hivewatch::embed::minilm::hub::FILES {
        std::fs::write(folder.join(f), "<html>Sign in</html>").unwrap();
    }
    let requests = hub.seen().len();
    let out = embed(&env);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains(&format!("delete {}", folder.join("config.json").display())), "{said}");
    assert_eq!(hub.seen().len(), requests, "nothing fetched");
}

// -------------------------------------------------------------------------------------------
// Configuration and suites.

/// Item 3: a URL or key pasted where a variable NAME goes is refused without being echoed; a
/// key holding a control character is refused before any request.
#[test]
fn secrets_pasted_as_names_and_keys_with_control_characters_are_refused_unechoed() {
    let sim = TestSim::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 2);
    let hook = "https://hooks.slack.com/services/T0000/B0000/XXXXsecretXXXX";
    for (header, secret) in [
        (format!("\n[alerts]\nwebhook_url_env = \"{hook}\"\n"), hook),
        ("\n[embed]\nembedder = \"remote\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"e\"\napi_key_env = \"sk-pasted-secret-0123456789\"\n".to_owned(), "sk-pasted-secret-0123456789"),
    ] {
        let config = write_config(dir.path(), &suite, 1, &header, &endpoints(1, &sim, ""));
        let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(said.contains("not an environment variable name") && !said.contains(secret), "{said}");
    }
    let config = write_config(dir.path(), &suite, 1, "", &endpoints(1, &sim, "api_key_env = \"HW_CTRL_KEY\""));
    let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &[("HW_CTRL_KEY", "sk-good-part\u{7}-rest")]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("HW_CTRL_KEY") && said.contains("control character") && !said.contains("sk-good-part"),
        "{said}"
    );
    assert_eq!(sim.requests(), 0, "refused before any request");
}

/// Item 16: a 100,000-probe suite in one file loads in linear time (it took 9 minutes when each
/// probe's line was found by rescanning the file). Bounded generously; the quadratic load
/// would take hours here.
#[test]
fn a_suite_of_100000_probes_in_one_file_loads_in_linear_time() {
    let mut probes = String::with_capacity(12 << 20);
    for i in 0..100_000 {
        probes.push_str(&format!(
            "[[probes]]\nid = \"p{i:06}\"\ncategory = \"c{}\"\nprompt = \"Question {i}?\"\n\n",
            i % 7
        ));
    }
    let files = vec![
        (PathBuf::from("big/suite.toml"), "[suite]\nname = \"big\"\nversion = \"1\"\n".to_owned()),
        (PathBuf::from("big/probes.toml"), probes),
    ];
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = Instant::now();
        let suite = hivewatch::probes::Suite::from_sources(Path::new("big"), files);
        let _ = tx.send((suite.map(|s| s.probes.len()).map_err(|e| e.to_string()), started.elapsed()));
    });
    let (loaded, took) =
        rx.recv_timeout(Duration::from_secs(120)).expect("a 100,000-probe suite loads within 2 minutes");
    assert_eq!(loaded, Ok(100_000), "{took:?}");
}

// -------------------------------------------------------------------------------------------
// Issue 26: the second round.

/// Starts `run` with `args`; kills it (SIGKILL) once `ready` holds; returns its stderr.
fn killed_when(args: &[&str], ready: impl Fn() -> bool) -> String {
    let mut child = Reaped(
        Command::new(BIN)
            .args(args)
            .env("NO_PROXY", "127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert!(wait_until(Duration::from_secs(90), &ready), "the run did not get there");
    unsafe { libc::kill(child.0.id() as i32, libc::SIGKILL) };
    child.0.wait().unwrap();
    let mut log = String::new();
    child.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    log
}

/// The run ids of a table's rows of one date, and how many rows.
fn rows_of(out: &Path, table: &str, date: &str) -> (Vec<String>, i64) {
    let sql = format!(
        "SELECT list(DISTINCT run_id ORDER BY run_id), count(*) FROM read_parquet('{{out}}/{table}/*/*.parquet', hive_partitioning=true) WHERE run_date = '{date}'"
    );
    let rows = duckdb(out, &sql);
    let ids = rows[0][0].as_array().map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect());
    (ids.unwrap_or_default(), rows[0][1].as_i64().unwrap_or(0))
}

/// Issue 26, item 3. Before: a run killed (SIGKILL) while its tail embedded left its
/// `responses` in the tables; `run --fresh` then wrote a second run beside it (twice the rows
/// for the same keys, two run ids, one `runs` row), and an unfinished run of another night kept
/// its files in the analysts' globs, the hint saying only to delete its state folder. Now a run
/// abandoned by `--fresh` goes whole, and a stale night's partial tables are taken out (its
/// journal kept, so `--run-date` still finishes it).
#[test]
fn a_run_abandoned_by_fresh_or_left_stale_leaves_no_table_behind() {
    let sim = TestSim::start(SimConfig::default());
    let slow = Arc::new(AtomicBool::new(true));
    let s = Arc::clone(&slow);
    let embedder = Hostile::start(move |seen, _| {
        let r = embeddings(seen, 8);
        if s.load(Ordering::SeqCst) && !String::from_utf8_lossy(&seen.body).contains("hivewatch checks") {
            Reply::Later(Duration::from_secs(30), Box::new(r))
        } else {
            r
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 10);
    let header = format!("\n[embed]\nembedder = \"remote\"\nbase_url = \"{}/v1\"\nmodel = \"e\"\n", embedder.url);
    let config = write_config(dir.path(), &suite, 2, &header, &endpoints(2, &sim, ""));
    let out = reports(dir.path());
    let c = config.to_str().unwrap();
    let collected = |date: &str| {
        let partition = out.join(format!("responses/run_date={date}"));
        move || !files_under_if_any(&partition).is_empty()
    };
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--config", c];
        all.extend(args);
        let o = hivewatch(&all, &[]);
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
        text(&o)
    };

    // Killed while embedding, then started afresh: one run's rows.
    killed_when(&["run", "--config", c, "--run-date", "2025-11-01"], collected("2025-11-01"));
    slow.store(false, Ordering::SeqCst);
    let log = run(&["--run-date", "2025-11-01", "--fresh"]);
    assert!(log.contains("abandoned the unfinished run"), "{log}");
    let (ids, rows) = rows_of(&out, "responses", "2025-11-01");
    assert_eq!((ids.len(), rows), (1, 40), "one run, each key once: {ids:?}");
    assert_eq!(rows_of(&out, "embeddings", "2025-11-01").0, ids);
    assert_eq!(rows_of(&out, "runs", "2025-11-01").0, ids);

    // Killed while embedding, then another night runs: the stale night's files are taken out of
    // the tables, and the message says all there is to do.
    slow.store(true, Ordering::SeqCst);
    killed_when(&["run", "--config", c, "--run-date", "2025-11-02"], collected("2025-11-02"));
    slow.store(false, Ordering::SeqCst);
    let log = run(&["--run-date", "2025-11-03"]);
    assert!(log.contains("of 2025-11-02 was left unfinished") && log.contains("taken out of the output"), "{log}");
    assert!(log.contains("--run-date 2025-11-02") && log.contains("or delete"), "{log}");
    assert_eq!(rows_of(&out, "responses", "2025-11-02"), (Vec::new(), 0), "nothing of the stale night in the tables");
    let before = sim.requests();
    let log = run(&["--run-date", "2025-11-02"]);
    assert!(log.contains("resumed"), "{log}");
    assert_eq!(sim.requests(), before, "finished from its journal");
    assert_eq!(rows_of(&out, "responses", "2025-11-02").1, 40);
    let runs = scalar_i64(&out, "SELECT count(*) FROM read_parquet('{out}/runs/*/*.parquet')");
    let responses = scalar_i64(&out, "SELECT count(*) FROM read_parquet('{out}/responses/*/*.parquet')");
    assert_eq!((runs, responses), (3, 120), "three nights, each key once");
}

fn files_under_if_any(dir: &Path) -> Vec<PathBuf> {
    if dir.exists() {
        files_under(dir).into_iter().filter(|f| f.extension().is_some_and(|e| e == "parquet")).collect()
    } else {
        Vec::new()
    }
}

/// Issue 26, item 7. Before: `run -c /dev/zero`, `import --models /dev/zero`, `analyze
/// --lexicon /dev/zero` and a JSONL import with an endless line read gigabytes in seconds. Now
/// each is refused (exit 2) naming the file and the cap, having read no more than the cap.
#[test]
fn endless_inputs_are_refused_with_their_name_and_cap() {
    let dir = tempfile::tempdir().unwrap();
    let out = reports(dir.path());
    let o = out.to_str().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/examples/generic.jsonl");
    let e = example.to_str().unwrap();
    for (args, cap) in [
        (vec!["run", "-c", "/dev/zero"], "16 MiB"),
        (vec!["import", "--format", "jsonl", e, "--models", "/dev/zero", "--output", o], "64 MiB"),
        (vec!["analyze", "--lexicon", "/dev/zero", "--output", o], "16 MiB"),
        (vec!["import", "--format", "jsonl", "/dev/zero", "--output", o], "64 MiB"),
        (vec!["import", "--format", "csv", "/dev/zero", "--output", o], "64 MiB"),
    ] {
        let started = Instant::now();
        let run = hivewatch(&args, &[]);
        let said = text(&run);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {said}");
        assert!(said.contains("/dev/zero") && said.contains(&format!("larger than {cap}")), "{args:?}: {said}");
        assert!(started.elapsed() < Duration::from_secs(60), "{args:?}: {:?}", started.elapsed());
    }
}

/// Issue 26, item 8: 40,000 model cards took 18.9 s to load (each card's line found by
/// rescanning the file); now one index of lines serves them all.
#[test]
fn model_cards_load_in_linear_time() {
    let mut cards = String::with_capacity(8 << 20);
    for i in 0..100_000 {
        cards.push_str(&format!(
            "[[models]]\nname = \"model-{i:06}\"\nvendor = \"v{}\"\nfamily = \"f{}\"\n\n",
            i % 7,
            i % 13
        ));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = Instant::now();
        let loaded = hivewatch::config::models::ModelCards::parse(Path::new("models.toml"), &cards);
        let _ =
            tx.send((loaded.map(|c| c.get("model-099999").is_some()).map_err(|e| e.to_string()), started.elapsed()));
    });
    let (loaded, took) = rx.recv_timeout(Duration::from_secs(120)).expect("100,000 cards load within 2 minutes");
    assert_eq!(loaded, Ok(true), "{took:?}");
}

/// Issue 26, item 9. Before: a remote embedder whose vectors legitimately changed length failed
/// every later night with exit 3 ("run the same command again"), against the vectors of its
/// cache. Now the length is part of the embedder's id: the next night is another embedder (its
/// own cache, a new baseline) and completes.
#[test]
fn a_remote_embedder_that_changes_its_dimension_is_a_new_embedder() {
    let sim = TestSim::start(SimConfig::default());
    let dim = Arc::new(AtomicUsize::new(8));
    let d = Arc::clone(&dim);
    let embedder = Hostile::start(move |seen, _| embeddings(seen, d.load(Ordering::SeqCst)));
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 6);
    let header = format!("\n[embed]\nembedder = \"remote\"\nbase_url = \"{}/v1\"\nmodel = \"e\"\n", embedder.url);
    let config = write_config(dir.path(), &suite, 2, &header, &endpoints(2, &sim, ""));
    for (date, d) in [("2025-11-01", 8), ("2025-11-02", 16)] {
        dim.store(d, Ordering::SeqCst);
        let o = hivewatch(&["run", "--config", config.to_str().unwrap(), "--run-date", date], &[]);
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    }
    let ids = duckdb(
        &reports(dir.path()),
        "SELECT run_date::VARCHAR, embedder_id FROM read_parquet('{out}/runs/*/*.parquet', hive_partitioning=true) ORDER BY 1",
    );
    assert!(ids[0][1].as_str().unwrap().ends_with("#e@8d"), "{ids:?}");
    assert!(ids[1][1].as_str().unwrap().ends_with("#e@16d"), "{ids:?}");
    let change = scalar_i64(
        &reports(dir.path()),
        "SELECT count(*) FROM read_parquet('{out}/alerts/*/*.parquet', hive_partitioning=true) WHERE run_date = '2025-11-02' AND rule = 'instrument_change'",
    );
    assert!(change > 0, "a new baseline starts, said as a change of instrument");
}

/// Issue 26, item 11. Before: `run --dry-run` passed where the real run then failed: an output
/// folder that cannot be written, a remote embedder that does not answer (the real run sent
/// every request, then failed at embedding). Now the dry run and `endpoints check` check both,
/// and the real run asks the embedder before any model request.
#[test]
fn a_dry_run_checks_the_output_folder_and_the_embedder() {
    let sim = TestSim::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 3);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let header = format!(
        "\n[embed]\nembedder = \"remote\"\nbase_url = \"http://{closed}/v1\"\nmodel = \"e\"\nmax_retries = 1\n"
    );
    let config = write_config(dir.path(), &suite, 1, &header, &endpoints(1, &sim, ""));
    let c = config.to_str().unwrap();
    let dry = hivewatch(&["run", "--config", c, "--dry-run"], &[]);
    assert_ne!(dry.status.code(), Some(0), "{}", text(&dry));
    assert!(text(&dry).contains("remote embeddings endpoint"), "{}", text(&dry));
    let check = hivewatch(&["endpoints", "check", "--config", c], &[]);
    let said = text(&check);
    assert_eq!(check.status.code(), Some(hivewatch::exit::CHECK_FAILED), "{said}");
    assert!(said.contains("(embedder)") && said.contains("FAILED"), "{said}");
    let before = sim.requests();
    let real = hivewatch(&["run", "--config", c], &[]);
    assert_ne!(real.status.code(), Some(0), "{}", text(&real));
    assert_eq!(sim.requests(), before, "no model request before the embedder answered");

    // An output that is a file: refused by the dry run and the check, as by the run.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let lexical = write_config(dir.path(), &suite, 1, "", &endpoints(1, &sim, ""));
    let text_cfg = std::fs::read_to_string(&lexical)
        .unwrap()
        .replace("output = \"reports\"", &format!("output = {:?}", file.display().to_string()));
    std::fs::write(&lexical, text_cfg).unwrap();
    let dry = hivewatch(&["run", "--config", lexical.to_str().unwrap(), "--dry-run"], &[]);
    assert_eq!(dry.status.code(), Some(2), "{}", text(&dry));
    assert!(text(&dry).contains("cannot be used"), "{}", text(&dry));
    let check = hivewatch(&["endpoints", "check", "--config", lexical.to_str().unwrap()], &[]);
    assert_eq!(check.status.code(), Some(hivewatch::exit::CHECK_FAILED), "{}", text(&check));
    assert!(text(&check).contains("(output)"), "{}", text(&check));
    // A usable one says so.
    std::fs::write(
        &lexical,
        std::fs::read_to_string(&lexical).unwrap().replace(
            &format!("{:?}", file.display().to_string()),
            &format!("{:?}", dir.path().join("fresh").display().to_string()),
        ),
    )
    .unwrap();
    let dry = hivewatch(&["run", "--config", lexical.to_str().unwrap(), "--dry-run"], &[]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    assert!(text(&dry).contains("fresh: writable") && text(&dry).contains("embedder lexical"), "{}", text(&dry));
    assert!(!dir.path().join("fresh").exists(), "a dry run creates nothing");
}

/// Issue 26, item 13, what was left of the first round: `demo | head -1` panicked on the
/// closed pipe; a corrupt state.json silently started a new run; the torn-journal warning came
/// three times; a number like 1e300 came back with 301 digits; a Hub mirror answering any JSON
/// object had it kept as config.json.
#[test]
fn the_leftovers_of_the_first_round() {
    // demo | head -1
    let dir = tempfile::tempdir().unwrap();
    let demo_out = dir.path().join("demo");
    let mut child = Command::new(BIN)
        .args(["demo", "--nights", "1", "--output", demo_out.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take()); // head -1 has read its line and gone
    let done = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");

    // A corrupt state.json is said, with what to do; a torn journal line is said once.
    let sim = TestSim::start(SimConfig::default());
    let suite = small_suite(dir.path(), 3);
    let config = write_config(dir.path(), &suite, 1, "", &endpoint("acme-m0", "openai", &sim, ""));
    let torn =
        [journal_line("acme-m0", "p-000", 0), "{\"endpoint\":\"acme\0\0\n".into(), journal_line("acme-m0", "p-001", 0)]
            .concat();
    unfinished_run(&config, "2025-11-01", torn.as_bytes());
    let broken_dir = reports(dir.path()).join(".hivewatch/runs/20251030T020000Z-0badc0de-0000");
    std::fs::create_dir_all(&broken_dir).unwrap();
    std::fs::write(broken_dir.join("state.json"), "{\"run_id\": \"20251").unwrap();
    let run = hivewatch(&["run", "--config", config.to_str().unwrap(), "--run-date", "2025-11-01"], &[]);
    let log = text(&run);
    assert!(matches!(run.status.code(), Some(0 | 1)), "{log}");
    assert!(
        log.contains("state.json: cannot be read") && log.contains(&format!("Delete {}", broken_dir.display())),
        "{log}"
    );
    assert_eq!(log.matches("does not parse").count(), 1, "said once: {log}");

    // 1e300 in the configuration comes back as 1e300.
    let config = write_config(
        dir.path(),
        &suite,
        1,
        "[sampling]\ntemperature = 1e300\n",
        &endpoint("acme-m0", "openai", &sim, ""),
    );
    let run = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(text(&run).contains("temperature 1e300 is outside") && !text(&run).contains("00000000"), "{}", text(&run));

    // A Hub mirror answering 200 with any JSON object.
    let hub = Hostile::start(|_, _| reply(200, r#"{"welcome": "to the mirror"}"#));
    let cache = tempfile::tempdir().unwrap();
    let embed = Command::new(BIN)
        .args(["embed", "--embedder", "minilm", "--hf-model", "acme/mini"])
        .env("HF_ENDPOINT", &hub.url)
        .env("HIVEWATCH_MODEL_CACHE", cache.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = text(&embed);
    assert_eq!(embed.status.code(), Some(2), "{said}");
    assert!(said.contains("not a BERT configuration") && said.contains("nothing was kept"), "{said}");
    assert!(files_under(cache.path()).is_empty(), "{:?}", files_under(cache.path()));
}

/// Issue 26, item 13: SIGTERM while the webhook hangs was ignored for about 30 s (the sinks ran
/// after the run's signal handling). Now a signal stops the sending at once; the night is
/// complete and its alerts are in their table.
#[test]
fn sigterm_while_the_webhook_hangs_stops_at_once() {
    let sim = TestSim::start(SimConfig::default());
    let hook = Hostile::start(|_, _| Reply::Later(Duration::from_secs(120), Box::new(reply(200, "ok"))));
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 4);
    // One endpoint nothing answers: coverage 1/2, the coverage alert pages.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut eps = endpoints(1, &sim, "");
    eps.push_str(&format!(
        "\n[[endpoints]]\nname = \"gone\"\nprovider = \"openai\"\nbase_url = \"http://{closed}/v1\"\nmodel = \"gone\"\nmax_retries = 0\n"
    ));
    let config = write_config(dir.path(), &suite, 1, "\n[alerts]\nwebhook_url_env = \"HW_HOOK\"\n", &eps);
    let mut child = Reaped(
        Command::new(BIN)
            .args(["run", "--config", config.to_str().unwrap()])
            .env("NO_PROXY", "127.0.0.1")
            .env("HW_HOOK", format!("{}/hook", hook.url))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert!(wait_until(Duration::from_secs(60), || !hook.seen().is_empty()), "the webhook was not called");
    let signalled = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap().success());
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(signalled.elapsed() < Duration::from_secs(20), "SIGTERM was not honoured");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    child.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(signalled.elapsed() < Duration::from_secs(5), "stopped in {:?}: {log}", signalled.elapsed());
    assert!(log.contains("SIGTERM: stopped sending the alerts"), "{log}");
    assert_eq!(status.code(), Some(1), "the night is complete and paged: {log}");
    assert_eq!(scalar_i64(&reports(dir.path()), "SELECT count(*) FROM read_parquet('{out}/runs/*/*.parquet')"), 1);
}
