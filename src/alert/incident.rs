//! Incidents: what people are paged about. An alert that holds night after night is one
//! incident, opened on its first night, escalated when its severity rises, resolved when it has
//! not held for [`IncidentRules::close_after`] judged nights; the `alerts` table stays the
//! nightly record, and the sinks and the exit code speak of incidents (Prometheus
//! Alertmanager's grouping and resolved notifications, PagerDuty's incidents).
//!
//! An incident is keyed by (rule, scope, metric), except that the rules watching the
//! ecosystem's diversity as a whole (drop, trend, floor, shift, concentration, refusal) share one
//! incident per scope, [`CONVERGENCE`]: a narrowing that trips three rules on three metrics is
//! one thing happening, paged once (Alertmanager's grouping). Tonight's open incidents come from the last
//! night's `incidents` file of this embedder ([`track`] is pure: yesterday's open incidents and
//! tonight's alerts in, tonight's incidents out). A night that judges nothing (the coverage or
//! members guard stands instead of the rules, or a change of instrument starts a new baseline)
//! neither continues nor quiets an incident: it is frozen, so a bad night cannot close what it
//! could not see.
//!
//! **Inhibition** (Alertmanager's inhibit rules): while an ecosystem-wide convergence incident
//! is open, the `pair` rule's incidents are held back, kept and marked `inhibited_by` it, not
//! paged: when every model draws together, every pair's similarity moves with them, and the
//! ecosystem incident already says so. **Acknowledgement**: a `[[acknowledge]]` entry (rule,
//! scope, reason, until) silences the incidents it matches until its date; they stay in the
//! table and the report, with the reason.

use chrono::NaiveDate;

use super::background::Backgrounds;
use super::{Alert, RuleScope, Severity, rule};
use crate::config::alerts::rule_info_of;
pub use crate::config::alerts::{Acknowledgement, IncidentRules};
use crate::vocab::Scope;

/// The incident of the ecosystem-wide rules: one per scope, whichever of them holds.
pub const CONVERGENCE: &str = crate::config::alerts::CONVERGENCE_GROUP;

/// The incident key of an alert: (rule or group, scope, metric or "" for a group). The pair
/// rule's series (calibrated similarity, phrase uptake) of one pair are one incident: one pair
/// drawing together, paged once.
fn key_of(a: &Alert) -> (String, Scope, String) {
    if is_ecosystem(&a.rule) {
        (CONVERGENCE.to_owned(), a.scope.clone(), String::new())
    } else if a.rule == rule::PAIR {
        (a.rule.clone(), a.scope.clone(), String::new())
    } else {
        (a.rule.clone(), a.scope.clone(), a.metric.clone())
    }
}

/// What happened to an incident tonight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// Its first night: paged.
    Opened,
    /// Held tonight at a higher severity than ever before: paged.
    Escalated,
    /// Held tonight again, no worse: not paged.
    Continued,
    /// Did not hold tonight, not yet for long enough to close it.
    Quiet,
    /// Did not hold for `close_after` judged nights: closed tonight, paged as resolved.
    Resolved,
    /// Tonight judged nothing (coverage or members guard, change of instrument): unchanged.
    Frozen,
    /// Held tonight, no longer held back by an ecosystem incident (which closed) nor silenced by
    /// an acknowledgement (which expired): paged once, since nothing explains it any more.
    Released,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Opened => "opened",
            Event::Escalated => "escalated",
            Event::Continued => "continued",
            Event::Quiet => "quiet",
            Event::Resolved => "resolved",
            Event::Frozen => "frozen",
            Event::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<Event> {
        [
            Event::Opened,
            Event::Escalated,
            Event::Continued,
            Event::Quiet,
            Event::Resolved,
            Event::Frozen,
            Event::Released,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }

    /// Whether the event is news someone should hear of tonight.
    pub fn pages(self) -> bool {
        matches!(self, Event::Opened | Event::Escalated | Event::Resolved | Event::Released)
    }
}

