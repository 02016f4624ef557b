//! The measure stage of a run: reads the run's stored `embeddings`, `responses` (texts and
//! categories) and `features`, and writes `probe_metrics`, `pair_similarity`, `run_metrics`,
//! `families` (per embedder) and `shared_phrases` (per run). Reading the stored tables is what
//! lets `hivewatch analyze` reproduce it exactly for any past run and embedder. The exposed side
//! of paired probes goes only into the contagion rows of `run_metrics` ([`super::contagion`]).
//!
//! Memory: rows of one probe are scattered through the tables, so the stage first spills
//! vectors and texts by probe ([`super::spill`]), then measures one partition at a time, its
//! probes in parallel. What is kept across partitions is one record per probe: its measures
//! and its model x model matrices.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::aggregate::{ProbeRecord, RunAggregates, RunMetric, aggregate_with, style_tests};
use super::behaviour::probe_behaviour;
use super::phrases::{probe_phrases, words};
use super::probe::{ModelSamples, probe_measures};
use super::spill::{Payload, Spill, read_partition};
use super::style::{ScaledStyle, Scaling, ScalingFit, StyleProbe};
use super::tables::families::FamiliesTable;
use super::tables::lineage_tree::LineageTreeTable;
use super::tables::pair_similarity::PairSimilarityTable;
use super::tables::probe_metrics::{ProbeMetricsTable, ProbeRow};
use super::tables::run_metrics::RunMetricsTable;
use super::tables::shared_phrases::{SharedPhrase, SharedPhrasesTable};
use super::unit_rows;
use crate::collect::responses::{self, OkTexts, ResponsesTable};
use crate::config::PairCategories;
use crate::embed::table::EmbeddingsTable;
use crate::features::Flags;
use crate::features::table::FeaturesTable;
use crate::store::table::{self, RunRef};
use crate::store::{Output, StoreError};
use crate::vocab::metric;

/// What the measure stage wrote.
#[derive(Debug, Clone)]
pub struct MeasureStats {
    pub probes: u64,
    pub pairs: u64,
    pub metrics: u64,
    /// The `run_metrics` file (also in `tables`).
    pub run_metrics: PathBuf,
    pub tables: Vec<PathBuf>,
    /// The rows of table `families` (every level): count them with
    /// [`crate::metrics::aggregate::families_at`].
    pub families: Vec<crate::metrics::aggregate::Family>,
}

/// One probe's answers: vectors, texts and scaled styles by model.
type Answers = (BTreeMap<String, Vec<Vec<f32>>>, BTreeMap<String, Vec<String>>, BTreeMap<String, Vec<ScaledStyle>>);

/// Computes and writes the measure tables for one run and embedder.
/// `pair_categories` says whether `pair_similarity` gets the per-category rows (`[output]`).
pub fn measure_run(output: &Output, run: &RunRef, pair_categories: PairCategories) -> Result<MeasureStats, StoreError> {
    let (mut records, contagion) = measured_sides(output, run, None)?;
    let mut measured = aggregate_lean(&mut records, pair_categories);
    measured.metrics.extend(contagion);

    let probe_rows: Vec<ProbeRow> = records.iter().map(ProbeRow::of).collect();
    let probe_path = table::write::<ProbeMetricsTable>(output, run, &probe_rows)?;
    let pair_path = table::write::<PairSimilarityTable>(output, run, &measured.pairs)?;
    let metrics_path = table::write::<RunMetricsTable>(output, run, &measured.metrics)?;
    let families_path = table::write::<FamiliesTable>(output, run, &measured.families)?;
    let tree_path = table::write::<LineageTreeTable>(output, run, &measured.tree)?;
    let overall_models = measured.metrics.iter().find(|m| m.scope.is_overall() && m.metric == metric::MODELS);
    let models = overall_models.map(|m| m.value as usize);
    let run_models = models.unwrap_or(0).max(records.iter().map(ProbeRecord::n_models).max().unwrap_or(0));
    let phrases_path = table::write::<SharedPhrasesTable>(output, run, &shared_phrases(&records, run_models))?;
    Ok(MeasureStats {
        probes: probe_rows.len() as u64,
        pairs: measured.pairs.len() as u64,
        metrics: measured.metrics.len() as u64,
        run_metrics: metrics_path.clone(),
        tables: vec![probe_path, pair_path, metrics_path, families_path, tree_path, phrases_path],
        families: measured.families,
    })
}

/// A run's `run_metrics` as if only the models (endpoints) of `panel` had been asked: every
/// measure recomputed from the stored tables over those models' answers alone, and nothing
/// written. The trend stage compares like with like with it when the set of models changed
/// (see [`crate::trend`]); it costs what measuring the run once did.
pub fn measure_panel(output: &Output, run: &RunRef, panel: &BTreeSet<String>) -> Result<Vec<RunMetric>, StoreError> {
    let (mut records, contagion) = measured_sides(output, run, Some(panel))?;
    let mut metrics = aggregate_lean(&mut records, PairCategories::Never).metrics;
    metrics.extend(contagion);
    Ok(metrics)
}

