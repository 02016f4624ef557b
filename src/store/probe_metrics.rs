//! Table `probe_metrics`: one row per probe, run and embedder: the diversity measures of
//! [`crate::metrics::probe::probe_measures`], the behavioural agreement of
//! [`crate::metrics::behaviour`] and the lexical convergence of [`crate::metrics::lexical`].

use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::{StoreError, write_batch};
use crate::metrics::aggregate::ProbeRecord;

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
        f("vendi_q1", Float64, true),
        f("vendi_q2", Float64, true),
        f("vendi_qinf", Float64, true),
        f("model_vendi_ratio", Float64, true),
        f("intra_similarity", Float64, true),
        f("inter_similarity", Float64, true),
        f("homogenization_index", Float64, true),
        f("behaviour_clusters", Int64, true),
        f("refusal_rate", Float64, true),
        f("refusal_agreement", Float64, true),
        f("refusal_entropy", Float64, true),
        f("hedging_rate", Float64, true),
        f("confident_rate", Float64, true),
        f("distinct_1", Float64, true),
        f("distinct_2", Float64, true),
        f("shared_phrase_share", Float64, true),
    ]))
});

pub fn write(out: &Path, run_id: &str, embedder_id: &str, rows: &[ProbeRecord]) -> Result<u64, StoreError> {
    let s = |f: &dyn Fn(&ProbeRecord) -> String| -> ArrayRef {
        Arc::new(rows.iter().map(|r| Some(f(r))).collect::<StringArray>())
    };
    let n = |f: &dyn Fn(&ProbeRecord) -> Option<usize>| -> ArrayRef {
        Arc::new(rows.iter().map(|r| f(r).map(|v| v as i64)).collect::<Int64Array>())
    };
    let x = |f: &dyn Fn(&ProbeRecord) -> Option<f64>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<Float64Array>())
    };
    let columns = vec![
        s(&|_| run_id.to_owned()),
        s(&|_| embedder_id.to_owned()),
        s(&|r| r.probe.clone()),
        s(&|r| r.category.clone()),
        n(&|r| Some(r.n_models())),
        n(&|r| Some(r.measures.as_ref().map_or(0, |m| m.n_responses))),
        x(&|r| r.measures.as_ref().map(|m| m.vendi_q1)),
        x(&|r| r.measures.as_ref().map(|m| m.vendi_q2)),
        x(&|r| r.measures.as_ref().map(|m| m.vendi_qinf)),
        x(&|r| r.measures.as_ref().map(|m| m.model_vendi_ratio)),
        x(&|r| r.measures.as_ref().and_then(|m| m.intra_similarity)),
        x(&|r| r.measures.as_ref().and_then(|m| m.inter_similarity)),
        x(&|r| r.measures.as_ref().and_then(|m| m.homogenization_index)),
        n(&|r| r.measures.as_ref().map(|m| m.behaviour_clusters)),
        x(&|r| r.behaviour.refusal_rate),
        x(&|r| r.behaviour.refusal_agreement),
        x(&|r| r.behaviour.refusal_entropy),
        x(&|r| r.behaviour.hedging_rate),
        x(&|r| r.behaviour.confident_rate),
        x(&|r| r.lexical.distinct_1),
        x(&|r| r.lexical.distinct_2),
        x(&|r| r.lexical.shared_share),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    write_batch(out, batch)
}
