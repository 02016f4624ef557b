//! A consortium's night against a real S3-compatible server on 127.0.0.1 (moto's server mode,
//! from the venv scripts/test.sh makes: `HIVEWATCH_S3_PYTHON`): three members, each with its own
//! configuration, simulator and key, publishing with `run --collect-only`; one coordinator
//! analysing the union; the lease refusing a second analysis; a member killed mid-collection
//! publishing once; DuckDB reading the tables from the server with hive partitioning (httpfs
//! from PyPI); and outputs that cannot work refused before any model request.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hivewatch::sim::SimConfig;
use serde_json::Value;

/// The Python with moto, boto3, DuckDB 1.4.4 and its httpfs extension.
fn s3_python() -> String {
    std::env::var("HIVEWATCH_S3_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/hivewatch-s3-venv/bin/python")
    })
}

fn tool() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/s3_tool.py")
}

/// moto's S3 server on a free port of 127.0.0.1; stopped on drop.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl S3Server {
    fn start(env: &[(&str, &str)]) -> S3Server {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = Command::new(s3_python());
        cmd.args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start moto with {} ({e}): run the tests with scripts/test.sh, which installs it",
                s3_python()
            )
        });
        let endpoint = format!("http://127.0.0.1:{port}");
        let up = wait_until(Duration::from_secs(30), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(up, "moto did not start on port {port}");
        S3Server { child, endpoint }
    }

    fn py(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let mut cmd = Command::new(s3_python());
        cmd.arg(tool()).arg(args[0]).arg(&self.endpoint).args(&args[1..]);
        cmd.env("AWS_ACCESS_KEY_ID", "test").env("AWS_SECRET_ACCESS_KEY", "test").env("NO_PROXY", "127.0.0.1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "s3_tool {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn bucket(&self, name: &str) {
        self.py(&["bucket", name], &[]);
    }

    /// Keys (and sizes) under a prefix.
    fn ls(&self, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
        let v: Vec<(String, u64)> = serde_json::from_str(&self.py(&["ls", bucket, prefix], &[])).unwrap();
        v
    }

    /// DuckDB over the server; `{root}` in the SQL is replaced by `root`.
    fn sql(&self, root: &str, sql: &str) -> Vec<Vec<Value>> {
        let sql = sql.replace("{root}", root);
        serde_json::from_str(&self.py(&["sql", &sql], &[])).unwrap()
    }

    /// What hivewatch needs in its environment to reach this server.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs hivewatch with `env` (pairs of owned values) on top of a clean AWS environment.
fn hw(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("NO_PROXY", "127.0.0.1").env_remove("RUST_LOG");
    for k in
        ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT", "AWS_REGION"]
    {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A member's folder: its configuration (output in the bucket, state beside it) and nothing else.
fn member_config(dir: &Path, suite: &Path, member: &str, url: &str, endpoints: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let header = format!("[consortium]\nmember = \"{member}\"\n");
    let path = write_config(dir, suite, 2, &header, endpoints);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("output = \"reports\"", &format!("output = \"{url}\"\nstate_dir = \"state\""));
    std::fs::write(&path, text).unwrap();
    path
}

fn coordinator_config(dir: &Path, suite: &Path, url: &str, members: &[&str]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let list = members.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ");
    let path = dir.join("coordinator.toml");
    std::fs::write(
        &path,
        format!(
            "[run]\nsuite = {:?}\noutput = \"{url}\"\nstate_dir = \"state\"\n\n[consortium]\nmembers = [{list}]\n",
            suite.display().to_string()
        ),
    )
    .unwrap();
    path
}

/// One simulator per member, each requiring that member's key.
fn keyed_sim(key: &str) -> TestSim {
    TestSim::start(SimConfig { api_key: Some(key.to_owned()), ..SimConfig::default() })
}

fn keyed_endpoints(names: &[&str], sim: &TestSim, key_var: &str) -> String {
    names.iter().map(|n| endpoint(n, "openai", sim, &format!("api_key_env = \"{key_var}\""))).collect()
}

const DATE: &str = "2026-01-05";

#[test]
fn three_members_publish_one_union_is_analysed_and_duckdb_reads_it_from_s3() {
    let s3 = S3Server::start(&[]);
    s3.bucket("hive");
    let url = "s3://hive/night";
    let root = tempfile::tempdir().unwrap();
    let suite = small_suite(root.path(), 12);

    // Three members, their own simulators and keys; lab-a and lab-b both name an endpoint
    // "acme-large": the union keeps them apart.
    let members = [
        ("lab-a", "LAB_A_KEY", "key-of-lab-a-1234567", vec!["acme-large", "borealis-small"]),
        ("lab-b", "LAB_B_KEY", "key-of-lab-b-1234567", vec!["acme-large", "cirrus-x"]),
        ("lab-c", "LAB_C_KEY", "key-of-lab-c-1234567", vec!["delta-y", "ember-z"]),
    ];
    let sims: Vec<TestSim> = members.iter().map(|(_, _, key, _)| keyed_sim(key)).collect();
    let configs: Vec<PathBuf> = members
        .iter()
        .zip(&sims)
        .map(|((m, var, _, eps), sim)| {
            member_config(&root.path().join(m), &suite, m, url, &keyed_endpoints(eps, sim, var))
        })
        .collect();
    let member_env = |i: usize| {
        let mut env = s3.env();
        env.push((members[i].1, members[i].2.to_owned()));
        env
    };
    let publish = |i: usize| {
        let out = hw(
            &["run", "--collect-only", "--config", configs[i].to_str().unwrap(), "--run-date", DATE],
            &member_env(i),
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        text(&out)
    };
    // A member's dry run checks the bucket too, and sends nothing.
    let dry = hw(&["run", "--collect-only", "--dry-run", "--config", configs[0].to_str().unwrap()], &member_env(0));
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    assert!(text(&dry).contains("output s3://hive/night: writable"), "{}", text(&dry));
    let log = publish(0);
    assert!(log.contains("published s3://hive/night/members/member=lab-a/runs/run_date=2026-01-05/"), "{log}");
    publish(1);
    // The member's night is its responses, the prompts it asked and its runs row, nothing in the
    // main tables.
    let lab_a = s3.ls("hive", "night/members/member=lab-a/");
    assert_eq!(lab_a.len(), 3, "{lab_a:?}");
    assert!(s3.ls("hive", "night/responses/").is_empty());

    // The coordinator holds no member key. Before lab-c publishes it analyses two of three,
    // says who is missing, and judges no diversity.
    let coordinator = coordinator_config(&root.path().join("coordinator"), &suite, url, &["lab-a", "lab-b", "lab-c"]);
    let coord = coordinator.to_str().unwrap();
    let out = hw(&["analyze", "--config", coord, "--date", DATE], &s3.env());
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "a missing member is a critical alert: {log}");
    assert!(log.contains("2 of 3 members"), "{log}");
    assert!(log.contains("missing: lab-c"), "{log}");
    let night = |sql: &str| s3.sql(url, sql);
    let status = night(
        "SELECT member, status FROM read_parquet('{root}/member_runs/*/*.parquet', hive_partitioning=true) ORDER BY 1",
    );
    assert_eq!(status[2], vec![Value::from("lab-c"), Value::from("missing")], "{status:?}");
    let alerts = night("SELECT rule, severity FROM read_parquet('{root}/alerts/*/*.parquet', hive_partitioning=true)");
    assert_eq!(alerts, vec![vec![Value::from("members"), Value::from("critical")]]);

    // An analysis waiting for lab-c holds the night's lease; a second one is refused (exit 4).
    let waiting = Command::new(BIN)
        .args(["analyze", "--config", coord, "--date", DATE, "--deadline", "120s", "--poll", "300ms"])
        .envs(s3.env())
        .env("NO_PROXY", "127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || !s3.ls("hive", "night/_hivewatch/lease/").is_empty()),
        "the waiting analysis takes the lease"
    );
    // A second coordinator, as on another machine (its own state folder): the lease refuses it.
    let other = coordinator_config(&root.path().join("coordinator-2"), &suite, url, &["lab-a", "lab-b", "lab-c"]);
    let second = hw(&["analyze", "--config", other.to_str().unwrap(), "--date", DATE], &s3.env());
    assert_eq!(second.status.code(), Some(4), "{}", text(&second));
    assert!(text(&second).contains("held by"), "{}", text(&second));
    // On the same machine the output's lock says so first, with the same exit code.
    let same = hw(&["analyze", "--config", coord, "--date", DATE], &s3.env());
    assert_eq!(same.status.code(), Some(4), "{}", text(&same));

    // lab-c publishes late; the waiting analysis sees it and rewrites the night, whole.
    publish(2);
    let done = waiting.wait_with_output().unwrap();
    let log = text(&done);
    assert!(matches!(done.status.code(), Some(0 | 1)), "{log}");
    assert!(log.contains("3 of 3 members"), "{log}");
    assert!(s3.ls("hive", "night/_hivewatch/").is_empty(), "the lease is released and the probe deleted");

    // The union: every member's rows exactly once, keyed by (member, endpoint).
    let counts = night(
        "SELECT count(*), count(DISTINCT member), count(DISTINCT endpoint), count(DISTINCT run_id) FROM read_parquet('{root}/responses/*/*.parquet', hive_partitioning=true)",
    );
    assert_eq!(counts[0], [144, 3, 6, 1].map(Value::from).to_vec(), "3 members x 2 endpoints x 12 probes x 2 samples");
    let twice = night(
        "SELECT count(*) FROM (SELECT endpoint, probe_id, sample_index FROM read_parquet('{root}/responses/*/*.parquet', hive_partitioning=true) GROUP BY ALL HAVING count(*) > 1)",
    );
    assert_eq!(twice[0][0], 0);
    let acme = night(
        "SELECT DISTINCT endpoint, member, model FROM read_parquet('{root}/responses/*/*.parquet', hive_partitioning=true) WHERE model = 'acme-large' ORDER BY 1",
    );
    assert_eq!(acme.len(), 2, "{acme:?}");
    assert_eq!(acme[0][0], "lab-a/acme-large");
    assert_eq!(acme[1][0], "lab-b/acme-large");
    // The rerun rewrote the night under the same keys: one file per table, one runs row.
    assert_eq!(s3.ls("hive", "night/responses/").len(), 1);
    assert_eq!(s3.ls("hive", "night/runs/").len(), 1);
    let runs = night(
        "SELECT run_id, run_date, endpoints, planned, ok FROM read_parquet('{root}/runs/*/*.parquet', hive_partitioning=true)",
    );
    assert_eq!(
        runs,
        vec![vec![
            Value::from("consortium-20260105"),
            Value::from(DATE),
            Value::from(6),
            Value::from(144),
            Value::from(144)
        ]]
    );
    let status = night(
        "SELECT count(*) FROM read_parquet('{root}/member_runs/*/*.parquet', hive_partitioning=true) WHERE status = 'published'",
    );
    assert_eq!(status[0][0], 3);
    let models = night(
        "SELECT count(DISTINCT scope) FROM read_parquet('{root}/run_metrics/*/*.parquet', hive_partitioning=true) WHERE scope LIKE 'model:%'",
    );
    assert_eq!(models[0][0], 6, "every member's models are measured");
    assert_eq!(s3.ls("hive", "night/html/latest.html").len(), 1);

    // The analysts' queries run unchanged against the bucket (their root variable set to it).
    let queries = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/queries");
    let mut ran = 0;
    for entry in std::fs::read_dir(&queries).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sql") {
            // The output root, as `hivewatch query --output` sets it.
            let sql = format!("SET VARIABLE hivewatch_out = '{{root}}';\n{}", std::fs::read_to_string(&path).unwrap());
            let rows = night(&sql);
            ran += 1;
            if path.ends_with("diversity_over_time.sql") {
                assert!(rows.iter().any(|r| r[3] == "effective_models"), "{rows:?}");
            }
        }
    }
    assert!(ran >= 5);

    // No member key is anywhere in the bucket.
    let keys: Vec<&str> = members.iter().map(|m| m.2).collect();
    let mut args = vec!["grep", "hive"];
    args.extend(keys);
    let hits: Vec<String> = serde_json::from_str(&s3.py(&args, &[])).unwrap();
    assert!(hits.is_empty(), "{hits:?}");
}

/// The journal of the one run under a member's state folder.
fn journal_lines(state: &Path) -> usize {
    files_under_if_any(&state.join("runs"))
        .into_iter()
        .filter(|p| p.ends_with("journal.jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default().lines().count())
        .sum()
}

fn files_under_if_any(dir: &Path) -> Vec<PathBuf> {
    if dir.exists() { files_under(dir) } else { Vec::new() }
}

#[test]
fn a_member_killed_mid_collection_resumes_and_publishes_once() {
    let s3 = S3Server::start(&[]);
    s3.bucket("hive");
    let url = "s3://hive/killed";
    let root = tempfile::tempdir().unwrap();
    let suite = small_suite(root.path(), 12);
    let sim = TestSim::start(SimConfig { latency: Duration::from_millis(150), ..SimConfig::default() });
    let eps: String = ["acme-a", "borealis-b", "cirrus-c", "delta-d"]
        .iter()
        .map(|n| endpoint(n, "openai", &sim, "max_concurrency = 1"))
        .collect();
    let dir = root.path().join("lab-k");
    let config = member_config(&dir, &suite, "lab-k", url, &eps);
    let args = ["run", "--collect-only", "--config", config.to_str().unwrap(), "--run-date", DATE];

    let mut child = Command::new(BIN)
        .args(args)
        .envs(s3.env())
        .env("NO_PROXY", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(60), || journal_lines(&dir.join("state")) >= 12), "collection started");
    // SIGKILL: no handler runs.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let before = sim.requests();
    assert!(before < 96, "killed mid-collection ({before} requests)");
    assert!(s3.ls("hive", "killed/").is_empty(), "nothing is published before collection is complete");

    let started = Instant::now();
    let out = hw(&args, &s3.env());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(", resumed"), "{}", text(&out));
    assert!(sim.requests() <= 96 + 4, "only what the journal lacked was sent again ({} requests)", sim.requests());
    assert!(started.elapsed() < Duration::from_secs(60));

    let published = s3.ls("hive", "killed/members/member=lab-k/");
    assert_eq!(published.len(), 3, "one responses file, one probes file and one runs row: {published:?}");
    let rows = s3.sql(
        url,
        "SELECT count(*), count(DISTINCT (endpoint, probe_id, sample_index)) FROM read_parquet('{root}/members/member=lab-k/responses/*/*.parquet', hive_partitioning=true)",
    );
    assert_eq!(rows[0], vec![Value::from(96), Value::from(96)]);

    // Run again: the night is already published; a new run would be another night's, so the
    // completed run is not published twice under another key by a resume.
    let again = s3.ls("hive", "killed/members/member=lab-k/runs/");
    assert_eq!(again.len(), 1);
}

#[test]
fn a_plain_run_to_s3_reads_its_history_from_the_store() {
    let s3 = S3Server::start(&[]);
    s3.bucket("hive");
    let url = "s3://hive/plain";
    let root = tempfile::tempdir().unwrap();
    let suite = small_suite(root.path(), 9);
    let sim = TestSim::start(SimConfig::default());
    let eps = endpoints(4, &sim, "");
    let config = write_config(root.path(), &suite, 2, "[sampling]\nseed = 3\n", &eps);
    let text_cfg =
        std::fs::read_to_string(&config).unwrap().replace("output = \"reports\"", &format!("output = \"{url}\""));
    std::fs::write(&config, text_cfg).unwrap();
    for (night, date) in ["2026-02-01", "2026-02-02"].iter().enumerate() {
        // A fresh cache folder each night: a new machine, with nothing mirrored.
        let cache = root.path().join(format!("cache-{night}"));
        let mut env = s3.env();
        env.push(("XDG_CACHE_HOME", cache.display().to_string()));
        let out = hw(&["run", "--config", config.to_str().unwrap(), "--run-date", date], &env);
        // A night may page (four simulated models can change families between two nights, and
        // the concentration rule judges from the second night): what is tested is that it ran.
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
        assert!(cache.join("hivewatch/state").exists(), "the state is under the user's cache folder");
    }
    let baseline = s3.sql(
        url,
        "SELECT run_date, baseline_n FROM read_parquet('{root}/trends/*/*.parquet', hive_partitioning=true) WHERE scope = 'overall' AND metric = 'effective_models' ORDER BY 1",
    );
    assert_eq!(
        baseline[1],
        vec![Value::from("2026-02-02"), Value::from(1)],
        "night 2 compared with night 1: {baseline:?}"
    );
    assert_eq!(s3.ls("hive", "plain/runs/").len(), 2);
    let pages = s3.ls("hive", "plain/html/");
    assert_eq!(pages.len(), 5, "two nights' pages, latest.html and the index (html, json): {pages:?}");
}

// ---------------------------------------------------------------------------------------------
// Outputs that cannot work: refused with exit 2, the URL and what to check, before any request.

fn one_endpoint_config(dir: &Path, sim: &TestSim, url: &str) -> PathBuf {
    let suite = small_suite(dir, 3);
    let config = write_config(dir, &suite, 1, "", &endpoint("acme-a", "openai", sim, ""));
    let text_cfg =
        std::fs::read_to_string(&config).unwrap().replace("output = \"reports\"", &format!("output = \"{url}\""));
    std::fs::write(&config, text_cfg).unwrap();
    config
}

/// Runs `run` and `run --dry-run`; both must exit 2 naming the URL, with `expect` in the message,
/// and send nothing.
fn refused(config: &Path, env: &[(&str, String)], sim: &TestSim, expect: &[&str]) {
    for dry in [true, false] {
        let mut args = vec!["run", "--config", config.to_str().unwrap()];
        if dry {
            args.push("--dry-run");
        }
        let out = hw(&args, env);
        let log = text(&out);
        assert_eq!(out.status.code(), Some(2), "dry run {dry}: {log}");
        assert!(log.contains("s3://"), "the URL is named: {log}");
        for e in expect {
            assert!(log.contains(e), "{e:?} in: {log}");
        }
        assert!(!log.contains("test-secret"), "no credential is printed: {log}");
    }
    assert_eq!(sim.requests(), 0, "no model request was sent");
}

#[test]
fn an_unreachable_store_is_refused_before_any_request() {
    let sim = TestSim::start(SimConfig::default());
    let root = tempfile::tempdir().unwrap();
    let config = one_endpoint_config(root.path(), &sim, "s3://hive/x");
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env = vec![
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test-secret".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{closed}")),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
    ];
    refused(&config, &env, &sim, &["AWS_ENDPOINT", "reachable"]);
}

#[test]
fn a_missing_bucket_is_refused_before_any_request() {
    let s3 = S3Server::start(&[]);
    let sim = TestSim::start(SimConfig::default());
    let root = tempfile::tempdir().unwrap();
    let config = one_endpoint_config(root.path(), &sim, "s3://no-such-bucket/x");
    refused(&config, &s3.env(), &sim, &["bucket does not exist", "bucket name"]);
}

#[test]
fn missing_credentials_are_refused_before_any_request() {
    let s3 = S3Server::start(&[]);
    s3.bucket("hive");
    let sim = TestSim::start(SimConfig::default());
    let root = tempfile::tempdir().unwrap();
    let config = one_endpoint_config(root.path(), &sim, "s3://hive/x");
    // No keys, no profile, and the instance-metadata fallback pointed at a closed port.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env = vec![
        ("HOME", root.path().display().to_string()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT", s3.endpoint.clone()),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
        ("AWS_METADATA_ENDPOINT", format!("http://127.0.0.1:{closed}")),
    ];
    refused(&config, &env, &sim, &["AWS_ACCESS_KEY_ID"]);
    // A profile that does not exist is named.
    let mut env = env;
    env.push(("AWS_PROFILE", "lab".to_owned()));
    let out = hw(&["run", "--config", config.to_str().unwrap(), "--dry-run"], &env);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("AWS_PROFILE=lab"), "{}", text(&out));
}

