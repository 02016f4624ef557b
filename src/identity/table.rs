//! Table `identity`: one row per (model, persona side, claimed maker) of a run: what each
//! model's answers to the probes tagged `identity` claim ([`super::summary::IdentityRow`]),
//! with the identity rules' version. Per run, not per embedder: a claim is read from the text.
//! Later nights read the last one (the `identity` alert: a model whose main claim changed).

use super::summary::{IdentityRow, IdentityVerdict};
use crate::store::StoreError;
use crate::store::columns::Columns;
use crate::store::table::{Builder, History, RunRef, Table, TableDecl};

/// Table `identity`.
pub struct IdentityTable;

impl Table for IdentityTable {
    type Row = IdentityRow;
    const DECL: TableDecl = TableDecl::per_run("identity").read_later(History::Window);

    fn to_arrow(run: &RunRef, rows: &[IdentityRow], b: Builder) -> Builder {
        b.same_str("run_id", &run.id)
            .str("model", rows.iter().map(|r| &r.model))
            .bool("persona", rows.iter().map(|r| r.persona))
            .opt_str("declared_vendor", rows.iter().map(|r| r.declared_vendor.as_ref()))
            .opt_str("claimed", rows.iter().map(|r| r.claimed.as_ref()))
            .list_str("model_lines", rows.iter().map(|r| &r.model_lines))
            .i64("answers", rows.iter().map(|r| i64::from(r.answers)))
            .i64("claiming", rows.iter().map(|r| i64::from(r.claiming)))
            .f64("share", rows.iter().map(|r| r.share))
            .i64("probes", rows.iter().map(|r| i64::from(r.probes)))
            .opt_str("main_claim", rows.iter().map(|r| r.main_claim.as_ref()))
            .opt_f64("consistency", rows.iter().map(|r| r.consistency))
            .opt_str("verdict", rows.iter().map(|r| r.verdict.map(IdentityVerdict::as_str)))
            .str("rules_version", rows.iter().map(|r| &r.rules_version))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<IdentityRow>, StoreError> {
        let (model, declared, claimed, main) =
            (c.strings("model")?, c.strings("declared_vendor")?, c.strings("claimed")?, c.strings("main_claim")?);
        let (persona, lines, verdict, version) =
            (c.bools("persona")?, c.str_lists("model_lines")?, c.strings("verdict")?, c.strings("rules_version")?);
        let (answers, claiming, share, probes, consistency) =
            (c.i64s("answers")?, c.i64s("claiming")?, c.f64s("share")?, c.i64s("probes")?, c.f64s("consistency")?);
        let text = |col, i| Columns::opt_str(col, i).map(str::to_owned);
        (0..c.rows())
            .map(|i| {
                let verdict =
                    match Columns::opt_str(verdict, i) {
                        Some(v) => Some(IdentityVerdict::parse(v).ok_or_else(|| {
                            c.error("verdict", format!("holds {v:?}, which this version does not know"))
                        })?),
                        None => None,
                    };
                Ok(IdentityRow {
                    model: model.value(i).to_owned(),
                    persona: persona.value(i),
                    declared_vendor: text(declared, i),
                    claimed: text(claimed, i),
                    model_lines: Columns::str_list_row(lines, i),
                    answers: answers.value(i) as u32,
                    claiming: claiming.value(i) as u32,
                    share: share.value(i),
                    probes: probes.value(i) as u32,
                    main_claim: text(main, i),
                    consistency: Columns::opt_f64(consistency, i),
                    verdict,
                    rules_version: version.value(i).to_owned(),
                })
            })
            .collect()
    }
}
