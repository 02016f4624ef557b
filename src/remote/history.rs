//! What a night reads of earlier runs, pulled into the mirror before the tail, so the stages
//! find it where they look on a folder output. Bounded: the last [`runs_needed`] runs' `runs`
//! rows, and of those only this embedder's files of the tables declared read later
//! ([`crate::tables::read_later`], by their [`History`]): every run's (`trends` and `alerts`:
//! the report's history and the CUSUM state), the comparable runs' (`run_metrics`: the trend
//! windows) and the latest comparable run's (`probe_metrics`: the report's probes that moved).
//! A night's cost does not grow with history: listings start at the oldest date needed.
//!
//! A stage that starts reading another table of earlier runs must declare it so (its
//! [`History`]), or it will not find it on an object-store output (the tests of
//! `tests/consortium.rs` would say so).

use std::collections::HashSet;

use chrono::NaiveDate;

use super::mirror::{Mirror, PullStats};
use super::{Listed, Remote, RemoteError};
use crate::plan::runs::{self, RunInfo, RunsTable};
use crate::store::table::{History, RunRef, Table, TableDecl};
use crate::store::{EmbedderTag, Output};
use crate::tables::read_later;
use crate::trend::TrendSettings;

/// Whether a mirrored key is of a table of earlier runs a night reads. Everything else in the
/// mirror is tonight's.
fn is_history(key: &str) -> bool {
    let table = key.split('/').next().unwrap_or("");
    read_later().any(|t| t.name == table)
}

/// Earlier runs a night may read: the report's chart history, or the trend stage's look-back,
/// whichever is longer.
pub fn runs_needed(settings: &TrendSettings) -> usize {
    crate::report::data::HISTORY_RUNS
        .max(crate::trend::stage::LOOK_BACK * settings.baseline_runs.max(settings.trend_runs))
}

/// What [`pull`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryStats {
    /// Earlier runs within the window.
    pub runs: usize,
    pub pulled: PullStats,
    /// Mirrored files no longer needed, removed.
    pub forgotten: usize,
}

/// `<table>/run_date=YYYY-MM-DD/<stem>.parquet` -> (date, stem).
pub fn parse_key(table: &str, key: &str) -> Option<(NaiveDate, String)> {
    let rest = key.strip_prefix(table)?.strip_prefix("/run_date=")?;
    let (date, file) = rest.split_once('/')?;
    let stem = file.strip_suffix(".parquet")?;
    if stem.starts_with('.') || stem.contains('/') {
        return None;
    }
    Some((NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?, stem.to_owned()))
}

fn date_key(table: &str, date: NaiveDate) -> String {
    format!("{table}/run_date={}", date.format("%Y-%m-%d"))
}

