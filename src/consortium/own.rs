//! Members that embed and describe their own answers (`[consortium] embed = "member"`), and
//! what the coordinator makes of what they publish.
//!
//! - A **member** ([`describe`]) runs the pipeline's embed and features stages on its run (the
//!   same functions the tail calls, with the consortium's `[embed]`), and publishes `embeddings`
//!   and `features` beside its `responses`, signed in its manifest, its `runs` row (naming its
//!   embedder) still last.
//! - The **coordinator** turns each member whose own files it can use ([`usable`]: its
//!   embedder id is the coordinator's) into a *slice* ([`slice`]): the member's union rows
//!   written alone in a scratch folder (as the union writes them), with their `embeddings` and
//!   `features`, checked to line up with its responses (endpoint, probe, sample and the text's
//!   SHA-256, in order) and spot-checked ([`super::spot`]); features of other versions are
//!   extracted again. A member whose rows do not line up, or whose spot check disagrees, is left
//!   out of the night. Every other member's answers (none published, another embedder) the
//!   coordinator embeds and describes itself, all of them in one pass ([`compute`]: the tail's
//!   stages over their union). [`write_union`] then writes the union's tables as the pieces in
//!   the union's order, streaming, a batch at a time: the rows, values and order the
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

/// A member's own part of the union's `embeddings` and `features`, checked and relabelled.
#[derive(Debug, Clone)]
pub struct Slice {
    pub embeddings: PathBuf,
    pub features: PathBuf,
    /// Rows (ok answers).
    pub rows: u64,
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

/// The member's own embeddings file when the coordinator can use it (the consortium's embedder
/// id); `Err`: why the coordinator embeds and describes the member's answers itself (the note).
pub fn usable(part: &MemberPart, embedder_id: &str) -> Result<PathBuf, String> {
    match &part.own {
        None => Err(NOT_OWN.to_owned()),
        Some(own) if own.embedder_id != embedder_id => Err(format!(
            "re-embedded and described by the coordinator: the member embedded with {}, not the consortium's {embedder_id}",
            own.embedder_id
        )),
        Some(own) => own.embeddings.clone().ok_or_else(|| {
            format!(
                "embedded and described by the coordinator: the member names embedder {} but published no embeddings file",
                own.embedder_id
            )
        }),
    }
}

/// Builds the slice of `part`, whose own `embeddings` are usable ([`usable`]), under `scratch`
/// (its own folder): its union responses and `probes`, its rows checked and relabelled, its
/// `features` taken (or extracted again when of other versions), then the spot check.
pub fn slice(
    scratch: &Output,
    run: &RunRef,
    (part, embeddings): (&MemberPart, &Path),
    probes: &[Probe],
    kit: Kit,
) -> Result<Slice, Fault> {
    let responses = table::path::<crate::collect::responses::ResponsesTable>(scratch, run);
    union::write(scratch, run, std::slice::from_ref(part))?;
    table::write::<ProbesTable>(scratch, run, probes)?;
    let Kit { instruments, cache, seed } = kit;
    let embeddings_out = table::path::<EmbeddingsTable>(scratch, run);
    let rows = take_embeddings(embeddings, &responses, &embeddings_out, run, &part.member)?;
    let versions = Versions::of(instruments, &run.tag.id);
    let features_out = table::path::<FeaturesTable>(scratch, run);
    let mut note = "embedded and described by the member".to_owned();
    let taken = match part.own.as_ref().and_then(|own| own.features.as_ref()) {
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
    Ok(Slice { embeddings: embeddings_out, features: features_out, rows, note })
}

/// The answers of every member whose own files the coordinator cannot use, embedded and
/// described by the coordinator in one pass (the tail's stages over their union, in the
/// union's order), as the tail does when no member embeds.
#[derive(Debug, Clone)]
pub struct Computed {
    pub embeddings: PathBuf,
    pub features: PathBuf,
    pub rows: u64,
    pub newly_embedded: u64,
}

/// Embeds and describes `parts` (in the union's order) under `scratch` in one pass.
pub fn compute(
    scratch: &Output,
    run: &RunRef,
    parts: &[MemberPart],
    probes: &[Probe],
    (instruments, cache): (&Instruments, &mut EmbeddingCache),
) -> Result<Computed, EmbedError> {
    union::write(scratch, run, parts)?;
    table::write::<ProbesTable>(scratch, run, probes)?;
    let (embedded, embeddings) = super::spot::embed_stored(scratch, run, instruments, cache)?;
    let features = crate::features::stage::write_features(scratch, run, &instruments.lexicon, &instruments.refusal)?;
    Ok(Computed { embeddings, features: features.path, rows: embedded.rows, newly_embedded: embedded.newly_embedded })
}

/// A member's place in the union's `embeddings` and `features`: its own slice, or its rows of
/// what the coordinator computed ([`Computed`]).
#[derive(Debug, Clone)]
pub enum Piece {
    Own(Slice),
    Coordinator { member: String },
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

/// Writes the union's `embeddings`, `claim_embeddings` and `features` from the pieces (in the
/// union's order), and says what the tail's embed and features stages would have.
pub fn write_union(
    output: &Output,
    run: &RunRef,
    pieces: &[Piece],
    computed: Option<&Computed>,
    instruments: &Instruments,
) -> Result<Prepared, EmbedError> {
    let embeddings = Concat { pieces, own: |s| &s.embeddings, computed: computed.map(|c| c.embeddings.as_path()) }
        .write::<EmbeddingsTable>(output, run, EMBEDDING_BATCH)?;
    let features = Concat { pieces, own: |s| &s.features, computed: computed.map(|c| c.features.as_path()) }
        .write::<FeaturesTable>(output, run, 4096)?;
    embed::claims::embed_claims(output, run, &instruments.embedder)?;
    let embedder = &instruments.embedder;
    Ok(Prepared {
        embedded: EmbedStats {
            embedder_id: embedder.id().to_owned(),
            rows: embeddings.1,
            newly_embedded: computed.map_or(0, |c| c.newly_embedded),
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

/// Rows of `embeddings` read at a time when concatenating (a lexical vector is 8 KiB).
const EMBEDDING_BATCH: usize = 1024;

/// One table's pieces: each member's own file, or its rows of the computed file.
struct Concat<'a> {
    pieces: &'a [Piece],
    own: fn(&Slice) -> &Path,
    computed: Option<&'a Path>,
}

impl Concat<'_> {
    /// The run's table `T` as the pieces' rows, one after the other, a batch in memory at a
    /// time (copied as read: every file has the table's columns, written by this process).
    fn write<T: Table>(&self, output: &Output, run: &RunRef, batch_size: usize) -> Result<(PathBuf, u64), StoreError> {
        let schema = table::schema::<T>();
        let mut writer = table::writer::<T>(output, run)?;
        let path = writer.path().to_owned();
        let arrow = |source| StoreError::Arrow { table: T::DECL.name, source };
        let mut write = |batch: &arrow_array::RecordBatch| {
            let batch = arrow_array::RecordBatch::try_new(std::sync::Arc::clone(&schema), batch.columns().to_vec());
            writer.write(&batch.map_err(arrow)?)
        };
        let mut computed = match self.computed {
            Some(file) => Some(Segments::open(file, batch_size)?),
            None => None,
        };
        for piece in self.pieces {
            match piece {
                Piece::Own(slice) => {
                    for batch in crate::store::batch_reader((self.own)(slice), batch_size)? {
                        write(&batch.map_err(arrow)?)?;
                    }
                }
                Piece::Coordinator { member } => {
                    let segments = computed.as_mut().expect("a member the coordinator embedded has computed rows");
                    segments.take(member, &mut write)?;
                }
            }
        }
        if let Some(segments) = computed {
            segments.finish()?;
        }
        Ok((path, writer.finish()?))
    }
}

/// The computed file read in the union's order, one member's rows after another (a member's
/// rows are those of its endpoints, `<member>/<endpoint>`).
struct Segments {
    path: PathBuf,
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    pending: Option<arrow_array::RecordBatch>,
}

impl Segments {
    fn open(path: &Path, batch_size: usize) -> Result<Segments, StoreError> {
        Ok(Segments { path: path.to_owned(), reader: crate::store::batch_reader(path, batch_size)?, pending: None })
    }

    fn next(&mut self) -> Result<Option<arrow_array::RecordBatch>, StoreError> {
        match self.pending.take() {
            Some(batch) => Ok(Some(batch)),
            None => self
                .reader
                .next()
                .transpose()
                .map_err(|e| StoreError::Parquet { path: self.path.clone(), source: e.into() }),
        }
    }

    /// Hands `member`'s rows to `write`, in batches as read.
    fn take(
        &mut self,
        member: &str,
        write: &mut impl FnMut(&arrow_array::RecordBatch) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let prefix = endpoint_name(member, "");
        while let Some(batch) = self.next()? {
            let endpoints = Columns::new(&batch, &self.path).strings("endpoint")?;
            let n = (0..batch.num_rows()).take_while(|&i| endpoints.value(i).starts_with(&prefix)).count();
            if n > 0 {
                write(&batch.slice(0, n))?;
            }
            if n < batch.num_rows() {
                self.pending = Some(batch.slice(n, batch.num_rows() - n));
                break;
            }
        }
        Ok(())
    }

    /// Checks that every row was taken.
    fn finish(mut self) -> Result<(), StoreError> {
        match self.next()? {
            None => Ok(()),
            Some(batch) => Err(StoreError::Column {
                path: self.path.clone(),
                column: "endpoint".into(),
                problem: format!(
                    "holds rows of {} after the members the coordinator embedded",
                    Columns::new(&batch, &self.path).strings("endpoint")?.value(0)
                ),
            }),
        }
    }
}
