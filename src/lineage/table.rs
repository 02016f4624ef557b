//! Table `lineage`: one row per (model, relative), run and embedder: [`super::LineageRow`].

use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::{LineageRow, Relation, Verdict};
use crate::store::columns::Columns;
use crate::store::{EmbedderTag, Output, StoreError, read_batches_if_any, write_batch};

pub const TABLE: &str = "lineage";

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Arc::new(Schema::new(vec![
        f("run_id", Utf8, false),
        f("embedder_id", Utf8, false),
        f("model", Utf8, false),
        f("relative", Utf8, false),
        f("rank", Int64, true),
        f("calibrated_similarity", Float64, true),
        f("ci_low", Float64, true),
        f("ci_high", Float64, true),
        f("z", Float64, true),
        f("q_value", Float64, true),
        f("n_probes", Int64, false),
        f("declared", Utf8, true),
        f("same_vendor", Boolean, false),
        f("verdict", Utf8, true),
    ]))
});

/// Where a run's `lineage` file for one embedder is.
pub fn path(output: &Output, run_date: chrono::NaiveDate, run_id: &str, embedder: &EmbedderTag) -> std::path::PathBuf {
    output.per_embedder_path(TABLE, run_date, run_id, embedder)
}

pub fn write(out: &Path, run_id: &str, embedder_id: &str, rows: &[LineageRow]) -> Result<u64, StoreError> {
    let s = |f: &dyn Fn(&LineageRow) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let x =
        |f: &dyn Fn(&LineageRow) -> Option<f64>| -> ArrayRef { Arc::new(rows.iter().map(f).collect::<Float64Array>()) };
    let columns: Vec<ArrayRef> = vec![
        s(&|_| Some(run_id.to_owned())),
        s(&|_| Some(embedder_id.to_owned())),
        s(&|r| Some(r.model.clone())),
        s(&|r| Some(r.relative.clone())),
        Arc::new(rows.iter().map(|r| r.rank.map(|k| k as i64)).collect::<Int64Array>()),
        x(&|r| r.calibrated.map(|c| c.0)),
        x(&|r| r.calibrated.map(|c| c.1)),
        x(&|r| r.calibrated.map(|c| c.2)),
        x(&|r| r.z),
        x(&|r| r.q),
        Arc::new(rows.iter().map(|r| r.n_probes as i64).collect::<Int64Array>()),
        s(&|r| r.declared.map(|d| d.as_str().to_owned())),
        Arc::new(rows.iter().map(|r| Some(r.same_vendor)).collect::<BooleanArray>()),
        s(&|r| r.verdict.map(|v| v.as_str().to_owned())),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    write_batch(out, batch)
}

/// Reads a `lineage` file back (no file: no rows).
pub fn read(path: &Path) -> Result<Vec<LineageRow>, StoreError> {
    let mut out = Vec::new();
    for batch in read_batches_if_any(path)? {
        let c = Columns::new(&batch, path);
        let (model, relative, declared, verdict) =
            (c.strings("model")?, c.strings("relative")?, c.strings("declared")?, c.strings("verdict")?);
        let (rank, n, vendor) = (c.i64s("rank")?, c.i64s("n_probes")?, c.bools("same_vendor")?);
        let (value, lo, hi, z, q) =
            (c.f64s("calibrated_similarity")?, c.f64s("ci_low")?, c.f64s("ci_high")?, c.f64s("z")?, c.f64s("q_value")?);
        let bad = |column: &str, v: &str| StoreError::Column {
            path: path.to_owned(),
            column: column.into(),
            problem: format!("holds {v:?}, which this version does not know"),
        };
        for i in 0..c.rows() {
            use arrow_array::Array;
            let declared = match Columns::opt_str(declared, i) {
                Some(d) => Some(Relation::parse(d).ok_or_else(|| bad("declared", d))?),
                None => None,
            };
            let verdict = match Columns::opt_str(verdict, i) {
                Some(v) => Some(Verdict::parse(v).ok_or_else(|| bad("verdict", v))?),
                None => None,
            };
            out.push(LineageRow {
                model: model.value(i).to_owned(),
                relative: relative.value(i).to_owned(),
                rank: (!rank.is_null(i)).then(|| rank.value(i) as usize),
                calibrated: Columns::opt_f64(value, i).map(|v| (v, lo.value(i), hi.value(i))),
                z: Columns::opt_f64(z, i),
                q: Columns::opt_f64(q, i),
                n_probes: n.value(i) as usize,
                declared,
                same_vendor: vendor.value(i),
                verdict,
            });
        }
    }
    Ok(out)
}
