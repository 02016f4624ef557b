//! Table `alerts`: one row per alert a run raised (see [`crate::alert`]).

use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::{StoreError, write_batch};
use crate::alert::Alert;

pub const TABLE: &str = "alerts";

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Arc::new(Schema::new(vec![
        f("run_id", Utf8, false),
        f("embedder_id", Utf8, false),
        f("severity", Utf8, false),
        f("rule", Utf8, false),
        f("scope", Utf8, false),
        f("metric", Utf8, false),
        f("value", Float64, false),
        f("baseline", Float64, true),
        f("threshold", Float64, false),
        f("message", Utf8, false),
    ]))
});

pub fn write(out: &Path, run_id: &str, embedder_id: &str, rows: &[Alert]) -> Result<u64, StoreError> {
    let s = |v: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let columns: Vec<ArrayRef> = vec![
        s(vec![run_id; rows.len()]),
        s(vec![embedder_id; rows.len()]),
        s(rows.iter().map(|a| a.severity.as_str()).collect()),
        s(rows.iter().map(|a| a.rule).collect()),
        s(rows.iter().map(|a| a.scope.as_str()).collect()),
        s(rows.iter().map(|a| a.metric.as_str()).collect()),
        Arc::new(rows.iter().map(|a| a.value).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|a| a.baseline).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|a| a.threshold).collect::<Float64Array>()),
        s(rows.iter().map(|a| a.message.as_str()).collect()),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    write_batch(out, batch)
}
