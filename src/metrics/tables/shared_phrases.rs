//! Table `shared_phrases`: one row per phrase that at least half the models used on one probe
//! (see [`crate::metrics::phrases`]): in how many probes, by how many models at most. It does
//! not depend on the embedder, so it is written once per run.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDate;

use crate::store::columns::Columns;
use crate::store::{Output, StoreError, read_batches_if_any, write_batch};

pub const TABLE: &str = "shared_phrases";

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    let f = |name: &str, dt: DataType| Field::new(name, dt, false);
    Arc::new(Schema::new(vec![
        f("run_id", Utf8),
        f("phrase", Utf8),
        f("words", Int64),
        f("probes", Int64),
        f("max_models", Int64),
        f("run_models", Int64),
    ]))
});

/// A phrase shared on `probes` probes, by at most `max_models` models.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedPhrase {
    pub phrase: String,
    pub probes: usize,
    pub max_models: usize,
}

pub fn path(output: &Output, run_date: NaiveDate, run_id: &str) -> PathBuf {
    output.table_path(TABLE, run_date, run_id)
}

pub fn write(out: &Path, run_id: &str, run_models: usize, rows: &[SharedPhrase]) -> Result<u64, StoreError> {
    let n = |f: &dyn Fn(&SharedPhrase) -> usize| -> ArrayRef {
        Arc::new(rows.iter().map(|r| f(r) as i64).collect::<Int64Array>())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|_| Some(run_id)).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| Some(r.phrase.as_str())).collect::<StringArray>()),
        n(&|_| crate::metrics::phrases::PHRASE_WORDS),
        n(&|r| r.probes),
        n(&|r| r.max_models),
        n(&|_| run_models),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    write_batch(out, batch)
}

/// Reads a `shared_phrases` file back, most widespread first as written (no file: no rows).
pub fn read(path: &Path) -> Result<Vec<SharedPhrase>, StoreError> {
    let mut out = Vec::new();
    for batch in read_batches_if_any(path)? {
        let c = Columns::new(&batch, path);
        let (phrase, probes, max_models) = (c.strings("phrase")?, c.i64s("probes")?, c.i64s("max_models")?);
        for i in 0..c.rows() {
            out.push(SharedPhrase {
                phrase: phrase.value(i).to_owned(),
                probes: probes.value(i) as usize,
                max_models: max_models.value(i) as usize,
            });
        }
    }
    Ok(out)
}
