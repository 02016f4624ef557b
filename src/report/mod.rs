//! The report a person reads: one self-contained HTML file per run and embedder with inline SVG
//! charts and no script (`<output>/html/<run_date>/<run>.<embedder>.html`, and
//! `latest.html`; the index of every night and the links between them are [`pages`]): the
//! alerts in words, tonight's and the last two weeks'; the key metrics over time, each with its
//! meaning and which way is bad, their intervals, baselines, alerts, nights of low coverage and
//! changes of instrument or panel; the model-pair similarity heatmap on a fixed scale; the
//! behaviour families; the model map, the lineage verdicts and one card per model
//! ([`lineage`]); for a run with paired probes, contagion ([`contagion`]); the probes that moved most, each prompt above sample answers; the shared
//! phrases.
//!
//! [`data::ReportData`] gathers what the page shows through the stages' table readers; each
//! section below renders one part of it. Model text is untrusted: every string that reaches
//! the page goes through [`esc`], and a Content-Security-Policy forbids scripts, so even a
//! missed escape could not run one.

mod cards;
pub mod contagion;
pub mod data;
mod identity;
mod incidents;
pub mod lineage;
mod many;
mod members;
pub mod moved;
pub mod pages;
mod panel;
pub mod story;
pub mod svg;
pub mod tree;

use std::fmt::Write;
use std::path::PathBuf;

use crate::alert::Severity;
use crate::plan::runs::RunInfo;
use crate::store::{EmbedderTag, Output, StoreError};
use crate::vocab::metric;
use crate::vocab::{Direction, Scope};
use data::{CHARTED, EXCERPT_CHARS, PHRASES_SHOWN, RECENT_NIGHTS, ReportData};
use pages::Nav;
use svg::{Point, fmt};

pub use data::HISTORY_RUNS;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Writes the page of a run (after its trends and alerts), links it into the index and to its
/// neighbours, and moves latest.html to it when it is the latest night; returns the page's path.
/// Families are shown at `level` of the family tree (the configuration's).
pub fn write_report(
    output: &Output,
    run: &RunInfo,
    embedder: &EmbedderTag,
    level: crate::vocab::FamilyLevel,
) -> Result<PathBuf, StoreError> {
    let data = ReportData::gather(output, run, embedder, level)?;
    let view = lineage::gather(output, &run.run_ref(embedder), &data.families, &data.nights)?;
    let html = output.html_dir();
    let file = pages::page_file(output, &run.run_ref(embedder));
    let mut index = pages::read_index(&html)?;
    let count = |s: Severity| data.alerts.iter().filter(|a| a.severity == s).count();
    index.upsert(pages::Entry {
        date: run.run_date,
        run_id: run.run_id.clone(),
        embedder: embedder.name.clone(),
        tag: pages::embedder_tag(&file, &run.run_id),
        file: file.clone(),
        coverage: run.coverage,
        models: data.families.values().map(Vec::len).sum(),
        effective_models: data.tonight().and_then(|n| n.metrics.get(metric::EFFECTIVE_MODELS)).map(|m| m.value),
        critical: count(Severity::Critical),
        warning: count(Severity::Warning),
        rules: story::worst_by_rule(&data.alerts).into_iter().map(|(r, s)| (r, s.as_str().to_owned())).collect(),
    });
    let columns = index.columns(&file);
    let path = html.join(&file);
    pages::write(&path, &render(&data, &view, &index.nav(&file, "../"), &columns))?;
    // The neighbours' links, on their own pages and on latest.html when it shows one of them.
    let nav = index.nav(&file, "../");
    for (_, neighbour) in nav.prev.iter().chain(&nav.next) {
        pages::patch_nav(&html.join(neighbour), &index.nav(neighbour, "../"))?;
    }
    let latest = index.latest_file(&file);
    let latest_path = html.join("latest.html");
    if latest.as_deref() == Some(file.as_str()) {
        pages::write(&latest_path, &render(&data, &view, &index.nav(&file, ""), &columns))?;
    } else if let Some(shown) = &latest {
        pages::patch_nav(&latest_path, &index.nav(shown, ""))?;
    }
    index.latest = latest;
    pages::write_index(&html, &index)?;
    Ok(path)
}

