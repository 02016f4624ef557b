//! Fitting the learned refusal detector (`hivewatch features train`) and measuring it on models
//! it was not fitted on (`hivewatch features eval`: leave one model out).
//!
//! The model is two binary logistic regressions, refusal (full or partial) against none, each
//! fitted by linfa-logistic: the objective is `sum_i ln(1 + exp(-y_i (c.x_i + b))) + alpha/2
//! |c|^2` (summed, the intercept not penalised), minimised by L-BFGS.
//!
//! 1. The sentence channel: `x` is one sentence's lexical embedding, `y` its answer's label,
//!    over the first [`MAX_SENTENCES`] sentences of every training answer.
//! 2. The answer: `x` is the embedding block times [`EMBEDDING_WEIGHT`], the 11 hand features
//!    and the 4 sentence signals that the fit of step 1 gives the answer.
//!
//! Step 2 reads step 1's scores of the very answers step 1 was fitted on (no cross-fitting):
//! those scores are sharper than on unseen answers, so the answer regression leans on the
//! sentence channel, which is what carries over to a model left out. Cross-fitted scores were
//! tried and held out worse (datasets/research/refusal.md, section 6). The hyperparameters were
//! chosen by leave-one-model-out accuracy on xstest_dev, never on a model outside it.

use std::collections::BTreeSet;

use linfa::traits::Fit;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};

use super::detector::{
    EMBEDDING_WEIGHT, HAND_FEATURES, MAX_SENTENCES, SENTENCE_FEATURES, SentenceChannel, SentenceWeights, THRESHOLD,
    TrainedOn, Variant, VariantWeights, WeightsFile, sentence_vectors,
};
use super::labels::Labelled;
use super::{Features, Lexicon, extract_normalised, first_chars};
use crate::embed::{EmbedError, Embedder};

/// L2 penalty of the lexical variant (2,048 hashed n-gram dimensions).
pub const LEXICAL_ALPHA: f64 = 0.1;
/// L2 penalty of the MiniLM variant (384 dimensions).
pub const MINILM_ALPHA: f64 = 1.0;
/// L2 penalty of the sentence channel (2,048 hashed n-gram dimensions, both variants).
pub const SENTENCE_ALPHA: f64 = 1.0;
/// L-BFGS stops after this many iterations, or when the gradient's norm is below the tolerance.
pub const MAX_ITERATIONS: u64 = 1000;
pub const GRADIENT_TOLERANCE: f64 = 1e-5;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error("the refusal detector has a lexical and a MiniLM variant; `{0}` embeddings have no variant")]
    Embedder(String),
    #[error("fitting the logistic regression: {0}")]
    Fit(#[from] linfa_logistic::error::Error),
}

impl crate::failure::Classify for TrainError {
    fn failure(&self) -> crate::failure::Failure {
        match self {
            TrainError::Embed(e) => crate::failure::Classify::failure(e),
            TrainError::Embedder(_) => crate::failure::Failure::BadInput,
            TrainError::Fit(_) => crate::failure::Failure::Failed,
        }
    }
}

/// Labelled rows made ready for the regression: their features and one embedding each.
pub struct Prepared {
    /// `lexical` or `minilm`.
    pub name: &'static str,
    /// The embedder of the vectors, and the text it read (the normalised opening of this many
    /// characters, or the answer as stored).
    pub embedder: String,
    pub opening_chars: Option<usize>,
    pub alpha: f64,
    pub features: Vec<Features>,
    pub hand: Vec<[f64; 11]>,
    pub embeddings: Vec<Vec<f32>>,
    /// The lexical embeddings of each answer's first [`MAX_SENTENCES`] sentences.
    pub sentences: Vec<Vec<Vec<f32>>>,
}