/// Pulls what tonight's tail reads of earlier runs into the mirror, and forgets mirrored history
/// it no longer needs (so the stages, which list the mirror, see exactly this window).
pub async fn pull(
    mirror: &Mirror,
    output: &Output,
    tonight: &RunInfo,
    tag: &EmbedderTag,
    settings: &TrendSettings,
) -> Result<HistoryStats, RemoteError> {
    let remote = mirror.remote();
    let selected = latest_runs(remote, tonight, runs_needed(settings)).await?;
    let key =
        |table: &TableDecl, run: &RunRef| mirror.key_of(&table.path(output, run)).expect("the output is the mirror");
    let tonights = |k: &str| {
        parse_key(k.split('/').next().unwrap_or(""), k)
            .is_some_and(|(d, stem)| d == tonight.run_date && stem.starts_with(&tonight.run_id))
    };

    // The runs rows first: comparability is read from them.
    let mut wanted: HashSet<String> = selected.iter().map(|(_, _, l)| l.key.clone()).collect();
    let forgotten_runs = mirror
        .forget(&|k| !k.starts_with(&format!("{}/", RunsTable::DECL.name)) || wanted.contains(k) || tonights(k))
        .map_err(|e| local_error(remote.url(), e))?;
    let mut pulled = mirror.pull(&selected.iter().map(|(_, _, l)| l.clone()).collect::<Vec<_>>()).await?;

    let Some(oldest) = selected.first().map(|s| s.0) else {
        let forgotten = forget_history(mirror, &wanted, &tonights).map_err(|e| local_error(remote.url(), e))?;
        return Ok(HistoryStats { runs: 0, pulled, forgotten: forgotten + forgotten_runs });
    };
    // The runs rows are pulled; the other tables read later are listed from the oldest date.
    let later: Vec<&TableDecl> = read_later().filter(|t| t.name != RunsTable::DECL.name).collect();
    let mut listed = std::collections::HashMap::new();
    for table in &later {
        for l in remote.list(&format!("{}/", table.name), Some(&date_key(table.name, oldest))).await? {
            listed.insert(l.key.clone(), l);
        }
    }
    let read_as = |history: History| later.iter().filter(move |t| t.history == history);
    let mut objects = Vec::new();
    let mut want = |k: String, objects: &mut Vec<Listed>| {
        if let Some(l) = listed.get(&k) {
            objects.push(l.clone());
            wanted.insert(k);
        }
    };
    let mut newest_comparable = None;
    for (d, id, _) in &selected {
        let run = RunRef::new(*d, id.clone(), tag.clone());
        for table in read_as(History::Window) {
            want(key(table, &run), &mut objects);
        }
        // A run is comparable only with these files (its `run_metrics`) and tonight's instrument.
        let comparable: Vec<String> = read_as(History::Comparable).map(|t| key(t, &run)).collect();
        if comparable.iter().all(|k| listed.contains_key(k)) {
            let info = runs::read_info(output, &run)
                .map_err(|e| local_error(remote.url(), std::io::Error::other(e.to_string())))?;
            if info.comparable(tonight) {
                for k in comparable {
                    want(k, &mut objects);
                }
                newest_comparable = Some(run);
            }
        }
    }
    if let Some(run) = newest_comparable {
        for table in read_as(History::LatestComparable) {
            want(key(table, &run), &mut objects);
        }
    }
    let forgotten = forget_history(mirror, &wanted, &tonights).map_err(|e| local_error(remote.url(), e))?;
    let more = mirror.pull(&objects).await?;
    pulled.downloaded += more.downloaded;
    pulled.unchanged += more.unchanged;
    pulled.bytes += more.bytes;
    let stats = HistoryStats { runs: selected.len(), pulled, forgotten: forgotten + forgotten_runs };
    tracing::info!(
        runs = stats.runs,
        downloaded = stats.pulled.downloaded,
        unchanged = stats.pulled.unchanged,
        "pulled what the night reads of earlier runs"
    );
    Ok(stats)
}

/// The `n` latest runs before tonight in the object store, oldest first, from their `runs`
/// objects.
async fn latest_runs(
    remote: &Remote,
    tonight: &RunInfo,
    n: usize,
) -> Result<Vec<(NaiveDate, String, Listed)>, RemoteError> {
    let before = |d: &NaiveDate, id: &str| (*d, id) < (tonight.run_date, tonight.run_id.as_str());
    let earlier = |listed: &[Listed]| -> Vec<(NaiveDate, String, Listed)> {
        let mut v: Vec<_> = listed
            .iter()
            .filter_map(|l| {
                let (d, id) = parse_key(RunsTable::DECL.name, &l.key)?;
                before(&d, &id).then(|| (d, id, l.clone()))
            })
            .collect();
        v.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        v
    };
    // Nightly runs: a window of 2n days holds the last n. Sparser runs: list them all.
    let from = tonight.run_date - chrono::Days::new(2 * n as u64 + 31);
    let mut found = earlier(
        &remote.list(&format!("{}/", RunsTable::DECL.name), Some(&date_key(RunsTable::DECL.name, from))).await?,
    );
    if found.len() < n {
        found = earlier(&remote.list(&format!("{}/", RunsTable::DECL.name), None).await?);
    }
    Ok(found.split_off(found.len().saturating_sub(n)))
}

/// Removes mirrored history-table files outside the wanted set (tonight's own kept).
fn forget_history(
    mirror: &Mirror,
    wanted: &HashSet<String>,
    tonights: &dyn Fn(&str) -> bool,
) -> std::io::Result<usize> {
    mirror.forget(&|k| !is_history(k) || wanted.contains(k) || tonights(k))
}

/// After a night is pushed: keep only the history tables in the mirror (tonight's among them
/// are tomorrow's history); the night's responses, embeddings and the rest are in the store.
pub fn forget_pushed(mirror: &Mirror) -> std::io::Result<usize> {
    mirror.forget(&is_history)
}

/// What [`pull_tables`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct TablesPulled {
    /// Runs in the store (objects of table `runs`, when it was asked for).
    pub runs: usize,
    /// Files of the tables the store holds, now all in the mirror.
    pub files: usize,
    pub pulled: PullStats,
    /// Mirrored files of these tables the store no longer holds, removed.
    pub forgotten: usize,
}

