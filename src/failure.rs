//! What kind of failure an error is: the one question the command line asks of any error to
//! choose its exit code. Every library error enum answers it for itself ([`Classify`]), an enum
//! that wraps others by asking the wrapped one, so the answer is written once per error and
//! `exit.rs` holds the one map from a [`Failure`] to a number.

/// The kinds of failure the exit codes tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Bad configuration, probe suite, file or flag; rerunning the same command cannot help.
    BadInput,
    /// Another process holds the output (its lock, or a night's lease).
    Locked,
    /// The work failed on the way (I/O, a store, a signal); rerunning resumes it.
    Failed,
}

/// An error that knows which [`Failure`] it is.
pub trait Classify {
    fn failure(&self) -> Failure;
}

impl Classify for crate::input::InputError {
    fn failure(&self) -> Failure {
        Failure::BadInput
    }
}
