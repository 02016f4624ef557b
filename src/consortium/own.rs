//! Members that embed and describe their own answers (`[consortium] embed = "member"`), and
//! what the coordinator makes of what they publish.
//!
//! - A **member** ([`describe`]) runs the pipeline's embed and features stages on its run (the
//!   same functions the tail calls, with the consortium's `[embed]`), and publishes `embeddings`
//!   and `features` beside its `responses`, signed in its manifest, its `runs` row (naming its
//!   embedder) still last.
//! - The **coordinator** ([`slice`]) turns each member's part of the union into a *slice*: the
//!   member's union rows written alone in a scratch folder (as the union writes them), with
//!   their `embeddings` and `features`. These are the member's when its embedder id and feature
//!   versions are the coordinator's, its rows line up with its responses (endpoint, probe,
//!   sample and the text's SHA-256, in order), and the spot check agrees ([`super::spot`]); the
//!   coordinator's own, by the same stage code on the slice, when the member published none, or
//!   with another embedder or other feature versions. A member whose rows do not line up, or
//!   whose spot check disagrees, is left out of the night. [`write_union`] then writes the
//!   union's tables as the slices in the union's order: the rows, values and order the
//!   coordinator would have computed over the whole union.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

pub use super::spot::Fault;
use super::union::{self, MemberPart, endpoint_name};
use crate::collect::responses::{OkText, OkTexts};
use crate::embed::cache::EmbeddingCache;
use crate::embed::table::{EmbeddingRow, EmbeddingsTable};
use crate::embed::{self, EmbedError, EmbedStats};
use crate::features::stage::FeaturesStats;
use crate::features::table::{FeatureRow, FeaturesTable};
use crate::pipeline::Prepared;
use crate::plan::probe_table::ProbesTable;
use crate::probes::Probe;
use crate::session::Instruments;
use crate::store::columns::Columns;
use crate::store::table::{self, RunRef, Table};
use crate::store::{Output, StoreError, TableWriter};

/// A member's night, embedded and described by the member: runs the embed and features stages
/// on `run` (its responses written) and returns the files to publish (`embeddings`, `features`).
pub fn describe(
    output: &Output,
    run: &RunRef,
    instruments: &Instruments,
    cache: &mut EmbeddingCache,
) -> Result<Vec<PathBuf>, EmbedError> {
    let (embedded, embeddings) = super::spot::embed_stored(output, run, instruments, cache)?;
    let features = crate::features::stage::write_features(output, run, &instruments.lexicon, &instruments.refusal)?;
    tracing::info!(
        run_id = %run.id,
        embedder = %embedded.embedder_id,
        rows = embedded.rows,
        refusal = %features.detector,
        "embedded and described the member's answers"
    );
    Ok(vec![embeddings, features.path])
}

/// The member's fault, when reading what it published fails.
fn theirs(what: &'static str) -> impl Fn(StoreError) -> Fault {
    move |e| Fault::Member(format!("its {what} cannot be read: {e}"))
}

/// One member's part of the union's `embeddings` and `features`.
#[derive(Debug, Clone)]
pub struct Slice {
    pub embeddings: PathBuf,
    pub features: PathBuf,
    /// Rows (ok answers) and how many of them the coordinator embedded.
    pub rows: u64,
    pub newly_embedded: u64,
    /// Who embedded it: `member` or `coordinator` (the `member_runs` column).
    pub embedded_by: &'static str,
    /// What the coordinator did with the member's files, in words (`member_runs.note`).
    pub note: String,
}

/// The coordinator's instruments, as a slice needs them.
pub struct Kit<'a> {
    pub instruments: &'a Instruments,
    pub cache: &'a mut EmbeddingCache,
    /// The spot check's seed for this member (the night's date and the member).
    pub seed: u64,
}

/// A member's note when it published no embeddings of its own.
pub(super) const NOT_OWN: &str = "embedded and described by the coordinator (the member published no embeddings)";

