//! Exit codes, for cron and wrappers. Documented in README.md; never renumber them.

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

/// The exit code of an object-store failure: a configuration problem found before any request
/// (2), another analysis holding the night (4), or a failure mid-run (3).
fn for_remote(e: &crate::remote::RemoteError) -> i32 {
    use crate::remote::RemoteErrorKind as K;
    match e.kind {
        K::Config => BAD_INPUT,
        K::LeaseHeld => LOCKED,
        K::Failed => RUN_FAILED,
    }
}

/// The exit code of a consortium analysis's error.
fn for_consortium(e: &crate::consortium::ConsortiumError) -> Option<i32> {
    use crate::consortium::ConsortiumError as C;
    match e {
        C::Input(_) | C::Embed(crate::embed::EmbedError::Model { .. }) => Some(BAD_INPUT),
        C::Remote(r) => Some(for_remote(r)),
        C::Locked(crate::store::lock::LockError::Held { .. }) => Some(LOCKED),
        _ => None,
    }
}

/// The exit code for an error, by what it is.
pub fn for_error(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<crate::remote::RemoteError>() {
            return for_remote(e);
        }
        if let Some(code) = cause.downcast_ref::<crate::consortium::ConsortiumError>().and_then(for_consortium) {
            return code;
        }
        if let Some(crate::run::Interrupted::Failed(crate::run::RunError::Remote(e))) = cause.downcast_ref() {
            return for_remote(e);
        }
        if let Some(crate::run::RunError::Remote(e)) = cause.downcast_ref() {
            return for_remote(e);
        }
        if cause.is::<crate::input::InputError>() || cause.is::<crate::sim::faults::FaultSpecError>() {
            return BAD_INPUT;
        }
        if let Some(crate::store::lock::LockError::Held { .. }) = cause.downcast_ref() {
            return LOCKED;
        }
        if let Some(crate::store::lock::LockError::Unusable { .. }) = cause.downcast_ref() {
            return BAD_INPUT;
        }
        if let Some(crate::run::Interrupted::Failed(e)) = cause.downcast_ref() {
            match e {
                crate::run::RunError::Locked(crate::store::lock::LockError::Held { .. }) => return LOCKED,
                crate::run::RunError::Locked(crate::store::lock::LockError::Unusable { .. }) => return BAD_INPUT,
                crate::run::RunError::Embed(crate::embed::EmbedError::Model { .. }) => return BAD_INPUT,
                crate::run::RunError::Input(_) => return BAD_INPUT,
                _ => {}
            }
        }
        match cause.downcast_ref() {
            Some(crate::run::RunError::Locked(crate::store::lock::LockError::Held { .. })) => return LOCKED,
            Some(crate::run::RunError::Locked(crate::store::lock::LockError::Unusable { .. })) => return BAD_INPUT,
            Some(crate::run::RunError::Embed(crate::embed::EmbedError::Model { .. })) => return BAD_INPUT,
            Some(crate::run::RunError::Input(_)) => return BAD_INPUT,
            _ => {}
        }
        if let Some(crate::embed::EmbedError::Model { .. }) = cause.downcast_ref() {
            return BAD_INPUT;
        }
    }
    RUN_FAILED
}
