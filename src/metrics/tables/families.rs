//! Table `families`: one row per model, level of the family tree, run and embedder: the
//! behaviour family the model falls in at that level (named by its first member), the family's
//! size and the level's cut on the fused `z`. See [`crate::metrics::tree`]. Files written
//! before the tree have one cut and no `level`: they read as the close level.

use crate::metrics::aggregate::Family;
use crate::store::StoreError;
use crate::store::columns::Columns;
use crate::store::table::{Builder, RunRef, Table, TableDecl};
use crate::vocab::FamilyLevel;

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
            .str("level", rows.iter().map(|r| r.level.as_str()))
            .opt_f64("cut_z", rows.iter().map(|r| r.cut_z))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<Family>, StoreError> {
        let (model, family, size) = (c.strings("endpoint")?, c.strings("family")?, c.i64s("family_size")?);
        let levels = if c.has("level") { Some((c.strings("level")?, c.f64s("cut_z")?)) } else { None };
        (0..c.rows())
            .map(|i| {
                let (level, cut_z) = match levels {
                    Some((level, cut)) => {
                        let name = level.value(i);
                        let known = FamilyLevel::parse(name).ok_or_else(|| {
                            c.error("level", format!("holds {name:?}, which this version does not know"))
                        })?;
                        (known, Columns::opt_f64(cut, i))
                    }
                    None => (FamilyLevel::Close, None),
                };
                Ok(Family {
                    model: model.value(i).to_owned(),
                    family: family.value(i).to_owned(),
                    size: size.value(i) as usize,
                    level,
                    cut_z,
                })
            })
            .collect()
    }
}
