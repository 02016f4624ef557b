//! Rows streamed in from every file of one import, grouped into runs: each run's prompts,
//! models and samples in memory, the rows themselves in a spill by run, written out as the
//! run's `responses` and `probes` one run at a time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::Row;
use crate::collect::responses::{ImportedResponse, ResponseRow, ResponsesTable};
use crate::config::models::ModelCards;
use crate::input::InputError;
use crate::metrics::spill::{Payload, Spill, read_partition};
use crate::plan::probe_table::ProbesTable;
use crate::plan::runs::RunRow;
use crate::probes::{Probe, Suite};
use crate::store::table;
use crate::store::{EmbedderTag, Output, StoreError};

/// One imported run, ready to write (its rows wait in the spill of the [`Collector`]).
#[derive(Debug, Clone)]
pub struct ImportedRun {
    pub run_id: String,
    pub run_date: NaiveDate,
    pub suite: Suite,
    /// Rows of the run.
    pub rows: u64,
    pub models: usize,
    pub samples: usize,
    /// The hash of the run's source and content (its `config_hash`: a corrected import of the
    /// same date keeps the run id and changes this).
    pub content: String,
    key: String,
}

/// What is known of one run while its rows stream by.
#[derive(Debug, Default)]
struct Group {
    /// prompt id -> (prompt, category).
    prompts: BTreeMap<String, (String, String)>,
    models: BTreeSet<String>,
    /// (model, prompt id) -> the next sample index.
    samples: HashMap<(String, String), u32>,
    rows: u64,
    /// Sum (word by word, wrapping) of the rows' hashes: the content, whatever the rows' order.
    digest: [u64; 4],
}

/// Rows streamed in from every file of one import, grouped into runs: each group's prompts,
/// models and samples in memory, the rows themselves in a spill by run.
pub struct Collector {
    groups: BTreeMap<String, Group>,
    spill: Spill,
    payload: Vec<u8>,
    /// What the models declare (`--models`); none: every model declares nothing.
    cards: Option<ModelCards>,
}

/// A run's key in the spill: its label, or "" for rows with neither date nor run.
fn group_key(run: Option<&str>) -> String {
    run.unwrap_or_default().to_owned()
}

impl Collector {
    /// A collector spilling under `scratch` (removed when it is dropped).
    pub fn new(scratch: &Path) -> std::io::Result<Self> {
        Ok(Collector { groups: BTreeMap::new(), spill: Spill::new(scratch)?, payload: Vec::new(), cards: None })
    }

    /// Declares the models' vendor, family, parents and release date from their cards, for the
    /// runs written after; refused when a card or a parent names no model of the import.
    pub fn declare(&mut self, cards: ModelCards) -> Result<(), InputError> {
        let models: BTreeSet<String> = self.groups.values().flat_map(|g| g.models.iter().cloned()).collect();
        cards.check_against(&models)?;
        self.cards = Some(cards);
        Ok(())
    }

    /// Takes one row; refuses (saying why) a prompt id that names another prompt in its run.
    pub fn add(&mut self, row: Row) -> Result<(), String> {
        let key = group_key(row.run.as_deref());
        let group = self.groups.entry(key.clone()).or_default();
        match group.prompts.get_mut(&row.prompt_id) {
            Some((text, _)) if text.trim() != row.prompt.trim() => {
                return Err(format!("prompt id {} names two different prompts", row.prompt_id));
            }
            Some((_, category)) => category.clone_from(&row.category),
            None => {
                group.prompts.insert(row.prompt_id.clone(), (row.prompt.clone(), row.category.clone()));
            }
        }
        let next = group.samples.entry((row.model.clone(), row.prompt_id.clone())).or_insert(0);
        let sample = *next;
        *next += 1;
        if !group.models.contains(&row.model) {
            group.models.insert(row.model.clone());
        }
        group.rows += 1;
        let hash = crate::util::sha256_hex(
            format!("{}\u{0}{}\u{0}{}\u{0}{}", row.model, row.prompt_id, row.prompt.trim(), row.response).as_bytes(),
        );
        for (word, chunk) in group.digest.iter_mut().zip(hash.as_bytes().chunks(16)) {
            *word = word.wrapping_add(u64::from_str_radix(std::str::from_utf8(chunk).unwrap_or("0"), 16).unwrap_or(0));
        }
        self.payload.clear();
        self.payload.extend_from_slice(&sample.to_le_bytes());
        self.payload.extend_from_slice(&(row.prompt_id.len() as u32).to_le_bytes());
        self.payload.extend_from_slice(row.prompt_id.as_bytes());
        self.payload.extend_from_slice(row.response.as_bytes());
        self.spill
            .push(Payload::Text, &row.model, &key, &self.payload)
            .map_err(|e| format!("cannot spill the row: {e}"))
    }

