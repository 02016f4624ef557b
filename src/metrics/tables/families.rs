//! Table `families`: one row per model, run and embedder: the behaviour family the model falls
//! in (named by its first member) and the family's size. See [`crate::metrics::aggregate`].

use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use crate::metrics::aggregate::Family;
use crate::store::columns::Columns;
use crate::store::{StoreError, read_batches_if_any, write_batch};

pub const TABLE: &str = "families";

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    let f = |name: &str, dt: DataType| Field::new(name, dt, false);
    Arc::new(Schema::new(vec![
        f("run_id", Utf8),
        f("embedder_id", Utf8),
        f("endpoint", Utf8),
        f("family", Utf8),
        f("family_size", Int64),
    ]))
});

pub fn write(out: &Path, run_id: &str, embedder_id: &str, rows: &[Family]) -> Result<u64, StoreError> {
    let s = |v: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let columns: Vec<ArrayRef> = vec![
        s(vec![run_id; rows.len()]),
        s(vec![embedder_id; rows.len()]),
        s(rows.iter().map(|r| r.model.as_str()).collect()),
        s(rows.iter().map(|r| r.family.as_str()).collect()),
        Arc::new(rows.iter().map(|r| r.size as i64).collect::<Int64Array>()),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    write_batch(out, batch)
}

/// Reads a `families` file back (no file: no rows).
pub fn read(path: &Path) -> Result<Vec<Family>, StoreError> {
    let mut out = Vec::new();
    for batch in read_batches_if_any(path)? {
        let c = Columns::new(&batch, path);
        let (model, family, size) = (c.strings("endpoint")?, c.strings("family")?, c.i64s("family_size")?);
        for i in 0..c.rows() {
            out.push(Family {
                model: model.value(i).to_owned(),
                family: family.value(i).to_owned(),
                size: size.value(i) as usize,
            });
        }
    }
    Ok(out)
}
