//! The alert rules `analyze` and `import` judge by, and where they came from (said aloud).

use std::path::{Path, PathBuf};

use crate::alert::AlertConfig;
use crate::input::InputError;
use crate::store::Output;

/// Where the rules a session judges by came from, said aloud by the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesFrom {
    /// `[alerts]` of the configuration given.
    Config(PathBuf),
    /// Recorded in the output's state by the last `hivewatch run` on it.
    Recorded(PathBuf),
    /// Neither: the built-in rules.
    BuiltIn,
}

impl std::fmt::Display for RulesFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RulesFrom::Config(p) => write!(f, "[alerts] of {}", p.display()),
            RulesFrom::Recorded(p) => write!(f, "recorded by the last run in {}", p.display()),
            RulesFrom::BuiltIn => {
                f.write_str("the built-in ones (no --config, and no run recorded its rules in this output)")
            }
        }
    }
}

/// The rules `analyze` and `import` judge an output's runs by: the configuration's `[alerts]`
/// when one is given, else those the last `hivewatch run` recorded in the output's state, else
/// the built-in ones.
pub fn rules_for(
    output: &Output,
    config: Option<(&Path, AlertConfig)>,
) -> Result<(AlertConfig, RulesFrom), InputError> {
    if let Some((path, rules)) = config {
        return Ok((rules, RulesFrom::Config(path.to_owned())));
    }
    let recorded = output.alert_rules_path();
    let bad = |message: String| {
        InputError::new(&recorded, None, message).hint("pass --config with the configuration whose [alerts] to use")
    };
    match std::fs::read(&recorded) {
        Ok(bytes) => {
            let rules: AlertConfig = serde_json::from_slice(&bytes)
                .map_err(|e| bad(format!("cannot read the alert rules recorded by the last run: {e}")))?;
            rules.validate().map_err(bad)?;
            Ok((rules, RulesFrom::Recorded(recorded)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((AlertConfig::default(), RulesFrom::BuiltIn)),
        Err(e) => Err(bad(format!("cannot read it: {e}"))),
    }
}
