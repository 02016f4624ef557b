//! Table `embeddings`: one row per ok response and embedder, the vector as a list of float32.
//!
//! One file per run and embedder: `embeddings/run_date=D/<run_id>.<embedder name>-<id hash>.parquet`,
//! so re-embedding a past run with another embedder adds a file beside the first.

use std::path::Path;

use crate::collect::responses::OkText;
use crate::store::StoreError;
use crate::store::columns::Columns;
use crate::store::table::{Builder, RunRef, Table, TableDecl};

/// Table `embeddings`, written batch by batch ([`super::embed_run`]).
pub struct EmbeddingsTable;

/// One ok response's vector.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingRow {
    pub endpoint: String,
    pub probe_id: String,
    pub sample_index: i32,
    /// The hex SHA-256 of the text (what the embedding cache keys its vectors by).
    pub text_hash: String,
    pub embedding: Vec<f32>,
}

impl EmbeddingRow {
    /// A response's row, with its vector.
    pub fn of(text: OkText, embedding: Vec<f32>) -> Self {
        let text_hash = hex::encode(super::text_hash(&text.text));
        EmbeddingRow {
            endpoint: text.endpoint,
            probe_id: text.probe_id,
            sample_index: text.sample_index,
            text_hash,
            embedding,
        }
    }
}

impl Table for EmbeddingsTable {
    type Row = EmbeddingRow;
    const DECL: TableDecl = TableDecl::per_embedder("embeddings");

    fn to_arrow(run: &RunRef, rows: &[EmbeddingRow], b: Builder) -> Builder {
        b.same_str("run_id", &run.id)
            .str("endpoint", rows.iter().map(|r| &r.endpoint))
            .str("probe_id", rows.iter().map(|r| &r.probe_id))
            .i32("sample_index", rows.iter().map(|r| r.sample_index))
            .same_str("embedder_id", &run.tag.id)
            .str("text_hash", rows.iter().map(|r| &r.text_hash))
            .list_f32("embedding", rows.iter().map(|r| &r.embedding))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<EmbeddingRow>, StoreError> {
        let (endpoint, probe, sample) = (c.strings("endpoint")?, c.strings("probe_id")?, c.i32s("sample_index")?);
        let (hash, lists) = (c.strings("text_hash")?, c.f32_lists("embedding")?);
        Ok((0..c.rows())
            .map(|i| EmbeddingRow {
                endpoint: endpoint.value(i).to_owned(),
                probe_id: probe.value(i).to_owned(),
                sample_index: sample.value(i),
                text_hash: hash.value(i).to_owned(),
                embedding: Columns::f32_list_row(lists, i),
            })
            .collect())
    }
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
        let batch = batch.map_err(|source| StoreError::Arrow { table: EmbeddingsTable::DECL.name, source })?;
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
        let batch = batch.map_err(|source| StoreError::Arrow { table: EmbeddingsTable::DECL.name, source })?;
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
