//! Table `lineage`: one row per (model, relative), run and embedder: [`super::LineageRow`].

use super::{LineageRow, Relation, Verdict};
use crate::store::StoreError;
use crate::store::columns::Columns;
use crate::store::table::{Builder, RunRef, Table, TableDecl};

/// Table `lineage`; its row is the lineage stage's own [`LineageRow`].
pub struct LineageTable;

impl Table for LineageTable {
    type Row = LineageRow;
    const DECL: TableDecl = TableDecl::per_embedder("lineage");

    fn to_arrow(run: &RunRef, rows: &[LineageRow], b: Builder) -> Builder {
        let x = |f: fn(&LineageRow) -> Option<f64>| rows.iter().map(f);
        b.same_str("run_id", &run.id)
            .same_str("embedder_id", &run.tag.id)
            .str("model", rows.iter().map(|r| &r.model))
            .str("relative", rows.iter().map(|r| &r.relative))
            .opt_i64("rank", rows.iter().map(|r| r.rank.map(|k| k as i64)))
            .opt_f64("calibrated_similarity", x(|r| r.calibrated.map(|c| c.0)))
            .opt_f64("ci_low", x(|r| r.calibrated.map(|c| c.1)))
            .opt_f64("ci_high", x(|r| r.calibrated.map(|c| c.2)))
            .opt_f64("z", x(|r| r.z))
            .opt_f64("q_value", x(|r| r.q))
            .i64("n_probes", rows.iter().map(|r| r.n_probes as i64))
            .opt_str("declared", rows.iter().map(|r| r.declared.map(Relation::as_str)))
            .bool("same_vendor", rows.iter().map(|r| r.same_vendor))
            .opt_str("verdict", rows.iter().map(|r| r.verdict.map(Verdict::as_str)))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<LineageRow>, StoreError> {
        let (model, relative, declared, verdict) =
            (c.strings("model")?, c.strings("relative")?, c.strings("declared")?, c.strings("verdict")?);
        let (rank, n, vendor) = (c.i64s("rank")?, c.i64s("n_probes")?, c.bools("same_vendor")?);
        let (value, lo, hi, z, q) =
            (c.f64s("calibrated_similarity")?, c.f64s("ci_low")?, c.f64s("ci_high")?, c.f64s("z")?, c.f64s("q_value")?);
        let bad = |column: &str, v: &str| c.error(column, format!("holds {v:?}, which this version does not know"));
        (0..c.rows())
            .map(|i| {
                let declared = match Columns::opt_str(declared, i) {
                    Some(d) => Some(Relation::parse(d).ok_or_else(|| bad("declared", d))?),
                    None => None,
                };
                let verdict = match Columns::opt_str(verdict, i) {
                    Some(v) => Some(Verdict::parse(v).ok_or_else(|| bad("verdict", v))?),
                    None => None,
                };
                Ok(LineageRow {
                    model: model.value(i).to_owned(),
                    relative: relative.value(i).to_owned(),
                    rank: Columns::opt_i64(rank, i).map(|k| k as usize),
                    calibrated: Columns::opt_f64(value, i).map(|v| (v, lo.value(i), hi.value(i))),
                    z: Columns::opt_f64(z, i),
                    q: Columns::opt_f64(q, i),
                    n_probes: n.value(i) as usize,
                    declared,
                    same_vendor: vendor.value(i),
                    verdict,
                })
            })
            .collect()
    }
}
