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
//! probe. A bad row is refused with its file and line, or, with `--on-bad-row skip`, reported
//! and skipped: never dropped silently. Import is idempotent: the same data gives the same run
//! ids, and importing it again rewrites those runs.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::Value;

use crate::collect::responses::{self, ImportedResponse};
use crate::input::InputError;
use crate::pipeline::{Derived, PipelineError, Tail, derive_tables};
use crate::plan::runs::RunRow;
use crate::probes::{Probe, Suite};
use crate::store::Output;

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

/// Reads one file; bad rows are refused (an error naming file and line) or collected in `bad`.
pub fn read(format: Format, path: &Path, on_bad: OnBadRow, bad: &mut Vec<BadRow>) -> Result<Vec<Row>, InputError> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| InputError::new(path, None, format!("cannot read: {e}")).hint("pass existing files to import"))?;
    let mut rows = Vec::new();
    let mut handle = |line: usize, r: Result<Row, String>| -> Result<(), InputError> {
        match r {
            Ok(row) => rows.push(row),
            Err(reason) if on_bad == OnBadRow::Skip => bad.push(BadRow { file: path.to_owned(), line, reason }),
            Err(reason) => {
                return Err(InputError::new(path, Some(line), reason)
                    .hint("fix the row, or pass --on-bad-row skip to import the rest and list what was skipped"));
            }
        }
        Ok(())
    };
    match format {
        Format::Jsonl => {
            for (i, line) in source.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let r = match serde_json::from_str::<Value>(line) {
                    Ok(Value::Object(obj)) => row_of(&|name| field(&obj, name)),
                    Ok(_) => Err("not a JSON object".into()),
                    Err(e) => Err(format!("not JSON: {e}")),
                };
                handle(i + 1, r)?;
            }
        }
        Format::Csv => {
            let mut reader = csv::Reader::from_reader(source.as_bytes());
            let headers = reader.headers().map_err(|e| InputError::new(path, Some(1), e.to_string()))?.clone();
            for record in reader.records() {
                let (line, r) = match record {
                    Ok(rec) => {
                        let line = rec.position().map_or(0, |p| p.line() as usize);
                        let get = |name: &str| {
                            headers.iter().position(|h| h == name).and_then(|i| rec.get(i)).map(str::to_owned)
                        };
                        (line, row_of(&get))
                    }
                    Err(e) => (e.position().map_or(0, |p| p.line() as usize), Err(format!("malformed CSV: {e}"))),
                };
                handle(line, r)?;
            }
        }
        Format::InspectAi => {
            let log: Value = serde_json::from_str(&source).map_err(|e| {
                InputError::new(path, Some(e.line()), format!("not an Inspect AI JSON log: {e}"))
                    .hint("write logs with --log-format json (the .eval zip format is not read)")
            })?;
            let model = log.pointer("/eval/model").and_then(Value::as_str).map(str::to_owned);
            let date =
                log.pointer("/eval/created").and_then(Value::as_str).and_then(|c| c.get(..10)).map(str::to_owned);
            let samples = log.get("samples").and_then(Value::as_array).cloned().unwrap_or_default();
            for (i, sample) in samples.iter().enumerate() {
                let r = inspect_sample(sample, model.as_deref(), date.as_deref());
                handle(i + 1, r.map_err(|e| format!("sample {}: {e}", i + 1)))?;
            }
        }
        Format::Promptfoo => {
            let out: Value = serde_json::from_str(&source).map_err(|e| {
                InputError::new(path, Some(e.line()), format!("not promptfoo output JSON: {e}"))
                    .hint("write it with promptfoo eval -o results.json")
            })?;
            let date =
                out.pointer("/results/timestamp").and_then(Value::as_str).and_then(|t| t.get(..10)).map(str::to_owned);
            let results = out.pointer("/results/results").and_then(Value::as_array).cloned().unwrap_or_default();
            for (i, result) in results.iter().enumerate() {
                let r = promptfoo_result(result, date.as_deref());
                handle(i + 1, r.map_err(|e| format!("result {}: {e}", i + 1)))?;
            }
        }
        Format::AlpacaEval => {
            let entries: Vec<Value> = serde_json::from_str(&source).map_err(|e| {
                InputError::new(path, Some(e.line()), format!("not a JSON array of model outputs: {e}"))
                    .hint("AlpacaEval's model_outputs.json is an array of {instruction, output, generator}")
            })?;
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
    Ok(rows)
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

/// One imported run, ready to write.
#[derive(Debug, Clone)]
pub struct ImportedRun {
    pub run_id: String,
    pub run_date: NaiveDate,
    pub suite: Suite,
    pub responses: Vec<ImportedResponse>,
    pub models: usize,
    pub samples: usize,
}

/// Groups rows into runs (by date or label; `default_date` for the rest and for labels), each
/// with the suite of its prompts. A prompt id used for two different texts is an error.
pub fn plan_runs(rows: &[Row], default_date: NaiveDate, source_tag: &str) -> Result<Vec<ImportedRun>, String> {
    let mut groups: BTreeMap<Option<String>, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        groups.entry(r.run.clone()).or_default().push(r);
    }
    let mut runs = Vec::new();
    for (label, rows) in groups {
        let run_date =
            label.as_deref().and_then(|l| NaiveDate::parse_from_str(l, "%Y-%m-%d").ok()).unwrap_or(default_date);
        let mut prompts: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
        for r in &rows {
            if let Some((text, _)) = prompts.insert(&r.prompt_id, (&r.prompt, &r.category))
                && text.trim() != r.prompt.trim()
            {
                return Err(format!("prompt id {} names two different prompts", r.prompt_id));
            }
        }
        let probes: Vec<Probe> = prompts
            .iter()
            .map(|(id, (prompt, category))| Probe {
                id: (*id).to_owned(),
                category: (*category).to_owned(),
                prompt: (*prompt).to_owned(),
                system: None,
                tags: Vec::new(),
            })
            .collect();
        let description = "prompts imported with hivewatch import";
        let id = crate::probes::suite_id("imported", "1", description, &probes);
        let suite = Suite { name: "imported".into(), version: "1".into(), description: description.into(), id, probes };
        let mut sample: HashMap<(&str, &str), i32> = HashMap::new();
        let responses: Vec<ImportedResponse> = rows
            .iter()
            .map(|r| {
                let k = sample.entry((&r.model, &r.prompt_id)).or_insert(0);
                let (text, truncated) = crate::collect::cap_text(r.response.clone(), crate::collect::MAX_TEXT_BYTES);
                let out = ImportedResponse {
                    model: r.model.clone(),
                    probe_id: r.prompt_id.clone(),
                    category: prompts[r.prompt_id.as_str()].1.to_owned(),
                    sample_index: *k,
                    text,
                    truncated,
                };
                *k += 1;
                out
            })
            .collect();
        let models = rows.iter().map(|r| r.model.as_str()).collect::<std::collections::BTreeSet<_>>().len();
        let samples = sample.values().copied().max().unwrap_or(0) as usize;
        let tag = crate::util::sha256_hex(format!("{source_tag}\u{0}{label:?}\u{0}{}", suite.id).as_bytes());
        runs.push(ImportedRun {
            run_id: format!("{}T000000Z-import-{}", run_date.format("%Y%m%d"), &tag[..8]),
            run_date,
            suite,
            responses,
            models,
            samples,
        });
    }
    runs.sort_by(|a, b| (a.run_date, &a.run_id).cmp(&(b.run_date, &b.run_id)));
    Ok(runs)
}

