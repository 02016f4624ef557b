//! What the report shows, gathered through the stages' own table readers: tonight's alerts,
//! pairs, families, probes (with their prompts) and phrases, and the charted metrics, coverage
//! and alerts of at most [`HISTORY_RUNS`] earlier runs (never their responses).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;

use crate::alert::incident::Incident;
use crate::alert::incident_table::IncidentsTable;
use crate::alert::table::AlertsTable;
use crate::alert::{Alert, Severity};
use crate::collect::responses::{self, OkTexts};
use crate::metrics::tables::families::FamiliesTable;
use crate::metrics::tables::pair_similarity::PairSimilarityTable;
use crate::metrics::tables::shared_phrases::{SharedPhrase, SharedPhrasesTable};
use crate::plan::probe_table::ProbesTable;
use crate::plan::runs::{self, RunInfo};
use crate::store::table::{self, RunRef};
use crate::store::{EmbedderTag, Output, StoreError};
use crate::trend::table::TrendsTable;
use crate::vocab::metric;
use crate::vocab::{FamilyLevel, Scope};

/// Runs shown in the charts, at most.
pub const HISTORY_RUNS: usize = 60;
/// The overall metrics charted, in order.
pub const CHARTED: &[&str] =
    &[metric::EFFECTIVE_MODELS, metric::MODEL_VENDI_RATIO, metric::HOMOGENIZATION_INDEX, metric::FAMILY_HHI];

/// The model-scope rates a card compares with the ecosystem's (also kept per night for the
/// cards' history: [`Night::models`]).
pub const CARD_RATES: &[(&str, &str)] = &[
    (metric::REFUSAL_RATE, "refusal"),
    (metric::HEDGING_RATE, "hedging"),
    (metric::CONFIDENT_RATE, "confidence"),
    (metric::SELF_REFERENCE_RATE, "self-reference"),
];

/// The overall contagion metrics charted, in order.
pub const CONTAGION_CHARTED: &[&str] =
    &[metric::ADOPTION_GAIN, metric::INJECTION_COMPLIANCE, metric::EXPOSURE_SIMILARITY_GAIN];

/// The per-model columns of the table, in order, with their headings.
pub const CONTAGION_RATES: &[(&str, &str)] = &[
    (metric::CONTROL_ADOPTION_RATE, "adopted, asked cold"),
    (metric::EXPOSED_ADOPTION_RATE, "adopted, after the feed"),
    (metric::ADOPTION_GAIN, "gain"),
    (metric::INJECTION_COMPLIANCE, "injection compliance"),
    (metric::CLAIM_SIMILARITY_GAIN, "moved toward the claim (cosine)"),
];
/// Of the probes that moved most, how many get sample answers.
const PROBES_WITH_SAMPLES: usize = 3;
/// Characters of a sample answer quoted.
pub const EXCERPT_CHARS: usize = 280;
/// Nights whose alerts the "recent alerts" block lists (tonight's excluded).
pub const RECENT_NIGHTS: i64 = 14;
/// Shared phrases considered for merging and listed.
const PHRASES_MERGED: usize = 200;
pub const PHRASES_SHOWN: usize = 15;

/// One charted metric of one night.
#[derive(Debug, Clone)]
pub struct Charted {
    pub value: f64,
    pub ci: Option<(f64, f64)>,
    /// Baseline and its band (baseline +- 2 spreads).
    pub baseline: Option<(f64, f64, f64)>,
    pub segment_start: String,
    /// The night starts a new comparable segment while earlier runs exist (a change of
    /// instrument): drawn on the chart. Not a change of `segment_start` between two charted
    /// nights, which a backfill before the first night would show without any change.
    pub instrument_change: bool,
    /// The panel the value was judged on ([`crate::trend::Panel`]): a change is marked.
    pub panel_id: String,
    pub panel_models: usize,
    /// Tonight's value over all models, when the judged panel is smaller.
    pub full: Option<(f64, usize)>,
}

/// One run's overall trend rows and the worst alert on each, as the charts need them.
#[derive(Debug, Clone)]
pub struct Night {
    pub date: NaiveDate,
    pub run_id: String,
    pub metrics: HashMap<String, Charted>,
    /// (scope, metric) -> worst severity raised (warning or critical).
    pub alerts: HashMap<(Scope, String), Severity>,
    /// Every alert of the night, info included (the "recent alerts" block).
    pub alert_list: Vec<Alert>,
    /// Share of requests that succeeded.
    pub coverage: f64,
    /// The coverage guard fired: no diversity was judged that night.
    pub low_coverage: bool,
    /// (model, metric) -> value, for the model cards' rates ([`CARD_RATES`]) and
    /// the contagion table ([`CONTAGION_RATES`]).
    pub models: HashMap<(String, String), f64>,
}