/// One incident as it stands tonight (a row of table `incidents`).
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// `<opened YYYYMMDD>-<8 hex of rule, scope, metric>`: stable for the incident's life.
    pub id: String,
    pub rule: String,
    pub scope: Scope,
    pub metric: String,
    pub opened: NaiveDate,
    /// The last night it held.
    pub last_seen: NaiveDate,
    /// The last night it opened or escalated: an ecosystem incident explains the pair incidents
    /// that open within `explain_nights` of it.
    pub last_change: NaiveDate,
    /// The night it was resolved (None while open).
    pub closed: Option<NaiveDate>,
    /// Its severity on the last night it held.
    pub severity: Severity,
    /// The worst severity it reached.
    pub peak: Severity,
    /// Nights it held.
    pub nights: u32,
    /// Judged nights in a row it has not held (reset when it holds).
    pub quiet: u32,
    /// The runs whose alerts it holds, oldest first.
    pub run_ids: Vec<String>,
    pub event: Event,
    /// The open ecosystem incident that explains it (a `pair` incident during a narrowing).
    pub inhibited_by: Option<String>,
    /// The acknowledgement silencing it: "until DATE by WHO: REASON".
    pub acknowledged: Option<String>,
    /// The last alert's message.
    pub message: String,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    /// Whether tonight's event pages someone: news, not held back, not acknowledged.
    pub fn pages(&self) -> bool {
        self.event.pages() && self.inhibited_by.is_none() && self.acknowledged.is_none()
    }

    fn key(&self) -> (&str, &Scope, &str) {
        (&self.rule, &self.scope, &self.metric)
    }

    /// What the incident is about, for people: `convergence overall`, `pair pair:a|b
    /// calibrated_similarity`.
    pub fn about(&self) -> String {
        if self.metric.is_empty() {
            format!("{} {}", self.rule, self.scope)
        } else {
            format!("{} {} {}", self.rule, self.scope, self.metric)
        }
    }
}

/// Whether an acknowledgement silences an incident tonight.
fn acknowledges(ack: &Acknowledgement, i: &Incident, tonight: NaiveDate) -> bool {
    tonight <= ack.until
        && ack.rule == i.rule
        && ack.scope == i.scope.to_string()
        && ack.metric.as_deref().is_none_or(|m| m == i.metric || i.metric.is_empty())
}

/// An acknowledgement in words: "until DATE by WHO: REASON".
fn ack_words(ack: &Acknowledgement) -> String {
    let by = ack.by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
    format!("until {}{by}: {}", ack.until, ack.reason)
}

/// The incident id of a key opened on `date`.
fn incident_id(rule: &str, scope: &Scope, metric: &str, opened: NaiveDate) -> String {
    let key = crate::util::sha256_hex(format!("{rule}\u{0}{scope}\u{0}{metric}").as_bytes());
    format!("{}-{}", opened.format("%Y%m%d"), &key[..8])
}

/// Whether a rule watches the ecosystem's diversity as a whole (its open incidents inhibit the
/// pair rule's).
fn is_ecosystem(rule: &str) -> bool {
    rule_info_of(rule).is_some_and(|r| r.scope == RuleScope::Ecosystem)
}

