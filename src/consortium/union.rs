//! The union `responses` of a consortium's night: every published member's rows, once, keyed by
//! (member, endpoint). Two members may name endpoints alike, so in the union an endpoint is
//! `<member>/<endpoint>` (the name every later table keys models by), and two columns are
//! added at the end: `member` and `member_run_id` (the member's own run, under
//! `members/member=<name>/`). `model` stays the model name the member sent.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{Field, Schema};

use crate::collect::responses::ResponsesTable;
use crate::store::table::{self, RunRef, Table};
use crate::store::{Output, StoreError, TableWriter};

/// `responses`' columns (its declaration's), then `member` and `member_run_id`.
pub static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    let mut fields: Vec<Field> =
        table::schema::<ResponsesTable>().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("member", arrow_schema::DataType::Utf8, false));
    fields.push(Field::new("member_run_id", arrow_schema::DataType::Utf8, false));
    Arc::new(Schema::new(fields))
});

const TABLE: &str = ResponsesTable::DECL.name;

/// One member's published night, as it goes into the union.
#[derive(Debug, Clone)]
pub struct MemberPart {
    pub member: String,
    pub run_id: String,
    /// The member's `responses` file (local: in place, or pulled into the mirror).
    pub responses: PathBuf,
    /// What the member embedded and described itself (`[consortium] embed = "member"`).
    pub own: Option<OwnFiles>,
}

/// A member's own `embeddings` and `features` (local copies), checked against its manifest.
#[derive(Debug, Clone)]
pub struct OwnFiles {
    /// The embedder its `runs` row names.
    pub embedder_id: String,
    /// Its `embeddings` file of the coordinator's embedder (None: it published none).
    pub embeddings: Option<PathBuf>,
    pub features: Option<PathBuf>,
}

/// The union's name for a member's endpoint.
pub fn endpoint_name(member: &str, endpoint: &str) -> String {
    format!("{member}/{endpoint}")
}

/// Writes the union of the members' `responses` as the run's `responses` file, streaming (a
/// batch in memory at a time). Returns the rows written.
pub fn write(output: &Output, run: &RunRef, parts: &[MemberPart]) -> Result<u64, StoreError> {
    let mut writer = TableWriter::create(&table::path::<ResponsesTable>(output, run), Arc::clone(&SCHEMA))?;
    for part in parts {
        for batch in crate::store::batch_reader(&part.responses, 4096)? {
            let batch = batch.map_err(|source| StoreError::Arrow { table: TABLE, source })?;
            writer.write(&relabel(&batch, &part.responses, &run.id, part)?)?;
        }
    }
    writer.finish()
}

/// Reads a member's responses through as the union takes them: a truncated file, or a column
/// missing or of another type, is found before the union is written, so that member alone is
/// left out. Returns its rows.
pub fn check(part: &MemberPart) -> Result<u64, StoreError> {
    let mut rows = 0;
    for batch in crate::store::batch_reader(&part.responses, 4096)? {
        let batch = batch.map_err(|source| StoreError::Arrow { table: TABLE, source })?;
        rows += relabel(&batch, &part.responses, &part.run_id, part)?.num_rows() as u64;
    }
    Ok(rows)
}

/// A member's batch as union rows: its columns by name (a missing or retyped one names the
/// file), the union's run id, prefixed endpoint names, and the member columns.
fn relabel(batch: &RecordBatch, path: &Path, run_id: &str, part: &MemberPart) -> Result<RecordBatch, StoreError> {
    let n = batch.num_rows();
    let column_error =
        |name: &str, problem: String| StoreError::Column { path: path.to_owned(), column: name.to_owned(), problem };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(SCHEMA.fields().len());
    for field in &SCHEMA.fields()[..SCHEMA.fields().len() - 2] {
        let name = field.name();
        let column = match name.as_str() {
            "run_id" => Arc::new(StringArray::from(vec![run_id; n])) as ArrayRef,
            "endpoint" => {
                let c = crate::store::columns::Columns::new(batch, path);
                let endpoints = c.strings("endpoint")?;
                Arc::new((0..n).map(|i| Some(endpoint_name(&part.member, endpoints.value(i)))).collect::<StringArray>())
            }
            // A member on a release from before a nullable column existed: its rows have none.
            _ if field.is_nullable() && batch.column_by_name(name).is_none() => {
                arrow_array::new_null_array(field.data_type(), n)
            }
            _ => {
                let c = batch.column_by_name(name).ok_or_else(|| column_error(name, "is missing".into()))?;
                if c.data_type() != field.data_type() {
                    return Err(column_error(
                        name,
                        format!("is {} where {} was expected", c.data_type(), field.data_type()),
                    ));
                }
                if !field.is_nullable() && c.null_count() > 0 {
                    return Err(column_error(name, "holds nulls".into()));
                }
                Arc::clone(c)
            }
        };
        columns.push(column);
    }
    columns.push(Arc::new(StringArray::from(vec![part.member.as_str(); n])));
    columns.push(Arc::new(StringArray::from(vec![part.run_id.as_str(); n])));
    RecordBatch::try_new(Arc::clone(&SCHEMA), columns).map_err(|source| StoreError::Arrow { table: TABLE, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::responses::{ImportedResponse, write_imported};
    use crate::store::EmbedderTag;

    #[test]
    fn members_with_the_same_endpoint_names_stay_apart() {
        let dir = tempfile::tempdir().unwrap();
        let row = |model: &str, probe: &str| ImportedResponse {
            model: model.into(),
            probe_id: probe.into(),
            category: "c".into(),
            sample_index: 0,
            text: format!("{model} on {probe}"),
            truncated: false,
        };
        let at = chrono::Utc::now();
        let output = Output::local(dir.path());
        let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let run = |id: &str| RunRef::new(date, id, EmbedderTag { name: "lexical".into(), id: "lexical-v1".into() });
        let a = write_imported(&output, &run("run-a"), at, &[row("gpt", "p1"), row("gpt", "p2")]).unwrap();
        let b = write_imported(&output, &run("run-b"), at, &[row("gpt", "p1")]).unwrap();
        let parts = [
            MemberPart { member: "lab-a".into(), run_id: "run-a".into(), responses: a, own: None },
            MemberPart { member: "lab-b".into(), run_id: "run-b".into(), responses: b, own: None },
        ];
        let union = run("consortium-20260101");
        assert_eq!(write(&output, &union, &parts).unwrap(), 3);
        let out = table::path::<ResponsesTable>(&output, &union);

        let batches = crate::store::read_batches(&out).unwrap();
        let c = crate::store::columns::Columns::new(&batches[0], &out);
        let endpoints: Vec<&str> = (0..3).map(|i| c.strings("endpoint").unwrap().value(i)).collect();
        assert_eq!(endpoints, ["lab-a/gpt", "lab-a/gpt", "lab-b/gpt"]);
        assert_eq!(c.strings("member").unwrap().value(2), "lab-b");
        assert_eq!(c.strings("member_run_id").unwrap().value(0), "run-a");
        assert_eq!(c.strings("run_id").unwrap().value(1), "consortium-20260101");
        assert_eq!(c.strings("model").unwrap().value(2), "gpt", "the model sent is kept");
        // Later stages read the union like any responses file.
        let mut texts = crate::collect::responses::OkTexts::open(&out, 10).unwrap();
        assert_eq!(texts.next_chunk().unwrap().unwrap().len(), 3);
    }
}
