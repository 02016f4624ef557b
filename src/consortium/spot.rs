//! The spot check of a member's own embeddings and features: a member's vectors are its word,
//! not proof. The coordinator embeds and describes again a random sample of the member's rows
//! ([`sample_size`]: 1%, at least [`MIN_ROWS`], at most all), drawn with a seed made of the
//! night's date and the member ([`seed`]), so a rerun checks the same rows. It runs the tail's
//! own embed and features stages on the sampled answers alone (a `responses` file of those rows,
//! in a scratch folder), and compares them with the member's rows: every vector at cosine
//! [`MIN_COSINE`] or more (MiniLM on CPUs with and without AMX agrees to that), every feature
//! equal. One disagreeing row leaves the member out.

use std::collections::BTreeSet;
use std::path::Path;

use rand::SeedableRng;

use crate::collect::Status;
use crate::collect::responses::ResponsesTable;
use crate::embed::EmbedError;
use crate::embed::cache::EmbeddingCache;
use crate::embed::table::{EmbeddingRow, EmbeddingsTable};
use crate::features::table::{FeatureRow, FeaturesTable};
use crate::plan::probe_table::ProbesTable;
use crate::probes::Probe;
use crate::session::Instruments;
use crate::store::columns::Columns;
use crate::store::table::{self, RunRef, Table};
use crate::store::{Output, StoreError};

/// What went wrong with a member's slice: the member's files (it is left out, with the reason),
/// or the coordinator's own work (the night fails).
#[derive(Debug)]
pub enum Fault {
    Member(String),
    Ours(EmbedError),
}

impl From<StoreError> for Fault {
    fn from(e: StoreError) -> Self {
        Fault::Ours(e.into())
    }
}

impl From<EmbedError> for Fault {
    fn from(e: EmbedError) -> Self {
        Fault::Ours(e)
    }
}

/// The least cosine between a member's vector and the coordinator's for the same text.
pub const MIN_COSINE: f32 = 0.99999;
/// The fewest rows checked (all of them when a member has fewer).
pub const MIN_ROWS: u64 = 20;

/// How many of `rows` are checked: 1%, at least [`MIN_ROWS`], at most all.
pub fn sample_size(rows: u64) -> u64 {
    rows.div_ceil(100).max(MIN_ROWS).min(rows)
}

/// The sample's seed: the night's date and the member.
pub fn seed(date: chrono::NaiveDate, member: &str) -> u64 {
    let digest = crate::util::sha256_hex(format!("spot-check;{date};{member}").as_bytes());
    u64::from_str_radix(&digest[..16], 16).expect("hex")
}

/// Which of `rows` rows are checked, in order.
pub fn sample(rows: u64, seed: u64) -> Vec<usize> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut picked: Vec<usize> =
        rand::seq::index::sample(&mut rng, rows as usize, sample_size(rows) as usize).into_vec();
    picked.sort_unstable();
    picked
}

/// Whether a member's vector agrees with the coordinator's.
pub fn vectors_agree(theirs: &[f32], ours: &[f32]) -> bool {
    theirs.len() == ours.len() && crate::embed::cosine(theirs, ours) >= MIN_COSINE
}

