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

/// Caps on what a person's file may hold, so a wrong path (`/dev/zero`, a disk image, a log)
/// is refused with its name instead of filling memory: a file read whole, by what it is, and
/// one line of a file read line by line.
pub mod cap {
    /// `hivewatch.toml`, a scenario.
    pub const CONFIG: u64 = 16 << 20;
    /// Model cards (`--models`): room for a few hundred thousand cards.
    pub const CARDS: u64 = 64 << 20;
    /// One TOML file of a probe suite: room for a million probes.
    pub const SUITE_FILE: u64 = 256 << 20;
    /// A behaviour lexicon.
    pub const LEXICON: u64 = 16 << 20;
    /// The refusal detector's weights.
    pub const WEIGHTS: u64 = 256 << 20;
    /// An import read as one document (AlpacaEval, Inspect AI, promptfoo JSON).
    pub const DOCUMENT: u64 = 2 << 30;
    /// One line of a JSONL or CSV import.
    pub const LINE: u64 = 64 << 20;
}

/// A number as people read it in a message: as written for everyday sizes, in exponent form
/// for the very large or very small (`1e300`, not a 1 followed by 300 zeros).
pub fn number(x: f64) -> String {
    if x.is_finite() && x != 0.0 && !(1e-4..1e9).contains(&x.abs()) { format!("{x:e}") } else { format!("{x}") }
}

/// A byte count as people read it (`16 MiB`).
pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n => format!("{n} bytes"),
    }
}

/// Reads a whole file of at most `cap` bytes: a larger one is refused with its name and the cap,
/// having read no more than the cap. `what` names the file's kind in the message;
/// `unreadable` says why a file that cannot be read is wrong, as the caller would.
pub fn read_capped(
    path: &Path,
    cap: u64,
    what: &str,
    unreadable: impl FnOnce(std::io::Error) -> InputError,
) -> Result<Vec<u8>, InputError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(cap + 1).read_to_end(&mut bytes));
    if let Err(e) = read {
        return Err(unreadable(e));
    }
    if bytes.len() as u64 > cap {
        return Err(too_large(path, None, what, cap));
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_text_capped(
    path: &Path,
    cap: u64,
    what: &str,
    unreadable: impl FnOnce(std::io::Error) -> InputError,
) -> Result<String, InputError> {
    let mut unreadable = Some(unreadable);
    let bytes = read_capped(path, cap, what, |e| (unreadable.take().expect("called once"))(e))?;
    String::from_utf8(bytes).map_err(|e| {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8 text ({e})"));
        match unreadable.take() {
            Some(f) => f(e),
            None => InputError::new(path, None, e.to_string()),
        }
    })
}

/// The error for a file, or a line of it, longer than its cap.
pub fn too_large(path: &Path, line: Option<usize>, what: &str, cap: u64) -> InputError {
    let (part, hint) = match line {
        Some(_) => ("a line", "a line this long is not a row: is it the right file, and in the right format?"),
        None => ("the file", "is it the right file? A file this large is not one a person wrote"),
    };
    InputError::new(path, line, format!("{part} is larger than {} (the cap on {what})", bytes(cap))).hint(hint)
}

/// Reads one line (through `\n`) into `buf`, at most `cap` bytes: `Ok(None)` at the end,
/// `Ok(Some(n))` for a line of `n` bytes, and an `InvalidData` error for a longer one (an
/// endless line is never read into memory).
pub fn read_line_capped(
    reader: &mut impl std::io::BufRead,
    buf: &mut Vec<u8>,
    cap: u64,
) -> std::io::Result<Option<usize>> {
    use std::io::{BufRead, Read};
    buf.clear();
    let n = reader.by_ref().take(cap + 1).read_until(b'\n', buf)?;
    if n as u64 > cap {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "line over the cap"));
    }
    Ok((n > 0).then_some(n))
}

/// A reader that fails (`InvalidData`) once a line (bytes between two `\n`) passes `cap`: for
/// readers that gather records themselves (CSV), so an endless line cannot fill memory.
pub struct LineCapped<R> {
    inner: R,
    cap: u64,
    since_newline: u64,
}

impl<R> LineCapped<R> {
    pub fn new(inner: R, cap: u64) -> Self {
        LineCapped { inner, cap, since_newline: 0 }
    }
}

impl<R: std::io::Read> std::io::Read for LineCapped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            self.since_newline = if b == b'\n' { 0 } else { self.since_newline + 1 };
            if self.since_newline > self.cap {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "line over the cap"));
            }
        }
        Ok(n)
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

    /// Issue 26, item 7: `/dev/zero` as a configuration, a lexicon or an import filled memory.
    #[test]
    fn endless_files_and_lines_stop_at_their_cap() {
        let dev_zero = Path::new("/dev/zero");
        let e = read_capped(dev_zero, 1 << 20, "a configuration", |e| InputError::new(dev_zero, None, e.to_string()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/zero") && e.contains("larger than 1 MiB (the cap on a configuration)"), "{e}");
        let mut reader = std::io::BufReader::new(std::fs::File::open(dev_zero).unwrap());
        let mut buf = Vec::new();
        assert!(read_line_capped(&mut reader, &mut buf, 1000).is_err());
        assert!(buf.len() <= 1001);
        let mut lines = std::io::Cursor::new(b"ab\ncd".to_vec());
        assert_eq!(read_line_capped(&mut lines, &mut buf, 3).unwrap(), Some(3));
        assert_eq!(read_line_capped(&mut lines, &mut buf, 3).unwrap(), Some(2));
        assert_eq!(read_line_capped(&mut lines, &mut buf, 3).unwrap(), None);
        let mut capped = LineCapped::new(std::io::Cursor::new(b"abc\nabcd".to_vec()), 3);
        let mut all = Vec::new();
        assert!(std::io::Read::read_to_end(&mut capped, &mut all).is_err());
    }

    /// Issue 26, item 13: `1e300` in a configuration came back with 301 digits.
    #[test]
    fn numbers_read_as_written() {
        assert_eq!(number(1e300), "1e300");
        assert_eq!(number(-2.5e-9), "-2.5e-9");
        assert_eq!(number(0.7), "0.7");
        assert_eq!(number(604800.0), "604800");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[test]
    fn the_index_agrees_with_the_scan() {
        let text = "a\nbb\n\nccc\nd";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 3 {
            assert_eq!(index.line(offset), line_of(text, offset), "offset {offset}");
        }
    }
}
