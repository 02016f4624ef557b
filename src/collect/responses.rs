//! Table `responses`: one row per planned (endpoint, probe, sample), ok or failed, written from
//! the run's journal (or by `hivewatch import`); and the readers later stages use.

use std::collections::HashMap;
use std::path::Path;

use arrow_array::StringArray;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::IntoDeserializer;

use super::journal::for_each_record;
use super::{ResponseRecord, Status};
use crate::config::EndpointMeta;
use crate::net::retry::ErrorKind;
use crate::plan::{Plan, SentParams};
use crate::probes::feed::Condition;
use crate::store::columns::Columns;
use crate::store::table::{self, Builder, RunRef, Table, TableDecl};
use crate::store::{Output, StoreError};

const BATCH_ROWS: usize = 4096;

/// Table `responses`, written batch by batch (from the journal, an import, a consortium's
/// union with two columns more: [`crate::consortium::union`]).
pub struct ResponsesTable;

/// One `responses` row: a journaled outcome with what the plan says of its endpoint and probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseRow {
    /// The outcome (its text's hash is a column too, computed as it is written).
    pub record: ResponseRecord,
    /// The endpoint's provider (`import` for imported rows) and the model it was asked for.
    pub provider: String,
    pub model: String,
    /// What the endpoint's configuration declares of the model.
    pub meta: EndpointMeta,
    pub category: String,
    /// A paired probe's side and its feed's id; None for other probes.
    pub condition: Option<Condition>,
    pub feed_id: Option<String>,
}

impl Table for ResponsesTable {
    type Row = ResponseRow;
    const DECL: TableDecl = TableDecl::per_run("responses");

