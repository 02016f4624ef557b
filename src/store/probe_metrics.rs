//! Table `probe_metrics`: one row per probe, run and embedder: the diversity measures of
//! [`crate::metrics::probe::probe_measures`].

use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::{StoreError, write_batch};
use crate::metrics::probe::ProbeMeasures;

pub const TABLE: &str = "probe_metrics";

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Arc::new(Schema::new(vec![
        f("run_id", Utf8, false),
        f("embedder_id", Utf8, false),
        f("probe_id", Utf8, false),
        f("category", Utf8, false),
        f("n_models", Int64, false),
        f("n_responses", Int64, false),
        f("vendi_q1", Float64, false),
        f("vendi_q2", Float64, false),
        f("vendi_qinf", Float64, false),
        f("model_vendi_ratio", Float64, false),
        f("intra_similarity", Float64, true),
        f("inter_similarity", Float64, true),
        f("homogenization_index", Float64, true),
    ]))
});

/// (probe id, category, measures) rows.
pub type Row = (String, String, ProbeMeasures);

pub fn write(out: &Path, run_id: &str, embedder_id: &str, rows: &[Row]) -> Result<u64, StoreError> {
    let s =
        |f: &dyn Fn(&Row) -> String| -> ArrayRef { Arc::new(rows.iter().map(|r| Some(f(r))).collect::<StringArray>()) };
    let n = |f: &dyn Fn(&ProbeMeasures) -> usize| -> ArrayRef {
        Arc::new(rows.iter().map(|r| f(&r.2) as i64).collect::<Int64Array>())
    };
    let x = |f: &dyn Fn(&ProbeMeasures) -> Option<f64>| -> ArrayRef {
        Arc::new(rows.iter().map(|r| f(&r.2)).collect::<Float64Array>())
    };
    let columns = vec![
        s(&|_| run_id.to_owned()),
        s(&|_| embedder_id.to_owned()),
        s(&|r| r.0.clone()),
        s(&|r| r.1.clone()),
        n(&|m| m.n_models),
        n(&|m| m.n_responses),
        x(&|m| Some(m.vendi_q1)),
        x(&|m| Some(m.vendi_q2)),
        x(&|m| Some(m.vendi_qinf)),
        x(&|m| Some(m.model_vendi_ratio)),
        x(&|m| m.intra_similarity),
        x(&|m| m.inter_similarity),
        x(&|m| m.homogenization_index),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    write_batch(out, batch)
}
