//! Table `trends`: one row per (scope, metric), run and embedder: tonight's value against the
//! comparable runs before it. See [`crate::trend`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::stats::MannKendall;
use super::{Carried, TrendRow};
use crate::store::columns::Columns;
use crate::store::{StoreError, read_batches_if_any, write_batch};
use crate::vocab::{Direction, Scope, Status};

pub const TABLE: &str = "trends";

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Arc::new(Schema::new(vec![
        f("run_id", Utf8, false),
        f("embedder_id", Utf8, false),
        f("scope", Utf8, false),
        f("metric", Utf8, false),
        f("direction", Utf8, false),
        f("value", Float64, false),
        f("ci_low", Float64, true),
        f("ci_high", Float64, true),
        f("n", Int64, false),
        f("segment_start", Utf8, false),
        f("instrument_change", Boolean, false),
        f("baseline_n", Int64, false),
        f("baseline", Float64, true),
        f("baseline_spread", Float64, true),
        f("delta", Float64, true),
        f("pct_change", Float64, true),
        f("robust_z", Float64, true),
        f("trend_n", Int64, false),
        f("mk_s", Float64, true),
        f("mk_z", Float64, true),
        f("mk_p", Float64, true),
        f("mk_tau", Float64, true),
        f("sen_slope", Float64, true),
        f("cusum_low", Float64, false),
        f("cusum_high", Float64, false),
        f("status", Utf8, false),
        f("panel_models", Int64, false),
        f("panel_id", Utf8, false),
        f("full_value", Float64, true),
        f("full_models", Int64, true),
    ]))
});

pub fn write(out: &Path, run_id: &str, embedder_id: &str, rows: &[TrendRow]) -> Result<u64, StoreError> {
    let s = |v: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let x =
        |f: &dyn Fn(&TrendRow) -> Option<f64>| -> ArrayRef { Arc::new(rows.iter().map(f).collect::<Float64Array>()) };
    let n = |f: &dyn Fn(&TrendRow) -> usize| -> ArrayRef {
        Arc::new(rows.iter().map(|r| f(r) as i64).collect::<Int64Array>())
    };
    let mk = |f: &dyn Fn(&MannKendall) -> f64| x(&|r| r.mann_kendall.as_ref().map(f));
    let columns: Vec<ArrayRef> = vec![
        s(vec![run_id; rows.len()]),
        s(vec![embedder_id; rows.len()]),
        Arc::new(rows.iter().map(|r| Some(r.scope.to_string())).collect::<StringArray>()),
        s(rows.iter().map(|r| r.metric.as_str()).collect()),
        s(rows.iter().map(|r| r.direction.as_str()).collect()),
        x(&|r| Some(r.value)),
        x(&|r| r.ci.map(|c| c.0)),
        x(&|r| r.ci.map(|c| c.1)),
        n(&|r| r.n),
        s(rows.iter().map(|r| r.segment_start.as_str()).collect()),
        Arc::new(rows.iter().map(|r| Some(r.instrument_change)).collect::<BooleanArray>()),
        n(&|r| r.baseline_n),
        x(&|r| r.baseline),
        x(&|r| r.spread),
        x(&|r| r.delta),
        x(&|r| r.pct_change),
        x(&|r| r.robust_z),
        n(&|r| r.trend_n),
        mk(&|m| m.s),
        mk(&|m| m.z),
        mk(&|m| m.p),
        mk(&|m| m.tau),
        mk(&|m| m.slope),
        x(&|r| Some(r.cusum_low)),
        x(&|r| Some(r.cusum_high)),
        s(rows.iter().map(|r| r.status.as_str()).collect()),
        n(&|r| r.panel_models),
        s(rows.iter().map(|r| r.panel_id.as_str()).collect()),
        x(&|r| r.full.map(|f| f.0)),
        Arc::new(rows.iter().map(|r| r.full.map(|f| f.1 as i64)).collect::<Int64Array>()),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    write_batch(out, batch)
}

fn scope_at(scopes: &StringArray, i: usize, path: &Path) -> Result<Scope, StoreError> {
    scopes.value(i).parse().map_err(|e: crate::vocab::ScopeParseError| StoreError::Column {
        path: path.to_owned(),
        column: "scope".into(),
        problem: e.to_string(),
    })
}

/// The state each (scope, metric) carries to the next comparable run, from a `trends` file.
pub fn read_carried(path: &Path) -> Result<HashMap<(Scope, String), Carried>, StoreError> {
    Ok(read(path)?
        .into_iter()
        .map(|r| {
            let carried = Carried {
                cusum_low: r.cusum_low,
                cusum_high: r.cusum_high,
                segment_start: r.segment_start,
                panel_id: Some(r.panel_id).filter(|id| !id.is_empty()),
            };
            ((r.scope, r.metric), carried)
        })
        .collect())
}

/// Reads a `trends` file back (no file: no rows).
pub fn read(path: &Path) -> Result<Vec<TrendRow>, StoreError> {
    read_where(path, |_, _| true)
}

/// The rows of a `trends` file whose (scope, metric), as stored, `keep` accepts: a reader that
/// wants a few rows of a night skips building the thousands of pair rows it would drop.
pub fn read_where(path: &Path, keep: impl Fn(&str, &str) -> bool) -> Result<Vec<TrendRow>, StoreError> {
    let mut out = Vec::new();
    for batch in read_batches_if_any(path)? {
        let c = Columns::new(&batch, path);
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
        let has_panel = batch.column_by_name("panel_id").is_some();
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
                scope: scope_at(scope, i, path)?,
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
                    let models = (!p.3.is_null(i)).then(|| p.3.value(i) as usize);
                    opt(p.2, i).zip(models)
                }),
            });
        }
    }
    Ok(out)
}
