//! Table `shared_phrases`: one row per phrase that at least half the models used on one probe
//! (see [`crate::metrics::phrases`]): in how many probes, by how many models at most. It does
//! not depend on the embedder, so it is written once per run.

use crate::store::StoreError;
use crate::store::columns::Columns;
use crate::store::table::{Builder, RunRef, Table, TableDecl};

/// Table `shared_phrases`.
pub struct SharedPhrasesTable;

/// A phrase shared on `probes` probes, by at most `max_models` models, of the `run_models`
/// models of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedPhrase {
    pub phrase: String,
    pub probes: usize,
    pub max_models: usize,
    pub run_models: usize,
}

impl Table for SharedPhrasesTable {
    type Row = SharedPhrase;
    const DECL: TableDecl = TableDecl::per_run("shared_phrases");

    fn to_arrow(run: &RunRef, rows: &[SharedPhrase], b: Builder) -> Builder {
        let n = |f: fn(&SharedPhrase) -> usize| rows.iter().map(move |r| f(r) as i64);
        b.same_str("run_id", &run.id)
            .str("phrase", rows.iter().map(|r| &r.phrase))
            .i64("words", n(|_| crate::metrics::phrases::PHRASE_WORDS))
            .i64("probes", n(|r| r.probes))
            .i64("max_models", n(|r| r.max_models))
            .i64("run_models", n(|r| r.run_models))
    }

    /// Most widespread first, as written.
    fn from_arrow(c: &Columns) -> Result<Vec<SharedPhrase>, StoreError> {
        let (phrase, probes, max_models) = (c.strings("phrase")?, c.i64s("probes")?, c.i64s("max_models")?);
        let run_models = c.i64s("run_models")?;
        Ok((0..c.rows())
            .map(|i| SharedPhrase {
                phrase: phrase.value(i).to_owned(),
                probes: probes.value(i) as usize,
                max_models: max_models.value(i) as usize,
                run_models: run_models.value(i) as usize,
            })
            .collect())
    }
}
