//! Incidents over the simulated ecosystem, night after night through `hivewatch run` (real HTTP
//! to the simulator and to a webhook receiver on 127.0.0.1, tables read back by DuckDB): an
//! alert that holds for nights is one incident, paged when it opens and when it closes and
//! never in between; an acknowledged pair pages nothing and the report says why; an
//! ecosystem-wide narrowing is one convergence incident that holds back the pair alerts it
//! explains.

mod common;

use common::*;
use hivewatch::sim::SimConfig;
use hivewatch::sim::scenario::Scenario;

/// Eight models in six voices; `events` appended.
fn scenario(name: &str, seed: u64, nights: u32, events: &str) -> String {
    let models: String =
        [("a-1", 0), ("a-2", 0), ("b-1", 1), ("c-1", 2), ("d-1", 3), ("e-1", 4), ("f-1", 5), ("g-1", 1)]
            .iter()
            .map(|(m, v)| format!("[[models]]\nname = \"{m}\"\nvoice = {v}\n"))
            .collect();
    format!("[scenario]\nname = \"{name}\"\nseed = {seed}\nnights = {nights}\nprobes = 30\n\n{models}\n{events}")
}

const DRAWN_TOGETHER: &str = "[[events]]\nkind = \"influence\"\nmodel = \"e-1\"\ntoward = \"b-1\"\nstart = 9\nend = 12\nstrength = 0.9\n\n[[events]]\nkind = \"influence\"\nmodel = \"c-1\"\ntoward = \"d-1\"\nstart = 9\nend = 12\nstrength = 0.9\n";

/// The rows of a table over every night, as JSON values, with the night number first.
fn rows(out: &std::path::Path, table: &str, columns: &str, filter: &str) -> Vec<Vec<serde_json::Value>> {
    duckdb(
        out,
        &format!(
            "SELECT {NIGHT}, {columns} FROM read_parquet('{{out}}/{table}/*/*.parquet', hive_partitioning=true) WHERE {filter} ORDER BY ALL"
        ),
    )
}