/// Everything one run's page shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub run: RunInfo,
    pub embedder_id: String,
    pub embedder_name: String,
    /// The charted nights, oldest first, tonight last.
    pub nights: Vec<Night>,
    pub alerts: Vec<Alert>,
    /// Tonight's incidents: open tonight, or resolved tonight.
    pub incidents: Vec<Incident>,
    /// Every incident of the charted nights as it last stood (open tonight, or as it closed),
    /// in the order they opened: the episodes.
    pub episodes: Vec<Incident>,
    /// Overall similarity of each model pair (names in order).
    pub pairs: HashMap<(String, String), f64>,
    /// Family name -> members, at the level of the family tree the configuration names.
    pub families: BTreeMap<String, Vec<String>>,
    /// That level.
    pub family_level: FamilyLevel,
    /// Whether tonight has earlier comparable nights for the probes that moved.
    pub has_previous: bool,
    pub moved: Vec<super::moved::MovedProbe>,
    /// (probe, endpoint) -> the first sample's opening, for the family heads on the top probes.
    pub samples: BTreeMap<(String, String), Excerpt>,
    /// Probe id -> its prompt (and system prompt), for the probes whose answers are quoted.
    pub prompts: BTreeMap<String, (String, Option<String>)>,
    /// Shared 4-grams, overlapping ones merged into the phrase they come from.
    pub phrases: Vec<MergedPhrase>,
    /// The charted nights on tonight's models ([`super::panel`]).
    pub repanel: super::panel::Repanel,
    /// A consortium's night: who took part (empty for any other night).
    pub members: Vec<crate::plan::member_runs::MemberRun>,
}

/// The opening of an answer; `cut` when the answer goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct Excerpt {
    pub text: String,
    pub cut: bool,
}

impl Excerpt {
    /// The first `chars` characters of `text`, cut at a word boundary when one is near.
    pub fn of(text: &str, chars: usize) -> Excerpt {
        let text = text.trim_end();
        let Some((end, _)) = text.char_indices().nth(chars) else {
            return Excerpt { text: text.to_owned(), cut: false };
        };
        let head = &text[..end];
        let at_word = head.rfind(char::is_whitespace).filter(|&i| i >= head.len() * 3 / 4).unwrap_or(head.len());
        Excerpt { text: head[..at_word].trim_end().to_owned(), cut: true }
    }
}

/// A shared phrase as the report lists it: overlapping 4-grams of one phrase merged back into
/// it ("the best way to" + "best way to do" -> "the best way to do").
#[derive(Debug, Clone, PartialEq)]
pub struct MergedPhrase {
    pub phrase: String,
    /// Fewest and most probes among its 4-grams (equal for a single 4-gram).
    pub probes: (usize, usize),
    pub max_models: usize,
    /// How many 4-grams it was made of.
    pub parts: usize,
}