/// Makes the mirror hold exactly what the store holds of `tables`, for every run: each
/// `<table>/run_date=.../<file>.parquet` (what DuckDB's `<table>/*/*.parquet` reads) pulled when
/// new or changed, and mirrored files of these tables the store no longer holds (a run rewritten
/// by `analyze`, an abandoned one) removed, so nothing is read twice. Other tables' files stay.
/// What `hivewatch query` reads an object-store output through.
pub async fn pull_tables(mirror: &Mirror, tables: &[&str]) -> Result<TablesPulled, RemoteError> {
    let remote = mirror.remote();
    let mut listed = Vec::new();
    let mut runs = 0;
    for table in tables {
        let files: Vec<Listed> = remote
            .list(&format!("{table}/"), None)
            .await?
            .into_iter()
            .filter(|l| parse_key(table, &l.key).is_some())
            .collect();
        if *table == RunsTable::DECL.name {
            runs = files.len();
        }
        listed.extend(files);
    }
    let held: HashSet<&str> = listed.iter().map(|l| l.key.as_str()).collect();
    let ours = |k: &str| tables.contains(&k.split('/').next().unwrap_or(""));
    let forgotten = mirror.forget(&|k| !ours(k) || held.contains(k)).map_err(|e| local_error(remote.url(), e))?;
    let pulled = mirror.pull(&listed).await?;
    Ok(TablesPulled { runs, files: listed.len(), pulled, forgotten })
}

fn local_error(url: &str, e: std::io::Error) -> RemoteError {
    RemoteError::new(
        url,
        super::RemoteErrorKind::Failed,
        format!("the local mirror: {e}"),
        Some("check [run] state_dir".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `hivewatch query` reads: every run's files of the tables asked for, and after a
    /// run's file is replaced in the store, only the new one.
    #[tokio::test]
    async fn tables_are_mirrored_as_the_store_holds_them() {
        use super::super::Cloud;
        use std::sync::Arc;
        let remote =
            Arc::new(Remote::from_store(Arc::new(object_store::memory::InMemory::new()), "memory://q", Cloud::S3));
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("f.parquet");
        std::fs::write(&src, b"x").unwrap();
        for key in [
            "runs/run_date=2026-01-01/r1.parquet",
            "runs/run_date=2026-01-02/r2.parquet",
            "trends/run_date=2026-01-01/r1.lexical-ab.parquet",
            "trends/run_date=2026-01-02/r2.lexical-ab.parquet",
            "members/member=a/trends/run_date=2026-01-02/r2.parquet",
            "html/latest.html",
        ] {
            remote.upload(&src, key).await.unwrap();
        }
        let mirror = Mirror::open(Arc::clone(&remote), dir.path().join("m"), dir.path().join("m.json")).unwrap();
        let got = pull_tables(&mirror, &["trends", "runs"]).await.unwrap();
        assert_eq!((got.runs, got.files, got.pulled.downloaded), (2, 4, 4));
        assert!(mirror.local_path("trends/run_date=2026-01-02/r2.lexical-ab.parquet").exists());
        assert!(!mirror.local_path("members").exists() && !mirror.local_path("html").exists());

        // The second night's trends rewritten under another embedder's name: the old file goes.
        remote.delete("trends/run_date=2026-01-02/r2.lexical-ab.parquet").await.unwrap();
        remote.upload(&src, "trends/run_date=2026-01-02/r2.lexical-cd.parquet").await.unwrap();
        let again = pull_tables(&mirror, &["trends"]).await.unwrap();
        assert_eq!((again.pulled.downloaded, again.pulled.unchanged, again.forgotten), (1, 1, 1));
        assert!(!mirror.local_path("trends/run_date=2026-01-02/r2.lexical-ab.parquet").exists());
        assert!(mirror.local_path("runs/run_date=2026-01-02/r2.parquet").exists(), "other tables stay");
    }

    #[test]
    fn keys_parse_to_dates_and_stems() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        assert_eq!(parse_key("runs", "runs/run_date=2026-03-04/r1.parquet"), Some((d, "r1".into())));
        assert_eq!(
            parse_key("trends", "trends/run_date=2026-03-04/r1.lexical-ab.parquet"),
            Some((d, "r1.lexical-ab".into()))
        );
        assert_eq!(parse_key("runs", "runs/run_date=2026-03-04/.r1.parquet.tmp-1"), None);
        assert_eq!(parse_key("runs", "runs/x/r1.parquet"), None);
        assert_eq!(date_key("runs", d), "runs/run_date=2026-03-04");
    }
}
