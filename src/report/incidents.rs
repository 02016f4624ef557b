//! The episodes: every incident of the charted nights (at most [`super::HISTORY_RUNS`]), in
//! the order they began, with its first and last night, how long it held and how it stands
//! tonight, each with a small timeline over those nights; then a note on how often the rules are
//! wrong (their stated false-alarm rates and delays, from `benches/alert_quality`).

use std::fmt::Write;

use super::data::ReportData;
use super::esc;
use crate::alert::Severity;
use crate::alert::incident::{Event, Incident};

/// The episodes section.
pub fn section(page: &mut String, data: &ReportData) {
    page.push_str("<h2>Incidents</h2>\n");
    let episodes = &data.episodes;
    let since = data.nights.first().map(|n| n.date.to_string()).unwrap_or_default();
    if episodes.is_empty() {
        let _ = writeln!(page, "<p>No incident on any night since {since}.</p>");
        about(page);
        return;
    }
    let open: Vec<&Incident> = episodes.iter().filter(|i| i.is_open()).collect();
    let paged = data.incidents.iter().filter(|i| i.is_open() && i.pages()).count();
    let held = open.iter().filter(|i| i.inhibited_by.is_some()).count();
    let acked = open.iter().filter(|i| i.acknowledged.is_some()).count();
    let _ = writeln!(
        page,
        "<p>The episodes since {since} ({} nights), in the order they began: {} in all, {} open tonight ({paged} paged tonight, {held} held back by an ecosystem-wide incident, {acked} acknowledged). An incident is one alert holding night after night: paged when it opens, escalates or closes, never again in between.</p>",
        data.nights.len(),
        episodes.len(),
        open.len(),
    );
    page.push_str("<div class=\"wide\"><table class=\"incidents\"><tr><th>rule</th><th>about</th><th>first night</th><th>last night</th><th>nights held</th><th>worst</th><th>tonight</th><th>over the nights</th><th>last said</th></tr>\n");
    // At many models the episodes can be thousands: the open ones first, then the rest.
    let many = super::many::is_many(data.model_count());
    let shown: Vec<&Incident> = if many {
        open.iter().copied().chain(episodes.iter().filter(|i| !i.is_open())).take(super::many::ROWS_SHOWN).collect()
    } else {
        episodes.iter().collect()
    };
    for i in shown {
        row(page, data, i);
    }
    page.push_str("</table></div>\n");
    if many {
        super::many::more_note(page, episodes.len(), "incidents");
    }
    about(page);
}

fn row(page: &mut String, data: &ReportData, i: &Incident) {
    let state = match (i.is_open(), &i.inhibited_by, &i.acknowledged) {
        (false, held, _) => format!(
            "<span class=\"info\">resolved {}{}</span>",
            i.closed.map(|d| d.to_string()).unwrap_or_default(),
            if held.is_some() { ", was held back" } else { "" }
        ),
        (true, Some(by), _) => format!("<span class=\"info\">held back by {}</span>", esc(by)),
        (true, None, Some(ack)) => format!("<span class=\"info\">acknowledged {}</span>", esc(ack)),
        (true, None, None) => format!("<span class=\"{0}\">{0}</span>", i.severity.as_str()),
    };
    // Tonight's news beside the state (a resolution is the state itself); an open incident that
    // did not hold tonight says so, or its last severity reads as tonight's.
    let tonight = data.incidents.iter().any(|t| t.id == i.id && t.event == i.event);
    let news = match i.event {
        _ if !tonight || !i.is_open() => String::new(),
        Event::Quiet => " <span class=\"info\">(quiet tonight)</span>".to_owned(),
        _ if i.pages() => format!(" <b>{}</b>", i.event.as_str()),
        _ => String::new(),
    };
    let about = if i.metric.is_empty() { i.scope.to_string() } else { format!("{} {}", i.scope, i.metric) };
    let _ = writeln!(
        page,
        "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"{peak}\">{peak}</span></td><td>{state}{news}</td><td>{}</td><td class=\"said\">{}</td></tr>",
        esc(&i.rule),
        esc(&about),
        i.opened,
        i.last_seen,
        i.nights,
        timeline(data, i),
        esc(&i.message),
        peak = i.peak.as_str(),
    );
}

/// The charted nights as small squares: filled when the incident held (red critical, orange
/// warning), grey while it was open but quiet.
fn timeline(data: &ReportData, i: &Incident) -> String {
    let nights = &data.nights;
    let step = if nights.len() > 30 { 4 } else { 7 };
    let mut svg = format!(
        "<svg class=\"timeline\" width=\"{}\" height=\"10\" role=\"img\" aria-label=\"held on {} nights\">",
        nights.len() * step,
        i.nights
    );
    for (k, n) in nights.iter().enumerate() {
        let held = i.run_ids.contains(&n.run_id);
        let open = n.date >= i.opened && i.closed.is_none_or(|c| n.date <= c);
        let colour = match (held, open) {
            (true, _) if i.peak == Severity::Critical && held_critical(n, i) => "#d62728",
            (true, _) => "#f28e2b",
            (false, true) => "#ccc",
            _ => continue,
        };
        let _ = write!(svg, "<rect x=\"{}\" y=\"1\" width=\"{}\" height=\"8\" fill=\"{colour}\"/>", k * step, step - 1);
    }
    svg.push_str("</svg>");
    svg
}

/// Whether the incident's alert was critical on that night (the night's own alerts say).
fn held_critical(night: &super::data::Night, i: &Incident) -> bool {
    night.alert_list.iter().any(|a| a.incident.as_deref() == Some(&i.id) && a.severity == Severity::Critical)
}

/// How often the rules page for nothing, and how late they are: the figures of
/// `benches/alert_quality` (BENCHMARKS.md), stated where the alerts are read.
fn about(page: &mut String) {
    page.push_str(concat!(
        "<details class=\"about\"><summary>About these alerts</summary><p>",
        include_str!("about_alerts.html"),
        "</p></details>\n"
    ));
}