/// The page of a run (its lineage section from `lineage_view`); `nav` links the index and the
/// neighbouring nights; `columns` are the nights of the grid that leads it, this one last.
/// The story first (the grid, the episodes, the charts), the long lists last.
pub fn render(data: &ReportData, lineage_view: &lineage::LineageView, nav: &Nav, columns: &[story::Column]) -> String {
    let mut page = String::new();
    head(&mut page, data, nav);
    members::section(&mut page, data);
    story::section(&mut page, columns, &nav.base, columns.last().map(|c| c.file.as_str()));
    incidents::section(&mut page, data);
    charts_section(&mut page, data);
    contagion::section(&mut page, data);
    pairs_section(&mut page, data);
    families_section(&mut page, data);
    lineage::sections(&mut page, lineage_view);
    cards::section(&mut page, lineage_view);
    probes_section(&mut page, data);
    phrases_section(&mut page, data);
    alerts_section(&mut page, data);
    recent_alerts_section(&mut page, data);
    let _ = write!(
        page,
        "<p class=\"info\">Generated by hivewatch from the Parquet tables of this run (<code>run_id = '{}'</code>, <code>embedder_id = '{}'</code>); query them with DuckDB: <code>hivewatch query --list</code>.</p>\n</body></html>\n",
        esc(&data.run.run_id),
        esc(&data.embedder_id)
    );
    page
}

