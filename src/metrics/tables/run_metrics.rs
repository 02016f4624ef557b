//! Table `run_metrics`: the run's aggregates in long format (scope, metric, value, ci_low,
//! ci_high, n, n_models): the series that trends read. See [`crate::metrics::aggregate`].

use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use crate::metrics::aggregate::RunMetric;
use crate::store::columns::Columns;
use crate::store::{StoreError, write_batch};

pub const TABLE: &str = "run_metrics";

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Arc::new(Schema::new(vec![
        f("run_id", Utf8, false),
        f("embedder_id", Utf8, false),
        f("scope", Utf8, false),
        f("metric", Utf8, false),
        f("value", Float64, false),
        f("ci_low", Float64, true),
        f("ci_high", Float64, true),
        f("n", Int64, false),
        f("n_models", Int64, false),
    ]))
});

pub fn write(out: &Path, run_id: &str, embedder_id: &str, rows: &[RunMetric]) -> Result<u64, StoreError> {
    let s = |v: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let columns: Vec<ArrayRef> = vec![
        s(vec![run_id; rows.len()]),
        s(vec![embedder_id; rows.len()]),
        Arc::new(rows.iter().map(|r| Some(r.scope.to_string())).collect::<StringArray>()),
        s(rows.iter().map(|r| r.metric.as_str()).collect()),
        Arc::new(rows.iter().map(|r| r.value).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.ci.map(|c| c.0)).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.ci.map(|c| c.1)).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.n as i64).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.n_models as i64).collect::<Int64Array>()),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    write_batch(out, batch)
}

/// Reads a `run_metrics` file back.
pub fn read(path: &Path) -> Result<Vec<RunMetric>, StoreError> {
    let mut out = Vec::new();
    for batch in crate::store::read_batches(path)? {
        let c = Columns::new(&batch, path);
        let (scope, metric) = (c.strings("scope")?, c.strings("metric")?);
        let (value, lo, hi) = (c.f64s("value")?, c.f64s("ci_low")?, c.f64s("ci_high")?);
        let (n, n_models) = (c.i64s("n")?, c.i64s("n_models")?);
        for i in 0..c.rows() {
            let scope = scope.value(i).parse().map_err(|e: crate::vocab::ScopeParseError| StoreError::Column {
                path: path.to_owned(),
                column: "scope".into(),
                problem: e.to_string(),
            })?;
            out.push(RunMetric {
                scope,
                metric: metric.value(i).to_owned(),
                value: value.value(i),
                ci: Columns::opt_f64(lo, i).zip(Columns::opt_f64(hi, i)),
                n: n.value(i) as usize,
                n_models: n_models.value(i) as usize,
            });
        }
    }
    Ok(out)
}
