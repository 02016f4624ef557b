//! Typed access to a batch's columns by name. A missing column, or one of another type, is a
//! [`StoreError::Column`] naming the file and the column (a file written by another version of
//! hivewatch), never a panic.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{
    Array, BooleanArray, Float64Array, GenericListArray, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::DataType;

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

    fn column(&self, name: &str, want: &str, ok: impl Fn(&DataType) -> bool) -> Result<&'a dyn Array, StoreError> {
        let problem =
            |problem: String| StoreError::Column { path: self.path.to_owned(), column: name.to_owned(), problem };
        let col = self.batch.column_by_name(name).ok_or_else(|| problem("is missing".into()))?;
        if !ok(col.data_type()) {
            return Err(problem(format!("is {} where {want} was expected", col.data_type())));
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

    pub fn bools(&self, name: &str) -> Result<&'a BooleanArray, StoreError> {
        Ok(self.column(name, "a boolean", |t| *t == DataType::Boolean)?.as_boolean())
    }

    /// A list of float32 (an embedding).
    pub fn f32_lists(&self, name: &str) -> Result<&'a GenericListArray<i32>, StoreError> {
        let is_f32_list = |t: &DataType| matches!(t, DataType::List(f) if *f.data_type() == DataType::Float32);
        Ok(self.column(name, "a list of float32", is_f32_list)?.as_list::<i32>())
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
