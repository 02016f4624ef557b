//! Small helpers shared by several stages.

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A 64-bit hash of some bytes, stable across platforms and releases (first 8 bytes of SHA-256),
/// for seeding and bucketing where `std`'s hasher would not be stable.
pub fn stable_hash64(bytes: &[u8]) -> u64 {
    let d = Sha256::digest(bytes);
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}
