//! Table `alerts`: one row per alert a run raised (see [`crate::alert`]).

use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::{Alert, Severity};
use crate::store::columns::Columns;
use crate::store::{StoreError, read_batches_if_any, write_batch};

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
        s(rows.iter().map(|a| a.rule.as_str()).collect()),
        Arc::new(rows.iter().map(|a| Some(a.scope.to_string())).collect::<StringArray>()),
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

/// Reads an `alerts` file back (no file: no rows).
pub fn read(path: &Path) -> Result<Vec<Alert>, StoreError> {
    let mut out = Vec::new();
    for batch in read_batches_if_any(path)? {
        let c = Columns::new(&batch, path);
        let (severity, rule, scope, metric, message) = (
            c.strings("severity")?,
            c.strings("rule")?,
            c.strings("scope")?,
            c.strings("metric")?,
            c.strings("message")?,
        );
        let (value, baseline, threshold) = (c.f64s("value")?, c.f64s("baseline")?, c.f64s("threshold")?);
        for i in 0..c.rows() {
            out.push(Alert {
                severity: match severity.value(i) {
                    "critical" => Severity::Critical,
                    "warning" => Severity::Warning,
                    _ => Severity::Info,
                },
                rule: rule.value(i).to_owned(),
                scope: scope.value(i).parse().map_err(|e: crate::vocab::ScopeParseError| StoreError::Column {
                    path: path.to_owned(),
                    column: "scope".into(),
                    problem: e.to_string(),
                })?,
                metric: metric.value(i).to_owned(),
                value: value.value(i),
                baseline: Columns::opt_f64(baseline, i),
                threshold: threshold.value(i),
                message: message.value(i).to_owned(),
            });
        }
    }
    Ok(out)
}
