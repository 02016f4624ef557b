//! Table `pair_similarity`: one row per model pair, run and embedder, overall (`category` null)
//! and per category: [`crate::metrics::aggregate::PairSimilarity`]: the raw mean similarity
//! with its bootstrap interval, and beside it the calibrated similarity with its t interval,
//! `z`, `p_value` and `q_value` (null where there is no verdict).

use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};

use crate::metrics::aggregate::CalibratedPair;
use arrow_schema::{DataType, Field, Schema};

use crate::metrics::aggregate::PairSimilarity;
use crate::store::columns::Columns;
use crate::store::{StoreError, read_batches_if_any, write_batch};

pub const TABLE: &str = "pair_similarity";

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Arc::new(Schema::new(vec![
        f("run_id", Utf8, false),
        f("embedder_id", Utf8, false),
        f("model_a", Utf8, false),
        f("model_b", Utf8, false),
        f("category", Utf8, true),
        f("mean_similarity", Float64, false),
        f("ci_low", Float64, false),
        f("ci_high", Float64, false),
        f("n_probes", Int64, false),
        f("calibrated_similarity", Float64, true),
        f("calibrated_se", Float64, true),
        f("calibrated_ci_low", Float64, true),
        f("calibrated_ci_high", Float64, true),
        f("calibrated_probes", Int64, true),
        f("z", Float64, true),
        f("p_value", Float64, true),
        f("q_value", Float64, true),
    ]))
});

/// (category, or None for all probes; the pair's similarity).
pub type Row = (Option<String>, PairSimilarity);

pub fn write(out: &Path, run_id: &str, embedder_id: &str, rows: &[Row]) -> Result<u64, StoreError> {
    let s = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef { Arc::new(rows.iter().map(f).collect::<StringArray>()) };
    let x = |f: &dyn Fn(&PairSimilarity) -> f64| -> ArrayRef {
        Arc::new(rows.iter().map(|r| f(&r.1)).collect::<Float64Array>())
    };
    let columns = vec![
        s(&|_| Some(run_id.to_owned())),
        s(&|_| Some(embedder_id.to_owned())),
        s(&|r| Some(r.1.model_a.clone())),
        s(&|r| Some(r.1.model_b.clone())),
        s(&|r| r.0.clone()),
        x(&|p| p.mean_similarity),
        x(&|p| p.ci_low),
        x(&|p| p.ci_high),
        Arc::new(rows.iter().map(|r| r.1.n_probes as i64).collect::<Int64Array>()),
    ];
    let c = |f: &dyn Fn(&CalibratedPair) -> Option<f64>| -> ArrayRef {
        Arc::new(rows.iter().map(|r| r.1.calibrated.as_ref().and_then(f)).collect::<Float64Array>())
    };
    let columns = [
        columns,
        vec![
            c(&|c| Some(c.value)),
            c(&|c| Some(c.se)),
            c(&|c| Some(c.ci_low)),
            c(&|c| Some(c.ci_high)),
            Arc::new(rows.iter().map(|r| r.1.calibrated.map(|c| c.n_probes as i64)).collect::<Int64Array>()),
            c(&|c| c.z),
            c(&|c| c.p),
            c(&|c| c.q),
        ],
    ]
    .concat();
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    write_batch(out, batch)
}

/// Reads a `pair_similarity` file back (no file: no rows).
pub fn read(path: &Path) -> Result<Vec<Row>, StoreError> {
    let mut out = Vec::new();
    for batch in read_batches_if_any(path)? {
        let c = Columns::new(&batch, path);
        let (a, b, category) = (c.strings("model_a")?, c.strings("model_b")?, c.strings("category")?);
        let (mean, lo, hi, n) =
            (c.f64s("mean_similarity")?, c.f64s("ci_low")?, c.f64s("ci_high")?, c.i64s("n_probes")?);
        let (value, se, clo, chi, cn) = (
            c.f64s("calibrated_similarity")?,
            c.f64s("calibrated_se")?,
            c.f64s("calibrated_ci_low")?,
            c.f64s("calibrated_ci_high")?,
            c.i64s("calibrated_probes")?,
        );
        let (z, p, q) = (c.f64s("z")?, c.f64s("p_value")?, c.f64s("q_value")?);
        for i in 0..c.rows() {
            let calibrated = Columns::opt_f64(value, i).map(|v| CalibratedPair {
                value: v,
                se: se.value(i),
                ci_low: clo.value(i),
                ci_high: chi.value(i),
                n_probes: cn.value(i) as usize,
                z: Columns::opt_f64(z, i),
                p: Columns::opt_f64(p, i),
                q: Columns::opt_f64(q, i),
            });
            let pair = PairSimilarity {
                model_a: a.value(i).to_owned(),
                model_b: b.value(i).to_owned(),
                mean_similarity: mean.value(i),
                ci_low: lo.value(i),
                ci_high: hi.value(i),
                n_probes: n.value(i) as usize,
                calibrated,
            };
            out.push((Columns::opt_str(category, i).map(str::to_owned), pair));
        }
    }
    Ok(out)
}
