//! What the report shows, gathered through the stages' own table readers: tonight's alerts,
//! pairs, families, probes and phrases, and the charted metrics of at most
//! [`HISTORY_RUNS`] earlier runs (never their responses).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;

use crate::alert::{self, Alert, Severity};
use crate::collect::responses::{self, OkTexts};
use crate::metrics::tables::shared_phrases::SharedPhrase;
use crate::metrics::tables::{families, pair_similarity, probe_metrics, shared_phrases};
use crate::plan::runs::{self, RunInfo};
use crate::store::{EmbedderTag, Output, StoreError};
use crate::vocab::Scope;

/// Runs shown in the charts, at most.
pub const HISTORY_RUNS: usize = 60;
/// The overall metrics charted, in order.
pub const CHARTED: &[&str] = &["effective_models", "model_vendi_ratio", "homogenization_index", "family_hhi"];
/// Probes listed among those that moved most, and how many of them get sample answers.
const MOVED_PROBES: usize = 8;
const PROBES_WITH_SAMPLES: usize = 3;
/// Characters of a sample answer quoted.
pub const EXCERPT_CHARS: usize = 280;

/// One charted metric of one night.
#[derive(Debug, Clone)]
pub struct Charted {
    pub value: f64,
    pub ci: Option<(f64, f64)>,
    /// Baseline and its band (baseline +- 2 spreads).
    pub baseline: Option<(f64, f64, f64)>,
    pub segment_start: String,
}

/// One run's overall trend rows and the worst alert on each, as the charts need them.
#[derive(Debug, Clone)]
pub struct Night {
    pub date: NaiveDate,
    pub run_id: String,
    pub metrics: HashMap<String, Charted>,
    /// (scope, metric) -> worst severity raised (warning or critical).
    pub alerts: HashMap<(Scope, String), Severity>,
    /// (model, metric) -> value, for the model cards' rates ([`super::lineage::CARD_RATES`]).
    pub models: HashMap<(String, String), f64>,
}

/// A probe's model Vendi ratio tonight and at the previous comparable run.
#[derive(Debug, Clone)]
pub struct MovedProbe {
    pub probe: String,
    pub category: String,
    pub before: Option<f64>,
    pub tonight: f64,
}

/// Everything one run's page shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub run: RunInfo,
    pub embedder_id: String,
    /// The charted nights, oldest first, tonight last.
    pub nights: Vec<Night>,
    pub alerts: Vec<Alert>,
    /// Overall similarity of each model pair (names in order).
    pub pairs: HashMap<(String, String), f64>,
    /// Family name -> members.
    pub families: BTreeMap<String, Vec<String>>,
    /// Whether an earlier comparable run was found for the probes that moved.
    pub has_previous: bool,
    pub moved: Vec<MovedProbe>,
    /// (probe, endpoint) -> the first sample's opening, for the family heads on the top probes.
    pub samples: BTreeMap<(String, String), String>,
    pub phrases: Vec<SharedPhrase>,
    /// The model map, the lineage table and the model cards.
    pub lineage: super::lineage::LineageView,
}

impl ReportData {
    /// Reads what the page of `run` shows, for one embedder.
    pub fn gather(output: &Output, run: &RunInfo, embedder: &EmbedderTag) -> Result<Self, StoreError> {
        let path = |table: &str| output.per_embedder_path(table, run.run_date, &run.run_id, embedder);
        let nights = history(output, run, embedder)?;
        let previous = previous_comparable(&nights);

        let pairs = pair_similarity::read(&path(pair_similarity::TABLE))?
            .into_iter()
            .filter(|(category, _)| category.is_none())
            .map(|(_, p)| ((p.model_a, p.model_b), p.mean_similarity))
            .collect();
        let mut families: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in families::read(&path(families::TABLE))? {
            families.entry(f.family).or_default().push(f.model);
        }

        let ratios = |date, id: &str| -> Result<BTreeMap<String, (String, f64)>, StoreError> {
            let file = output.per_embedder_path(probe_metrics::TABLE, date, id, embedder);
            Ok(probe_metrics::read(&file)?
                .into_iter()
                .filter_map(|p| Some((p.probe, (p.category, p.model_vendi_ratio?))))
                .collect())
        };
        let now = ratios(run.run_date, &run.run_id)?;
        let before = match previous {
            Some(p) => ratios(p.date, &p.run_id)?,
            None => BTreeMap::new(),
        };
        let mut moved: Vec<MovedProbe> = now
            .into_iter()
            .map(|(probe, (category, tonight))| {
                let before = before.get(&probe).map(|b| b.1);
                MovedProbe { probe, category, before, tonight }
            })
            .collect();
        let fall = |m: &MovedProbe| m.before.map_or(m.tonight, |b| m.tonight - b);
        moved.sort_by(|a, b| fall(a).total_cmp(&fall(b)).then(a.probe.cmp(&b.probe)));
        moved.truncate(MOVED_PROBES);

        let heads: HashSet<&str> = families.values().filter_map(|m| m.first().map(String::as_str)).collect();
        let shown: HashSet<&str> = moved.iter().take(PROBES_WITH_SAMPLES).map(|m| m.probe.as_str()).collect();
        let samples = sample_answers(&responses::path(output, run.run_date, &run.run_id), &shown, &heads)?;

        let lineage = super::lineage::gather(output, run, embedder, &families, &nights)?;
        Ok(ReportData {
            lineage,
            run: run.clone(),
            embedder_id: embedder.id.clone(),
            has_previous: previous.is_some(),
            nights,
            alerts: alert::table::read(&path(alert::table::TABLE))?,
            pairs,
            families,
            moved,
            samples,
            phrases: shared_phrases::read(&shared_phrases::path(output, run.run_date, &run.run_id))?,
        })
    }