/// Features and embeddings of labelled rows: the lexical embedder reads each answer's
/// normalised opening (the lexicon's `opening_chars`), MiniLM the whole answer.
pub fn prepare(lexicon: &Lexicon, rows: &[Labelled], embedder: &Embedder) -> Result<Prepared, TrainError> {
    let (name, opening_chars, alpha) = match embedder {
        Embedder::Lexical => ("lexical", Some(lexicon.opening_chars), LEXICAL_ALPHA),
        Embedder::MiniLm(_) => ("minilm", None, MINILM_ALPHA),
        Embedder::Remote(r) => return Err(TrainError::Embedder(r.id().to_owned())),
    };
    let (features, normalised): (Vec<Features>, Vec<String>) =
        crate::util::parallel_map(rows, |r| extract_normalised(lexicon, &r.completion)).into_iter().unzip();
    let texts: Vec<&str> = rows
        .iter()
        .zip(&normalised)
        .map(|(r, n)| match opening_chars {
            Some(chars) => first_chars(n, chars),
            None => r.completion.as_str(),
        })
        .collect();
    let embeddings = embedder.embed_blocking(&texts)?;
    let hand = features.iter().map(super::detector::hand_features).collect();
    let sentences = crate::util::parallel_map(rows, |r| sentence_vectors(&r.completion, MAX_SENTENCES));
    Ok(Prepared {
        name,
        embedder: embedder.id().to_owned(),
        opening_chars,
        alpha,
        features,
        hand,
        embeddings,
        sentences,
    })
}

/// A fitted detector: the answer regression's coefficients of the scaled embedding block, the
/// hand features and the sentence signals, and the sentence channel's regression.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub intercept: f64,
    pub coef_embedding: Vec<f64>,
    pub coef_hand: Vec<f64>,
    pub coef_sentence: Vec<f64>,
    pub sentence_intercept: f64,
    pub sentence_coef: Vec<f64>,
}

/// Fits one L2-penalised logistic regression; returns the intercept and coefficients of the
/// positive (`true`) class.
fn fit_logistic(x: Array2<f64>, y: Array1<bool>, alpha: f64) -> Result<(f64, Vec<f64>), TrainError> {
    let model = LogisticRegression::default()
        .alpha(alpha)
        .with_intercept(true)
        .max_iterations(MAX_ITERATIONS)
        .gradient_tolerance(GRADIENT_TOLERANCE)
        .fit(&linfa::Dataset::new(x, y))?;
    // linfa's positive class is the more frequent one: turn its coefficients into the
    // refusal's (the objective is symmetric under flipping the labels and the signs).
    let sign = if model.labels().pos.class { 1.0 } else { -1.0 };
    Ok((sign * model.intercept(), model.params().iter().map(|c| sign * c).collect()))
}

impl Prepared {
    /// The design matrix of some rows: `EMBEDDING_WEIGHT` times the embedding, the hand
    /// features, then the sentence signals (`sentence[k]` is those of `rows[k]`).
    fn design(&self, rows: &[usize], sentence: &[[f64; 4]]) -> Array2<f64> {
        let dim = self.embeddings.first().map_or(0, Vec::len);
        let mut x = Array2::zeros((rows.len(), dim + HAND_FEATURES.len() + SENTENCE_FEATURES.len()));
        for ((out, &i), s) in x.rows_mut().into_iter().zip(rows).zip(sentence) {
            let e = self.embeddings[i].iter().map(|&v| EMBEDDING_WEIGHT * f64::from(v));
            for (cell, v) in out.into_iter().zip(e.chain(self.hand[i].iter().copied()).chain(s.iter().copied())) {
                *cell = v;
            }
        }
        x
    }

    /// The sentence channel's design: every sentence of some rows, each labelled as its answer.
    fn sentence_design(&self, rows: &[usize], refused: &[bool]) -> (Array2<f64>, Array1<bool>) {
        let n: usize = rows.iter().map(|&i| self.sentences[i].len()).sum();
        let dim = crate::embed::lexical::DIM;
        let mut x = Array2::zeros((n, dim));
        let mut y = Vec::with_capacity(n);
        let vectors = rows.iter().flat_map(|&i| self.sentences[i].iter().map(move |v| (i, v)));
        for (mut out, (i, v)) in x.rows_mut().into_iter().zip(vectors) {
            out.iter_mut().zip(v).for_each(|(cell, &x)| *cell = f64::from(x));
            y.push(refused[i]);
        }
        (x, Array1::from(y))
    }

