//! Declared tables: what every table is, said once. A table is a type implementing [`Table`]:
//! its [`TableDecl`] (name, file layout, what later nights read of it), its row type, and two
//! functions, rows to Arrow through a [`Builder`] and Arrow back to rows through
//! [`Columns`]. The builder's calls are the schema: the schema is what it gives for no rows
//! ([`schema`]), so no list of fields can drift from the code that fills them.
//!
//! Everything else is generic: where a run's file is ([`path`]), writing a run's rows whole
//! ([`write`]) or batch by batch ([`writer`] and [`batch`], for the streamed tables), and
//! reading them back ([`read`], [`read_if_any`]). A run is named by a [`RunRef`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt64Array,
};
use arrow_schema::{Field, Schema, SchemaRef};
use chrono::{DateTime, NaiveDate, Utc};

use super::columns::Columns;
use super::{EmbedderTag, Output, StoreError, TableWriter, date32};

/// A run as every stage names it: its partition date, its id, and the embedder the tail
/// analyses it with (run, import and analyze build the embedder before anything else).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunRef {
    pub date: NaiveDate,
    pub id: String,
    pub tag: EmbedderTag,
}

impl RunRef {
    pub fn new(date: NaiveDate, id: impl Into<String>, tag: EmbedderTag) -> Self {
        RunRef { date, id: id.into(), tag }
    }

    /// What [`schema`] builds no rows for: none of it is ever read.
    fn nobody() -> Self {
        RunRef::new(NaiveDate::MIN, "", EmbedderTag { name: String::new(), id: String::new() })
    }
}

/// Whether a table has one file per run, or one per run and embedder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `<table>/run_date=D/<run_id>.parquet` ([`Output::table_path`]).
    PerRun,
    /// `<table>/run_date=D/<run_id>.<embedder name>-<8 hex>.parquet`
    /// ([`Output::per_embedder_path`]): the same run analysed two ways keeps both.
    PerEmbedder,
}

/// What later nights read of a table's earlier files (what an object-store output pulls into
/// its mirror before the tail, `remote/history.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// Only the night that wrote it.
    No,
    /// Every run within the look-back window (`runs`: which runs there are; `trends`: the
    /// CUSUM state; `alerts`: the report's history).
    Window,
    /// The comparable runs of the window (`run_metrics`: the trend windows). A run is
    /// comparable only when it has these files.
    Comparable,
    /// The latest comparable run only (`probe_metrics`: the report's probes that moved).
    LatestComparable,
}

/// A table's name, file layout and history, declared once beside its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDecl {
    pub name: &'static str,
    pub layout: Layout,
    pub history: History,
}

impl TableDecl {
    /// One file per run, read by no later night.
    pub const fn per_run(name: &'static str) -> Self {
        TableDecl { name, layout: Layout::PerRun, history: History::No }
    }

    /// One file per run and embedder, read by no later night.
    pub const fn per_embedder(name: &'static str) -> Self {
        TableDecl { name, layout: Layout::PerEmbedder, history: History::No }
    }

    /// The same table, read by later nights as `history` says.
    pub const fn read_later(self, history: History) -> Self {
        TableDecl { history, ..self }
    }

    /// Where `run`'s file of this table is.
    pub fn path(&self, output: &Output, run: &RunRef) -> PathBuf {
        match self.layout {
            Layout::PerRun => output.table_path(self.name, run.date, &run.id),
            Layout::PerEmbedder => output.per_embedder_path(self.name, run.date, &run.id, &run.tag),
        }
    }
}

/// A table: its declaration, its row type, and the two directions between rows and Arrow.
pub trait Table {
    type Row;
    const DECL: TableDecl;

    /// `rows` as columns, in the table's order: each call on `b` is one column, its name, type
    /// and nullability (so the schema is this for no rows). `run` gives the columns that are
    /// the same on every row (`run_id`, `embedder_id`).
    fn to_arrow(run: &RunRef, rows: &[Self::Row], b: Builder) -> Builder;

    /// One batch of a file of this table back as rows (a missing or retyped column is a
    /// [`StoreError::Column`] naming the file, through [`Columns`]).
    fn from_arrow(c: &Columns) -> Result<Vec<Self::Row>, StoreError>;
}

/// Where `run`'s file of table `T` is.
pub fn path<T: Table>(output: &Output, run: &RunRef) -> PathBuf {
    T::DECL.path(output, run)
}

/// Table `T`'s Arrow schema: what its builder gives for no rows.
pub fn schema<T: Table>() -> SchemaRef {
    T::to_arrow(&RunRef::nobody(), &[], Builder::new(0)).schema()
}

/// `rows` as one Arrow batch of table `T` (a streamed table writes these to a [`writer`]).
pub fn batch<T: Table>(run: &RunRef, rows: &[T::Row]) -> Result<RecordBatch, StoreError> {
    T::to_arrow(run, rows, Builder::new(rows.len())).finish(T::DECL.name)
}

