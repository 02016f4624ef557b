//! Table `incidents`: per run and embedder, every incident open that night or resolved on it
//! ([`super::incident::Incident`]), with what happened to it that night. The latest night's file
//! holds what is open now; the next night carries it forward.

use super::Severity;
use super::incident::{Event, Incident};
use crate::plan::runs::{self, RunInfo};
use crate::store::columns::Columns;
use crate::store::table::{self, Builder, History, RunRef, Table, TableDecl};
use crate::store::{EmbedderTag, Output, StoreError};

/// Table `incidents`; its row is the alert stage's own [`Incident`].
pub struct IncidentsTable;

impl Table for IncidentsTable {
    type Row = Incident;
    const DECL: TableDecl = TableDecl::per_embedder("incidents").read_later(History::Window);

    fn to_arrow(run: &RunRef, rows: &[Incident], b: Builder) -> Builder {
        b.same_str("run_id", &run.id)
            .same_str("embedder_id", &run.tag.id)
            .str("incident_id", rows.iter().map(|i| &i.id))
            .str("rule", rows.iter().map(|i| &i.rule))
            .str("scope", rows.iter().map(|i| i.scope.to_string()))
            .str("metric", rows.iter().map(|i| &i.metric))
            .str("event", rows.iter().map(|i| i.event.as_str()))
            .bool("paged", rows.iter().map(Incident::pages))
            .str("severity", rows.iter().map(|i| i.severity.as_str()))
            .str("peak_severity", rows.iter().map(|i| i.peak.as_str()))
            .opt_date32("opened", rows.iter().map(|i| Some(i.opened)))
            .opt_date32("last_seen", rows.iter().map(|i| Some(i.last_seen)))
            .opt_date32("last_change", rows.iter().map(|i| Some(i.last_change)))
            .opt_date32("closed", rows.iter().map(|i| i.closed))
            .i64("nights", rows.iter().map(|i| i64::from(i.nights)))
            .i64("quiet_nights", rows.iter().map(|i| i64::from(i.quiet)))
            .list_str("alert_run_ids", rows.iter().map(|i| i.run_ids.iter()))
            .opt_str("inhibited_by", rows.iter().map(|i| i.inhibited_by.as_deref()))
            .opt_str("acknowledged", rows.iter().map(|i| i.acknowledged.as_deref()))
            .str("message", rows.iter().map(|i| &i.message))
    }

    fn from_arrow(c: &Columns) -> Result<Vec<Incident>, StoreError> {
        let (id, rule, scope, metric, event) = (
            c.strings("incident_id")?,
            c.strings("rule")?,
            c.strings("scope")?,
            c.strings("metric")?,
            c.strings("event")?,
        );
        let (sev, peak, message) = (c.strings("severity")?, c.strings("peak_severity")?, c.strings("message")?);
        let (opened, last_seen, closed) = (c.date32s("opened")?, c.date32s("last_seen")?, c.date32s("closed")?);
        let last_change = c.date32s("last_change")?;
        let (nights, quiet, runs) = (c.i64s("nights")?, c.i64s("quiet_nights")?, c.str_lists("alert_run_ids")?);
        let (inhibited, acked) = (c.strings("inhibited_by")?, c.strings("acknowledged")?);
        let date = |col, i, name: &str| Columns::opt_date(col, i).ok_or_else(|| c.error(name, "is null"));
        (0..c.rows())
            .map(|i| {
                Ok(Incident {
                    id: id.value(i).to_owned(),
                    rule: rule.value(i).to_owned(),
                    scope: scope
                        .value(i)
                        .parse()
                        .map_err(|e: crate::vocab::ScopeParseError| c.error("scope", e.to_string()))?,
                    metric: metric.value(i).to_owned(),
                    opened: date(opened, i, "opened")?,
                    last_seen: date(last_seen, i, "last_seen")?,
                    last_change: date(last_change, i, "last_change")?,
                    closed: Columns::opt_date(closed, i),
                    severity: Severity::from_stored(sev.value(i)),
                    peak: Severity::from_stored(peak.value(i)),
                    nights: nights.value(i) as u32,
                    quiet: quiet.value(i) as u32,
                    run_ids: Columns::str_list_row(runs, i),
                    event: Event::parse(event.value(i))
                        .ok_or_else(|| c.error("event", format!("holds {:?}, unknown here", event.value(i))))?,
                    inhibited_by: Columns::opt_str(inhibited, i).map(str::to_owned),
                    acknowledged: Columns::opt_str(acked, i).map(str::to_owned),
                    message: message.value(i).to_owned(),
                })
            })
            .collect()
    }
}

/// How many earlier runs are looked at for the last night's incidents (a night that wrote none,
/// such as a member's collect-only night, is passed over).
const LOOK_BACK: usize = 7;

/// The incidents of the last night before `tonight` that has an `incidents` file for this
/// embedder (none: the first night, or the first since incidents existed).
pub fn previous(output: &Output, tonight: &RunInfo, tag: &EmbedderTag) -> Result<Vec<Incident>, StoreError> {
    let mut earlier: Vec<_> = runs::list(output)?
        .into_iter()
        .filter(|(date, id)| (*date, id.as_str()) < (tonight.run_date, tonight.run_id.as_str()))
        .collect();
    earlier.reverse();
    for (date, id) in earlier.into_iter().take(LOOK_BACK) {
        let run = RunRef::new(date, id, tag.clone());
        if table::path::<IncidentsTable>(output, &run).exists() {
            return table::read::<IncidentsTable>(output, &run);
        }
    }
    Ok(Vec::new())
}
