//! Table `families`: one row per model, run and embedder: the behaviour family the model falls
//! in (named by its first member) and the family's size. See [`crate::metrics::aggregate`].

use crate::metrics::aggregate::Family;
use crate::store::StoreError;
use crate::store::columns::Columns;
use crate::store::table::{Builder, RunRef, Table, TableDecl};

/// Table `families`; its row is the aggregate stage's [`Family`].
pub struct FamiliesTable;

impl Table for FamiliesTable {
    type Row = Family;
    const DECL: TableDecl = TableDecl::per_embedder("families");

    fn to_arrow(run: &RunRef, rows: &[Family], b: Builder) -> Builder {
        b.same_str("run_id", &run.id)
            .same_str("embedder_id", &run.tag.id)
            .str("endpoint", rows.iter().map(|r| &r.model))
            .str("family", rows.iter().map(|r| &r.family))
            .i64("family_size", rows.iter().map(|r| r.size as i64))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<Family>, StoreError> {
        let (model, family, size) = (c.strings("endpoint")?, c.strings("family")?, c.i64s("family_size")?);
        Ok((0..c.rows())
            .map(|i| Family {
                model: model.value(i).to_owned(),
                family: family.value(i).to_owned(),
                size: size.value(i) as usize,
            })
            .collect())
    }
}