/// Writes `run`'s rows of table `T` as a whole file, atomically (replacing an earlier one);
/// returns its path.
pub fn write<T: Table>(output: &Output, run: &RunRef, rows: &[T::Row]) -> Result<PathBuf, StoreError> {
    let path = path::<T>(output, run);
    write_file::<T>(&path, run, rows)?;
    Ok(path)
}

/// Writes rows of table `T` as a whole file elsewhere (a cache in the state folder), atomically.
pub fn write_file<T: Table>(path: &Path, run: &RunRef, rows: &[T::Row]) -> Result<(), StoreError> {
    super::write_batch(path, batch::<T>(run, rows)?).map(|_| ())
}

/// A writer for `run`'s file of table `T`, filled batch by batch ([`batch`]) and published by
/// [`TableWriter::finish`].
pub fn writer<T: Table>(output: &Output, run: &RunRef) -> Result<TableWriter, StoreError> {
    TableWriter::create(&path::<T>(output, run), schema::<T>())
}

/// Reads `run`'s file of table `T` back (no file: an error).
pub fn read<T: Table>(output: &Output, run: &RunRef) -> Result<Vec<T::Row>, StoreError> {
    read_file::<T>(&path::<T>(output, run))
}

/// Reads `run`'s file of table `T` back; no file (a run written before the table existed, or
/// one that has none of its rows): no rows.
pub fn read_if_any<T: Table>(output: &Output, run: &RunRef) -> Result<Vec<T::Row>, StoreError> {
    let path = path::<T>(output, run);
    if path.exists() { read_file::<T>(&path) } else { Ok(Vec::new()) }
}

/// Reads a file of table `T` wherever it is (one named by a stage's result, a cache in the
/// state folder).
pub fn read_file<T: Table>(path: &Path) -> Result<Vec<T::Row>, StoreError> {
    let mut out = Vec::new();
    for batch in super::read_batches(path)? {
        out.extend(T::from_arrow(&Columns::new(&batch, path))?);
    }
    Ok(out)
}

/// The columns of a batch being built, in order: each call adds one column, named and typed,
/// non-null unless its name starts with `opt_`.
pub struct Builder {
    rows: usize,
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl Builder {
    /// A batch of `rows` rows.
    pub fn new(rows: usize) -> Self {
        Builder { rows, fields: Vec::new(), columns: Vec::new() }
    }

    fn column(mut self, name: &str, nullable: bool, column: ArrayRef) -> Self {
        self.fields.push(Field::new(name, column.data_type().clone(), nullable));
        self.columns.push(column);
        self
    }

    /// The same string on every row (`run_id`, `embedder_id`).
    pub fn same_str(self, name: &str, value: &str) -> Self {
        let rows = self.rows;
        self.column(name, false, Arc::new(StringArray::from_iter_values(std::iter::repeat_n(value, rows))))
    }

    pub fn str<S: AsRef<str>>(self, name: &str, values: impl IntoIterator<Item = S>) -> Self {
        self.column(name, false, Arc::new(StringArray::from_iter_values(values)))
    }

    pub fn opt_str<S: AsRef<str>>(self, name: &str, values: impl IntoIterator<Item = Option<S>>) -> Self {
        self.column(name, true, Arc::new(values.into_iter().collect::<StringArray>()))
    }

    pub fn bool(self, name: &str, values: impl IntoIterator<Item = bool>) -> Self {
        self.column(name, false, Arc::new(values.into_iter().map(Some).collect::<BooleanArray>()))
    }

    pub fn opt_bool(self, name: &str, values: impl IntoIterator<Item = Option<bool>>) -> Self {
        self.column(name, true, Arc::new(values.into_iter().collect::<BooleanArray>()))
    }

    pub fn i32(self, name: &str, values: impl IntoIterator<Item = i32>) -> Self {
        self.column(name, false, Arc::new(Int32Array::from_iter_values(values)))
    }

    pub fn opt_i32(self, name: &str, values: impl IntoIterator<Item = Option<i32>>) -> Self {
        self.column(name, true, Arc::new(values.into_iter().collect::<Int32Array>()))
    }

    pub fn i64(self, name: &str, values: impl IntoIterator<Item = i64>) -> Self {
        self.column(name, false, Arc::new(Int64Array::from_iter_values(values)))
    }

    pub fn opt_i64(self, name: &str, values: impl IntoIterator<Item = Option<i64>>) -> Self {
        self.column(name, true, Arc::new(values.into_iter().collect::<Int64Array>()))
    }

    pub fn opt_u64(self, name: &str, values: impl IntoIterator<Item = Option<u64>>) -> Self {
        self.column(name, true, Arc::new(values.into_iter().collect::<UInt64Array>()))
    }

    pub fn f64(self, name: &str, values: impl IntoIterator<Item = f64>) -> Self {
        self.column(name, false, Arc::new(Float64Array::from_iter_values(values)))
    }

    pub fn opt_f64(self, name: &str, values: impl IntoIterator<Item = Option<f64>>) -> Self {
        self.column(name, true, Arc::new(values.into_iter().collect::<Float64Array>()))
    }

    /// A date, as Arrow's Date32 (days since the epoch).
    pub fn opt_date32(self, name: &str, values: impl IntoIterator<Item = Option<NaiveDate>>) -> Self {
        self.column(name, true, Arc::new(values.into_iter().map(|d| d.map(date32)).collect::<Date32Array>()))
    }

    /// A timestamp in UTC microseconds ([`super::utc_micros`]).
    pub fn utc_micros(self, name: &str, values: impl IntoIterator<Item = DateTime<Utc>>) -> Self {
        let micros = values.into_iter().map(|t| t.timestamp_micros());
        self.column(name, false, Arc::new(TimestampMicrosecondArray::from_iter_values(micros).with_timezone("UTC")))
    }

    pub fn opt_utc_micros(self, name: &str, values: impl IntoIterator<Item = Option<DateTime<Utc>>>) -> Self {
        let micros = values.into_iter().map(|t| t.map(|t| t.timestamp_micros()));
        self.column(name, true, Arc::new(micros.collect::<TimestampMicrosecondArray>().with_timezone("UTC")))
    }

    /// A list of strings on every row (the list is never null; its items may be).
    pub fn list_str<L, S>(self, name: &str, values: impl IntoIterator<Item = L>) -> Self
    where
        L: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = ListBuilder::new(StringBuilder::new());
        for items in values {
            for item in items {
                list.values().append_value(item);
            }
            list.append(true);
        }
        self.column(name, false, Arc::new(list.finish()))
    }

