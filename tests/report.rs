//! The HTML report in a real browser (headless chromium): it renders, with its charts, and a
//! response carrying an HTML/script injection stays inert text.

mod common;

use std::net::{Ipv4Addr, SocketAddr};

use common::*;
use hivewatch::sim::SimConfig;

const INJECTION: &str = r#"</blockquote><script>document.title='pwned'</script><img src=x onerror="document.body.setAttribute('data-pwned','1')"><b id="injected-bold">bold</b>"#;

/// An OpenAI-compatible endpoint whose model answers every prompt with an injection attempt.
struct Injector {
    _rt: tokio::runtime::Runtime,
    base_url: String,
}

impl Injector {
    fn start() -> Injector {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(|| async {
                axum::Json(serde_json::json!({
                    "choices": [{"message": {"role": "assistant", "content": INJECTION}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 40}
                }))
            }),
        );
        let listener = rt.block_on(tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))).unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Injector { _rt: rt, base_url }
    }
}

fn chromium() -> String {
    std::env::var("HIVEWATCH_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

#[test]
fn the_report_renders_in_a_browser_and_model_text_stays_inert() {
    let sim = TestSim::start(SimConfig::default());
    let injector = Injector::start();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let suite = small_suite(dir, 6);
    let mut eps: String = ["acme-a", "cirrus-c", "ember-e"].iter().map(|n| endpoint(n, "openai", &sim, "")).collect();
    eps.push_str(&format!(
        "\n[[endpoints]]\nname = \"inject-x\"\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"inject-x\"\n",
        injector.base_url
    ));
    let config = write_config(dir, &suite, 2, "", &eps);
    for date in ["2026-02-01", "2026-02-02"] {
        let out = hivewatch(&["run", "--config", config.to_str().unwrap(), "--run-date", date], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let html_dir = dir.join("reports/html");
    let page = std::fs::read_to_string(html_dir.join("latest.html")).unwrap();
    assert_eq!(page, std::fs::read_to_string(html_dir.join("2026-02-02.html")).unwrap());
    assert!(html_dir.join("2026-02-01.html").exists());
    // Self-contained: nothing to fetch, no script of its own.
    assert!(
        !page.contains("<script") && !page.contains("<link") && !page.contains("src=\"http"),
        "the page loads nothing"
    );
    assert!(page.contains("&lt;script&gt;document.title"), "the injection is shown as text");

    let file = format!("file://{}", html_dir.join("latest.html").display());
    let out = std::process::Command::new(chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            &file,
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}): scripts/test.sh installs chromium", chromium()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        dom.contains("<title>hivewatch report 2026-02-02</title>"),
        "the title is untouched: {}",
        &dom[..dom.len().min(400)]
    );
    assert!(!dom.contains("data-pwned=\""), "no injected handler ran");
    assert!(!dom.contains("<b id=\"injected-bold\">") && !dom.contains("<img"), "no injected element exists");
    assert!(!dom.contains("<script"), "no script element in the rendered page");
    assert!(dom.contains("&lt;b id=\"injected-bold\"&gt;"), "the injected markup is visible text");
    assert_eq!(dom.matches("<svg class=\"chart\"").count(), 4, "four charts rendered");
    assert!(dom.contains("<svg class=\"heatmap\""));
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Content Security Policy"))
        .collect();
    assert!(console_errors.is_empty(), "script or policy errors: {console_errors:?}");
}
