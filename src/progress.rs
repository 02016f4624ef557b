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
    fn start(&mut self, total: u64, already_done: u64) {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta}) {msg}",
            )
            .expect("valid template"),
        );
        bar.set_position(already_done);
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

/// A log line every [`LogLines::EVERY`], and one at the end.
pub struct LogLines {
    total: u64,
    done: u64,
    ok: u64,
    failed: u64,
    last: Instant,
}

impl Default for LogLines {
    fn default() -> Self {
        LogLines { total: 0, done: 0, ok: 0, failed: 0, last: Instant::now() }
    }
}

impl LogLines {
    const EVERY: Duration = Duration::from_secs(10);
}

impl Progress for LogLines {
    fn start(&mut self, total: u64, already_done: u64) {
        self.total = total;
        self.done = already_done;
        tracing::info!(total, already_done, "collecting");
    }

    fn record(&mut self, record: &ResponseRecord) {
        self.done += 1;
        match record.status {
            Status::Ok => self.ok += 1,
            Status::Error => self.failed += 1,
        }
        if self.last.elapsed() >= Self::EVERY {
            self.last = Instant::now();
            tracing::info!(done = self.done, total = self.total, ok = self.ok, failed = self.failed, "collecting");
        }
    }

    fn finish(&mut self) {
        tracing::info!(done = self.done, total = self.total, ok = self.ok, failed = self.failed, "collection finished");
    }
}

/// Progress that shows nothing (library callers, tests).
pub struct Silent;

impl Progress for Silent {
    fn start(&mut self, _: u64, _: u64) {}
    fn record(&mut self, _: &ResponseRecord) {}
    fn finish(&mut self) {}
}
