//! The demo's truth table: each event of a scenario against the alerts the nights raised
//! (caught, late, missed, not reached), the alerts the scenario does not explain, and the
//! precision and recall of what was raised.

use super::NightResult;
use crate::alert::incident::Incident;
use crate::sim::scenario::Scenario;

/// `critical drop effective_models`, `warning pair acme-a|ember-e`.
pub(super) fn short_alert(a: &crate::alert::Alert) -> String {
    let what = match &a.scope {
        crate::vocab::Scope::Overall => a.metric.clone(),
        crate::vocab::Scope::Pair(x, y) => format!("{x}|{y}"),
        other => format!("{other} {}", a.metric),
    };
    format!("{} {} {what}", a.severity.as_str(), a.rule)
}

/// `opened critical drop effective_models`, `opened warning pair acme-a|ember-e`.
pub(super) fn short_page(i: &Incident) -> String {
    let what = match &i.scope {
        crate::vocab::Scope::Overall => i.metric.clone(),
        crate::vocab::Scope::Pair(x, y) => format!("{x}|{y}"),
        other => format!("{other} {}", i.metric),
    };
    format!("{} {} {} {what}", i.event.as_str(), i.severity.as_str(), i.rule)
}

/// Rules that flag one model pair as related: `pair` (converging) and `undeclared`.
fn is_pair_rule(name: &str) -> bool {
    name == crate::alert::rule::PAIR || name == crate::alert::rule::UNDECLARED
}

/// Rules about the ecosystem's diversity as a whole (the pair rule is about one pair).
fn is_ecosystem_rule(name: &str) -> bool {
    crate::alert::RULES.iter().any(|r| r.name == name && r.scope == crate::alert::RuleScope::Ecosystem)
}

/// Nights after an event's end during which an ecosystem alert is still its doing: the change
/// stays in the baseline until the baseline window has moved past it.
const EFFECT_NIGHTS: u32 = 14;

/// How one scenario event fared.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// First signal on this night, within the event.
    Caught { night: u32, by: String },
    /// First signal after the event's last night.
    Late { night: u32, by: String },
    /// No signal, and the demo ran past the event.
    Missed,
    /// No signal yet, and the demo stopped before the event ended.
    NotYet { last_night: u32 },
    /// The demo stopped before the event began.
    NotReached,
}

/// One event of the scenario against what was raised.
#[derive(Debug, Clone, PartialEq)]
pub struct EventScore {
    pub start: u32,
    pub end: u32,
    pub what: String,
    /// The pairs it draws together (none for an ecosystem-wide event).
    pub pairs: Vec<crate::vocab::Scope>,
    /// The models it makes susceptible to feeds (a contagion event; `*` for all), else none.
    pub susceptible: Vec<String>,
    pub outcome: Outcome,
}

/// The demo's truth table: every event, the alerts the scenario does not explain, and the
/// precision and recall of what was raised.
#[derive(Debug, Clone, PartialEq)]
pub struct Scorecard {
    pub events: Vec<EventScore>,
    /// Alert rows raised (warning or critical, not held back): the nightly record.
    pub raised: usize,
    /// Pages: incidents opened, escalated or no longer explained (what someone is told).
    pub pages: usize,
    /// Of those, the ones an event explains: an ecosystem page during an event or within
    /// [`EFFECT_NIGHTS`] after it, a pair page on a pair an event draws together, a contagion
    /// page on a model an event makes susceptible.
    pub explained: usize,
    /// Pages no event explains: (night, page in short).
    pub stray_ecosystem: Vec<(u32, String)>,
    /// Distinct pairs paged by the pair rule, and those of them in the truth.
    pub flagged_pairs: Vec<crate::vocab::Scope>,
    pub truth_pairs_reached: Vec<crate::vocab::Scope>,
}

impl Scorecard {
    pub fn flagged_in_truth(&self) -> Vec<&crate::vocab::Scope> {
        self.flagged_pairs.iter().filter(|p| self.truth_pairs_reached.contains(p)).collect()
    }
}

