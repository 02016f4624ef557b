//! Fault injection for the simulator: `429=0.2,500=0.1,malformed=0.05,hang=0.02,slow=0.1`.

use std::fmt;
use std::str::FromStr;

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 429 with `Retry-After`.
    RateLimit,
    /// HTTP 500.
    ServerError,
    /// HTTP 200 whose body is not the provider's JSON.
    Malformed,
    /// Never answers; the client's timeout must end it.
    Hang,
    /// Answers correctly, after a delay.
    Slow,
}

/// Rates of each fault, drawn independently per request from one uniform number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSpec {
    rates: Vec<(Fault, f64)>,
}

impl FaultSpec {
    pub fn none() -> Self {
        Self::default()
    }

    /// Which fault, if any, a uniform draw `u` in [0, 1) selects.
    pub fn pick(&self, u: f64) -> Option<Fault> {
        let mut acc = 0.0;
        for &(fault, rate) in &self.rates {
            acc += rate;
            if u < acc {
                return Some(fault);
            }
        }
        None
    }

    pub fn is_empty(&self) -> bool {
        self.rates.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("--faults {spec:?}: {problem} (write it as 429=0.2,500=0.1,malformed=0.05,hang=0.02,slow=0.1)")]
pub struct FaultSpecError {
    spec: String,
    problem: String,
}

impl crate::failure::Classify for FaultSpecError {
    fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::BadInput
    }
}

impl FromStr for FaultSpec {
    type Err = FaultSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let err = |problem: String| FaultSpecError { spec: spec.to_owned(), problem };
        let mut rates = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, rate) = part.split_once('=').ok_or_else(|| err(format!("{part:?} has no '='")))?;
            let fault = match name.trim() {
                "429" => Fault::RateLimit,
                "500" => Fault::ServerError,
                "malformed" => Fault::Malformed,
                "hang" => Fault::Hang,
                "slow" => Fault::Slow,
                other => return Err(err(format!("unknown fault {other:?}; known: 429, 500, malformed, hang, slow"))),
            };
            let rate: f64 = rate.trim().parse().map_err(|_| err(format!("rate {rate:?} is not a number")))?;
            if !(0.0..=1.0).contains(&rate) {
                return Err(err(format!("rate {rate} is outside 0..1")));
            }
            if rates.iter().any(|(f, _)| *f == fault) {
                return Err(err(format!("{name} is given twice")));
            }
            rates.push((fault, rate));
        }
        let total: f64 = rates.iter().map(|(_, r)| r).sum();
        if total > 1.0 + 1e-9 {
            return Err(err(format!("the rates add up to {total}, more than 1")));
        }
        Ok(FaultSpec { rates })
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .rates
            .iter()
            .map(|(fault, r)| {
                let name = match fault {
                    Fault::RateLimit => "429",
                    Fault::ServerError => "500",
                    Fault::Malformed => "malformed",
                    Fault::Hang => "hang",
                    Fault::Slow => "slow",
                };
                format!("{name}={r}")
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issue_example_and_picks_by_rate() {
        let s: FaultSpec = "429=0.2,500=0.1,malformed=0.05,hang=0.02,slow=0.1".parse().unwrap();
        assert_eq!(s.pick(0.0), Some(Fault::RateLimit));
        assert_eq!(s.pick(0.25), Some(Fault::ServerError));
        assert_eq!(s.pick(0.32), Some(Fault::Malformed));
        assert_eq!(s.pick(0.36), Some(Fault::Hang));
        assert_eq!(s.pick(0.4), Some(Fault::Slow));
        assert_eq!(s.pick(0.5), None);
        assert_eq!(s.to_string(), "429=0.2,500=0.1,malformed=0.05,hang=0.02,slow=0.1");
    }

    #[test]
    fn refuses_bad_specs() {
        assert!("404=0.1".parse::<FaultSpec>().is_err());
        assert!("429=2".parse::<FaultSpec>().is_err());
        assert!("429=0.7,500=0.7".parse::<FaultSpec>().is_err());
        assert!("429".parse::<FaultSpec>().is_err());
        assert!("".parse::<FaultSpec>().unwrap().is_empty());
    }
}
