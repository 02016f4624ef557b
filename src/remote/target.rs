//! Where a session's files go: the [`Output`] the stages write (the folder itself, or the local
//! mirror of an object-store output), the store behind it, and where the working state lives.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use super::{Cloud, Remote, RemoteError, RemoteErrorKind, mirror};
use crate::config::OutputLocation;
use crate::store::Output;

/// This machine's name, for lease holders and probe objects.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer we own.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let name = if ok {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::new()
    };
    let clean: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
    if clean.is_empty() { "host".into() } else { clean }
}

/// Where the working state lives: `[run] state_dir` (`state_dir`) when set; beside a folder
/// output (`<output>/.hivewatch`, or `<output>/.hivewatch/<role>` for a consortium role); for an
/// object-store output, under the user's cache folder, one folder per (URL, role), so two
/// members on one machine never share a journal or a lock. `role` is empty for a plain run.
pub fn state_dir(output: &OutputLocation, state_dir: Option<&FsPath>, role: &str) -> PathBuf {
    if let Some(dir) = state_dir {
        return dir.to_owned();
    }
    match output {
        OutputLocation::Dir(dir) if role.is_empty() => dir.join(crate::store::STATE_DIR),
        // A consortium on a shared disk: each role its own journal and lock.
        OutputLocation::Dir(dir) => dir.join(crate::store::STATE_DIR).join(role),
        OutputLocation::Url(url) => {
            let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
            let cache = var("XDG_CACHE_HOME")
                .or_else(|| var("HOME").map(|h| h.join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"));
            let tag = &crate::util::sha256_hex(format!("{url}\n{role}").as_bytes())[..16];
            cache.join("hivewatch").join("state").join(tag)
        }
    }
}

/// Where a run's files go and how they get there: the [`Output`] the stages write to (the
/// folder itself, or the local mirror of an object-store output), and the store behind it.
#[derive(Debug)]
pub struct Target {
    /// What the stages read and write.
    pub output: Output,
    /// The store, for listing, leases and publishing; `None` for a plain folder output.
    pub remote: Option<Arc<Remote>>,
    /// The local mirror of an object-store output (`None` when the output is a folder).
    pub mirror: Option<mirror::Mirror>,
    /// The prefix of the output written under (a consortium member's `members/member=<name>`):
    /// its write check goes there too, so a member needs write access to its own prefix only.
    under: Option<String>,
}

impl Target {
    /// The target of a session: a folder output is written in place; an object-store output
    /// through a mirror in the state folder (`state_dir` overrides where that lives). `role`
    /// keeps the default state folders of roles sharing a URL apart. `with_store`: open the
    /// store for a folder output too (a consortium on a shared disk lists members and takes
    /// leases through it).
    pub fn open(
        location: &OutputLocation,
        state_dir: Option<&FsPath>,
        role: &str,
        with_store: bool,
    ) -> Result<Target, RemoteError> {
        let state = self::state_dir(location, state_dir, role);
        match location {
            OutputLocation::Dir(dir) => {
                let remote = if with_store { Some(Arc::new(Remote::open(location)?)) } else { None };
                Ok(Target { output: Output::with_state(dir, &state), remote, mirror: None, under: None })
            }
            OutputLocation::Url(_) => {
                let remote = Arc::new(Remote::open(location)?);
                let mirror =
                    mirror::Mirror::open(Arc::clone(&remote), state.join("mirror"), state.join("mirror-index.json"))
                        .map_err(|e| {
                            RemoteError::new(
                                remote.url(),
                                RemoteErrorKind::Config,
                                format!("cannot open the local mirror in {}: {e}", state.display()),
                                Some("check [run] state_dir".into()),
                            )
                        })?;
                Ok(Target {
                    output: Output::with_state(mirror.root(), &state),
                    remote: Some(remote),
                    mirror: Some(mirror),
                    under: None,
                })
            }
        }
    }

    /// The same target, writing under `prefix` of its output (a consortium member's
    /// `members/member=<name>`), its state where it was.
    pub fn under(mut self, prefix: &str) -> Target {
        let state = self.output.state_dir().to_owned();
        self.output = Output::with_state(self.output.root().join(prefix), state);
        self.under = Some(prefix.trim_matches('/').to_owned());
        self
    }

    /// The output as people wrote it.
    pub fn describe(&self) -> String {
        match &self.remote {
            Some(r) => r.url().to_owned(),
            None => self.output.root().display().to_string(),
        }
    }

    /// Checks that the output can be written (a folder: created; a store: a probe object).
    pub async fn check_writable(&self, delete_required: bool) -> Result<(), RemoteError> {
        match &self.remote {
            Some(r) => r.check_writable(self.under.as_deref(), delete_required).await,
            None => {
                let root = self.output.root();
                let probe = root.join(format!(".hivewatch-probe-{}", std::process::id()));
                let r = std::fs::create_dir_all(root)
                    .and_then(|()| std::fs::write(&probe, b""))
                    .and_then(|()| std::fs::remove_file(&probe));
                r.map_err(|e| {
                    RemoteError::new(
                        &root.display().to_string(),
                        RemoteErrorKind::Config,
                        format!("cannot write to the output folder: {e}"),
                        Some(Cloud::Folder.credentials_hint().into()),
                    )
                })
            }
        }
    }

    /// Publishes files the stages wrote under [`Target::output`]'s root, in the order given
    /// (put the `runs` row last: its presence says the run is complete). A folder output has
    /// nothing to do: the files are in place.
    pub async fn push(&self, files: &[PathBuf]) -> Result<(), RemoteError> {
        match &self.mirror {
            Some(m) => m.push(files).await,
            None => Ok(()),
        }
    }

    /// Removes a run's files (`files`, found under [`Target::output`]) and, for an object-store
    /// output, every object of run `run_id` under the partition folders `dirs` (the `runs`
    /// partition first): what a killed process may have pushed already. Returns the files and
    /// objects removed, as people name them.
    pub async fn discard(&self, files: &[PathBuf], dirs: &[PathBuf], run_id: &str) -> Result<Vec<String>, RemoteError> {
        let mut removed = Vec::new();
        for f in files {
            match std::fs::remove_file(f) {
                Ok(()) => removed.push(self.published_name(f).display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    let message = format!("cannot remove {}: {e}", f.display());
                    return Err(RemoteError::new(&self.describe(), RemoteErrorKind::Failed, message, None));
                }
            }
        }
        let (Some(m), Some(r)) = (&self.mirror, &self.remote) else { return Ok(removed) };
        for dir in dirs {
            let Some(prefix) = m.key_of(dir) else { continue };
            for listed in r.list(&format!("{prefix}/"), None).await? {
                let name = listed.key.rsplit('/').next().unwrap_or_default();
                if Output::is_run_file(name, run_id) {
                    r.delete(&listed.key).await?;
                    removed.push(r.describe(&listed.key));
                }
            }
        }
        removed.sort();
        removed.dedup();
        Ok(removed)
    }

    /// Whether a file of [`Target::output`] exists: here, or (pulled into the mirror) in the store.
    pub async fn has(&self, path: &FsPath) -> Result<bool, RemoteError> {
        match (&self.mirror, path.exists()) {
            (_, true) => Ok(true),
            (Some(m), false) => Ok(m.pull_key(&m.key_of(path).expect("a file of the mirror")).await?.is_some()),
            (None, false) => Ok(false),
        }
    }

    /// How to name a file the stages wrote, for people: its URL for an object-store output (the
    /// mirror is an implementation detail), its path for a folder.
    pub fn published_name(&self, path: &FsPath) -> PathBuf {
        match (&self.mirror, &self.remote) {
            (Some(m), Some(r)) => m.key_of(path).map_or_else(|| path.to_owned(), |k| PathBuf::from(r.describe(&k))),
            _ => path.to_owned(),
        }
    }
}
