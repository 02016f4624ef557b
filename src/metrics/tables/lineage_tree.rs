//! Table `lineage_tree`: the family tree's dendrogram, one row per merge, run and embedder
//! ([`crate::metrics::tree`]): `step` (0-based) merges clusters `left` and `right` into cluster
//! `models + step`, where clusters `0..models` are the models in name order (`left_model`,
//! `right_model` name a side that is one model); `mean_z` is the mean fused `z` between the two
//! (the dendrogram's height read as z), `size` the models merged. Cutting it at the `cut_z` of
//! a level in `families` gives that level's families. Empty when the run has no null.

use crate::metrics::aggregate::TreeNode;
use crate::store::StoreError;
use crate::store::columns::Columns;
use crate::store::table::{Builder, RunRef, Table, TableDecl};

/// Table `lineage_tree`; its row is the aggregate stage's [`TreeNode`].
pub struct LineageTreeTable;

impl Table for LineageTreeTable {
    type Row = TreeNode;
    const DECL: TableDecl = TableDecl::per_embedder("lineage_tree");

    fn to_arrow(run: &RunRef, rows: &[TreeNode], b: Builder) -> Builder {
        b.same_str("run_id", &run.id)
            .same_str("embedder_id", &run.tag.id)
            .i64("step", rows.iter().map(|r| r.step as i64))
            .i64("left", rows.iter().map(|r| r.left as i64))
            .i64("right", rows.iter().map(|r| r.right as i64))
            .opt_str("left_model", rows.iter().map(|r| r.left_model.as_ref()))
            .opt_str("right_model", rows.iter().map(|r| r.right_model.as_ref()))
            .f64("mean_z", rows.iter().map(|r| r.mean_z))
            .i64("size", rows.iter().map(|r| r.size as i64))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<TreeNode>, StoreError> {
        let (step, left, right, size) = (c.i64s("step")?, c.i64s("left")?, c.i64s("right")?, c.i64s("size")?);
        let (left_model, right_model, mean_z) =
            (c.strings("left_model")?, c.strings("right_model")?, c.f64s("mean_z")?);
        Ok((0..c.rows())
            .map(|i| TreeNode {
                step: step.value(i) as usize,
                left: left.value(i) as usize,
                right: right.value(i) as usize,
                left_model: Columns::opt_str(left_model, i).map(str::to_owned),
                right_model: Columns::opt_str(right_model, i).map(str::to_owned),
                mean_z: mean_z.value(i),
                size: size.value(i) as usize,
            })
            .collect())
    }
}
