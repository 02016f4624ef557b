//! API keys: read from the environment, never printed, scrubbed from every string we keep.
//!
//! A key lives in a [`SecretKey`] whose `Debug` and `Display` never show it. Anything that may
//! carry a key back to us (an error body echoing the key, a URL a user wrote with `?key=`) goes
//! through [`Redactor::redact`] before it reaches a log line, a journal line or a Parquet cell.

use std::fmt;

/// What replaces a key wherever it is found.
pub const REDACTED: &str = "[REDACTED]";

/// An API key. Deliberately not `Serialize`, and its formatting hides the value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The key itself, for building a request header. Call nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Replaces every known key in a string by [`REDACTED`].
#[derive(Clone, Default)]
pub struct Redactor {
    keys: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} keys)", self.keys.len())
    }
}

/// Keys shorter than this are not scrubbed: a one-letter "key" would mangle every text, and no
/// real provider issues keys this short.
const MIN_REDACTABLE_LEN: usize = 6;

impl Redactor {
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a SecretKey>) -> Self {
        let mut keys: Vec<String> =
            keys.into_iter().map(|k| k.0.clone()).filter(|k| k.len() >= MIN_REDACTABLE_LEN).collect();
        // Longest first, so a key that contains another is replaced whole.
        keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
        keys.dedup();
        Self { keys }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for key in &self.keys {
            if out.contains(key.as_str()) {
                out = out.replace(key.as_str(), REDACTED);
            }
        }
        out
    }

    pub fn redact_opt(&self, text: Option<String>) -> Option<String> {
        text.map(|t| self.redact(&t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_key() {
        let key = SecretKey::new("sk-very-secret-value".into());
        assert_eq!(format!("{key:?}"), REDACTED);
        assert_eq!(format!("{key}"), REDACTED);
        assert_eq!(key.expose(), "sk-very-secret-value");
    }

    #[test]
    fn redactor_scrubs_every_occurrence_and_longest_first() {
        let a = SecretKey::new("abcdef".into());
        let b = SecretKey::new("abcdefgh".into());
        let r = Redactor::new([&a, &b]);
        assert_eq!(r.redact("key=abcdefgh and abcdef!"), "key=[REDACTED] and [REDACTED]!");
    }

    #[test]
    fn redactor_ignores_tiny_keys() {
        let k = SecretKey::new("x".into());
        assert_eq!(Redactor::new([&k]).redact("xyz"), "xyz");
    }
}