impl ReportData {
    /// Reads what the page of `run` shows, for one embedder.
    /// `level`: the family tree's level the families are shown at (the headline count, the
    /// families section, the heatmap's order, the map's colours).
    pub fn gather(
        output: &Output,
        run: &RunInfo,
        embedder: &EmbedderTag,
        level: FamilyLevel,
    ) -> Result<Self, StoreError> {
        let tonight = run.run_ref(embedder);
        let nights = history(output, run, embedder)?;

        let pairs = table::read_if_any::<PairSimilarityTable>(output, &tonight)?
            .into_iter()
            .filter(|(category, _)| category.is_none())
            .map(|(_, p)| ((p.model_a, p.model_b), p.mean_similarity))
            .collect();
        let families =
            crate::metrics::aggregate::families_at(&table::read_if_any::<FamiliesTable>(output, &tonight)?, level);

        let baseline = baseline_nights(&nights);
        let moved = super::moved::moved_probes(output, &tonight, &baseline, embedder)?;

        let heads: HashSet<&str> = families.values().filter_map(|m| m.first().map(String::as_str)).collect();
        let shown: HashSet<&str> = moved.iter().take(PROBES_WITH_SAMPLES).map(|m| m.probe.as_str()).collect();
        let samples = sample_answers(&table::path::<responses::ResponsesTable>(output, &tonight), &shown, &heads)?;
        let prompts = table::read_if_any::<ProbesTable>(output, &tonight)?
            .into_iter()
            .filter(|p| shown.contains(p.id.as_str()))
            .map(|p| (p.id, (p.prompt, p.system)))
            .collect();

        let episodes = episodes(output, embedder, &nights)?;
        let charted = [CHARTED, CONTAGION_CHARTED].concat();
        let repanel = super::panel::gather(output, embedder, &panels(&nights), &charted)?;
        Ok(ReportData {
            run: run.clone(),
            embedder_id: embedder.id.clone(),
            embedder_name: embedder.name.clone(),
            has_previous: !baseline.is_empty(),
            nights,
            alerts: table::read_if_any::<AlertsTable>(output, &tonight)?,
            incidents: table::read_if_any::<IncidentsTable>(output, &tonight)?,
            episodes,
            repanel,
            pairs,
            families,
            family_level: level,
            moved,
            samples,
            prompts,
            phrases: merge_phrases(&table::read_if_any::<SharedPhrasesTable>(output, &tonight)?),
            members: table::read_if_any::<crate::plan::member_runs::MemberRunsTable>(output, &tonight)?,
        })
    }

    /// The family a model heads (the family is named by its first member).
    pub fn family_of_head(&self, endpoint: &str) -> Option<&str> {
        self.families.iter().find(|(_, m)| m.first().is_some_and(|h| h == endpoint)).map(|(f, _)| f.as_str())
    }

    /// Tonight's models (those in a family).
    pub fn model_count(&self) -> usize {
        self.families.values().map(Vec::len).sum()
    }

    /// Tonight (the last charted night), when it has trends.
    pub fn tonight(&self) -> Option<&Night> {
        self.nights.last().filter(|n| n.run_id == self.run.run_id)
    }

    /// The nights before tonight within [`RECENT_NIGHTS`] days, newest first, with their alerts.
    pub fn recent_nights(&self) -> impl Iterator<Item = &Night> {
        let since = self.run.run_date - chrono::Days::new(RECENT_NIGHTS as u64);
        self.nights.iter().rev().filter(move |n| n.run_id != self.run.run_id && n.date > since)
    }
}

/// The charted nights' panels, for [`super::panel`].
fn panels(nights: &[Night]) -> Vec<super::panel::NightPanel> {
    nights
        .iter()
        .map(|n| {
            let c = n.metrics.get(metric::EFFECTIVE_MODELS).or_else(|| n.metrics.values().next());
            super::panel::NightPanel {
                date: n.date,
                run_id: n.run_id.clone(),
                panel: c.map(|c| c.panel_id.clone()),
                models: c.map_or(0, |c| c.panel_models),
                judged_all: n.metrics.values().all(|c| c.full.is_none()),
            }
        })
        .collect()
}

