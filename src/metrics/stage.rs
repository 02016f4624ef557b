//! The measure stage of a run: reads the run's stored `embeddings`, `responses` (texts and
//! categories) and `features`, and writes `probe_metrics`, `pair_similarity`, `run_metrics`,
//! `families` (per embedder) and `shared_phrases` (per run). Reading the stored tables is what
//! lets `hivewatch analyze` reproduce it exactly for any past run and embedder.
//!
//! Memory: rows of one probe are scattered through the tables, so the stage first spills
//! vectors and texts into partition files by probe (a hash partition in a temporary folder),
//! then measures one partition at a time, its probes in parallel. What is kept across
//! partitions is one record per probe: its measures and its model x model matrices.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::aggregate::{ProbeRecord, aggregate};
use super::behaviour::probe_behaviour;
use super::lexical::{probe_lexical, words};
use super::probe::{ModelSamples, probe_measures};
use super::unit_rows;
use crate::embed::Embedder;
use crate::store::shared_phrases::SharedPhrase;
use crate::store::{self, StoreError};

/// What the measure stage wrote.
#[derive(Debug, Clone)]
pub struct MeasureStats {
    pub probes: u64,
    pub pairs: u64,
    pub metrics: u64,
    /// The `run_metrics` file (also in `tables`).
    pub run_metrics: PathBuf,
    pub tables: Vec<PathBuf>,
}

/// Rows a partition holds, at most about (rows / PARTITIONS): 64 keeps a 100,000-response run
/// of 2,048-d vectors near 10 MB a partition.
const PARTITIONS: u64 = 64;

