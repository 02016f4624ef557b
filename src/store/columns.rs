//! Typed access to a batch's columns by name. A missing column, or one of another type, is a
//! [`StoreError::Column`] naming the file and the column (a file written by another version of
//! hivewatch), never a panic.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType, UInt64Type,
};
use arrow_array::{
    Array, BooleanArray, Date32Array, Float64Array, GenericListArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt64Array,
};
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};

use super::StoreError;

/// A batch read from `path`, whose columns are looked up by name.
#[derive(Clone, Copy)]
pub struct Columns<'a> {
    batch: &'a RecordBatch,
    path: &'a Path,
}

impl<'a> Columns<'a> {
    pub fn new(batch: &'a RecordBatch, path: &'a Path) -> Self {
        Columns { batch, path }
    }

    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// The file the batch was read from.
    pub fn path(&self) -> &'a Path {
        self.path
    }

    /// A [`StoreError::Column`] naming this file and `column` (a value this version cannot read).
    pub fn error(&self, column: &str, problem: impl Into<String>) -> StoreError {
        StoreError::Column { path: self.path.to_owned(), column: column.to_owned(), problem: problem.into() }
    }

    /// The run date of the Hive partition the file is in (`.../run_date=YYYY-MM-DD/<file>`): a
    /// column for DuckDB, a folder on disk.
    pub fn partition_date(&self) -> Result<NaiveDate, StoreError> {
        let folder = self.path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str());
        folder
            .and_then(super::partition_date)
            .ok_or_else(|| self.error("run_date", "is not in a run_date=YYYY-MM-DD folder"))
    }

    /// Whether the batch has a column (tables gain columns; older files lack them).
    pub fn has(&self, name: &str) -> bool {
        self.batch.column_by_name(name).is_some()
    }

    fn column(&self, name: &str, want: &str, ok: impl Fn(&DataType) -> bool) -> Result<&'a dyn Array, StoreError> {
        let col = self.batch.column_by_name(name).ok_or_else(|| self.error(name, "is missing"))?;
        if !ok(col.data_type()) {
            return Err(self.error(name, format!("is {} where {want} was expected", col.data_type())));
        }
        Ok(col.as_ref())
    }

    pub fn strings(&self, name: &str) -> Result<&'a StringArray, StoreError> {
        Ok(self.column(name, "a string", |t| *t == DataType::Utf8)?.as_string::<i32>())
    }

    pub fn f64s(&self, name: &str) -> Result<&'a Float64Array, StoreError> {
        Ok(self.column(name, "a float64", |t| *t == DataType::Float64)?.as_primitive::<Float64Type>())
    }

    pub fn i64s(&self, name: &str) -> Result<&'a Int64Array, StoreError> {
        Ok(self.column(name, "an int64", |t| *t == DataType::Int64)?.as_primitive::<Int64Type>())
    }

    pub fn i32s(&self, name: &str) -> Result<&'a Int32Array, StoreError> {
        Ok(self.column(name, "an int32", |t| *t == DataType::Int32)?.as_primitive::<Int32Type>())
    }

    pub fn u64s(&self, name: &str) -> Result<&'a UInt64Array, StoreError> {
        Ok(self.column(name, "a uint64", |t| *t == DataType::UInt64)?.as_primitive::<UInt64Type>())
    }

    pub fn date32s(&self, name: &str) -> Result<&'a Date32Array, StoreError> {
        Ok(self.column(name, "a date32", |t| *t == DataType::Date32)?.as_primitive::<Date32Type>())
    }

    /// A timestamp in microseconds (hivewatch writes UTC).
    pub fn timestamps(&self, name: &str) -> Result<&'a TimestampMicrosecondArray, StoreError> {
        let is_micros = |t: &DataType| matches!(t, DataType::Timestamp(TimeUnit::Microsecond, _));
        Ok(self.column(name, "a timestamp in microseconds", is_micros)?.as_primitive::<TimestampMicrosecondType>())
    }

    pub fn bools(&self, name: &str) -> Result<&'a BooleanArray, StoreError> {
        Ok(self.column(name, "a boolean", |t| *t == DataType::Boolean)?.as_boolean())
    }

    /// A list of float32 (an embedding).
    pub fn f32_lists(&self, name: &str) -> Result<&'a GenericListArray<i32>, StoreError> {
        let is_f32_list = |t: &DataType| matches!(t, DataType::List(f) if *f.data_type() == DataType::Float32);
        Ok(self.column(name, "a list of float32", is_f32_list)?.as_list::<i32>())
    }

    /// A list of strings.
    pub fn str_lists(&self, name: &str) -> Result<&'a GenericListArray<i32>, StoreError> {
        let is_str_list = |t: &DataType| matches!(t, DataType::List(f) if *f.data_type() == DataType::Utf8);
        Ok(self.column(name, "a list of strings", is_str_list)?.as_list::<i32>())
    }

    /// Row `i` of a string list column (null items left out).
    pub fn str_list_row(list: &GenericListArray<i32>, i: usize) -> Vec<String> {
        let items = list.value(i);
        let items = items.as_string::<i32>();
        (0..items.len()).filter(|&k| !items.is_null(k)).map(|k| items.value(k).to_owned()).collect()
    }

    /// Row `i` of a timestamp column.
    pub fn time(col: &TimestampMicrosecondArray, i: usize) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(col.value(i)).unwrap_or_default()
    }

    /// Row `i` of a nullable timestamp column (None when null).
    pub fn opt_time(col: &TimestampMicrosecondArray, i: usize) -> Option<DateTime<Utc>> {
        (!col.is_null(i)).then(|| Self::time(col, i))
    }

    /// Row `i` of a nullable date32 column (None when null).
    pub fn opt_date(col: &Date32Array, i: usize) -> Option<NaiveDate> {
        (!col.is_null(i)).then(|| col.value_as_date(i)).flatten()
    }

    /// Row `i` of a nullable int64 column (None when null).
    pub fn opt_i64(col: &Int64Array, i: usize) -> Option<i64> {
        (!col.is_null(i)).then(|| col.value(i))
    }

    /// Row `i` of a nullable int32 column (None when null).
    pub fn opt_i32(col: &Int32Array, i: usize) -> Option<i32> {
        (!col.is_null(i)).then(|| col.value(i))
    }

    /// Row `i` of a nullable uint64 column (None when null).
    pub fn opt_u64(col: &UInt64Array, i: usize) -> Option<u64> {
        (!col.is_null(i)).then(|| col.value(i))
    }

    /// Row `i` of a nullable boolean column (None when null).
    pub fn opt_bool(col: &BooleanArray, i: usize) -> Option<bool> {
        (!col.is_null(i)).then(|| col.value(i))
    }

    /// Row `i` of a float32 list column.
    pub fn f32_list_row(list: &GenericListArray<i32>, i: usize) -> Vec<f32> {
        list.value(i).as_primitive::<Float32Type>().values().to_vec()
    }

    /// Row `i` of a nullable string column (None when null).
    pub fn opt_str(col: &'a StringArray, i: usize) -> Option<&'a str> {
        (!col.is_null(i)).then(|| col.value(i))
    }

    /// Row `i` of a nullable float64 column (None when null).
    pub fn opt_f64(col: &Float64Array, i: usize) -> Option<f64> {
        (!col.is_null(i)).then(|| col.value(i))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_schema::{Field, Schema};

    use super::*;

    #[test]
    fn a_missing_or_mistyped_column_names_the_file_and_column() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1]))]).unwrap();
        let cols = Columns::new(&batch, Path::new("/r/t.parquet"));
        assert_eq!(cols.i64s("x").unwrap().value(0), 1);
        let missing = cols.strings("y").unwrap_err().to_string();
        assert!(missing.contains("/r/t.parquet") && missing.contains("`y` is missing"), "{missing}");
        let mistyped = cols.f64s("x").unwrap_err().to_string();
        assert!(mistyped.contains("`x` is Int64 where a float64 was expected"), "{mistyped}");
    }
}