    /// A list of float32 on every row (an embedding; never null).
    pub fn list_f32<L: AsRef<[f32]>>(self, name: &str, values: impl IntoIterator<Item = L>) -> Self {
        let mut list = ListBuilder::new(Float32Builder::new());
        for v in values {
            list.values().append_slice(v.as_ref());
            list.append(true);
        }
        self.column(name, false, Arc::new(list.finish()))
    }

    /// The columns' schema (for no rows: the table's).
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.fields.clone()))
    }

    /// The batch; `table` names it in an error (columns of unequal lengths, a null in a
    /// non-null column).
    pub fn finish(self, table: &'static str) -> Result<RecordBatch, StoreError> {
        RecordBatch::try_new(self.schema(), self.columns).map_err(|source| StoreError::Arrow { table, source })
    }
}

#[cfg(test)]
mod tests {
    use arrow_schema::DataType;

    use super::*;

    struct Pairs;

    impl Table for Pairs {
        type Row = (String, Option<f64>);
        const DECL: TableDecl = TableDecl::per_embedder("pairs").read_later(History::Window);

        fn to_arrow(run: &RunRef, rows: &[Self::Row], b: Builder) -> Builder {
            b.same_str("run_id", &run.id)
                .str("name", rows.iter().map(|r| &r.0))
                .opt_f64("value", rows.iter().map(|r| r.1))
        }

        fn from_arrow(c: &Columns) -> Result<Vec<Self::Row>, StoreError> {
            let (name, value) = (c.strings("name")?, c.f64s("value")?);
            Ok((0..c.rows()).map(|i| (name.value(i).to_owned(), Columns::opt_f64(value, i))).collect())
        }
    }

    #[test]
    fn the_builder_is_the_schema_and_rows_read_back() {
        let schema = schema::<Pairs>();
        let fields: Vec<_> =
            schema.fields().iter().map(|f| (f.name().as_str(), f.data_type().clone(), f.is_nullable())).collect();
        assert_eq!(
            fields,
            [("run_id", DataType::Utf8, false), ("name", DataType::Utf8, false), ("value", DataType::Float64, true)]
        );

        let dir = tempfile::tempdir().unwrap();
        let output = Output::local(dir.path());
        let tag = EmbedderTag { name: "lexical".into(), id: "lexical-v1".into() };
        let run = RunRef::new(NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(), "r1", tag.clone());
        let rows = vec![("a".to_owned(), Some(0.5)), ("b".to_owned(), None)];
        let written = write::<Pairs>(&output, &run, &rows).unwrap();
        assert_eq!(written, output.per_embedder_path("pairs", run.date, "r1", &tag));
        assert_eq!(read::<Pairs>(&output, &run).unwrap(), rows);
        let other = RunRef { id: "r2".into(), ..run };
        assert!(read_if_any::<Pairs>(&output, &other).unwrap().is_empty());
        assert!(read::<Pairs>(&output, &other).is_err());
    }
}
