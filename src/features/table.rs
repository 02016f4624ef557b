//! Table `features`: one row per ok response: its behavioural features (see
//! [`crate::features`]), the lexicon version and the refusal detector that produced them.

use std::collections::HashMap;
use std::path::Path;

use super::adoption::Adoption;
use super::style::{self, Style};
use super::{Features, Flags, Refusal};
use crate::collect::responses::OkText;
use crate::probes::feed::Condition;
use crate::store::StoreError;
use crate::store::columns::Columns;
use crate::store::table::{Builder, RunRef, Table, TableDecl};

/// Table `features`, written batch by batch ([`super::stage`]).
pub struct FeaturesTable;

/// One ok response's features, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    pub endpoint: String,
    pub probe_id: String,
    pub category: String,
    pub sample_index: i32,
    pub lexicon_version: String,
    pub refusal_detector: String,
    pub refusal: Refusal,
    pub hedging: bool,
    pub hedge_count: u32,
    pub uncertainty_count: u32,
    pub confident: bool,
    pub confidence_count: u32,
    pub self_reference: bool,
    pub self_reference_count: u32,
    pub list_items: u32,
    pub headings: u32,
    pub code_blocks: u32,
    pub chars: u32,
    pub words: u32,
    pub language: String,
    /// Paired probes only: the side, and the adoption of the feed.
    pub adoption: Option<(Condition, Adoption)>,
    /// The style instrument ([`style::VERSION`]; empty in files written before it).
    pub style_version: String,
    /// How the answer is written (None: an empty answer, or a file written before style).
    pub style: Option<Style>,
}

impl FeatureRow {
    /// A response's row: its features, by a lexicon and a refusal detector.
    pub fn of(
        r: &OkText,
        category: &str,
        (lexicon_version, refusal_detector): (&str, &str),
        f: &Features,
        adoption: Option<(Condition, Adoption)>,
    ) -> Self {
        FeatureRow {
            endpoint: r.endpoint.clone(),
            probe_id: r.probe_id.clone(),
            category: category.to_owned(),
            sample_index: r.sample_index,
            lexicon_version: lexicon_version.to_owned(),
            refusal_detector: refusal_detector.to_owned(),
            refusal: f.refusal,
            hedging: f.hedging(),
            hedge_count: f.hedges,
            uncertainty_count: f.uncertainty,
            confident: f.confident(),
            confidence_count: f.confidence,
            self_reference: f.self_reference > 0,
            self_reference_count: f.self_reference,
            list_items: f.list_items,
            headings: f.headings,
            code_blocks: f.code_blocks,
            chars: f.chars,
            words: f.words,
            language: f.language.to_owned(),
            adoption,
            style_version: style::VERSION.to_owned(),
            style: f.style.clone(),
        }
    }
}

impl Table for FeaturesTable {
    type Row = FeatureRow;
    const DECL: TableDecl = TableDecl::per_run("features");

    fn to_arrow(run: &RunRef, rows: &[FeatureRow], b: Builder) -> Builder {
        let count = |f: fn(&FeatureRow) -> u32| rows.iter().map(move |r| f(r) as i32);
        let adoption = || rows.iter().map(|r| r.adoption);
        let b = b
            .same_str("run_id", &run.id)
            .str("endpoint", rows.iter().map(|r| &r.endpoint))
            .str("probe_id", rows.iter().map(|r| &r.probe_id))
            .str("category", rows.iter().map(|r| &r.category))
            .i32("sample_index", rows.iter().map(|r| r.sample_index))
            .str("lexicon_version", rows.iter().map(|r| &r.lexicon_version))
            .str("refusal_detector", rows.iter().map(|r| &r.refusal_detector))
            .str("refusal", rows.iter().map(|r| r.refusal.as_str()))
            .bool("refused", rows.iter().map(|r| r.refusal.is_refusal()))
            .bool("hedging", rows.iter().map(|r| r.hedging))
            .i32("hedge_count", count(|r| r.hedge_count))
            .i32("uncertainty_count", count(|r| r.uncertainty_count))
            .bool("confident", rows.iter().map(|r| r.confident))
            .i32("confidence_count", count(|r| r.confidence_count))
            .bool("self_reference", rows.iter().map(|r| r.self_reference))
            .i32("self_reference_count", count(|r| r.self_reference_count))
            .i32("list_items", count(|r| r.list_items))
            .i32("headings", count(|r| r.headings))
            .i32("code_blocks", count(|r| r.code_blocks))
            .i64("chars", rows.iter().map(|r| i64::from(r.chars)))
            .i64("words", rows.iter().map(|r| i64::from(r.words)))
            .str("language", rows.iter().map(|r| &r.language))
            .opt_str("condition", adoption().map(|a| a.map(|(c, _)| c.as_str())))
            .opt_bool("adopted", adoption().map(|a| a.map(|(_, a)| a.adopted)))
            .opt_i32("marker_count", adoption().map(|a| a.and_then(|(_, a)| a.marker_count.map(|n| n as i32))))
            .str("style_version", rows.iter().map(|r| &r.style_version))
            .opt_str("style_opener", rows.iter().map(|r| r.style.as_ref().map(|s| &s.opener)))
            .opt_str("style_closer", rows.iter().map(|r| r.style.as_ref().map(|s| &s.closer)));
        style::FEATURES.iter().enumerate().fold(b, |b, (k, (name, _))| {
            b.opt_f64(&format!("style_{name}"), rows.iter().map(|r| r.style.as_ref().map(|s| s.values[k])))
        })
    }

