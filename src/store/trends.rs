//! Table `trends`: one row per (scope, metric), run and embedder: tonight's value against the
//! comparable runs before it. See [`crate::trend`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::{StoreError, write_batch};
use crate::trend::{Carried, TrendRow};

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
    ]))
});

pub fn write(out: &Path, run_id: &str, embedder_id: &str, rows: &[TrendRow]) -> Result<u64, StoreError> {
    let s = |v: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let x =
        |f: &dyn Fn(&TrendRow) -> Option<f64>| -> ArrayRef { Arc::new(rows.iter().map(f).collect::<Float64Array>()) };
    let n = |f: &dyn Fn(&TrendRow) -> usize| -> ArrayRef {
        Arc::new(rows.iter().map(|r| f(r) as i64).collect::<Int64Array>())
    };
    let mk = |f: &dyn Fn(&crate::trend::stats::MannKendall) -> f64| x(&|r| r.mann_kendall.as_ref().map(f));
    let columns: Vec<ArrayRef> = vec![
        s(vec![run_id; rows.len()]),
        s(vec![embedder_id; rows.len()]),
        s(rows.iter().map(|r| r.scope.as_str()).collect()),
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
        s(rows.iter().map(|r| r.status).collect()),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    write_batch(out, batch)
}

/// The state each (scope, metric) carries to the next comparable run, from a `trends` file.
pub fn read_carried(path: &Path) -> Result<HashMap<(String, String), Carried>, StoreError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    let mut out = HashMap::new();
    for batch in super::read_batches(path)? {
        let col = |name: &str| batch.column_by_name(name).expect("trends column");
        let (scope, metric, start) = (
            col("scope").as_string::<i32>(),
            col("metric").as_string::<i32>(),
            col("segment_start").as_string::<i32>(),
        );
        let (low, high) =
            (col("cusum_low").as_primitive::<Float64Type>(), col("cusum_high").as_primitive::<Float64Type>());
        for i in 0..batch.num_rows() {
            out.insert(
                (scope.value(i).to_owned(), metric.value(i).to_owned()),
                Carried {
                    cusum_low: low.value(i),
                    cusum_high: high.value(i),
                    segment_start: start.value(i).to_owned(),
                },
            );
        }
    }
    Ok(out)
}