/// The aggregates, the per-probe styles let go of once the style signal is measured (they are
/// as large as a tenth of a run's content matrices, and the aggregates' bootstrap is the
/// stage's peak of memory).
fn aggregate_lean(records: &mut [ProbeRecord], pair_categories: PairCategories) -> RunAggregates {
    let style = style_tests(records);
    records.iter_mut().for_each(|r| r.style = None);
    aggregate_with(records, &style, pair_categories)
}

/// The records of the run's probes (the control side of paired probes included, the exposed
/// side left out, so every diversity measure is over answers given cold and a suite gaining
/// feeds does not move them), and the contagion rows ([`super::contagion`]) measured from the
/// exposed side and the adoption rows. With `panel`, only those endpoints' answers.
fn measured_sides(
    output: &Output,
    run: &RunRef,
    panel: Option<&BTreeSet<String>>,
) -> Result<(Vec<ProbeRecord>, Vec<RunMetric>), StoreError> {
    let (exposed, control): (Vec<ProbeRecord>, Vec<ProbeRecord>) =
        probe_records(output, run, panel)?.into_iter().partition(|r| crate::probes::feed::is_exposed(&r.probe));
    if exposed.is_empty() {
        return Ok((control, Vec::new()));
    }
    let mut adoption = crate::features::table::read_adoption(&table::path::<FeaturesTable>(output, run))?;
    adoption.retain(|a| panel.is_none_or(|p| p.contains(&a.endpoint)));
    let contagion = super::contagion::contagion_metrics(&adoption, &control, &exposed);
    Ok((control, contagion))
}

/// Every probe's record, sorted by probe id: the stored rows spilled by probe, then measured
/// one partition at a time. With `panel`, only those endpoints' answers are kept.
fn probe_records(
    output: &Output,
    run: &RunRef,
    panel: Option<&BTreeSet<String>>,
) -> Result<Vec<ProbeRecord>, StoreError> {
    let kept = |endpoint: &str| panel.is_none_or(|p| p.contains(endpoint));
    let embeddings = table::path::<EmbeddingsTable>(output, run);
    let responses = table::path::<ResponsesTable>(output, run);
    let categories = responses::probe_categories(&responses)?;
    let flags = crate::features::table::read_flags(&table::path::<FeaturesTable>(output, run))?;
    let claims: HashMap<String, Vec<f64>> = crate::embed::claims::read_vectors(output, run)?
        .into_iter()
        .map(|(probe, v)| (probe, unit_rows(&[v]).remove(0)))
        .collect();

    let scratch = output.scratch_dir();
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { path, source }
    };
    let mut spill = Spill::new(&scratch).map_err(io(&scratch))?;
    let mut bytes = Vec::new();
    // A lexical run whose vectors were not stored (`[output] lexical_embeddings`): computed
    // again from the texts, the same bits the file would have held.
    let recompute = !embeddings.exists() && run.tag == crate::embed::Embedder::Lexical.tag();
    if !recompute {
        crate::embed::table::for_each_row(&embeddings, |endpoint, probe, vector| {
            if !kept(endpoint) {
                return Ok(());
            }
            bytes.clear();
            bytes.extend(vector.iter().flat_map(|x| x.to_le_bytes()));
            spill.push(Payload::Vector, endpoint, probe, &bytes).map_err(io(&scratch))
        })?;
    }
    let mut texts = OkTexts::open(&responses, 4096)?;
    while let Some(chunk) = texts.next_chunk()? {
        let chunk: Vec<_> = chunk.into_iter().filter(|t| kept(&t.endpoint)).collect();
        if recompute {
            let vectors = crate::embed::lexical_vectors(&chunk.iter().map(|t| t.text.as_str()).collect::<Vec<_>>());
            for (t, vector) in chunk.iter().zip(vectors) {
                bytes.clear();
                bytes.extend(vector.iter().flat_map(|x| x.to_le_bytes()));
                spill.push(Payload::Vector, &t.endpoint, &t.probe_id, &bytes).map_err(io(&scratch))?;
            }
        }
        for t in chunk {
            spill.push(Payload::Text, &t.endpoint, &t.probe_id, t.text.as_bytes()).map_err(io(&scratch))?;
        }
    }
    let scaling = spill_styles(&table::path::<FeaturesTable>(output, run), &kept, &mut spill, &scratch)?;

    let mut records: Vec<ProbeRecord> = Vec::new();
    for path in spill.finish().map_err(io(&scratch))? {
        let mut by_probe: BTreeMap<String, Answers> = BTreeMap::new();
        read_partition(&path, |kind, endpoint, probe, payload| {
            let entry = by_probe.entry(probe).or_default();
            match kind {
                Payload::Vector => {
                    let v =
                        payload.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
                    entry.0.entry(endpoint).or_default().push(v);
                }
                Payload::Text => {
                    entry.1.entry(endpoint).or_default().push(String::from_utf8_lossy(&payload).into_owned());
                }
                Payload::Style => entry.2.entry(endpoint).or_default().push(Scaling::from_bytes(&payload)),
            }
        })
        .map_err(io(&path))?;
        std::fs::remove_file(&path).map_err(io(&path))?;
        let probes: Vec<(String, Answers)> = by_probe.into_iter().collect();
        records.extend(crate::util::parallel_map(&probes, |(probe, answers)| {
            let claim = claims.get(crate::probes::feed::control_id(probe)).map(Vec::as_slice);
            let mut record =
                probe_record(probe, answers, categories.get(probe).cloned().unwrap_or_default(), &flags, claim);
            record.style = scaling.as_ref().and_then(|s| StyleProbe::of(&answers.2, s));
            record
        }));
    }
    records.sort_by(|a, b| a.probe.cmp(&b.probe));
    Ok(records)
}

