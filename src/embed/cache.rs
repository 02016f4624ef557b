//! The embedding cache: vectors by (embedder id, text hash), kept across runs, so a nightly
//! run embeds only texts it has not seen.
//!
//! One append-only file per embedder id under the cache folder:
//! a header line `HWEC1 <embedder id>\n`, then records `[32-byte SHA-256 of the text][u32 dim LE]
//! [dim x f32 LE]`, each appended in one write. Opening reads the records' heads (seeking over
//! the vectors) into an in-memory index (hash -> offset; ~50 bytes a text) and cuts a torn last
//! record left by a crash. [`EmbeddingCache::retain`] rewrites the file with only the records
//! still wanted (see [`super::bound_cache`]: the texts of the last runs), so the file and the
//! time to open it stay bounded however long the history grows.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub type TextHash = [u8; 32];

pub struct EmbeddingCache {
    file: File,
    path: PathBuf,
    index: HashMap<TextHash, (u64, u32)>,
    end: u64,
    /// The length of every vector in the file (one embedder gives one length).
    dim: Option<u32>,
}

impl EmbeddingCache {
    pub fn open(dir: &Path, embedder_id: &str) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let name = &crate::util::sha256_hex(embedder_id.as_bytes())[..16];
        let path = dir.join(format!("{name}.hwcache"));
        let header = format!("HWEC1 {embedder_id}\n");
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path)?;
        if file.metadata()?.len() == 0 {
            file.write_all(header.as_bytes())?;
        }
        let mut reader = BufReader::with_capacity(1 << 20, File::open(&path)?);
        let mut seen_header = vec![0u8; header.len()];
        reader.read_exact(&mut seen_header)?;
        if seen_header != header.as_bytes() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not the cache of {embedder_id}; delete it to rebuild", path.display()),
            ));
        }
        let mut index = HashMap::new();
        let mut dim_seen: Option<u32> = None;
        let mut pos = header.len() as u64;
        let len = file.metadata()?.len();
        let mut head = [0u8; 36];
        loop {
            match reader.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
            let dim = u32::from_le_bytes(head[32..36].try_into().expect("4 bytes"));
            let body = u64::from(dim) * 4;
            if pos + 36 + body > len {
                break;
            }
            if dim_seen.is_some_and(|d| d != dim) {
                // Written before vectors were checked: every later stage would fail on it.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} holds vectors of {} and of {dim} dimensions (an embedder that changed its vector length); delete the file to rebuild it",
                        path.display(),
                        dim_seen.unwrap_or_default()
                    ),
                ));
            }
            dim_seen = Some(dim);
            reader.seek_relative(body as i64)?;
            index.insert(head[..32].try_into().expect("32 bytes"), (pos + 36, dim));
            pos += 36 + body;
        }
        if pos < file.metadata()?.len() {
            tracing::warn!(path = %path.display(), "cutting a torn last record off the embedding cache");
            file.set_len(pos)?;
        }
        Ok(EmbeddingCache { file, path, index, end: pos, dim: dim_seen })
    }

    /// The length of the vectors cached so far (`None` while the cache is empty).
    pub fn dim(&self) -> Option<usize> {
        self.dim.map(|d| d as usize)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, hash: &TextHash) -> io::Result<Option<Vec<f32>>> {
        let Some(&(offset, dim)) = self.index.get(hash) else { return Ok(None) };
        let mut bytes = vec![0u8; dim as usize * 4];
        self.file.read_exact_at(&mut bytes, offset)?;
        Ok(Some(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()))
    }

    /// The file's size in bytes.
    pub fn bytes(&self) -> u64 {
        self.end
    }

    /// Every cached text hash.
    pub fn hashes(&self) -> impl Iterator<Item = &TextHash> {
        self.index.keys()
    }

    /// Keeps only the records `keep` wants: the file is rewritten beside itself and renamed over
    /// it (a crash leaves the old file whole). Returns how many records were dropped.
    pub fn retain(&mut self, keep: impl Fn(&TextHash) -> bool) -> io::Result<usize> {
        let before = self.index.len();
        let mut kept: Vec<(TextHash, u64, u32)> =
            self.index.iter().filter(|(h, _)| keep(h)).map(|(h, &(offset, dim))| (*h, offset, dim)).collect();
        if kept.len() == before {
            return Ok(0);
        }
        kept.sort_by_key(|k| k.1);
        let tmp = self.path.with_extension("hwcache.tmp");
        let mut out = io::BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        let mut header = vec![0u8; self.header_len()? as usize];
        self.file.read_exact_at(&mut header, 0)?;
        out.write_all(&header)?;
        let mut index = HashMap::with_capacity(kept.len());
        let mut pos = header.len() as u64;
        let mut body = Vec::new();
        for (hash, offset, dim) in kept {
            body.resize(dim as usize * 4, 0);
            self.file.read_exact_at(&mut body, offset)?;
            out.write_all(&hash)?;
            out.write_all(&dim.to_le_bytes())?;
            out.write_all(&body)?;
            index.insert(hash, (pos + 36, dim));
            pos += 36 + body.len() as u64;
        }
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new().read(true).append(true).open(&self.path)?;
        self.index = index;
        self.end = pos;
        Ok(before - self.index.len())
    }

    /// Bytes of the header line.
    fn header_len(&self) -> io::Result<u64> {
        let mut byte = [0u8; 1];
        let mut at = 0;
        loop {
            self.file.read_exact_at(&mut byte, at)?;
            at += 1;
            if byte[0] == b'\n' {
                return Ok(at);
            }
        }
    }

    pub fn put(&mut self, hash: TextHash, vector: &[f32]) -> io::Result<()> {
        if self.index.contains_key(&hash) {
            return Ok(());
        }
        if vector.is_empty() || self.dim.is_some_and(|d| d as usize != vector.len()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a vector of {} dimensions does not belong in a cache of {}-dimensional vectors",
                    vector.len(),
                    self.dim.map_or_else(|| "non-empty".to_owned(), |d| d.to_string())
                ),
            ));
        }
        let mut record = Vec::with_capacity(36 + vector.len() * 4);
        record.extend_from_slice(&hash);
        record.extend_from_slice(&(vector.len() as u32).to_le_bytes());
        for x in vector {
            record.extend_from_slice(&x.to_le_bytes());
        }
        self.file.write_all(&record)?;
        self.index.insert(hash, (self.end + 36, vector.len() as u32));
        self.dim = Some(vector.len() as u32);
        self.end += record.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_and_survives_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = EmbeddingCache::open(dir.path(), "x").unwrap();
        c.put([1; 32], &[1.0, 2.0]).unwrap();
        c.put([2; 32], &[3.0, 4.0]).unwrap();
        // One length per cache (issue 16, item 6).
        assert!(c.put([4; 32], &[3.0, 4.0, 5.0]).is_err());
        assert!(c.put([4; 32], &[]).is_err());
        assert_eq!(c.dim(), Some(2));
        let path = c.path().to_owned();
        drop(c);
        OpenOptions::new().append(true).open(&path).unwrap().write_all(&[9; 40]).unwrap();
        let mut c = EmbeddingCache::open(dir.path(), "x").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&[2; 32]).unwrap(), Some(vec![3.0, 4.0]));
        c.put([3; 32], &[6.0, 7.0]).unwrap();
        drop(c);
        let c = EmbeddingCache::open(dir.path(), "x").unwrap();
        assert_eq!(c.get(&[3; 32]).unwrap(), Some(vec![6.0, 7.0]));
        assert_eq!(c.get(&[1; 32]).unwrap(), Some(vec![1.0, 2.0]));
        // Another embedder id has its own file.
        assert!(EmbeddingCache::open(dir.path(), "y").unwrap().is_empty());
    }

    /// A cache that mixes lengths (written before vectors were checked) is refused by name.
    #[test]
    fn a_cache_of_mixed_lengths_is_refused_with_what_to_delete() {
        let dir = tempfile::tempdir().unwrap();
        let c = EmbeddingCache::open(dir.path(), "x").unwrap();
        let path = c.path().to_owned();
        drop(c);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        for (h, v) in [([1u8; 32], vec![1.0f32, 2.0]), ([2u8; 32], vec![1.0f32])] {
            f.write_all(&h).unwrap();
            f.write_all(&(v.len() as u32).to_le_bytes()).unwrap();
            v.iter().for_each(|x| f.write_all(&x.to_le_bytes()).unwrap());
        }
        drop(f);
        let e = EmbeddingCache::open(dir.path(), "x").err().unwrap().to_string();
        assert!(e.contains("delete the file") && e.contains(&path.display().to_string()), "{e}");
    }

    #[test]
    fn retain_rewrites_the_file_with_only_what_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = EmbeddingCache::open(dir.path(), "x").unwrap();
        for i in 0..100u8 {
            c.put([i; 32], &[f32::from(i); 64]).unwrap();
        }
        let full = std::fs::metadata(c.path()).unwrap().len();
        assert_eq!(c.retain(|h| h[0] % 10 == 0).unwrap(), 90);
        assert_eq!(c.len(), 10);
        assert_eq!(c.get(&[30; 32]).unwrap(), Some(vec![30.0; 64]));
        assert_eq!(c.get(&[31; 32]).unwrap(), None);
        c.put([200; 32], &[2.0; 64]).unwrap();
        let path = c.path().to_owned();
        drop(c);
        let small = std::fs::metadata(&path).unwrap().len();
        assert!(small * 8 < full, "{small} of {full} bytes");
        let c = EmbeddingCache::open(dir.path(), "x").unwrap();
        assert_eq!(c.len(), 11);
        assert_eq!(c.get(&[90; 32]).unwrap(), Some(vec![90.0; 64]));
        assert_eq!(c.get(&[200; 32]).unwrap(), Some(vec![2.0; 64]));
        assert_eq!(c.bytes(), small);
    }
}
