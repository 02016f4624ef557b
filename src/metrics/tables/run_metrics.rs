//! Table `run_metrics`: the run's aggregates in long format (scope, metric, value, ci_low,
//! ci_high, n, n_models): the series that trends read. See [`crate::metrics::aggregate`].

use crate::metrics::aggregate::RunMetric;
use crate::store::StoreError;
use crate::store::columns::Columns;
use crate::store::table::{Builder, History, RunRef, Table, TableDecl};

/// Table `run_metrics`; its row is the aggregate stage's [`RunMetric`] (what trends compare).
pub struct RunMetricsTable;

impl Table for RunMetricsTable {
    type Row = RunMetric;
    const DECL: TableDecl = TableDecl::per_embedder("run_metrics").read_later(History::Comparable);

    fn to_arrow(run: &RunRef, rows: &[RunMetric], b: Builder) -> Builder {
        b.same_str("run_id", &run.id)
            .same_str("embedder_id", &run.tag.id)
            .str("scope", rows.iter().map(|r| r.scope.to_string()))
            .str("metric", rows.iter().map(|r| &r.metric))
            .f64("value", rows.iter().map(|r| r.value))
            .opt_f64("ci_low", rows.iter().map(|r| r.ci.map(|c| c.0)))
            .opt_f64("ci_high", rows.iter().map(|r| r.ci.map(|c| c.1)))
            .i64("n", rows.iter().map(|r| r.n as i64))
            .i64("n_models", rows.iter().map(|r| r.n_models as i64))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<RunMetric>, StoreError> {
        let (scope, metric) = (c.strings("scope")?, c.strings("metric")?);
        let (value, lo, hi) = (c.f64s("value")?, c.f64s("ci_low")?, c.f64s("ci_high")?);
        let (n, n_models) = (c.i64s("n")?, c.i64s("n_models")?);
        (0..c.rows())
            .map(|i| {
                Ok(RunMetric {
                    scope: scope
                        .value(i)
                        .parse()
                        .map_err(|e: crate::vocab::ScopeParseError| c.error("scope", e.to_string()))?,
                    metric: metric.value(i).to_owned(),
                    value: value.value(i),
                    ci: Columns::opt_f64(lo, i).zip(Columns::opt_f64(hi, i)),
                    n: n.value(i) as usize,
                    n_models: n_models.value(i) as usize,
                })
            })
            .collect()
    }
}
