//! Exit codes, for cron and wrappers. Documented in README.md; never renumber them. Every
//! library error says what kind of failure it is ([`crate::failure::Classify`]); this is the
//! one map from that kind to a number.

use crate::failure::{Classify, Failure};

/// The run finished (some requests may have failed; coverage says how many).
pub const OK: i32 = 0;
/// The run finished and raised an alert (reserved for the alert stage).
pub const ALERT: i32 = 1;
/// Bad configuration, probe suite or other input; nothing was sent.
pub const BAD_INPUT: i32 = 2;
/// The run failed (I/O, interruption); running the same command resumes it.
pub const RUN_FAILED: i32 = 3;
/// Another run holds the output folder's lock.
pub const LOCKED: i32 = 4;
/// `hivewatch endpoints check`: at least one endpoint did not answer (the others did; nothing
/// to resume).
pub const CHECK_FAILED: i32 = 5;

/// The exit code of a kind of failure.
pub fn code(failure: Failure) -> i32 {
    match failure {
        Failure::BadInput => BAD_INPUT,
        Failure::Locked => LOCKED,
        Failure::Failed => RUN_FAILED,
    }
}

/// The kind of failure of the first cause in an error's chain that knows its kind: the
/// outermost library error, which asks the errors it wraps.
fn classify(cause: &(dyn std::error::Error + 'static)) -> Option<Failure> {
    macro_rules! first_of {
        ($($t:ty),* $(,)?) => {
            $(if let Some(e) = cause.downcast_ref::<$t>() { return Some(e.failure()); })*
        };
    }
    first_of!(
        crate::run::Interrupted,
        crate::run::RunError,
        crate::consortium::ConsortiumError,
        crate::import::ImportError,
        crate::analyze::AnalyzeError,
        crate::session::SessionError,
        crate::pipeline::PipelineError,
        crate::remote::RemoteError,
        crate::store::lock::LockError,
        crate::store::StoreError,
        crate::embed::EmbedError,
        crate::features::train::TrainError,
        crate::input::InputError,
        crate::sim::faults::FaultSpecError,
    );
    None
}

/// The exit code for an error, by what it is: the first cause in its chain that classifies
/// itself decides; anything else is a failed run.
pub fn for_error(err: &anyhow::Error) -> i32 {
    err.chain().find_map(classify).map_or(RUN_FAILED, code)
}
