//! Table `probes`: the probes a run asked, as sent (id, category, system prompt, prompt), one row
//! each: what the report quotes above the sample answers, and what analysts join `responses`
//! to (`USING (run_id, probe_id)`). Written with `responses`, by `run` (the suite) and by
//! `import` (the suite made from the imported prompts). A paired probe's side, feed id, claim
//! and adoption rules (JSON) travel here too, so `analyze` scores adoption as the night did.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDate;

use crate::probes::Probe;
use crate::probes::feed::{Condition, Pairing};
use crate::store::columns::Columns;
use crate::store::{Output, StoreError, read_batches_if_any, write_batch};

pub const TABLE: &str = "probes";

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    Arc::new(Schema::new(vec![
        Field::new("run_id", Utf8, false),
        Field::new("probe_id", Utf8, false),
        Field::new("category", Utf8, false),
        Field::new("system", Utf8, true),
        Field::new("prompt", Utf8, false),
        Field::new("condition", Utf8, true),
        Field::new("feed_id", Utf8, true),
        Field::new("claim", Utf8, true),
        Field::new("adoption", Utf8, true),
    ]))
});

pub fn path(output: &Output, run_date: NaiveDate, run_id: &str) -> PathBuf {
    output.table_path(TABLE, run_date, run_id)
}

pub fn write(out: &Path, run_id: &str, probes: &[Probe]) -> Result<u64, StoreError> {
    let s = |f: fn(&Probe) -> Option<&str>| -> ArrayRef { Arc::new(probes.iter().map(f).collect::<StringArray>()) };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![run_id; probes.len()])),
        s(|p| Some(p.id.as_str())),
        s(|p| Some(p.category.as_str())),
        s(|p| p.system.as_deref()),
        s(|p| Some(p.prompt.as_str())),
        s(|p| p.pairing.as_ref().map(|x| x.condition.as_str())),
        s(|p| p.pairing.as_ref().map(|x| x.feed_id.as_str())),
        s(|p| p.pairing.as_ref().map(|x| x.claim.as_str())),
        Arc::new(
            probes
                .iter()
                .map(|p| p.pairing.as_ref().map(|x| serde_json::to_string(&x.adoption).expect("rules serialise")))
                .collect::<StringArray>(),
        ),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
        .map_err(|source| StoreError::Arrow { table: TABLE, source })?;
    write_batch(out, batch)
}

/// Reads a `probes` file back (no file: no rows, for runs written before the table existed);
/// tags are not stored. Files written before pairs existed have no pairing columns.
pub fn read(path: &Path) -> Result<Vec<Probe>, StoreError> {
    let mut out = Vec::new();
    for batch in read_batches_if_any(path)? {
        let c = Columns::new(&batch, path);
        let (id, category, system, prompt) =
            (c.strings("probe_id")?, c.strings("category")?, c.strings("system")?, c.strings("prompt")?);
        let paired = batch.column_by_name("condition").is_some();
        for i in 0..c.rows() {
            out.push(Probe {
                id: id.value(i).to_owned(),
                category: category.value(i).to_owned(),
                system: Columns::opt_str(system, i).map(str::to_owned),
                prompt: prompt.value(i).to_owned(),
                tags: Vec::new(),
                pairing: if paired { pairing(&c, i, path)? } else { None },
            });
        }
    }
    Ok(out)
}

/// Row `i`'s pairing, if it has one.
fn pairing(c: &Columns, i: usize, path: &Path) -> Result<Option<Pairing>, StoreError> {
    let Some(label) = Columns::opt_str(c.strings("condition")?, i) else { return Ok(None) };
    let bad =
        |column: &str, problem: String| StoreError::Column { path: path.to_owned(), column: column.into(), problem };
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