/// Builds `part`'s slice under `scratch` (its own folder): its union responses and `probes`,
/// then its `embeddings` and `features`, taken from the member or computed (see the module).
pub fn slice(scratch: &Output, run: &RunRef, part: &MemberPart, probes: &[Probe], kit: Kit) -> Result<Slice, Fault> {
    let responses = table::path::<crate::collect::responses::ResponsesTable>(scratch, run);
    union::write(scratch, run, std::slice::from_ref(part))?;
    table::write::<ProbesTable>(scratch, run, probes)?;
    let Kit { instruments, cache, seed } = kit;
    let tag = &run.tag;
    let refused = match &part.own {
        None => Some(NOT_OWN.to_owned()),
        Some(own) if own.embedder_id != tag.id => Some(format!(
            "re-embedded and described by the coordinator: the member embedded with {}, not the consortium's {}",
            own.embedder_id, tag.id
        )),
        Some(own) if own.embeddings.is_none() => Some(format!(
            "embedded and described by the coordinator: the member names embedder {} but published no embeddings file",
            own.embedder_id
        )),
        Some(_) => None,
    };
    let (Some(own), None) = (&part.own, &refused) else {
        return computed(scratch, run, instruments, cache, refused.unwrap_or_default());
    };
    let embeddings = own.embeddings.as_ref().expect("checked above");
    let embeddings_out = table::path::<EmbeddingsTable>(scratch, run);
    let rows = take_embeddings(embeddings, &responses, &embeddings_out, run, &part.member)?;
    let versions = Versions::of(instruments, &tag.id);
    let features_out = table::path::<FeaturesTable>(scratch, run);
    let mut note = "embedded and described by the member".to_owned();
    let taken = match &own.features {
        Some(f) => take_features(f, &responses, &features_out, run, (&part.member, &versions))?,
        None => Err("it published no features".to_owned()),
    };
    if let Err(why) = taken {
        let written = crate::features::stage::write_features(scratch, run, &instruments.lexicon, &instruments.refusal)?;
        debug_assert_eq!(written.path, features_out);
        note = format!("embedded by the member; features extracted again by the coordinator: {why}");
    }
    let checked = super::spot::check(scratch, run, probes, (instruments, cache), (seed, rows))?;
    note.push_str(&format!(" (spot check: {checked} of {rows} rows embedded again, all agree)"));
    Ok(Slice {
        embeddings: embeddings_out,
        features: features_out,
        rows,
        newly_embedded: 0,
        embedded_by: "member",
        note,
    })
}

/// The slice embedded and described by the coordinator itself: the tail's stages, on the slice.
fn computed(
    scratch: &Output,
    run: &RunRef,
    instruments: &Instruments,
    cache: &mut EmbeddingCache,
    note: String,
) -> Result<Slice, Fault> {
    let (embedded, embeddings) = super::spot::embed_stored(scratch, run, instruments, cache)?;
    let features = crate::features::stage::write_features(scratch, run, &instruments.lexicon, &instruments.refusal)?;
    Ok(Slice {
        embeddings,
        features: features.path,
        rows: embedded.rows,
        newly_embedded: embedded.newly_embedded,
        embedded_by: "coordinator",
        note,
    })
}

/// The feature versions the coordinator writes with its instruments.
struct Versions {
    lexicon: String,
    refusal: String,
    style: &'static str,
}

impl Versions {
    fn of(instruments: &Instruments, embedder_id: &str) -> Versions {
        Versions {
            lexicon: instruments.lexicon.version.clone(),
            refusal: instruments.refusal.choose(embedder_id).id().to_owned(),
            style: crate::features::style::VERSION,
        }
    }

    fn differ(&self, r: &FeatureRow) -> Option<String> {
        let theirs = (r.lexicon_version.as_str(), r.refusal_detector.as_str(), r.style_version.as_str());
        (theirs != (self.lexicon.as_str(), self.refusal.as_str(), self.style)).then(|| {
            format!(
                "the member's are lexicon {}, refusal {}, style {}, not the consortium's {}, {}, {}",
                theirs.0, theirs.1, theirs.2, self.lexicon, self.refusal, self.style
            )
        })
    }
}

/// The slice's ok answers, read in step with a member's rows: each of the member's rows must be
/// the next answer's (its endpoint under the union's name, probe and sample).
struct InStep {
    texts: OkTexts,
    pending: VecDeque<OkText>,
    member: String,
    table: &'static str,
}

impl InStep {
    fn open(responses: &Path, member: &str, table: &'static str) -> Result<InStep, Fault> {
        Ok(InStep { texts: OkTexts::open(responses, 4096)?, pending: VecDeque::new(), member: member.into(), table })
    }

    /// The next answer, which must be the member's row `(endpoint, probe, sample)`.
    fn next(&mut self, (endpoint, probe, sample): (&str, &str, i32)) -> Result<OkText, Fault> {
        if self.pending.is_empty() {
            self.pending.extend(self.texts.next_chunk()?.unwrap_or_default());
        }
        let table = self.table;
        let Some(t) = self.pending.pop_front() else {
            return Err(Fault::Member(format!("its {table} hold more rows than it has ok answers")));
        };
        if t.endpoint != endpoint_name(&self.member, endpoint) || t.probe_id != probe || t.sample_index != sample {
            return Err(Fault::Member(format!(
                "its {table} do not follow its responses: a row of {endpoint} {probe} sample {sample} where the answer of {} {} sample {} comes",
                t.endpoint, t.probe_id, t.sample_index
            )));
        }
        Ok(t)
    }

    /// Checks that every answer had its row.
    fn finish(mut self) -> Result<(), Fault> {
        if !self.pending.is_empty() || self.texts.next_chunk()?.is_some() {
            return Err(Fault::Member(format!("its {} hold fewer rows than it has ok answers", self.table)));
        }
        Ok(())
    }
}

