//! What the commands print on stdout (also under -q, for cron's log): a night's counts, its
//! headline figures, where it went, its alerts; the plan of a dry run; the rules in use.

use crate::consortium::UnionNight;
use crate::plan::Plan;
use crate::plan::member_runs::MemberStatus;
use crate::say::say;
use crate::session::{Night, Origin};
use crate::vocab::metric;

/// A night's first line: its id, date, and what was planned, ok and failed.
fn say_counts(night: &Night) {
    let r = &night.row;
    let resumed = matches!(&night.origin, Origin::Collected(c) | Origin::Published(c) if c.resumed);
    say!(
        "run {} ({}){}: {} planned, {} ok, {} failed, coverage {:.1}%",
        r.run_id,
        r.run_date,
        if resumed { ", resumed" } else { "" },
        r.planned,
        r.ok,
        r.failed,
        100.0 * r.coverage()
    );
    if let Origin::Collected(c) | Origin::Published(c) = &night.origin {
        for s in &c.superseded {
            say!("note: {}", s.describe());
        }
    }
}

/// What a night's embedding cost: the cache's share (0 new: all repeated answers); or, for a
/// lexical night whose vectors are not stored, that nothing was embedded here.
fn say_embedded(night: &Night) {
    let Some(d) = &night.derived else { return };
    let e = &d.embedded;
    match e.path {
        Some(_) => say!("embedded {} responses with {} ({})", e.rows, e.embedder_id, cache_share(e)),
        None => say!(
            "{} responses for {}: vectors not stored ([output] lexical_embeddings = \"recomputed\"), computed again where read",
            e.rows,
            e.embedder_id
        ),
    }
}

/// Where a night's vectors came from, said as it was: computed (an embedder without a cache),
/// all new, all from the cache, or how many of each (a new text repeated is embedded once).
fn cache_share(e: &crate::embed::EmbedStats) -> String {
    let new = e.newly_embedded;
    match (e.cached, new) {
        (false, _) => "computed from each answer's text; this embedder keeps no cache".into(),
        (true, 0) if e.rows > 0 => "all from the cache".into(),
        (true, n) if n >= e.rows => format!("{n} new"),
        (true, n) => format!("{n} new texts embedded, the other {} answers' vectors from the cache", e.rows - n),
    }
}

/// A collected night: the counts, the endpoints that failed requests, two or three headline
/// figures, the baseline's state, where the report is, and the alerts.
pub fn night(night: &Night, rules: &crate::alert::AlertConfig) {
    say_counts(night);
    if let Origin::Collected(c) = &night.origin {
        if let (Some(first), Some(last)) = (c.rejudged.first(), c.rejudged.last()) {
            say!(
                "backfill: judged the {} later night(s) from {} to {} again with this one (their trend window holds it)",
                c.rejudged.len(),
                first.0,
                last.0
            );
        }
        let mut names: Vec<_> = c.per_endpoint.iter().collect();
        names.sort();
        for (name, (ok, failed)) in names {
            if *failed > 0 {
                say!("  {name:<28} {ok:>6} ok {failed:>6} failed");
            }
        }
    }
    derived(night, rules);
}

/// What the tail made of a night (a collected or an imported one): what was embedded, the
/// headline figures, where the report is, and the alerts.
pub fn derived(night: &Night, rules: &crate::alert::AlertConfig) {
    say_embedded(night);
    let Some(d) = &night.derived else { return };
    for line in headline(&d.trends, &d.measured.families, d.comparable_runs, rules) {
        say!("{line}");
    }
    say!("report: {}", d.report.display());
    for t in &night.tables {
        tracing::debug!("wrote {}", t.display());
    }
    alerts(&d.alerts);
}

