//! Table `alerts`: one row per alert a run raised (see [`crate::alert`]).

use super::{Alert, Severity};
use crate::store::StoreError;
use crate::store::columns::Columns;
use crate::store::table::{Builder, History, RunRef, Table, TableDecl};

/// Table `alerts`; its row is the alert stage's own [`Alert`].
pub struct AlertsTable;

impl Table for AlertsTable {
    type Row = Alert;
    const DECL: TableDecl = TableDecl::per_embedder("alerts").read_later(History::Window);

    fn to_arrow(run: &RunRef, rows: &[Alert], b: Builder) -> Builder {
        b.same_str("run_id", &run.id)
            .same_str("embedder_id", &run.tag.id)
            .str("severity", rows.iter().map(|a| a.severity.as_str()))
            .str("rule", rows.iter().map(|a| &a.rule))
            .str("scope", rows.iter().map(|a| a.scope.to_string()))
            .str("metric", rows.iter().map(|a| &a.metric))
            .f64("value", rows.iter().map(|a| a.value))
            .opt_f64("baseline", rows.iter().map(|a| a.baseline))
            .f64("threshold", rows.iter().map(|a| a.threshold))
            .str("message", rows.iter().map(|a| &a.message))
            .opt_str("incident_id", rows.iter().map(|a| a.incident.as_deref()))
            .opt_str("inhibited_by", rows.iter().map(|a| a.inhibited_by.as_deref()))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<Alert>, StoreError> {
        let (severity, rule, scope, metric, message) = (
            c.strings("severity")?,
            c.strings("rule")?,
            c.strings("scope")?,
            c.strings("metric")?,
            c.strings("message")?,
        );
        let (value, baseline, threshold) = (c.f64s("value")?, c.f64s("baseline")?, c.f64s("threshold")?);
        // Files of nights before incidents existed lack the two columns: no incident then.
        let incident = if c.has("incident_id") { Some(c.strings("incident_id")?) } else { None };
        let inhibited = if c.has("inhibited_by") { Some(c.strings("inhibited_by")?) } else { None };
        (0..c.rows())
            .map(|i| {
                Ok(Alert {
                    severity: Severity::from_stored(severity.value(i)),
                    rule: rule.value(i).to_owned(),
                    scope: scope
                        .value(i)
                        .parse()
                        .map_err(|e: crate::vocab::ScopeParseError| c.error("scope", e.to_string()))?,
                    metric: metric.value(i).to_owned(),
                    value: value.value(i),
                    baseline: Columns::opt_f64(baseline, i),
                    threshold: threshold.value(i),
                    message: message.value(i).to_owned(),
                    incident: incident.and_then(|col| Columns::opt_str(col, i)).map(str::to_owned),
                    inhibited_by: inhibited.and_then(|col| Columns::opt_str(col, i)).map(str::to_owned),
                })
            })
            .collect()
    }
}
