//! Human-labelled completions (XSTest's `labelled_completions.csv` and files like it): the row
//! type and its reader, shared by fitting the refusal detector (`train`) and measuring it
//! (`eval`).

use std::path::Path;

use super::Refusal;
use crate::input::InputError;

/// One labelled completion.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub model: String,
    pub id: String,
    pub completion: String,
    pub label: Refusal,
}

/// Reads a labelled CSV; a row with a missing column or an unknown label is refused with its
/// line.
pub fn read_labelled(path: &Path) -> Result<Vec<Labelled>, InputError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| {
        InputError::new(path, None, format!("cannot read the labelled CSV: {e}"))
            .hint("pass a CSV with a header and `completion` and `human_label` columns")
    })?;
    let headers = reader.headers().map_err(|e| InputError::new(path, Some(1), e.to_string()))?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (Some(completion), Some(label)) = (column("completion"), column("human_label")) else {
        return Err(InputError::new(path, Some(1), "the header lacks a `completion` or a `human_label` column")
            .hint("XSTest's labelled_completions.csv has both"));
    };
    let (model, id) = (column("model"), column("id"));
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            InputError::new(path, e.position().map(|p| p.line() as usize), format!("malformed CSV: {e}"))
        })?;
        let line = record.position().map(|p| p.line() as usize);
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("").to_owned();
        let raw_label = field(Some(label));
        let label = match raw_label.as_str() {
            l if l.contains("full_refusal") || l == "full" => Refusal::Full,
            l if l.contains("partial_refusal") || l == "partial" => Refusal::Partial,
            l if l.contains("compliance") || l == "none" => Refusal::None,
            other => {
                return Err(InputError::new(path, line, format!("unknown human_label `{other}`"))
                    .hint("use 1_full_compliance, 2_full_refusal or 3_partial_refusal (or none/partial/full)"));
            }
        };
        out.push(Labelled { model: field(model), id: field(id), completion: field(Some(completion)), label });
    }
    Ok(out)
}