impl ImportedRun {
    /// The run's `runs` row: every response ok, no request behind it, at midnight of its date.
    pub fn row(&self, config_hash: &str) -> RunRow {
        let at = self.run_date.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let n = self.responses.len() as u64;
        RunRow {
            run_id: self.run_id.clone(),
            run_date: self.run_date,
            started_at: at,
            finished_at: at,
            config_hash: config_hash.to_owned(),
            suite_name: self.suite.name.clone(),
            suite_version: self.suite.version.clone(),
            suite_id: self.suite.id.clone(),
            sampling_id: crate::plan::runs::IMPORTED_SAMPLING.into(),
            embedder_id: None,
            endpoints: self.models as u64,
            probes: self.suite.probes.len() as u64,
            samples: self.samples as u64,
            planned: n,
            ok: n,
            failed: 0,
        }
    }
}

/// Writes one imported run's `responses`, then every derived table as for a nightly run.
pub fn write_run(
    output: &Output,
    run: &ImportedRun,
    tail: &mut Tail,
    config_hash: &str,
) -> Result<Derived, PipelineError> {
    let row = run.row(config_hash);
    let path = responses::path(output, run.run_date, &run.run_id);
    responses::write_imported(&path, &run.run_id, row.started_at, &run.responses)?;
    derive_tables(output, row, tail)
}
