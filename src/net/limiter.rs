//! Per-endpoint pacing: requests-per-minute as evenly spaced slots.
//!
//! Hand-written rather than `governor`: one mutex-guarded "next free slot" instant is all an
//! endpoint needs, and it keeps async waiting in tokio's clock (which tests can pause).

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    interval: Option<Duration>,
    next_slot: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `None` means unlimited. The configuration bounds the rate; a value outside any sense
    /// (zero, negative, NaN) still cannot panic here: it means unlimited, a tiny one a day.
    pub fn new(requests_per_minute: Option<f64>) -> Self {
        let interval = |rpm: f64| match Duration::try_from_secs_f64(60.0 / rpm) {
            Ok(d) => Some(d.min(Duration::from_secs(24 * 3600))),
            Err(_) if rpm > 0.0 => Some(Duration::from_secs(24 * 3600)),
            Err(_) => None,
        };
        RateLimiter { interval: requests_per_minute.and_then(interval), next_slot: Mutex::new(None) }
    }

    /// Waits for this caller's slot. Slots are handed out in call order, one `interval` apart;
    /// an idle endpoint does not bank slots for a burst later.
    pub async fn acquire(&self) {
        let Some(interval) = self.interval else { return };
        let slot = {
            let mut next = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_evenly() {
        let l = RateLimiter::new(Some(120.0)); // one every 500 ms
        let start = Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        let e = start.elapsed();
        assert!(e >= Duration::from_millis(2000) && e < Duration::from_millis(2100), "{e:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_never_waits() {
        let l = RateLimiter::new(None);
        let start = Instant::now();
        for _ in 0..1000 {
            l.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
