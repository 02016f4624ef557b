//! The trend stage of a run: finds the comparable runs before it (bounded look-back), reads
//! their `run_metrics` and the previous `trends`, settles the judged panel (the models tonight
//! shares with every one of those runs, see [`super`]), and computes tonight's trend rows.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::table::read_carried;
use super::{Panel, PanelChange, TrendRow, TrendSettings, compute_trends};
use crate::metrics::aggregate::RunMetric;
use crate::metrics::tables::run_metrics::RunMetricsTable;
use crate::plan::runs::{self, RunInfo};
use crate::store::table::{self, RunRef};
use crate::store::{EmbedderTag, Output, StoreError};
use crate::vocab::Scope;

/// How many earlier runs, at most, are looked at for comparable ones, as a multiple of the
/// longest window: past a change of instrument, older runs are never read.
pub const LOOK_BACK: usize = 3;

/// Tonight's trends and what happened to the panel.
#[derive(Debug, Clone)]
pub struct Trends {
    /// Status still ok: alerts set it.
    pub rows: Vec<TrendRow>,
    /// Tonight's models against the previous comparable run's, when they differ.
    pub panel_change: Option<PanelChange>,
    /// Comparable earlier runs found (at most the longest window).
    pub comparable_runs: usize,
}

/// Tonight's trend rows for one embedder.
pub fn trend_run(
    output: &Output,
    tonight: &RunInfo,
    embedder: &EmbedderTag,
    settings: &TrendSettings,
) -> Result<Trends, StoreError> {
    let tonight_run = tonight.run_ref(embedder);
    let today = table::read::<RunMetricsTable>(output, &tonight_run)?;
    let window = settings.baseline_runs.max(settings.trend_runs);

    let (comparable, any_earlier) = comparable_runs(output, tonight, embedder, window)?;
    let history: Vec<Vec<RunMetric>> =
        comparable.iter().map(|run| table::read::<RunMetricsTable>(output, run)).collect::<Result<_, _>>()?;
    let carried = match comparable.last() {
        Some(run) => read_carried(output, run)?,
        None => HashMap::new(),
    };
    let instrument_change = any_earlier && comparable.is_empty();

    let tonight_panel = Panel::of_metrics(&today);
    let panels: Vec<Panel> = history.iter().map(|h| Panel::of_metrics(h)).collect();
    let mut judged: BTreeSet<String> = tonight_panel.models.clone();
    for p in &panels {
        judged.retain(|m| p.models.contains(m));
    }
    let judged = Panel::of(judged);
    let panel_change = panels.last().and_then(|before| PanelChange::between(before, &tonight_panel, &judged));
    let comparable_runs = history.len();
    let trends = |rows| Trends { rows, panel_change: panel_change.clone(), comparable_runs };

    if panels.iter().all(|p| p.id == tonight_panel.id) {
        let rows =
            compute_trends(&tonight.run_id, &today, &history, &carried, instrument_change, settings, &tonight_panel);
        return Ok(trends(rows));
    }
    if judged.len() < 2 {
        // Fewer than two models in common with the window: nothing like-for-like to compare,
        // a new baseline starts (the panel change says why).
        let rows = compute_trends(&tonight.run_id, &today, &[], &HashMap::new(), false, settings, &tonight_panel);
        return Ok(trends(rows));
    }

    // Every run of the window, tonight's included, on the judged panel.
    let cache = PanelCache::new(output, embedder, PANEL_METRICS);
    let mut used = Vec::new();
    let mut on_judged = |run: &RunRef, own: &Panel, stored: &[RunMetric]| {
        if own.id == judged.id {
            return Ok(stored.to_vec());
        }
        let (metrics, file) = cache.metrics(run, &judged)?;
        used.push(file);
        Ok::<_, StoreError>(metrics)
    };
    let today_judged = on_judged(&tonight_run, &tonight_panel, &today)?;
    let window_runs = comparable.iter().zip(&panels).zip(&history);
    let history_judged: Vec<Vec<RunMetric>> =
        window_runs.map(|((run, own), stored)| on_judged(run, own, stored)).collect::<Result<_, _>>()?;
    cache.prune(&used);

    let mut rows =
        compute_trends(&tonight.run_id, &today_judged, &history_judged, &carried, instrument_change, settings, &judged);
    let full: HashMap<(&Scope, &str), f64> = today.iter().map(|m| ((&m.scope, m.metric.as_str()), m.value)).collect();
    if judged.id != tonight_panel.id {
        for r in &mut rows {
            r.full = full.get(&(&r.scope, r.metric.as_str())).map(|v| (*v, tonight_panel.len()));
        }
    }
    // What only tonight's full panel has (a new model's own figures and pairs): against the
    // stored history, where it has none or its own.
    let judged_keys: HashSet<(Scope, String)> = rows.iter().map(|r| (r.scope.clone(), r.metric.clone())).collect();
    let rest: Vec<RunMetric> =
        today.iter().filter(|m| !judged_keys.contains(&(m.scope.clone(), m.metric.clone()))).cloned().collect();
    rows.extend(compute_trends(
        &tonight.run_id,
        &rest,
        &history,
        &carried,
        instrument_change,
        settings,
        &tonight_panel,
    ));
    Ok(trends(rows))
}

