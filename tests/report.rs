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
                    "choices": [{"message": {"role": "assistant", "content": format!("{INJECTION} {}", "and so on, ".repeat(40))}, "finish_reason": "stop"}],
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

/// Runs `chromium --headless --dump-dom` on a page; returns the rendered DOM and the console log.
fn render(page: &std::path::Path) -> (String, String) {
    let file = format!("file://{}", page.display());
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
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn console_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Content Security Policy"))
        .collect()
}

/// The pages written for one run date (one per run and embedder).
fn pages_of(html_dir: &std::path::Path, date: &str) -> Vec<std::path::PathBuf> {
    let mut pages: Vec<_> =
        files_under(&html_dir.join(date)).into_iter().filter(|p| p.extension().is_some_and(|e| e == "html")).collect();
    pages.sort();
    pages
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
    // A fifth endpoint that is down on the third night: its coverage guard fires.
    let down = "\n[[endpoints]]\nname = \"down-d\"\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"down-d\"\n";
    let limits = "[limits]\nmax_retries = 0\n";
    let run = |date: &str, endpoints: &str| {
        let config = write_config(dir, &suite, 2, limits, endpoints);
        let out = hivewatch(&["run", "--config", config.to_str().unwrap(), "--run-date", date], &[]);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run("2026-02-01", &eps);
    let second_stdout = run("2026-02-02", &eps);
    let stdout = run("2026-02-03", &format!("{eps}{down}"));
    assert!(stdout.contains("report: "), "run says where its report is: {stdout}");
    assert!(stdout.contains("effective models "), "and its headline figures: {stdout}");
    assert!(stdout.contains("baseline building: night 3 of 8 comparable runs"), "{stdout}");
    // A second run on the same date keeps the first one's page.
    run("2026-02-03", &eps);

    let html_dir = dir.join("reports/html");
    let third = pages_of(&html_dir, "2026-02-03");
    assert_eq!(third.len(), 2, "two runs on one date, two pages: {third:?}");
    let latest_text = std::fs::read_to_string(html_dir.join("latest.html")).unwrap();
    // A backfill of an older night does not move latest.html back: it still shows the same
    // night (now judged again with the backfilled one, README "backfills").
    let run_line = |page: &str| page.lines().find(|l| l.starts_with("<p>Run <code>")).map(|l| l[..45].to_owned());
    run("2026-01-20", &eps);
    let after = std::fs::read_to_string(html_dir.join("latest.html")).unwrap();
    assert!(after.contains("<title>hivewatch report 2026-02-03</title>"), "{after}");
    assert_eq!(run_line(&after), run_line(&latest_text), "the same run");
    assert!(latest_text.contains("<title>hivewatch report 2026-02-03</title>"));

    let page = latest_text;
    // Self-contained: nothing to fetch, no script of its own.
    assert!(
        !page.contains("<script") && !page.contains("<link") && !page.contains("src=\"http"),
        "the page loads nothing"
    );
    assert!(page.contains("&lt;script&gt;document.title"), "the injection is shown as text");

    let (dom, log) = render(&html_dir.join("latest.html"));
    assert!(
        dom.contains("<title>hivewatch report 2026-02-03</title>"),
        "the title is untouched: {}",
        &dom[..dom.len().min(400)]
    );
    assert!(!dom.contains("data-pwned=\""), "no injected handler ran");
    assert!(!dom.contains("<b id=\"injected-bold\">") && !dom.contains("<img"), "no injected element exists");
    assert!(!dom.contains("<script"), "no script element in the rendered page");
    assert!(dom.contains("&lt;b id=\"injected-bold\"&gt;"), "the injected markup is visible text");
    assert!(console_errors(&log).is_empty(), "script or policy errors: {:?}", console_errors(&log));

    // The parts of the page.
    assert_eq!(dom.matches("<svg class=\"chart\"").count(), 4, "four charts rendered");
    // The first tick is the backfilled night: the latest page was judged again with it.
    assert!(dom.contains("class=\"grid\"") && dom.contains(">2026-01-20</text>"), "value and date ticks");
    assert!(dom.contains("class=\"low-coverage\""), "the night of low coverage is marked on the charts");
    assert!(dom.contains("a fall is bad") && dom.contains("a rise is bad"), "which way is bad, per metric");
    assert!(dom.contains("how many distinct models there effectively are"), "the metric's meaning");
    assert!(dom.contains("<svg class=\"heatmap\""));
    assert!(dom.contains("mean cosine similarity"), "the heatmap's colour key");
    assert!(dom.contains("Alerts of the last 14 nights"), "the recent alerts block");
    assert!(
        dom.contains("<span class=\"critical\">critical</span> <code>coverage</code>"),
        "with the low-coverage night's alert: {}",
        &dom[dom.find("Alerts of the last").unwrap_or(0)..].chars().take(1500).collect::<String>()
    );
    let prompt_at = dom.find("<div class=\"prompt\"><b>Prompt.</b> Question").expect("the probe's prompt is shown");
    let answer_at = dom[prompt_at..].find("<blockquote>").map(|i| i + prompt_at).expect("sample answers follow");
    assert!(prompt_at < answer_at);
    assert!(page.contains("&hellip; <span class=\"info\">(first 280 characters)</span>"), "a cut quote says so");
    assert!(dom.contains("rel=\"prev\"") && dom.contains("all nights</a>"), "links to the night before and the index");

    // Who is like whom: the model map (one point per answering model), the lineage table and one
    // card per model with its rates and their past runs.
    let map_at = dom.find("<svg class=\"model-map\"").expect("the model map is drawn");
    let map = &dom[map_at..map_at + dom[map_at..].find("</svg>").expect("the map's svg closes")];
    assert!(map.matches("<circle").count() >= 4, "acme-a, cirrus-c, ember-e, inject-x: {map}");
    for model in ["acme-a", "cirrus-c", "ember-e", "inject-x"] {
        assert!(map.contains(&format!(">{model}</text>")), "{model} is labelled on the map");
    }
    assert!(dom.contains("<h2>Lineage: declared and measured</h2>"), "the lineage table");
    assert!(dom.matches("class=\"model-card\"").count() >= 4, "one card per model");
    assert!(dom.matches("class=\"spark\"").count() >= 4, "each card's rates over past runs");

    // The index links every night, newest first; a middle night links both neighbours.
    let (index, log) = render(&html_dir.join("index.html"));
    assert!(console_errors(&log).is_empty(), "{:?}", console_errors(&log));
    for date in ["2026-01-20", "2026-02-01", "2026-02-02", "2026-02-03"] {
        assert!(index.contains(&format!("<td>{date}</td>")), "{date} in the index");
    }
    let table = &index[index.find("<h2>Every night</h2>").expect("the table of nights")..];
    assert!(table.find("2026-02-03").unwrap() < table.find("2026-01-20").unwrap(), "newest first");
    assert_eq!(index.matches("<td><a href=\"2026-02-03/").count(), 2, "both runs of 2026-02-03 listed");
    let second = &pages_of(&html_dir, "2026-02-02")[0];
    let middle = std::fs::read_to_string(second).unwrap();
    assert!(middle.contains("rel=\"prev\">&larr; 2026-02-01</a>"), "prev");
    assert!(middle.contains("rel=\"next\">2026-02-03 &rarr;</a>"), "next, added when the next night was written");
    let first = std::fs::read_to_string(&pages_of(&html_dir, "2026-02-01")[0]).unwrap();
    assert!(first.contains("rel=\"prev\">&larr; 2026-01-20</a>"), "the backfill was linked in before it");

    // The grid of nights and rules leads the page and the index: the low-coverage night's rule,
    // a column per night; the index names the rules of each night beside its counts.
    let grid_at = dom.find("<svg class=\"story\"").expect("the grid of nights and rules");
    assert!(grid_at < dom.find("<svg class=\"chart\"").unwrap(), "before the charts");
    let grid = &dom[grid_at..grid_at + dom[grid_at..].find("</svg>").unwrap()];
    assert!(grid.contains(">coverage</text>"), "{grid}");
    for date in ["2026-02-01", "2026-02-02", "2026-02-03"] {
        assert!(grid.contains(&format!("<title>{date}: ")), "{date} has its column: {grid}");
    }
    assert!(index.contains("<svg class=\"story\"") && index.contains(">coverage</text>"), "the grid on the index");
    assert!(index.contains("critical</span>: <code>coverage</code>"), "the rules named beside the counts");

    // One family count: the run's printed headline, its page and table `families` agree, and
    // the definition is said beside the number.
    let printed: usize = second_stdout
        .split(" behaviour families of ")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the headline counts families: {second_stdout}"));
    let in_table = scalar_i64(
        &dir.join("reports"),
        "SELECT count(DISTINCT family) FROM read_parquet('{out}/families/*/*.parquet', hive_partitioning=true) WHERE run_date = '2026-02-02' AND level = 'close'",
    );
    assert_eq!(printed as i64, in_table, "{second_stdout}");
    let page = std::fs::read_to_string(&pages_of(&html_dir, "2026-02-02")[0]).unwrap();
    let models = scalar_i64(
        &dir.join("reports"),
        "SELECT count(DISTINCT endpoint) FROM read_parquet('{out}/families/*/*.parquet', hive_partitioning=true) WHERE run_date = '2026-02-02'",
    );
    let said = format!("{printed} behaviour families of {models} models");
    assert!(second_stdout.contains(&said), "{second_stdout}");
    assert!(page.contains(&format!("Behaviour families</h2>\n<p>{said}")), "the report says the same");
    assert!(page.contains("are too few to calibrate against") && second_stdout.contains("are too few"), "and how");
}

/// Tonight's panel: after a model retires, the earlier nights are measured again on tonight's
/// models, so the chart shows no cliff the retirement made, and the caption says so.
#[test]
fn after_a_model_retires_the_charts_plot_every_night_on_tonights_models() {
    let sim = TestSim::start(SimConfig::default());
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let suite = small_suite(dir, 8);
    let names = ["acme-a", "borealis-b", "cirrus-c", "ember-e"];
    let run = |date: &str, models: &[&str]| {
        let eps: String = models.iter().map(|n| endpoint(n, "openai", &sim, "")).collect();
        let config = write_config(dir, &suite, 2, "", &eps);
        let out = hivewatch(&["run", "--config", config.to_str().unwrap(), "--run-date", date], &[]);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    };
    for date in ["2026-03-01", "2026-03-02", "2026-03-03"] {
        run(date, &names);
    }
    run("2026-03-04", &names[..3]);
    let page = std::fs::read_to_string(dir.join("reports/html/latest.html")).unwrap();
    let chart_at = page.find("aria-label=\"effective number of models\"").expect("the chart");
    let chart = &page[chart_at..chart_at + page[chart_at..].find("</figure>").unwrap()];
    assert!(
        chart.contains("Every night on tonight&#39;s 3 models (3 earlier nights measured again on them)."),
        "the caption says what is plotted: {chart}"
    );
    // The effective number of three models is at most 3: every dot is on the three.
    let dots: Vec<f64> = chart
        .split("<circle class=\"dot")
        .skip(1)
        .map(|c| {
            c.split("<title>")
                .nth(1)
                .unwrap()
                .split(": ")
                .nth(1)
                .unwrap()
                .split(['<', ' '])
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(dots.len(), 4, "{chart}");
    assert!(dots.iter().all(|v| *v <= 3.0 + 1e-9), "no night plotted on four models: {dots:?}");
    // The stored nights keep their own measures: the first night's own value is over four.
    let own = scalar_i64(
        &dir.join("reports"),
        "SELECT count(*) FROM read_parquet('{out}/run_metrics/*/*.parquet', hive_partitioning=true) WHERE run_date = '2026-03-01' AND metric = 'models' AND scope = 'overall' AND value = 4",
    );
    assert_eq!(own, 1);
}
