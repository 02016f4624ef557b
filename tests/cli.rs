//! The command line's promises: bad input refused before any request with file, line and fix;
//! the tools around the run (validate, dry run, endpoint check).

mod common;

use common::*;
use hivewatch::sim::SimConfig;

fn run_config(src: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hivewatch.toml");
    std::fs::write(&path, src).unwrap();
    let out = hivewatch(&["run", "--config", path.to_str().unwrap()], env);
    (out.status.code(), text(&out))
}

#[test]
fn bad_configs_are_refused_with_file_line_and_fix_before_any_request() {
    let sim = TestSim::start(SimConfig::default());
    let suite = core_suite().display().to_string();
    let good = format!(
        "[run]\nsuite = {suite:?}\nsamples = 1\n\n[[endpoints]]\nname = \"a\"\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"a\"\napi_key_env = \"HW_CLI_KEY\"\n",
        sim.openai_url()
    );
    let cases: Vec<(String, &str, &str)> = vec![
        (good.replace("\"openai\"", "\"opneai\""), "hivewatch.toml:7:", "unknown variant `opneai`"),
        (good.replace("samples = 1", "samples = \"two\""), "hivewatch.toml:3:", "invalid type"),
        (good.replace("model = \"a\"", "modle = \"a\""), "hivewatch.toml:", "modle"),
        (good.clone(), "HW_CLI_KEY (endpoint a)", "export each variable"),
        (
            format!(
                "{good}\n[[endpoints]]\nname = \"a\"\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\nmodel = \"b\"\n"
            ),
            "hivewatch.toml:13:",
            "used twice",
        ),
        (good.replace(&suite, "/nonexistent/suite"), "/nonexistent/suite", "cannot read the probe suite folder"),
        (good.replace("[run]", "[run\n"), "hivewatch.toml:1:", ""),
    ];
    for (src, where_, what) in cases {
        let (code, log) = run_config(&src, &[]);
        assert_eq!(code, Some(2), "{log}");
        assert!(log.contains(where_), "expected {where_:?} in:\n{log}");
        assert!(log.contains(what), "expected {what:?} in:\n{log}");
    }
    // A behaviour lexicon with a pattern that does not compile: its file and line.
    let lexicon_dir = tempfile::tempdir().unwrap();
    let lexicon = lexicon_dir.path().join("lexicon.toml");
    let builtin = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/features/behaviour.toml")).unwrap();
    let broken = builtin.replacen("opening = [", "opening = [\n  '(unclosed',", 1);
    let line = broken.lines().position(|l| l.contains("(unclosed")).unwrap() + 1;
    std::fs::write(&lexicon, broken).unwrap();
    let src = format!("{good}\n[features]\nlexicon = {:?}\n", lexicon.display().to_string());
    let (code, log) = run_config(&src, &[("HW_CLI_KEY", "k")]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains(&format!("lexicon.toml:{line}:")) && log.contains("bad pattern"), "{log}");
    // Identity rules with a pattern that does not compile: their file and line too.
    let rules = lexicon_dir.path().join("vendors.toml");
    let builtin = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/identity/vendors.toml")).unwrap();
    let broken = builtin.replacen("negation = [", "negation = [\n  '(unclosed',", 1);
    let line = broken.lines().position(|l| l.contains("(unclosed")).unwrap() + 1;
    std::fs::write(&rules, broken).unwrap();
    let src = format!("{good}\n[features]\nidentity_rules = {:?}\n", rules.display().to_string());
    let (code, log) = run_config(&src, &[("HW_CLI_KEY", "k")]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains(&format!("vendors.toml:{line}:")) && log.contains("bad pattern"), "{log}");
    assert_eq!(sim.requests(), 0, "nothing may be sent for bad input");
}