    /// The runs (by date or label; `default_date` for the rest and for labels), each with the
    /// suite of its prompts and an id from its source and its date (or label): one run per
    /// (source, date), whatever the rows hold, so a date imported again is the same run. Call it
    /// once every row is in: it closes the spill for writing.
    pub fn runs(&mut self, source: &str, default_date: NaiveDate) -> std::io::Result<Vec<ImportedRun>> {
        self.spill.finish()?;
        let mut runs: Vec<ImportedRun> = self
            .groups
            .iter()
            .map(|(key, g)| {
                let label = (!key.is_empty()).then_some(key.as_str());
                let run_date =
                    label.and_then(|l| NaiveDate::parse_from_str(l, "%Y-%m-%d").ok()).unwrap_or(default_date);
                let probes: Vec<Probe> = g
                    .prompts
                    .iter()
                    .map(|(id, (prompt, category))| Probe::plain(id.clone(), category.clone(), prompt.clone(), None))
                    .collect();
                let description = "prompts imported with hivewatch import";
                let id = crate::probes::suite_id("imported", "1", description, &probes);
                let suite =
                    Suite { name: "imported".into(), version: "1".into(), description: description.into(), id, probes };
                let night = label.map_or_else(|| run_date.to_string(), str::to_owned);
                let content = crate::util::sha256_hex(
                    format!("{source}\u{0}{night}\u{0}{}\u{0}{}\u{0}{:?}", suite.id, g.rows, g.digest).as_bytes(),
                );
                let identity = crate::util::sha256_hex(format!("{source}\u{0}{night}").as_bytes());
                ImportedRun {
                    run_id: format!("{}T000000Z-import-{}", run_date.format("%Y%m%d"), &identity[..8]),
                    run_date,
                    suite,
                    rows: g.rows,
                    models: g.models.len(),
                    samples: g.samples.values().copied().max().unwrap_or(0) as usize,
                    content: content[..16].to_owned(),
                    key: key.clone(),
                }
            })
            .collect();
        runs.sort_by(|a, b| (a.run_date, &a.run_id).cmp(&(b.run_date, &b.run_id)));
        Ok(runs)
    }

    /// Writes one run's `responses` from the spill (in batches) and its `probes`; returns the
    /// two files.
    pub fn write_run(
        &mut self,
        output: &Output,
        run: &ImportedRun,
        tag: &EmbedderTag,
    ) -> Result<Vec<PathBuf>, StoreError> {
        let row = run.row();
        let at = row.run_ref(tag);
        let partition = self.spill.partition_path(crate::metrics::spill::partition_of(&run.key));
        let categories: HashMap<&str, &str> =
            self.groups[&run.key].prompts.iter().map(|(id, (_, category))| (id.as_str(), category.as_str())).collect();
        let out = table::path::<ResponsesTable>(output, &at);
        let mut writer = table::writer::<ResponsesTable>(output, &at)?;
        let mut batch: Vec<ResponseRow> = Vec::with_capacity(BATCH_ROWS);
        let mut failed: Result<(), StoreError> = Ok(());
        let io = |source| crate::store::StoreError::Io { path: partition.clone(), source };
        let cards = self.cards.as_ref();
        let declared = |model: &str| cards.and_then(|c| c.get(model)).cloned();
        read_partition(&partition, |_, model, key, payload| {
            if key != run.key || failed.is_err() {
                return;
            }
            let Some(response) = decode(model, &payload, &categories) else { return };
            let meta = declared(&response.model);
            batch.push(response.into_row(row.started_at, meta));
            if batch.len() == BATCH_ROWS {
                failed = table::batch::<ResponsesTable>(&at, &batch).and_then(|b| writer.write(&b));
                batch.clear();
            }
        })
        .map_err(io)?;
        failed?;
        if !batch.is_empty() {
            writer.write(&table::batch::<ResponsesTable>(&at, &batch)?)?;
        }
        writer.finish()?;
        let probes = table::write::<ProbesTable>(output, &at, &run.suite.probes)?;
        Ok(vec![out, probes])
    }
}

