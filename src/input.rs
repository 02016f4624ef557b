//! Errors about input a person wrote (configuration, probe suites, scenarios, lexicons, imports):
//! each names the file, the line when there is one, what is wrong and how to fix it. A
//! foundation: it knows nothing of the pipeline.

use std::path::{Path, PathBuf};

/// A configuration or input file that cannot be used as written.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}{}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default(), hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
pub struct InputError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl InputError {
    pub fn new(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self { path: path.to_owned(), line, message: message.into(), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Wraps a TOML syntax or schema error, keeping its line.
    pub fn from_toml(path: &Path, source: &str, err: &toml::de::Error) -> Self {
        let line = err.span().map(|s| line_of(source, s.start));
        let hint = if err.message().contains("unknown field") {
            Some("check the spelling against the configuration reference in README.md".to_owned())
        } else if err.message().contains("missing field") {
            Some("add the field; README.md lists the required ones".to_owned())
        } else {
            None
        };
        Self { path: path.to_owned(), line, message: err.message().trim().to_owned(), hint }
    }
}

/// 1-based line number of a byte offset (one lookup; for many, build a [`LineIndex`]).
pub fn line_of(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// Line numbers of many byte offsets in one text, each in O(log lines): a file of 100,000
/// probes names its lines without rescanning the file per probe.
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// Byte offsets of every `\n`, ascending.
    newlines: Vec<usize>,
}

impl LineIndex {
    pub fn new(source: &str) -> Self {
        LineIndex { newlines: source.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i).collect() }
    }

    /// 1-based line number of a byte offset: the same as [`line_of`].
    pub fn line(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&n| n < offset) + 1
    }
}

/// A run date later than tomorrow (UTC) is refused: tomorrow is today somewhere, anything
/// later is a typo, and a future night would stand as the latest forever after. `what` names
/// where the date came from (a flag, or an import's rows).
pub fn refuse_future_date(date: chrono::NaiveDate, what: &str) -> Result<(), InputError> {
    let latest = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    if date > latest {
        return Err(InputError::new(Path::new("(command line)"), None, format!("{what}: {date} is in the future"))
            .hint(format!("a run date may be at most {latest} (today in every time zone)")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_agrees_with_the_scan() {
        let text = "a\nbb\n\nccc\nd";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 3 {
            assert_eq!(index.line(offset), line_of(text, offset), "offset {offset}");
        }
    }
}
