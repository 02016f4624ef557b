//! `hivewatch import`: brings existing multi-model outputs in as historical runs, into the same
//! tables as nightly runs, so trends can start from the past.
//!
//! Formats (described with examples in `datasets/README.md`):
//! - `jsonl`: one object a line with `model`, `prompt`, `response`, and optionally `prompt_id`,
//!   `category` and `date` (YYYY-MM-DD) or `run` (a label);
//! - `csv`: the same columns, with a header;
//! - `alpaca-eval`: AlpacaEval's `model_outputs.json` (a JSON array of `instruction`, `output`,
//!   `generator`, optionally `dataset`), one file per model;
//! - `inspect-ai`: Inspect AI's JSON eval logs: the eval's model and creation day, each sample's
//!   id, input and output completion (epochs become samples);
//! - `promptfoo`: promptfoo's output JSON: each result's provider, rendered prompt and output.
//!
//! Rows are grouped into runs by `date` (or `run`); each run gets a suite made from its own
//! prompts, so imported runs are compared (by trends) only with runs on the same prompts. A
//! prompt without an id is named by a hash of its text, so the same prompt in two files is one
//! probe. A bad row (invalid UTF-8 included) is refused with its file and line, or, with
//! `--on-bad-row skip`, reported and skipped: never dropped silently.
//!
//! Import is idempotent: a run's id is a hash of its source (the format), its date (or label)
//! and its rows' content (model, prompt and response of every row, in any order), never of the
//! files' bytes; so importing the same rows again (an export that has since grown by another
//! date included) gives the earlier dates the same run ids, and their tables are rewritten,
//! not duplicated.
//!
//! Memory: `jsonl` and `csv` are read line by line, as bytes; every row goes to a spill file
//! by run (under the output's scratch space), and each run's `responses` are written from it in
//! batches. What is held is one record per prompt and per (model, prompt) of each run, not the
//! rows. The JSON formats (AlpacaEval, Inspect, promptfoo) are one document per file, read whole.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::Value;

use crate::collect::responses::{ImportedResponse, ResponseRow, ResponsesTable};
use crate::config::models::ModelCards;
use crate::input::InputError;
use crate::metrics::spill::{Payload, Spill, read_partition};
use crate::pipeline::{Derived, PipelineError, Tail, derive_tables};
use crate::plan::probe_table::ProbesTable;
use crate::plan::runs::RunRow;
use crate::probes::{Probe, Suite};
use crate::store::Output;
use crate::store::table;

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
    AlpacaEval,
    /// Inspect AI's JSON eval logs (`--log-format json`), one model a log.
    InspectAi,
    /// promptfoo's output JSON (`promptfoo eval -o out.json`): every provider of the eval.
    Promptfoo,
}

impl Format {
    /// The name the command line takes, which is also the "source" in a run's id.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::AlpacaEval => "alpaca-eval",
            Format::InspectAi => "inspect-ai",
            Format::Promptfoo => "promptfoo",
        }
    }
}

/// What to do with a row that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnBadRow {
    /// Stop with the row's file and line; nothing is written.
    Refuse,
    /// Report the row (file, line, why) and go on without it.
    Skip,
}

/// One imported response.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub model: String,
    pub prompt_id: String,
    pub prompt: String,
    pub response: String,
    pub category: String,
    /// `date` or `run` as written (None: the `--run-date`).
    pub run: Option<String>,
}

/// A row that was skipped, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRow {
    pub file: PathBuf,
    /// 1-based line (for AlpacaEval's arrays: the entry's number).
    pub line: usize,
    pub reason: String,
}

/// The id a prompt gets when its file names none: a hash of its text.
pub fn prompt_id_of(prompt: &str) -> String {
    format!("p-{}", &crate::util::sha256_hex(prompt.trim().as_bytes())[..12])
}

