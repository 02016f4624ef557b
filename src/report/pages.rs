//! Where the pages go, and the pages that link them:
//!
//! - `html/<run_date>/<run_id>.<embedder>-<hash>.html`: one page per run and embedder, never
//!   overwritten by another run (two runs on one date keep two pages);
//! - `html/index.html`: every night, newest first, grouped by date, with coverage, the headline
//!   figure and the alerts raised, linking each page;
//! - `html/latest.html`: the page of the latest run date (by date, then run id); it never moves
//!   back to an older night, whatever order runs are imported or re-analysed in;
//! - `html/index.json`: what the index lists, so writing a page costs the same in year three as
//!   in week one.
//!
//! Each page links the index and its previous and next nights (same embedder). The links sit
//! between `<!--nav-->` markers; writing a page rewrites its neighbours' links there (model text
//! cannot contain the marker: every `<` it holds is escaped).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::esc;
use super::story::{self, Column};
use crate::alert::Severity;
use crate::store::table::RunRef;
use crate::store::{Output, StoreError};

/// One page as the index lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub date: NaiveDate,
    pub run_id: String,
    /// The embedder's short name and its file tag (`lexical-1a2b3c4d`).
    pub embedder: String,
    pub tag: String,
    /// Path under `html/`.
    pub file: String,
    pub coverage: f64,
    pub models: usize,
    /// Tonight's effective number of models, when measured.
    pub effective_models: Option<f64>,
    pub critical: usize,
    pub warning: usize,
    /// Rule -> the worst severity it reached that night (`critical`, `warning`, `info`): the
    /// nights-at-a-glance grid ([`super::story`]). Empty in an index written before it.
    #[serde(default)]
    pub rules: BTreeMap<String, String>,
}

impl Entry {
    fn key(&self) -> (NaiveDate, &str) {
        (self.date, self.run_id.as_str())
    }

    fn column(&self) -> Column {
        Column {
            date: self.date,
            file: self.file.clone(),
            rules: self.rules.iter().map(|(r, s)| (r.clone(), Severity::from_stored(s))).collect(),
        }
    }

    /// The rules raised that night (warning or critical), worst first.
    fn raised_rules(&self) -> Vec<&str> {
        let mut raised: Vec<(Severity, &str)> = self
            .rules
            .iter()
            .map(|(r, s)| (Severity::from_stored(s), r.as_str()))
            .filter(|(s, _)| *s >= Severity::Warning)
            .collect();
        raised.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        raised.into_iter().map(|(_, r)| r).collect()
    }
}

/// The stored index.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Index {
    pub entries: Vec<Entry>,
    /// The `file` latest.html shows.
    pub latest: Option<String>,
}

/// A page's links: to the index and to its neighbours (relative to the page's folder).
#[derive(Debug, Clone, Default)]
pub struct Nav {
    /// Prefix from the page's folder to `html/` (`../` for a run's page, empty for latest.html).
    pub base: String,
    pub prev: Option<(NaiveDate, String)>,
    pub next: Option<(NaiveDate, String)>,
    /// Other pages of the same run date (another run or embedder).
    pub same_date: Vec<(String, String)>,
}

