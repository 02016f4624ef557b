//! The story of the nights at a glance: a night x rule grid over the whole history (one column
//! per night, one row per rule that ever fired, each cell coloured by the worst severity the rule
//! reached that night), drawn from the index of pages ([`super::pages::Index`]), so it costs the
//! same in year three as in week one. It leads each night's page (the nights up to that one) and
//! the index (every night).

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::NaiveDate;

use super::esc;
use crate::alert::{Alert, Severity};

/// One night of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub date: NaiveDate,
    /// Its page, under `html/`.
    pub file: String,
    /// Rule -> the worst severity it reached that night.
    pub rules: BTreeMap<String, Severity>,
}

/// Rule -> the worst severity among `alerts`.
pub fn worst_by_rule(alerts: &[Alert]) -> BTreeMap<String, Severity> {
    let mut out: BTreeMap<String, Severity> = BTreeMap::new();
    for a in alerts {
        let worst = out.entry(a.rule.clone()).or_insert(a.severity);
        *worst = (*worst).max(a.severity);
    }
    out
}

/// The rules that fired on any of `columns`, in the order they first fired.
pub fn rules_in_order(columns: &[Column]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for c in columns {
        for rule in c.rules.keys() {
            if !out.contains(&rule.as_str()) {
                out.push(rule);
            }
        }
    }
    out
}

const ROW_H: usize = 16;
const HEAD_H: usize = 18;
/// Width the grid may take, labels included.
const MAX_W: usize = 1100;

fn colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#d62728",
        Severity::Warning => "#f28e2b",
        Severity::Info => "#9ecae1",
    }
}

/// The grid as inline SVG: `base` prefixes the pages' links (`../` from a night's page), and
/// `current` outlines one night's column (the page's own).
pub fn grid(columns: &[Column], base: &str, current: Option<&str>) -> String {
    let rules = rules_in_order(columns);
    if columns.is_empty() {
        return String::new();
    }
    let label_w = 12 + 7 * rules.iter().map(|r| r.len()).max().unwrap_or(8).max(8);
    let cell = ((MAX_W - label_w) / columns.len()).clamp(3, 26);
    let width = label_w + cell * columns.len() + 40;
    let height = HEAD_H + ROW_H * rules.len().max(1) + 16;
    let mut svg = format!(
        "<svg class=\"story\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"alerts by night and rule over {} nights\">",
        columns.len()
    );
    date_ticks(&mut svg, columns, label_w, cell);
    for (r, rule) in rules.iter().enumerate() {
        let y = HEAD_H + r * ROW_H;
        let _ = write!(
            svg,
            "<rect x=\"{label_w}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{}\"/><text class=\"rule\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            cell * columns.len(),
            ROW_H - 2,
            if r % 2 == 0 { "#f6f6f6" } else { "#fbfbfb" },
            label_w - 6,
            y + ROW_H - 4,
            esc(rule)
        );
    }
    for (k, c) in columns.iter().enumerate() {
        let x = label_w + k * cell;
        let fired: Vec<String> =
            rules.iter().filter_map(|r| c.rules.get(*r).map(|s| format!("{r} ({})", s.as_str()))).collect();
        let title = if fired.is_empty() { "no alert".to_owned() } else { fired.join(", ") };
        let _ = write!(
            svg,
            "<a href=\"{base}{}\"><title>{}: {}</title><rect x=\"{x}\" y=\"{HEAD_H}\" width=\"{cell}\" height=\"{}\" fill=\"transparent\"/>",
            esc(&c.file),
            c.date,
            esc(&title),
            ROW_H * rules.len().max(1)
        );
        for (r, rule) in rules.iter().enumerate() {
            if let Some(s) = c.rules.get(*rule) {
                let _ = write!(
                    svg,
                    "<rect class=\"sc {}\" x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>",
                    s.as_str(),
                    HEAD_H + r * ROW_H,
                    cell.saturating_sub(1).max(2),
                    ROW_H - 2,
                    colour(*s)
                );
            }
        }
        svg.push_str("</a>");
        if current == Some(c.file.as_str()) {
            let _ = write!(
                svg,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#222\" stroke-width=\"1.2\"/>",
                x as f64 - 0.5,
                HEAD_H - 2,
                cell,
                ROW_H * rules.len().max(1) + 2
            );
        }
    }
    if rules.is_empty() {
        let _ = write!(
            svg,
            "<text class=\"rule\" x=\"{label_w}\" y=\"{}\">no alert on any night</text>",
            HEAD_H + ROW_H - 4
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Date ticks over the columns, as many as fit: the first with its year.
fn date_ticks(svg: &mut String, columns: &[Column], label_w: usize, cell: usize) {
    let mut free_from = 0;
    for (k, c) in columns.iter().enumerate() {
        let x = label_w + k * cell;
        if x >= free_from {
            let text = if k == 0 { c.date.to_string() } else { c.date.format("%m-%d").to_string() };
            let _ = write!(svg, "<text class=\"tick\" x=\"{x}\" y=\"12\">{text}</text>");
            free_from = x + 8 + 6 * text.len();
        }
    }
}

/// The grid with its heading and key, for a page.
pub fn section(page: &mut String, columns: &[Column], base: &str, current: Option<&str>) {
    let first = columns.first().map(|c| c.date.to_string()).unwrap_or_default();
    let _ = writeln!(
        page,
        "<h2>The nights at a glance</h2>\n<p>Every night since {first} ({} nights): one column per night (click one for its page{}), one row per rule that fired on any of them, in the order they first fired; <span class=\"critical\">red</span> critical, <span class=\"warning\">orange</span> warning, <span style=\"color:#3182bd\">blue</span> information.{}</p>\n<div class=\"story-grid\">{}</div>",
        columns.len(),
        if current.is_some() { "; outlined: this night" } else { "" },
        if current.is_some() { " The episodes below are these cells grouped into incidents." } else { "" },
        grid(columns, base, current)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_names_each_rule_once_and_links_each_night() {
        let night = |d: &str, rules: &[(&str, Severity)]| Column {
            date: d.parse().unwrap(),
            file: format!("{d}/r.html"),
            rules: rules.iter().map(|(r, s)| ((*r).to_owned(), *s)).collect(),
        };
        let columns = [
            night("2026-01-01", &[]),
            night("2026-01-02", &[("pair", Severity::Warning)]),
            night("2026-01-03", &[("drop", Severity::Critical), ("pair", Severity::Critical)]),
        ];
        assert_eq!(rules_in_order(&columns), ["pair", "drop"]);
        let svg = grid(&columns, "../", Some("2026-01-03/r.html"));
        assert_eq!(svg.matches(">pair</text>").count(), 1);
        assert_eq!(svg.matches("<a href=\"../2026-01-0").count(), 3);
        assert_eq!(svg.matches("class=\"sc critical\"").count(), 2);
        assert!(svg.contains("<title>2026-01-02: pair (warning)</title>"), "{svg}");
    }
}