fn field(obj: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    match obj.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A row from named fields, or why not.
fn row_of(get: &dyn Fn(&str) -> Option<String>) -> Result<Row, String> {
    let need = |name: &str| get(name).filter(|v| !v.trim().is_empty()).ok_or_else(|| format!("no `{name}`"));
    let (model, prompt, response) = (need("model")?, need("prompt")?, get("response").ok_or("no `response`")?);
    let run = get("date").or_else(|| get("run")).filter(|v| !v.trim().is_empty());
    if let Some(r) = &run
        && get("date").is_some()
        && NaiveDate::parse_from_str(r, "%Y-%m-%d").is_err()
    {
        return Err(format!("`date` {r:?} is not YYYY-MM-DD"));
    }
    Ok(Row {
        prompt_id: get("prompt_id").filter(|v| !v.trim().is_empty()).unwrap_or_else(|| prompt_id_of(&prompt)),
        category: get("category").filter(|v| !v.trim().is_empty()).unwrap_or_else(|| "imported".into()),
        model: model.trim().to_owned(),
        prompt,
        response,
        run,
    })
}

/// Reads one file, giving each good row to `sink`; a bad row (or one `sink` refuses, saying
/// why) is refused (an error naming file and line) or collected in `bad`. `jsonl` and `csv` are
/// streamed, line by line, as bytes.
pub fn read(
    format: Format,
    path: &Path,
    on_bad: OnBadRow,
    bad: &mut Vec<BadRow>,
    sink: &mut dyn FnMut(Row) -> Result<(), String>,
) -> Result<(), InputError> {
    let cannot_read = |e: std::io::Error| {
        InputError::new(path, None, format!("cannot read: {e}")).hint("pass existing files to import")
    };
    let mut handle = |line: usize, r: Result<Row, String>| -> Result<(), InputError> {
        match r.and_then(&mut *sink) {
            Ok(()) => {}
            Err(reason) if on_bad == OnBadRow::Skip => bad.push(BadRow { file: path.to_owned(), line, reason }),
            Err(reason) => {
                return Err(InputError::new(path, Some(line), reason)
                    .hint("fix the row, or pass --on-bad-row skip to import the rest and list what was skipped"));
            }
        }
        Ok(())
    };
    let document = |what: &str, hint: &str| -> Result<Value, InputError> {
        let bytes = std::fs::read(path).map_err(cannot_read)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| InputError::new(path, Some(e.line()), format!("not {what}: {e}")).hint(hint.to_owned()))
    };
    match format {
        Format::Jsonl => read_jsonl(path, &mut handle)?,
        Format::Csv => read_csv(path, &mut handle)?,
        Format::InspectAi => {
            let log = document(
                "an Inspect AI JSON log",
                "write logs with --log-format json (the .eval zip format is not read)",
            )?;
            let model = log.pointer("/eval/model").and_then(Value::as_str).map(str::to_owned);
            let date =
                log.pointer("/eval/created").and_then(Value::as_str).and_then(|c| c.get(..10)).map(str::to_owned);
            let samples = log.get("samples").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            for (i, sample) in samples.iter().enumerate() {
                let r = inspect_sample(sample, model.as_deref(), date.as_deref());
                handle(i + 1, r.map_err(|e| format!("sample {}: {e}", i + 1)))?;
            }
        }
        Format::Promptfoo => {
            let out = document("promptfoo output JSON", "write it with promptfoo eval -o results.json")?;
            let date =
                out.pointer("/results/timestamp").and_then(Value::as_str).and_then(|t| t.get(..10)).map(str::to_owned);
            let results =
                out.pointer("/results/results").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            for (i, result) in results.iter().enumerate() {
                let r = promptfoo_result(result, date.as_deref());
                handle(i + 1, r.map_err(|e| format!("result {}: {e}", i + 1)))?;
            }
        }
        Format::AlpacaEval => {
            let doc = document(
                "a JSON array of model outputs",
                "AlpacaEval's model_outputs.json is an array of {instruction, output, generator}",
            )?;
            let Value::Array(entries) = doc else {
                return Err(InputError::new(path, Some(1), "not a JSON array of model outputs")
                    .hint("AlpacaEval's model_outputs.json is an array of {instruction, output, generator}"));
            };
            for (i, entry) in entries.iter().enumerate() {
                let r = match entry {
                    Value::Object(obj) => row_of(&|name| match name {
                        "model" => field(obj, "generator"),
                        "prompt" => field(obj, "instruction"),
                        "response" => field(obj, "output"),
                        "category" => field(obj, "dataset"),
                        _ => None,
                    }),
                    _ => Err("not a JSON object".into()),
                };
                handle(i + 1, r.map_err(|e| format!("entry {}: {e}", i + 1)))?;
            }
        }
    }
    Ok(())
}

/// A row handler: the row's line, and the row or why it is bad.
type HandleRow<'a> = dyn FnMut(usize, Result<Row, String>) -> Result<(), InputError> + 'a;

fn cannot_read(path: &Path) -> impl Fn(std::io::Error) -> InputError + '_ {
    move |e| InputError::new(path, None, format!("cannot read: {e}")).hint("pass existing files to import")
}

/// Generic JSONL, streamed line by line: a line that is not UTF-8, not JSON or not an object is
/// a bad row with its line number.
fn read_jsonl(path: &Path, handle: &mut HandleRow) -> Result<(), InputError> {
    let cannot_read = cannot_read(path);
    let mut reader = std::io::BufReader::new(std::fs::File::open(path).map_err(&cannot_read)?);
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(&cannot_read)? == 0 {
            break;
        }
        n += 1;
        let r = match std::str::from_utf8(&line) {
            Err(e) => Err(format!("not UTF-8 (an invalid byte at column {})", e.valid_up_to() + 1)),
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(obj)) => row_of(&|name| field(&obj, name)),
                Ok(_) => Err("not a JSON object".into()),
                Err(e) => Err(format!("not JSON: {e}")),
            },
        };
        handle(n, r)?;
    }
    Ok(())
}

