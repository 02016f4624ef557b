//! Table `probe_metrics`: one row per probe, run and embedder: the diversity measures of
//! [`crate::metrics::probe::probe_measures`], the behavioural agreement of
//! [`crate::metrics::behaviour`] and the lexical convergence of [`crate::metrics::phrases`].

use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use crate::metrics::aggregate::ProbeRecord;
use crate::store::columns::Columns;
use crate::store::{StoreError, read_batches_if_any, write_batch};

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
        x(&|r| r.phrases.distinct_1),
        x(&|r| r.phrases.distinct_2),
        x(&|r| r.phrases.shared_share),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    write_batch(out, batch)
}

/// What later stages read of a probe's row: its identity and the model Vendi ratio.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRow {
    pub probe: String,
    pub category: String,
    pub n_models: usize,
    pub model_vendi_ratio: Option<f64>,
}

/// Reads a `probe_metrics` file back (no file: no rows).
pub fn read(path: &Path) -> Result<Vec<ProbeRow>, StoreError> {
    let mut out = Vec::new();
    for batch in read_batches_if_any(path)? {
        let c = Columns::new(&batch, path);
        let (probe, category, n, ratio) =
            (c.strings("probe_id")?, c.strings("category")?, c.i64s("n_models")?, c.f64s("model_vendi_ratio")?);
        for i in 0..c.rows() {
            out.push(ProbeRow {
                probe: probe.value(i).to_owned(),
                category: category.value(i).to_owned(),
                n_models: n.value(i) as usize,
                model_vendi_ratio: Columns::opt_f64(ratio, i),
            });
        }
    }
    Ok(out)
}
