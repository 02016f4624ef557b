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
use std::sync::{Arc, Mutex};
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

/// The variable holding a test member's signing secret, and the secret.
fn member_secret(member: &str) -> (String, String) {
    (format!("HW_SECRET_{}", member.to_uppercase().replace('-', "_")), format!("s3cret-of-{member}-4f9a0c2e7b1d5e8a"))
}

/// Every test member's secret, as each member's machine and the coordinator's export them.
fn secrets() -> Vec<(String, String)> {
    ["lab-a", "lab-b", "lab-c", "lab-d", "lab-k"].iter().map(|m| member_secret(m)).collect()
}

/// Runs hivewatch with `env` (pairs of owned values) on top of a clean AWS environment and the
/// members' secrets.
fn hw(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("NO_PROXY", "127.0.0.1").env_remove("RUST_LOG").envs(secrets());
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT",
        "AWS_ENDPOINT_URL",
        "AWS_ALLOW_HTTP",
        "AWS_REGION",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A member's folder: its configuration (output in the bucket, state beside it) and nothing else.
fn member_config(dir: &Path, suite: &Path, member: &str, url: &str, endpoints: &str) -> PathBuf {
    member_config_with(dir, suite, member, url, endpoints, "")
}

/// [`member_config`], with `extra` at the end of `[consortium]` (and any tables after it).
fn member_config_with(dir: &Path, suite: &Path, member: &str, url: &str, endpoints: &str, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let header =
        format!("[consortium]\nmember = \"{member}\"\nsecret_env = \"{}\"\n{extra}\n", member_secret(member).0);
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
    let vars = members.iter().map(|m| format!("{m} = {:?}", member_secret(m).0)).collect::<Vec<_>>().join(", ");
    let path = dir.join("coordinator.toml");
    std::fs::write(
        &path,
        format!(
            "[run]\nsuite = {:?}\noutput = \"{url}\"\nstate_dir = \"state\"\n\n[consortium]\nmembers = [{list}]\nsecrets_env = {{ {vars} }}\n",
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
            // lab-a embeds and describes its own answers (issue 28): through the bucket too.
            let extra = if *m == "lab-a" { EMBED_MEMBER } else { "" };
            member_config_with(&root.path().join(m), &suite, m, url, &keyed_endpoints(eps, sim, var), extra)
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
    // The member's night is its responses, the prompts it asked, its own embeddings and
    // features (it embeds), its signed manifest and its runs row, nothing in the main tables.
    let lab_a = s3.ls("hive", "night/members/member=lab-a/");
    assert_eq!(lab_a.len(), 6, "{lab_a:?}");
    assert_eq!(s3.ls("hive", "night/members/member=lab-b/").len(), 4);
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
    assert!(log.contains(&format!("rerun `hivewatch analyze --config {coord} --date {DATE}`")), "{log}");
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
        .envs(secrets())
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
    let lab_a = log.lines().find(|l| l.trim_start().starts_with("lab-a")).unwrap_or_default();
    assert!(lab_a.contains("embedded and described by the member (spot check: 20 of 48 rows"), "{log}");
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
    // The night's page says who took part: each member, its models and its answer counts.
    let page = night("SELECT content FROM read_text('{root}/html/latest.html')");
    let page = page[0][0].as_str().expect("the night's page, read from the bucket");
    let took_part = page.split("<h2>Who took part</h2>").nth(1).expect("a section on the members");
    let took_part = &took_part[..took_part.find("</table>").unwrap()];
    for (member, _, _, models) in &members {
        let row = took_part.split("<tr>").find(|r| r.contains(&format!("<b>{member}</b>"))).expect(member);
        assert!(row.contains("published") && row.contains("48 / 48 (0)"), "{row}");
        assert!(models.iter().all(|m| row.contains(&format!("<code>{m}</code>"))), "{row}");
    }

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

    // No member key, and no member's secret, is anywhere in the bucket.
    let secrets: Vec<String> = members.iter().map(|m| member_secret(m.0).1).collect();
    let mut keys: Vec<&str> = members.iter().map(|m| m.2).collect();
    keys.extend(secrets.iter().map(String::as_str));
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
        .envs(secrets())
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
    assert_eq!(published.len(), 4, "one responses file, one probes file, a manifest and one runs row: {published:?}");
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
    query_reads_the_bucket(&s3, url, root.path());
}

/// Issue 30, item 2: `hivewatch query --output s3://...` glued the working folder onto the URL
/// ("<cwd>/s3://bucket/prefix: holds no runs"). Now it reads the bucket through a local copy of
/// the tables the query reads (no DuckDB extension needed), and gives the rows DuckDB reads
/// from the bucket itself through httpfs; `--print` gives SQL over that copy.
fn query_reads_the_bucket(s3: &S3Server, url: &str, dir: &Path) {
    let sql =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/queries/diversity_over_time.sql"))
            .unwrap();
    let direct = s3.sql(url, &format!("SET VARIABLE hivewatch_out = '{{root}}';\n{sql}"));
    assert_eq!(direct.iter().filter(|r| r[3] == "effective_models").count(), 2, "{direct:?}");
    let mut env = s3.env();
    env.push(("XDG_CACHE_HOME", dir.join("analyst-cache").display().to_string()));
    env.push(("HIVEWATCH_DUCKDB", duckdb_cli().display().to_string()));
    // Through the DuckDB command line, as CSV.
    let out = hw(&["query", "diversity_over_time", "--output", url, "--csv"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in the local copy"), "says where it read: {}", text(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), direct.len(), "{csv}");
    for (got, want) in rows.iter().zip(&direct) {
        assert_eq!(
            (got[0], got[1], got[3]),
            (want[0].as_str().unwrap(), want[1].as_str().unwrap(), want[3].as_str().unwrap())
        );
        let value: f64 = got[4].parse().unwrap();
        assert!((value - want[4].as_f64().unwrap()).abs() <= 1e-9 * value.abs().max(1.0), "{got:?} {want:?}");
    }
    // As DuckDB's table.
    let out = hw(&["query", "diversity_over_time", "--output", url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("effective_models"), "{}", text(&out));
    // The SQL, over the local copy: the same rows.
    let out = hw(&["query", "diversity_over_time", "--output", url, "--print"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.starts_with(&format!("-- {url}, read from the local copy")), "{printed}");
    assert_eq!(duckdb(dir, &printed), direct);
    // A prefix with no runs: refused, naming the URL, unless only the SQL is asked for.
    let out = hw(&["query", "diversity_over_time", "--output", "s3://hive/nothing-here"], &env);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("s3://hive/nothing-here: holds no runs"), "{}", text(&out));
    assert!(!text(&out).contains(&std::env::current_dir().unwrap().display().to_string()), "{}", text(&out));
    let out = hw(&["query", "diversity_over_time", "--output", "s3://hive/nothing-here", "--print"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
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

/// Issue 26, item 2: an S3-compatible endpoint written with its credentials
/// (`http://KEY:SECRET@host`) or a token in its query was printed verbatim in every error about
/// the store, the cron log included. Now it is refused, its value never repeated.
#[test]
fn credentials_in_aws_endpoint_are_refused_and_never_printed() {
    let sim = TestSim::start(SimConfig::default());
    let root = tempfile::tempdir().unwrap();
    let config = one_endpoint_config(root.path(), &sim, "s3://hive/x");
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    for endpoint in [
        format!("http://AKIAEXAMPLE:test-secret-in-url@127.0.0.1:{closed}"),
        format!("http://127.0.0.1:{closed}/?token=test-secret-token"),
    ] {
        let env = vec![
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT", endpoint),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ];
        refused(&config, &env, &sim, &["AWS_ENDPOINT carries credentials"]);
    }
}

/// Issue 30, item 12: an http:// endpoint without AWS_ALLOW_HTTP failed with "builder error".
#[test]
fn a_plain_http_endpoint_without_allow_http_says_what_to_set() {
    let sim = TestSim::start(SimConfig::default());
    let root = tempfile::tempdir().unwrap();
    let config = one_endpoint_config(root.path(), &sim, "s3://hive/x");
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env = vec![
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test-secret".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{closed}")),
    ];
    refused(&config, &env, &sim, &["AWS_ALLOW_HTTP=true"]);
    let out = hw(&["query", "alert_history", "--output", "s3://hive/x"], &env);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("AWS_ALLOW_HTTP=true") && !text(&out).contains("builder error"), "{}", text(&out));
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

// ---------------------------------------------------------------------------------------------
// Issue 26: members confined to their own prefix, signed publications, one bad publication
// that does not stop the night, and a lease that cannot block it forever.

/// S3's answer to a write a bucket policy does not allow.
const ACCESS_DENIED: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";

/// What the confining proxy needs: the S3 server, the one path prefix writes may go under, what
/// it refused, and a client to forward with.
struct ProxyState {
    upstream: String,
    allowed: String,
    refused: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

/// A proxy in front of the S3 server that lets a write (PUT, POST, DELETE) through only under
/// one path prefix (`/bucket/prefix/members/member=<name>/`), as the README's bucket policy
/// confining a member does (moto enforces no policy); reads pass. Keeps what it refused.
struct ConfiningProxy {
    url: String,
    refused: Arc<Mutex<Vec<String>>>,
    _rt: tokio::runtime::Runtime,
}

impl ConfiningProxy {
    fn start(upstream: &str, allowed: &str) -> ConfiningProxy {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let refused: Arc<Mutex<Vec<String>>> = Arc::default();
        let state = Arc::new(ProxyState {
            upstream: upstream.to_owned(),
            allowed: allowed.to_owned(),
            refused: Arc::clone(&refused),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        });
        let app = axum::Router::new().fallback(forward).with_state(state);
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        ConfiningProxy { url, refused, _rt: rt }
    }

    fn refused(&self) -> Vec<String> {
        self.refused.lock().unwrap().clone()
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (b[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn forward(
    axum::extract::State(s): axum::extract::State<Arc<ProxyState>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let method = req.method().clone();
    let path = percent_decode(req.uri().path());
    let target = format!("{}{}", s.upstream, req.uri().path_and_query().map_or("", |p| p.as_str()));
    let bulk_delete = method == "POST" && req.uri().query().is_some_and(|q| q.split('&').any(|p| p == "delete"));
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX).await.unwrap();
    // A multi-object delete (`POST /bucket?delete`) is judged, as S3 does, key by key.
    let keys: Vec<String> = match bulk_delete {
        true => String::from_utf8_lossy(&body)
            .split("<Key>")
            .skip(1)
            .filter_map(|k| k.split("</Key>").next())
            .map(|k| format!("{}/{k}", path.trim_end_matches('/')))
            .collect(),
        false => vec![path.clone()],
    };
    if matches!(method.as_str(), "PUT" | "POST" | "DELETE") && keys.iter().any(|k| !k.starts_with(&s.allowed)) {
        s.refused.lock().unwrap().push(format!("{method} {}", keys.join(" ")));
        return (axum::http::StatusCode::FORBIDDEN, [("content-type", "application/xml")], ACCESS_DENIED)
            .into_response();
    }
    let mut out = s.client.request(reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(), target);
    let hop = |name: &str| matches!(name, "host" | "content-length" | "transfer-encoding" | "connection");
    for (name, value) in headers.iter().filter(|(n, _)| !hop(n.as_str())) {
        out = out.header(name.as_str(), value.as_bytes());
    }
    let reply = out.body(body.to_vec()).send().await.unwrap();
    let mut response = axum::http::Response::builder().status(reply.status().as_u16());
    for (name, value) in reply.headers().iter().filter(|(n, _)| !hop(n.as_str())) {
        response = response.header(name.as_str(), value.as_bytes());
    }
    response.body(axum::body::Body::from(reply.bytes().await.unwrap())).unwrap()
}

/// Issue 26, item 1. Before: every member wrote its write-check object to
/// `<prefix>/_hivewatch/probe/`, so a member allowed to write only under
/// `members/member=lab-a/` failed with exit 2; and with write access to the whole prefix, lab-a
/// set `member = "lab-b"`, published, and the coordinator analysed the impostor's rows as
/// lab-b's. Now a member confined to its own prefix (a proxy enforcing it, as a bucket policy
/// would) publishes, cannot publish as another, and an impostor with wider access is left out:
/// its publication is not signed with lab-b's secret. No secret is ever written or printed.
#[test]
fn a_member_confined_to_its_prefix_publishes_and_an_impostor_is_left_out() {
    let s3 = S3Server::start(&[]);
    s3.bucket("hive");
    let url = "s3://hive/conf";
    let root = tempfile::tempdir().unwrap();
    let suite = small_suite(root.path(), 6);
    let sim = TestSim::start(SimConfig::default());
    let eps = |names: &[&str]| names.iter().map(|n| endpoint(n, "openai", &sim, "")).collect::<String>();
    let proxy = ConfiningProxy::start(&s3.endpoint, "/hive/conf/members/member=lab-a/");
    let confined = {
        let mut env = s3.env();
        env.retain(|(k, _)| *k != "AWS_ENDPOINT");
        env.push(("AWS_ENDPOINT", proxy.url.clone()));
        env
    };
    let mut said = String::new();
    let mut run = |config: &Path, env: &[(&str, String)]| {
        let out = hw(&["run", "--collect-only", "--config", config.to_str().unwrap(), "--run-date", DATE], env);
        said.push_str(&text(&out));
        out
    };

    // lab-a, allowed to write only under its own prefix, publishes.
    let lab_a = member_config(&root.path().join("lab-a"), &suite, "lab-a", url, &eps(&["acme-a", "borealis-a"]));
    let out = run(&lab_a, &confined);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(proxy.refused().is_empty(), "every write went under lab-a's prefix: {:?}", proxy.refused());
    assert_eq!(s3.ls("hive", "conf/members/member=lab-a/manifests/").len(), 1, "a signed manifest");
    // From the same machine it cannot publish as lab-b: the write is refused before any request.
    let as_b = member_config(&root.path().join("lab-a-as-b"), &suite, "lab-b", url, &eps(&["cirrus-x"]));
    let before = sim.requests();
    let out = run(&as_b, &confined);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("members/member=lab-b"), "{}", text(&out));
    assert_eq!(sim.requests(), before, "nothing was sent");

    // lab-b publishes; then someone with write access to the whole prefix (lab-a's machine, say)
    // publishes a later run as lab-b, signed with lab-a's secret.
    let lab_b = member_config(&root.path().join("lab-b"), &suite, "lab-b", url, &eps(&["cirrus-b", "delta-b"]));
    assert_eq!(run(&lab_b, &s3.env()).status.code(), Some(0));
    let impostor = root.path().join("impostor");
    let config = member_config(&impostor, &suite, "lab-b", url, &eps(&["ember-x"]));
    let forged =
        std::fs::read_to_string(&config).unwrap().replace(&member_secret("lab-b").0, &member_secret("lab-a").0);
    std::fs::write(&config, forged).unwrap();
    std::thread::sleep(Duration::from_millis(1100)); // a later run id
    assert_eq!(run(&config, &s3.env()).status.code(), Some(0));

    let coordinator = coordinator_config(&root.path().join("coordinator"), &suite, url, &["lab-a", "lab-b"]);
    let out = hw(&["analyze", "--config", coordinator.to_str().unwrap(), "--date", DATE], &s3.env());
    let log = text(&out);
    said.push_str(&log);
    assert_eq!(out.status.code(), Some(1), "the members alert: {log}");
    assert!(log.contains("1 of 2 members") && log.contains("not signed with lab-b's secret"), "{log}");
    let night = |sql: &str| s3.sql(url, sql);
    let status = night(
        "SELECT member, status, coalesce(note, '') FROM read_parquet('{root}/member_runs/*/*.parquet', hive_partitioning=true) ORDER BY 1",
    );
    assert_eq!((status[0][1].as_str(), status[1][1].as_str()), (Some("published"), Some("excluded")), "{status:?}");
    assert!(status[1][2].as_str().unwrap().contains("not signed with lab-b's secret"), "{status:?}");
    let alerts = night("SELECT rule, severity FROM read_parquet('{root}/alerts/*/*.parquet', hive_partitioning=true)");
    assert_eq!(alerts, vec![vec![Value::from("members"), Value::from("critical")]]);
    let endpoints = night(
        "SELECT list(DISTINCT endpoint ORDER BY endpoint) FROM read_parquet('{root}/responses/*/*.parquet', hive_partitioning=true)",
    );
    assert_eq!(endpoints[0][0], serde_json::json!(["lab-a/acme-a", "lab-a/borealis-a"]), "no impostor's row");

    // The secrets are nowhere: not in the bucket, not in any file on the machines, not printed.
    let secrets: Vec<String> = ["lab-a", "lab-b"].iter().map(|m| member_secret(m).1).collect();
    let mut args = vec!["grep", "hive"];
    args.extend(secrets.iter().map(String::as_str));
    let hits: Vec<String> = serde_json::from_str(&s3.py(&args, &[])).unwrap();
    assert!(hits.is_empty(), "{hits:?}");
    for secret in &secrets {
        assert!(!said.contains(secret.as_str()), "a secret was printed");
        let held: Vec<PathBuf> = files_under(root.path())
            .into_iter()
            .filter(|f| std::fs::read(f).unwrap().windows(secret.len()).any(|w| w == secret.as_bytes()))
            .collect();
        assert!(held.is_empty(), "{held:?}");
    }
}

/// The one member's `responses` file of a folder consortium, with its run id.
fn member_responses(out: &Path, member: &str) -> (PathBuf, String) {
    let dir = out.join(format!("members/member={member}/responses/run_date={DATE}"));
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let run_id = file.file_stem().unwrap().to_str().unwrap().to_owned();
    (file, run_id)
}

/// Issue 26, items 6 and 10, on a consortium sharing a disk. Before: one member's truncated
/// `responses` file (or a column of another type) made `analyze --date` exit 3 on every rerun,
/// no union, no alert, no report for anyone; and a lease left with an expiry in 2999 blocked
/// the night forever, the hint saying to wait. Now the member is `excluded` with the reason,
/// the others are analysed and the `members` alert is raised; a lease counts only one lease
/// period past its last write, and the message names the object to delete.
#[test]
fn one_members_bad_file_leaves_it_out_and_a_far_future_lease_lapses() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("shared");
    let url = out.to_str().unwrap();
    let suite = small_suite(root.path(), 6);
    let sim = TestSim::start(SimConfig::default());
    for (member, eps) in
        [("lab-a", ["acme-a", "borealis-a"]), ("lab-b", ["cirrus-b", "delta-b"]), ("lab-c", ["ember-c", "fjord-c"])]
    {
        let eps: String = eps.iter().map(|n| endpoint(n, "openai", &sim, "")).collect();
        let config = member_config(&root.path().join(member), &suite, member, url, &eps);
        let o = hw(&["run", "--collect-only", "--config", config.to_str().unwrap(), "--run-date", DATE], &[]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    // lab-b's file cut short after it was published.
    let (b_file, _) = member_responses(&out, "lab-b");
    let len = std::fs::metadata(&b_file).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&b_file).unwrap().set_len(len / 2).unwrap();
    // lab-c published, and signed, a file with a column of another type (another version).
    let (c_file, c_run) = member_responses(&out, "lab-c");
    let batches = hivewatch::store::read_batches(&c_file).unwrap();
    let retyped = |b: &arrow_array::RecordBatch| {
        let i = b.schema().index_of("sample_index").unwrap();
        let mut fields: Vec<arrow_schema::Field> = b.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[i] = arrow_schema::Field::new("sample_index", arrow_schema::DataType::Utf8, false);
        let mut columns = b.columns().to_vec();
        columns[i] = Arc::new(arrow_array::StringArray::from(vec!["0"; b.num_rows()]));
        arrow_array::RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns).unwrap()
    };
    let schema = retyped(&batches[0]).schema();
    let mut writer = hivewatch::store::TableWriter::create(&c_file, schema).unwrap();
    for b in &batches {
        writer.write(&retyped(b)).unwrap();
    }
    writer.finish().unwrap();
    let c_dir = out.join("members/member=lab-c");
    let signed: Vec<(String, PathBuf)> = ["responses", "probes", "runs"]
        .iter()
        .map(|t| {
            (format!("{t}/run_date={DATE}/{c_run}.parquet"), c_dir.join(format!("{t}/run_date={DATE}/{c_run}.parquet")))
        })
        .collect();
    let secret = hivewatch::secrets::SecretKey::new(member_secret("lab-c").1);
    let manifest =
        hivewatch::consortium::manifest::Manifest::sign("lab-c", &secret, &c_run, DATE.parse().unwrap(), &signed)
            .unwrap();
    let key = hivewatch::consortium::manifest::key(DATE.parse().unwrap(), &c_run);
    std::fs::write(c_dir.join(key), serde_json::to_vec(&manifest).unwrap()).unwrap();

    // A lease left by a holder that wrote an expiry in 2999, just now: held, and named.
    let lease = out.join(format!("_hivewatch/lease/analyze-{DATE}.json"));
    std::fs::create_dir_all(lease.parent().unwrap()).unwrap();
    let body = format!(
        "{{\"holder\": \"gone pid 1\", \"purpose\": \"x\", \"acquired_at\": \"{}\", \"expires_at\": \"2999-01-01T00:00:00Z\"}}",
        chrono::Utc::now().to_rfc3339()
    );
    std::fs::write(&lease, body).unwrap();
    let coordinator = coordinator_config(&root.path().join("coordinator"), &suite, url, &["lab-a", "lab-b", "lab-c"]);
    let analyze = || hw(&["analyze", "--config", coordinator.to_str().unwrap(), "--date", DATE], &[]);
    let o = analyze();
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains(&format!("delete {}", lease.display())), "{}", text(&o));
    assert!(!text(&o).contains("2999"), "the lease counts one period past its last write: {}", text(&o));
    // Written an hour ago: it has lapsed, whatever its body says.
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&lease).unwrap().set_modified(an_hour_ago).unwrap();

    let o = analyze();
    let log = text(&o);
    assert_eq!(o.status.code(), Some(1), "{log}");
    assert!(log.contains("1 of 3 members"), "{log}");
    let status = duckdb(
        &out,
        "SELECT member, status, coalesce(note, '') FROM read_parquet('{out}/member_runs/*/*.parquet') ORDER BY 1",
    );
    assert_eq!(status[0][1], "published", "{status:?}");
    assert_eq!(status[1][1], "excluded", "{status:?}");
    assert!(status[1][2].as_str().unwrap().contains("not the file it signed"), "{status:?}");
    assert_eq!(status[2][1], "excluded", "{status:?}");
    assert!(status[2][2].as_str().unwrap().contains("sample_index"), "{status:?}");
    let rows = duckdb(&out, "SELECT count(*), count(DISTINCT member) FROM read_parquet('{out}/responses/*/*.parquet')");
    assert_eq!(rows[0], vec![Value::from(24), Value::from(1)], "lab-a's 2 endpoints x 6 probes x 2 samples");
    let alerts = duckdb(&out, "SELECT rule FROM read_parquet('{out}/alerts/*/*.parquet')");
    assert_eq!(alerts, vec![vec![Value::from("members")]]);
    assert!(!lease.exists(), "the lapsed lease was taken over and released");
}

/// The one file of a table under `dir` (a member's folder or the output) for the night.
fn night_file(dir: &Path, table: &str) -> PathBuf {
    let folder = dir.join(format!("{table}/run_date={DATE}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.pop().unwrap()
}

/// Members that publish on a shared disk, each with `extra` in its `[consortium]`; returns the
/// output folder and the coordinator's configuration.
fn embedding_members(root: &Path, sim: &TestSim, members: &[(&str, &str)]) -> (PathBuf, PathBuf) {
    let out = root.join("shared");
    let url = out.to_str().unwrap();
    let suite = small_suite(root, 6);
    for (member, extra) in members {
        let eps: String =
            ["acme", "borealis"].iter().map(|n| endpoint(&format!("{n}-{member}"), "openai", sim, "")).collect();
        let config = member_config_with(&root.join(member), &suite, member, url, &eps, extra);
        let o = hw(&["run", "--collect-only", "--config", config.to_str().unwrap(), "--run-date", DATE], &[]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let names: Vec<&str> = members.iter().map(|(m, _)| *m).collect();
    (out.clone(), coordinator_config(&root.join("coordinator"), &suite, url, &names))
}

const EMBED_MEMBER: &str = "embed = \"member\"";

/// Issue 28, item 1: two members embed and describe their own answers, one leaves it to the
/// coordinator, and one embeds with another embedder (the simulator's remote one), the two
/// kinds interleaved in the union's order: the coordinator uses the two, embeds the other two
/// itself (in one pass), says so per member, and the union's `embeddings` and `features` are
/// bit for bit what the coordinator computes over the whole union (`hivewatch analyze` of the
/// stored night, which embeds everything itself).
#[test]
fn members_that_embed_give_the_union_the_coordinator_would_compute() {
    let root = tempfile::tempdir().unwrap();
    let sim = TestSim::start(SimConfig::default());
    let remote = format!(
        "{EMBED_MEMBER}\n[embed]\nembedder = \"remote\"\nbase_url = \"{}\"\nmodel = \"sim-embed\"\nbatch_size = 5\nconcurrency = 3",
        sim.openai_url()
    );
    let members = [("lab-a", ""), ("lab-b", EMBED_MEMBER), ("lab-c", remote.as_str()), ("lab-d", EMBED_MEMBER)];
    let (out, coordinator) = embedding_members(root.path(), &sim, &members);
    // A member that embeds publishes its embeddings and features beside its responses, signed.
    let b_dir = out.join("members/member=lab-b");
    let b_embeddings = night_file(&b_dir, "embeddings");
    assert!(b_embeddings.file_name().unwrap().to_str().unwrap().contains(".lexical-"), "{b_embeddings:?}");
    night_file(&b_dir, "features");
    let manifests = b_dir.join(format!("manifests/run_date={DATE}"));
    let manifest =
        std::fs::read_to_string(std::fs::read_dir(manifests).unwrap().next().unwrap().unwrap().path()).unwrap();
    assert!(manifest.contains("embeddings/run_date=") && manifest.contains("features/run_date="), "{manifest}");
    assert!(!out.join("members/member=lab-a/embeddings").exists(), "lab-a leaves embedding to the coordinator");

    let o = hw(&["analyze", "--config", coordinator.to_str().unwrap(), "--date", DATE], &[]);
    let log = text(&o);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{log}");
    assert!(log.contains("4 of 4 members"), "{log}");
    let said = |member: &str| log.lines().find(|l| l.trim_start().starts_with(member)).unwrap_or_default().to_owned();
    assert!(said("lab-b").contains("embedded and described by the member"), "{log}");
    assert!(said("lab-b").contains("spot check: 20 of 24 rows"), "{log}");
    assert!(said("lab-d").contains("spot check: 20 of 24 rows"), "{log}");
    assert!(said("lab-a").contains("by the coordinator"), "{log}");
    assert!(said("lab-c").contains("re-embedded and described by the coordinator"), "{log}");
    assert!(said("lab-c").contains("embedded with remote:"), "{log}");
    let by = duckdb(
        &out,
        "SELECT member, status, embedded_by, note FROM read_parquet('{out}/member_runs/*/*.parquet') ORDER BY 1",
    );
    let column = |i: usize| by.iter().map(|r| r[i].as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>();
    assert_eq!(column(1), ["published"; 4], "{by:?}");
    assert_eq!(column(2), ["coordinator", "member", "coordinator", "member"], "{by:?}");
    assert!(column(3)[2].contains("not the consortium's lexical"), "{by:?}");
    let page = std::fs::read_to_string(out.join("html/latest.html")).unwrap();
    let took_part = page.split("<h2>Who took part</h2>").nth(1).expect("a section on the members");
    let row = took_part.split("<tr>").find(|r| r.contains("<b>lab-c</b>")).unwrap();
    assert!(row.contains("re-embedded and described by the coordinator"), "{row}");

    // The union's tables, row for row and in order, against the coordinator embedding the
    // whole union itself.
    let kept = root.path().join("kept");
    std::fs::create_dir_all(&kept).unwrap();
    for table in ["embeddings", "features"] {
        std::fs::copy(night_file(&out, table), kept.join(format!("{table}.parquet"))).unwrap();
    }
    let again = hw(&["analyze", "--output", out.to_str().unwrap(), "--runs", "consortium-20260105"], &[]);
    assert!(matches!(again.status.code(), Some(0 | 1)), "{}", text(&again));
    for table in ["embeddings", "features"] {
        let ours = night_file(&out, table);
        let sql = format!(
            "WITH a AS (SELECT * FROM read_parquet('{}', file_row_number=true, hive_partitioning=false)), b AS (SELECT * FROM read_parquet('{}', file_row_number=true, hive_partitioning=false)) SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b), (SELECT count(*) FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM b)), (SELECT count(*) FROM (SELECT * FROM b EXCEPT ALL SELECT * FROM a))",
            kept.join(format!("{table}.parquet")).display(),
            ours.display()
        );
        let r = duckdb(&out, &sql);
        assert_eq!(
            r[0],
            [96, 96, 0, 0].map(Value::from).to_vec(),
            "{table}: 4 members x 24 answers, equal row for row"
        );
    }
}

/// Rewrites one member's published embeddings with `alter` applied to every vector, and signs
/// the night again with the member's secret (the member lies, under its own name).
fn alter_vectors(member_dir: &Path, member: &str, alter: impl Fn(&mut Vec<f32>)) {
    use hivewatch::embed::table::EmbeddingsTable;
    let file = night_file(member_dir, "embeddings");
    let run_id = night_file(member_dir, "runs").file_stem().unwrap().to_str().unwrap().to_owned();
    let mut rows = hivewatch::store::table::read_file::<EmbeddingsTable>(&file).unwrap();
    rows.iter_mut().for_each(|r| alter(&mut r.embedding));
    let tag = hivewatch::store::EmbedderTag { name: "lexical".into(), id: hivewatch::embed::lexical::ID.into() };
    let run = hivewatch::store::table::RunRef::new(DATE.parse().unwrap(), run_id.clone(), tag);
    hivewatch::store::table::write_file::<EmbeddingsTable>(&file, &run, &rows).unwrap();
    let key = hivewatch::consortium::manifest::key(DATE.parse().unwrap(), &run_id);
    let old: Value = serde_json::from_slice(&std::fs::read(member_dir.join(&key)).unwrap()).unwrap();
    let signed: Vec<(String, PathBuf)> =
        old["files"].as_object().unwrap().keys().map(|k| (k.clone(), member_dir.join(k))).collect();
    let secret = hivewatch::secrets::SecretKey::new(member_secret(member).1);
    let manifest =
        hivewatch::consortium::manifest::Manifest::sign(member, &secret, &run_id, DATE.parse().unwrap(), &signed)
            .unwrap();
    std::fs::write(member_dir.join(key), serde_json::to_vec(&manifest).unwrap()).unwrap();
}

/// Issue 28, item 1: a member's vectors are its word, not proof. A member that publishes
/// altered vectors under the right embedder id, signed, is caught by the spot check and left
/// out with the reason and the `members` alert; the honest member that embeds, and the one
/// that leaves embedding to the coordinator, are analysed.
#[test]
fn a_member_publishing_altered_vectors_is_caught_by_the_spot_check() {
    let root = tempfile::tempdir().unwrap();
    let sim = TestSim::start(SimConfig::default());
    let members = [("lab-a", EMBED_MEMBER), ("lab-b", EMBED_MEMBER), ("lab-c", "")];
    let (out, coordinator) = embedding_members(root.path(), &sim, &members);
    alter_vectors(&out.join("members/member=lab-a"), "lab-a", |v| v.rotate_left(1));
    let o = hw(&["analyze", "--config", coordinator.to_str().unwrap(), "--date", DATE], &[]);
    let log = text(&o);
    assert_eq!(o.status.code(), Some(1), "a member left out is a critical alert: {log}");
    assert!(log.contains("2 of 3 members"), "{log}");
    let status = duckdb(
        &out,
        "SELECT member, status, coalesce(note, '') FROM read_parquet('{out}/member_runs/*/*.parquet') ORDER BY 1",
    );
    assert_eq!(status[0][1], "excluded", "{status:?}");
    let note = status[0][2].as_str().unwrap();
    assert!(note.contains("spot check") && note.contains("vectors differ"), "{note}");
    assert_eq!((&status[1][1], &status[2][1]), (&Value::from("published"), &Value::from("published")), "{status:?}");
    let alerts = duckdb(&out, "SELECT rule, message FROM read_parquet('{out}/alerts/*/*.parquet')");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0][0], "members");
    assert!(alerts[0][1].as_str().unwrap().contains("lab-a (left out: the spot check"), "{alerts:?}");
    let rows = duckdb(&out, "SELECT count(*), count(DISTINCT member) FROM read_parquet('{out}/responses/*/*.parquet')");
    assert_eq!(rows[0], vec![Value::from(48), Value::from(2)]);
    let vectors = duckdb(
        &out,
        "SELECT split_part(endpoint, '/', 1), count(*) FROM read_parquet('{out}/embeddings/*/*.parquet') GROUP BY 1 ORDER BY 1",
    );
    let per_member = |m: &str| vec![Value::from(m), Value::from(24)];
    assert_eq!(vectors, [per_member("lab-b"), per_member("lab-c")], "the honest member's and the coordinator's rows");
    let vectors =
        duckdb(&out, "SELECT count(*) FROM read_parquet('{out}/embeddings/*/*.parquet') WHERE endpoint LIKE 'lab-a/%'");
    assert_eq!(vectors[0][0], 0, "none of the left-out member's rows are in the night");
}