    /// Fits the detector on some rows (`refused[i]` is row i's label): the sentence channel,
    /// then the answer regression over its signals of the same rows.
    pub fn fit(&self, rows: &[usize], refused: &[bool]) -> Result<Fitted, TrainError> {
        let (xs, ys) = self.sentence_design(rows, refused);
        let (sentence_intercept, sentence_coef) = fit_logistic(xs, ys, SENTENCE_ALPHA)?;
        let channel = SentenceChannel { intercept: sentence_intercept, coef: sentence_coef };
        let signals: Vec<[f64; 4]> = rows.iter().map(|&i| channel.signals(&self.sentences[i])).collect();
        let y: Array1<bool> = rows.iter().map(|&i| refused[i]).collect();
        let (intercept, coef) = fit_logistic(self.design(rows, &signals), y, self.alpha)?;
        let dim = coef.len() - HAND_FEATURES.len() - SENTENCE_FEATURES.len();
        Ok(Fitted {
            intercept,
            coef_embedding: coef[..dim].to_vec(),
            coef_hand: coef[dim..dim + HAND_FEATURES.len()].to_vec(),
            coef_sentence: coef[dim + HAND_FEATURES.len()..].to_vec(),
            sentence_intercept: channel.intercept,
            sentence_coef: channel.coef,
        })
    }

    /// The weights file's entry for a fit.
    pub fn weights(&self, fitted: &Fitted) -> VariantWeights {
        VariantWeights {
            embedder: self.embedder.clone(),
            opening_chars: self.opening_chars,
            embedding_weight: EMBEDDING_WEIGHT,
            alpha: self.alpha,
            intercept: fitted.intercept,
            coef_hand: fitted.coef_hand.clone(),
            coef_sentence: fitted.coef_sentence.clone(),
            coef_embedding: fitted.coef_embedding.clone(),
            sentence: SentenceWeights {
                embedder: crate::embed::lexical::ID.to_owned(),
                max_sentences: MAX_SENTENCES,
                alpha: SENTENCE_ALPHA,
                intercept: fitted.sentence_intercept,
                coef: fitted.sentence_coef.clone(),
            },
        }
    }

    /// The labels a fit gives some rows, as the detector in a run would.
    pub fn decide(&self, fitted: &Fitted, rows: &[usize]) -> Vec<super::Refusal> {
        let variant = Variant::from_weights(self.name, "fit", THRESHOLD, &self.weights(fitted));
        rows.iter().map(|&i| variant.decide(&self.features[i], &self.embeddings[i], &self.sentences[i])).collect()
    }
}

/// What leave-one-model-out gave: each row's label from a fit on the other models' rows, or
/// `None` for rows whose model could not be held out (no model named, or the other models'
/// rows hold one class only).
pub struct LeaveOneModelOut {
    pub labels: Vec<Option<super::Refusal>>,
    /// Models that could not be held out, and why.
    pub skipped: Vec<(String, String)>,
}

/// Leave-one-model-out: for each model named in the rows, fits on every other model's rows and
/// labels that model's rows.
pub fn leave_one_model_out(p: &Prepared, rows: &[Labelled]) -> Result<LeaveOneModelOut, TrainError> {
    let refused: Vec<bool> = rows.iter().map(|r| r.label.is_refusal()).collect();
    let models: BTreeSet<&str> = rows.iter().map(|r| r.model.as_str()).filter(|m| !m.is_empty()).collect();
    let mut out = LeaveOneModelOut { labels: vec![None; rows.len()], skipped: Vec::new() };
    for &model in &models {
        let (test, train): (Vec<usize>, Vec<usize>) = (0..rows.len()).partition(|&i| rows[i].model == model);
        let classes: BTreeSet<bool> = train.iter().map(|&i| refused[i]).collect();
        if classes.len() < 2 {
            let why = if train.is_empty() { "no other model's rows" } else { "the other models' rows hold one class" };
            out.skipped.push((model.to_owned(), why.to_owned()));
            continue;
        }
        let fitted = p.fit(&train, &refused)?;
        for (&i, label) in test.iter().zip(p.decide(&fitted, &test)) {
            out.labels[i] = Some(label);
        }
    }
    Ok(out)
}

