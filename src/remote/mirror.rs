//! The local mirror of an object-store output: a folder in the state folder laid out exactly
//! like the output (`<table>/run_date=.../<file>`), so every stage reads and writes it as it
//! would a folder output.
//!
//! An index (`mirror-index.json`) remembers the size and ETag of every object pulled or pushed:
//! an object already mirrored unchanged is not downloaded again. The mirror holds only what a
//! night needs: history tables within the window the night reads ([`super::history`]) and the
//! night's own files until they are pushed.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Listed, Remote, RemoteError, RemoteErrorKind};

/// Downloads (and uploads) in flight at once.
const IN_FLIGHT: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    size: u64,
    e_tag: Option<String>,
}

/// What a pull did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullStats {
    pub downloaded: usize,
    /// Already mirrored unchanged.
    pub unchanged: usize,
    pub bytes: u64,
}

#[derive(Debug)]
pub struct Mirror {
    remote: Arc<Remote>,
    root: PathBuf,
    index_path: PathBuf,
    index: Mutex<BTreeMap<String, Entry>>,
}

impl Mirror {
    /// Opens (creating) the mirror folder and its index. An unreadable index is started afresh:
    /// it only saves downloads.
    pub fn open(remote: Arc<Remote>, root: PathBuf, index_path: PathBuf) -> io::Result<Mirror> {
        std::fs::create_dir_all(&root)?;
        let index = std::fs::read(&index_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        Ok(Mirror { remote, root, index_path, index: Mutex::new(index) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn remote(&self) -> &Arc<Remote> {
        &self.remote
    }

    /// The local file of an object key.
    pub fn local_path(&self, key: &str) -> PathBuf {
        key.split('/').fold(self.root.clone(), |p, part| p.join(part))
    }

    /// The object key of a file under the mirror's root.
    pub fn key_of(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        Some(parts?.join("/"))
    }

    /// Brings the listed objects into the mirror; one already mirrored unchanged (same size and
    /// ETag, local file present with that size) is not downloaded again.
    pub async fn pull(&self, objects: &[Listed]) -> Result<PullStats, RemoteError> {
        let mut stats = PullStats::default();
        let mut wanted = Vec::new();
        {
            let index = self.index.lock().expect("index lock");
            for o in objects {
                let local = self.local_path(&o.key);
                let same =
                    index.get(&o.key).is_some_and(|e| e.size == o.size && e.e_tag == o.e_tag && o.e_tag.is_some())
                        && std::fs::metadata(&local).is_ok_and(|m| m.len() == o.size);
                if same {
                    stats.unchanged += 1;
                } else {
                    wanted.push(o.clone());
                }
            }
        }
        let targets: Vec<(String, PathBuf)> = wanted.iter().map(|o| (o.key.clone(), self.local_path(&o.key))).collect();
        let results: Vec<Result<Option<Listed>, RemoteError>> = futures_util::stream::iter(targets.iter())
            .map(|(key, local)| self.remote.download(key, local))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let mut first_error = None;
        {
            let mut index = self.index.lock().expect("index lock");
            for r in results {
                match r {
                    Ok(Some(got)) => {
                        stats.downloaded += 1;
                        stats.bytes += got.size;
                        index.insert(got.key, Entry { size: got.size, e_tag: got.e_tag });
                    }
                    // Deleted between the listing and the download: nothing to mirror.
                    Ok(None) => {}
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        self.save_index();
        match first_error {
            Some(e) => Err(e),
            None => Ok(stats),
        }
    }

    /// Downloads one object if it is not mirrored unchanged; its local path, or `None` if the
    /// object does not exist.
    pub async fn pull_key(&self, key: &str) -> Result<Option<PathBuf>, RemoteError> {
        let local = self.local_path(key);
        match self.remote.download(key, &local).await? {
            Some(got) => {
                self.index.lock().expect("index lock").insert(got.key, Entry { size: got.size, e_tag: got.e_tag });
                self.save_index();
                Ok(Some(local))
            }
            None => Ok(None),
        }
    }

    /// Uploads files from under the mirror's root, each whole; all but the last concurrently,
    /// then the last (the `runs` row, whose presence says the rest is there).
    pub async fn push(&self, files: &[PathBuf]) -> Result<(), RemoteError> {
        let Some((last, rest)) = files.split_last() else { return Ok(()) };
        let key = |f: &PathBuf| {
            self.key_of(f).ok_or_else(|| {
                RemoteError::new(
                    self.remote.url(),
                    RemoteErrorKind::Failed,
                    format!("{} is not inside the mirror {}", f.display(), self.root.display()),
                    None,
                )
            })
        };
        let rest: Vec<(PathBuf, String)> =
            rest.iter().map(|f| Ok((f.clone(), key(f)?))).collect::<Result<_, RemoteError>>()?;
        let results: Vec<Result<Listed, RemoteError>> = futures_util::stream::iter(rest.iter())
            .map(|(f, k)| self.remote.upload(f, k))
            .buffer_unordered(IN_FLIGHT / 2)
            .collect()
            .await;
        let mut uploaded = Vec::new();
        let mut first_error = None;
        for r in results {
            match r {
                Ok(l) => uploaded.push(l),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if first_error.is_none() {
            match self.remote.upload(last, &key(last)?).await {
                Ok(l) => uploaded.push(l),
                Err(e) => first_error = Some(e),
            }
        }
        {
            let mut index = self.index.lock().expect("index lock");
            for l in uploaded {
                index.insert(l.key, Entry { size: l.size, e_tag: l.e_tag });
            }
        }
        self.save_index();
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Removes every mirrored file whose key `keep` refuses (and its index entry): what a night
    /// no longer needs. Returns how many files went.
    pub fn forget(&self, keep: &dyn Fn(&str) -> bool) -> io::Result<usize> {
        let mut removed = 0;
        let mut stack = vec![self.root.clone()];
        let mut gone = Vec::new();
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Some(key) = self.key_of(&path) else { continue };
                if !keep(&key) {
                    std::fs::remove_file(&path)?;
                    gone.push(key);
                    removed += 1;
                }
            }
        }
        {
            let mut index = self.index.lock().expect("index lock");
            for k in &gone {
                index.remove(k);
            }
            index.retain(|k, _| keep(k));
        }
        self.save_index();
        Ok(removed)
    }

    fn save_index(&self) {
        let json = {
            let index = self.index.lock().expect("index lock");
            serde_json::to_vec(&*index).expect("index serialises")
        };
        // Only an optimisation: a failure costs downloads next time, never data.
        if let Err(e) = crate::store::write_atomic(&self.index_path, |f| io::Write::write_all(f, &json)) {
            tracing::warn!("could not save the mirror index {}: {e}", self.index_path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::Cloud;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn unchanged_objects_are_not_downloaded_again() {
        let remote = Arc::new(Remote::from_store(Arc::new(InMemory::new()), "memory://m", Cloud::S3));
        let dir = tempfile::tempdir().unwrap();
        // A writer's mirror publishes two files.
        let writer = Mirror::open(Arc::clone(&remote), dir.path().join("w"), dir.path().join("w.json")).unwrap();
        let a = writer.local_path("t/run_date=2026-01-01/a.parquet");
        let b = writer.local_path("runs/run_date=2026-01-01/a.parquet");
        for f in [&a, &b] {
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, b"data").unwrap();
        }
        writer.push(&[a.clone(), b.clone()]).await.unwrap();

        // A reader pulls them once; the second pull downloads nothing.
        let reader = Mirror::open(Arc::clone(&remote), dir.path().join("r"), dir.path().join("r.json")).unwrap();
        let listed = [remote.list("t/", None).await.unwrap(), remote.list("runs/", None).await.unwrap()].concat();
        let first = reader.pull(&listed).await.unwrap();
        assert_eq!((first.downloaded, first.unchanged), (2, 0));
        let reader = Mirror::open(Arc::clone(&remote), dir.path().join("r"), dir.path().join("r.json")).unwrap();
        let second = reader.pull(&listed).await.unwrap();
        assert_eq!((second.downloaded, second.unchanged), (0, 2), "the index survives a restart");

        // A changed object is fetched again.
        std::fs::write(&a, b"new data").unwrap();
        writer.push(std::slice::from_ref(&a)).await.unwrap();
        let listed = remote.list("t/", None).await.unwrap();
        assert_eq!(reader.pull(&listed).await.unwrap().downloaded, 1);
        assert_eq!(std::fs::read(reader.local_path("t/run_date=2026-01-01/a.parquet")).unwrap(), b"new data");

        // Forgetting removes files and their index entries.
        assert_eq!(reader.forget(&|k| k.starts_with("runs/")).unwrap(), 1);
        assert!(!reader.local_path("t/run_date=2026-01-01/a.parquet").exists());
        assert_eq!(reader.pull(&listed).await.unwrap().downloaded, 1);
    }
}
