//! Durability: every outcome is appended to a JSON-lines journal as it arrives, so a crash
//! (SIGKILL included) loses at most the requests in flight, and a rerun of the same command
//! resumes from what the journal holds.
//!
//! Layout under the output's state folder (`crate::store::Output`):
//!
//! ```text
//! lock                       held by the run writing to this root
//! runs/<run_id>/state.json   RunState: identity, plan fingerprint, status
//! runs/<run_id>/journal.jsonl one ResponseRecord a line
//! ```
//!
//! Each record goes to the file in a single `write` of a whole line on an append-only file, so
//! a crash leaves at most one torn last line; [`Journal::open`] cuts it off.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ResponseRecord;
use crate::store::Output;

const STATE_FILE: &str = "state.json";
const JOURNAL_FILE: &str = "journal.jsonl";
/// How often the journal is forced to disk. A SIGKILL loses nothing written (the kernel holds
/// it); this bounds what a power cut can lose.
const SYNC_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Collecting,
    Complete,
}

/// What identifies a run and lets the same command find it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub run_id: String,
    pub fingerprint: String,
    pub run_date: NaiveDate,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub config_hash: String,
    pub suite_id: String,
    pub tool_version: String,
    pub status: RunStatus,
    /// What the run's configuration measured (`plan::measured`), so that a run not resumed
    /// under a changed configuration can say what changed (absent in older state files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<serde_json::Value>,
}

/// The folder of one run's working state.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    pub fn create(output: &Output, state: &RunState) -> io::Result<Self> {
        let path = output.runs_dir().join(&state.run_id);
        std::fs::create_dir_all(&path)?;
        let dir = RunDir { path };
        dir.save_state(state)?;
        Ok(dir)
    }

    /// Every unfinished run under `output` (a state folder that cannot be read is left out,
    /// with a warning naming it).
    pub fn unfinished(output: &Output) -> io::Result<Vec<(RunDir, RunState)>> {
        let root = output.runs_dir();
        let entries = match std::fs::read_dir(&root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let dir = RunDir { path };
            let state = match dir.load_state() {
                Ok(state) => state,
                Err(e) => {
                    // Said, as for a journal line that does not parse: the run cannot be resumed.
                    tracing::warn!(
                        "{}: cannot be read ({e}), so the run in {} cannot be resumed and is not continued (a new run starts instead); its journaled answers stay in {}. Delete {} to drop it and stop this warning",
                        dir.path.join(STATE_FILE).display(),
                        dir.path.display(),
                        dir.journal_path().display(),
                        dir.path.display()
                    );
                    continue;
                }
            };
            if state.status == RunStatus::Collecting {
                out.push((dir, state));
            }
        }
        out.sort_by_key(|(_, s)| s.started_at);
        Ok(out)
    }

    /// The newest unfinished run of this plan (fingerprint) and this run date, if any: only
    /// such a run is resumed. An unfinished run of another date is never continued under a
    /// new one (see [`RunDir::unfinished`] to report it).
    pub fn find_resumable(
        output: &Output,
        fingerprint: &str,
        run_date: NaiveDate,
    ) -> io::Result<Option<(RunDir, RunState)>> {
        Ok(Self::unfinished(output)?
            .into_iter()
            .filter(|(_, s)| s.fingerprint == fingerprint && s.run_date == run_date)
            .max_by_key(|(_, s)| s.started_at))
    }

    pub fn load_state(&self) -> io::Result<RunState> {
        let text = std::fs::read(self.path.join(STATE_FILE))?;
        serde_json::from_slice(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Replaces state.json atomically (temporary file, fsync, rename).
    pub fn save_state(&self, state: &RunState) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
        crate::store::write_atomic(&self.path.join(STATE_FILE), |f| f.write_all(&json))
    }

    pub fn journal_path(&self) -> PathBuf {
        self.path.join(JOURNAL_FILE)
    }
}

/// The append side of a journal.
#[derive(Debug)]
pub struct Journal {
    file: File,
    last_sync: Instant,
    line: Vec<u8>,
}

impl Journal {
    /// Opens (creating) a journal for appending, first cutting off a torn last line.
    pub fn open(path: &Path) -> io::Result<Self> {
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(path)?;
        let len = file.metadata()?.len();
        if len > 0 {
            let good = last_complete_line_end(&mut file, len)?;
            if good < len {
                tracing::warn!(path = %path.display(), lost_bytes = len - good, "cutting a torn last line off the journal (a crash mid-write)");
                file.set_len(good)?;
            }
        }
        Ok(Journal { file, last_sync: Instant::now(), line: Vec::with_capacity(4096) })
    }

    pub fn append(&mut self, record: &ResponseRecord) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, record).map_err(io::Error::other)?;
        self.line.push(b'\n');
        // One write of the whole line (append mode): a crash cannot interleave two records.
        self.file.write_all(&self.line)?;
        if self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        self.last_sync = Instant::now();
        Ok(())
    }
}