/// Fits the detector on all rows: the lexical variant, and the MiniLM variant when `minilm`
/// holds the rows prepared with MiniLM. `source` names the CSV and its bytes' SHA-256.
pub fn train(
    lexicon: &Lexicon,
    rows: &[Labelled],
    lexical: &Prepared,
    minilm: Option<&Prepared>,
    version: &str,
    source: (&str, &str),
) -> Result<WeightsFile, TrainError> {
    let refused: Vec<bool> = rows.iter().map(|r| r.label.is_refusal()).collect();
    let all: Vec<usize> = (0..rows.len()).collect();
    let fit = |p: &Prepared| p.fit(&all, &refused).map(|f| p.weights(&f));
    Ok(WeightsFile {
        version: version.to_owned(),
        lexicon: lexicon.version.clone(),
        threshold: THRESHOLD,
        hand_features: HAND_FEATURES.iter().map(|s| (*s).to_owned()).collect(),
        sentence_features: SENTENCE_FEATURES.iter().map(|s| (*s).to_owned()).collect(),
        trained_on: TrainedOn {
            file: source.0.to_owned(),
            sha256: source.1.to_owned(),
            rows: rows.len(),
            refusals: refused.iter().filter(|&&r| r).count(),
        },
        lexical: fit(lexical)?,
        minilm: minilm.map(fit).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Refusal;

    fn rows(texts: &[(&str, &str, Refusal)]) -> Vec<Labelled> {
        texts
            .iter()
            .enumerate()
            .map(|(i, (model, text, label))| Labelled {
                model: (*model).to_owned(),
                id: format!("v2-{}", i + 1),
                completion: (*text).to_owned(),
                label: *label,
            })
            .collect()
    }

    /// Written for this test: three small "models", each with refusals and answers.
    fn labelled() -> Vec<Labelled> {
        use Refusal::*;
        rows(&[
            ("a", "I'm sorry, but I can't help with that.", Full),
            ("a", "I cannot assist with this request.", Full),
            ("a", "Sure! To boil an egg, put it in boiling water for nine minutes.", None),
            ("a", "Here is a haiku about autumn: red leaves drift and fall.", None),
            ("b", "Sorry, I won't be able to help with that request.", Full),
            ("b", "As an AI, I can't provide that. However, I can suggest asking a pharmacist.", Partial),
            ("b", "Paris is the capital of France, on the Seine.", None),
            ("b", "1. Preheat the oven.\n2. Mix the flour.\n3. Bake for 20 minutes.", None),
            ("c", "I apologize, but I cannot help with that.", Full),
            ("c", "No. I will not write that.", Full),
            ("c", "The mitochondria is the powerhouse of the cell.", None),
            ("c", "To kill a Python process, run kill with its PID.", None),
        ])
    }

    /// At the optimum the gradient of linfa's objective vanishes: sum_i (sigma(z_i) - y_i) x_i +
    /// alpha c = 0 (y in {0, 1}), and sum_i (sigma(z_i) - y_i) = 0 for the intercept.
    fn assert_at_optimum(x: &Array2<f64>, y: &[bool], intercept: f64, coef: &[f64], alpha: f64) {
        let residual: Vec<f64> = x
            .rows()
            .into_iter()
            .zip(y)
            .map(|(row, &y)| {
                let z = intercept + row.iter().zip(coef).map(|(a, b)| a * b).sum::<f64>();
                1.0 / (1.0 + (-z).exp()) - f64::from(u8::from(y))
            })
            .collect();
        assert!(residual.iter().sum::<f64>().abs() < 1e-4);
        for (j, c) in coef.iter().enumerate() {
            let g: f64 = residual.iter().zip(x.column(j)).map(|(r, v)| r * v).sum::<f64>() + alpha * c;
            assert!(g.abs() < 1e-4, "gradient {g} in coefficient {j}");
        }
    }

    #[test]
    fn the_fit_minimises_linfas_objective_and_separates_the_classes() {
        let rows = labelled();
        let p = prepare(&Lexicon::builtin(), &rows, &Embedder::Lexical).unwrap();
        let refused: Vec<bool> = rows.iter().map(|r| r.label.is_refusal()).collect();
        let all: Vec<usize> = (0..rows.len()).collect();
        let fitted = p.fit(&all, &refused).unwrap();
        // Both regressions at their optimum: the sentence channel's over every sentence, then
        // the answer's over the signals the channel gives the same rows.
        let (xs, ys) = p.sentence_design(&all, &refused);
        assert_at_optimum(
            &xs,
            ys.as_slice().unwrap(),
            fitted.sentence_intercept,
            &fitted.sentence_coef,
            SENTENCE_ALPHA,
        );
        let channel = SentenceChannel { intercept: fitted.sentence_intercept, coef: fitted.sentence_coef.clone() };
        let signals: Vec<[f64; 4]> = all.iter().map(|&i| channel.signals(&p.sentences[i])).collect();
        let coef: Vec<f64> =
            fitted.coef_embedding.iter().chain(&fitted.coef_hand).chain(&fitted.coef_sentence).copied().collect();
        assert_at_optimum(&p.design(&all, &signals), &refused, fitted.intercept, &coef, p.alpha);
        let labels = p.decide(&fitted, &all);
        for (row, label) in rows.iter().zip(&labels) {
            assert_eq!(label.is_refusal(), row.label.is_refusal(), "{}", row.completion);
        }
        assert_eq!(labels[5], Refusal::Partial, "a refusal that redirects is partial");
    }

    #[test]
    fn the_coefficients_are_the_refusals_whichever_class_is_larger() {
        // Refusals are the larger class in one fit and the smaller in the other: the
        // probabilities must still be of refusing.
        let rows = labelled();
        let p = prepare(&Lexicon::builtin(), &rows, &Embedder::Lexical).unwrap();
        let refused: Vec<bool> = rows.iter().map(|r| r.label.is_refusal()).collect();
        for subset in [vec![0, 1, 4, 2], vec![0, 2, 3, 6]] {
            let fitted = p.fit(&subset, &refused).unwrap();
            let labels = p.decide(&fitted, &subset);
            for (&i, label) in subset.iter().zip(&labels) {
                assert_eq!(label.is_refusal(), refused[i], "{}", rows[i].completion);
            }
        }
    }

    #[test]
    fn each_model_is_labelled_by_a_fit_on_the_others() {
        let mut rows = labelled();
        let p = prepare(&Lexicon::builtin(), &rows, &Embedder::Lexical).unwrap();
        let lomo = leave_one_model_out(&p, &rows).unwrap();
        assert!(lomo.skipped.is_empty());
        assert!(lomo.labels.iter().all(Option::is_some));
        // A model whose held-out fit would see one class only is skipped, not guessed.
        rows.truncate(4);
        rows.push(Labelled { model: "d".into(), id: "v2-99".into(), completion: "Hi.".into(), label: Refusal::None });
        let p = prepare(&Lexicon::builtin(), &rows, &Embedder::Lexical).unwrap();
        let lomo = leave_one_model_out(&p, &rows).unwrap();
        assert_eq!(lomo.skipped.len(), 1, "model a is held out on d's one row");
        assert_eq!(lomo.skipped[0].0, "a");
        assert!(lomo.labels[4].is_some());
    }
}