/// Tonight's incidents: yesterday's open ones carried forward by tonight's raised alerts, new
/// ones for alerts no open incident holds, inhibition and acknowledgements applied. Returns
/// every incident open tonight and every one resolved tonight; `judged` is false on a night
/// whose rules did not run (guard, change of instrument). Sets each raised alert's incident.
pub fn track(
    previous: &[Incident],
    alerts: &mut [Alert],
    (date, run_id): (NaiveDate, &str),
    judged: bool,
    rules: &IncidentRules,
    acks: &[Acknowledgement],
    pairs: &Backgrounds,
) -> Vec<Incident> {
    let mut out: Vec<Incident> = previous.iter().filter(|i| i.is_open()).cloned().collect();
    let was_silenced: std::collections::HashSet<String> =
        out.iter().filter(|i| i.inhibited_by.is_some() || i.acknowledged.is_some()).map(|i| i.id.clone()).collect();
    for i in &mut out {
        i.event = if judged { Event::Quiet } else { Event::Frozen };
    }
    // Alerts come most severe first: the first of an incident tonight sets its severity and
    // message, the others only join it.
    let mut touched: std::collections::HashSet<String> = std::collections::HashSet::new();
    for a in alerts.iter_mut().filter(|a| a.severity >= Severity::Warning) {
        let (rule, scope, metric) = key_of(a);
        let at = match out.iter().position(|i| i.key() == (rule.as_str(), &scope, metric.as_str())) {
            Some(at) => at,
            None => {
                out.push(Incident {
                    id: incident_id(&rule, &scope, &metric, date),
                    rule,
                    scope,
                    metric,
                    opened: date,
                    last_seen: date,
                    last_change: date,
                    closed: None,
                    severity: a.severity,
                    peak: a.severity,
                    nights: 0,
                    quiet: 0,
                    run_ids: Vec::new(),
                    event: Event::Opened,
                    inhibited_by: None,
                    acknowledged: None,
                    message: String::new(),
                });
                out.len() - 1
            }
        };
        let incident = &mut out[at];
        a.incident = Some(incident.id.clone());
        if !touched.insert(incident.id.clone()) {
            continue;
        }
        if incident.event != Event::Opened {
            incident.event = if a.severity > incident.peak { Event::Escalated } else { Event::Continued };
        }
        if matches!(incident.event, Event::Opened | Event::Escalated) {
            incident.last_change = date;
        }
        incident.last_seen = date;
        incident.severity = a.severity;
        incident.peak = incident.peak.max(a.severity);
        incident.nights += 1;
        incident.run_ids.push(run_id.to_owned());
        incident.quiet = 0;
        incident.message = if is_ecosystem(&a.rule) { format!("{}: {}", a.rule, a.message) } else { a.message.clone() };
    }
    for i in out.iter_mut().filter(|i| i.event == Event::Quiet) {
        i.quiet += 1;
        if i.quiet >= rules.close_after.max(1) {
            i.event = Event::Resolved;
            i.closed = Some(date);
        }
    }
    inhibit(&mut out, alerts, date, rules.explain_nights, pairs);
    for i in &mut out {
        i.acknowledged = acks.iter().find(|a| acknowledges(a, i, date)).map(ack_words);
        // Held back or silenced until tonight, still holding, nothing explains it now: say so once.
        let silenced = i.inhibited_by.is_some() || i.acknowledged.is_some();
        if !silenced && was_silenced.contains(&i.id) && i.event == Event::Continued {
            i.event = Event::Released;
        }
    }
    out.sort_by(|a, b| (a.opened, &a.id).cmp(&(b.opened, &b.id)));
    out
}

