//! The readers of each import format: a file in, good rows to a sink, bad rows refused or
//! listed with their file and line.

use std::path::Path;

use chrono::NaiveDate;
use serde_json::Value;

use super::{BadRow, Format, OnBadRow, Row};
use crate::input::InputError;

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
    let prompt_id = get("prompt_id").filter(|v| !v.trim().is_empty()).unwrap_or_else(|| prompt_id_of(&prompt));
    if crate::probes::feed::is_exposed(&prompt_id) {
        return Err(format!(
            "prompt id {prompt_id:?} ends in {:?}, which marks the exposed side of a paired probe: its answers would be left out of every measure; rename the prompt",
            crate::probes::feed::EXPOSED_SUFFIX
        ));
    }
    Ok(Row {
        prompt_id,
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
        let bytes = crate::input::read_capped(path, crate::input::cap::DOCUMENT, "an import read whole", cannot_read)?;
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
        let cap = crate::input::cap::LINE;
        let read = crate::input::read_line_capped(&mut reader, &mut line, cap);
        let too_long = |e: &std::io::Error| e.kind() == std::io::ErrorKind::InvalidData;
        match read {
            Ok(None) => break,
            Ok(Some(_)) => n += 1,
            Err(e) if too_long(&e) => {
                return Err(crate::input::too_large(path, Some(n + 1), "a line of an import", cap));
            }
            Err(e) => return Err(cannot_read(e)),
        }
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
    let capped = crate::input::LineCapped::new(file, crate::input::cap::LINE);
    let mut reader = csv::Reader::from_reader(std::io::BufReader::new(capped));
    let headers: Vec<String> = reader
        .byte_headers()
        .map_err(|e| match over_cap(&e) {
            true => crate::input::too_large(path, Some(1), "a line of an import", crate::input::cap::LINE),
            false => InputError::new(path, Some(1), e.to_string()),
        })?
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
            Err(e) if over_cap(&e) => {
                let line = record.position().map(|p| p.line() as usize + 1);
                return Err(crate::input::too_large(path, line, "a line of an import", crate::input::cap::LINE));
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

/// Whether the CSV reader stopped at [`crate::input::LineCapped`]'s cap.
fn over_cap(e: &csv::Error) -> bool {
    matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::InvalidData)
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