fn head(page: &mut String, data: &ReportData, nav: &Nav) {
    let _ = write!(
        page,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hivewatch report {date}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1180px; color: #1b1b1b; padding: 0 1em; }}
h1 {{ font-size: 1.5em; margin-bottom: .2em; }} h2 {{ font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }}
nav {{ margin: .3em 0 1em; }} nav a {{ text-decoration: none; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 3px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 16px; }}
figure {{ margin: 0; width: 560px; }} figcaption {{ font-size: 12.5px; color: #333; margin: 2px 0 0 4px; }}
.chart .frame {{ fill: none; stroke: #ccc; }} .chart .title {{ font-weight: 600; font-size: 12px; }}
.tick {{ font-size: 10px; fill: #555; }} .label {{ font-size: 11px; fill: #222; }} .grid {{ stroke: #eee; }} .axis {{ stroke: #999; }}
.ci-band {{ fill: #9ecae1; opacity: .45; }} .baseline-band {{ fill: #ddd; opacity: .6; }}
.baseline {{ fill: none; stroke: #777; stroke-dasharray: 4 3; }} .value {{ fill: none; stroke: #08519c; stroke-width: 1.6; }}
.dot {{ fill: #08519c; }} .dot.warning {{ fill: #f28e2b; }} .dot.critical {{ fill: #d62728; }} .dot.low {{ fill: #fff; stroke: #888; stroke-width: 1.2; }}
.value.other-panel {{ stroke: #999; stroke-dasharray: 3 2; }} .dot.other-panel {{ fill: #999; }}
.low-coverage {{ fill: #fbd5d0; opacity: .7; }} .segment {{ stroke: #999; stroke-dasharray: 2 2; }} .panel {{ stroke: #9467bd; stroke-dasharray: 5 2; stroke-width: 1.3; }}
.cell {{ font-size: 9.5px; fill: #222; }} .cell.dark {{ fill: #fff; }}
.critical {{ color: #b00; font-weight: 600; }} .warning {{ color: #b36200; font-weight: 600; }} .info {{ color: #555; }}
.bad {{ color: #8a1c1c; }}
.story-grid, .wide {{ overflow-x: auto; }} .story .rule {{ font-size: 11px; fill: #222; font-family: ui-monospace, monospace; }}
table.incidents {{ font-size: 12.5px; }} td.said {{ font-size: 12px; color: #333; min-width: 18em; }}
.prompt {{ margin: .3em 0 .6em; padding: .4em .7em; background: #eef4fb; border-left: 3px solid #6baed6; white-space: pre-wrap; }}
blockquote {{ margin: .3em 0 .6em; padding: .3em .6em; background: #f6f6f6; border-left: 3px solid #ccc; white-space: pre-wrap; }}
</style></head><body>
<h1>hivewatch report {date}</h1>
<nav>{nav}</nav>
<p>Run <code>{run_id}</code>, embedder <code>{embedder}</code> (its full id at the foot of the page), coverage {coverage:.1}% of requests.{headline}</p>
"#,
        date = data.run.run_date,
        nav = nav.html(),
        run_id = esc(&data.run.run_id),
        embedder =
            esc(&crate::store::EmbedderTag { name: data.embedder_name.clone(), id: data.embedder_id.clone() }.short()),
        coverage = data.run.coverage * 100.0,
        headline = headline(data),
    );
}

/// Tonight in one sentence: the models, the effective number of them against its baseline.
fn headline(data: &ReportData) -> String {
    let models: usize = data.families.values().map(Vec::len).sum();
    let Some(m) = data.tonight().and_then(|n| n.metrics.get(metric::EFFECTIVE_MODELS)) else {
        return format!(" {models} models.");
    };
    let base = m.baseline.map_or_else(
        || " (no comparable earlier run yet: no baseline)".to_owned(),
        |(b, _, _)| format!(" against a baseline of {}", fmt(b)),
    );
    let panel = m.full.map_or_else(String::new, |(full, n)| {
        format!("; judged on the {} models tonight shares with its baseline (all {n}: {})", m.panel_models, fmt(full))
    });
    format!(
        " {models} models in {} behaviour families (the family tree's {} level, <a href=\"#families\">as defined under Behaviour families</a>); effectively {} distinct models{base}{panel}.",
        data.families.len(),
        data.family_level.label(),
        fmt(m.value)
    )
}

fn alert_items(page: &mut String, alerts: &[crate::alert::Alert]) {
    page.push_str("<ul class=\"alerts\">\n");
    // The message names what it is about, in words: the rule's name is the only code.
    for a in alerts {
        let _ = writeln!(
            page,
            r#"<li><span class="{0}">{0}</span> <code>{1}</code> {2}{3}</li>"#,
            esc(a.severity.as_str()),
            esc(&a.rule),
            esc(&a.message),
            a.inhibited_by
                .as_deref()
                .map(|i| format!(" <span class=\"info\">(held back by incident {})</span>", esc(i)))
                .unwrap_or_default()
        );
    }
    page.push_str("</ul>\n");
}

/// Tonight's alerts in words.
fn alerts_section(page: &mut String, data: &ReportData) {
    page.push_str("<h2>Alerts tonight</h2>\n");
    if data.alerts.is_empty() {
        page.push_str("<p>No alert tonight.</p>\n");
    } else {
        let _ = writeln!(
            page,
            "<details><summary>{} alert rows tonight (the nightly record the incidents above are made of)</summary>",
            data.alerts.len()
        );
        // At many models, tonight's rows can be thousands: the first ones, and where the rest are.
        let shown = if many::is_many(data.model_count()) { many::ROWS_SHOWN } else { data.alerts.len() };
        alert_items(page, &data.alerts[..shown.min(data.alerts.len())]);
        many::more_note(page, if shown < data.alerts.len() { data.alerts.len() } else { 0 }, "alerts");
        page.push_str("</details>\n");
    }
}

/// The alerts of the nights before, so a quiet night does not hide a week of alerts.
fn recent_alerts_section(page: &mut String, data: &ReportData) {
    let _ = writeln!(page, "<h2>Alerts of the last {RECENT_NIGHTS} nights</h2>");
    let nights: Vec<_> = data.recent_nights().filter(|n| !n.alert_list.is_empty()).collect();
    if nights.is_empty() {
        let _ = writeln!(page, "<p>None in the {RECENT_NIGHTS} nights before tonight.</p>");
        return;
    }
    page.push_str("<details><summary>the nightly rows</summary>\n<table><tr><th>night</th><th>alerts</th></tr>\n");
    for n in nights {
        let _ = write!(page, "<tr><td>{}</td><td>", n.date);
        const SHOWN: usize = 6;
        alert_items(page, &n.alert_list[..n.alert_list.len().min(SHOWN)]);
        if n.alert_list.len() > SHOWN {
            let _ = write!(
                page,
                "<span class=\"info\">and {} more on that night's page</span>",
                n.alert_list.len() - SHOWN
            );
        }
        page.push_str("</td></tr>\n");
    }
    page.push_str("</table></details>\n");
}

/// Which way a metric converges, in words.
fn bad_way(metric: &str) -> &'static str {
    if matches!(metric, metric::ADOPTION_GAIN | metric::INJECTION_COMPLIANCE | metric::CLAIM_SIMILARITY_GAIN) {
        return "a rise is bad: models take up more of what feeds broadcast";
    }
    match crate::vocab::direction(&Scope::Overall, metric) {
        Direction::DownIsBad => "a fall is bad: less diversity",
        Direction::UpIsBad => "a rise is bad: models more alike",
        Direction::Neutral => "descriptive: neither way is bad",
    }
}

/// The key metrics over time, each with what it means and which way is bad.
fn charts_section(page: &mut String, data: &ReportData) {
    page.push_str("<h2>Diversity over time</h2>\n<p>Blue: the night's value and its 95% interval; dashed grey: the baseline (median of earlier comparable runs) with a band of two robust spreads; red and orange dots: critical and warning alerts; hollow dots on a pale red column: low coverage, nothing judged; grey dotted verticals: a change of instrument (new baseline); purple dashed verticals: the set of models changed (values judged on the models tonight shares with its baseline).</p>\n<div class=\"charts\">\n");
    for metric in CHARTED {
        metric_figure(page, data, metric);
    }
    page.push_str("</div>\n");
}

/// One overall metric's chart over the nights, with its meaning and tonight's value.
fn metric_figure(page: &mut String, data: &ReportData, metric: &str) {
    let mut charted_before = false;
    let mut last_panel: Option<&str> = None;
    let points: Vec<Point> = data
        .nights
        .iter()
        .filter_map(|n| {
            let c = n.metrics.get(metric)?;
            let segment_start = charted_before && c.instrument_change;
            charted_before = true;
            let panel_change = last_panel.is_some_and(|p| p != c.panel_id) && !segment_start;
            last_panel = Some(&c.panel_id);
            let again = data.repanel.values.get(&n.run_id).and_then(|m| m.get(metric));
            Some(Point {
                label: n.date.to_string(),
                value: again.map_or(c.value, |a| a.0),
                ci: again.map_or(c.ci, |a| a.1),
                // A baseline is of the night's own panel: not drawn where the value is another's.
                baseline: if again.is_some() { None } else { c.baseline },
                other_panel: data.repanel.own_panel.contains(&n.run_id),
                alert: n.alerts.get(&(Scope::Overall, metric.to_owned())).map(|s| s.as_str().to_owned()),
                segment_start,
                panel_change,
                low_coverage: n.low_coverage.then_some(n.coverage),
            })
        })
        .collect();
    let info = crate::vocab::info(metric);
    let label = info.map_or(metric, |i| i.label);
    page.push_str("<figure>");
    page.push_str(&svg::line_chart(label, &points));
    let tonight = data.tonight().and_then(|n| n.metrics.get(metric)).map_or_else(String::new, |c| {
        let base = c.baseline.map_or_else(|| "no baseline yet".to_owned(), |(b, _, _)| format!("baseline {}", fmt(b)));
        format!(" Tonight {} ({base}).", fmt(c.value))
    });
    let _ = writeln!(
        page,
        "<figcaption><code>{}</code>: {}; <span class=\"bad\">{}</span>.{tonight} <span class=\"info\">{}</span></figcaption></figure>",
        esc(metric),
        esc(info.map_or("", |i| i.meaning)),
        bad_way(metric),
        esc(&data.repanel.caption)
    );
}

/// The pair heatmap, models ordered by family so families show as blocks on the diagonal.
fn pairs_section(page: &mut String, data: &ReportData) {
    if many::is_many(data.model_count()) {
        many::pairs_section(page, data);
        return;
    }
    let names: Vec<String> = data.families.values().flatten().cloned().collect();
    let (lo, hi) = svg::HEATMAP_SCALE;
    let _ = writeln!(
        page,
        "<h2>Model pairs</h2>\n<p>Mean cosine similarity of two models' answers to the same probes, models ordered by behaviour family (families are the blocks on the diagonal). The colours run from {lo} to {hi} on every night's page, so two nights compare by eye; hover a cell for its value.</p>"
    );
    page.push_str(&svg::heatmap(&names, |a, b| {
        let key = if names[a] < names[b] {
            (names[a].clone(), names[b].clone())
        } else {
            (names[b].clone(), names[a].clone())
        };
        data.pairs.get(&key).copied()
    }));
    page.push('\n');
}

fn families_section(page: &mut String, data: &ReportData) {
    let _ = write!(
        page,
        "<h2 id=\"families\">Behaviour families</h2>\n<p>{} behaviour families of {} models, at the level <code>[alerts.concentration] level</code> names: {} (the same count as the run's printed headline and table <code>families</code>; the tree and every level are under the model map).</p>\n<table><tr><th>family</th><th>models</th></tr>\n",
        data.families.len(),
        data.families.values().map(Vec::len).sum::<usize>(),
        esc(&crate::metrics::aggregate::family_definition(
            data.families.values().map(Vec::len).sum(),
            data.family_level
        )),
    );
    for (family, members) in &data.families {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(family),
            members.iter().map(|m| esc(m)).collect::<Vec<_>>().join(", ")
        );
    }
    page.push_str("</table>\n");
}

/// The probes that moved most, each prompt above sample answers.
fn probes_section(page: &mut String, data: &ReportData) {
    if data.has_previous {
        let _ = writeln!(
            page,
            "<h2>Probes that moved most</h2>\n<p>The largest falls of each probe's model Vendi ratio (distinct model behaviours over models) below its baseline: the median over the earlier comparable nights (at most {}), as the trends judge the overall ratio.</p>",
            moved::BASELINE_NIGHTS
        );
    } else {
        page.push_str("<h2>Most converged probes</h2>\n<p>No comparable earlier run: the probes with the lowest model Vendi ratio tonight.</p>\n");
    }
    page.push_str("<table><tr><th>probe</th><th>category</th><th>baseline</th><th>tonight</th></tr>\n");
    for m in &data.moved {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&m.probe),
            esc(&m.category),
            m.before.map_or("-".into(), fmt),
            fmt(m.tonight)
        );
    }
    page.push_str("</table>\n");
    // At many models, the heads of the largest families only (a night of 500 families of one
    // would quote 500 answers a probe).
    let heads: Option<std::collections::HashSet<&str>> = many::is_many(data.model_count()).then(|| {
        many::by_size(&data.families)
            .iter()
            .take(many::LABELLED_FAMILIES)
            .filter_map(|(_, m)| m.first())
            .map(String::as_str)
            .collect()
    });
    let quoted = |endpoint: &str| heads.as_ref().is_none_or(|h| h.contains(endpoint));
    if let Some(h) = &heads {
        let _ = writeln!(
            page,
            "<p class=\"info\">{} families: the answers below are of the {} largest.</p>",
            data.families.len(),
            h.len()
        );
    }
    for probe in data.moved.iter().take(3).map(|m| &m.probe) {
        let _ = writeln!(page, "<h3>{}: the prompt and the first answer of each family</h3>", esc(probe));
        match data.prompts.get(probe) {
            Some((prompt, system)) => {
                if let Some(system) = system {
                    let _ = writeln!(page, "<p class=\"info\">System prompt: {}</p>", esc(system));
                }
                let _ = writeln!(page, "<div class=\"prompt\"><b>Prompt.</b> {}</div>", esc(prompt));
            }
            None => page.push_str("<p class=\"info\">(The prompt is not stored for this run.)</p>\n"),
        }
        for ((p, endpoint), excerpt) in &data.samples {
            if p == probe && quoted(endpoint) {
                let _ = writeln!(
                    page,
                    "<p><b>{}</b> (family {})</p><blockquote>{}{}</blockquote>",
                    esc(endpoint),
                    esc(data.family_of_head(endpoint).unwrap_or("")),
                    esc(&excerpt.text),
                    if excerpt.cut {
                        format!(" &hellip; <span class=\"info\">(first {EXCERPT_CHARS} characters)</span>")
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
}

fn phrases_section(page: &mut String, data: &ReportData) {
    page.push_str("<h2>Shared phrases</h2>\n<p>Phrases that at least half the models used on one probe, by on how many probes (word 4-grams, overlapping ones joined into the phrase they come from; a range when its 4-grams differ).</p>\n<table><tr><th>phrase</th><th>probes</th><th>most models on one probe</th></tr>\n");
    for p in data.phrases.iter().take(PHRASES_SHOWN) {
        let probes =
            if p.probes.0 == p.probes.1 { p.probes.0.to_string() } else { format!("{}-{}", p.probes.0, p.probes.1) };
        let _ = writeln!(page, "<tr><td>{}</td><td>{probes}</td><td>{}</td></tr>", esc(&p.phrase), p.max_models);
    }
    page.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_attributes() {
        assert_eq!(
            esc(r#"<img src=x onerror="a('b')">&"#),
            "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;"
        );
    }
}
