//! The measure stage of a run: reads the run's stored `embeddings` (and `responses` for
//! categories) and writes `probe_metrics` and `pair_similarity`. Reading the stored tables is
//! what lets `hivewatch analyze` reproduce it exactly for any past run and embedder.
//!
//! Memory: rows of one probe are scattered through the embeddings file, so the stage first
//! spills rows into partition files by probe (a hash partition in a temporary folder), then
//! measures one partition at a time. Model-pair similarity of a probe needs only each model's sum
//! of unit vectors and count (the mean of cross dot products is the dot product of the means);
//! what is kept across partitions is one number per (pair, probe).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::pair::{ModelSums, pair_values, summarise};
use super::probe::{ModelSamples, probe_measures};
use super::unit_rows;
use crate::embed::Embedder;
use crate::store::{self, StoreError};

/// What the measure stage wrote.
#[derive(Debug, Clone)]
pub struct MeasureStats {
    pub probes: u64,
    pub pairs: u64,
    pub tables: Vec<PathBuf>,
}

/// Rows a partition holds, at most about (rows / PARTITIONS): 64 keeps a 100,000-response run
/// of 2,048-d vectors near 10 MB a partition.
const PARTITIONS: u64 = 64;

/// Computes and writes the measure tables for one run and embedder.
pub fn measure_run(
    output: &Path,
    run_date: NaiveDate,
    run_id: &str,
    embedder: &Embedder,
) -> Result<MeasureStats, StoreError> {
    let embeddings = store::embeddings::path(output, run_date, run_id, embedder);
    let responses = store::table_path(output, store::responses::TABLE, run_date, run_id);
    let categories = store::responses::probe_categories(&responses)?;

    let scratch_root = output.join(crate::collect::journal::STATE_DIR).join("tmp");
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { path, source }
    };
    std::fs::create_dir_all(&scratch_root).map_err(io(&scratch_root))?;
    let scratch = tempfile::TempDir::new_in(&scratch_root).map_err(io(&scratch_root))?;
    let partition_path = |i: u64| scratch.path().join(format!("part-{i:02}.bin"));

    // Pass 1: spill rows into partitions by probe.
    let mut writers: Vec<Option<BufWriter<File>>> = (0..PARTITIONS).map(|_| None).collect();
    store::embeddings::for_each_row(&embeddings, |endpoint, probe, vector| {
        let i = crate::util::stable_hash64(probe.as_bytes()) % PARTITIONS;
        let path = partition_path(i);
        let w = match &mut writers[i as usize] {
            Some(w) => w,
            slot => slot.insert(BufWriter::new(File::create(&path).map_err(io(&path))?)),
        };
        write_record(w, endpoint, probe, vector).map_err(io(&path))
    })?;
    for (i, w) in writers.into_iter().enumerate() {
        if let Some(mut w) = w {
            w.flush().map_err(io(&partition_path(i as u64)))?;
        }
    }

    // Pass 2: one partition at a time.
    let mut probe_rows: Vec<store::probe_metrics::Row> = Vec::new();
    // (category or None for all) -> pair -> (probe, similarity).
    type PairValues = BTreeMap<(String, String), Vec<(String, f64)>>;
    let mut pair_scopes: BTreeMap<Option<String>, PairValues> = BTreeMap::new();
    for i in 0..PARTITIONS {
        let path = partition_path(i);
        if !path.exists() {
            continue;
        }
        let mut by_probe: BTreeMap<String, BTreeMap<String, Vec<Vec<f32>>>> = BTreeMap::new();
        read_records(&path, |endpoint, probe, vector| {
            by_probe.entry(probe).or_default().entry(endpoint).or_default().push(vector);
        })
        .map_err(io(&path))?;
        std::fs::remove_file(&path).map_err(io(&path))?;
        for (probe, models) in by_probe {
            let samples: Vec<ModelSamples> =
                models.into_iter().map(|(model, rows)| ModelSamples { model, rows: unit_rows(&rows) }).collect();
            let probe_sums: ModelSums = samples.iter().map(|m| (m.model.clone(), ModelSums::sum_of(&m.rows))).collect();
            if let Some(measures) = probe_measures(&samples) {
                probe_rows.push((probe.clone(), categories.get(&probe).cloned().unwrap_or_default(), measures));
            }
            let category = categories.get(&probe).cloned().unwrap_or_default();
            for (pair, v) in pair_values(&probe_sums) {
                for scope in [None, Some(category.clone())] {
                    pair_scopes.entry(scope).or_default().entry(pair.clone()).or_default().push((probe.clone(), v));
                }
            }
        }
    }
    probe_rows.sort_by(|a, b| a.0.cmp(&b.0));
    let probe_path = store::per_embedder_path(output, store::probe_metrics::TABLE, run_date, run_id, embedder);
    let probes = store::probe_metrics::write(&probe_path, run_id, embedder.id(), &probe_rows)?;

    // Overall (None sorts first), then per category; values in probe order, so the bootstrap
    // does not depend on how probes fell into partitions.
    let mut pair_rows: Vec<store::pair_similarity::Row> = Vec::new();
    for (scope, pairs) in pair_scopes {
        let per_pair = pairs
            .into_iter()
            .map(|(pair, mut values)| {
                values.sort_by(|a, b| a.0.cmp(&b.0));
                (pair, values.into_iter().map(|(_, v)| v).collect())
            })
            .collect();
        pair_rows.extend(summarise(per_pair).into_iter().map(|p| (scope.clone(), p)));
    }
    let pair_path = store::per_embedder_path(output, store::pair_similarity::TABLE, run_date, run_id, embedder);
    let pairs = store::pair_similarity::write(&pair_path, run_id, embedder.id(), &pair_rows)?;
    Ok(MeasureStats { probes, pairs, tables: vec![probe_path, pair_path] })
}

fn write_record(w: &mut impl Write, endpoint: &str, probe: &str, vector: &[f32]) -> std::io::Result<()> {
    for s in [endpoint, probe] {
        w.write_all(&(s.len() as u32).to_le_bytes())?;
        w.write_all(s.as_bytes())?;
    }
    w.write_all(&(vector.len() as u32).to_le_bytes())?;
    for x in vector {
        w.write_all(&x.to_le_bytes())?;
    }
    Ok(())
}

fn read_records(path: &Path, mut f: impl FnMut(String, String, Vec<f32>)) -> std::io::Result<()> {
    let mut r = BufReader::new(File::open(path)?);
    let mut word = [0u8; 4];
    let mut next_u32 = |r: &mut BufReader<File>| -> std::io::Result<Option<u32>> {
        match r.read_exact(&mut word) {
            Ok(()) => Ok(Some(u32::from_le_bytes(word))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    };
    let eof = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "truncated partition record");
    while let Some(len) = next_u32(&mut r)? {
        let mut strings = [String::new(), String::new()];
        for (k, s) in strings.iter_mut().enumerate() {
            let len = if k == 0 { len } else { next_u32(&mut r)?.ok_or_else(eof)? };
            let mut bytes = vec![0u8; len as usize];
            r.read_exact(&mut bytes)?;
            *s = String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        }
        let dim = next_u32(&mut r)?.ok_or_else(eof)? as usize;
        let mut bytes = vec![0u8; dim * 4];
        r.read_exact(&mut bytes)?;
        let vector = bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        let [endpoint, probe] = strings;
        f(endpoint, probe, vector);
    }
    Ok(())
}
