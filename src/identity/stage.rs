//! The identity stage of a run: reads which probes are tagged `identity` (and their system
//! prompts) from the run's `probes`, their ok answers and each endpoint's declared vendor from
//! its `responses`, and writes `identity` ([`super::summary`]). A run whose probes carry no
//! tags (an import, a run from before tags were stored) has no identity probes and writes an
//! empty table.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::summary::{Answer, IdentityRow, summarise};
use super::table::IdentityTable;
use super::{Rules, extract};
use crate::collect::responses::{self, OkTexts, ResponsesTable};
use crate::plan::probe_table::ProbesTable;
use crate::plan::runs;
use crate::store::table::{self, RunRef};
use crate::store::{Output, StoreError};

/// The tag that marks a probe as asking the model who it is.
pub const TAG: &str = "identity";

/// Texts read per chunk.
const CHUNK: usize = 4096;

/// Computes and writes the `identity` table of one run; returns its rows and its path.
pub fn identity_run(output: &Output, run: &RunRef, rules: &Rules) -> Result<(Vec<IdentityRow>, PathBuf), StoreError> {
    // probe id -> its system prompt, for the probes tagged `identity`.
    let asked: HashMap<String, Option<String>> = table::read_if_any::<ProbesTable>(output, run)?
        .into_iter()
        .filter(|p| p.tags.iter().any(|t| t == TAG))
        .map(|p| (p.id, p.system))
        .collect();
    let path = table::path::<ResponsesTable>(output, run);
    let mut answers = Vec::new();
    if !asked.is_empty() {
        let mut texts = OkTexts::open(&path, CHUNK)?;
        while let Some(chunk) = texts.next_chunk()? {
            let wanted: Vec<_> = chunk.into_iter().filter(|r| asked.contains_key(&r.probe_id)).collect();
            let claims = crate::util::parallel_map(&wanted, |r| {
                extract(rules, &r.text, asked.get(&r.probe_id).and_then(Option::as_deref))
            });
            answers.extend(wanted.into_iter().zip(claims).map(|(r, claim)| Answer {
                model: r.endpoint,
                probe_id: r.probe_id,
                claim,
            }));
        }
    }
    let declared: BTreeMap<String, Option<String>> =
        responses::declared(&path)?.into_iter().map(|(endpoint, d)| (endpoint, d.vendor)).collect();
    let rows = summarise(rules, &answers, &declared);
    let written = table::write::<IdentityTable>(output, run, &rows)?;
    Ok((rows, written))
}

/// How many earlier runs are looked at for the last `identity` table.
const LOOK_BACK: usize = 7;

/// The `identity` rows of the last complete run before `run` that has them (none: the first
/// night, or the first since identity was read).
pub fn previous(output: &Output, run: &RunRef) -> Result<Vec<IdentityRow>, StoreError> {
    let mut earlier: Vec<_> = runs::list(output)?
        .into_iter()
        .filter(|(date, id)| (*date, id.as_str()) < (run.date, run.id.as_str()))
        .collect();
    earlier.reverse();
    for (date, id) in earlier.into_iter().take(LOOK_BACK) {
        let before = RunRef::new(date, id, run.tag.clone());
        let rows = table::read_if_any::<IdentityTable>(output, &before)?;
        if !rows.is_empty() {
            return Ok(rows);
        }
    }
    Ok(Vec::new())
}
