//! Table `responses`: one row per planned (endpoint, probe, sample), ok or failed, written from
//! the run's journal (or by `hivewatch import`); and the readers later stages use.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};

use super::journal::for_each_record;
use super::{ResponseRecord, Status};
use crate::config::EndpointMeta;
use crate::plan::Plan;
use crate::store::columns::Columns;
use crate::store::{Output, StoreError, TableWriter, date32, utc_micros, write_batch};

pub const TABLE: &str = "responses";
const BATCH_ROWS: usize = 4096;

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Arc::new(Schema::new(vec![
        f("run_id", Utf8, false),
        f("endpoint", Utf8, false),
        f("provider", Utf8, false),
        f("model", Utf8, false),
        f("vendor", Utf8, true),
        f("family", Utf8, true),
        f("release_date", Date32, true),
        f("parents", List(Arc::new(Field::new("item", Utf8, true))), false),
        f("probe_id", Utf8, false),
        f("category", Utf8, false),
        f("sample_index", Int32, false),
        f("temperature", Float64, true),
        f("top_p", Float64, true),
        f("max_tokens", Int32, false),
        f("seed", UInt64, true),
        f("status", Utf8, false),
        f("error_kind", Utf8, true),
        f("error_message", Utf8, true),
        f("http_status", Int32, true),
        f("attempts", Int32, false),
        f("latency_ms", Int64, false),
        f("elapsed_ms", Int64, false),
        f("prompt_tokens", Int64, true),
        f("completion_tokens", Int64, true),
        f("finish_reason", Utf8, true),
        f("response_text", Utf8, true),
        f("response_truncated", Boolean, false),
        f("response_hash", Utf8, true),
        f("started_at", utc_micros(), false),
        f("finished_at", utc_micros(), false),
        // A paired probe's side (control / exposed) and its feed's id; null for other probes.
        f("condition", Utf8, true),
        f("feed_id", Utf8, true),
    ]))
});

/// Counts of the rows written, per endpoint name: (ok, failed).
pub type EndpointCounts = HashMap<String, (u64, u64)>;

/// Streams a run's journal into the `responses` table, each (endpoint, probe, sample) once (the
/// first journaled outcome wins). Rows for names the plan does not know are skipped with a
/// warning (they cannot come from the same plan).
pub fn write_from_journal(plan: &Plan, run_id: &str, journal: &Path, out: &Path) -> Result<EndpointCounts, StoreError> {
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
    let mut batch: Vec<Row> = Vec::with_capacity(BATCH_ROWS);
    let mut unknown = 0u64;
    let mut writer = TableWriter::create(out, Arc::clone(&SCHEMA))?;
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
        batch.push((e, p, rec));
        if batch.len() == BATCH_ROWS {
            writer.write(&to_batch(plan, run_id, &batch)?)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        writer.write(&to_batch(plan, run_id, &batch)?)?;
    }
    writer.finish()?;
    let _ = reader.join();
    if unknown > 0 {
        tracing::warn!(rows = unknown, "journal rows that name no endpoint, probe or sample of this plan were skipped");
    }
    Ok(counts)
}

/// A record with its endpoint and probe indices in the plan.
type Row = (usize, usize, ResponseRecord);

fn to_batch(plan: &Plan, run_id: &str, rows: &[Row]) -> Result<RecordBatch, StoreError> {
    let eps = &plan.config.endpoints;
    let probes = &plan.suite.probes;
    let strs =
        |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef { Arc::new(rows.iter().map(f).collect::<StringArray>()) };
    let mut parents = ListBuilder::new(StringBuilder::new());
    for (e, _, _) in rows {
        for p in &eps[*e].meta.parents {
            parents.values().append_value(p);
        }
        parents.append(true);
    }
    let ts = |f: &dyn Fn(&ResponseRecord) -> i64| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| f(&r.2))).with_timezone("UTC"))
    };
    let columns: Vec<ArrayRef> = vec![
        strs(&|_| Some(run_id.to_owned())),
        strs(&|(e, _, _)| Some(eps[*e].name.clone())),
        strs(&|(e, _, _)| Some(eps[*e].provider.as_str().to_owned())),
        strs(&|(e, _, _)| Some(eps[*e].model.clone())),
        strs(&|(e, _, _)| eps[*e].meta.vendor.clone()),
        strs(&|(e, _, _)| eps[*e].meta.family.clone()),
        Arc::new(rows.iter().map(|(e, _, _)| eps[*e].meta.release_date.map(date32)).collect::<Date32Array>()),
        Arc::new(parents.finish()),
        strs(&|(_, p, _)| Some(probes[*p].id.clone())),
        strs(&|(_, p, _)| Some(probes[*p].category.clone())),
        Arc::new(rows.iter().map(|r| r.2.sample_index as i32).collect::<Int32Array>()),
        Arc::new(rows.iter().map(|r| r.2.params.temperature).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.2.params.top_p).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.2.params.max_tokens as i32).collect::<Int32Array>()),
        Arc::new(rows.iter().map(|r| r.2.params.seed).collect::<UInt64Array>()),
        strs(&|r| Some(r.2.status.as_str().to_owned())),
        strs(&|r| r.2.error_kind.map(|k| k.as_str().to_owned())),
        strs(&|r| r.2.error_message.clone()),
        Arc::new(rows.iter().map(|r| r.2.http_status.map(i32::from)).collect::<Int32Array>()),
        Arc::new(rows.iter().map(|r| r.2.attempts as i32).collect::<Int32Array>()),
        Arc::new(rows.iter().map(|r| r.2.latency_ms as i64).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.2.elapsed_ms as i64).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.2.prompt_tokens.map(|v| v as i64)).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.2.completion_tokens.map(|v| v as i64)).collect::<Int64Array>()),
        strs(&|r| r.2.finish_reason.clone()),
        strs(&|r| r.2.text.clone()),
        Arc::new(rows.iter().map(|r| Some(r.2.text_truncated)).collect::<BooleanArray>()),
        strs(&|r| r.2.text.as_ref().map(|t| crate::util::sha256_hex(t.as_bytes()))),
        ts(&|r| r.started_at.timestamp_micros()),
        ts(&|r| r.finished_at.timestamp_micros()),
        strs(&|(_, p, _)| probes[*p].condition().map(|c| c.as_str().to_owned())),
        strs(&|(_, p, _)| probes[*p].pairing.as_ref().map(|x| x.feed_id.clone())),
    ];
    RecordBatch::try_new(Arc::clone(&SCHEMA), columns).map_err(|source| StoreError::Arrow { table: TABLE, source })
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
            let batch = batch.map_err(|source| StoreError::Arrow { table: TABLE, source })?;
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
        let batch = batch.map_err(|source| StoreError::Arrow { table: TABLE, source })?;
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
        let batch = batch.map_err(|source| StoreError::Arrow { table: TABLE, source })?;
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

