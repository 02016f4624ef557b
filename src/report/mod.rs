//! The report a person reads (`<output>/html/<run_date>.html` and `latest.html`): one
//! self-contained HTML file per run with inline SVG charts and no script: the key metrics over
//! time with their intervals, baselines and alerts; the model-pair similarity heatmap; the
//! behaviour families; the probes that moved most, with sample answers; the shared phrases;
//! the alerts in words.
//!
//! Model text is untrusted: every string that reaches the page goes through [`esc`], and a
//! Content-Security-Policy forbids scripts, so even a missed escape could not run one.
//! It reads only the tables of at most [`HISTORY_RUNS`] runs.

pub mod svg;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};

use crate::embed::Embedder;
use crate::store::runs::RunInfo;
use crate::store::{self, StoreError};
use svg::{Point, fmt};

/// Runs shown in the charts, at most.
pub const HISTORY_RUNS: usize = 60;
/// The overall metrics charted, in order.
const CHARTED: &[&str] = &["effective_models", "model_vendi_ratio", "homogenization_index", "family_hhi"];

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

fn strings<'a>(batch: &'a RecordBatch, name: &str) -> Vec<&'a str> {
    let col = batch.column_by_name(name).expect("column").as_string::<i32>();
    (0..col.len()).map(|i| if col.is_null(i) { "" } else { col.value(i) }).collect()
}

fn floats(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let col = batch.column_by_name(name).expect("column").as_primitive::<Float64Type>();
    (0..col.len()).map(|i| (!col.is_null(i)).then(|| col.value(i))).collect()
}

fn ints(batch: &RecordBatch, name: &str) -> Vec<i64> {
    let col = batch.column_by_name(name).expect("column").as_primitive::<Int64Type>();
    (0..col.len()).map(|i| col.value(i)).collect()
}

/// Reads a per-run table file if it exists (older runs may lack newer tables).
fn batches_if_any(path: &Path) -> Result<Vec<RecordBatch>, StoreError> {
    if path.exists() { store::read_batches(path) } else { Ok(Vec::new()) }
}

/// One charted metric of one night.
struct Charted {
    value: f64,
    ci: Option<(f64, f64)>,
    /// Baseline and its band (baseline +- 2 spreads).
    baseline: Option<(f64, f64, f64)>,
    segment_start: String,
}

/// One run's overall trend rows and its alerts, as the charts need them.
struct Night {
    date: chrono::NaiveDate,
    run_id: String,
    metrics: HashMap<String, Charted>,
    /// (scope, metric) -> worst severity raised.
    alerts: HashMap<(String, String), String>,
}

fn read_night(
    output: &Path,
    date: chrono::NaiveDate,
    run_id: &str,
    embedder: &Embedder,
) -> Result<Option<Night>, StoreError> {
    let trends = store::per_embedder_path(output, store::trends::TABLE, date, run_id, embedder);
    if !trends.exists() {
        return Ok(None);
    }
    let mut metrics = HashMap::new();
    for b in store::read_batches(&trends)? {
        let (scope, metric, start) = (strings(&b, "scope"), strings(&b, "metric"), strings(&b, "segment_start"));
        let (value, lo, hi) = (floats(&b, "value"), floats(&b, "ci_low"), floats(&b, "ci_high"));
        let (base, spread) = (floats(&b, "baseline"), floats(&b, "baseline_spread"));
        for i in 0..b.num_rows() {
            if scope[i] == "overall" && CHARTED.contains(&metric[i]) {
                let band = base[i].map(|m| {
                    let s = spread[i].unwrap_or(0.0);
                    (m, m - 2.0 * s, m + 2.0 * s)
                });
                let charted = Charted {
                    value: value[i].unwrap_or(f64::NAN),
                    ci: lo[i].zip(hi[i]),
                    baseline: band,
                    segment_start: start[i].to_owned(),
                };
                metrics.insert(metric[i].to_owned(), charted);
            }
        }
    }
    let mut alerts: HashMap<(String, String), String> = HashMap::new();
    for b in batches_if_any(&store::per_embedder_path(output, store::alerts::TABLE, date, run_id, embedder))? {
        let (severity, scope, metric) = (strings(&b, "severity"), strings(&b, "scope"), strings(&b, "metric"));
        for i in 0..b.num_rows() {
            if severity[i] == "info" {
                continue;
            }
            let e = alerts.entry((scope[i].to_owned(), metric[i].to_owned())).or_insert_with(|| severity[i].to_owned());
            if severity[i] == "critical" {
                *e = "critical".into();
            }
        }
    }
    Ok(Some(Night { date, run_id: run_id.to_owned(), metrics, alerts }))
}