/// Holds back the pair incidents an ecosystem-wide incident explains: those that open while it
/// is fresh (opened or escalated within `explain_nights`) and whose pair moved with the crowd
/// of tonight's pairs (not `background::APART_Z` robust spreads above their median rise): when every
/// model draws together every pair's series moves. A pair that moved far more than the others
/// (a lineage, which may itself be what lowered the ecosystem's diversity), or that starts
/// later, is its own news. Held back for as long as the ecosystem incident stays open; their
/// alerts marked.
fn inhibit(out: &mut [Incident], alerts: &mut [Alert], tonight: NaiveDate, explain_nights: u32, pairs: &Backgrounds) {
    let open_eco: Vec<(String, NaiveDate, NaiveDate)> = out
        .iter()
        .filter(|i| i.is_open() && i.rule == CONVERGENCE)
        .map(|i| (i.id.clone(), i.opened, i.last_change))
        .collect();
    let fresh = open_eco
        .iter()
        .filter(|(_, _, changed)| (tonight - *changed).num_days() < i64::from(explain_nights))
        .min_by_key(|(id, opened, _)| (*opened, id.clone()))
        .map(|(id, _, _)| id.clone());
    // Tonight's first (most severe) alert of an incident: its series, baseline and rise.
    let first_of = |id: &str| alerts.iter().find(|a| a.incident.as_deref() == Some(id));
    for i in out.iter_mut().filter(|i| i.rule == rule::PAIR) {
        let still = i.inhibited_by.as_ref().filter(|by| open_eco.iter().any(|(id, _, _)| id == *by)).cloned();
        let explained = first_of(&i.id).and_then(|a| Some((a.metric.as_str(), a.baseline?, a.value))).is_none_or(
            |(metric, baseline, value)| {
                let with_the_crowd = pairs.of(metric).is_none_or(|b| !b.apart(value - baseline));
                // Phrase uptake is a ratio over the two models' own wording: when a narrowing
                // thins every model's wording, relatives' shared phrases weigh more and their
                // uptake rises with no phrase taken up. A pair already sharing wording apart
                // from the rest (a family) rising during a fresh narrowing is its doing.
                with_the_crowd || (metric == crate::vocab::metric::PHRASE_UPTAKE && pairs.related(metric, baseline))
            },
        );
        i.inhibited_by = match i.event {
            Event::Opened => fresh.clone().filter(|_| explained),
            _ => still,
        };
    }
    for a in alerts.iter_mut().filter(|a| a.rule == rule::PAIR) {
        let held = out.iter().find(|i| Some(&i.id) == a.incident.as_ref()).and_then(|i| i.inhibited_by.clone());
        // A pair that rose only with the rest of tonight's pairs is recorded as info by its rule
        // (never an incident); a fresh ecosystem incident is what explains it.
        a.inhibited_by = if a.severity == Severity::Info { fresh.clone() } else { held };
    }
}

/// The incidents that page tonight, most severe first.
pub fn pages(incidents: &[Incident]) -> Vec<&Incident> {
    let mut v: Vec<&Incident> = incidents.iter().filter(|i| i.pages()).collect();
    // Bad news before resolutions, the worst first.
    v.sort_by_key(|i| (i.event == Event::Resolved, std::cmp::Reverse(i.peak)));
    v
}

/// Whether tonight brings bad news: an incident opened, escalated or released, not held back
/// and not acknowledged (the exit code's 1). A resolution is good news.
pub fn bad_news(incidents: &[Incident]) -> bool {
    incidents.iter().any(|i| i.pages() && i.event != Event::Resolved)
}