/// Every incident of the charted nights as its last row has it, in the order they opened.
fn episodes(output: &Output, embedder: &EmbedderTag, nights: &[Night]) -> Result<Vec<Incident>, StoreError> {
    let mut last: BTreeMap<String, Incident> = BTreeMap::new();
    for n in nights {
        let night = RunRef::new(n.date, n.run_id.clone(), embedder.clone());
        for i in table::read_if_any::<IncidentsTable>(output, &night)? {
            last.insert(i.id.clone(), i);
        }
    }
    let mut out: Vec<Incident> = last.into_values().collect();
    out.sort_by(|a, b| a.opened.cmp(&b.opened).then(a.last_seen.cmp(&b.last_seen)).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// The charted nights up to `run` that have trends for this embedder, oldest first.
fn history(output: &Output, run: &RunInfo, embedder: &EmbedderTag) -> Result<Vec<Night>, StoreError> {
    // Tonight's `runs` row is written after the report, so tonight is added here.
    let mut listed = runs::list(output)?;
    if !listed.iter().any(|(_, id)| *id == run.run_id) {
        listed.push((run.run_date, run.run_id.clone()));
        listed.sort();
    }
    let mut nights = Vec::new();
    for (date, id) in listed.into_iter().rev() {
        if (date, id.as_str()) > (run.run_date, run.run_id.as_str()) {
            continue;
        }
        if nights.len() == HISTORY_RUNS {
            break;
        }
        let coverage = if id == run.run_id { Some(run.coverage) } else { None };
        if let Some(n) = read_night(output, date, &id, embedder, coverage)? {
            nights.push(n);
        }
    }
    nights.reverse();
    Ok(nights)
}

/// The earlier nights of tonight's comparable segment (the last of `nights` is tonight), the
/// latest [`super::moved::BASELINE_NIGHTS`] of them, oldest first.
fn baseline_nights(nights: &[Night]) -> Vec<(NaiveDate, String)> {
    let segment = |n: &Night| n.metrics.values().next().map(|m| m.segment_start.clone());
    let Some(tonight) = nights.last().and_then(segment) else { return Vec::new() };
    let mut out: Vec<(NaiveDate, String)> = nights
        .iter()
        .rev()
        .skip(1)
        .filter(|n| segment(n).as_ref() == Some(&tonight))
        .take(super::moved::BASELINE_NIGHTS)
        .map(|n| (n.date, n.run_id.clone()))
        .collect();
    out.reverse();
    out
}

fn read_night(
    output: &Output,
    date: NaiveDate,
    run_id: &str,
    embedder: &EmbedderTag,
    coverage: Option<f64>,
) -> Result<Option<Night>, StoreError> {
    let night = RunRef::new(date, run_id, embedder.clone());
    if !table::path::<TrendsTable>(output, &night).exists() {
        return Ok(None);
    }
    let mut metrics = HashMap::new();
    let mut models = HashMap::new();
    // Pair rows are most of a night's trends and the charts need none of them.
    for row in crate::trend::table::read_where(output, &night, |scope, _| !scope.starts_with("pair:"))? {
        if let Scope::Model(m) = &row.scope
            && (CARD_RATES.iter().any(|(r, _)| *r == row.metric)
                || CONTAGION_RATES.iter().any(|(r, _)| *r == row.metric))
        {
            models.insert((m.clone(), row.metric.clone()), row.value);
            continue;
        }
        if row.scope.is_overall()
            && (CHARTED.contains(&row.metric.as_str()) || CONTAGION_CHARTED.contains(&row.metric.as_str()))
        {
            let band = row.baseline.map(|m| {
                let s = row.spread.unwrap_or(0.0);
                (m, m - 2.0 * s, m + 2.0 * s)
            });
            let charted = Charted {
                value: row.value,
                ci: row.ci,
                baseline: band,
                segment_start: row.segment_start,
                instrument_change: row.instrument_change,
                panel_id: row.panel_id,
                panel_models: row.panel_models,
                full: row.full,
            };
            metrics.insert(row.metric, charted);
        }
    }
    let mut alerts: HashMap<(Scope, String), Severity> = HashMap::new();
    let alert_list = table::read_if_any::<AlertsTable>(output, &night)?;
    for a in &alert_list {
        if a.severity >= Severity::Warning {
            let worst = alerts.entry((a.scope.clone(), a.metric.clone())).or_insert(a.severity);
            *worst = (*worst).max(a.severity);
        }
    }
    let coverage = match coverage {
        Some(c) => c,
        None => runs::read_info(output, &night)?.coverage,
    };
    let low_coverage = alert_list.iter().any(|a| a.rule == crate::alert::rule::COVERAGE);
    Ok(Some(Night { date, run_id: run_id.to_owned(), metrics, alerts, alert_list, coverage, low_coverage, models }))
}

/// The first sample of each family head on the shown probes: its opening.
fn sample_answers(
    responses: &std::path::Path,
    shown: &HashSet<&str>,
    heads: &HashSet<&str>,
) -> Result<BTreeMap<(String, String), Excerpt>, StoreError> {
    let mut samples = BTreeMap::new();
    if !responses.exists() {
        return Ok(samples);
    }
    let mut texts = OkTexts::open(responses, 4096)?;
    while let Some(chunk) = texts.next_chunk()? {
        for t in chunk {
            if t.sample_index == 0 && shown.contains(t.probe_id.as_str()) && heads.contains(t.endpoint.as_str()) {
                samples.insert((t.probe_id, t.endpoint), Excerpt::of(&t.text, EXCERPT_CHARS));
            }
        }
    }
    Ok(samples)
}

/// Overlapping shared 4-grams merged into the phrases they come from: a 4-gram whose last
/// three words open exactly one other (which no other 4-gram leads into) is joined to it, along
/// the chain. Branches are never joined, so a merged phrase is one some model wrote. Most
/// widespread first.
pub fn merge_phrases(phrases: &[SharedPhrase]) -> Vec<MergedPhrase> {
    let phrases = &phrases[..phrases.len().min(PHRASES_MERGED)];
    let words: Vec<Vec<&str>> = phrases.iter().map(|p| p.phrase.split_whitespace().collect()).collect();
    let mut by_head: HashMap<&[&str], Vec<usize>> = HashMap::new();
    for (i, w) in words.iter().enumerate() {
        if w.len() >= 2 {
            by_head.entry(&w[..w.len() - 1]).or_default().push(i);
        }
    }
    let next: Vec<Option<usize>> = words
        .iter()
        .enumerate()
        .map(|(i, w)| match by_head.get(&w[1.min(w.len())..]) {
            Some(v) if v.len() == 1 && v[0] != i && w.len() >= 2 => Some(v[0]),
            _ => None,
        })
        .collect();
    let mut leads_in = vec![0usize; phrases.len()];
    for n in next.iter().flatten() {
        leads_in[*n] += 1;
    }
    let link = |i: usize| next[i].filter(|&n| leads_in[n] == 1);
    let mut used = vec![false; phrases.len()];
    let mut out = Vec::new();
    // Chains start where nothing leads in; what is left after that is a cycle, taken as it is.
    let mut linked_to = vec![false; phrases.len()];
    for j in 0..phrases.len() {
        if let Some(n) = link(j) {
            linked_to[n] = true;
        }
    }
    let starts: Vec<usize> = (0..phrases.len()).filter(|&i| !linked_to[i]).chain(0..phrases.len()).collect();
    for start in starts {
        if used[start] {
            continue;
        }
        let mut chain = vec![start];
        used[start] = true;
        let mut at = start;
        while let Some(n) = link(at).filter(|&n| !used[n]) {
            used[n] = true;
            chain.push(n);
            at = n;
        }
        let mut text: Vec<&str> = words[chain[0]].clone();
        for &i in &chain[1..] {
            text.extend(words[i].last());
        }
        let counts = chain.iter().map(|&i| phrases[i].probes);
        out.push(MergedPhrase {
            phrase: text.join(" "),
            probes: (counts.clone().min().unwrap_or(0), counts.max().unwrap_or(0)),
            max_models: chain.iter().map(|&i| phrases[i].max_models).max().unwrap_or(0),
            parts: chain.len(),
        });
    }
    out.sort_by(|a, b| b.probes.1.cmp(&a.probes.1).then(b.max_models.cmp(&a.max_models)).then(a.phrase.cmp(&b.phrase)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrase(text: &str, probes: usize) -> SharedPhrase {
        SharedPhrase { phrase: text.into(), probes, max_models: 3, run_models: 4 }
    }

    #[test]
    fn overlapping_four_grams_merge_into_their_phrase() {
        let merged = merge_phrases(&[
            phrase("the best way to", 9),
            phrase("best way to do", 8),
            phrase("way to do it", 8),
            phrase("in the long run", 5),
            // Two 4-grams lead on from "but on the other": a branch is never joined.
            phrase("on the other hand", 4),
            phrase("on the other side", 3),
            phrase("but on the other", 2),
        ]);
        let texts: Vec<&str> = merged.iter().map(|m| m.phrase.as_str()).collect();
        assert_eq!(
            texts,
            ["the best way to do it", "in the long run", "on the other hand", "on the other side", "but on the other"]
        );
        assert_eq!((merged[0].probes, merged[0].parts), ((8, 9), 3));
        assert_eq!((merged[1].probes, merged[1].parts), ((5, 5), 1));
    }

    #[test]
    fn a_cycle_of_four_grams_is_kept_once() {
        let merged = merge_phrases(&[phrase("a b c a", 2), phrase("b c a b", 2), phrase("c a b c", 2)]);
        let parts: usize = merged.iter().map(|m| m.parts).sum();
        assert_eq!(parts, 3, "{merged:?}");
    }

    #[test]
    fn an_excerpt_says_when_it_is_cut() {
        assert_eq!(Excerpt::of("short answer", 280), Excerpt { text: "short answer".into(), cut: false });
        let long = "word ".repeat(100);
        let e = Excerpt::of(&long, 280);
        assert!(e.cut && e.text.len() <= 280 && e.text.ends_with("word"), "{e:?}");
        let e = Excerpt::of(&"x".repeat(300), 280);
        assert_eq!((e.text.len(), e.cut), (280, true));
    }
}
