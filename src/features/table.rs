//! Table `features`: one row per ok response: its behavioural features (see
//! [`crate::features`]), the lexicon version and the refusal detector that produced them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDate;

use super::adoption::Adoption;
use super::{Features, Flags, Refusal};
use crate::collect::responses::OkText;
use crate::probes::feed::Condition;
use crate::store::columns::Columns;
use crate::store::{Output, StoreError};

pub const TABLE: &str = "features";

pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    use DataType::*;
    let f = |name: &str, dt: DataType| Field::new(name, dt, false);
    Arc::new(Schema::new(vec![
        f("run_id", Utf8),
        f("endpoint", Utf8),
        f("probe_id", Utf8),
        f("category", Utf8),
        f("sample_index", Int32),
        f("lexicon_version", Utf8),
        f("refusal_detector", Utf8),
        f("refusal", Utf8),
        f("refused", Boolean),
        f("hedging", Boolean),
        f("hedge_count", Int32),
        f("uncertainty_count", Int32),
        f("confident", Boolean),
        f("confidence_count", Int32),
        f("self_reference", Boolean),
        f("self_reference_count", Int32),
        f("list_items", Int32),
        f("headings", Int32),
        f("code_blocks", Int32),
        f("chars", Int64),
        f("words", Int64),
        f("language", Utf8),
        // Paired probes only (null elsewhere): the side, and the adoption of the feed.
        Field::new("condition", Utf8, true),
        Field::new("adopted", Boolean, true),
        Field::new("marker_count", Int32, true),
    ]))
});

pub fn path(output: &Output, run_date: NaiveDate, run_id: &str) -> PathBuf {
    output.table_path(TABLE, run_date, run_id)
}

pub fn batch(
    run_id: &str,
    lexicon_version: &str,
    refusal_detector: &str,
    categories: &HashMap<String, String>,
    rows: &[OkText],
    features: &[Features],
    adoption: &[Option<(Condition, Adoption)>],
) -> Result<RecordBatch, StoreError> {
    let s = |v: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let b = |f: &dyn Fn(&Features) -> bool| -> ArrayRef {
        Arc::new(features.iter().map(|x| Some(f(x))).collect::<BooleanArray>())
    };
    let i = |f: &dyn Fn(&Features) -> u32| -> ArrayRef {
        Arc::new(features.iter().map(|x| f(x) as i32).collect::<Int32Array>())
    };
    let l = |f: &dyn Fn(&Features) -> u32| -> ArrayRef {
        Arc::new(features.iter().map(|x| i64::from(f(x))).collect::<Int64Array>())
    };
    let columns = vec![
        s(vec![run_id; rows.len()]),
        s(rows.iter().map(|r| r.endpoint.as_str()).collect()),
        s(rows.iter().map(|r| r.probe_id.as_str()).collect()),
        s(rows.iter().map(|r| categories.get(&r.probe_id).map_or("", String::as_str)).collect()),
        Arc::new(rows.iter().map(|r| r.sample_index).collect::<Int32Array>()) as ArrayRef,
        s(vec![lexicon_version; rows.len()]),
        s(vec![refusal_detector; rows.len()]),
        s(features.iter().map(|f| f.refusal.as_str()).collect()),
        b(&|f| f.refusal.is_refusal()),
        b(&Features::hedging),
        i(&|f| f.hedges),
        i(&|f| f.uncertainty),
        b(&Features::confident),
        i(&|f| f.confidence),
        b(&|f| f.self_reference > 0),
        i(&|f| f.self_reference),
        i(&|f| f.list_items),
        i(&|f| f.headings),
        i(&|f| f.code_blocks),
        l(&|f| f.chars),
        l(&|f| f.words),
        s(features.iter().map(|f| f.language).collect()),
        Arc::new(adoption.iter().map(|a| a.map(|(c, _)| c.as_str())).collect::<StringArray>()),
        Arc::new(adoption.iter().map(|a| a.map(|(_, a)| a.adopted)).collect::<BooleanArray>()),
        Arc::new(
            adoption.iter().map(|a| a.and_then(|(_, a)| a.marker_count.map(|n| n as i32))).collect::<Int32Array>(),
        ),
    ];
    RecordBatch::try_new(Arc::clone(&SCHEMA), columns).map_err(|source| StoreError::Arrow { table: TABLE, source })
}

/// (endpoint, probe id) -> the flags of its responses, from a `features` file.
pub fn read_flags(path: &Path) -> Result<HashMap<(String, String), Vec<Flags>>, StoreError> {
    let wanted = ["endpoint", "probe_id", "refusal", "hedging", "confident", "self_reference"];
    let mut out: HashMap<(String, String), Vec<Flags>> = HashMap::new();
    for batch in crate::store::projected_reader(path, &wanted, 8192)? {
        let batch = batch.map_err(|source| StoreError::Arrow { table: TABLE, source })?;
        let c = Columns::new(&batch, path);
        let (endpoint, probe, refusal) = (c.strings("endpoint")?, c.strings("probe_id")?, c.strings("refusal")?);
        let (hedging, confident, self_ref) = (c.bools("hedging")?, c.bools("confident")?, c.bools("self_reference")?);
        for i in 0..batch.num_rows() {
            let refusal = Refusal::parse(refusal.value(i));
            out.entry((endpoint.value(i).to_owned(), probe.value(i).to_owned())).or_default().push(Flags {
                refusal,
                hedging: hedging.value(i),
                confident: confident.value(i),
                self_reference: self_ref.value(i),
            });
        }
    }
    Ok(out)
}

/// One paired response's adoption, as the contagion measures read it.
#[derive(Debug, Clone, PartialEq)]
pub struct AdoptionRow {
    pub endpoint: String,
    pub probe_id: String,
    pub condition: Condition,
    pub adopted: bool,
    pub marker_count: Option<u32>,
}

/// The adoption rows of a `features` file (none for a run without paired probes, or written
/// before adoption was scored).
pub fn read_adoption(path: &Path) -> Result<Vec<AdoptionRow>, StoreError> {
    use arrow_array::Array;
    let mut out = Vec::new();
    if !crate::store::has_column(path, "adopted")? {
        return Ok(out);
    }
    let wanted = ["endpoint", "probe_id", "condition", "adopted", "marker_count"];
    for batch in crate::store::projected_reader(path, &wanted, 8192)? {
        let batch = batch.map_err(|source| StoreError::Arrow { table: TABLE, source })?;
        let c = Columns::new(&batch, path);
        let (endpoint, probe, condition) = (c.strings("endpoint")?, c.strings("probe_id")?, c.strings("condition")?);
        let (adopted, markers) = (c.bools("adopted")?, c.i32s("marker_count")?);
        for i in 0..batch.num_rows() {
            let Some(condition) = Columns::opt_str(condition, i).and_then(Condition::parse) else { continue };
            out.push(AdoptionRow {
                endpoint: endpoint.value(i).to_owned(),
                probe_id: probe.value(i).to_owned(),
                condition,
                adopted: !adopted.is_null(i) && adopted.value(i),
                marker_count: (!markers.is_null(i)).then(|| markers.value(i).max(0) as u32),
            });
        }
    }
    Ok(out)
}
