//! One run at a time per output root: an OS file lock on the state folder's `lock` file.
//!
//! The kernel drops the lock when the holder exits, however it exits (SIGKILL included), so
//! there is never a stale lock to clean up by hand.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

use super::Output;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another hivewatch run is writing to {output} ({holder}); wait for it to finish, or give this run another output folder"
    )]
    Held { output: PathBuf, holder: String },
    #[error("cannot create the lock file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// The output root cannot hold the tables: a file, a dangling link, a read-only place.
    /// A configuration error (exit 2), not a failed run: rerunning would not help.
    #[error("the output folder {output} cannot be used: {problem}\n  hint: {hint}")]
    Unusable { output: PathBuf, problem: String, hint: String },
}

impl crate::failure::Classify for LockError {
    fn failure(&self) -> crate::failure::Failure {
        use crate::failure::Failure;
        match self {
            LockError::Held { .. } => Failure::Locked,
            LockError::Unusable { .. } => Failure::BadInput,
            LockError::Io { .. } => Failure::Failed,
        }
    }
}

const OTHER_OUTPUT: &str = "pass another folder with --output (or set [run] output in the configuration)";

/// Refuses an output root that is a file or a link to nothing, before anything is created.
fn check_root(output: &Output) -> Result<(), LockError> {
    let root = output.root();
    let unusable =
        |problem: String, hint: &str| LockError::Unusable { output: root.to_owned(), problem, hint: hint.to_owned() };
    let Ok(meta) = std::fs::symlink_metadata(root) else { return Ok(()) }; // created below
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(root).map(|t| t.display().to_string()).unwrap_or_default();
        return match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(unusable(format!("it is a symbolic link to {target}, which is a file"), OTHER_OUTPUT)),
            Err(_) => Err(unusable(
                format!("it is a symbolic link to {target}, which does not exist"),
                "create the folder the link points to (a disk not mounted?), or pass another folder with --output",
            )),
        };
    }
    if !meta.is_dir() {
        return Err(unusable("it is a file, not a folder".into(), OTHER_OUTPUT));
    }
    Ok(())
}

/// What [`acquire`] would refuse, found without creating or writing anything (a dry run, an
/// endpoints check): a root that is a file or a link to nothing, or no folder on the way to the
/// state folder that this user may create in.
pub fn check_usable(output: &Output) -> Result<(), LockError> {
    use std::os::unix::ffi::OsStrExt;
    check_root(output)?;
    let state = output.state_dir();
    let Some(existing) = state.ancestors().find(|p| std::fs::symlink_metadata(p).is_ok()) else { return Ok(()) };
    let unusable = |problem: String| LockError::Unusable {
        output: output.root().to_owned(),
        problem,
        hint: format!(
            "the folder must be writable by the user running hivewatch (a read-only disk or mount?); or {OTHER_OUTPUT}"
        ),
    };
    if !existing.is_dir() {
        return Err(unusable(format!(
            "{} is not a folder, so {} cannot be created",
            existing.display(),
            state.display()
        )));
    }
    let c_path = std::ffi::CString::new(existing.as_os_str().as_bytes()).map_err(|e| unusable(e.to_string()))?;
    // SAFETY: access(2) reads the NUL-terminated path we own and writes nothing.
    if unsafe { libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(unusable(format!("cannot write in {}: {e}", existing.display())));
    }
    Ok(())
}

/// Whether an error creating the state folder or the lock file means the place cannot be
/// written at all (as opposed to a passing I/O failure).
pub fn is_unwritable(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(kind, PermissionDenied | ReadOnlyFilesystem | NotADirectory | AlreadyExists | IsADirectory)
}

/// Held while a run writes to an output root; released on drop or process exit.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
}

pub fn acquire(output: &Output) -> Result<OutputLock, LockError> {
    check_root(output)?;
    let path = output.lock_path();
    let io = |source: std::io::Error| {
        if is_unwritable(source.kind()) {
            LockError::Unusable {
                output: output.root().to_owned(),
                problem: format!("cannot create {}: {source}", path.display()),
                hint: format!(
                    "the folder must be writable by the user running hivewatch (a read-only disk or mount?); or {OTHER_OUTPUT}"
                ),
            }
        } else {
            LockError::Io { path: path.clone(), source }
        }
    };
    std::fs::create_dir_all(output.state_dir()).map_err(io)?;
    let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(LockError::Held {
                output: output.root().to_owned(),
                holder: if holder.is_empty() { "holder unknown".into() } else { holder.to_owned() },
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    // Who holds it, for the message a second run prints.
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "pid {} since {}", std::process::id(), chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")).map_err(io)?;
    // The only writer now: what killed writers left behind can go.
    super::clean_leftovers(output);
    Ok(OutputLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16, item 18: a file, a dangling link or a read-only place as the output exited 3
    /// ("rerun to resume"); they are configuration errors.
    #[test]
    fn an_output_that_cannot_hold_tables_is_unusable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        let e = acquire(&Output::local(&file)).unwrap_err();
        assert!(matches!(&e, LockError::Unusable { problem, .. } if problem.contains("is a file")), "{e}");
        let link = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
        let e = acquire(&Output::local(&link)).unwrap_err();
        assert!(matches!(&e, LockError::Unusable { problem, .. } if problem.contains("does not exist")), "{e}");
        // Read-only places (root ignores a folder's mode, so the kinds are checked as such).
        for kind in [std::io::ErrorKind::PermissionDenied, std::io::ErrorKind::ReadOnlyFilesystem] {
            assert!(is_unwritable(kind));
        }
        assert!(!is_unwritable(std::io::ErrorKind::Interrupted));
        // A fine folder still locks.
        acquire(&Output::local(dir.path().join("new"))).unwrap();
    }
}
