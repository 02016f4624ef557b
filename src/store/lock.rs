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
}

/// Held while a run writes to an output root; released on drop or process exit.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
}

pub fn acquire(output: &Output) -> Result<OutputLock, LockError> {
    let path = output.lock_path();
    let io = |source| LockError::Io { path: path.clone(), source };
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
    Ok(OutputLock { _file: file })
}