    fn to_arrow(run: &RunRef, rows: &[ResponseRow], b: Builder) -> Builder {
        let rec = || rows.iter().map(|r| &r.record);
        let meta = || rows.iter().map(|r| &r.meta);
        b.same_str("run_id", &run.id)
            .str("endpoint", rec().map(|r| &r.endpoint))
            .str("provider", rows.iter().map(|r| &r.provider))
            .str("model", rows.iter().map(|r| &r.model))
            .opt_str("vendor", meta().map(|m| m.vendor.as_ref()))
            .opt_str("family", meta().map(|m| m.family.as_ref()))
            .opt_date32("release_date", meta().map(|m| m.release_date))
            .list_str("parents", meta().map(|m| &m.parents))
            .str("probe_id", rec().map(|r| &r.probe_id))
            .str("category", rows.iter().map(|r| &r.category))
            .i32("sample_index", rec().map(|r| r.sample_index as i32))
            .opt_f64("temperature", rec().map(|r| r.params.temperature))
            .opt_f64("top_p", rec().map(|r| r.params.top_p))
            .i32("max_tokens", rec().map(|r| r.params.max_tokens as i32))
            .opt_u64("seed", rec().map(|r| r.params.seed))
            .str("status", rec().map(|r| r.status.as_str()))
            .opt_str("error_kind", rec().map(|r| r.error_kind.map(|k| k.as_str())))
            .opt_str("error_message", rec().map(|r| r.error_message.as_ref()))
            .opt_i32("http_status", rec().map(|r| r.http_status.map(i32::from)))
            .i32("attempts", rec().map(|r| r.attempts as i32))
            .i64("latency_ms", rec().map(|r| r.latency_ms as i64))
            .i64("elapsed_ms", rec().map(|r| r.elapsed_ms as i64))
            .opt_i64("prompt_tokens", rec().map(|r| r.prompt_tokens.map(|v| v as i64)))
            .opt_i64("completion_tokens", rec().map(|r| r.completion_tokens.map(|v| v as i64)))
            .opt_str("finish_reason", rec().map(|r| r.finish_reason.as_ref()))
            .opt_str("response_text", rec().map(|r| r.text.as_ref()))
            .bool("response_truncated", rec().map(|r| r.text_truncated))
            .opt_str("response_hash", rec().map(|r| r.text.as_ref().map(|t| crate::util::sha256_hex(t.as_bytes()))))
            .utc_micros("started_at", rec().map(|r| r.started_at))
            .utc_micros("finished_at", rec().map(|r| r.finished_at))
            .opt_str("condition", rows.iter().map(|r| r.condition.map(Condition::as_str)))
            .opt_str("feed_id", rows.iter().map(|r| r.feed_id.as_ref()))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<ResponseRow>, StoreError> {
        let s = |name: &str| c.strings(name);
        let (endpoint, provider, model, vendor, family) =
            (s("endpoint")?, s("provider")?, s("model")?, s("vendor")?, s("family")?);
        let (probe, category, status, kind, message) =
            (s("probe_id")?, s("category")?, s("status")?, s("error_kind")?, s("error_message")?);
        let (finish, text) = (s("finish_reason")?, s("response_text")?);
        let (release, parents) = (c.date32s("release_date")?, c.str_lists("parents")?);
        let (sample, max_tokens, http, attempts) =
            (c.i32s("sample_index")?, c.i32s("max_tokens")?, c.i32s("http_status")?, c.i32s("attempts")?);
        let (temperature, top_p, seed) = (c.f64s("temperature")?, c.f64s("top_p")?, c.u64s("seed")?);
        let (latency, elapsed) = (c.i64s("latency_ms")?, c.i64s("elapsed_ms")?);
        let (prompt_tokens, completion_tokens) = (c.i64s("prompt_tokens")?, c.i64s("completion_tokens")?);
        let (truncated, started, finished) =
            (c.bools("response_truncated")?, c.timestamps("started_at")?, c.timestamps("finished_at")?);
        // Files written before pairs existed lack the last two columns.
        let paired = c.has("condition");
        let (condition, feed) = if paired { (Some(s("condition")?), Some(s("feed_id")?)) } else { (None, None) };
        let opt = |col: &StringArray, i| Columns::opt_str(col, i).map(str::to_owned);
        let label = |column: &str, v: &str| c.error(column, format!("holds {v:?}, which this version does not know"));
        (0..c.rows())
            .map(|i| {
                let status = Status::deserialize(status.value(i).into_deserializer())
                    .map_err(|_: serde::de::value::Error| label("status", status.value(i)))?;
                let error_kind = Columns::opt_str(kind, i)
                    .map(|k| {
                        ErrorKind::deserialize(k.into_deserializer())
                            .map_err(|_: serde::de::value::Error| label("error_kind", k))
                    })
                    .transpose()?;
                let condition = condition.and_then(|col| Columns::opt_str(col, i));
                let record = ResponseRecord {
                    endpoint: endpoint.value(i).to_owned(),
                    probe_id: probe.value(i).to_owned(),
                    sample_index: sample.value(i) as u32,
                    params: SentParams {
                        temperature: Columns::opt_f64(temperature, i),
                        top_p: Columns::opt_f64(top_p, i),
                        max_tokens: max_tokens.value(i) as u32,
                        seed: Columns::opt_u64(seed, i),
                    },
                    status,
                    error_kind,
                    error_message: opt(message, i),
                    http_status: Columns::opt_i32(http, i).map(|v| v as u16),
                    attempts: attempts.value(i) as u32,
                    latency_ms: latency.value(i) as u64,
                    elapsed_ms: elapsed.value(i) as u64,
                    prompt_tokens: Columns::opt_i64(prompt_tokens, i).map(|v| v as u64),
                    completion_tokens: Columns::opt_i64(completion_tokens, i).map(|v| v as u64),
                    finish_reason: opt(finish, i),
                    text: opt(text, i),
                    text_truncated: truncated.value(i),
                    started_at: Columns::time(started, i),
                    finished_at: Columns::time(finished, i),
                };
                Ok(ResponseRow {
                    record,
                    provider: provider.value(i).to_owned(),
                    model: model.value(i).to_owned(),
                    meta: EndpointMeta {
                        vendor: opt(vendor, i),
                        family: opt(family, i),
                        release_date: Columns::opt_date(release, i),
                        parents: Columns::str_list_row(parents, i),
                    },
                    category: category.value(i).to_owned(),
                    condition: condition
                        .map(|v| Condition::parse(v).ok_or_else(|| label("condition", v)))
                        .transpose()?,
                    feed_id: feed.and_then(|col| opt(col, i)),
                })
            })
            .collect()
    }
}

/// Counts of the rows written, per endpoint name: (ok, failed).
pub type EndpointCounts = HashMap<String, (u64, u64)>;

/// Streams a run's journal into its `responses` table, each (endpoint, probe, sample) once (the
/// first journaled outcome wins). Rows for names the plan does not know are skipped with a
/// warning (they cannot come from the same plan).
pub fn write_from_journal(
    plan: &Plan,
    output: &Output,
    run: &RunRef,
    journal: &Path,
) -> Result<EndpointCounts, StoreError> {
    let endpoints: HashMap<&str, usize> =
        plan.config.endpoints.iter().enumerate().map(|(i, e)| (e.name.as_str(), i)).collect();
    let probes: HashMap<&str, usize> = plan.suite.probes.iter().enumerate().map(|(i, p)| (p.id.as_str(), i)).collect();

    // Read the journal on a separate thread into a bounded channel, so memory holds one batch,
    // not the run. (An early return drops the receiver, which stops the reader.)
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<ResponseRecord>>(BATCH_ROWS);
    let journal_path = journal.to_owned();
    let reader = std::thread::spawn(move || {
        let r =
            for_each_record(&journal_path, |rec| tx.send(Ok(rec)).map_err(|_| std::io::Error::other("writer stopped")));
        if let Err(e) = r {
            let _ = tx.send(Err(e));
        }
    });

    // One flag per planned key (a few KiB even for large runs), instead of a growing set.
    let samples = plan.samples() as usize;
    let mut seen = vec![false; plan.total_requests() as usize];
    let mut counts = EndpointCounts::new();
    let mut batch: Vec<ResponseRow> = Vec::with_capacity(BATCH_ROWS);
    let mut unknown = 0u64;
    let mut writer = table::writer::<ResponsesTable>(output, run)?;
    for rec in rx.iter() {
        let rec = rec.map_err(|source| StoreError::Io { path: journal.to_owned(), source })?;
        let (Some(&e), Some(&p)) = (endpoints.get(rec.endpoint.as_str()), probes.get(rec.probe_id.as_str())) else {
            unknown += 1;
            continue;
        };
        let s = rec.sample_index as usize;
        if s >= samples {
            unknown += 1;
            continue;
        }
        let slot = &mut seen[(e * probes.len() + p) * samples + s];
        if std::mem::replace(slot, true) {
            continue;
        }
        let c = counts.entry(rec.endpoint.clone()).or_default();
        match rec.status {
            Status::Ok => c.0 += 1,
            Status::Error => c.1 += 1,
        }
        let (endpoint, probe) = (&plan.config.endpoints[e], &plan.suite.probes[p]);
        batch.push(ResponseRow {
            record: rec,
            provider: endpoint.provider.as_str().to_owned(),
            model: endpoint.model.clone(),
            meta: endpoint.meta.clone(),
            category: probe.category.clone(),
            condition: probe.condition(),
            feed_id: probe.pairing.as_ref().map(|x| x.feed_id.clone()),
        });
        if batch.len() == BATCH_ROWS {
            writer.write(&table::batch::<ResponsesTable>(run, &batch)?)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        writer.write(&table::batch::<ResponsesTable>(run, &batch)?)?;
    }
    writer.finish()?;
    let _ = reader.join();
    if unknown > 0 {
        tracing::warn!(rows = unknown, "journal rows that name no endpoint, probe or sample of this plan were skipped");
    }
    Ok(counts)
}

/// One ok response's key and text, as the later stages read it.
#[derive(Debug, Clone)]
pub struct OkText {
    pub endpoint: String,
    pub probe_id: String,
    pub sample_index: i32,
    pub text: String,
}

/// Streams the ok responses of a `responses` file in chunks.
pub struct OkTexts {
    path: std::path::PathBuf,
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    pending: std::collections::VecDeque<OkText>,
    chunk: usize,
}

impl OkTexts {
    pub fn open(path: &Path, chunk: usize) -> Result<Self, StoreError> {
        let wanted = ["endpoint", "probe_id", "sample_index", "status", "response_text"];
        let reader = crate::store::projected_reader(path, &wanted, chunk)?;
        Ok(OkTexts { path: path.to_owned(), reader, pending: Default::default(), chunk })
    }

    /// The next up-to-`chunk` ok rows, or `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<OkText>>, StoreError> {
        use arrow_array::Array;
        while self.pending.len() < self.chunk {
            let Some(batch) = self.reader.next() else { break };
            let batch = batch.map_err(|source| StoreError::Arrow { table: ResponsesTable::DECL.name, source })?;
            let c = Columns::new(&batch, &self.path);
            let (endpoint, probe, sample, status, text) = (
                c.strings("endpoint")?,
                c.strings("probe_id")?,
                c.i32s("sample_index")?,
                c.strings("status")?,
                c.strings("response_text")?,
            );
            for i in 0..batch.num_rows() {
                if status.value(i) == "ok" && !text.is_null(i) {
                    self.pending.push_back(OkText {
                        endpoint: endpoint.value(i).to_owned(),
                        probe_id: probe.value(i).to_owned(),
                        sample_index: sample.value(i),
                        text: text.value(i).to_owned(),
                    });
                }
            }
        }
        if self.pending.is_empty() {
            return Ok(None);
        }
        let n = self.pending.len().min(self.chunk);
        Ok(Some(self.pending.drain(..n).collect()))
    }
}

/// probe id -> category, from a `responses` file.
pub fn probe_categories(path: &Path) -> Result<HashMap<String, String>, StoreError> {
    let mut out = HashMap::new();
    for batch in crate::store::projected_reader(path, &["probe_id", "category"], 8192)? {
        let batch = batch.map_err(|source| StoreError::Arrow { table: ResponsesTable::DECL.name, source })?;
        let c = Columns::new(&batch, path);
        let (probe, category) = (c.strings("probe_id")?, c.strings("category")?);
        for i in 0..batch.num_rows() {
            if !out.contains_key(probe.value(i)) {
                out.insert(probe.value(i).to_owned(), category.value(i).to_owned());
            }
        }
    }
    Ok(out)
}

/// What the configuration declares about one endpoint's model (the `model`, `vendor`,
/// `family` and `parents` columns), as the lineage stage compares it with what is measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Declared {
    /// The provider's model id.
    pub model: String,
    pub vendor: Option<String>,
    pub family: Option<String>,
    pub parents: Vec<String>,
}

