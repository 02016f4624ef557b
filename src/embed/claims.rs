//! Table `claim_embeddings`: the claims of a run's paired probes (what their feeds broadcast,
//! [`crate::probes::feed`]) embedded by the run's embedder, one row per paired probe (keyed by
//! the control's id). The measure stage compares answers with them: how far an answer given
//! after the feed moved toward the claim, against the answer given cold
//! ([`crate::metrics::contagion`]). One file per run and embedder, as `embeddings`; none for a
//! run without paired probes.

use std::collections::HashMap;

use super::{EmbedError, Embedder};
use crate::plan::probe_table::ProbesTable;
use crate::probes::feed::Condition;
use crate::store::columns::Columns;
use crate::store::table::{self, Builder, RunRef, Table, TableDecl};
use crate::store::{Output, StoreError};

/// Table `claim_embeddings`.
pub struct ClaimEmbeddingsTable;

/// One paired probe's claim and its vector.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRow {
    /// The control side's id.
    pub probe_id: String,
    pub feed_id: String,
    pub claim: String,
    pub embedding: Vec<f32>,
}

impl Table for ClaimEmbeddingsTable {
    type Row = ClaimRow;
    const DECL: TableDecl = TableDecl::per_embedder("claim_embeddings");

    fn to_arrow(run: &RunRef, rows: &[ClaimRow], b: Builder) -> Builder {
        b.same_str("run_id", &run.id)
            .str("probe_id", rows.iter().map(|r| &r.probe_id))
            .str("feed_id", rows.iter().map(|r| &r.feed_id))
            .same_str("embedder_id", &run.tag.id)
            .str("claim", rows.iter().map(|r| &r.claim))
            .list_f32("embedding", rows.iter().map(|r| &r.embedding))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<ClaimRow>, StoreError> {
        let (probe, feed, claim, lists) =
            (c.strings("probe_id")?, c.strings("feed_id")?, c.strings("claim")?, c.f32_lists("embedding")?);
        Ok((0..c.rows())
            .map(|i| ClaimRow {
                probe_id: probe.value(i).to_owned(),
                feed_id: feed.value(i).to_owned(),
                claim: claim.value(i).to_owned(),
                embedding: Columns::f32_list_row(lists, i),
            })
            .collect())
    }
}

/// Embeds the claims of the run's paired probes (read from its `probes` table) and writes the
/// table; returns how many (0, and no file, for a run without paired probes).
pub fn embed_claims(output: &Output, run: &RunRef, embedder: &Embedder) -> Result<u64, EmbedError> {
    let probes = table::read_if_any::<ProbesTable>(output, run)?;
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
    let rows: Vec<ClaimRow> = claims
        .iter()
        .zip(vectors)
        .map(|(&(probe_id, feed_id, claim), embedding)| ClaimRow {
            probe_id: probe_id.to_owned(),
            feed_id: feed_id.to_owned(),
            claim: claim.to_owned(),
            embedding,
        })
        .collect();
    table::write::<ClaimEmbeddingsTable>(output, run, &rows)?;
    Ok(rows.len() as u64)
}

/// control probe id -> its claim's vector, from a run's `claim_embeddings` (none: empty).
pub fn read_vectors(output: &Output, run: &RunRef) -> Result<HashMap<String, Vec<f32>>, StoreError> {
    Ok(table::read_if_any::<ClaimEmbeddingsTable>(output, run)?
        .into_iter()
        .map(|r| (r.probe_id, r.embedding))
        .collect())
}