/// Scores the nights run (`results`, nights 1..=n) against the scenario's events.
pub fn scorecard(scenario: &Scenario, results: &[NightResult]) -> Scorecard {
    use crate::sim::scenario::Event;
    use crate::vocab::Scope;
    let last = results.iter().map(|r| r.night).max().unwrap_or(0);
    let truth = scenario.truth();
    let mut events = Vec::new();
    for (i, e) in scenario.events.iter().enumerate() {
        let (start, end) = (
            truth["events"][i]["start"].as_u64().unwrap_or(0) as u32,
            truth["events"][i]["end"].as_u64().unwrap_or(0) as u32,
        );
        let what = truth["events"][i]["what"].as_str().unwrap_or_default().to_owned();
        let pairs: Vec<Scope> = match e {
            // A model drawn toward another is drawn toward its voice: the target's voice-mates
            // (its family, by construction) become its relatives too.
            Event::Influence { model, toward, .. } => {
                let voice = |name: &str| scenario.models.iter().find(|m| m.name == name).and_then(|m| m.voice);
                let mates = scenario.models.iter().filter(|m| {
                    m.name != *model && (m.name == *toward || (voice(toward).is_some() && m.voice == voice(toward)))
                });
                mates.map(|m| Scope::pair(model, &m.name)).collect()
            }
            // The takers are drawn toward `from`'s part, so toward each other; a voice part
            // (openers, refusals, stock phrases, closers) is also every voice-mate's of `from`:
            // its family speaks the same phrases, and no measure can tell which of them lent them.
            Event::Transmission { from, to, part, .. } => {
                let voice = |name: &str| scenario.models.iter().find(|m| m.name == name).and_then(|m| m.voice);
                let voiced = crate::sim::scenario::part(part).is_some_and(crate::sim::models::Part::carries_voice);
                let lenders = scenario.models.iter().filter(|m| {
                    m.name == *from
                        || (voiced && voice(from).is_some() && m.voice == voice(from) && !to.contains(&m.name))
                });
                let mut pairs: Vec<Scope> = lenders.flat_map(|m| to.iter().map(|t| Scope::pair(&m.name, t))).collect();
                for (i, a) in to.iter().enumerate() {
                    pairs.extend(to[i + 1..].iter().map(|b| Scope::pair(a, b)));
                }
                pairs
            }
            // A swapped endpoint answers as the model swapped in: the two are a pair now.
            Event::Swap { model, to, .. } => vec![Scope::pair(model, to)],
            Event::Narrowing { .. } | Event::Susceptibility { .. } => Vec::new(),
        };
        // A swap is caught by the identity rule on the swapped endpoint too.
        let swapped = if let Event::Swap { model, .. } = e { Some(Scope::Model(model.clone())) } else { None };
        // A model turning susceptible is caught by the contagion rule on that model.
        let susceptible = match e {
            Event::Susceptibility { models, .. } => Some(models),
            _ => None,
        };
        let signal = |r: &NightResult| -> Option<String> {
            r.raised()
                .find(|a| {
                    (a.rule == crate::alert::rule::IDENTITY && swapped.as_ref() == Some(&a.scope))
                        || match (susceptible, &a.scope) {
                            (Some(models), Scope::Model(m)) => {
                                a.rule == crate::alert::rule::CONTAGION && models.iter().any(|n| n == "*" || n == m)
                            }
                            (Some(_), _) => false,
                            (None, _) if pairs.is_empty() => is_ecosystem_rule(&a.rule),
                            (None, _) => is_pair_rule(&a.rule) && pairs.contains(&a.scope),
                        }
                })
                .map(short_alert)
        };
        let first = results.iter().filter(|r| r.night >= start).find_map(|r| signal(r).map(|by| (r.night, by)));
        let outcome = match first {
            _ if start > last => Outcome::NotReached,
            Some((night, by)) if night <= end => Outcome::Caught { night, by },
            Some((night, by)) => Outcome::Late { night, by },
            None if last < end => Outcome::NotYet { last_night: last },
            None => Outcome::Missed,
        };
        let susceptible = susceptible.cloned().unwrap_or_default();
        events.push(EventScore { start, end, what, pairs, susceptible, outcome });
    }
    // In night order, as a reader follows the story (the scenario lists them as written).
    events.sort_by_key(|e| (e.start, e.end));
    let truth_pairs_reached: Vec<Scope> =
        events.iter().filter(|e| e.start <= last).flat_map(|e| e.pairs.iter().cloned()).collect();
    let raised = results.iter().map(|r| r.raised().count()).sum();
    let Pages { pages, explained, stray_ecosystem, flagged_pairs } =
        score_pages(results, &events, &truth_pairs_reached);
    Scorecard { events, raised, pages, explained, stray_ecosystem, flagged_pairs, truth_pairs_reached }
}