/// endpoint -> what its rows declare (the first row of each endpoint), from a `responses` file.
pub fn declared(path: &Path) -> Result<std::collections::BTreeMap<String, Declared>, StoreError> {
    use arrow_array::{Array, ListArray};
    let mut out = std::collections::BTreeMap::new();
    for batch in crate::store::projected_reader(path, &["endpoint", "model", "vendor", "family", "parents"], 8192)? {
        let batch = batch.map_err(|source| StoreError::Arrow { table: ResponsesTable::DECL.name, source })?;
        let c = Columns::new(&batch, path);
        let (endpoint, model, vendor, family) =
            (c.strings("endpoint")?, c.strings("model")?, c.strings("vendor")?, c.strings("family")?);
        let parents =
            batch.column_by_name("parents").and_then(|a| a.as_any().downcast_ref::<ListArray>()).ok_or_else(|| {
                StoreError::Column {
                    path: path.to_owned(),
                    column: "parents".into(),
                    problem: "is not a list of strings".into(),
                }
            })?;
        for i in 0..batch.num_rows() {
            if out.contains_key(endpoint.value(i)) {
                continue;
            }
            let list = parents.value(i);
            let names = list.as_any().downcast_ref::<StringArray>().map_or_else(Vec::new, |s| {
                (0..s.len()).filter(|&k| !s.is_null(k)).map(|k| s.value(k).to_owned()).collect()
            });
            let text = |col: &StringArray| {
                Columns::opt_str(col, i).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
            };
            out.insert(
                endpoint.value(i).to_owned(),
                Declared {
                    model: model.value(i).to_owned(),
                    vendor: text(vendor),
                    family: text(family),
                    parents: names,
                },
            );
        }
    }
    Ok(out)
}

