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

    /// HMAC-SHA256 (RFC 2104) of `message` under this secret: how a consortium member signs what
    /// it publishes, with a secret only it and the coordinator hold. The MAC reveals nothing of
    /// the secret.
    pub fn sign(&self, message: &[u8]) -> [u8; 32] {
        hmac_sha256(self.0.as_bytes(), message)
    }

    /// Whether `mac` is this secret's MAC of `message` (compared in constant time).
    pub fn verify(&self, message: &[u8], mac: &[u8]) -> bool {
        let expected = self.sign(message);
        mac.len() == expected.len() && expected.iter().zip(mac).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// HMAC-SHA256: `H((K ^ opad) || H((K ^ ipad) || m))`, the key padded to SHA-256's 64-byte block
/// (hashed first when longer).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
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
/// A text cut in the middle of a key keeps the key's first part; a first part this long (or
/// longer) that ends the cut text is scrubbed too.
pub const MIN_REDACTED_PREFIX: usize = 8;

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

    /// Redacts, then cuts to at most `max` bytes (at a char boundary); says whether it cut.
    /// Redacting first means a key straddling the cut is still found whole; and a cut text that
    /// ends in the first [`MIN_REDACTED_PREFIX`] or more characters of a key (its input was
    /// itself cut, upstream) loses them too. The result may exceed `max` by the marker's length.
    pub fn redact_capped(&self, text: &str, max: usize) -> (String, bool) {
        let mut out = self.redact(text);
        let cut = out.len() > max;
        if cut {
            let mut end = max;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
        }
        (self.redact_cut_end(out, cut), cut)
    }

    /// Scrubs a key's first part ending `text`, when `text` was cut there (`cut`).
    pub fn redact_cut_end(&self, mut text: String, cut: bool) -> String {
        if !cut {
            return text;
        }
        let longest = self
            .keys
            .iter()
            .filter_map(|key| {
                (MIN_REDACTED_PREFIX..key.len()).rev().find(|&k| text.as_bytes().ends_with(&key.as_bytes()[..k]))
            })
            .max();
        if let Some(k) = longest {
            let at = text.len() - k;
            if text.is_char_boundary(at) {
                text.truncate(at);
                text.push_str(REDACTED);
            }
        }
        text
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

    /// Issue 16, item 2: a key straddling the cut was kept in part.
    #[test]
    fn redaction_comes_before_the_cut_and_a_cut_key_loses_its_first_part() {
        let key = SecretKey::new("tk-abcdefghijklmnopqrstuvwxyz".into());
        let r = Redactor::new([&key]);
        // The key straddles byte 20: redacted whole, then cut.
        let text = format!("{}{}", "x".repeat(15), key.expose());
        let (out, cut) = r.redact_capped(&text, 20);
        assert!(cut);
        assert!(!out.contains("tk-ab"), "{out}");
        assert!(out.starts_with(&"x".repeat(15)), "{out}");
        // A text that already holds only the key's first 10 characters at its end, cut there.
        let text = format!("{}{}", "y".repeat(30), &key.expose()[..10]);
        let (out, _) = r.redact_capped(&format!("{text}zzzz"), text.len());
        assert_eq!(out, format!("{}{REDACTED}", "y".repeat(30)));
        // Fewer than 8 characters of a key are left alone; an uncut text is never touched.
        let (out, _) = r.redact_capped(&format!("{}tk-abcd and more", "y".repeat(30)), 37);
        assert!(out.ends_with("tk-abcd"), "{out}");
        assert_eq!(r.redact_capped("tk-abcdefghij", 100), ("tk-abcdefghij".into(), false));
    }

    /// RFC 4231, test cases 2 and 6 (a key longer than the block).
    #[test]
    fn hmac_matches_the_rfc_vectors() {
        let jefe = SecretKey::new("Jefe".into());
        let mac = jefe.sign(b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(jefe.verify(b"what do ya want for nothing?", &mac));
        assert!(!jefe.verify(b"what do ya want for nothing!", &mac));
        assert!(!SecretKey::new("Jeff".into()).verify(b"what do ya want for nothing?", &mac));
        let long = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex::encode(long), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn redactor_ignores_tiny_keys() {
        let k = SecretKey::new("x".into());
        assert_eq!(Redactor::new([&k]).redact("xyz"), "xyz");
    }
}