/// Checks the slice under `scratch` (the member's `embeddings` and `features`, relabelled to
/// the union) against the coordinator's own for a sample of its `rows`; returns how many rows
/// were checked, or the member's fault.
pub fn check(
    scratch: &Output,
    run: &RunRef,
    probes: &[Probe],
    (instruments, cache): (&Instruments, &mut EmbeddingCache),
    (seed, rows): (u64, u64),
) -> Result<u64, Fault> {
    let picked = sample(rows, seed);
    let sampled = Output::with_state(scratch.root().join("spot-check"), scratch.state_dir());
    let responses = table::path::<ResponsesTable>(scratch, run);
    table::write::<ResponsesTable>(&sampled, run, &sampled_answers(&responses, &picked)?)?;
    table::write::<ProbesTable>(&sampled, run, probes)?;
    embed_stored(&sampled, run, instruments, cache)?;
    crate::features::stage::write_features(&sampled, run, &instruments.lexicon, &instruments.refusal)?;
    let ours_vectors = table::read::<EmbeddingsTable>(&sampled, run)?;
    let ours_features = table::read::<FeaturesTable>(&sampled, run)?;
    let theirs_vectors =
        picked_rows::<EmbeddingsTable>(&table::path::<EmbeddingsTable>(scratch, run), &picked, |_| true)?;
    let theirs_features = picked_rows::<FeaturesTable>(&table::path::<FeaturesTable>(scratch, run), &picked, |_| true)?;
    let bad_vectors: Vec<(&EmbeddingRow, f32)> = (theirs_vectors.iter().zip(&ours_vectors))
        .filter(|(t, o)| !vectors_agree(&t.embedding, &o.embedding))
        .map(|(t, o)| (t, crate::embed::cosine(&t.embedding, &o.embedding)))
        .collect();
    let bad_features: Vec<&FeatureRow> =
        (theirs_features.iter().zip(&ours_features)).filter(|(t, o)| t != o).map(|(t, _)| t).collect();
    let checked = picked.len() as u64;
    std::fs::remove_dir_all(sampled.root()).ok();
    if let Some((first, cosine)) = bad_vectors.first() {
        return Err(Fault::Member(format!(
            "the spot check found its published vectors differ from the coordinator's on {} of {checked} rows checked (e.g. {} {} sample {}: cosine {cosine:.6}, below {MIN_COSINE})",
            bad_vectors.len(),
            first.endpoint,
            first.probe_id,
            first.sample_index
        )));
    }
    if let Some(first) = bad_features.first() {
        return Err(Fault::Member(format!(
            "the spot check found its published features differ from the coordinator's on {} of {checked} rows checked (e.g. {} {} sample {})",
            bad_features.len(),
            first.endpoint,
            first.probe_id,
            first.sample_index
        )));
    }
    if ours_vectors.len() != picked.len() || ours_features.len() != picked.len() {
        return Err(Fault::Ours(EmbedError::Compute(format!(
            "the spot check embedded {} and described {} of {} sampled answers",
            ours_vectors.len(),
            ours_features.len(),
            picked.len()
        ))));
    }
    Ok(checked)
}

/// The `responses` rows of the picked ok answers (indices among the ok answers, in order).
fn sampled_answers(responses: &Path, picked: &[usize]) -> Result<Vec<<ResponsesTable as Table>::Row>, StoreError> {
    picked_rows::<ResponsesTable>(responses, picked, |row| row.record.status == Status::Ok && row.record.text.is_some())
}

/// The picked rows (by index among the rows `counted` keeps, in order) of a per-answer table's
/// file.
fn picked_rows<T: Table>(
    path: &Path,
    picked: &[usize],
    counted: impl Fn(&T::Row) -> bool,
) -> Result<Vec<T::Row>, StoreError> {
    let wanted: BTreeSet<usize> = picked.iter().copied().collect();
    let mut out = Vec::with_capacity(picked.len());
    let mut index = 0usize;
    for batch in crate::store::batch_reader(path, 4096)? {
        let batch = batch.map_err(|source| StoreError::Arrow { table: T::DECL.name, source })?;
        for row in T::from_arrow(&Columns::new(&batch, path))?.into_iter().filter(|row| counted(row)) {
            if wanted.contains(&index) {
                out.push(row);
            }
            index += 1;
        }
    }
    Ok(out)
}

/// The embed stage with its `embeddings` written whatever `[output] lexical_embeddings` says:
/// a member's vectors are published to be checked, and a slice is concatenated into the union.
pub(crate) fn embed_stored(
    output: &Output,
    run: &RunRef,
    instruments: &Instruments,
    cache: &mut EmbeddingCache,
) -> Result<(crate::embed::EmbedStats, std::path::PathBuf), EmbedError> {
    let embedded = crate::embed::embed_run(output, run, &instruments.embedder, cache, &Default::default())?;
    let path = embedded.path.clone().expect("an embed stage told to store its vectors writes their file");
    Ok((embedded, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_one_percent_at_least_twenty_and_the_same_on_a_rerun() {
        assert_eq!(sample_size(5), 5);
        assert_eq!(sample_size(20), 20);
        assert_eq!(sample_size(500), 20);
        assert_eq!(sample_size(100_000), 1000);
        let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        let a = sample(5000, seed(date, "lab-a"));
        assert_eq!(a.len(), 50);
        assert_eq!(a, sample(5000, seed(date, "lab-a")), "a rerun checks the same rows");
        assert_ne!(a, sample(5000, seed(date, "lab-b")));
        assert_ne!(a, sample(5000, seed(date.succ_opt().unwrap(), "lab-a")));
        assert!(a.windows(2).all(|w| w[0] < w[1]) && *a.last().unwrap() < 5000);
    }

    #[test]
    fn vectors_agree_only_when_nearly_parallel_and_of_one_length() {
        let v = [0.6f32, 0.8, 0.0];
        assert!(vectors_agree(&v, &[0.6, 0.8, 0.0]));
        assert!(vectors_agree(&v, &[0.6, 0.800_001, 0.0]));
        assert!(!vectors_agree(&v, &[0.6, 0.8, 0.01]));
        assert!(!vectors_agree(&v, &[0.6, 0.8]));
    }
}
