//! Table `pair_similarity`: one row per model pair, run and embedder, overall (`category` null)
//! and per category: [`crate::metrics::aggregate::PairSimilarity`]: the raw mean similarity
//! with its bootstrap interval, and beside it the calibrated similarity with its t interval,
//! `z`, `p_value` and `q_value` (null where there is no verdict). `z` is the signals fused (the
//! ranking and the verdicts read it, as before there were several signals); `z_content` and
//! `z_style` are each signal's own, and `carried_by` / `carried_share` say which carried a
//! positive `z` ([`crate::metrics::fusion`]).

use crate::metrics::aggregate::{CalibratedPair, PairSimilarity};
use crate::metrics::fusion::Signal;
use crate::store::StoreError;
use crate::store::columns::Columns;
use crate::store::table::{Builder, RunRef, Table, TableDecl};

/// Table `pair_similarity`.
pub struct PairSimilarityTable;

/// (category, or None for all probes; the pair's similarity).
pub type Row = (Option<String>, PairSimilarity);

impl Table for PairSimilarityTable {
    type Row = Row;
    const DECL: TableDecl = TableDecl::per_embedder("pair_similarity");

    fn to_arrow(run: &RunRef, rows: &[Row], b: Builder) -> Builder {
        let x = |f: fn(&PairSimilarity) -> f64| rows.iter().map(move |r| f(&r.1));
        let c = |f: fn(&CalibratedPair) -> Option<f64>| rows.iter().map(move |r| r.1.calibrated.as_ref().and_then(f));
        b.same_str("run_id", &run.id)
            .same_str("embedder_id", &run.tag.id)
            .str("model_a", rows.iter().map(|r| &r.1.model_a))
            .str("model_b", rows.iter().map(|r| &r.1.model_b))
            .opt_str("category", rows.iter().map(|r| r.0.as_ref()))
            .f64("mean_similarity", x(|p| p.mean_similarity))
            .f64("ci_low", x(|p| p.ci_low))
            .f64("ci_high", x(|p| p.ci_high))
            .i64("n_probes", rows.iter().map(|r| r.1.n_probes as i64))
            .opt_f64("calibrated_similarity", c(|c| Some(c.value)))
            .opt_f64("calibrated_se", c(|c| Some(c.se)))
            .opt_f64("calibrated_ci_low", c(|c| Some(c.ci_low)))
            .opt_f64("calibrated_ci_high", c(|c| Some(c.ci_high)))
            .opt_i64("calibrated_probes", rows.iter().map(|r| r.1.calibrated.map(|c| c.n_probes as i64)))
            .opt_f64("z", c(|c| c.z))
            .opt_f64("p_value", c(|c| c.p))
            .opt_f64("q_value", c(|c| c.q))
            .opt_f64("z_content", c(|c| c.z_content))
            .opt_f64("z_style", c(|c| c.z_style))
            .opt_str("carried_by", rows.iter().map(|r| r.1.calibrated.and_then(|c| c.carried_by).map(Signal::as_str)))
            .opt_f64("carried_share", c(|c| c.carried_share))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<Row>, StoreError> {
        let (a, b, category) = (c.strings("model_a")?, c.strings("model_b")?, c.strings("category")?);
        let (mean, lo, hi, n) =
            (c.f64s("mean_similarity")?, c.f64s("ci_low")?, c.f64s("ci_high")?, c.i64s("n_probes")?);
        let (value, se, clo, chi, cn) = (
            c.f64s("calibrated_similarity")?,
            c.f64s("calibrated_se")?,
            c.f64s("calibrated_ci_low")?,
            c.f64s("calibrated_ci_high")?,
            c.i64s("calibrated_probes")?,
        );
        let (z, p, q) = (c.f64s("z")?, c.f64s("p_value")?, c.f64s("q_value")?);
        let signals = SignalColumns::of(c)?;
        Ok((0..c.rows())
            .map(|i| {
                let calibrated = Columns::opt_f64(value, i).map(|v| CalibratedPair {
                    value: v,
                    se: se.value(i),
                    ci_low: clo.value(i),
                    ci_high: chi.value(i),
                    n_probes: cn.value(i) as usize,
                    z: Columns::opt_f64(z, i),
                    p: Columns::opt_f64(p, i),
                    q: Columns::opt_f64(q, i),
                    z_content: signals.as_ref().map_or(Columns::opt_f64(z, i), |s| Columns::opt_f64(s.z_content, i)),
                    z_style: signals.as_ref().and_then(|s| Columns::opt_f64(s.z_style, i)),
                    carried_by: signals
                        .as_ref()
                        .and_then(|s| Columns::opt_str(s.carried_by, i).and_then(Signal::parse)),
                    carried_share: signals.as_ref().and_then(|s| Columns::opt_f64(s.carried_share, i)),
                });
                let pair = PairSimilarity {
                    model_a: a.value(i).to_owned(),
                    model_b: b.value(i).to_owned(),
                    mean_similarity: mean.value(i),
                    ci_low: lo.value(i),
                    ci_high: hi.value(i),
                    n_probes: n.value(i) as usize,
                    calibrated,
                };
                (Columns::opt_str(category, i).map(str::to_owned), pair)
            })
            .collect())
    }
}

/// The per-signal columns (files written before the signals were fused have none: their `z` is
/// the content's).
struct SignalColumns<'a> {
    z_content: &'a arrow_array::Float64Array,
    z_style: &'a arrow_array::Float64Array,
    carried_by: &'a arrow_array::StringArray,
    carried_share: &'a arrow_array::Float64Array,
}

impl<'a> SignalColumns<'a> {
    fn of(c: &Columns<'a>) -> Result<Option<Self>, StoreError> {
        if !c.has("z_content") {
            return Ok(None);
        }
        Ok(Some(SignalColumns {
            z_content: c.f64s("z_content")?,
            z_style: c.f64s("z_style")?,
            carried_by: c.strings("carried_by")?,
            carried_share: c.f64s("carried_share")?,
        }))
    }
}