#[test]
fn bad_suites_are_refused_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 3);
    std::fs::write(
        suite.join("dup.toml"),
        "# duplicate\n[[probes]]\nid = \"p-001\"\ncategory = \"x\"\nprompt = \"again\"\n",
    )
    .unwrap();
    let out = hivewatch(&["probes", "validate", suite.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let log = text(&out);
    assert!(log.contains("dup.toml:3") && log.contains("used twice") && log.contains("probes.toml:"), "{log}");

    std::fs::remove_file(suite.join("dup.toml")).unwrap();
    std::fs::write(suite.join("probes.toml"), "").unwrap();
    let out = hivewatch(&["probes", "validate", suite.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("holds no probes"), "{}", text(&out));
}

#[test]
fn core_suite_validates_and_matches_the_built_in_copy() {
    let out = hivewatch(&["probes", "validate", core_suite().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let on_disk = hivewatch::probes::Suite::load(&core_suite()).unwrap();
    let built_in = hivewatch::demo::core_suite();
    assert_eq!(on_disk.id, built_in.id, "src/demo.rs must embed every file of probes/core");
    assert!(on_disk.probes.len() >= 150);
    assert!(on_disk.categories().len() >= 10);
    assert!(on_disk.categories().values().all(|&n| n >= 10));
    assert!(text(&out).contains(&on_disk.id));
}

#[test]
fn dry_run_prints_the_plan_and_sends_nothing() {
    let sim = TestSim::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 5);
    let config = write_config(dir.path(), &suite, 3, "", &endpoints(4, &sim, ""));
    let out = hivewatch(&["run", "--dry-run", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("= 60 requests"), "{stdout}");
    assert!(stdout.contains("acme-m0") && stdout.contains("anthropic"), "{stdout}");
    assert!(stdout.contains("duration: no endpoint has a rate limit"), "{stdout}");
    // With rate limits: 15 requests an endpoint, evenly spaced at 30 a minute, the first at
    // once: at least 28 s, whatever the latency; one endpoint slower than the others sets it.
    let eps =
        endpoints(3, &sim, "").replace("name = \"borealis-m1\"", "name = \"borealis-m1\"\nrequests_per_minute = 20");
    let header = "[limits]\nrequests_per_minute = 30\n";
    let config = write_config(dir.path(), &suite, 3, header, &eps);
    let out = hivewatch(&["run", "--dry-run", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("duration: at least 42s (borealis-m1: 15 requests at 20 a minute), a lower bound from the rate limits alone, not from how long answers take"),
        "{stdout}"
    );
    assert!(stdout.contains("if every answer took 5 s, about 42s with the configured concurrency"), "{stdout}");
    assert_eq!(sim.requests(), 0);
    assert!(!dir.path().join("reports/responses").exists());
}

/// `hivewatch` run in `dir` (the working folder), with nothing of the clone around it.
fn hivewatch_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// `hivewatch init` in an empty folder outside the clone writes the example configuration and
/// the shipped suites (byte for byte), refuses to overwrite them without --force, and what it
/// wrote runs there: the dry run, then a simulated night.
#[test]
fn init_in_an_empty_folder_outside_the_clone_gives_a_night_that_runs() {
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path();
    let out = hivewatch_in(here, &["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("hivewatch run --dry-run"), "{}", text(&out));
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for suite in ["core", "contagion"] {
        for entry in std::fs::read_dir(repo.join("probes").join(suite)).unwrap() {
            let path = entry.unwrap().path();
            let written = here.join("probes").join(suite).join(path.file_name().unwrap());
            assert_eq!(std::fs::read(&written).unwrap(), std::fs::read(&path).unwrap(), "{}", written.display());
        }
    }
    let config = std::fs::read_to_string(here.join("hivewatch.toml")).unwrap();
    assert!(config.contains("suite = \"probes/core\""), "{config}");

    // Nothing is overwritten without --force, and nothing is written at all.
    std::fs::write(here.join("probes/core/suite.toml"), "edited").unwrap();
    let out = hivewatch_in(here, &["init"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("hivewatch.toml: exists already and 19 other file(s)"), "{}", text(&out));
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(here.join("probes/core/suite.toml")).unwrap(), "edited");
    let out = hivewatch_in(here, &["init", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_ne!(std::fs::read_to_string(here.join("probes/core/suite.toml")).unwrap(), "edited");
    // Into a named folder, created.
    let out = hivewatch_in(here, &["init", "elsewhere"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(here.join("elsewhere/probes/contagion/suite.toml").is_file());

    // The dry run of what init wrote, from that folder (default --config hivewatch.toml).
    let out = hivewatch_in(here, &["run", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("x 4 endpoints") && stdout.contains("duration: at least"), "{stdout}");

    // A simulated night: the written configuration with its endpoints on the simulator and no
    // rate limit.
    let sim = TestSim::start(SimConfig::default());
    let head = config.split("[[endpoints]]").next().unwrap().replace("requests_per_minute = 60", "");
    std::fs::write(here.join("hivewatch.toml"), format!("{head}{}", endpoints(3, &sim, ""))).unwrap();
    let out = hivewatch_in(here, &["run"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("coverage 100.0%") && stdout.contains("report: "), "{stdout}");
    assert!(here.join("reports/html/latest.html").is_file());
}

/// `suite = "core"` is the built-in suite from any folder; a bare name that is no built-in
/// suite and no folder is refused with the built-in names.
#[test]
fn a_bare_suite_name_is_the_built_in_suite_and_an_unknown_one_lists_them() {
    let sim = TestSim::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hivewatch.toml");
    let write = |suite: &str| {
        std::fs::write(&config, format!("[run]\nsuite = \"{suite}\"\n{}", endpoints(2, &sim, ""))).unwrap();
    };
    write("core");
    let out = hivewatch_in(dir.path(), &["run", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let built_in = hivewatch::demo::core_suite();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&built_in.id), "{}", text(&out));
    write("contagion");
    let out = hivewatch_in(dir.path(), &["run", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    write("cor");
    let out = hivewatch_in(dir.path(), &["run", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("core, contagion") && text(&out).contains("/cor"), "{}", text(&out));
    // `probes validate` takes a name too.
    let out = hivewatch_in(dir.path(), &["probes", "validate", "contagion"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(sim.requests(), 0);
}

#[test]
fn endpoints_check_reports_each_endpoint() {
    let sim = TestSim::start(SimConfig { api_key: Some("sk-check-key-123456".into()), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 1);
    let mut eps = endpoints(3, &sim, "api_key_env = \"HW_GOOD\"");
    eps.push_str(&endpoint("badkey-x", "openai", &sim, "api_key_env = \"HW_BAD\""));
    eps.push_str(&endpoint("down-x", "openai", &sim, "").replace(&sim.openai_url(), "http://127.0.0.1:9/v1"));
    let config = write_config(dir.path(), &suite, 1, "", &eps);
    let out = hivewatch(
        &["endpoints", "check", "--config", config.to_str().unwrap()],
        &[("HW_GOOD", "sk-check-key-123456"), ("HW_BAD", "sk-not-the-key-987654")],
    );
    let log = text(&out);
    assert_eq!(out.status.code(), Some(5), "a failed check has its own exit code, not 3 (rerun to resume): {log}");
    assert!(log.contains("2 endpoint(s) failed the check (exit code 5)"), "{log}");
    let line = |name: &str| {
        log.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} missing:\n{log}")).to_owned()
    };
    for name in ["acme-m0", "borealis-m1", "cirrus-m2"] {
        assert!(line(name).contains(" ok "), "{log}");
    }
    assert!(line("badkey-x").contains("auth"), "{log}");
    assert!(line("down-x").contains("connect"), "{log}");
    assert!(!log.contains("sk-not-the-key-987654"), "key leaked: {log}");
}

#[test]
fn the_help_lists_every_import_format_and_what_analyze_recomputes() {
    let out = hivewatch(&["--help"], &[]);
    let help = text(&out);
    assert_eq!(out.status.code(), Some(0), "{help}");
    for format in ["jsonl", "csv", "alpaca-eval", "inspect-ai", "promptfoo"] {
        assert!(help.contains(format), "{format} missing from the help:\n{help}");
    }
    assert!(help.contains("embeddings") && help.contains("trends, alerts and the report"), "{help}");
    assert!(help.contains("5 an endpoint check failed"), "{help}");
    assert!(help.contains("query"), "{help}");
}

#[test]
fn a_run_date_in_the_future_is_refused_before_anything_is_sent() {
    let sim = TestSim::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path(), 2);
    let config = write_config(dir.path(), &suite, 1, "", &endpoints(2, &sim, ""));
    let future = (chrono::Utc::now().date_naive() + chrono::Days::new(30)).to_string();
    let out = hivewatch(&["run", "--config", config.to_str().unwrap(), "--run-date", &future], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is in the future"), "{}", text(&out));
    assert_eq!(sim.requests(), 0);
    let out = hivewatch(
        &[
            "import",
            "--format",
            "jsonl",
            "--output",
            dir.path().join("r").to_str().unwrap(),
            "--run-date",
            &future,
            "x.jsonl",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn the_simulator_prints_a_base_url_for_each_provider() {
    let mut child = std::process::Command::new(BIN)
        .args(["simulate", "serve", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut seen = String::new();
    for _ in 0..6 {
        seen.push_str(&lines.next().unwrap().unwrap());
        seen.push('\n');
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for provider in ["openai", "anthropic", "gemini"] {
        assert!(seen.contains(&format!("provider = \"{provider}\"")), "{seen}");
    }
    assert!(seen.contains("/v1\""), "the OpenAI-compatible base_url ends in /v1: {seen}");
}

#[test]
fn simulator_rejects_bad_fault_specs() {
    let out = hivewatch(&["simulate", "serve", "--port", "0", "--faults", "418=0.5"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("unknown fault"), "{}", text(&out));
}

#[test]
fn the_example_configuration_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hivewatch.example.toml");
    let config = hivewatch::config::Config::load(&path).unwrap();
    assert_eq!(config.endpoints.len(), 4);
    let suite = config.load_suite().unwrap();
    assert!(!suite.probes.is_empty());
    let out = hivewatch(&["run", "--dry-run", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Issue 30, item 16: `query --print` refused an output without runs; it prints the SQL. Running
/// the query there is refused, saying so.
#[test]
fn query_prints_its_sql_before_any_run_and_refuses_to_run_on_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("not-yet");
    let out = hivewatch(&["query", "alert_history", "--print", "--output", out_dir.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let sql = String::from_utf8_lossy(&out.stdout);
    assert!(sql.starts_with(&format!("SET VARIABLE hivewatch_out = '{}';", out_dir.display())), "{sql}");
    let out = hivewatch(&["query", "alert_history", "--output", out_dir.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("holds no runs") && text(&out).contains("--print"), "{}", text(&out));
    let out = hivewatch(&["query", "--list"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("alert_history"), "{}", text(&out));
}