impl Nav {
    /// The links' HTML, between the markers.
    pub fn html(&self) -> String {
        let base = &self.base;
        let mut parts = vec![format!(r#"<a href="{base}index.html">all nights</a>"#)];
        match &self.prev {
            Some((date, file)) => parts.push(format!(r#"<a href="{base}{}" rel="prev">&larr; {date}</a>"#, esc(file))),
            None => parts.push(r#"<span class="info">&larr; no earlier night</span>"#.into()),
        }
        match &self.next {
            Some((date, file)) => parts.push(format!(r#"<a href="{base}{}" rel="next">{date} &rarr;</a>"#, esc(file))),
            None => parts.push(r#"<span class="info">the latest night</span>"#.into()),
        }
        for (label, file) in &self.same_date {
            parts.push(format!(r#"<a href="{base}{}">also this date: {}</a>"#, esc(file), esc(label)));
        }
        format!("{NAV_OPEN}{}{NAV_CLOSE}", parts.join(" &middot; "))
    }
}

pub const NAV_OPEN: &str = "<!--nav-->";
pub const NAV_CLOSE: &str = "<!--/nav-->";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_owned(), source }
}

/// The page file of a run and embedder, under `html/`.
pub fn page_file(output: &Output, run: &RunRef) -> String {
    let stem = output.per_embedder_path("html", run.date, &run.id, &run.tag);
    let stem = stem.file_stem().and_then(|s| s.to_str()).unwrap_or(&run.id).to_owned();
    format!("{}/{stem}.html", run.date)
}

/// The embedder part of a page's file tag: `<name>-<hash>`.
pub fn embedder_tag(page_file: &str, run_id: &str) -> String {
    let name = page_file.rsplit('/').next().unwrap_or(page_file).trim_end_matches(".html");
    name.strip_prefix(run_id).and_then(|s| s.strip_prefix('.')).unwrap_or(name).to_owned()
}

pub fn read_index(html: &Path) -> Result<Index, StoreError> {
    let path = html.join("index.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| StoreError::Io {
            path: path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{e}; delete it and rerun `hivewatch analyze` to rebuild the index"),
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
        Err(e) => Err(StoreError::Io { path, source: e }),
    }
}

impl Index {
    /// Adds or replaces a page's entry.
    pub fn upsert(&mut self, entry: Entry) {
        self.entries.retain(|e| e.file != entry.file);
        self.entries.push(entry);
        self.entries.sort_by(|a, b| a.key().cmp(&b.key()).then(a.tag.cmp(&b.tag)));
    }

    /// The links of the page `file`: neighbours among the pages of the same embedder.
    pub fn nav(&self, file: &str, base: &str) -> Nav {
        let Some(me) = self.entries.iter().find(|e| e.file == file) else {
            return Nav { base: base.into(), ..Default::default() };
        };
        let line: Vec<&Entry> = self.entries.iter().filter(|e| e.tag == me.tag).collect();
        let at = line.iter().position(|e| e.file == file).expect("the page is in its own line");
        let link = |e: &&Entry| (e.date, e.file.clone());
        Nav {
            base: base.into(),
            prev: at.checked_sub(1).map(|i| link(&line[i])),
            next: line.get(at + 1).map(link),
            same_date: self
                .entries
                .iter()
                .filter(|e| e.date == me.date && e.file != me.file)
                .map(|e| (format!("{} ({})", short_run(&e.run_id), e.embedder), e.file.clone()))
                .collect(),
        }
    }

    /// The nights of the grid on the page `file`: the pages of its embedder up to it, oldest first.
    pub fn columns(&self, file: &str) -> Vec<Column> {
        let Some(me) = self.entries.iter().find(|e| e.file == file) else { return Vec::new() };
        self.entries.iter().filter(|e| e.tag == me.tag && e.key() <= me.key()).map(Entry::column).collect()
    }

    /// The page latest.html should show: the latest run date, then run id; among a run's
    /// embedders, the one `just_written` when it is one of them.
    pub fn latest_file(&self, just_written: &str) -> Option<String> {
        let newest = self.entries.iter().map(Entry::key).max()?;
        let candidates: Vec<&Entry> = self.entries.iter().filter(|e| e.key() == newest).collect();
        candidates
            .iter()
            .find(|e| e.file == just_written)
            .or_else(|| candidates.iter().find(|e| Some(&e.file) == self.latest.as_ref()))
            .or(candidates.first())
            .map(|e| e.file.clone())
    }
}

/// A run id short enough for a link.
pub fn short_run(run_id: &str) -> &str {
    if run_id.len() > 24 { &run_id[..24] } else { run_id }
}

/// Replaces the links between the markers of a page on disk (a page that is not there, or
/// has no markers, is left alone).
pub fn patch_nav(path: &Path, nav: &Nav) -> Result<(), StoreError> {
    let Ok(page) = std::fs::read_to_string(path) else { return Ok(()) };
    let (Some(open), Some(close)) = (page.find(NAV_OPEN), page.find(NAV_CLOSE)) else { return Ok(()) };
    if close < open {
        return Ok(());
    }
    let patched = format!("{}{}{}", &page[..open], nav.html(), &page[close + NAV_CLOSE.len()..]);
    if patched != page {
        write(path, &patched)?;
    }
    Ok(())
}

pub fn write(path: &Path, text: &str) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    crate::store::write_atomic(path, |f| std::io::Write::write_all(f, text.as_bytes())).map_err(io(path))
}

pub fn write_index(html: &Path, index: &Index) -> Result<PathBuf, StoreError> {
    let json = serde_json::to_string_pretty(index).expect("the index serialises");
    write(&html.join("index.json"), &json)?;
    let page = html.join("index.html");
    write(&page, &index_page(index))?;
    Ok(page)
}

/// `index.html`: every page, newest night first.
pub fn index_page(index: &Index) -> String {
    let mut html = String::from(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hivewatch: every night</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1180px; color: #1b1b1b; padding: 0 1em; }
table { border-collapse: collapse; } td, th { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }
.critical { color: #b00; font-weight: 600; } .warning { color: #b36200; font-weight: 600; } .info { color: #555; }
tr.low td { background: #fdecea; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
h2 { font-size: 1.15em; margin-top: 1.5em; border-bottom: 1px solid #ddd; }
.tick { font-size: 10px; fill: #555; } .rule { font-size: 11px; fill: #222; font-family: ui-monospace, monospace; }
.story-grid { overflow-x: auto; }
</style></head><body>
<h1>hivewatch: every night</h1>
"#,
    );
    let mut tags: Vec<&str> = index.entries.iter().map(|e| e.tag.as_str()).collect();
    tags.sort_unstable();
    tags.dedup();
    for tag in &tags {
        let columns: Vec<Column> = index.entries.iter().filter(|e| e.tag == *tag).map(Entry::column).collect();
        story::section(&mut html, &columns, "", None);
        if tags.len() > 1 {
            html.push_str(&format!("<p class=\"info\">(embedder {})</p>\n", esc(tag)));
        }
    }
    html.push_str("<h2>Every night</h2>\n");
    if let Some(latest) = &index.latest {
        html.push_str(&format!(
            r#"<p><a href="latest.html">The latest night</a> (<a href="{}">its own page</a>). A pale red row: the coverage guard fired, no diversity was judged that night.</p>"#,
            esc(latest)
        ));
        html.push('\n');
    }
    html.push_str("<table><tr><th>run date</th><th>run</th><th>embedder</th><th>models</th><th>coverage</th><th>effective models</th><th>alerts</th></tr>\n");
    let mut last_date = None;
    for e in index.entries.iter().rev() {
        let date = if last_date == Some(e.date) { String::new() } else { e.date.to_string() };
        last_date = Some(e.date);
        let alerts = match (e.critical, e.warning) {
            (0, 0) => r#"<span class="info">none</span>"#.to_owned(),
            (c, w) => {
                let mut parts = Vec::new();
                if c > 0 {
                    parts.push(format!(r#"<span class="critical">{c} critical</span>"#));
                }
                if w > 0 {
                    parts.push(format!(r#"<span class="warning">{w} warning</span>"#));
                }
                let rules = e.raised_rules();
                let named = if rules.is_empty() {
                    String::new()
                } else {
                    format!(
                        ": {}",
                        rules.iter().map(|r| format!("<code>{}</code>", esc(r))).collect::<Vec<_>>().join(", ")
                    )
                };
                format!("{}{named}", parts.join(", "))
            }
        };
        html.push_str(&format!(
            "<tr{}><td>{date}</td><td><a href=\"{}\">{}</a></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}%</td><td class=\"num\">{}</td><td>{alerts}</td></tr>\n",
            if e.coverage < LOW_COVERAGE { " class=\"low\"" } else { "" },
            esc(&e.file),
            esc(short_run(&e.run_id)),
            esc(&e.embedder),
            e.models,
            e.coverage * 100.0,
            e.effective_models.map_or("-".into(), super::svg::fmt),
        ));
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

/// Below this coverage the index marks a night (the default coverage guard).
const LOW_COVERAGE: f64 = 0.9;

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(date: &str, run: &str, tag: &str) -> Entry {
        let date: NaiveDate = date.parse().unwrap();
        Entry {
            date,
            run_id: run.into(),
            embedder: tag.split('-').next().unwrap().into(),
            tag: tag.into(),
            file: format!("{date}/{run}.{tag}.html"),
            coverage: 1.0,
            models: 5,
            effective_models: Some(3.2),
            critical: 0,
            warning: 1,
            rules: BTreeMap::from([("pair".to_owned(), "warning".to_owned())]),
        }
    }

    #[test]
    fn latest_never_moves_back_and_pages_link_their_neighbours() {
        let mut index = Index::default();
        for (d, r) in [("2026-01-02", "b"), ("2026-01-03", "c")] {
            index.upsert(entry(d, r, "lexical-1"));
        }
        let c = "2026-01-03/c.lexical-1.html";
        assert_eq!(index.latest_file(c).as_deref(), Some(c));
        index.latest = Some(c.into());
        // An import of an older night: latest stays.
        index.upsert(entry("2024-05-01", "old", "lexical-1"));
        assert_eq!(index.latest_file("2024-05-01/old.lexical-1.html").as_deref(), Some(c));
        // A second run on the latest date, later by id: it becomes latest, both pages kept.
        index.upsert(entry("2026-01-03", "d", "lexical-1"));
        assert_eq!(index.latest_file("2026-01-03/d.lexical-1.html").as_deref(), Some("2026-01-03/d.lexical-1.html"));
        assert_eq!(index.entries.len(), 4);

        let nav = index.nav("2026-01-02/b.lexical-1.html", "../");
        assert_eq!(nav.prev.as_ref().map(|p| p.1.as_str()), Some("2024-05-01/old.lexical-1.html"));
        assert_eq!(nav.next.as_ref().map(|p| p.1.as_str()), Some(c));
        let nav = index.nav(c, "../");
        assert_eq!(nav.same_date.len(), 1, "the other run of that date is linked");
        // Another embedder's pages are a line of their own.
        index.upsert(entry("2026-01-02", "b", "minilm-2"));
        assert_eq!(index.nav("2026-01-02/b.minilm-2.html", "").prev, None);
        let html = index_page(&index);
        let table = &html[html.find("<h2>Every night</h2>").unwrap()..];
        assert!(table.find("2026-01-03").unwrap() < table.find("2024-05-01").unwrap(), "newest first");
        assert!(table.contains("1 warning</span>: <code>pair</code>"), "the rules are named");
        assert!(html.contains(">pair</text>"), "the grid leads the index");
    }

    #[test]
    fn the_nav_is_rewritten_between_its_markers_only() {
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("p.html");
        std::fs::write(&page, format!("<p>a</p>{}<nav>{NAV_OPEN}old{NAV_CLOSE}</nav><p>b</p>", "")).unwrap();
        let nav = Nav {
            base: "../".into(),
            next: Some(("2026-01-05".parse().unwrap(), "x/y.html".into())),
            ..Default::default()
        };
        patch_nav(&page, &nav).unwrap();
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(text.starts_with("<p>a</p><nav><!--nav-->") && text.ends_with("<!--/nav--></nav><p>b</p>"), "{text}");
        assert!(text.contains(r#"<a href="../x/y.html" rel="next">2026-01-05 &rarr;</a>"#), "{text}");
        assert_eq!(embedder_tag("2026-01-05/run-1.lexical-1a2b.html", "run-1"), "lexical-1a2b");
    }
}