/// Generic CSV with a header, streamed record by record; a column that is not UTF-8 makes a bad
/// row, and so does a record of the wrong length.
fn read_csv(path: &Path, handle: &mut HandleRow) -> Result<(), InputError> {
    let cannot_read = cannot_read(path);
    let file = std::fs::File::open(path).map_err(&cannot_read)?;
    let mut reader = csv::Reader::from_reader(std::io::BufReader::new(file));
    let headers: Vec<String> = reader
        .byte_headers()
        .map_err(|e| InputError::new(path, Some(1), e.to_string()))?
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_owned())
        .collect();
    let mut record = csv::ByteRecord::new();
    loop {
        let (line, r) = match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line() as usize);
                let not_utf8 = headers
                    .iter()
                    .zip(record.iter())
                    .find(|(_, bytes)| std::str::from_utf8(bytes).is_err())
                    .map(|(name, _)| name.clone());
                let get = |name: &str| {
                    let bytes = headers.iter().position(|h| h == name).and_then(|i| record.get(i))?;
                    std::str::from_utf8(bytes).ok().map(str::to_owned)
                };
                let r = match not_utf8 {
                    Some(name) => Err(format!("column `{name}` is not UTF-8")),
                    None => row_of(&get),
                };
                (line, r)
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }) {
                    // The reader cannot go on past this.
                    return Err(InputError::new(path, Some(line), format!("malformed CSV: {e}")));
                }
                (line, Err(format!("malformed CSV: {e}")))
            }
        };
        handle(line, r)?;
    }
    Ok(())
}

/// Text of an Inspect message content: a string, or the `text` parts of a list.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter(|p| p["type"] == "text")
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => None,
    }
}

/// One sample of an Inspect log: its input (the last user message when it is a conversation),
/// its output's completion, the log's model and the day the eval was created.
fn inspect_sample(sample: &Value, model: Option<&str>, date: Option<&str>) -> Result<Row, String> {
    let prompt = match &sample["input"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(messages) => {
            messages.iter().rev().find(|m| m["role"] == "user").and_then(|m| content_text(&m["content"]))
        }
        _ => None,
    };
    let response = sample["output"]["completion"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| content_text(&sample["output"]["choices"][0]["message"]["content"]));
    let id = match &sample["id"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    row_of(&|name| match name {
        "model" => model.map(|m| m.rsplit('/').next().unwrap_or(m).to_owned()),
        "prompt" => prompt.clone(),
        "response" => response.clone(),
        "prompt_id" => id.clone(),
        "date" => date.map(str::to_owned),
        _ => None,
    })
}

/// One result of promptfoo's output: the provider's label (or id) as the model, the rendered
/// prompt, the response's output (JSON text when it is not a string), the eval's day.
fn promptfoo_result(result: &Value, date: Option<&str>) -> Result<Row, String> {
    if let Some(error) = result["error"].as_str().filter(|e| !e.is_empty()) {
        return Err(format!("the provider failed: {error}"));
    }
    let model = result["provider"]["label"].as_str().or(result["provider"]["id"].as_str()).map(str::to_owned);
    let prompt = result["prompt"]["raw"].as_str().map(str::to_owned);
    let response = match &result["response"]["output"] {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    row_of(&|name| match name {
        "model" => model.clone(),
        "prompt" => prompt.clone(),
        "response" => response.clone(),
        "date" => date.map(str::to_owned),
        _ => None,
    })
}

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
    /// The hash of the run's source and content, also its `config_hash`.
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
    /// suite of its prompts and an id from its source, date and content. Call it once every row
    /// is in: it closes the spill for writing.
    pub fn runs(&mut self, format: Format, default_date: NaiveDate) -> std::io::Result<Vec<ImportedRun>> {
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
                let content = crate::util::sha256_hex(
                    format!(
                        "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{:?}",
                        format.name(),
                        label.map_or_else(|| run_date.to_string(), str::to_owned),
                        suite.id,
                        g.rows,
                        g.digest
                    )
                    .as_bytes(),
                );
                ImportedRun {
                    run_id: format!("{}T000000Z-import-{}", run_date.format("%Y%m%d"), &content[..8]),
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

    /// Writes one run's `responses` from the spill (in batches), then every derived table as
    /// for a nightly run.
    pub fn write_run(&mut self, output: &Output, run: &ImportedRun, tail: &mut Tail) -> Result<Derived, PipelineError> {
        let row = run.row();
        let at = row.run_ref(&tail.embedder.tag());
        let partition = self.spill.partition_path(crate::metrics::spill::partition_of(&run.key));
        let categories: HashMap<&str, &str> =
            self.groups[&run.key].prompts.iter().map(|(id, (_, category))| (id.as_str(), category.as_str())).collect();
        let mut writer = table::writer::<ResponsesTable>(output, &at)?;
        let mut batch: Vec<ResponseRow> = Vec::with_capacity(BATCH_ROWS);
        let mut failed: Result<(), PipelineError> = Ok(());
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
                failed = table::batch::<ResponsesTable>(&at, &batch)
                    .and_then(|b| writer.write(&b))
                    .map_err(PipelineError::from);
                batch.clear();
            }
        })
        .map_err(io)?;
        failed?;
        if !batch.is_empty() {
            writer.write(&table::batch::<ResponsesTable>(&at, &batch)?)?;
        }
        writer.finish()?;
        table::write::<ProbesTable>(output, &at, &run.suite.probes)?;
        derive_tables(output, row, tail)
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
        let runs = c.runs(Format::Jsonl, NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()).unwrap();
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