/// The open incidents someone is responsible for (not held back, not acknowledged): the digest.
pub fn still_open(incidents: &[Incident]) -> Vec<&Incident> {
    incidents.iter().filter(|i| i.is_open() && i.inhibited_by.is_none() && i.acknowledged.is_none()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::background::Background;

    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, n).unwrap()
    }

    fn alert(rule: &str, scope: Scope, severity: Severity) -> Alert {
        Alert {
            severity,
            rule: rule.into(),
            scope,
            metric: "m".into(),
            value: 1.0,
            baseline: None,
            threshold: 0.5,
            message: "fired".into(),
            incident: None,
            inhibited_by: None,
        }
    }

    /// Runs `nights` of alerts through `track`, returning each night's incidents.
    fn nights(alerts: Vec<Vec<Alert>>, acks: &[Acknowledgement]) -> Vec<Vec<Incident>> {
        let rules = IncidentRules::default();
        let mut previous = Vec::new();
        let mut out = Vec::new();
        for (n, mut tonight) in alerts.into_iter().enumerate() {
            let d = day(n as u32 + 1);
            let incidents =
                track(&previous, &mut tonight, (d, &format!("r{n}")), true, &rules, acks, &Backgrounds::default());
            previous = incidents.clone();
            out.push(incidents);
        }
        out
    }

    #[test]
    fn an_alert_holding_five_nights_is_one_incident_paged_at_opening_and_at_closing() {
        let pair = || vec![alert(rule::PAIR, Scope::pair("a", "b"), Severity::Warning)];
        let seq = nights(vec![pair(), pair(), pair(), pair(), pair(), vec![], vec![], vec![], vec![]], &[]);
        let ids: std::collections::BTreeSet<&str> = seq.iter().flatten().map(|i| i.id.as_str()).collect();
        assert_eq!(ids.len(), 1, "one incident");
        let events: Vec<&str> = seq.iter().map(|n| n.first().map_or("-", |i| i.event.as_str())).collect();
        assert_eq!(
            events,
            ["opened", "continued", "continued", "continued", "continued", "quiet", "quiet", "resolved", "-"]
        );
        let paged: Vec<usize> =
            seq.iter().enumerate().filter(|(_, n)| n.iter().any(Incident::pages)).map(|(k, _)| k).collect();
        assert_eq!(paged, [0, 7], "paged on its first night and when it closed");
        let closed = &seq[7][0];
        assert_eq!((closed.nights, closed.run_ids.len(), closed.closed), (5, 5, Some(day(8))));
        assert!(bad_news(&seq[0]) && !bad_news(&seq[7]), "a resolution is not an alert");
    }

    #[test]
    fn a_rising_severity_escalates_and_a_quiet_gap_shorter_than_close_after_continues() {
        let a = |s| vec![alert(rule::DROP, Scope::Overall, s)];
        let seq = nights(vec![a(Severity::Warning), vec![], a(Severity::Critical), a(Severity::Warning)], &[]);
        let events: Vec<Event> = seq.iter().map(|n| n[0].event).collect();
        assert_eq!(events, [Event::Opened, Event::Quiet, Event::Escalated, Event::Continued]);
        assert_eq!((seq[3][0].peak, seq[3][0].severity, seq[3][0].nights), (Severity::Critical, Severity::Warning, 3));
    }

    #[test]
    fn an_ecosystem_wide_narrowing_is_one_convergence_incident() {
        let eco = |rule: &str, metric: &str, s| Alert { metric: metric.into(), ..alert(rule, Scope::Overall, s) };
        let seq = nights(
            vec![
                vec![
                    eco(rule::SHIFT, "effective_models", Severity::Warning),
                    eco(rule::SHIFT, "model_vendi_ratio", Severity::Warning),
                ],
                vec![
                    eco(rule::DROP, "effective_models", Severity::Critical),
                    eco(rule::SHIFT, "effective_models", Severity::Warning),
                ],
                vec![eco(rule::TREND, "homogenization_index", Severity::Warning)],
            ],
            &[],
        );
        assert!(seq.iter().all(|n| n.len() == 1), "one incident: {seq:?}");
        let events: Vec<Event> = seq.iter().map(|n| n[0].event).collect();
        assert_eq!(events, [Event::Opened, Event::Escalated, Event::Continued]);
        assert_eq!(seq[1][0].message, "drop: fired", "tonight's worst alert speaks for it");
        assert_eq!((seq[2][0].rule.as_str(), seq[2][0].about()), (CONVERGENCE, "convergence overall".to_owned()));
    }

    #[test]
    fn a_night_that_judges_nothing_freezes_incidents() {
        let rules = IncidentRules::default();
        let mut a = vec![alert(rule::DROP, Scope::Overall, Severity::Warning)];
        let first = track(&[], &mut a, (day(1), "r1"), true, &rules, &[], &Backgrounds::default());
        let mut prev = first;
        for n in 2..8 {
            prev = track(&prev, &mut [], (day(n), "r"), false, &rules, &[], &Backgrounds::default());
            assert_eq!(prev[0].event, Event::Frozen);
            assert!(prev[0].is_open());
        }
    }

    #[test]
    fn an_ecosystem_incident_holds_back_pair_incidents_and_releases_them_when_it_closes() {
        let eco = || alert(rule::DROP, Scope::Overall, Severity::Critical);
        let pair = || alert(rule::PAIR, Scope::pair("a", "b"), Severity::Warning);
        let seq = nights(vec![vec![eco(), pair()], vec![pair()], vec![pair()], vec![pair()], vec![pair()]], &[]);
        // A pair starting to converge well after the ecosystem incident opened is its own news.
        let mut late: Vec<Vec<Alert>> = (0..8).map(|_| vec![eco()]).collect();
        late.push(vec![eco(), pair()]);
        let late = nights(late, &[]);
        assert!(late[8].iter().find(|i| i.rule == rule::PAIR).unwrap().pages(), "not explained by an old incident");
        let pair_of = |n: &Vec<Incident>| n.iter().find(|i| i.rule == rule::PAIR).cloned().unwrap();
        let eco_id = seq[0].iter().find(|i| i.rule == CONVERGENCE).unwrap().id.clone();
        for (n, night) in seq.iter().enumerate().take(3) {
            assert_eq!(pair_of(night).inhibited_by.as_deref(), Some(eco_id.as_str()), "night {n}");
            assert!(!pair_of(night).pages());
        }
        // The drop closes on night 4 (three quiet nights): the pair is released and paged once.
        assert_eq!(seq[3].iter().find(|i| i.rule == CONVERGENCE).unwrap().event, Event::Resolved);
        assert_eq!(pair_of(&seq[3]).event, Event::Released);
        assert!(pair_of(&seq[3]).pages());
        assert_eq!(pair_of(&seq[4]).event, Event::Continued);
    }

    #[test]
    fn a_pair_moving_far_beyond_the_crowd_is_not_held_back() {
        let rules = IncidentRules::default();
        let eco = alert(rule::DROP, Scope::Overall, Severity::Critical);
        let pair = |rise: f64| Alert {
            value: 0.1 + rise,
            baseline: Some(0.1),
            ..alert(rule::PAIR, Scope::pair("a", "b"), Severity::Warning)
        };
        let crowd = Backgrounds::one(
            &pair(0.0).metric,
            Background::of(&[0.0, 0.01, -0.01, 0.02, 0.005, 0.015, -0.005, 0.01]).unwrap(),
        );
        let mut with = vec![eco.clone(), pair(0.02)];
        let held = track(&[], &mut with, (day(1), "r1"), true, &rules, &[], &crowd);
        assert!(held.iter().find(|i| i.rule == rule::PAIR).unwrap().inhibited_by.is_some(), "moved with the crowd");
        let mut beyond = vec![eco, pair(0.15)];
        let news = track(&[], &mut beyond, (day(1), "r1"), true, &rules, &[], &crowd);
        assert!(news.iter().find(|i| i.rule == rule::PAIR).unwrap().pages(), "a lineage is its own news");
        assert_eq!(Background::of(&[0.1; 4]), None, "too few pairs for a background");
    }

    #[test]
    fn an_acknowledged_incident_pages_nothing_until_its_date() {
        let ack = Acknowledgement {
            rule: rule::UNDECLARED.into(),
            scope: "pair:a|b".into(),
            metric: None,
            reason: "a is fine-tuned from b; declared in the next card update".into(),
            until: day(3),
            by: Some("lab-a".into()),
        };
        let und = || vec![alert(rule::UNDECLARED, Scope::pair("a", "b"), Severity::Critical)];
        let seq = nights(vec![und(), und(), und(), und()], &[ack]);
        assert!(!seq[0][0].pages() && seq[0][0].acknowledged.as_deref().unwrap().contains("by lab-a"));
        assert!(seq[3][0].acknowledged.is_none(), "past its date it is no longer silenced");
        assert_eq!(seq[3][0].event, Event::Released, "and it pages once, as still open");
        assert!(!bad_news(&seq[0]) && still_open(&seq[0]).is_empty());
    }
}