/// What the nights paged, against the events.
struct Pages {
    pages: usize,
    explained: usize,
    stray_ecosystem: Vec<(u32, String)>,
    flagged_pairs: Vec<crate::vocab::Scope>,
}

/// Each page explained or not: a pair page by a pair the events draw together, a contagion page
/// by a model an event makes susceptible, any other by an ecosystem-wide event (during it or
/// within [`EFFECT_NIGHTS`] after).
fn score_pages(results: &[NightResult], events: &[EventScore], truth_pairs_reached: &[crate::vocab::Scope]) -> Pages {
    use crate::vocab::Scope;
    let mut pages = 0;
    let mut explained = 0;
    let mut stray_ecosystem = Vec::new();
    let mut flagged_pairs: Vec<Scope> = Vec::new();
    for r in results {
        for i in r.pages() {
            pages += 1;
            let ok = if is_pair_rule(&i.rule) {
                if !flagged_pairs.contains(&i.scope) {
                    flagged_pairs.push(i.scope.clone());
                }
                truth_pairs_reached.contains(&i.scope)
            } else {
                // A contagion page is explained by a model turning susceptible, any other by an
                // ecosystem-wide event.
                let explains = |e: &&EventScore| match (&i.scope, i.rule == crate::alert::rule::CONTAGION) {
                    (Scope::Model(m), true) => e.susceptible.iter().any(|n| n == "*" || n == m),
                    (_, true) => !e.susceptible.is_empty(),
                    (_, false) => e.susceptible.is_empty(),
                };
                let during =
                    events.iter().filter(explains).any(|e| e.start <= r.night && r.night <= e.end + EFFECT_NIGHTS);
                if !during {
                    stray_ecosystem.push((r.night, short_page(i)));
                }
                during
            };
            explained += usize::from(ok);
        }
    }
    Pages { pages, explained, stray_ecosystem, flagged_pairs }
}

fn ratio(hits: usize, of: usize) -> String {
    if of == 0 { "-".into() } else { format!("{:.2}", hits as f64 / of as f64) }
}

impl std::fmt::Display for Scorecard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &[&crate::vocab::Scope]| -> String {
            v.iter().map(|s| s.to_string().trim_start_matches("pair:").to_owned()).collect::<Vec<_>>().join(", ")
        };
        for e in &self.events {
            let outcome = match &e.outcome {
                Outcome::Caught { night, by } => {
                    format!("caught on night {night} ({} after it began): {by}", nights(night - e.start))
                }
                Outcome::Late { night, by } => {
                    format!("caught late, on night {night} ({} after it ended): {by}", nights(night - e.end))
                }
                Outcome::Missed if !e.susceptible.is_empty() => {
                    format!("missed: no contagion alert on {}", e.susceptible.join(", "))
                }
                Outcome::Missed if e.pairs.is_empty() => "missed: no ecosystem alert".to_owned(),
                Outcome::Missed => format!("missed: no pair alert on {}", names(&e.pairs.iter().collect::<Vec<_>>())),
                Outcome::NotYet { last_night } => {
                    format!("not caught by night {last_night}, where the demo stopped (it runs to night {})", e.end)
                }
                Outcome::NotReached => format!("not reached: it starts on night {} (--nights)", e.start),
            };
            writeln!(f, "  nights {:>2}-{:<2} {}\n               -> {outcome}", e.start, e.end, e.what)?;
        }
        let stray_pairs: Vec<&crate::vocab::Scope> =
            self.flagged_pairs.iter().filter(|p| !self.truth_pairs_reached.contains(p)).collect();
        writeln!(f, "Pages outside the scenario:")?;
        if stray_pairs.is_empty() && self.stray_ecosystem.is_empty() {
            writeln!(f, "  none")?;
        }
        if !stray_pairs.is_empty() {
            let shown: Vec<&crate::vocab::Scope> = stray_pairs.iter().take(8).copied().collect();
            let more =
                if stray_pairs.len() > 8 { format!(" and {} more", stray_pairs.len() - 8) } else { String::new() };
            writeln!(
                f,
                "  pair pages on {} pair(s) the scenario did not draw together: {}{more}",
                stray_pairs.len(),
                names(&shown)
            )?;
        }
        if !self.stray_ecosystem.is_empty() {
            let shown: Vec<String> =
                self.stray_ecosystem.iter().take(6).map(|(n, a)| format!("night {n} {a}")).collect();
            writeln!(
                f,
                "  {} page(s) on nights or models no event explains: {}",
                self.stray_ecosystem.len(),
                shown.join("; ")
            )?;
        }
        let reached = self.events.iter().filter(|e| e.outcome != Outcome::NotReached).count();
        let caught =
            self.events.iter().filter(|e| matches!(e.outcome, Outcome::Caught { .. } | Outcome::Late { .. })).count();
        let hits = self.flagged_in_truth();
        writeln!(f, "Precision and recall:")?;
        writeln!(f, "  events caught: {caught} of {reached} reached (recall {})", ratio(caught, reached))?;
        writeln!(
            f,
            "  pages (incidents opened, escalated or no longer explained): {}, {} of them explained by an event (precision {}); {} alert rows raised in all",
            self.pages,
            self.explained,
            ratio(self.explained, self.pages),
            self.raised
        )?;
        writeln!(
            f,
            "  pairs paged as a suspected lineage: {}, {} of them in the truth (precision {}); the truth's {} pair(s) paged: {} (recall {})",
            self.flagged_pairs.len(),
            hits.len(),
            ratio(hits.len(), self.flagged_pairs.len()),
            self.truth_pairs_reached.len(),
            hits.len(),
            ratio(hits.len(), self.truth_pairs_reached.len())
        )
    }
}