    /// The family a model heads (the family is named by its first member).
    pub fn family_of_head(&self, endpoint: &str) -> Option<&str> {
        self.families.iter().find(|(_, m)| m.first().is_some_and(|h| h == endpoint)).map(|(f, _)| f.as_str())
    }
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
        if let Some(n) = read_night(output, date, &id, embedder)? {
            nights.push(n);
        }
    }
    nights.reverse();
    Ok(nights)
}

/// The latest night before tonight in tonight's comparable segment.
fn previous_comparable(nights: &[Night]) -> Option<&Night> {
    let segment = |n: &Night| n.metrics.values().next().map(|m| m.segment_start.clone());
    let tonight = nights.last().and_then(segment)?;
    nights.iter().rev().skip(1).find(|n| segment(n).as_ref() == Some(&tonight))
}

fn read_night(
    output: &Output,
    date: NaiveDate,
    run_id: &str,
    embedder: &EmbedderTag,
) -> Result<Option<Night>, StoreError> {
    let trends = output.per_embedder_path(crate::trend::table::TABLE, date, run_id, embedder);
    if !trends.exists() {
        return Ok(None);
    }
    let mut metrics = HashMap::new();
    let mut models = HashMap::new();
    for row in crate::trend::table::read(&trends)? {
        if let Scope::Model(m) = &row.scope
            && super::lineage::CARD_RATES.iter().any(|(r, _)| *r == row.metric)
        {
            models.insert((m.clone(), row.metric.clone()), row.value);
            continue;
        }
        if row.scope.is_overall() && CHARTED.contains(&row.metric.as_str()) {
            let band = row.baseline.map(|m| {
                let s = row.spread.unwrap_or(0.0);
                (m, m - 2.0 * s, m + 2.0 * s)
            });
            let charted = Charted { value: row.value, ci: row.ci, baseline: band, segment_start: row.segment_start };
            metrics.insert(row.metric, charted);
        }
    }
    let mut alerts: HashMap<(Scope, String), Severity> = HashMap::new();
    for a in alert::table::read(&output.per_embedder_path(alert::table::TABLE, date, run_id, embedder))? {
        if a.severity >= Severity::Warning {
            let worst = alerts.entry((a.scope, a.metric)).or_insert(a.severity);
            *worst = (*worst).max(a.severity);
        }
    }
    Ok(Some(Night { date, run_id: run_id.to_owned(), metrics, alerts, models }))
}

/// The first sample of each family head on the shown probes: its opening.
fn sample_answers(
    responses: &std::path::Path,
    shown: &HashSet<&str>,
    heads: &HashSet<&str>,
) -> Result<BTreeMap<(String, String), String>, StoreError> {
    let mut samples = BTreeMap::new();
    if !responses.exists() {
        return Ok(samples);
    }
    let mut texts = OkTexts::open(responses, 4096)?;
    while let Some(chunk) = texts.next_chunk()? {
        for t in chunk {
            if t.sample_index == 0 && shown.contains(t.probe_id.as_str()) && heads.contains(t.endpoint.as_str()) {
                samples.insert((t.probe_id, t.endpoint), t.text.chars().take(EXCERPT_CHARS).collect());
            }
        }
    }
    Ok(samples)
}