const VECTOR: u8 = 0;
const TEXT: u8 = 1;

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
    let flags = store::features::read_flags(&store::features::path(output, run_date, run_id))?;

    let scratch_root = output.join(crate::collect::journal::STATE_DIR).join("tmp");
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { path, source }
    };
    std::fs::create_dir_all(&scratch_root).map_err(io(&scratch_root))?;
    let scratch = tempfile::TempDir::new_in(&scratch_root).map_err(io(&scratch_root))?;
    let partition_path = |i: u64| scratch.path().join(format!("part-{i:02}.bin"));

    // Pass 1: spill vectors and texts into partitions by probe.
    let mut writers: Vec<Option<BufWriter<File>>> = (0..PARTITIONS).map(|_| None).collect();
    let mut spill = |tag: u8, endpoint: &str, probe: &str, payload: &[u8]| -> Result<(), StoreError> {
        let i = crate::util::stable_hash64(probe.as_bytes()) % PARTITIONS;
        let path = partition_path(i);
        let w = match &mut writers[i as usize] {
            Some(w) => w,
            slot => slot.insert(BufWriter::new(File::create(&path).map_err(io(&path))?)),
        };
        write_record(w, tag, endpoint, probe, payload).map_err(io(&path))
    };
    let mut bytes = Vec::new();
    store::embeddings::for_each_row(&embeddings, |endpoint, probe, vector| {
        bytes.clear();
        bytes.extend(vector.iter().flat_map(|x| x.to_le_bytes()));
        spill(VECTOR, endpoint, probe, &bytes)
    })?;
    let mut texts = store::responses::OkTexts::open(&responses, 4096)?;
    while let Some(chunk) = texts.next_chunk()? {
        for t in chunk {
            spill(TEXT, &t.endpoint, &t.probe_id, t.text.as_bytes())?;
        }
    }
    for (i, w) in writers.into_iter().enumerate() {
        if let Some(mut w) = w {
            w.flush().map_err(io(&partition_path(i as u64)))?;
        }
    }

    // Pass 2: one partition at a time, its probes in parallel.
    let mut records: Vec<ProbeRecord> = Vec::new();
    for i in 0..PARTITIONS {
        let path = partition_path(i);
        if !path.exists() {
            continue;
        }
        type Answers = (BTreeMap<String, Vec<Vec<f32>>>, BTreeMap<String, Vec<String>>);
        let mut by_probe: BTreeMap<String, Answers> = BTreeMap::new();
        read_records(&path, |tag, endpoint, probe, payload| {
            let entry = by_probe.entry(probe).or_default();
            if tag == VECTOR {
                let v = payload.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
                entry.0.entry(endpoint).or_default().push(v);
            } else {
                entry.1.entry(endpoint).or_default().push(String::from_utf8_lossy(&payload).into_owned());
            }
        })
        .map_err(io(&path))?;
        std::fs::remove_file(&path).map_err(io(&path))?;
        let probes: Vec<(String, Answers)> = by_probe.into_iter().collect();
        records.extend(crate::util::parallel_map(&probes, |(probe, (vectors, texts))| {
            let samples: Vec<ModelSamples> = vectors
                .iter()
                .map(|(model, rows)| ModelSamples { model: model.clone(), rows: unit_rows(rows) })
                .collect();
            let (measures, models) = probe_measures(&samples).unzip();
            let behaviour_input: Vec<(String, Vec<store::features::Flags>)> = texts
                .keys()
                .filter_map(|m| Some((m.clone(), flags.get(&(m.clone(), probe.clone()))?.clone())))
                .collect();
            let lexical_input: Vec<(String, Vec<Vec<String>>)> =
                texts.iter().map(|(m, t)| (m.clone(), t.iter().map(|x| words(x)).collect())).collect();
            ProbeRecord {
                probe: probe.clone(),
                category: categories.get(probe).cloned().unwrap_or_default(),
                measures,
                models,
                behaviour: probe_behaviour(&behaviour_input),
                lexical: probe_lexical(&lexical_input),
            }
        }));
    }
    records.sort_by(|a, b| a.probe.cmp(&b.probe));
    let run = aggregate(&records);

    let probe_path = store::per_embedder_path(output, store::probe_metrics::TABLE, run_date, run_id, embedder);
    let probes = store::probe_metrics::write(&probe_path, run_id, embedder.id(), &records)?;
    let pair_path = store::per_embedder_path(output, store::pair_similarity::TABLE, run_date, run_id, embedder);
    let pairs = store::pair_similarity::write(&pair_path, run_id, embedder.id(), &run.pairs)?;
    let metrics_path = store::per_embedder_path(output, store::run_metrics::TABLE, run_date, run_id, embedder);
    let metrics = store::run_metrics::write(&metrics_path, run_id, embedder.id(), &run.metrics)?;
    let families_path = store::per_embedder_path(output, store::families::TABLE, run_date, run_id, embedder);
    store::families::write(&families_path, run_id, embedder.id(), &run.families)?;
    let phrases_path = store::shared_phrases::path(output, run_date, run_id);
    let run_models = run.families.len().max(records.iter().map(ProbeRecord::n_models).max().unwrap_or(0));
    store::shared_phrases::write(&phrases_path, run_id, run_models, &shared_phrases(&records))?;
    Ok(MeasureStats {
        probes,
        pairs,
        metrics,
        run_metrics: metrics_path.clone(),
        tables: vec![probe_path, pair_path, metrics_path, families_path, phrases_path],
    })
}

/// Phrases shared on some probe, with the number of probes and the most models on one probe;
/// most widespread first.
fn shared_phrases(records: &[ProbeRecord]) -> Vec<SharedPhrase> {
    let mut by_phrase: HashMap<&str, (usize, usize)> = HashMap::new();
    for r in records {
        for (phrase, models) in &r.lexical.shared {
            let e = by_phrase.entry(phrase).or_default();
            e.0 += 1;
            e.1 = e.1.max(*models);
        }
    }
    let mut out: Vec<SharedPhrase> = by_phrase
        .into_iter()
        .map(|(p, (probes, max_models))| SharedPhrase { phrase: p.to_owned(), probes, max_models })
        .collect();
    out.sort_by(|a, b| b.probes.cmp(&a.probes).then(b.max_models.cmp(&a.max_models)).then(a.phrase.cmp(&b.phrase)));
    out
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