fn nights(n: u32) -> String {
    if n == 1 { "1 night".into() } else { format!("{n} nights") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Alert, Severity};
    use crate::vocab::Scope;

    fn alert(rule: &str, scope: Scope, metric: &str) -> Alert {
        Alert {
            severity: Severity::Warning,
            rule: rule.into(),
            scope,
            metric: metric.into(),
            value: 0.0,
            baseline: None,
            threshold: 0.0,
            message: String::new(),
            incident: None,
            inhibited_by: None,
        }
    }

    fn night(n: u32, alerts: Vec<Alert>) -> NightResult {
        NightResult {
            night: n,
            date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(u64::from(n)),
            run_id: format!("r{n}"),
            metrics: Vec::new(),
            alerts,
            incidents: Vec::new(),
            coverage: 1.0,
            comparable_runs: n as usize - 1,
            families: 1,
            family_level: crate::vocab::FamilyLevel::Close,
        }
    }

    /// Each night's incidents, as the pipeline would track them from its alerts.
    fn with_incidents(mut results: Vec<NightResult>) -> Vec<NightResult> {
        let mut previous = Vec::new();
        for r in &mut results {
            let tonight = (r.date, r.run_id.as_str());
            r.incidents = crate::alert::incident::track(
                &previous,
                &mut r.alerts,
                tonight,
                true,
                &Default::default(),
                &[],
                &Default::default(),
            );
            previous = r.incidents.clone();
        }
        results
    }

    #[test]
    fn the_scorecard_says_what_was_caught_late_missed_or_not_reached() {
        let s = Scenario::demo();
        // Narrowing 12-15, influence ember-7b -> cirrus-flash 18-24, transmission 20-26.
        let mut results: Vec<NightResult> = (1..=30).map(|n| night(n, Vec::new())).collect();
        results[4].alerts.push(alert("shift", Scope::Overall, "effective_models")); // night 5: stray
        results[12].alerts.push(alert("drop", Scope::Overall, "effective_models")); // night 13
        results[25].alerts.push(alert("pair", Scope::pair("ember-7b", "cirrus-flash"), "excess_similarity")); // 26: late
        results[21].alerts.push(alert("pair", Scope::pair("acme-large", "acme-mini"), "excess_similarity"));
        // Night 6: delta-open (susceptible from night 5) caught; a contagion alert on another
        // model is not the event's doing.
        results[5].alerts.push(alert("contagion", Scope::Model("delta-open".into()), "adoption_gain"));
        results[6].alerts.push(alert("contagion", Scope::Model("ember-7b".into()), "adoption_gain"));
        // The pair of night 22 holds three more nights: one incident, one page.
        for night in &mut results[22..25] {
            night.alerts.push(alert("pair", Scope::pair("acme-large", "acme-mini"), "excess_similarity"));
        }
        let results = with_incidents(results);
        let card = scorecard(&s, &results);
        let outcomes: Vec<&Outcome> = card.events.iter().map(|e| &e.outcome).collect();
        // In night order: contagion 5, narrowing 12, influence 18, transmission 20.
        let starts: Vec<u32> = card.events.iter().map(|e| e.start).collect();
        assert_eq!(starts, [5, 12, 18, 20]);
        assert!(matches!(outcomes[0], Outcome::Caught { night: 6, .. }), "{outcomes:?}");
        assert!(matches!(outcomes[1], Outcome::Caught { night: 13, .. }), "{outcomes:?}");
        assert!(matches!(outcomes[2], Outcome::Late { night: 26, .. }), "{outcomes:?}");
        assert_eq!(outcomes[3], &Outcome::Missed);
        assert_eq!((card.raised, card.pages), (9, 6), "nine alert rows, six pages");
        assert_eq!(card.explained, 3, "the shift on night 5 is not explained by delta-open turning susceptible");
        assert_eq!(card.stray_ecosystem.len(), 2);
        assert_eq!(card.flagged_pairs.len(), 2);
        assert_eq!(card.flagged_in_truth().len(), 1);
        let text = card.to_string();
        assert!(text.contains("caught on night 13 (1 night after it began): warning drop effective_models"), "{text}");
        assert!(
            text.contains(
                "missed: no pair alert on acme-large|borealis-pro, acme-large|delta-chat, acme-mini|borealis-pro"
            ),
            "{text}"
        );
        assert!(
            text.contains("pair pages on 1 pair(s) the scenario did not draw together: acme-large|acme-mini"),
            "{text}"
        );
        assert!(text.contains("events caught: 3 of 4 reached (recall 0.75)"), "{text}");
        assert!(text.contains("3 of them explained by an event (precision 0.50)"), "{text}");

        assert!(
            text.contains("caught on night 6 (1 night after it began): warning contagion model:delta-open"),
            "{text}"
        );

        // Cut at night 16: the later events are not reached.
        let card = scorecard(&s, &results[..16]);
        assert_eq!(card.events[2].outcome, Outcome::NotReached);
        assert!(card.to_string().contains("not reached: it starts on night 18"));
        let card = scorecard(&s, &results[..13]);
        assert!(matches!(card.events[1].outcome, Outcome::Caught { .. }));
        let card = scorecard(&s, &results[..12]);
        assert_eq!(card.events[1].outcome, Outcome::NotYet { last_night: 12 });
    }

    #[test]
    fn a_transmitted_phrase_bank_draws_the_takers_together_and_toward_the_lenders_family() {
        let s = Scenario::demo();
        // acme-large's stock spreads to borealis-pro and delta-chat on nights 20-26; acme-mini
        // and acme-instruct speak the same stock (one voice).
        let mut results: Vec<NightResult> = (1..=30).map(|n| night(n, Vec::new())).collect();
        results[22].alerts.push(alert("pair", Scope::pair("borealis-pro", "delta-chat"), "phrase_uptake"));
        results[23].alerts.push(alert("pair", Scope::pair("acme-mini", "delta-chat"), "phrase_uptake"));
        results[24].alerts.push(alert("pair", Scope::pair("acme-mini", "cirrus-flash"), "phrase_uptake"));
        let card = scorecard(&s, &with_incidents(results));
        let transmission = card.events.iter().find(|e| e.start == 20).unwrap();
        assert!(matches!(transmission.outcome, Outcome::Caught { night: 23, .. }), "{:?}", transmission.outcome);
        assert_eq!(transmission.pairs.len(), 7, "3 lenders x 2 takers, and the takers: {:?}", transmission.pairs);
        // A pair the event does not draw together is still a false pair.
        assert_eq!(card.flagged_pairs.len(), 3);
        assert_eq!(card.flagged_in_truth().len(), 2);
    }
}