/// Writes the report of a run (after its trends and alerts); returns the dated file's path.
pub fn write_report(output: &Path, run: &RunInfo, embedder: &Embedder) -> Result<PathBuf, StoreError> {
    let html = render(output, run, embedder)?;
    let dir = output.join("html");
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let dated = dir.join(format!("{}.html", run.run_date));
    for path in [&dated, &dir.join("latest.html")] {
        store::write_atomic(path, |f| std::io::Write::write_all(f, html.as_bytes())).map_err(io(path))?;
    }
    Ok(dated)
}

/// The page of a run.
pub fn render(output: &Path, run: &RunInfo, embedder: &Embedder) -> Result<String, StoreError> {
    // The charts: the last HISTORY_RUNS runs up to this one that have trends for this embedder.
    let mut nights: Vec<Night> = Vec::new();
    // Tonight's `runs` row is written after the report, so tonight is added here.
    let mut runs = store::runs::list(output)?;
    if !runs.iter().any(|(_, id)| *id == run.run_id) {
        runs.push((run.run_date, run.run_id.clone()));
        runs.sort();
    }
    for (date, id) in runs.into_iter().rev() {
        if (date, id.as_str()) > (run.run_date, run.run_id.as_str()) {
            continue;
        }
        if nights.len() == HISTORY_RUNS {
            break;
        }
        if let Some(n) = read_night(output, date, &id, embedder)? {
            nights.push(n);
        }
    }
    nights.reverse();
    let tonight_segment = nights.last().and_then(|n| n.metrics.values().next().map(|m| m.segment_start.clone()));
    let previous = nights.iter().rev().skip(1).find(|n| {
        tonight_segment.is_some() && n.metrics.values().next().map(|m| &m.segment_start) == tonight_segment.as_ref()
    });

    let mut page = String::new();
    let _ = write!(
        page,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hivewatch report {date}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1180px; color: #1b1b1b; padding: 0 1em; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 3px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.chart .frame {{ fill: none; stroke: #ccc; }} .chart .title {{ font-weight: 600; font-size: 12px; }}
.tick {{ font-size: 10px; fill: #555; }} .ci-band {{ fill: #9ecae1; opacity: .45; }} .baseline-band {{ fill: #ddd; opacity: .6; }}
.baseline {{ fill: none; stroke: #777; stroke-dasharray: 4 3; }} .value {{ fill: none; stroke: #08519c; stroke-width: 1.6; }}
.dot {{ fill: #08519c; }} .dot.warning {{ fill: #f28e2b; }} .dot.critical {{ fill: #d62728; }} .segment {{ stroke: #999; stroke-dasharray: 2 2; }}
.critical {{ color: #b00; font-weight: 600; }} .warning {{ color: #b36200; font-weight: 600; }} .info {{ color: #555; }}
blockquote {{ margin: .3em 0 .6em; padding: .3em .6em; background: #f6f6f6; border-left: 3px solid #ccc; white-space: pre-wrap; }}
</style></head><body>
<h1>hivewatch report {date}</h1>
<p>Run <code>{run_id}</code>, embedder <code>{embedder}</code>, coverage {coverage:.1}% of requests.</p>
"#,
        date = run.run_date,
        run_id = esc(&run.run_id),
        embedder = esc(embedder.id()),
        coverage = run.coverage * 100.0
    );

    // Alerts in words.
    page.push_str("<h2>Alerts</h2>\n");
    let alerts_path = store::per_embedder_path(output, store::alerts::TABLE, run.run_date, &run.run_id, embedder);
    let mut any = false;
    page.push_str("<ul class=\"alerts\">\n");
    for b in batches_if_any(&alerts_path)? {
        let (severity, rule, message) = (strings(&b, "severity"), strings(&b, "rule"), strings(&b, "message"));
        for i in 0..b.num_rows() {
            any = true;
            let _ = writeln!(
                page,
                r#"<li><span class="{0}">{0}</span> <code>{1}</code> {2}</li>"#,
                esc(severity[i]),
                esc(rule[i]),
                esc(message[i])
            );
        }
    }
    page.push_str("</ul>\n");
    if !any {
        page.push_str("<p>No alert tonight.</p>\n");
    }

    // Key metrics over time.
    page.push_str("<h2>Diversity over time</h2>\n<p>Blue: tonight's value and its 95% interval; dashed: the baseline (median of earlier comparable runs) with a band of two robust spreads; red and orange dots: critical and warning alerts; dotted verticals: a change of instrument.</p>\n<div class=\"charts\">\n");
    for metric in CHARTED {
        let mut last_segment: Option<&str> = None;
        let points: Vec<Point> = nights
            .iter()
            .filter_map(|n| {
                let c = n.metrics.get(*metric)?;
                let segment_start = last_segment.is_some_and(|s| s != c.segment_start);
                last_segment = Some(&c.segment_start);
                Some(Point {
                    label: n.date.to_string(),
                    value: c.value,
                    ci: c.ci,
                    baseline: c.baseline,
                    alert: n.alerts.get(&("overall".to_owned(), (*metric).to_owned())).cloned(),
                    segment_start,
                })
            })
            .collect();
        page.push_str(&svg::line_chart(metric, &points));
        page.push('\n');
    }
    page.push_str("</div>\n");

    // Pair heatmap and families.
    let pairs_path =
        store::per_embedder_path(output, store::pair_similarity::TABLE, run.run_date, &run.run_id, embedder);
    let mut pair: HashMap<(String, String), f64> = HashMap::new();
    for b in batches_if_any(&pairs_path)? {
        let (a, bb, cat, mean) = (
            strings(&b, "model_a"),
            strings(&b, "model_b"),
            b.column_by_name("category").expect("category").clone(),
            floats(&b, "mean_similarity"),
        );
        for i in 0..b.num_rows() {
            if cat.is_null(i) {
                pair.insert((a[i].to_owned(), bb[i].to_owned()), mean[i].unwrap_or(f64::NAN));
            }
        }
    }
    let families_path = store::per_embedder_path(output, store::families::TABLE, run.run_date, &run.run_id, embedder);
    let mut families: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for b in batches_if_any(&families_path)? {
        let (endpoint, family) = (strings(&b, "endpoint"), strings(&b, "family"));
        for i in 0..b.num_rows() {
            families.entry(family[i].to_owned()).or_default().push(endpoint[i].to_owned());
        }
    }
    // Models ordered by family, so families show as blocks on the diagonal.
    let names: Vec<String> = families.values().flatten().cloned().collect();
    page.push_str("<h2>Model pairs</h2>\n<p>Mean cosine similarity of two models' answers to the same probes, ordered by behaviour family.</p>\n");
    page.push_str(&svg::heatmap(&names, |a, b| {
        let key = if names[a] < names[b] {
            (names[a].clone(), names[b].clone())
        } else {
            (names[b].clone(), names[a].clone())
        };
        pair.get(&key).copied()
    }));
    page.push_str("\n<h2>Behaviour families</h2>\n<table><tr><th>family</th><th>models</th></tr>\n");
    for (family, members) in &families {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(family),
            members.iter().map(|m| esc(m)).collect::<Vec<_>>().join(", ")
        );
    }
    page.push_str("</table>\n");

    // Probes that moved most, with sample answers.
    let probe_ratio = |date, id: &str| -> Result<BTreeMap<String, (String, f64)>, StoreError> {
        let mut out = BTreeMap::new();
        for b in batches_if_any(&store::per_embedder_path(output, store::probe_metrics::TABLE, date, id, embedder))? {
            let (probe, cat, ratio) =
                (strings(&b, "probe_id"), strings(&b, "category"), floats(&b, "model_vendi_ratio"));
            for i in 0..b.num_rows() {
                if let Some(r) = ratio[i] {
                    out.insert(probe[i].to_owned(), (cat[i].to_owned(), r));
                }
            }
        }
        Ok(out)
    };
    let now = probe_ratio(run.run_date, &run.run_id)?;
    let before = match previous {
        Some(p) => probe_ratio(p.date, &p.run_id)?,
        None => BTreeMap::new(),
    };
    let mut moved: Vec<(String, String, Option<f64>, f64)> =
        now.iter().map(|(probe, (cat, r))| (probe.clone(), cat.clone(), before.get(probe).map(|b| b.1), *r)).collect();
    let key = |m: &(String, String, Option<f64>, f64)| m.2.map_or(m.3, |b| m.3 - b);
    moved.sort_by(|a, b| key(a).total_cmp(&key(b)).then(a.0.cmp(&b.0)));
    moved.truncate(8);
    if previous.is_some() {
        page.push_str("<h2>Probes that moved most</h2>\n<p>The largest falls of the model Vendi ratio since the previous comparable run.</p>\n");
    } else {
        page.push_str("<h2>Most converged probes</h2>\n<p>No comparable earlier run: the probes with the lowest model Vendi ratio tonight.</p>\n");
    }
    page.push_str("<table><tr><th>probe</th><th>category</th><th>before</th><th>tonight</th></tr>\n");
    for (probe, cat, b, r) in &moved {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(probe),
            esc(cat),
            b.map_or("-".into(), fmt),
            fmt(*r)
        );
    }
    page.push_str("</table>\n");
    let shown: HashSet<&str> = moved.iter().take(3).map(|m| m.0.as_str()).collect();
    let first_of_family: HashMap<&str, &str> =
        families.iter().filter_map(|(f, members)| Some((members.first()?.as_str(), f.as_str()))).collect();
    let mut samples: BTreeMap<(String, String), String> = BTreeMap::new();
    let responses = store::table_path(output, store::responses::TABLE, run.run_date, &run.run_id);
    if responses.exists() {
        let mut texts = store::responses::OkTexts::open(&responses, 4096)?;
        while let Some(chunk) = texts.next_chunk()? {
            for t in chunk {
                if t.sample_index == 0
                    && shown.contains(t.probe_id.as_str())
                    && first_of_family.contains_key(t.endpoint.as_str())
                {
                    let excerpt: String = t.text.chars().take(280).collect();
                    samples.insert((t.probe_id, t.endpoint), excerpt);
                }
            }
        }
    }
    for probe in moved.iter().take(3).map(|m| &m.0) {
        let _ = writeln!(page, "<h3>Sample answers to {}</h3>", esc(probe));
        for ((p, endpoint), excerpt) in &samples {
            if p == probe {
                let _ = writeln!(
                    page,
                    "<p><b>{}</b> (family {})</p><blockquote>{}</blockquote>",
                    esc(endpoint),
                    esc(first_of_family.get(endpoint.as_str()).copied().unwrap_or("")),
                    esc(excerpt)
                );
            }
        }
    }

    // Shared phrases.
    page.push_str("<h2>Shared phrases</h2>\n<p>Word 4-grams that at least half the models used on one probe, by how many probes.</p>\n<table><tr><th>phrase</th><th>probes</th><th>most models on one probe</th></tr>\n");
    let phrases_path = store::shared_phrases::path(output, run.run_date, &run.run_id);
    let mut rows = 0;
    for b in batches_if_any(&phrases_path)? {
        let (phrase, probes, models) = (strings(&b, "phrase"), ints(&b, "probes"), ints(&b, "max_models"));
        for i in 0..b.num_rows() {
            if rows == 15 {
                break;
            }
            rows += 1;
            let _ = writeln!(page, "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", esc(phrase[i]), probes[i], models[i]);
        }
    }
    page.push_str("</table>\n<p class=\"info\">Generated by hivewatch from the Parquet tables of this run; query them with DuckDB (reports/queries).</p>\n</body></html>\n");
    Ok(page)
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