    fn from_arrow(c: &Columns) -> Result<Vec<FeatureRow>, StoreError> {
        let s = |name: &str| c.strings(name);
        let (endpoint, probe, category, lexicon, detector) =
            (s("endpoint")?, s("probe_id")?, s("category")?, s("lexicon_version")?, s("refusal_detector")?);
        let (refusal, language) = (s("refusal")?, s("language")?);
        let (hedging, confident, self_reference) =
            (c.bools("hedging")?, c.bools("confident")?, c.bools("self_reference")?);
        let i = |name: &str| c.i32s(name);
        let (sample, hedges, uncertainty, confidence, self_refs) = (
            i("sample_index")?,
            i("hedge_count")?,
            i("uncertainty_count")?,
            i("confidence_count")?,
            i("self_reference_count")?,
        );
        let (list_items, headings, code_blocks) = (i("list_items")?, i("headings")?, i("code_blocks")?);
        let (chars, words) = (c.i64s("chars")?, c.i64s("words")?);
        let adoption = adoption_columns(c)?;
        let styles = StyleColumns::of(c)?;
        let n = |col: &arrow_array::Int32Array, k: usize| col.value(k).max(0) as u32;
        Ok((0..c.rows())
            .map(|k| FeatureRow {
                endpoint: endpoint.value(k).to_owned(),
                probe_id: probe.value(k).to_owned(),
                category: category.value(k).to_owned(),
                sample_index: sample.value(k),
                lexicon_version: lexicon.value(k).to_owned(),
                refusal_detector: detector.value(k).to_owned(),
                refusal: Refusal::parse(refusal.value(k)),
                hedging: hedging.value(k),
                hedge_count: n(hedges, k),
                uncertainty_count: n(uncertainty, k),
                confident: confident.value(k),
                confidence_count: n(confidence, k),
                self_reference: self_reference.value(k),
                self_reference_count: n(self_refs, k),
                list_items: n(list_items, k),
                headings: n(headings, k),
                code_blocks: n(code_blocks, k),
                chars: chars.value(k).max(0) as u32,
                words: words.value(k).max(0) as u32,
                language: language.value(k).to_owned(),
                adoption: adoption.as_ref().and_then(|a| a.row(k)),
                style_version: styles.as_ref().map_or("", |s| s.version.value(k)).to_owned(),
                style: styles.as_ref().and_then(|s| s.row(k)),
            })
            .collect())
    }
}

/// The style columns of a batch (files written before style have none).
pub struct StyleColumns<'a> {
    version: &'a arrow_array::StringArray,
    opener: &'a arrow_array::StringArray,
    closer: &'a arrow_array::StringArray,
    values: Vec<&'a arrow_array::Float64Array>,
}

impl<'a> StyleColumns<'a> {
    /// The batch's style columns, if it has them.
    pub fn of(c: &Columns<'a>) -> Result<Option<Self>, StoreError> {
        if !c.has("style_version") {
            return Ok(None);
        }
        let values =
            style::FEATURES.iter().map(|(name, _)| c.f64s(&format!("style_{name}"))).collect::<Result<_, _>>()?;
        Ok(Some(StyleColumns {
            version: c.strings("style_version")?,
            opener: c.strings("style_opener")?,
            closer: c.strings("style_closer")?,
            values,
        }))
    }

    /// Row `i`'s style (None for an empty answer).
    pub fn row(&self, i: usize) -> Option<Style> {
        let opener = Columns::opt_str(self.opener, i)?;
        let mut values = [0.0; style::COUNT];
        for (v, col) in values.iter_mut().zip(&self.values) {
            *v = Columns::opt_f64(col, i)?;
        }
        Some(Style { values, opener: opener.to_owned(), closer: Columns::opt_str(self.closer, i)?.to_owned() })
    }

    /// The names of the columns a style reader projects.
    pub fn names() -> Vec<String> {
        let fixed = ["style_version", "style_opener", "style_closer"].map(str::to_owned);
        fixed.into_iter().chain(style::FEATURES.iter().map(|(name, _)| format!("style_{name}"))).collect()
    }
}

/// The adoption columns of a batch (files written before adoption was scored have none).
struct AdoptionColumns<'a> {
    condition: &'a arrow_array::StringArray,
    adopted: &'a arrow_array::BooleanArray,
    markers: &'a arrow_array::Int32Array,
}

