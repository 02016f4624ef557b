//! Who took part in a consortium's night (a union of the members' runs, [`crate::plan::member_runs`]):
//! each expected member, whether it published, was missing at the deadline or was left out (and
//! why), its run, its models (the union's `<member>/<endpoint>` names) and its answer counts.
//! Nothing for any other night.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::data::ReportData;
use super::esc;
use crate::plan::member_runs::MemberStatus;

/// The section, when tonight is a consortium's union.
pub fn section(page: &mut String, data: &ReportData) {
    if data.members.is_empty() {
        return;
    }
    let mut models: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for name in data.families.values().flatten() {
        if let Some((member, model)) = name.split_once('/') {
            models.entry(member).or_default().push(model);
        }
    }
    let published = data.members.iter().filter(|m| m.status == MemberStatus::Published).count();
    let _ = writeln!(
        page,
        "<h2>Who took part</h2>\n<p>A consortium's night: the union of the members' runs ({published} of {} expected members published; each model is named <code>member/endpoint</code>). A member missing at the deadline or left out stops the diversity rules for the night (the <code>members</code> alert). A published member's status says who embedded and described its answers: the member itself (its rows checked against its answers and a spot check) or the coordinator.</p>\n<div class=\"wide\"><table><tr><th>member</th><th>status</th><th>its run</th><th>published at</th><th>models</th><th>answers ok / planned (failed)</th></tr>",
        data.members.len()
    );
    for m in &data.members {
        let status = match (m.status, &m.note) {
            (MemberStatus::Published, None) => "<span>published</span>".to_owned(),
            (MemberStatus::Published, Some(note)) => format!("<span>published</span>: {}", esc(note)),
            (MemberStatus::Missing, _) => {
                "<span class=\"critical\">missing: had not published by the deadline</span>".to_owned()
            }
            (MemberStatus::Excluded, note) => format!(
                "<span class=\"critical\">left out</span>{}",
                note.as_deref().map(|n| format!(": {}", esc(n))).unwrap_or_default()
            ),
        };
        let names = models.get(m.member.as_str()).map_or_else(String::new, |ms| {
            ms.iter().map(|n| format!("<code>{}</code>", esc(n))).collect::<Vec<_>>().join(", ")
        });
        let counts = match (m.ok, m.planned, m.failed) {
            (Some(ok), Some(planned), failed) => format!("{ok} / {planned} ({})", failed.unwrap_or(0)),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            page,
            "<tr><td><b>{}</b></td><td>{status}</td><td><code>{}</code></td><td>{}</td><td>{}{names}</td><td>{counts}</td></tr>",
            esc(&m.member),
            esc(m.member_run_id.as_deref().unwrap_or("-")),
            m.published_at.map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
            m.endpoints.map_or_else(String::new, |n| format!("{n}: ")),
        );
    }
    page.push_str("</table></div>\n");
}