/// Offset just past the last `\n` of the file (0 if none).
fn last_complete_line_end(file: &mut File, len: u64) -> io::Result<u64> {
    let mut pos = len;
    let mut buf = vec![0u8; 64 * 1024];
    while pos > 0 {
        let start = pos.saturating_sub(buf.len() as u64);
        let n = (pos - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        pos = start;
    }
    Ok(0)
}

/// Streams the records of a journal in order, one at a time (memory stays flat). A torn last
/// line is ignored; a complete line that does not parse (what a power cut leaves in the
/// middle) is skipped with a warning naming it, so its request is sent again. A journal whose
/// lines are mostly unreadable is not one a crash left: that is an error saying how to start
/// over.
pub fn for_each_record(path: &Path, mut f: impl FnMut(ResponseRecord) -> io::Result<()>) -> io::Result<u64> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let mut n = 0u64;
    let mut line_no = 0u64;
    let mut unreadable: Vec<u64> = Vec::new();
    let mut report = false;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        line_no += 1;
        if line.last() != Some(&b'\n') {
            break; // torn tail: the request will simply be sent again
        }
        match serde_json::from_slice::<ResponseRecord>(&line) {
            Ok(record) => {
                f(record)?;
                n += 1;
            }
            Err(e) => {
                if unreadable.is_empty() {
                    report = first_report(path);
                }
                if unreadable.is_empty() && report {
                    tracing::warn!(
                        "{}:{line_no}: skipping a journal line that does not parse ({e}); its request is sent again",
                        path.display()
                    );
                }
                unreadable.push(line_no);
            }
        }
    }
    if !unreadable.is_empty() {
        let bad = unreadable.len() as u64;
        if bad >= 2 && bad * 2 > line_no {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: {bad} of {line_no} journal lines do not parse (first at line {}): this is not what a crash leaves; start over with `hivewatch run --fresh` (the unfinished run's folder {} can then be deleted)",
                    path.display(),
                    unreadable[0],
                    path.parent().unwrap_or(Path::new(".")).display()
                ),
            ));
        }
        if report && unreadable.len() > 1 {
            tracing::warn!(
                "{}: skipped {bad} unreadable journal line(s) (lines {:?}); their requests are sent again",
                path.display(),
                &unreadable[..unreadable.len().min(10)]
            );
        }
    }
    Ok(n)
}

/// Whether `path`'s unreadable lines are yet to be reported by this process: a journal is read
/// several times in one run (what is done, the counts, the table), and said once.
fn first_report(path: &Path) -> bool {
    static REPORTED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut reported = REPORTED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if reported.iter().any(|p| p == path) {
        return false;
    }
    reported.push(path.to_owned());
    true
}

/// Keys already journaled, as (endpoint, probe id, sample) names.
pub fn completed_names(path: &Path) -> io::Result<HashSet<(String, String, u32)>> {
    let mut done = HashSet::new();
    for_each_record(path, |r| {
        done.insert((r.endpoint, r.probe_id, r.sample_index));
        Ok(())
    })?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::Status;
    use crate::plan::SentParams;

    pub(crate) fn record(ep: &str, probe: &str, sample: u32) -> ResponseRecord {
        let now = Utc::now();
        ResponseRecord {
            endpoint: ep.into(),
            probe_id: probe.into(),
            sample_index: sample,
            params: SentParams { temperature: Some(0.7), top_p: None, max_tokens: 10, seed: Some(1) },
            status: Status::Ok,
            error_kind: None,
            error_message: None,
            http_status: Some(200),
            attempts: 1,
            latency_ms: 3,
            elapsed_ms: 3,
            prompt_tokens: Some(1),
            completion_tokens: Some(2),
            finish_reason: Some("stop".into()),
            text: Some("hello\nworld \u{1F600}".into()),
            text_truncated: false,
            started_at: now,
            finished_at: now,
        }
    }

    #[test]
    fn torn_tail_is_cut_and_appending_continues() {
        let dir = tempdir();
        let path = dir.join("j.jsonl");
        let mut j = Journal::open(&path).unwrap();
        j.append(&record("e", "p", 0)).unwrap();
        j.append(&record("e", "p", 1)).unwrap();
        drop(j);
        // Simulate a crash mid-write.
        OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"endpoint\":\"e\",\"pro").unwrap();
        assert_eq!(for_each_record(&path, |_| Ok(())).unwrap(), 2);
        let mut j = Journal::open(&path).unwrap();
        j.append(&record("e", "p", 2)).unwrap();
        drop(j);
        let done = completed_names(&path).unwrap();
        assert_eq!(done.len(), 3);
        assert!(done.contains(&("e".into(), "p".into(), 2)));
    }

    /// Issue 16, item 14: one torn middle line (a power cut) made every rerun fail with exit 3.
    #[test]
    fn a_torn_middle_line_is_skipped_and_a_ruined_journal_says_how_to_start_over() {
        let dir = tempdir();
        let path = dir.join("j.jsonl");
        let mut j = Journal::open(&path).unwrap();
        j.append(&record("e", "p", 0)).unwrap();
        drop(j);
        OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"endpoint\":\"e\",\"pro\0\0\0\n").unwrap();
        let mut j = Journal::open(&path).unwrap();
        j.append(&record("e", "p", 1)).unwrap();
        j.append(&record("e", "p", 2)).unwrap();
        drop(j);
        let done = completed_names(&path).unwrap();
        assert_eq!(done.len(), 3, "the two lines around the torn one are kept");
        assert!(!done.contains(&("e".into(), "p".into(), 3)));

        let ruined = dir.join("ruined.jsonl");
        std::fs::write(&ruined, "garbage\nmore garbage\n{}\n").unwrap();
        let e = for_each_record(&ruined, |_| Ok(())).unwrap_err().to_string();
        assert!(e.contains("--fresh") && e.contains(":") && e.contains("3 of 3"), "{e}");
    }

    fn tempdir() -> PathBuf {
        let p = std::env::temp_dir().join(format!("hw-journal-{}-{}", std::process::id(), rand::random::<u64>()));
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}
