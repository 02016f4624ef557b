//! Shared by the integration tests: a simulator on 127.0.0.1, configs in temporary folders,
//! the hivewatch binary as a subprocess, and DuckDB to read what it wrote.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use hivewatch::sim::{RunningSim, SimConfig};

pub const BIN: &str = env!("CARGO_BIN_EXE_hivewatch");

/// A simulator on its own runtime, so tests can block on subprocesses while it serves.
pub struct TestSim {
    pub sim: Option<RunningSim>,
    rt: tokio::runtime::Runtime,
}

impl TestSim {
    pub fn start(config: SimConfig) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let sim = rt.block_on(hivewatch::sim::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config)).unwrap();
        TestSim { sim: Some(sim), rt }
    }

    pub fn sim(&self) -> &RunningSim {
        self.sim.as_ref().unwrap()
    }

    pub fn requests(&self) -> u64 {
        self.sim().requests_received()
    }

    pub fn openai_url(&self) -> String {
        self.sim().openai_url()
    }

    pub fn root_url(&self) -> String {
        self.sim().root_url()
    }
}

impl Drop for TestSim {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            self.rt.block_on(sim.stop());
        }
    }
}

/// One `[[endpoints]]` table.
pub fn endpoint(name: &str, provider: &str, sim: &TestSim, extra: &str) -> String {
    let base = if provider == "openai" { sim.openai_url() } else { sim.root_url() };
    format!(
        "\n[[endpoints]]\nname = \"{name}\"\nprovider = \"{provider}\"\nbase_url = \"{base}\"\nmodel = \"{name}\"\n{extra}\n"
    )
}

/// Endpoints spread over the three providers and several families.
pub fn endpoints(n: usize, sim: &TestSim, extra: &str) -> String {
    const FAMILIES: &[&str] = &["acme", "borealis", "cirrus", "delta", "ember", "fjord", "gala"];
    const PROVIDERS: &[&str] = &["openai", "anthropic", "gemini"];
    (0..n).map(|i| endpoint(&format!("{}-m{i}", FAMILIES[i % FAMILIES.len()]), PROVIDERS[i % 3], sim, extra)).collect()
}

/// The repository's probes/core.
pub fn core_suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("probes/core")
}

/// A small suite of `n` probes over 3 categories, written into `dir`.
pub fn small_suite(dir: &Path, n: usize) -> PathBuf {
    let suite = dir.join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    std::fs::write(suite.join("suite.toml"), "[suite]\nname = \"small\"\nversion = \"1\"\ndescription = \"test\"\n")
        .unwrap();
    let mut probes = String::new();
    for i in 0..n {
        let cat = ["policy", "refusal", "creative"][i % 3];
        probes.push_str(&format!(
            "[[probes]]\nid = \"p-{i:03}\"\ncategory = \"{cat}\"\nprompt = \"Question {i}: should cities favour trains or cars, and why? Consider cost, climate and fairness.\"\n\n"
        ));
    }
    std::fs::write(suite.join("probes.toml"), probes).unwrap();
    suite
}

/// Writes hivewatch.toml into `dir` and returns its path.
pub fn write_config(dir: &Path, suite: &Path, samples: u32, header_extra: &str, endpoints: &str) -> PathBuf {
    let path = dir.join("hivewatch.toml");
    let text = format!(
        "[run]\nsuite = {:?}\nsamples = {samples}\noutput = \"reports\"\n{header_extra}\n{endpoints}",
        suite.display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the binary to completion with extra environment variables.
pub fn hivewatch(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("NO_PROXY", "127.0.0.1").env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Writes a scenario file into `dir` and runs `hivewatch demo` on it; the output goes to
/// `dir/out`. The caller checks the exit code (1 when the scenario raises an alert).
pub fn demo_scenario(dir: &Path, scenario: &str) -> (Output, PathBuf) {
    let file = dir.join("scenario.toml");
    std::fs::write(&file, scenario).unwrap();
    let out_dir = dir.join("out");
    let out = hivewatch(&["demo", "--scenario", file.to_str().unwrap(), "--output", out_dir.to_str().unwrap()], &[]);
    (out, out_dir)
}

/// The night of a row (1 for the output's first run), as SQL over `{out}` for [`duckdb`].
pub const NIGHT: &str = "date_diff('day', (SELECT min(run_date) FROM read_parquet('{out}/runs/*/*.parquet', hive_partitioning=true)), run_date) + 1";

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The Python that has DuckDB: `HIVEWATCH_PYTHON`, set by scripts/test.sh.
pub fn python() -> String {
    std::env::var("HIVEWATCH_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The DuckDB command line: `HIVEWATCH_DUCKDB`, else the `duckdb` beside the test Python
/// (scripts/test.sh installs duckdb-cli into its venv).
pub fn duckdb_cli() -> PathBuf {
    if let Some(p) = std::env::var_os("HIVEWATCH_DUCKDB").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let cli = Path::new(&python()).with_file_name("duckdb");
    assert!(
        cli.is_file(),
        "no DuckDB command line at {}: run the tests with scripts/test.sh, which installs it",
        cli.display()
    );
    cli
}

/// Runs SQL in DuckDB; returns rows as JSON arrays. `{out}` in the SQL is replaced by `out`.
pub fn duckdb(out: &Path, sql: &str) -> Vec<Vec<serde_json::Value>> {
    let sql = sql.replace("{out}", &out.display().to_string());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/duckdb_query.py");
    let o = Command::new(python()).arg(script).arg(&sql).output().unwrap_or_else(|e| {
        panic!("cannot run {} ({e}): run the tests with scripts/test.sh, which installs DuckDB", python())
    });
    assert!(
        o.status.success(),
        "DuckDB query failed (run the tests with scripts/test.sh, which installs DuckDB):\n{sql}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

pub fn scalar_i64(out: &Path, sql: &str) -> i64 {
    duckdb(out, sql)[0][0].as_i64().unwrap_or_else(|| panic!("not an integer: {sql}"))
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() { stack.push(p) } else { out.push(p) }
        }
    }
    out
}

/// Waits (bounded) until `cond` holds.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A webhook receiver that answers 500 to its first `fail_first` posts, then 200.
pub struct Hook {
    _rt: tokio::runtime::Runtime,
    pub url: String,
    pub attempts: std::sync::Arc<std::sync::atomic::AtomicU32>,
    pub bodies: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl Hook {
    pub fn start(fail_first: u32) -> Hook {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (a, b) = (std::sync::Arc::clone(&attempts), std::sync::Arc::clone(&bodies));
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
                let (a, b) = (std::sync::Arc::clone(&a), std::sync::Arc::clone(&b));
                async move {
                    if a.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < fail_first {
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