/// The comparable runs before tonight, oldest first: at most `window` of them, looked for among
/// the `LOOK_BACK * window` latest earlier runs that have metrics; and whether any run at all
/// came before (none comparable after some means the instrument changed).
fn comparable_runs(
    output: &Output,
    tonight: &RunInfo,
    embedder: &EmbedderTag,
    window: usize,
) -> Result<(Vec<RunRef>, bool), StoreError> {
    let mut earlier: Vec<(NaiveDate, String)> = runs::list(output)?
        .into_iter()
        .filter(|(date, id)| (*date, id.as_str()) < (tonight.run_date, tonight.run_id.as_str()))
        .collect();
    let any_earlier = !earlier.is_empty();
    earlier.reverse();
    let mut comparable: Vec<RunRef> = Vec::new();
    for (date, id) in earlier.into_iter().take(LOOK_BACK * window) {
        if comparable.len() == window {
            break;
        }
        let run = RunRef::new(date, id, embedder.clone());
        if table::path::<RunMetricsTable>(output, &run).exists() && runs::read_info(output, &run)?.comparable(tonight) {
            comparable.push(run);
        }
    }
    comparable.reverse();
    Ok((comparable, any_earlier))
}

/// Runs' measures on a panel other than their own, kept in a folder of the state folder
/// (`<folder>/<run file stem>.<panel id>.parquet`, in the `run_metrics` layout) so that the
/// nights after a change of panel do not measure the same run again. An entry older than the
/// run's stored `run_metrics` (rewritten by `analyze`) is measured afresh; entries this night did
/// not use are removed, so a folder holds at most one window of runs per embedder. The trend
/// stage keeps its window in [`PANEL_METRICS`]; the report's charts keep theirs apart, since
/// each prunes what it did not use.
pub struct PanelCache<'a> {
    output: &'a Output,
    embedder: &'a EmbedderTag,
    dir: PathBuf,
}

/// The trend stage's folder of [`PanelCache`].
pub const PANEL_METRICS: &str = "panel-metrics";

impl<'a> PanelCache<'a> {
    /// The cache in `folder` of the state folder.
    pub fn new(output: &'a Output, embedder: &'a EmbedderTag, folder: &str) -> Self {
        PanelCache { output, embedder, dir: output.state_dir().join(folder) }
    }

    /// The embedder's part of a file name: `.<name>-<8 hex>.`, as in the tables' file names
    /// ([`Output::per_embedder_path`]).
    fn embedder_stem(&self) -> String {
        format!(".{}-{}.", self.embedder.name, &crate::util::sha256_hex(self.embedder.id.as_bytes())[..8])
    }

    /// `run`'s measures on `panel`, and the cache file they are kept in.
    pub fn metrics(&self, run: &RunRef, panel: &Panel) -> Result<(Vec<RunMetric>, PathBuf), StoreError> {
        let stored = table::path::<RunMetricsTable>(self.output, run);
        let stem = stored.file_stem().and_then(|s| s.to_str()).unwrap_or(&run.id);
        let path = self.dir.join(format!("{stem}.{}.parquet", panel.id));
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        if let (Some(cached), Some(source)) = (modified(&path), modified(&stored))
            && cached >= source
        {
            return Ok((table::read_file::<RunMetricsTable>(&path)?, path));
        }
        tracing::info!(
            run_id = run.id,
            panel = panel.len(),
            "measuring an earlier run again on tonight's judged panel"
        );
        let metrics = crate::metrics::stage::measure_panel(self.output, run, &panel.models)?;
        table::write_file::<RunMetricsTable>(&path, run, &metrics)?;
        Ok((metrics, path))
    }

    /// Removes this embedder's entries that were not used tonight.
    pub fn prune(&self, used: &[PathBuf]) {
        let ours = self.embedder_stem();
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for path in entries.flatten().map(|e| e.path()) {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.contains(&ours) && name.ends_with(".parquet") && !used.contains(&path) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}
