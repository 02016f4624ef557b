//! Table `claim_embeddings`: the claims of a run's paired probes (what their feeds broadcast,
//! [`crate::probes::feed`]) embedded by the run's embedder, one row per paired probe (keyed by
//! the control's id). The measure stage compares answers with them: how far an answer given
//! after the feed moved toward the claim, against the answer given cold
//! ([`crate::metrics::contagion`]). One file per run and embedder, as `embeddings`; none for a
//! run without paired probes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow_array::builder::{Float32Builder, ListBuilder};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDate;

use super::{EmbedError, Embedder};
use crate::plan::probe_table::ProbesTable;
use crate::probes::feed::Condition;
use crate::store::columns::Columns;
use crate::store::table::{self, RunRef};
use crate::store::{EmbedderTag, Output, StoreError};

pub const TABLE: &str = "claim_embeddings";

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    Arc::new(Schema::new(vec![
        Field::new("run_id", Utf8, false),
        Field::new("probe_id", Utf8, false),
        Field::new("feed_id", Utf8, false),
        Field::new("embedder_id", Utf8, false),
        Field::new("claim", Utf8, false),
        Field::new("embedding", List(Arc::new(Field::new("item", Float32, true))), false),
    ]))
});

pub fn path(output: &Output, run_date: NaiveDate, run_id: &str, embedder: &EmbedderTag) -> PathBuf {
    output.per_embedder_path(TABLE, run_date, run_id, embedder)
}

/// Embeds the claims of the run's paired probes (read from its `probes` table) and writes the
/// table; returns how many (0, and no file, for a run without paired probes).
pub fn embed_claims(
    output: &Output,
    run_date: NaiveDate,
    run_id: &str,
    embedder: &Embedder,
) -> Result<u64, EmbedError> {
    let probes = table::read_if_any::<ProbesTable>(output, &RunRef::new(run_date, run_id, embedder.tag()))?;
    let claims: Vec<(&str, &str, &str)> = probes
        .iter()
        .filter_map(|p| {
            let pairing = p.pairing.as_ref().filter(|x| x.condition == Condition::Control)?;
            Some((p.id.as_str(), pairing.feed_id.as_str(), pairing.claim.as_str()))
        })
        .collect();
    if claims.is_empty() {
        return Ok(0);
    }
    let texts: Vec<&str> = claims.iter().map(|c| c.2).collect();
    let vectors = embedder.embed_blocking(&texts)?;
    let mut list = ListBuilder::new(Float32Builder::new());
    for v in &vectors {
        list.values().append_slice(v);
        list.append(true);
    }
    let s = |f: &dyn Fn(&(&str, &str, &str)) -> String| -> ArrayRef {
        Arc::new(claims.iter().map(|c| Some(f(c))).collect::<StringArray>())
    };
    let columns: Vec<ArrayRef> = vec![
        s(&|_| run_id.to_owned()),
        s(&|c| c.0.to_owned()),
        s(&|c| c.1.to_owned()),
        s(&|_| embedder.id().to_owned()),
        s(&|c| c.2.to_owned()),
        Arc::new(list.finish()),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    Ok(crate::store::write_batch(&path(output, run_date, run_id, &embedder.tag()), batch)?)
}

/// control probe id -> its claim's vector, from a `claim_embeddings` file (none: empty).
pub fn read(path: &Path) -> Result<HashMap<String, Vec<f32>>, StoreError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float32Type;
    let mut out = HashMap::new();
    for batch in crate::store::read_batches_if_any(path)? {
        let c = Columns::new(&batch, path);
        let (probe, lists) = (c.strings("probe_id")?, c.f32_lists("embedding")?);
        for i in 0..batch.num_rows() {
            out.insert(probe.value(i).to_owned(), lists.value(i).as_primitive::<Float32Type>().values().to_vec());
        }
    }
    Ok(out)
}
