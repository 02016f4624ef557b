//! Table `probe_metrics`: one row per probe, run and embedder: the diversity measures of
//! [`crate::metrics::probe::probe_measures`], the behavioural agreement of
//! [`crate::metrics::behaviour`] and the lexical convergence of [`crate::metrics::phrases`].

use crate::metrics::aggregate::ProbeRecord;
use crate::store::StoreError;
use crate::store::columns::Columns;
use crate::store::table::{Builder, History, RunRef, Table, TableDecl};

/// Table `probe_metrics` (the latest comparable run's is read by the next night's report).
pub struct ProbeMetricsTable;

/// One probe's row: its identity and measures (None where a measure is undefined, as for a
/// probe no answer of which was embedded).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRow {
    pub probe: String,
    pub category: String,
    pub n_models: usize,
    pub n_responses: usize,
    pub vendi_q1: Option<f64>,
    pub vendi_q2: Option<f64>,
    pub vendi_qinf: Option<f64>,
    pub model_vendi_ratio: Option<f64>,
    pub intra_similarity: Option<f64>,
    pub inter_similarity: Option<f64>,
    pub homogenization_index: Option<f64>,
    pub behaviour_clusters: Option<usize>,
    pub refusal_rate: Option<f64>,
    pub refusal_agreement: Option<f64>,
    pub refusal_entropy: Option<f64>,
    pub hedging_rate: Option<f64>,
    pub confident_rate: Option<f64>,
    pub distinct_1: Option<f64>,
    pub distinct_2: Option<f64>,
    pub shared_phrase_share: Option<f64>,
}

impl ProbeRow {
    /// What a probe's record stores.
    pub fn of(r: &ProbeRecord) -> Self {
        let m = r.measures.as_ref();
        ProbeRow {
            probe: r.probe.clone(),
            category: r.category.clone(),
            n_models: r.n_models(),
            n_responses: m.map_or(0, |m| m.n_responses),
            vendi_q1: m.map(|m| m.vendi_q1),
            vendi_q2: m.map(|m| m.vendi_q2),
            vendi_qinf: m.map(|m| m.vendi_qinf),
            model_vendi_ratio: m.map(|m| m.model_vendi_ratio),
            intra_similarity: m.and_then(|m| m.intra_similarity),
            inter_similarity: m.and_then(|m| m.inter_similarity),
            homogenization_index: m.and_then(|m| m.homogenization_index),
            behaviour_clusters: m.map(|m| m.behaviour_clusters),
            refusal_rate: r.behaviour.refusal_rate,
            refusal_agreement: r.behaviour.refusal_agreement,
            refusal_entropy: r.behaviour.refusal_entropy,
            hedging_rate: r.behaviour.hedging_rate,
            confident_rate: r.behaviour.confident_rate,
            distinct_1: r.phrases.distinct_1,
            distinct_2: r.phrases.distinct_2,
            shared_phrase_share: r.phrases.shared_share,
        }
    }
}

impl Table for ProbeMetricsTable {
    type Row = ProbeRow;
    const DECL: TableDecl = TableDecl::per_embedder("probe_metrics").read_later(History::LatestComparable);

    fn to_arrow(run: &RunRef, rows: &[ProbeRow], b: Builder) -> Builder {
        let x = |f: fn(&ProbeRow) -> Option<f64>| rows.iter().map(f);
        b.same_str("run_id", &run.id)
            .same_str("embedder_id", &run.tag.id)
            .str("probe_id", rows.iter().map(|r| &r.probe))
            .str("category", rows.iter().map(|r| &r.category))
            .i64("n_models", rows.iter().map(|r| r.n_models as i64))
            .i64("n_responses", rows.iter().map(|r| r.n_responses as i64))
            .opt_f64("vendi_q1", x(|r| r.vendi_q1))
            .opt_f64("vendi_q2", x(|r| r.vendi_q2))
            .opt_f64("vendi_qinf", x(|r| r.vendi_qinf))
            .opt_f64("model_vendi_ratio", x(|r| r.model_vendi_ratio))
            .opt_f64("intra_similarity", x(|r| r.intra_similarity))
            .opt_f64("inter_similarity", x(|r| r.inter_similarity))
            .opt_f64("homogenization_index", x(|r| r.homogenization_index))
            .opt_i64("behaviour_clusters", rows.iter().map(|r| r.behaviour_clusters.map(|n| n as i64)))
            .opt_f64("refusal_rate", x(|r| r.refusal_rate))
            .opt_f64("refusal_agreement", x(|r| r.refusal_agreement))
            .opt_f64("refusal_entropy", x(|r| r.refusal_entropy))
            .opt_f64("hedging_rate", x(|r| r.hedging_rate))
            .opt_f64("confident_rate", x(|r| r.confident_rate))
            .opt_f64("distinct_1", x(|r| r.distinct_1))
            .opt_f64("distinct_2", x(|r| r.distinct_2))
            .opt_f64("shared_phrase_share", x(|r| r.shared_phrase_share))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<ProbeRow>, StoreError> {
        let (probe, category) = (c.strings("probe_id")?, c.strings("category")?);
        let (n_models, n_responses, clusters) =
            (c.i64s("n_models")?, c.i64s("n_responses")?, c.i64s("behaviour_clusters")?);
        let f = |name: &str| c.f64s(name);
        let (q1, q2, qinf, ratio) = (f("vendi_q1")?, f("vendi_q2")?, f("vendi_qinf")?, f("model_vendi_ratio")?);
        let (intra, inter, homogenization) =
            (f("intra_similarity")?, f("inter_similarity")?, f("homogenization_index")?);
        let (refusal, agreement, entropy) = (f("refusal_rate")?, f("refusal_agreement")?, f("refusal_entropy")?);
        let (hedging, confident) = (f("hedging_rate")?, f("confident_rate")?);
        let (d1, d2, shared) = (f("distinct_1")?, f("distinct_2")?, f("shared_phrase_share")?);
        let opt = Columns::opt_f64;
        Ok((0..c.rows())
            .map(|i| ProbeRow {
                probe: probe.value(i).to_owned(),
                category: category.value(i).to_owned(),
                n_models: n_models.value(i) as usize,
                n_responses: n_responses.value(i) as usize,
                vendi_q1: opt(q1, i),
                vendi_q2: opt(q2, i),
                vendi_qinf: opt(qinf, i),
                model_vendi_ratio: opt(ratio, i),
                intra_similarity: opt(intra, i),
                inter_similarity: opt(inter, i),
                homogenization_index: opt(homogenization, i),
                behaviour_clusters: Columns::opt_i64(clusters, i).map(|n| n as usize),
                refusal_rate: opt(refusal, i),
                refusal_agreement: opt(agreement, i),
                refusal_entropy: opt(entropy, i),
                hedging_rate: opt(hedging, i),
                confident_rate: opt(confident, i),
                distinct_1: opt(d1, i),
                distinct_2: opt(d2, i),
                shared_phrase_share: opt(shared, i),
            })
            .collect())
    }
}