fn adoption_columns<'a>(c: &Columns<'a>) -> Result<Option<AdoptionColumns<'a>>, StoreError> {
    if !c.has("adopted") {
        return Ok(None);
    }
    Ok(Some(AdoptionColumns {
        condition: c.strings("condition")?,
        adopted: c.bools("adopted")?,
        markers: c.i32s("marker_count")?,
    }))
}

impl AdoptionColumns<'_> {
    /// Row `i`'s side and adoption, if it is a paired probe's.
    fn row(&self, i: usize) -> Option<(Condition, Adoption)> {
        let condition = Columns::opt_str(self.condition, i).and_then(Condition::parse)?;
        let adopted = Columns::opt_bool(self.adopted, i).unwrap_or(false);
        let marker_count = Columns::opt_i32(self.markers, i).map(|n| n.max(0) as u32);
        Some((condition, Adoption { adopted, marker_count }))
    }
}

/// (endpoint, probe id) -> the flags of its responses, from a `features` file.
pub fn read_flags(path: &Path) -> Result<HashMap<(String, String), Vec<Flags>>, StoreError> {
    let wanted = ["endpoint", "probe_id", "refusal", "hedging", "confident", "self_reference"];
    let mut out: HashMap<(String, String), Vec<Flags>> = HashMap::new();
    for batch in crate::store::projected_reader(path, &wanted, 8192)? {
        let batch = batch.map_err(|source| StoreError::Arrow { table: FeaturesTable::DECL.name, source })?;
        let c = Columns::new(&batch, path);
        let (endpoint, probe, refusal) = (c.strings("endpoint")?, c.strings("probe_id")?, c.strings("refusal")?);
        let (hedging, confident, self_ref) = (c.bools("hedging")?, c.bools("confident")?, c.bools("self_reference")?);
        for i in 0..batch.num_rows() {
            let refusal = Refusal::parse(refusal.value(i));
            out.entry((endpoint.value(i).to_owned(), probe.value(i).to_owned())).or_default().push(Flags {
                refusal,
                hedging: hedging.value(i),
                confident: confident.value(i),
                self_reference: self_ref.value(i),
            });
        }
    }
    Ok(out)
}

/// Calls `f(endpoint, probe id, style)` for every response of a `features` file that has a
/// style; nothing for a file written before style.
pub fn for_each_style(path: &Path, mut f: impl FnMut(&str, &str, Style)) -> Result<(), StoreError> {
    if !crate::store::has_column(path, "style_version")? {
        return Ok(());
    }
    let names = StyleColumns::names();
    let wanted: Vec<&str> = ["endpoint", "probe_id"].into_iter().chain(names.iter().map(String::as_str)).collect();
    for batch in crate::store::projected_reader(path, &wanted, 8192)? {
        let batch = batch.map_err(|source| StoreError::Arrow { table: FeaturesTable::DECL.name, source })?;
        let c = Columns::new(&batch, path);
        let (endpoint, probe) = (c.strings("endpoint")?, c.strings("probe_id")?);
        let Some(styles) = StyleColumns::of(&c)? else { continue };
        for i in 0..batch.num_rows() {
            if let Some(style) = styles.row(i) {
                f(endpoint.value(i), probe.value(i), style);
            }
        }
    }
    Ok(())
}

/// One paired response's adoption, as the contagion measures read it.
#[derive(Debug, Clone, PartialEq)]
pub struct AdoptionRow {
    pub endpoint: String,
    pub probe_id: String,
    pub condition: Condition,
    pub adopted: bool,
    pub marker_count: Option<u32>,
}

/// The adoption rows of a `features` file (none for a run without paired probes, or written
/// before adoption was scored).
pub fn read_adoption(path: &Path) -> Result<Vec<AdoptionRow>, StoreError> {
    let mut out = Vec::new();
    if !crate::store::has_column(path, "adopted")? {
        return Ok(out);
    }
    let wanted = ["endpoint", "probe_id", "condition", "adopted", "marker_count"];
    for batch in crate::store::projected_reader(path, &wanted, 8192)? {
        let batch = batch.map_err(|source| StoreError::Arrow { table: FeaturesTable::DECL.name, source })?;
        let c = Columns::new(&batch, path);
        let (endpoint, probe) = (c.strings("endpoint")?, c.strings("probe_id")?);
        let Some(adoption) = adoption_columns(&c)? else { continue };
        for i in 0..batch.num_rows() {
            let Some((condition, a)) = adoption.row(i) else { continue };
            out.push(AdoptionRow {
                endpoint: endpoint.value(i).to_owned(),
                probe_id: probe.value(i).to_owned(),
                condition,
                adopted: a.adopted,
                marker_count: a.marker_count,
            });
        }
    }
    Ok(out)
}
