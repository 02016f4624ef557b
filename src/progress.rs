//! Progress of a collection: a bar on a terminal, plain periodic log lines otherwise (cron, CI).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::collect::{Progress, ResponseRecord, Status};

/// Picks the bar when stderr is a terminal and `CI` is not set.
pub fn for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
        Box::new(Bar::default())
    } else {
        Box::new(LogLines::default())
    }
}

#[derive(Default)]
pub struct Bar {
    bar: Option<ProgressBar>,
    failed: u64,
}

impl Progress for Bar {
    fn resumed(&mut self, _ok: u64, failed: u64) {
        self.failed = failed;
    }

    fn start(&mut self, total: u64, already_done: u64) {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta}) {msg}",
            )
            .expect("valid template"),
        );
        bar.set_position(already_done);
        if self.failed > 0 {
            bar.set_message(format!("{} failed", self.failed));
        }
        self.bar = Some(bar);
    }

    fn record(&mut self, record: &ResponseRecord) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if record.status == Status::Error {
                self.failed += 1;
                bar.set_message(format!("{} failed", self.failed));
            }
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

/// A log line every [`LogLines::EVERY`], and one at the end; the counts are the whole run's,
/// a resumed run's earlier requests included (`ok + failed = done`). Each line gives the rate
/// since this start (requests a second) and the time left at that rate.
pub struct LogLines {
    total: u64,
    done: u64,
    ok: u64,
    failed: u64,
    last: Instant,
    /// When collection started, and what was done then (a resume's journal).
    started: Instant,
    done_at_start: u64,
}

impl Default for LogLines {
    fn default() -> Self {
        let now = Instant::now();
        LogLines { total: 0, done: 0, ok: 0, failed: 0, last: now, started: now, done_at_start: 0 }
    }
}

/// The rate since the start (requests a second) and the time left at it, once any was sent.
pub fn rate_and_eta(sent: u64, elapsed: Duration, remaining: u64) -> Option<(f64, f64)> {
    let secs = elapsed.as_secs_f64();
    (sent > 0 && secs > 0.0).then(|| {
        let rate = sent as f64 / secs;
        (rate, remaining as f64 / rate)
    })
}

impl LogLines {
    const EVERY: Duration = Duration::from_secs(10);

    /// (done, total, ok, failed) so far, over the whole run.
    pub fn counts(&self) -> (u64, u64, u64, u64) {
        (self.done, self.total, self.ok, self.failed)
    }
}

impl Progress for LogLines {
    fn resumed(&mut self, ok: u64, failed: u64) {
        self.ok = ok;
        self.failed = failed;
    }

    fn start(&mut self, total: u64, already_done: u64) {
        self.total = total;
        self.done = already_done;
        self.done_at_start = already_done;
        self.started = Instant::now();
        // A journal may hold fewer outcomes than keys done (never more): keep ok + failed = done.
        if self.ok + self.failed != already_done {
            self.failed = already_done.saturating_sub(self.ok);
        }
        tracing::info!(total, already_done, ok = self.ok, failed = self.failed, "collecting");
    }

    fn record(&mut self, record: &ResponseRecord) {
        self.done += 1;
        match record.status {
            Status::Ok => self.ok += 1,
            Status::Error => self.failed += 1,
        }
        if self.last.elapsed() >= Self::EVERY {
            self.last = Instant::now();
            let sent = self.done - self.done_at_start;
            let remaining = self.total.saturating_sub(self.done);
            let (rate, eta) = match rate_and_eta(sent, self.started.elapsed(), remaining) {
                Some((rate, eta)) => (format!("{rate:.1}/s"), crate::util::human_duration(eta)),
                None => ("-".to_owned(), "-".to_owned()),
            };
            tracing::info!(done = self.done, total = self.total, ok = self.ok, failed = self.failed, rate = %rate, eta = %eta, "collecting");
        }
    }

    fn finish(&mut self) {
        let took = crate::util::human_duration(self.started.elapsed().as_secs_f64());
        tracing::info!(done = self.done, total = self.total, ok = self.ok, failed = self.failed, took = %took, "collection finished");
    }
}

/// Progress that shows nothing (library callers, tests).
pub struct Silent;

impl Progress for Silent {
    fn start(&mut self, _: u64, _: u64) {}
    fn record(&mut self, _: &ResponseRecord) {}
    fn finish(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::ResponseRecord;

    #[test]
    fn a_resumed_run_counts_the_whole_run() {
        let mut p = LogLines::default();
        p.resumed(550, 10);
        p.start(2000, 560);
        let now = chrono::Utc::now();
        let ok = ResponseRecord {
            endpoint: "a".into(),
            probe_id: "p".into(),
            sample_index: 0,
            params: crate::plan::SentParams { temperature: None, top_p: None, max_tokens: 1, seed: None },
            status: Status::Ok,
            error_kind: None,
            error_message: None,
            http_status: Some(200),
            attempts: 1,
            latency_ms: 1,
            elapsed_ms: 1,
            prompt_tokens: None,
            completion_tokens: None,
            finish_reason: None,
            text: Some("x".into()),
            text_truncated: false,
            started_at: now,
            finished_at: now,
        };
        for _ in 0..1440 {
            p.record(&ok);
        }
        assert_eq!(p.done_at_start, 560);
        let (done, total, ok, failed) = p.counts();
        assert_eq!((done, total), (2000, 2000));
        assert_eq!(ok + failed, done, "ok {ok} failed {failed}");
        assert_eq!((ok, failed), (1990, 10));
    }

    #[test]
    fn the_rate_and_time_left_are_since_this_start() {
        assert_eq!(rate_and_eta(0, Duration::from_secs(10), 100), None);
        let (rate, eta) = rate_and_eta(50, Duration::from_secs(10), 100).unwrap();
        assert_eq!((rate, eta), (5.0, 20.0));
        assert_eq!(crate::util::human_duration(eta), "20s");
        assert_eq!(crate::util::human_duration(492.4), "8m 12s");
    }
}
