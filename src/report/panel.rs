//! The charts plot the series a reader compares: every night on tonight's models. A night's
//! stored trend value is measured on that night's own panel of models (see [`crate::trend`]), so
//! after a model retires the earlier nights would sit on a panel one model larger and the chart
//! would show a cliff no model made. Each earlier night whose models include all of tonight's is
//! measured again on tonight's ([`crate::metrics::stage::measure_panel`], kept in the state
//! folder, `report-panel/`, so the next nights reuse it); a night that lacks one of tonight's
//! models cannot be, and is plotted on its own models, in grey, with the change of panel marked.
//! The caption says which.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use crate::metrics::aggregate::RunMetric;
use crate::metrics::tables::run_metrics::RunMetricsTable;
use crate::store::table::{self, RunRef};
use crate::store::{EmbedderTag, Output, StoreError};
use crate::trend::Panel;
use crate::trend::stage::PanelCache;

/// The charts' folder of [`PanelCache`] in the state folder, apart from the trend stage's: each
/// prunes what it did not use.
const REPORT_PANEL: &str = "report-panel";

/// A night's charted metrics: metric -> (value, interval).
pub type Charted = HashMap<String, (f64, Option<(f64, f64)>)>;

/// The charted nights' values on tonight's panel, where they differ from the stored ones.
#[derive(Debug, Clone, Default)]
pub struct Repanel {
    /// Run id -> metric -> (value, interval), for the earlier nights measured again on tonight's
    /// models.
    pub values: HashMap<String, Charted>,
    /// The nights that lack one of tonight's models: plotted on their own.
    pub own_panel: HashSet<String>,
    /// What the charts plot, in words (every caption says it).
    pub caption: String,
}

/// A charted night as the panel needs it.
#[derive(Debug, Clone)]
pub struct NightPanel {
    pub date: NaiveDate,
    pub run_id: String,
    /// The panel its charted values were judged on (None: nothing charted).
    pub panel: Option<String>,
    /// How many models that panel has.
    pub models: usize,
    /// Whether its judged panel is all its models (false: a model joined within the window).
    pub judged_all: bool,
}

/// Measures the earlier charted nights again on tonight's models where needed: `nights` oldest
/// first, tonight last; `charted` the overall metrics the charts plot.
pub fn gather(
    output: &Output,
    embedder: &EmbedderTag,
    nights: &[NightPanel],
    charted: &[&str],
) -> Result<Repanel, StoreError> {
    let Some(tonight) = nights.last() else { return Ok(Repanel::default()) };
    let tonight_run = RunRef::new(tonight.date, tonight.run_id.clone(), embedder.clone());
    let (judged_all, tonight_panel, judged) = (tonight.judged_all, &tonight.panel, tonight.models);
    if judged_all && nights.iter().all(|n| n.panel == *tonight_panel) {
        return Ok(Repanel { caption: format!("Every night on the same {judged} models."), ..Default::default() });
    }
    let mut out = Repanel::default();
    if !judged_all {
        // A model joined within the baseline's window: tonight is judged on fewer models than it
        // has, and the earlier nights lack the newcomer. The nights on that judged panel are one
        // series, the others another.
        out.own_panel = nights.iter().filter(|n| n.panel != *tonight_panel).map(|n| n.run_id.clone()).collect();
        out.caption = format!(
            "Blue: the nights on the {judged} models tonight is judged on (those it shares with its baseline); grey: {} nights on other models, each on its own (purple dashed: where the models changed).",
            out.own_panel.len()
        );
        return Ok(out);
    }
    let ours = Panel::of_metrics(&table::read_if_any::<RunMetricsTable>(output, &tonight_run)?);
    let cache = PanelCache::new(output, embedder, REPORT_PANEL);
    let mut used = Vec::new();
    for n in nights[..nights.len() - 1].iter().filter(|n| n.panel != *tonight_panel) {
        let run = RunRef::new(n.date, n.run_id.clone(), embedder.clone());
        let stored = table::read_if_any::<RunMetricsTable>(output, &run)?;
        let own = Panel::of_metrics(&stored);
        if !ours.models.is_subset(&own.models) {
            out.own_panel.insert(n.run_id.clone());
            continue;
        }
        let metrics = if own.id == ours.id {
            stored
        } else {
            let (metrics, file) = cache.metrics(&run, &ours)?;
            used.push(file);
            metrics
        };
        out.values.insert(n.run_id.clone(), charted_of(&metrics, charted));
    }
    cache.prune(&used);
    let measured = out.values.len();
    out.caption = match out.own_panel.len() {
        0 => format!(
            "Every night on tonight's {} models ({measured} earlier nights measured again on them).",
            ours.len()
        ),
        k => format!(
            "Blue: the nights on tonight's {} models ({measured} earlier nights measured again on them); grey: {k} nights that lack one of them, each on its own models (purple dashed: where the models changed).",
            ours.len()
        ),
    };
    Ok(out)
}

/// The charted overall metrics of a run's measures.
fn charted_of(metrics: &[RunMetric], charted: &[&str]) -> Charted {
    metrics
        .iter()
        .filter(|m| m.scope.is_overall() && charted.contains(&m.metric.as_str()))
        .map(|m| (m.metric.clone(), (m.value, m.ci)))
        .collect()
}
