//! Table `embeddings`: one row per ok response and embedder, the vector as a list of float32.
//!
//! One file per run and embedder: `embeddings/run_date=D/<run_id>.<embedder name>-<id hash>.parquet`,
//! so re-embedding a past run with another embedder adds a file beside the first.

use std::path::{Path, PathBuf};

use std::sync::{Arc, LazyLock};

use arrow_array::builder::{Float32Builder, ListBuilder};
use arrow_array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDate;

use crate::collect::responses::OkText;
use crate::store::columns::Columns;
use crate::store::{EmbedderTag, Output, StoreError};

pub const TABLE: &str = "embeddings";

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    Arc::new(Schema::new(vec![
        Field::new("run_id", Utf8, false),
        Field::new("endpoint", Utf8, false),
        Field::new("probe_id", Utf8, false),
        Field::new("sample_index", Int32, false),
        Field::new("embedder_id", Utf8, false),
        Field::new("text_hash", Utf8, false),
        Field::new("embedding", List(Arc::new(Field::new("item", Float32, true))), false),
    ]))
});

pub fn path(output: &Output, run_date: NaiveDate, run_id: &str, embedder: &EmbedderTag) -> PathBuf {
    output.per_embedder_path(TABLE, run_date, run_id, embedder)
}

/// Calls `f(endpoint, probe id, vector)` for every row of an `embeddings` file, streaming.
pub fn for_each_row(
    path: &Path,
    mut f: impl FnMut(&str, &str, &[f32]) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float32Type;
    let mut n = 0;
    for batch in crate::store::batch_reader(path, 1024)? {
        let batch = batch.map_err(|source| StoreError::Arrow { table: TABLE, source })?;
        let c = Columns::new(&batch, path);
        let (endpoint, probe, lists) = (c.strings("endpoint")?, c.strings("probe_id")?, c.f32_lists("embedding")?);
        for i in 0..batch.num_rows() {
            let v = lists.value(i);
            f(endpoint.value(i), probe.value(i), v.as_primitive::<Float32Type>().values())?;
            n += 1;
        }
    }
    Ok(n)
}

/// The `text_hash` column of an `embeddings` file (what the cache keys its vectors by).
pub fn text_hashes(path: &Path) -> Result<Vec<super::cache::TextHash>, StoreError> {
    let mut out = Vec::new();
    for batch in crate::store::projected_reader(path, &["text_hash"], 8192)? {
        let batch = batch.map_err(|source| StoreError::Arrow { table: TABLE, source })?;
        let c = Columns::new(&batch, path);
        let hashes = c.strings("text_hash")?;
        for i in 0..batch.num_rows() {
            let mut h = [0u8; 32];
            if hex::decode_to_slice(hashes.value(i), &mut h).is_ok() {
                out.push(h);
            }
        }
    }
    Ok(out)
}

pub fn batch(
    run_id: &str,
    embedder_id: &str,
    rows: &[OkText],
    vectors: &[Vec<f32>],
) -> Result<RecordBatch, StoreError> {
    let mut list = ListBuilder::new(Float32Builder::new());
    for v in vectors {
        list.values().append_slice(v);
        list.append(true);
    }
    let s = |f: &dyn Fn(&OkText) -> String| -> ArrayRef {
        Arc::new(rows.iter().map(|r| Some(f(r))).collect::<StringArray>())
    };
    let columns: Vec<ArrayRef> = vec![
        s(&|_| run_id.to_owned()),
        s(&|r| r.endpoint.clone()),
        s(&|r| r.probe_id.clone()),
        Arc::new(rows.iter().map(|r| r.sample_index).collect::<Int32Array>()),
        s(&|_| embedder_id.to_owned()),
        s(&|r| hex::encode(super::text_hash(&r.text))),
        Arc::new(list.finish()),
    ];
    RecordBatch::try_new(Arc::clone(&SCHEMA), columns).map_err(|source| StoreError::Arrow { table: TABLE, source })
}
