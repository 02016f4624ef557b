//! Printing to stdout and stderr that never panics: a closed stdout (`hivewatch demo | head -1`)
//! is no error for the data, so the work goes on and the rest of what it would print is
//! dropped. A leaf: every command that prints, and the demo, use it.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Writes a line to stdout; once stdout is closed (a broken pipe), writes nothing more.
pub fn out(line: std::fmt::Arguments) {
    static CLOSED: AtomicBool = AtomicBool::new(false);
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if out.write_fmt(line).and_then(|()| out.write_all(b"\n")).is_err() {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes a line to stderr, ignoring a closed stderr.
pub fn err(line: std::fmt::Arguments) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(line).and_then(|()| err.write_all(b"\n"));
}

/// `println!` that never panics (see [`out`]).
macro_rules! say {
    ($($arg:tt)*) => { $crate::say::out(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics (see [`err`]).
macro_rules! tell {
    ($($arg:tt)*) => { $crate::say::err(format_args!($($arg)*)) };
}

pub(crate) use {say, tell};
