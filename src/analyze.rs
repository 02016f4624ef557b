//! `hivewatch analyze`: every derived table of stored runs again (embeddings with this
//! embedder, features with this lexicon, measures, trends, alerts, the report), from their
//! stored `responses`, on a folder or an object-store output. No model is asked; nothing is
//! sent to the sinks (a re-analysis notifies no one).

use crate::failure::{Classify, Failure};
use crate::input::InputError;
use crate::session::{Night, Origin, Session, SessionError};
use crate::store::table::RunRef;

/// How a re-analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl Classify for AnalyzeError {
    fn failure(&self) -> Failure {
        match self {
            AnalyzeError::Input(e) => e.failure(),
            AnalyzeError::Session(e) => e.failure(),
        }
    }
}

/// Derives the stored runs named in `wanted` (every run when empty) again, oldest first, each
/// as one night through the session (an object-store output: the run's inputs pulled into the
/// mirror first, every derived file pushed after). `each` hears of every night as it is done.
pub async fn analyze(
    session: &mut Session,
    wanted: &[String],
    mut each: impl FnMut(&Night),
) -> Result<Vec<Night>, AnalyzeError> {
    let all = session.stored_runs().await?;
    let root = std::path::PathBuf::from(session.describe());
    if all.is_empty() {
        return Err(InputError::new(&root, None, "holds no runs")
            .hint("run hivewatch run (or demo) first, or pass --output")
            .into());
    }
    for id in wanted {
        if !all.iter().any(|(_, r)| r == id) {
            return Err(InputError::new(&root, None, format!("has no run {id}"))
                .hint("see the run ids in runs/*/*.parquet")
                .into());
        }
    }
    let mut nights = Vec::new();
    for (date, id) in all.iter().filter(|(_, id)| wanted.is_empty() || wanted.contains(id)) {
        // The run's own inputs are read, not written: only what is derived is published.
        let tag = session.tag().expect("an analysis session derives");
        let row = session.fetch_run(&RunRef::new(*date, id.clone(), tag)).await?;
        let night = session.night(Origin::Reanalysed, row, Vec::new(), false).await?;
        each(&night);
        nights.push(night);
    }
    Ok(nights)
}

/// After a backfill, a night dated `date` before stored ones: the later nights whose trend
/// window (`window` comparable runs) now holds it, derived again oldest first, so that their
/// baselines, segments and alerts count it as if it had been there all along. Beyond the
/// window a later night's judgement cannot change, so it is left alone: a backfill costs at
/// most `window` re-derivations, never the whole history. Notifies no one, as `analyze`.
pub async fn rejudge_later(
    session: &mut Session,
    date: chrono::NaiveDate,
    window: usize,
) -> Result<Vec<(chrono::NaiveDate, String)>, SessionError> {
    let later: Vec<_> = session.stored_runs().await?.into_iter().filter(|(d, _)| *d > date).take(window).collect();
    for (d, id) in &later {
        let tag = session.tag().expect("a night that derives has an embedder");
        let row = session.fetch_run(&RunRef::new(*d, id.clone(), tag)).await?;
        session.night(Origin::Reanalysed, row, Vec::new(), false).await?;
        tracing::info!(run_id = %id, date = %d, "judged again with the backfilled night of {date}");
    }
    Ok(later)
}
