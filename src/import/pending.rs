//! Imports in progress, so a killed import leaves nothing behind: before a run's files are
//! written, a marker naming it goes into the state folder (`imports/<run_id>.json`); once its
//! `runs` row is published the marker goes. The next import (of any file: the killed one may
//! have been fixed, its dates with it) first removes every table file of a marked run whose
//! `runs` row never came.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{ImportError, ImportedRun};
use crate::session::Session;
use crate::store::table::RunRef;
use crate::store::{EmbedderTag, Output};

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    run_id: String,
    run_date: NaiveDate,
}

fn dir(output: &Output) -> PathBuf {
    output.state_dir().join("imports")
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> ImportError {
    move |source| ImportError::Io { context, source }
}

/// Marks `run` as being written; returns the marker's path.
pub fn mark(output: &Output, run: &ImportedRun) -> Result<PathBuf, ImportError> {
    let path = dir(output).join(format!("{}.json", run.run_id));
    let json = serde_json::to_vec(&Marker { run_id: run.run_id.clone(), run_date: run.run_date }).expect("serialises");
    crate::store::write_atomic(&path, |f| std::io::Write::write_all(f, &json)).map_err(io(format!(
        "marking the import of {} in {}",
        run.run_id,
        path.display()
    )))?;
    Ok(path)
}

/// The run's `runs` row is published: its marker goes.
pub fn done(marker: &Path) {
    if let Err(e) = std::fs::remove_file(marker) {
        tracing::warn!("could not remove {}: {e}", marker.display());
    }
}

/// Removes what killed imports left: every table file of a marked run with no `runs` row.
pub async fn settle(session: &Session) -> Result<(), ImportError> {
    let dir = dir(session.output());
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(()) };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let marker: Option<Marker> = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(m) = marker {
            let run = RunRef::new(m.run_date, m.run_id.clone(), session.tag().unwrap_or_else(EmbedderTag::none));
            if !session.has_runs_row(&run).await? {
                let removed = session.discard_run(m.run_date, &m.run_id).await?;
                tracing::warn!(
                    "removed {} table file(s) of run {} ({}), left by an import that did not finish",
                    removed.len(),
                    m.run_id,
                    m.run_date
                );
            }
        }
        std::fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))?;
    }
    Ok(())
}