/// Writes a member's `embeddings` as the slice's (`out`): every row checked against the slice's
/// answers (in order, the text's hash, the embedder id, usable vectors), relabelled to the union.
/// Returns the rows.
fn take_embeddings(member_file: &Path, responses: &Path, out: &Path, run: &RunRef, member: &str) -> Result<u64, Fault> {
    let mut answers = InStep::open(responses, member, "embeddings")?;
    let mut writer = TableWriter::create(out, table::schema::<EmbeddingsTable>())?;
    let mut dim = None;
    for batch in crate::store::batch_reader(member_file, 1024).map_err(theirs("embeddings"))? {
        let batch = batch.map_err(|e| Fault::Member(format!("its embeddings cannot be read: {e}")))?;
        let c = Columns::new(&batch, member_file);
        let ids = c.strings("embedder_id").map_err(theirs("embeddings"))?;
        let mut rows: Vec<EmbeddingRow> = EmbeddingsTable::from_arrow(&c).map_err(theirs("embeddings"))?;
        let vectors: Vec<Vec<f32>> = rows.iter().map(|r| r.embedding.clone()).collect();
        embed::check_vectors(&vectors, rows.len(), dim)
            .map_err(|problem| Fault::Member(format!("its embeddings are unusable: {problem}")))?;
        dim = dim.or(vectors.first().map(Vec::len));
        for (i, r) in rows.iter_mut().enumerate() {
            if ids.value(i) != run.tag.id {
                return Err(Fault::Member(format!("a row of its embeddings is of embedder {}", ids.value(i))));
            }
            let t = answers.next((&r.endpoint, &r.probe_id, r.sample_index))?;
            if r.text_hash != hex::encode(embed::text_hash(&t.text)) {
                return Err(Fault::Member(format!(
                    "its embeddings' row of {} {} sample {} is of another text than its answer",
                    r.endpoint, r.probe_id, r.sample_index
                )));
            }
            r.endpoint = t.endpoint;
        }
        writer.write(&table::batch::<EmbeddingsTable>(run, &rows)?)?;
    }
    answers.finish()?;
    Ok(writer.finish()?)
}

/// Writes a member's `features` as the slice's (`out`), every row checked against the slice's
/// answers and relabelled. `Ok(Err(why))`: written with other feature versions, so the
/// coordinator extracts them itself.
fn take_features(
    member_file: &Path,
    responses: &Path,
    out: &Path,
    run: &RunRef,
    (member, versions): (&str, &Versions),
) -> Result<Result<u64, String>, Fault> {
    let mut answers = InStep::open(responses, member, "features")?;
    let mut writer = TableWriter::create(out, table::schema::<FeaturesTable>())?;
    let mut first = true;
    for batch in crate::store::batch_reader(member_file, 4096).map_err(theirs("features"))? {
        let batch = batch.map_err(|e| Fault::Member(format!("its features cannot be read: {e}")))?;
        let mut rows = FeaturesTable::from_arrow(&Columns::new(&batch, member_file)).map_err(theirs("features"))?;
        for r in &mut rows {
            match versions.differ(r) {
                Some(why) if first => return Ok(Err(why)),
                Some(why) => return Err(Fault::Member(format!("its features mix versions: {why}"))),
                None => first = false,
            }
            r.endpoint = answers.next((&r.endpoint, &r.probe_id, r.sample_index))?.endpoint;
        }
        writer.write(&table::batch::<FeaturesTable>(run, &rows)?)?;
    }
    answers.finish()?;
    Ok(Ok(writer.finish()?))
}

/// Writes the union's `embeddings`, `claim_embeddings` and `features` from the slices (in the
/// union's order), and says what the tail's embed and features stages would have.
pub fn write_union(
    output: &Output,
    run: &RunRef,
    slices: &[Slice],
    instruments: &Instruments,
) -> Result<Prepared, EmbedError> {
    let embeddings = concat::<EmbeddingsTable>(output, run, slices.iter().map(|s| &s.embeddings))?;
    let features = concat::<FeaturesTable>(output, run, slices.iter().map(|s| &s.features))?;
    embed::claims::embed_claims(output, run, &instruments.embedder)?;
    let embedder = &instruments.embedder;
    Ok(Prepared {
        embedded: EmbedStats {
            embedder_id: embedder.id().to_owned(),
            rows: embeddings.1,
            newly_embedded: slices.iter().map(|s| s.newly_embedded).sum(),
            cached: embedder.is_cached(),
            path: Some(embeddings.0),
        },
        features: FeaturesStats {
            path: features.0,
            rows: features.1,
            detector: instruments.refusal.choose(&run.tag.id).id().to_owned(),
        },
    })
}

/// The run's table `T` as the files' rows, one after the other.
fn concat<'a, T: Table>(
    output: &Output,
    run: &RunRef,
    files: impl Iterator<Item = &'a PathBuf>,
) -> Result<(PathBuf, u64), StoreError> {
    let mut writer = table::writer::<T>(output, run)?;
    let path = writer.path().to_owned();
    for file in files {
        for batch in crate::store::batch_reader(file, 4096)? {
            let batch = batch.map_err(|source| StoreError::Arrow { table: T::DECL.name, source })?;
            let rows = T::from_arrow(&Columns::new(&batch, file))?;
            writer.write(&table::batch::<T>(run, &rows)?)?;
        }
    }
    Ok((path, writer.finish()?))
}
