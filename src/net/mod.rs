//! Infrastructure every network client of hivewatch shares, below every stage: the
//! redirect-safe HTTP client and reply reading ([`client`]), the one retry layer ([`retry`]) and
//! per-endpoint pacing ([`limiter`]). Collection, the remote embedder, object storage and the
//! webhook all go through it, so there is one place that decides what is retried, how long a
//! request may take, and where a key may be sent.

pub mod client;
pub mod limiter;
pub mod retry;