/// The night in two or three figures, and whether its baseline is still building. The families
/// are tonight's (all its models) at the configured level, counted and defined as the report and
/// table `families` have them ([`crate::metrics::aggregate::families_at`]).
pub fn headline(
    trends: &[crate::trend::TrendRow],
    families: &[crate::metrics::aggregate::Family],
    comparable_runs: usize,
    rules: &crate::alert::AlertConfig,
) -> Vec<String> {
    let row = |metric: &str| trends.iter().find(|t| t.scope.is_overall() && t.metric == metric);
    let figure = |metric: &str, label: &str| {
        row(metric).map(|t| {
            let against = match (t.baseline, t.pct_change) {
                (Some(b), Some(p)) => format!(" (baseline {}, {p:+.1}%)", crate::report::svg::fmt(b)),
                _ => String::new(),
            };
            let full = t.full.map_or(String::new(), |(v, n)| {
                format!(
                    " [on the {} models shared with the baseline; all {n}: {}]",
                    t.panel_models,
                    crate::report::svg::fmt(v)
                )
            });
            format!("{label} {}{against}{full}", crate::report::svg::fmt(t.value))
        })
    };
    let mut out = Vec::new();
    let figures: Vec<String> = [
        figure(metric::EFFECTIVE_MODELS, "effective models"),
        figure(metric::MODEL_VENDI_RATIO, "model Vendi ratio"),
        families_line(families, rules.concentration.level),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !figures.is_empty() {
        out.push(figures.join("; "));
    }
    if let Some(line) = baseline_building(comparable_runs, rules) {
        out.push(line);
    }
    out
}

/// `5 behaviour families of 12 models (close family level: ...)`, when the run has families.
fn families_line(families: &[crate::metrics::aggregate::Family], level: crate::vocab::FamilyLevel) -> Option<String> {
    let at = crate::metrics::aggregate::families_at(families, level);
    let models: usize = at.values().map(Vec::len).sum();
    (models > 0).then(|| {
        format!(
            "{} behaviour families of {models} models ({})",
            at.len(),
            crate::metrics::aggregate::family_definition(models, level)
        )
    })
}

/// While the baseline is building, which rules judge from which night: the floor from the
/// first (it is absolute), the rules that compare with a baseline once it holds
/// `min_baseline_runs` nights, trend and pair once their window holds `min_runs`.
pub fn baseline_building(comparable_runs: usize, rules: &crate::alert::AlertConfig) -> Option<String> {
    let night = comparable_runs + 1;
    let series = rules.trend.min_runs.max(rules.pair.min_runs);
    (night < series).then(|| {
        format!(
            "baseline building: night {night} of {series} comparable runs; the floor judges from the first night, drop, shift, concentration, refusal and contagion from night {} (a baseline of {} nights), trend and pair from night {series}",
            rules.min_baseline_runs + 1,
            rules.min_baseline_runs
        )
    })
}

/// A member's collect-only night: what it sent and where it published.
pub fn published(night: &Night) {
    say_counts(night);
    for t in &night.tables {
        say!("published {}", t.display());
    }
    say!(
        "to {} (the coordinator's `hivewatch analyze --date {}` analyses the union)",
        night.output,
        night.row.run_date
    );
}

/// A consortium night: who published, what was written, the alerts.
pub fn union(u: &UnionNight) {
    let r = &u.night.row;
    say!(
        "night {} ({}): {} of {} members, {} planned, {} ok, {} failed, coverage {:.1}%",
        r.run_date,
        r.run_id,
        u.members.len() - u.missing().len(),
        u.members.len(),
        r.planned,
        r.ok,
        r.failed,
        100.0 * r.coverage()
    );
    for m in &u.members {
        let detail = match (&m.member_run_id, &m.note) {
            (Some(run), note) if m.status == MemberStatus::Published => format!(
                "run {run}, {} ok of {}{}",
                m.ok.unwrap_or(0),
                m.planned.unwrap_or(0),
                note.as_ref().map(|n| format!("; {n}")).unwrap_or_default()
            ),
            (_, Some(note)) => note.clone(),
            (Some(run), None) => format!("run {run}, {} ok of {}", m.ok.unwrap_or(0), m.planned.unwrap_or(0)),
            (None, None) => "nothing published by the deadline".into(),
        };
        say!("  {:<20} {:<9} {detail}", m.member, m.status.as_str());
    }
    if !u.missing().is_empty() {
        say!(
            "missing: {} (rerun the same command when they have published: the night is rewritten, never duplicated)",
            u.missing().join(", ")
        );
    }
    say_embedded(&u.night);
    for t in &u.night.tables {
        say!("wrote {}", t.display());
    }
    alerts(u.night.alerts());
}

/// A stored run derived again (`analyze`): what was written, and the alerts it holds.
pub fn reanalysed(night: &Night, lexicon: &str) {
    let id = &night.row.run_id;
    let Some(d) = &night.derived else { return };
    say!(
        "run {id}: {} rows of features with {lexicon}; {} rows embedded with {} ({})",
        d.featured,
        d.embedded.rows,
        d.embedded.embedder_id,
        cache_share(&d.embedded)
    );
    for path in &night.tables {
        say!("run {id}: wrote {}", path.display());
    }
    let raised = crate::alert::raised(&d.alerts);
    if raised > 0 {
        say!("run {id}: {raised} alert(s) in the alerts table (re-analysis notifies no one)");
    }
}

/// The night's alerts, most severe first.
pub fn alerts(alerts: &[crate::alert::Alert]) {
    if crate::alert::raised(alerts) == 0 {
        say!("no alert raised");
    }
    for a in alerts {
        say!("{:<8} {:<13} {}: {}", a.severity.as_str(), a.rule, a.scope, a.message);
    }
}

/// The rules `analyze` and `import` judge by, said aloud.
pub fn rules(rules: &crate::alert::AlertConfig, from: &crate::session::RulesFrom) {
    let names = |enabled: bool| {
        let v: Vec<&str> =
            crate::alert::RULES.iter().filter(|r| rules.enabled(r.name) == Some(enabled)).map(|r| r.name).collect();
        if v.is_empty() { "none".to_owned() } else { v.join(", ") }
    };
    say!(
        "alert rules: {from}; enabled: {}; disabled: {}; coverage guard {}",
        names(true),
        names(false),
        rules.min_coverage
    );
}

/// A dry run's plan: requests and estimated tokens per endpoint.
pub fn plan(plan: &Plan) {
    say!(
        "plan: suite {} ({} probes, id {}) x {} endpoints x {} samples = {} requests",
        plan.suite.name,
        plan.suite.probes.len(),
        plan.suite.id,
        plan.config.endpoints.len(),
        plan.samples(),
        plan.total_requests()
    );
    say!(
        "{:<28} {:<10} {:<28} {:>9} {:>14} {:>16}",
        "endpoint",
        "provider",
        "model",
        "requests",
        "~prompt tok",
        "max output tok"
    );
    let (mut pt, mut ct) = (0, 0);
    for e in plan.estimates() {
        say!(
            "{:<28} {:<10} {:<28} {:>9} {:>14} {:>16}",
            e.endpoint,
            e.provider,
            e.model,
            e.requests,
            e.est_prompt_tokens,
            e.max_completion_tokens
        );
        pt += e.est_prompt_tokens;
        ct += e.max_completion_tokens;
    }
    say!("{:<68} {:>9} {:>14} {:>16}", "total", plan.total_requests(), pt, ct);
    say!("{}", duration(plan));
}

/// What a dry run says the night will take: the lower bound of the rate limits, and a figure
/// at an assumed latency (the dry run sends nothing, so it cannot know the real one).
fn duration(plan: &Plan) -> String {
    const LATENCY_S: f64 = 5.0;
    let e = plan.duration_estimate(LATENCY_S);
    let human = crate::util::human_duration;
    let bound = match &e.by_rate {
        Some((secs, name)) => {
            let ep = plan.config.endpoints.iter().find(|ep| &ep.name == name).expect("a planned endpoint");
            format!(
                "duration: at least {} ({name}: {} requests at {} a minute), a lower bound from the rate limits alone, not from how long answers take",
                human(*secs),
                plan.requests_per_endpoint(),
                ep.limits.requests_per_minute.unwrap_or_default()
            )
        }
        None => "duration: no endpoint has a rate limit, so only how long answers take bounds it".to_owned(),
    };
    format!(
        "{bound}; if every answer took {LATENCY_S} s, about {} with the configured concurrency",
        human(e.at_latency)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 30, item 16: "(N new, the rest from the cache)" was said when nothing came from it.
    #[test]
    fn the_cache_share_is_said_as_it_was() {
        let stats = |rows, newly_embedded, cached| crate::embed::EmbedStats {
            embedder_id: "e".into(),
            rows,
            newly_embedded,
            cached,
            path: None,
        };
        assert!(cache_share(&stats(40, 40, false)).contains("keeps no cache"));
        assert_eq!(cache_share(&stats(40, 40, true)), "40 new");
        assert_eq!(cache_share(&stats(40, 0, true)), "all from the cache");
        assert_eq!(
            cache_share(&stats(40, 30, true)),
            "30 new texts embedded, the other 10 answers' vectors from the cache"
        );
        assert!(!cache_share(&stats(0, 0, true)).contains("cache"), "nothing embedded");
    }
}