/// Where a run's `responses` file is.
pub fn path(output: &Output, run_date: chrono::NaiveDate, run_id: &str) -> std::path::PathBuf {
    output.table_path(TABLE, run_date, run_id)
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

/// Writes imported responses as a `responses` table: every row ok, with no request behind it
/// (provider `import`, no sampling parameters, no latency, no token counts), declaring nothing.
pub fn write_imported(
    out: &Path,
    run_id: &str,
    at: chrono::DateTime<chrono::Utc>,
    rows: &[ImportedResponse],
) -> Result<u64, StoreError> {
    write_batch(out, imported_batch(run_id, at, rows, &|_| None)?)
}

/// One batch of imported responses (see [`write_imported`]), for writing a large import in
/// batches, each model with what its card declares (`import --models`).
pub fn imported_batch(
    run_id: &str,
    at: chrono::DateTime<chrono::Utc>,
    rows: &[ImportedResponse],
    declared: &dyn Fn(&str) -> Option<EndpointMeta>,
) -> Result<RecordBatch, StoreError> {
    let s = |f: &dyn Fn(&ImportedResponse) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let metas: Vec<Option<EndpointMeta>> = rows.iter().map(|r| declared(&r.model)).collect();
    let mut parents = ListBuilder::new(StringBuilder::new());
    for meta in &metas {
        for p in meta.iter().flat_map(|m| &m.parents) {
            parents.values().append_value(p);
        }
        parents.append(true);
    }
    let n = rows.len();
    let micros = at.timestamp_micros();
    let ts = || -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(micros, n)).with_timezone("UTC"))
    };
    let columns: Vec<ArrayRef> = vec![
        s(&|_| Some(run_id.to_owned())),
        s(&|r| Some(r.model.clone())),
        s(&|_| Some("import".to_owned())),
        s(&|r| Some(r.model.clone())),
        Arc::new(metas.iter().map(|m| m.as_ref().and_then(|m| m.vendor.clone())).collect::<StringArray>()),
        Arc::new(metas.iter().map(|m| m.as_ref().and_then(|m| m.family.clone())).collect::<StringArray>()),
        Arc::new(metas.iter().map(|m| m.as_ref().and_then(|m| m.release_date.map(date32))).collect::<Date32Array>()),
        Arc::new(parents.finish()),
        s(&|r| Some(r.probe_id.clone())),
        s(&|r| Some(r.category.clone())),
        Arc::new(rows.iter().map(|r| r.sample_index).collect::<Int32Array>()),
        Arc::new(Float64Array::from(vec![None; n])),
        Arc::new(Float64Array::from(vec![None; n])),
        Arc::new(Int32Array::from(vec![0; n])),
        Arc::new(UInt64Array::from(vec![None; n])),
        s(&|_| Some("ok".to_owned())),
        s(&|_| None),
        s(&|_| None),
        Arc::new(Int32Array::from(vec![None; n])),
        Arc::new(Int32Array::from(vec![0; n])),
        Arc::new(Int64Array::from(vec![0; n])),
        Arc::new(Int64Array::from(vec![0; n])),
        Arc::new(Int64Array::from(vec![None; n])),
        Arc::new(Int64Array::from(vec![None; n])),
        s(&|_| None),
        s(&|r| Some(r.text.clone())),
        Arc::new(rows.iter().map(|r| Some(r.truncated)).collect::<BooleanArray>()),
        s(&|r| Some(crate::util::sha256_hex(r.text.as_bytes()))),
        ts(),
        ts(),
        s(&|_| None),
        s(&|_| None),
    ];
    RecordBatch::try_new(Arc::clone(&SCHEMA), columns).map_err(|source| StoreError::Arrow { table: TABLE, source })
}
