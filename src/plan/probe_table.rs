//! Table `probes`: the probes a run asked, as sent (id, category, system prompt, prompt), one row
//! each: what the report quotes above the sample answers, and what analysts join `responses`
//! to (`USING (run_id, probe_id)`). Written with `responses`, by `run` (the suite) and by
//! `import` (the suite made from the imported prompts). A paired probe's side, feed id, claim
//! and adoption rules (JSON) travel here too, so `analyze` scores adoption as the night did.

use crate::probes::Probe;
use crate::probes::feed::{Condition, Pairing};
use crate::store::StoreError;
use crate::store::columns::Columns;
use crate::store::table::{Builder, RunRef, Table, TableDecl};

/// Table `probes`. Its row is the suite's [`Probe`], tags included (the identity stage reads
/// the probes tagged `identity`); files written before tags were stored read back with none,
/// and files written before pairs existed have no pairing columns.
pub struct ProbesTable;

impl Table for ProbesTable {
    type Row = Probe;
    const DECL: TableDecl = TableDecl::per_run("probes");

    fn to_arrow(run: &RunRef, probes: &[Probe], b: Builder) -> Builder {
        let pairing = || probes.iter().map(|p| p.pairing.as_ref());
        b.same_str("run_id", &run.id)
            .str("probe_id", probes.iter().map(|p| &p.id))
            .str("category", probes.iter().map(|p| &p.category))
            .opt_str("system", probes.iter().map(|p| p.system.as_ref()))
            .str("prompt", probes.iter().map(|p| &p.prompt))
            .list_str("tags", probes.iter().map(|p| &p.tags))
            .opt_str("condition", pairing().map(|x| x.map(|x| x.condition.as_str())))
            .opt_str("feed_id", pairing().map(|x| x.map(|x| &x.feed_id)))
            .opt_str("claim", pairing().map(|x| x.map(|x| &x.claim)))
            .opt_str(
                "adoption",
                pairing().map(|x| x.map(|x| serde_json::to_string(&x.adoption).expect("rules serialise"))),
            )
    }

    fn from_arrow(c: &Columns) -> Result<Vec<Probe>, StoreError> {
        let (id, category, system, prompt) =
            (c.strings("probe_id")?, c.strings("category")?, c.strings("system")?, c.strings("prompt")?);
        let paired = c.has("condition");
        let tags = if c.has("tags") { Some(c.str_lists("tags")?) } else { None };
        (0..c.rows())
            .map(|i| {
                Ok(Probe {
                    id: id.value(i).to_owned(),
                    category: category.value(i).to_owned(),
                    system: Columns::opt_str(system, i).map(str::to_owned),
                    prompt: prompt.value(i).to_owned(),
                    tags: tags.map_or_else(Vec::new, |t| Columns::str_list_row(t, i)),
                    pairing: if paired { pairing(c, i)? } else { None },
                })
            })
            .collect()
    }
}

/// Row `i`'s pairing, if it has one.
fn pairing(c: &Columns, i: usize) -> Result<Option<Pairing>, StoreError> {
    let Some(label) = Columns::opt_str(c.strings("condition")?, i) else { return Ok(None) };
    let bad = |column: &str, problem: String| c.error(column, problem);
    let condition = Condition::parse(label).ok_or_else(|| bad("condition", format!("holds {label:?}")))?;
    let text = |column: &str| -> Result<String, StoreError> {
        Columns::opt_str(c.strings(column)?, i)
            .map(str::to_owned)
            .ok_or_else(|| bad(column, "is null on a paired probe".into()))
    };
    let adoption =
        serde_json::from_str(&text("adoption")?).map_err(|e| bad("adoption", format!("is not adoption rules: {e}")))?;
    Ok(Some(Pairing { condition, feed_id: text("feed_id")?, claim: text("claim")?, adoption }))
}