/// One response brought in from another tool's log (see [`crate::import`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedResponse {
    pub model: String,
    pub probe_id: String,
    pub category: String,
    pub sample_index: i32,
    pub text: String,
    pub truncated: bool,
}

impl ImportedResponse {
    /// As a `responses` row: ok, with no request behind it (provider `import`, no sampling
    /// parameters, no latency, no token counts), declaring what `meta` says (`import --models`).
    pub fn into_row(self, at: DateTime<Utc>, meta: Option<EndpointMeta>) -> ResponseRow {
        let record = ResponseRecord {
            endpoint: self.model.clone(),
            probe_id: self.probe_id,
            sample_index: self.sample_index as u32,
            params: SentParams { temperature: None, top_p: None, max_tokens: 0, seed: None },
            status: Status::Ok,
            error_kind: None,
            error_message: None,
            http_status: None,
            attempts: 0,
            latency_ms: 0,
            elapsed_ms: 0,
            prompt_tokens: None,
            completion_tokens: None,
            finish_reason: None,
            text: Some(self.text),
            text_truncated: self.truncated,
            started_at: at,
            finished_at: at,
        };
        ResponseRow {
            record,
            provider: "import".into(),
            model: self.model,
            meta: meta.unwrap_or_default(),
            category: self.category,
            condition: None,
            feed_id: None,
        }
    }
}

/// Writes imported responses as a run's `responses` table, declaring nothing.
pub fn write_imported(
    output: &Output,
    run: &RunRef,
    at: DateTime<Utc>,
    rows: &[ImportedResponse],
) -> Result<std::path::PathBuf, StoreError> {
    let rows: Vec<ResponseRow> = rows.iter().map(|r| r.clone().into_row(at, None)).collect();
    table::write::<ResponsesTable>(output, run, &rows)
}