#[test]
fn a_denied_write_is_refused_before_any_request() {
    // A server enforcing IAM after its first four requests (the setup): a user that may read.
    let s3 = S3Server::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")]);
    let keys: Value = serde_json::from_str(&s3.py(&["reader", "readonly"], &[])).unwrap();
    let sim = TestSim::start(SimConfig::default());
    let root = tempfile::tempdir().unwrap();
    let config = one_endpoint_config(root.path(), &sim, "s3://readonly/x");
    let env = vec![
        ("AWS_ACCESS_KEY_ID", keys["id"].as_str().unwrap().to_owned()),
        ("AWS_SECRET_ACCESS_KEY", keys["secret"].as_str().unwrap().to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT", s3.endpoint.clone()),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
    ];
    refused(&config, &env, &sim, &["permission denied", "s3:PutObject"]);
    let listed = s3.py(
        &["ls", "readonly", ""],
        &[
            ("AWS_ACCESS_KEY_ID", keys["id"].as_str().unwrap()),
            ("AWS_SECRET_ACCESS_KEY", keys["secret"].as_str().unwrap()),
        ],
    );
    assert_eq!(listed.trim(), "[]", "nothing half-written is left");
}

/// Issue 27: `import` and `analyze` write to object storage too. Before, `import --output
/// s3://bucket/prefix` wrote a local folder named `s3:/bucket/prefix` in the working folder and
/// nothing to the bucket. Now both go through the same session as a nightly run: an import
/// lands in the bucket, DuckDB reads it from there, and `analyze` on a new machine (nothing
/// mirrored) re-derives the run from the store and rewrites its tables, never duplicating them.
#[test]
fn import_and_analyze_read_and_write_object_storage() {
    let s3 = S3Server::start(&[]);
    s3.bucket("hive");
    let url = "s3://hive/imported";
    let work = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/examples/generic.jsonl");
    let lines = std::fs::read_to_string(&example).unwrap().lines().filter(|l| !l.trim().is_empty()).count();
    let run_in = |args: &[&str], cache: &str| {
        let mut env = s3.env();
        env.push(("XDG_CACHE_HOME", work.path().join(cache).display().to_string()));
        let mut cmd = Command::new(BIN);
        cmd.args(args).current_dir(work.path()).env("NO_PROXY", "127.0.0.1").env_remove("RUST_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };

    let out = run_in(&["import", "--format", "jsonl", example.to_str().unwrap(), "--output", url], "cache-a");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let entries: Vec<String> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !entries.iter().any(|e| e.starts_with("s3")),
        "nothing written to a local folder named after the URL: {entries:?}"
    );
    for table in ["runs", "responses", "probes", "embeddings", "features", "run_metrics", "trends", "alerts"] {
        assert!(!s3.ls("hive", &format!("imported/{table}/")).is_empty(), "the import's {table} is in the bucket");
    }
    let count = |table: &str| {
        s3.sql(
            url,
            &format!("SELECT count(*) FROM read_parquet('{{root}}/{table}/*/*.parquet', hive_partitioning=true)"),
        )[0][0]
            .as_i64()
            .unwrap()
    };
    let (responses, features) = (count("responses"), count("features"));
    assert_eq!(responses as usize, lines, "every imported row, read back from the store");
    assert_eq!(features, responses);

    // Another machine (a fresh cache): analyze pulls the run's inputs from the store.
    let objects_before = s3.ls("hive", "imported/").len();
    let out = run_in(&["analyze", "--output", url], "cache-b");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("wrote {url}/features/")), "the derived tables are named by their URL: {said}");
    assert_eq!(count("features"), features, "re-derived in place, not duplicated");
    assert_eq!(count("responses"), responses);
    assert_eq!(s3.ls("hive", "imported/").len(), objects_before, "the same objects, rewritten");
}
