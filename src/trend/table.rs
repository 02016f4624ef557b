//! Table `trends`: one row per (scope, metric), run and embedder: tonight's value against the
//! comparable runs before it. See [`crate::trend`].

use std::collections::HashMap;

use super::stats::MannKendall;
use super::{Carried, TrendRow};
use crate::store::columns::Columns;
use crate::store::table::{self, Builder, History, RunRef, Table, TableDecl};
use crate::store::{Output, StoreError, read_batches_if_any};
use crate::vocab::{Direction, Scope, Status};

/// Table `trends`; its row is the trend stage's own [`TrendRow`].
pub struct TrendsTable;

impl Table for TrendsTable {
    type Row = TrendRow;
    const DECL: TableDecl = TableDecl::per_embedder("trends").read_later(History::Window);

    fn to_arrow(run: &RunRef, rows: &[TrendRow], b: Builder) -> Builder {
        let x = |f: fn(&TrendRow) -> Option<f64>| rows.iter().map(f);
        let n = |f: fn(&TrendRow) -> usize| rows.iter().map(move |r| f(r) as i64);
        let mk = |f: fn(&MannKendall) -> f64| rows.iter().map(move |r| r.mann_kendall.as_ref().map(f));
        b.same_str("run_id", &run.id)
            .same_str("embedder_id", &run.tag.id)
            .str("scope", rows.iter().map(|r| r.scope.to_string()))
            .str("metric", rows.iter().map(|r| &r.metric))
            .str("direction", rows.iter().map(|r| r.direction.as_str()))
            .f64("value", rows.iter().map(|r| r.value))
            .opt_f64("ci_low", x(|r| r.ci.map(|c| c.0)))
            .opt_f64("ci_high", x(|r| r.ci.map(|c| c.1)))
            .i64("n", n(|r| r.n))
            .str("segment_start", rows.iter().map(|r| &r.segment_start))
            .bool("instrument_change", rows.iter().map(|r| r.instrument_change))
            .i64("baseline_n", n(|r| r.baseline_n))
            .opt_f64("baseline", x(|r| r.baseline))
            .opt_f64("baseline_spread", x(|r| r.spread))
            .opt_f64("delta", x(|r| r.delta))
            .opt_f64("pct_change", x(|r| r.pct_change))
            .opt_f64("robust_z", x(|r| r.robust_z))
            .i64("trend_n", n(|r| r.trend_n))
            .opt_f64("mk_s", mk(|m| m.s))
            .opt_f64("mk_z", mk(|m| m.z))
            .opt_f64("mk_p", mk(|m| m.p))
            .opt_f64("mk_tau", mk(|m| m.tau))
            .opt_f64("sen_slope", mk(|m| m.slope))
            .f64("cusum_low", rows.iter().map(|r| r.cusum_low))
            .f64("cusum_high", rows.iter().map(|r| r.cusum_high))
            .str("status", rows.iter().map(|r| r.status.as_str()))
            .i64("panel_models", n(|r| r.panel_models))
            .str("panel_id", rows.iter().map(|r| &r.panel_id))
            .opt_f64("full_value", x(|r| r.full.map(|f| f.0)))
            .opt_i64("full_models", rows.iter().map(|r| r.full.map(|f| f.1 as i64)))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<TrendRow>, StoreError> {
        rows_where(c, &|_, _| true)
    }
}

/// The state each (scope, metric) carries to the next comparable run, from a run's `trends`
/// (no file: none).
pub fn read_carried(output: &Output, run: &RunRef) -> Result<HashMap<(Scope, String), Carried>, StoreError> {
    Ok(table::read_if_any::<TrendsTable>(output, run)?
        .into_iter()
        .map(|r| {
            let carried = Carried {
                cusum_low: r.cusum_low,
                cusum_high: r.cusum_high,
                segment_start: r.segment_start,
                panel_id: Some(r.panel_id).filter(|id| !id.is_empty()),
                robust_z: r.robust_z,
            };
            ((r.scope, r.metric), carried)
        })
        .collect())
}

/// The rows of a run's `trends` whose (scope, metric), as stored, `keep` accepts (no file: no
/// rows): a reader that wants a few rows of a night skips building the thousands of pair rows
/// it would drop.
pub fn read_where(
    output: &Output,
    run: &RunRef,
    keep: impl Fn(&str, &str) -> bool,
) -> Result<Vec<TrendRow>, StoreError> {
    let path = table::path::<TrendsTable>(output, run);
    let mut out = Vec::new();
    for batch in read_batches_if_any(&path)? {
        out.extend(rows_where(&Columns::new(&batch, &path), &keep)?);
    }
    Ok(out)
}

/// The rows of one batch that `keep` accepts.
fn rows_where(c: &Columns, keep: &dyn Fn(&str, &str) -> bool) -> Result<Vec<TrendRow>, StoreError> {
    let mut out = Vec::new();
    let (scope, metric, direction, start, status) = (
        c.strings("scope")?,
        c.strings("metric")?,
        c.strings("direction")?,
        c.strings("segment_start")?,
        c.strings("status")?,
    );
    let f = |name: &str| c.f64s(name);
    let (value, lo, hi, baseline, spread) =
        (f("value")?, f("ci_low")?, f("ci_high")?, f("baseline")?, f("baseline_spread")?);
    let (delta, pct, z) = (f("delta")?, f("pct_change")?, f("robust_z")?);
    let (mk_s, mk_z, mk_p, mk_tau, slope) = (f("mk_s")?, f("mk_z")?, f("mk_p")?, f("mk_tau")?, f("sen_slope")?);
    let (low, high) = (f("cusum_low")?, f("cusum_high")?);
    let (n, baseline_n, trend_n) = (c.i64s("n")?, c.i64s("baseline_n")?, c.i64s("trend_n")?);
    let change = c.bools("instrument_change")?;
    // Files written before panels were recorded lack these four columns.
    let has_panel = c.has("panel_id");
    let panel = if has_panel {
        Some((c.i64s("panel_models")?, c.strings("panel_id")?, f("full_value")?, c.i64s("full_models")?))
    } else {
        None
    };
    let opt = Columns::opt_f64;
    for i in 0..c.rows() {
        if !keep(scope.value(i), metric.value(i)) {
            continue;
        }
        // Var(S) and the intercept are not stored: NaN in what is read back.
        let mann_kendall = match (opt(mk_s, i), opt(mk_z, i), opt(mk_p, i), opt(mk_tau, i), opt(slope, i)) {
            (Some(s), Some(z), Some(p), Some(tau), Some(slope)) => {
                Some(MannKendall { s, var_s: f64::NAN, z, p, tau, slope, intercept: f64::NAN })
            }
            _ => None,
        };
        out.push(TrendRow {
            scope: scope
                .value(i)
                .parse()
                .map_err(|e: crate::vocab::ScopeParseError| c.error("scope", e.to_string()))?,
            metric: metric.value(i).to_owned(),
            direction: match direction.value(i) {
                "down" => Direction::DownIsBad,
                "up" => Direction::UpIsBad,
                _ => Direction::Neutral,
            },
            value: value.value(i),
            ci: opt(lo, i).zip(opt(hi, i)),
            n: n.value(i) as usize,
            segment_start: start.value(i).to_owned(),
            instrument_change: change.value(i),
            baseline_n: baseline_n.value(i) as usize,
            baseline: opt(baseline, i),
            spread: opt(spread, i),
            delta: opt(delta, i),
            pct_change: opt(pct, i),
            robust_z: opt(z, i),
            previous_robust_z: None,
            mann_kendall,
            trend_n: trend_n.value(i) as usize,
            cusum_low: low.value(i),
            cusum_high: high.value(i),
            status: match status.value(i) {
                "alert" => Status::Alert,
                "watch" => Status::Watch,
                _ => Status::Ok,
            },
            panel_models: panel.map_or(0, |p| p.0.value(i) as usize),
            panel_id: panel.map_or_else(String::new, |p| p.1.value(i).to_owned()),
            full: panel.and_then(|p| {
                let models = Columns::opt_i64(p.3, i).map(|m| m as usize);
                opt(p.2, i).zip(models)
            }),
        });
    }
    Ok(out)
}
