//! Table `run_metrics`: the run's aggregates in long format (scope, metric, value, ci_low,
//! ci_high, n, n_models): the series that trends read. See [`crate::metrics::aggregate`].

use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::{StoreError, write_batch};
use crate::metrics::aggregate::RunMetric;

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
        s(rows.iter().map(|r| r.scope.as_str()).collect()),
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
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    let mut out = Vec::new();
    for batch in super::read_batches(path)? {
        let col = |name: &str| batch.column_by_name(name).expect("run_metrics column");
        let (scope, metric) = (col("scope").as_string::<i32>(), col("metric").as_string::<i32>());
        let (value, lo, hi) = (
            col("value").as_primitive::<Float64Type>(),
            col("ci_low").as_primitive::<Float64Type>(),
            col("ci_high").as_primitive::<Float64Type>(),
        );
        let (n, n_models) = (col("n").as_primitive::<Int64Type>(), col("n_models").as_primitive::<Int64Type>());
        for i in 0..batch.num_rows() {
            out.push(RunMetric {
                scope: scope.value(i).to_owned(),
                metric: metric.value(i).to_owned(),
                value: value.value(i),
                ci: (!lo.is_null(i) && !hi.is_null(i)).then(|| (lo.value(i), hi.value(i))),
                n: n.value(i) as usize,
                n_models: n_models.value(i) as usize,
            });
        }
    }
    Ok(out)
}