/// Rows per `responses` batch of an import.
const BATCH_ROWS: usize = 4096;

/// A spilled row back: (sample, prompt id, response) of `model`.
fn decode(model: String, payload: &[u8], categories: &HashMap<&str, &str>) -> Option<ImportedResponse> {
    let sample = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?);
    let n = u32::from_le_bytes(payload.get(4..8)?.try_into().ok()?) as usize;
    let prompt_id = std::str::from_utf8(payload.get(8..8 + n)?).ok()?.to_owned();
    let response = String::from_utf8_lossy(payload.get(8 + n..)?).into_owned();
    let (text, truncated) = crate::collect::cap_text(response, crate::collect::MAX_TEXT_BYTES);
    Some(ImportedResponse {
        category: categories.get(prompt_id.as_str()).map_or_else(|| "imported".to_owned(), |c| (*c).to_owned()),
        model,
        probe_id: prompt_id,
        sample_index: sample as i32,
        text,
        truncated,
    })
}

impl ImportedRun {
    /// The run's `runs` row: every response ok, no request behind it, at midnight of its date.
    pub fn row(&self) -> RunRow {
        let at = self.run_date.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        RunRow {
            run_id: self.run_id.clone(),
            run_date: self.run_date,
            started_at: at,
            finished_at: at,
            config_hash: self.content.clone(),
            suite_name: self.suite.name.clone(),
            suite_version: self.suite.version.clone(),
            suite_id: self.suite.id.clone(),
            sampling_id: crate::plan::runs::IMPORTED_SAMPLING.into(),
            embedder_id: None,
            endpoints: self.models as u64,
            probes: self.suite.probes.len() as u64,
            samples: self.samples as u64,
            planned: self.rows,
            ok: self.rows,
            failed: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16, item 17: rows go to the spill; what stays in memory grows with the prompts and
    /// models, not with the rows.
    #[test]
    fn rows_stream_through_a_spill_not_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Collector::new(dir.path()).unwrap();
        for i in 0..30_000 {
            let row = Row {
                model: format!("m{}", i % 3),
                prompt_id: format!("q{}", i % 10),
                prompt: format!("prompt {}", i % 10),
                response: format!("answer number {i}, {}", "x".repeat(200)),
                category: "c".into(),
                run: Some("2025-01-01".into()),
            };
            c.add(row).unwrap();
        }
        let g = &c.groups["2025-01-01"];
        assert_eq!((g.rows, g.prompts.len(), g.samples.len(), g.models.len()), (30_000, 10, 30, 3));
        let runs = c.runs("hist", NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()).unwrap();
        assert_eq!((runs.len(), runs[0].samples), (1, 1000));
        let spilled: u64 = files(dir.path()).iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
        assert!(spilled > 30_000 * 200, "the rows are in the spill: {spilled} bytes");
        // A prompt id naming another prompt is refused, row by row.
        let mut c = Collector::new(dir.path()).unwrap();
        c.add(Row { prompt: "prompt 1".into(), ..clash_row() }).unwrap();
        let clash = Row {
            model: "m0".into(),
            prompt_id: "q1".into(),
            prompt: "another prompt".into(),
            response: "r".into(),
            category: "c".into(),
            run: Some("2025-01-01".into()),
        };
        assert!(c.add(clash).unwrap_err().contains("names two different prompts"));
    }

    fn clash_row() -> Row {
        Row {
            model: "m0".into(),
            prompt_id: "q1".into(),
            prompt: String::new(),
            response: "r".into(),
            category: "c".into(),
            run: Some("2025-01-01".into()),
        }
    }

    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() { out.extend(files(&p)) } else { out.push(p) }
        }
        out
    }
}
