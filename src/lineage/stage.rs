//! The lineage stage of a run: reads the run's `pair_similarity` (the overall rows, with their
//! calibrated similarity and tests), what its `responses` declare and what its models' identity
//! answers claim (the identity stage's rows), writes `lineage`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::table::LineageTable;
use super::{Claims, LineageRow, lineage_rows};
use crate::collect::responses;
use crate::identity::Rules;
use crate::identity::summary::IdentityRow;
use crate::metrics::tables::pair_similarity::PairSimilarityTable;
use crate::store::table::{self, RunRef};
use crate::store::{Output, StoreError};

/// Computes and writes the `lineage` table of one run and embedder; returns its rows, its path,
/// and whether the run declares any lineage at all (a vendor, family or parent for any model).
pub fn lineage_run(
    output: &Output,
    run: &RunRef,
    (identity, rules): (&[IdentityRow], &Rules),
) -> Result<(Vec<LineageRow>, PathBuf, bool), StoreError> {
    let pairs: Vec<_> = table::read_if_any::<PairSimilarityTable>(output, run)?
        .into_iter()
        .filter(|(category, _)| category.is_none())
        .map(|(_, p)| p)
        .collect();
    let declared = responses::declared(&table::path::<responses::ResponsesTable>(output, run))?;
    let models: Vec<String> = pairs
        .iter()
        .flat_map(|p| [p.model_a.clone(), p.model_b.clone()])
        .chain(declared.keys().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let claims = Claims::new(rules, identity, &declared);
    let rows = lineage_rows(&pairs, &declared, &models, &claims);
    let path = table::write::<LineageTable>(output, run, &rows)?;
    let declares_any = declared.values().any(|d| d.vendor.is_some() || d.family.is_some() || !d.parents.is_empty());
    Ok((rows, path, declares_any))
}
