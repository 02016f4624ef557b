//! Behavioural agreement of one probe, from the `features` table: how many models refuse,
//! hedge or sound confident, and how much they agree on refusing.
//!
//! A model *refuses a probe* when at least half of its samples are refusals (full or partial).
//! With `r` of `M` models refusing:
//! - refusal rate `r / M`;
//! - refusal agreement, the share of model pairs that agree: `(r (r - 1) + (M - r)(M - r - 1)) /
//!   (M (M - 1))`, Fleiss' per-item agreement `P_i` (the run-level Fleiss' kappa is computed
//!   over probes, in [`super::aggregate`]);
//! - refusal entropy `H(r / M)` in bits: 0 when all models do the same, 1 at an even split.

use super::agreement::entropy_bits;
use crate::features::Flags;

/// Shares of one model's samples on one probe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelRates {
    pub refusal: f64,
    pub hedging: f64,
    pub confident: f64,
    pub self_reference: f64,
}

impl ModelRates {
    pub fn of(flags: &[Flags]) -> Option<ModelRates> {
        if flags.is_empty() {
            return None;
        }
        let share = |f: &dyn Fn(&Flags) -> bool| flags.iter().filter(|x| f(x)).count() as f64 / flags.len() as f64;
        Some(ModelRates {
            refusal: share(&|f| f.refusal.is_refusal()),
            hedging: share(&|f| f.hedging),
            confident: share(&|f| f.confident),
            self_reference: share(&|f| f.self_reference),
        })
    }

    pub fn refuses(&self) -> bool {
        self.refusal >= 0.5
    }
}

/// The behaviour of one probe.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProbeBehaviour {
    /// Per model (sorted by name): its rates on this probe.
    pub models: Vec<(String, ModelRates)>,
    pub refusal_rate: Option<f64>,
    pub refusal_agreement: Option<f64>,
    pub refusal_entropy: Option<f64>,
    /// Mean over models of each model's share of samples that hedge / sound confident / speak
    /// as an AI.
    pub hedging_rate: Option<f64>,
    pub confident_rate: Option<f64>,
    pub self_reference_rate: Option<f64>,
}

impl ProbeBehaviour {
    /// How many of the probe's models refuse it.
    pub fn refusers(&self) -> usize {
        self.models.iter().filter(|(_, r)| r.refuses()).count()
    }
}

/// The behaviour of one probe from each model's flags.
pub fn probe_behaviour(models: &[(String, Vec<Flags>)]) -> ProbeBehaviour {
    let mut rated: Vec<(String, ModelRates)> =
        models.iter().filter_map(|(name, flags)| Some((name.clone(), ModelRates::of(flags)?))).collect();
    rated.sort_by(|a, b| a.0.cmp(&b.0));
    let m = rated.len();
    if m == 0 {
        return ProbeBehaviour::default();
    }
    let r = rated.iter().filter(|(_, x)| x.refuses()).count();
    let mean = |f: &dyn Fn(&ModelRates) -> f64| Some(rated.iter().map(|(_, x)| f(x)).sum::<f64>() / m as f64);
    let (mf, rf) = (m as f64, r as f64);
    ProbeBehaviour {
        refusal_rate: Some(rf / mf),
        refusal_agreement: (m >= 2).then(|| (rf * (rf - 1.0) + (mf - rf) * (mf - rf - 1.0)) / (mf * (mf - 1.0))),
        refusal_entropy: Some(entropy_bits(&[r as u32, (m - r) as u32])),
        hedging_rate: mean(&|x| x.hedging),
        confident_rate: mean(&|x| x.confident),
        self_reference_rate: mean(&|x| x.self_reference),
        models: rated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Refusal;

    fn flags(refusal: Refusal, hedging: bool) -> Flags {
        Flags { refusal, hedging, confident: false, self_reference: false }
    }

    #[test]
    fn agreement_and_entropy_of_refusing() {
        let all_refuse: Vec<(String, Vec<Flags>)> =
            (0..4).map(|i| (format!("m{i}"), vec![flags(Refusal::Full, false); 2])).collect();
        let b = probe_behaviour(&all_refuse);
        assert_eq!((b.refusal_rate, b.refusal_agreement, b.refusal_entropy), (Some(1.0), Some(1.0), Some(0.0)));
        let split: Vec<(String, Vec<Flags>)> = (0..4)
            .map(|i| {
                let r = if i < 2 { Refusal::Partial } else { Refusal::None };
                (format!("m{i}"), vec![flags(r, i == 0), flags(r, false)])
            })
            .collect();
        let b = probe_behaviour(&split);
        assert_eq!(b.refusal_rate, Some(0.5));
        // Pairs that agree: (0,1) and (2,3) of 6.
        assert!((b.refusal_agreement.unwrap() - 2.0 / 6.0).abs() < 1e-12);
        assert_eq!(b.refusal_entropy, Some(1.0));
        assert_eq!(b.hedging_rate, Some(0.5 / 4.0));
        assert_eq!(b.refusers(), 2);
    }

    #[test]
    fn a_model_refuses_when_half_its_samples_do() {
        let rates = ModelRates::of(&[flags(Refusal::Full, false), flags(Refusal::None, false)]).unwrap();
        assert!(rates.refuses());
        let rates =
            ModelRates::of(&[flags(Refusal::Full, false), flags(Refusal::None, false), flags(Refusal::None, false)])
                .unwrap();
        assert!(!rates.refuses());
        assert_eq!(ModelRates::of(&[]), None);
    }
}
