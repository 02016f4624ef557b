//! The features stage of a run: reads the run's `responses` (and, for the learned refusal
//! detector's MiniLM variant, the `embeddings` the embed stage just wrote) and writes `features`,
//! with the adoption of paired probes scored by the rules in the run's `probes` table.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use super::adoption::RunAdoption;
use super::detector::{Choice, RefusalDetector, Variant};
use super::table::{FeatureRow, FeaturesTable};
use super::{Features, Lexicon, extract, extract_normalised};
use crate::collect::responses::{self, OkText, ResponsesTable};
use crate::store::table::RunRef;
use crate::store::{self, Output, StoreError, TableWriter};

/// Texts extracted per batch (and per Parquet write).
const CHUNK: usize = 4096;

/// What the stage wrote.
#[derive(Debug, Clone)]
pub struct FeaturesStats {
    pub path: PathBuf,
    pub rows: u64,
    /// The refusal detector's version, as in every row.
    pub detector: String,
}

/// Writes the `features` table of a run. The run's embedder (`run.tag`) matters to the learned
/// detector: it reuses the run's vectors when its MiniLM variant was fitted for that embedder,
/// and embeds the openings lexically otherwise.
pub fn write_features(
    output: &Output,
    run: &RunRef,
    lexicon: &Lexicon,
    detector: &RefusalDetector,
) -> Result<FeaturesStats, StoreError> {
    let responses = store::table::path::<ResponsesTable>(output, run);
    let categories = responses::probe_categories(&responses)?;
    let adoption = RunAdoption::read(output, run)?;
    let mut texts = responses::OkTexts::open(&responses, CHUNK)?;
    let choice = detector.choose(&run.tag.id);
    let writer = store::table::writer::<FeaturesTable>(output, run)?;
    let out = writer.path().to_owned();
    let mut sink = Sink {
        writer,
        run,
        lexicon: &lexicon.version,
        detector: choice.id(),
        categories: &categories,
        adoption: &adoption,
    };
    match choice {
        Choice::Lexicon { .. } => {
            while let Some(chunk) = texts.next_chunk()? {
                sink.write(&chunk, &crate::util::parallel_map(&chunk, |r| extract(lexicon, &r.text)))?;
            }
        }
        Choice::Learned(variant) if variant.opening_chars.is_some() => {
            while let Some(chunk) = texts.next_chunk()? {
                let groups: Vec<&[OkText]> = chunk.chunks(crate::embed::lexical::LANES).collect();
                let features = crate::util::parallel_map(&groups, |g| label_lexically(lexicon, variant, g));
                sink.write(&chunk, &features.into_iter().flatten().collect::<Vec<_>>())?;
            }
        }
        Choice::Learned(variant) => {
            let vectors = store::table::path::<crate::embed::table::EmbeddingsTable>(output, run);
            label_with_run_vectors(lexicon, variant, &mut texts, &vectors, &mut sink)?;
        }
    }
    let rows = sink.writer.finish()?;
    Ok(FeaturesStats { path: out, rows, detector: choice.id().to_owned() })
}

struct Sink<'a> {
    writer: TableWriter,
    run: &'a RunRef,
    lexicon: &'a str,
    detector: &'a str,
    categories: &'a HashMap<String, String>,
    adoption: &'a RunAdoption,
}

impl Sink<'_> {
    fn write(&mut self, rows: &[OkText], features: &[Features]) -> Result<(), StoreError> {
        let adoption: Vec<_> = if self.adoption.is_empty() {
            vec![None; rows.len()]
        } else {
            crate::util::parallel_map(rows, |r| self.adoption.score(&r.probe_id, &r.text))
        };
        let category = |r: &OkText| self.categories.get(&r.probe_id).map_or("", String::as_str);
        let rows: Vec<FeatureRow> = (rows.iter().zip(features).zip(adoption))
            .map(|((r, f), a)| FeatureRow::of(r, category(r), (self.lexicon, self.detector), f, a))
            .collect();
        self.writer.write(&store::table::batch::<FeaturesTable>(self.run, &rows)?)
    }
}

/// The features of a few texts, labelled by the lexical variant: the lexical embeddings of
/// their openings, side by side.
fn label_lexically(lexicon: &Lexicon, variant: &Variant, group: &[OkText]) -> Vec<Features> {
    let (mut features, normalised): (Vec<Features>, Vec<String>) =
        group.iter().map(|r| extract_normalised(lexicon, &r.text)).unzip();
    let texts: Vec<&str> = group.iter().zip(&normalised).map(|(r, n)| variant.embedded_text(&r.text, n)).collect();
    for ((f, e), r) in features.iter_mut().zip(crate::embed::lexical::embed_batch(&texts)).zip(group) {
        f.refusal = variant.decide_text(f, &e, &r.text);
    }
    features
}

/// Labels with the run's own vectors: the `embeddings` file holds one row per ok response, in
/// the order of `responses` (the embed stage read them as this stage does); both are read in
/// step, a chunk at a time.
fn label_with_run_vectors(
    lexicon: &Lexicon,
    variant: &Variant,
    texts: &mut responses::OkTexts,
    vectors: &Path,
    sink: &mut Sink,
) -> Result<(), StoreError> {
    let mismatch = |problem: String| StoreError::Column {
        path: vectors.to_owned(),
        column: "embedding".into(),
        problem: format!("{problem} (the features stage reads one vector per ok response, in order)"),
    };
    let (mut pending, mut rows, mut batch) = (VecDeque::new(), Vec::with_capacity(CHUNK), Vec::with_capacity(CHUNK));
    let flush = |rows: &mut Vec<OkText>, batch: &mut Vec<Vec<f32>>, sink: &mut Sink| {
        let pairs: Vec<(&OkText, &Vec<f32>)> = rows.iter().zip(batch.iter()).collect();
        let features = crate::util::parallel_map(&pairs, |(r, e)| {
            let mut f = extract(lexicon, &r.text);
            f.refusal = variant.decide_text(&f, e, &r.text);
            f
        });
        sink.write(rows, &features)?;
        rows.clear();
        batch.clear();
        Ok::<(), StoreError>(())
    };
    crate::embed::table::for_each_row(vectors, |endpoint, probe, vector| {
        if pending.is_empty() {
            pending.extend(texts.next_chunk()?.unwrap_or_default());
        }
        let Some(row) = pending.pop_front() else {
            return Err(mismatch("holds more rows than the run has ok responses".into()));
        };
        if row.endpoint != endpoint || row.probe_id != probe {
            return Err(mismatch(format!(
                "has a vector of {endpoint}/{probe} where the responses have {}/{}",
                row.endpoint, row.probe_id
            )));
        }
        if vector.len() != variant.dim() {
            return Err(mismatch(format!("holds {} numbers a vector, {} expected", vector.len(), variant.dim())));
        }
        rows.push(row);
        batch.push(vector.to_vec());
        if rows.len() == CHUNK {
            flush(&mut rows, &mut batch, sink)?;
        }
        Ok(())
    })?;
    flush(&mut rows, &mut batch, sink)?;
    if !pending.is_empty() || texts.next_chunk()?.is_some() {
        return Err(mismatch("holds fewer rows than the run has ok responses".into()));
    }
    Ok(())
}
