//! `[alerts.incidents]` and `[[acknowledge]]`: how alerts become incidents, when they close,
//! and the decisions that silence one. The tracking itself is `crate::alert::incident`.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// `[alerts.incidents]`: when an incident closes, and whether the webhook reminds of what is
/// still open on nights with no news.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentRules {
    /// Judged nights an incident must not hold before it is resolved.
    pub close_after: u32,
    /// On a night with no news, post a digest of the incidents still open (never a page: the
    /// exit code stays 0).
    pub digest: bool,
    /// An ecosystem-wide incident explains (and holds back) the `pair` incidents that open within
    /// this many nights of its opening or escalating: a pair's trend needs about a week of
    /// nights (the pair rule's `min_runs`) to show, so for that long a pair moving with the
    /// ecosystem is the ecosystem's doing, not news of its own.
    pub explain_nights: u32,
}

impl Default for IncidentRules {
    fn default() -> Self {
        IncidentRules { close_after: 3, digest: true, explain_nights: 7 }
    }
}

impl IncidentRules {
    /// Checks the settings; an error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.close_after == 0 || self.close_after > 60 {
            return Err(format!("[alerts.incidents] close_after {} must be between 1 and 60 nights", self.close_after));
        }
        Ok(())
    }
}

/// `[[acknowledge]]`: a decision about an incident, silencing it until a date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    /// The rule (`pair`, `undeclared`, `drop`, ...).
    pub rule: String,
    /// The scope as the alerts table writes it (`pair:a|b`, `overall`, `model:x`).
    pub scope: String,
    /// Only this metric of the rule and scope (default: every one).
    #[serde(default)]
    pub metric: Option<String>,
    /// Why (the report shows it).
    pub reason: String,
    /// The last night it silences (inclusive).
    pub until: NaiveDate,
    /// Who decided.
    #[serde(default)]
    pub by: Option<String>,
}
