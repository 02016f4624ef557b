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

/// Resolves on Ctrl-C or SIGTERM, naming which: what every interruptible part of a command
/// (collection and the tail, the sinks after them) stops on.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "Ctrl-C",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// `f` over `items` on all cores, order kept (plain scoped threads: the work is uniform).
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || items.len() < 64 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items.chunks(chunk).map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("worker thread panicked")).collect()
    })
}

/// A duration in whole seconds as people read it: `8m 12s`, `1h 3m`, `0s`.
pub fn human_duration(secs: f64) -> String {
    let secs = if secs.is_finite() { secs.max(0.0).round() as u64 } else { u64::MAX / 2 };
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}