#[test]
fn a_pair_holding_for_nights_is_paged_once_each_way_and_an_acknowledged_one_not_at_all() {
    let text_of = scenario("drawn-together", 4242, 26, DRAWN_TOGETHER);
    let scen = std::sync::Arc::new(Scenario::parse(std::path::Path::new("(test)"), &text_of).unwrap());
    let sim = TestSim::start(SimConfig { scenario: Some(std::sync::Arc::clone(&scen)), ..SimConfig::default() });
    let hook = Hook::start(0);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let suite = small_suite(dir, 30);
    let out = dir.join("reports");
    let mut pages_by_night = Vec::new();
    for night in 1..=scen.meta.nights {
        sim.sim().set_night(night);
        let config = hivewatch::demo::demo_config_toml(sim.sim().addr, &out, &scen, night)
            .replace("suite = \"probes/core\"", &format!("suite = {:?}", suite.display().to_string()));
        let config = format!(
            "{config}\n[alerts]\nwebhook_url_env = \"HW_TEST_WEBHOOK\"\n[alerts.incidents]\ndigest = false\n\n[[acknowledge]]\nrule = \"pair\"\nscope = \"pair:b-1|e-1\"\nreason = \"e-1 is tuned on b-1's answers; its card is being updated\"\nuntil = \"2099-01-01\"\nby = \"lab-a\"\n"
        );
        let path = dir.join("hivewatch.toml");
        std::fs::write(&path, config).unwrap();
        let date = format!("2026-02-{night:02}");
        let before = hook.bodies.lock().unwrap().len();
        let run = hivewatch(
            &["run", "--config", path.to_str().unwrap(), "--run-date", &date],
            &[("HW_TEST_WEBHOOK", &hook.url)],
        );
        let code = run.status.code();
        assert!(matches!(code, Some(0 | 1)), "night {night}: {}", text(&run));
        let after = hook.bodies.lock().unwrap().len();
        pages_by_night.push((night, code, after - before));
    }

    // The drawn-together pair c-1|d-1: one incident, opened once, resolved once.
    let cd = rows(&out, "incidents", "incident_id, event, paged", "scope = 'pair:c-1|d-1'");
    let ids: std::collections::BTreeSet<&str> = cd.iter().map(|r| r[1].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "one incident for the pair: {cd:?}");
    let events: Vec<&str> = cd.iter().map(|r| r[2].as_str().unwrap()).collect();
    assert_eq!(events.first(), Some(&"opened"), "{events:?}");
    assert_eq!(events.last(), Some(&"resolved"), "it closed within the nights run: {events:?}");
    assert_eq!(events.iter().filter(|e| **e == "opened").count(), 1);
    let opened_night = cd[0][0].as_i64().unwrap();
    assert!((10..=15).contains(&opened_night), "found while or just after the drift (nights 9-12): {opened_night}");
    assert!(cd.len() >= 3, "it held for nights, one row each: {cd:?}");

    // The webhook heard exactly what the incidents table says paged, night by night, and of
    // the pair exactly twice: when it opened and when it closed.
    let paged = rows(&out, "incidents", "count(*)", "paged GROUP BY ALL");
    let paged_nights: Vec<i64> = paged.iter().map(|r| r[0].as_i64().unwrap()).collect();
    let posted_nights: Vec<i64> =
        pages_by_night.iter().filter(|(_, _, n)| *n > 0).map(|(night, _, _)| i64::from(*night)).collect();
    assert_eq!(posted_nights, paged_nights, "one message a night with news, none without");
    assert!(pages_by_night.iter().all(|(_, _, n)| *n <= 1), "one message a night at most: {pages_by_night:?}");
    let bodies = hook.bodies.lock().unwrap().clone();
    // News of the pair: a section `*<event>* <severity> `pair pair:c-1|d-1``, its series (the
    // calibrated similarity, the phrase uptake) one incident; a page about something else may
    // list it among what is still open, which is not news.
    let news_of_cd = |b: &serde_json::Value| -> Option<String> {
        b["blocks"].as_array().unwrap().iter().filter_map(|x| x["text"]["text"].as_str()).find_map(|t| {
            let event = t.strip_prefix('*')?.split('*').next()?.to_owned();
            let news = ["opened", "escalated", "released", "resolved"].contains(&event.as_str());
            (news && t.contains("`pair pair:c-1|d-1`")).then_some(event)
        })
    };
    let cd_news: Vec<String> = bodies.iter().filter_map(news_of_cd).collect();
    assert_eq!(cd_news, ["opened", "resolved"], "the pair is news twice: when it opens and when it closes: {bodies:?}");
    assert!(bodies.iter().all(|b| b["kind"] == "page"), "no digest was asked for");
    // The exit code: 1 on a night with bad news, 0 on the nights it only held or closed.
    let resolved_night = cd.last().unwrap()[0].as_i64().unwrap() as u32;
    assert_eq!(pages_by_night[opened_night as usize - 1].1, Some(1));
    for (night, code, _) in &pages_by_night {
        if *night > opened_night as u32 && *night < resolved_night && !paged_nights.contains(&i64::from(*night)) {
            assert_eq!(*code, Some(0), "night {night} only continued an incident");
        }
    }

    // The acknowledged pair b-1|e-1: tracked, silenced, never paged, the decision in the report.
    let be = rows(&out, "incidents", "acknowledged, paged", "scope = 'pair:b-1|e-1'");
    assert!(!be.is_empty(), "the acknowledged pair is still tracked");
    assert!(be.iter().all(|r| r[2] == false && r[1].as_str().unwrap().contains("by lab-a")), "{be:?}");
    assert!(bodies.iter().all(|b| !b.to_string().contains("pair:b-1|e-1")), "nothing paged about it");
    let page_of_night = |night: i64| {
        let date = format!("2026-02-{night:02}");
        let dir = out.join("html").join(&date);
        let file = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
        std::fs::read_to_string(file).unwrap()
    };
    let acked_night = be[0][0].as_i64().unwrap();
    let html = page_of_night(acked_night);
    assert!(
        html.contains("acknowledged until 2099-01-01 by lab-a: e-1 is tuned on b-1&#39;s answers"),
        "the report says who decided what"
    );
    // A night the pair's incident stayed open without holding, its row says so.
    let quiet = cd.iter().find(|r| r[2] == "quiet").expect("a quiet night before it closed");
    let quiet_page = page_of_night(quiet[0].as_i64().unwrap());
    let cd_row = quiet_page.split("<tr>").find(|r| r.contains("<code>pair:c-1|d-1</code>")).expect("its row");
    assert!(cd_row.contains("(quiet tonight)"), "{cd_row}");
    let incidents_at = html.find("<h2>Incidents</h2>").expect("an incidents section");
    assert!(incidents_at < html.find("<h2>Diversity over time</h2>").unwrap(), "incidents lead the page");
    assert!(incidents_at < html.find("<h2>Alerts tonight</h2>").unwrap(), "the nightly rows come after");

    // The last night's page tells the whole story, not the last two weeks': the grid of nights
    // and rules names every rule that was ever raised and has a column for every night ...
    let latest = std::fs::read_to_string(out.join("html/latest.html")).unwrap();
    let grid_at = latest.find("<h2>The nights at a glance</h2>").expect("the grid");
    assert!(grid_at < incidents_at.min(latest.find("<h2>Diversity over time</h2>").unwrap()), "it leads the page");
    let grid = &latest[grid_at..grid_at + latest[grid_at..].find("</svg>").unwrap()];
    let raised = rows(&out, "alerts", "rule", "severity <> 'info'");
    for rule in raised.iter().map(|r| r[1].as_str().unwrap()) {
        assert!(grid.contains(&format!(">{rule}</text>")), "{rule} has its row in the grid");
    }
    for night in 1..=scen.meta.nights {
        assert!(grid.contains(&format!("<title>2026-02-{night:02}: ")), "night {night} has its column");
    }
    // ... and the episodes are every incident of those nights, in the order they began, each
    // with its first and last night.
    let section =
        &latest[latest.find("<h2>Incidents</h2>").unwrap()..latest.find("<h2>Diversity over time</h2>").unwrap()];
    let firsts: Vec<&str> = section
        .split("<tr><td><code>")
        .skip(1)
        .map(|row| row.split("</td><td>").nth(2).expect("a first night"))
        .collect();
    let episodes =
        scalar_i64(&out, "SELECT count(DISTINCT incident_id) FROM read_parquet('{out}/incidents/*/*.parquet')");
    assert_eq!(firsts.len() as i64, episodes, "every episode listed: {section}");
    assert!(firsts.len() >= 2 && firsts.windows(2).all(|w| w[0] <= w[1]), "in night order: {firsts:?}");
    assert!(section.contains("<th>first night</th><th>last night</th>"));
}

