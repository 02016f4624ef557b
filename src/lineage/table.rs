//! Table `lineage`: one row per (model, relative), run and embedder: [`super::LineageRow`].
//! `z` and `q_value` are the signals fused (what ranks and judges); `z_content`, `z_style`,
//! `carried_by` and `carried_share` say what each signal saw and which carried the verdict;
//! `claimed_maker`, `identity_verdict` and `claims_relative_vendor` say what the model claims to
//! be ([`super::claims`]).

use super::{LineageRow, Relation, Verdict};
use crate::identity::summary::IdentityVerdict;
use crate::metrics::fusion::Signal;
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
            .opt_f64("z_content", x(|r| r.z_content))
            .opt_f64("z_style", x(|r| r.z_style))
            .opt_str("carried_by", rows.iter().map(|r| r.carried.map(|c| c.0.as_str())))
            .opt_f64("carried_share", x(|r| r.carried.map(|c| c.1)))
            .opt_str("claimed_maker", rows.iter().map(|r| r.claimed_maker.as_ref()))
            .opt_str("identity_verdict", rows.iter().map(|r| r.identity.map(IdentityVerdict::as_str)))
            .bool("claims_relative_vendor", rows.iter().map(|r| r.claims_relative_vendor))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<LineageRow>, StoreError> {
        let (model, relative, declared, verdict) =
            (c.strings("model")?, c.strings("relative")?, c.strings("declared")?, c.strings("verdict")?);
        let (rank, n, vendor) = (c.i64s("rank")?, c.i64s("n_probes")?, c.bools("same_vendor")?);
        let (value, lo, hi, z, q) =
            (c.f64s("calibrated_similarity")?, c.f64s("ci_low")?, c.f64s("ci_high")?, c.f64s("z")?, c.f64s("q_value")?);
        let bad = |column: &str, v: &str| c.error(column, format!("holds {v:?}, which this version does not know"));
        let (z_content, z_style, carried_by, share) =
            (c.f64s("z_content")?, c.f64s("z_style")?, c.strings("carried_by")?, c.f64s("carried_share")?);
        let (claimed, identity, names) =
            (c.strings("claimed_maker")?, c.strings("identity_verdict")?, c.bools("claims_relative_vendor")?);
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
                let carried = match Columns::opt_str(carried_by, i) {
                    Some(s) => Some((Signal::parse(s).ok_or_else(|| bad("carried_by", s))?, share.value(i))),
                    None => None,
                };
                let identity = match Columns::opt_str(identity, i) {
                    Some(s) => Some(IdentityVerdict::parse(s).ok_or_else(|| bad("identity_verdict", s))?),
                    None => None,
                };
                Ok(LineageRow {
                    model: model.value(i).to_owned(),
                    relative: relative.value(i).to_owned(),
                    rank: Columns::opt_i64(rank, i).map(|k| k as usize),
                    calibrated: Columns::opt_f64(value, i).map(|v| (v, lo.value(i), hi.value(i))),
                    z: Columns::opt_f64(z, i),
                    q: Columns::opt_f64(q, i),
                    z_content: Columns::opt_f64(z_content, i),
                    z_style: Columns::opt_f64(z_style, i),
                    carried,
                    n_probes: n.value(i) as usize,
                    declared,
                    same_vendor: vendor.value(i),
                    verdict,
                    claimed_maker: Columns::opt_str(claimed, i).map(str::to_owned),
                    identity,
                    claims_relative_vendor: names.value(i),
                })
            })
            .collect()
    }
}
