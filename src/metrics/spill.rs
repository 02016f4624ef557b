//! The measure stage's spill: a run's vectors and texts are scattered through its tables, so
//! they are first written into partition files by probe (a hash partition in a temporary
//! folder under the output's scratch space), then read back one partition at a time, holding
//! one partition's probes in memory, not the run.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Partitions; a partition holds about (rows / PARTITIONS) rows: 64 keeps a 100,000-response
/// run of 2,048-d vectors near 10 MB a partition.
pub const PARTITIONS: u64 = 64;

/// What a spilled record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// An embedding, as little-endian f32.
    Vector = 0,
    /// A response text, UTF-8.
    Text = 1,
    /// A response's scaled style ([`super::style::Scaling::to_bytes`]).
    Style = 2,
}

/// Records of (endpoint, probe, payload) written to partition files by probe.
pub struct Spill {
    dir: tempfile::TempDir,
    writers: Vec<Option<BufWriter<File>>>,
}

impl Spill {
    /// A new spill in a temporary folder under `scratch` (removed on drop, even on error).
    /// Its name, `spill-<pid>-...`, names the process, so a folder a killed process left is
    /// known for one ([`crate::store::clean_leftovers`]).
    pub fn new(scratch: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(scratch)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}{}-", crate::store::SCRATCH_PREFIX, std::process::id()))
            .tempdir_in(scratch)?;
        Ok(Spill { dir, writers: (0..PARTITIONS).map(|_| None).collect() })
    }

    pub fn partition_path(&self, i: u64) -> PathBuf {
        self.dir.path().join(format!("part-{i:02}.bin"))
    }

    pub fn push(&mut self, tag: Payload, endpoint: &str, probe: &str, payload: &[u8]) -> std::io::Result<()> {
        let i = partition_of(probe);
        let path = self.partition_path(i);
        let w = match &mut self.writers[i as usize] {
            Some(w) => w,
            slot => slot.insert(BufWriter::new(File::create(&path)?)),
        };
        write_record(w, tag as u8, endpoint, probe, payload)
    }

    /// Flushes every partition; returns the paths of those that hold records.
    pub fn finish(&mut self) -> std::io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for i in 0..PARTITIONS {
            if let Some(mut w) = self.writers[i as usize].take() {
                w.flush()?;
                out.push(self.partition_path(i));
            }
        }
        Ok(out)
    }
}

/// The partition a probe's records go to.
pub fn partition_of(probe: &str) -> u64 {
    crate::util::stable_hash64(probe.as_bytes()) % PARTITIONS
}

/// Calls `f(payload kind, endpoint, probe, payload)` for every record of a partition file.
pub fn read_partition(path: &Path, mut f: impl FnMut(Payload, String, String, Vec<u8>)) -> std::io::Result<()> {
    read_records(path, |tag, endpoint, probe, payload| {
        let kind = match tag {
            0 => Payload::Vector,
            1 => Payload::Text,
            _ => Payload::Style,
        };
        f(kind, endpoint, probe, payload)
    })
}

fn write_record(w: &mut impl Write, tag: u8, endpoint: &str, probe: &str, payload: &[u8]) -> std::io::Result<()> {
    w.write_all(&[tag])?;
    for bytes in [endpoint.as_bytes(), probe.as_bytes(), payload] {
        w.write_all(&(bytes.len() as u32).to_le_bytes())?;
        w.write_all(bytes)?;
    }
    Ok(())
}

fn read_records(path: &Path, mut f: impl FnMut(u8, String, String, Vec<u8>)) -> std::io::Result<()> {
    let mut r = BufReader::new(File::open(path)?);
    let read_bytes = |r: &mut BufReader<File>| -> std::io::Result<Vec<u8>> {
        let mut word = [0u8; 4];
        r.read_exact(&mut word)?;
        let mut bytes = vec![0u8; u32::from_le_bytes(word) as usize];
        r.read_exact(&mut bytes)?;
        Ok(bytes)
    };
    let string = |b: Vec<u8>| String::from_utf8(b).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e));
    let mut tag = [0u8; 1];
    loop {
        match r.read_exact(&mut tag) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let endpoint = string(read_bytes(&mut r)?)?;
        let probe = string(read_bytes(&mut r)?)?;
        let payload = read_bytes(&mut r)?;
        f(tag[0], endpoint, probe, payload);
    }
}