/// Everything measured on one probe from its answers.
fn probe_record(
    probe: &str,
    (vectors, texts, _): &Answers,
    category: String,
    flags: &HashMap<(String, String), Vec<Flags>>,
    claim: Option<&[f64]>,
) -> ProbeRecord {
    let samples: Vec<ModelSamples> =
        vectors.iter().map(|(model, rows)| ModelSamples { model: model.clone(), rows: unit_rows(rows) }).collect();
    let (measures, models) = probe_measures(&samples).unzip();
    let behaviour_input: Vec<(String, Vec<Flags>)> =
        texts.keys().filter_map(|m| Some((m.clone(), flags.get(&(m.clone(), probe.to_owned()))?.clone()))).collect();
    let phrase_input: Vec<(String, Vec<Vec<String>>)> =
        texts.iter().map(|(m, t)| (m.clone(), t.iter().map(|x| words(x)).collect())).collect();
    ProbeRecord {
        probe: probe.to_owned(),
        category,
        measures,
        models,
        behaviour: probe_behaviour(&behaviour_input),
        phrases: probe_phrases(&phrase_input),
        claim_similarity: claim.map(|c| super::contagion::claim_similarity(&samples, c)).unwrap_or_default(),
        style: None,
    }
}

/// The run's style scaling ([`super::style`]) over the kept answers of its `features` (the
/// exposed side of paired probes left out, as from every measure but contagion), and each of
/// those answers scaled into the spill. None when the features have no style.
fn spill_styles(
    features: &Path,
    kept: &dyn Fn(&str) -> bool,
    spill: &mut Spill,
    scratch: &Path,
) -> Result<Option<Scaling>, StoreError> {
    let counted = |endpoint: &str, probe: &str| kept(endpoint) && !crate::probes::feed::is_exposed(probe);
    let mut fit = ScalingFit::style_v1();
    crate::features::table::for_each_style(features, |endpoint, probe, style| {
        if counted(endpoint, probe) {
            fit.push(&style.values, &style.opener, &style.closer);
        }
    })?;
    let Some(scaling) = fit.finish() else { return Ok(None) };
    let mut failed = None;
    crate::features::table::for_each_style(features, |endpoint, probe, style| {
        if failed.is_none() && counted(endpoint, probe) {
            let bytes = Scaling::to_bytes(&scaling.scale(&style.values, &style.opener, &style.closer));
            failed = spill.push(Payload::Style, endpoint, probe, &bytes).err();
        }
    })?;
    match failed {
        Some(source) => Err(StoreError::Io { path: scratch.to_owned(), source }),
        None => Ok(Some(scaling)),
    }
}

/// Phrases shared on some probe, with the number of probes and the most models on one probe
/// (of the run's `run_models`); most widespread first.
fn shared_phrases(records: &[ProbeRecord], run_models: usize) -> Vec<SharedPhrase> {
    let mut by_phrase: HashMap<&str, (usize, usize)> = HashMap::new();
    for r in records {
        for (phrase, models) in &r.phrases.shared {
            let e = by_phrase.entry(phrase).or_default();
            e.0 += 1;
            e.1 = e.1.max(*models);
        }
    }
    let mut out: Vec<SharedPhrase> = by_phrase
        .into_iter()
        .map(|(p, (probes, max_models))| SharedPhrase { phrase: p.to_owned(), probes, max_models, run_models })
        .collect();
    out.sort_by(|a, b| b.probes.cmp(&a.probes).then(b.max_models.cmp(&a.max_models)).then(a.phrase.cmp(&b.phrase)));
    out
}