#[test]
fn an_ecosystem_narrowing_is_one_incident_that_holds_back_the_pairs_it_explains() {
    let narrowing = "[[events]]\nkind = \"narrowing\"\nmodels = [\"*\"]\ntoward = \"confident\"\nstart = 9\nend = 12\nstrength = 0.7\n";
    let dir = tempfile::tempdir().unwrap();
    // Seed 778 since the core suite's banner probes (issue 29, suite 1.1.0): the 30 probes
    // sampled from 205 moved no pair series with seed 777 (778 to 780 all do).
    let (run, out) = demo_scenario(dir.path(), &scenario("narrowing", 778, 20, narrowing));
    assert!(run.status.code().is_some_and(|c| c <= 1), "{}", text(&run));

    let convergence = rows(&out, "incidents", "incident_id, event, paged", "rule = 'convergence'");
    let ids: std::collections::BTreeSet<&str> = convergence.iter().map(|r| r[1].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "one convergence incident for the whole narrowing: {convergence:?}");
    let id = *ids.iter().next().unwrap();
    let opened = convergence.iter().find(|r| r[2] == "opened").expect("it opened")[0].as_i64().unwrap();
    assert!((9..=12).contains(&opened), "opened during the narrowing: night {opened}");
    let pages: Vec<&str> = convergence.iter().filter(|r| r[3] == true).map(|r| r[2].as_str().unwrap()).collect();
    assert!(pages.len() <= 2 && pages[0] == "opened", "paged when it opened (and when it escalated): {pages:?}");
    // Many rules fired on many metrics; each alert row names the one incident.
    let rows_in = rows(
        &out,
        "alerts",
        "count(DISTINCT rule), count(DISTINCT metric)",
        &format!("incident_id = '{id}' GROUP BY ALL"),
    );
    assert!(rows_in.iter().any(|r| r[1].as_i64() > Some(1) || r[2].as_i64() > Some(1)), "{rows_in:?}");

    // The pairs that moved with everyone are recorded, explained by it: in the table, not paged.
    let pairs = rows(&out, "alerts", "scope, inhibited_by, severity", "rule = 'pair'");
    assert!(
        pairs.iter().any(|p| p[2].as_str() == Some(id)),
        "the narrowing moves some pair series, and the incident explains them: {pairs:?}"
    );
    // Every pair raised during it (warning or critical) is held back by it, not news of its own.
    for p in pairs.iter().filter(|p| p[3] != "info") {
        assert_eq!(p[2].as_str(), Some(id), "a pair the narrowing explains is held back by it: {p:?}");
    }
    let paged_pairs = rows(&out, "incidents", "scope, event", "rule = 'pair' AND paged AND event <> 'resolved'");
    assert!(
        paged_pairs.iter().all(|p| p[2] == "released"),
        "a held-back pair pages only if it outlives the ecosystem incident: {paged_pairs:?}"
    );
}
