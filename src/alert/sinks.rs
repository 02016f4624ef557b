//! Where alerts go besides the `alerts` table: a Slack-compatible webhook (JSON with `text` and
//! `blocks`, bounded retries) and a Prometheus textfile for node_exporter's textfile collector
//! (written to a temporary file and renamed, so the collector never reads half of one).

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::incident::{self, Event, Incident};
use super::{Alert, Severity};
use crate::metrics::aggregate::RunMetric;
use crate::metrics::tables::run_metrics::RunMetricsTable;
use crate::net::retry::{RetryPolicy, with_retries};
use crate::secrets::{Redactor, SecretKey};

/// Attempts of a webhook POST (the first and the retries).
pub const WEBHOOK_ATTEMPTS: u32 = 3;
/// One attempt's limit.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Every attempt and wait together.
pub const WEBHOOK_BUDGET: Duration = Duration::from_secs(25);

/// What the webhook is told of a night, if anything: the incidents that page (opened,
/// escalated, released, resolved), with what is still open; on a night with no news, a digest
/// of what is still open when `digest` is on; nothing on a quiet night. Never the same page
/// twice: an incident that only continues is news on no night but its first.
pub fn webhook_payload(
    run_date: chrono::NaiveDate,
    incidents: &[Incident],
    digest: bool,
    report: Option<&str>,
) -> Option<serde_json::Value> {
    let pages = incident::pages(incidents);
    let open = incident::still_open(incidents);
    let kind = match (pages.is_empty(), open.is_empty() || !digest) {
        (false, _) => "page",
        (true, false) => "digest",
        (true, true) => return None,
    };
    let count = |e: Event| pages.iter().filter(|i| i.event == e).count();
    let mut said = Vec::new();
    for (e, word) in [
        (Event::Opened, "opened"),
        (Event::Escalated, "escalated"),
        (Event::Released, "no longer explained"),
        (Event::Resolved, "resolved"),
    ] {
        if count(e) > 0 {
            said.push(format!("{} {word}", count(e)));
        }
    }
    let critical = pages.iter().filter(|i| i.severity == Severity::Critical && i.event != Event::Resolved).count();
    let worst = if critical > 0 { format!(" ({critical} critical)") } else { String::new() };
    let text = match kind {
        "page" => format!("hivewatch {run_date}: incidents {}{worst}; {} open", said.join(", "), open.len()),
        _ => format!(
            "hivewatch {run_date}: digest, {} incident{} still open",
            open.len(),
            if open.len() == 1 { "" } else { "s" }
        ),
    };
    let mut blocks = vec![json!({"type": "header", "text": {"type": "plain_text", "text": text}})];
    let line = |i: &Incident| {
        format!(
            "*{}* {} `{}`: {} (incident {}, since {}, {} night{})",
            i.event.as_str(),
            i.peak.as_str(),
            i.about(),
            i.message,
            i.id,
            i.opened,
            i.nights,
            if i.nights == 1 { "" } else { "s" }
        )
    };
    for i in pages.iter().take(20) {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": line(i)}}));
    }
    let others: Vec<&&Incident> = open.iter().filter(|i| !pages.iter().any(|p| p.id == i.id)).collect();
    if !others.is_empty() {
        let list: Vec<String> = others
            .iter()
            .take(20)
            .map(|i| format!("{} `{}` (since {})", i.peak.as_str(), i.about(), i.opened))
            .collect();
        let title = if kind == "page" { "Still open" } else { "Open" };
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*{title}:* {}", list.join("; "))}}),
        );
    }
    if let Some(url) = report {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("report: {url}")}]}));
    }
    Some(json!({"text": text, "kind": kind, "blocks": blocks}))
}

/// Errors of the webhook sink. The URL is a secret and never appears in them.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The status and the start of the reply (Slack says `no_service`, `invalid_payload`, ...).
    #[error("the webhook answered HTTP {status} after {attempts} attempt(s): {said}")]
    Status { status: u16, attempts: u32, said: String },
    /// Why no reply came: the whole cause chain ("connection refused", "timed out", a TLS
    /// error), with the URL scrubbed from it.
    #[error("the webhook could not be reached after {attempts} attempt(s): {said}")]
    Transport { attempts: u32, said: String },
}

/// POSTs `payload` to the webhook through the one retry layer (transport errors, 429 and 5xx
/// are retried, with `Retry-After` honoured, within [`WEBHOOK_BUDGET`]: a hanging receiver
/// cannot hold a night's end, or a SIGTERM, for long). No redirect is followed: it would send
/// the alerts elsewhere, and the `Referer` a redirect carries would be the URL itself, which is
/// the secret.
pub async fn post_webhook(url: &SecretKey, payload: &serde_json::Value) -> Result<(), WebhookError> {
    use crate::net::client::{read_reply, transport_error};
    let redactor = Redactor::new([url]);
    let client = crate::net::client::no_redirect_client(WEBHOOK_TIMEOUT)
        .map_err(|e| WebhookError::Transport { attempts: 0, said: redactor.redact(&e.to_string()) })?;
    let body = serde_json::to_vec(payload).expect("a JSON value serialises");
    let policy = RetryPolicy::new(WEBHOOK_ATTEMPTS - 1, WEBHOOK_BUDGET);
    let retried = with_retries(&policy, |_| {
        let (client, body, redactor) = (&client, &body, &redactor);
        async move {
            let reply = client
                .post(url.expose())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| transport_error(e.without_url()))?;
            read_reply(reply, 64 * 1024, redactor).await.map(|_| ())
        }
    })
    .await;
    let Err(e) = retried.result else { return Ok(()) };
    let attempts = retried.attempts;
    let said = redactor.redact_capped(&e.message, 300).0;
    Err(match e.http_status {
        Some(status) => {
            let said = said.strip_prefix(&format!("HTTP {status}: ")).unwrap_or(&said).trim().to_owned();
            WebhookError::Status { status, attempts, said: if said.is_empty() { "no reply body".into() } else { said } }
        }
        None => WebhookError::Transport { attempts, said },
    })
}

/// The Prometheus text exposition of a run: last success, duration, coverage, the overall
/// metrics and alert counts by severity.
pub fn textfile_contents(
    finished_at: chrono::DateTime<chrono::Utc>,
    duration_s: f64,
    coverage: f64,
    embedder: &str,
    metrics: &[RunMetric],
    alerts: &[Alert],
    incidents: &[Incident],
) -> String {
    let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    let short = crate::store::EmbedderTag::of_id(embedder).short();
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(String, f64)]| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (labels, v) in samples {
            out.push_str(&format!("{name}{labels} {v}\n"));
        }
    };
    gauge(
        "hivewatch_last_success_timestamp_seconds",
        "Unix time at which the last run finished.",
        &[(String::new(), finished_at.timestamp_millis() as f64 / 1000.0)],
    );
    gauge("hivewatch_run_duration_seconds", "Wall time of the last run.", &[(String::new(), duration_s)]);
    gauge("hivewatch_coverage_ratio", "Share of planned requests that succeeded.", &[(String::new(), coverage)]);
    let samples: Vec<(String, f64)> = metrics
        .iter()
        .filter(|m| m.scope.is_overall() && m.value.is_finite())
        .map(|m| (format!("{{metric=\"{}\",embedder=\"{}\"}}", escape(&m.metric), escape(&short)), m.value))
        .collect();
    let id = format!("{{embedder=\"{}\",embedder_id=\"{}\"}}", escape(&short), escape(embedder));
    gauge("hivewatch_embedder_info", "The embedder's full id, once; other metrics carry its short tag.", &[(id, 1.0)]);
    gauge("hivewatch_metric", "Overall run metrics of the last run (run_metrics, scope overall).", &samples);
    let counts: Vec<(String, f64)> = [Severity::Info, Severity::Warning, Severity::Critical]
        .iter()
        .map(|s| {
            (format!("{{severity=\"{}\"}}", s.as_str()), alerts.iter().filter(|a| a.severity == *s).count() as f64)
        })
        .collect();
    gauge("hivewatch_alerts", "Alerts raised by the last run, by severity.", &counts);
    let open: Vec<(String, f64)> = [Severity::Warning, Severity::Critical]
        .iter()
        .map(|s| {
            let n = incident::still_open(incidents).iter().filter(|i| i.peak == *s).count();
            (format!("{{severity=\"{}\"}}", s.as_str()), n as f64)
        })
        .collect();
    gauge(
        "hivewatch_incidents_open",
        "Incidents open after the last run (neither held back nor acknowledged), by peak severity.",
        &open,
    );
    let events: Vec<(String, f64)> = [Event::Opened, Event::Escalated, Event::Released, Event::Resolved]
        .iter()
        .map(|e| {
            let n = incidents.iter().filter(|i| i.event == *e && i.pages()).count();
            (format!("{{event=\"{}\"}}", e.as_str()), n as f64)
        })
        .collect();
    gauge("hivewatch_incident_pages", "What the last run paged, by event.", &events);
    out
}

/// Writes the textfile atomically (temporary sibling, then rename).
pub fn write_textfile(path: &Path, contents: &str) -> std::io::Result<()> {
    crate::store::write_atomic(path, |f| std::io::Write::write_all(f, contents.as_bytes()))
}

/// What the sinks are told of one night (a run, or a consortium's union).
pub struct NightSummary<'a> {
    pub run_id: &'a str,
    pub run_date: chrono::NaiveDate,
    pub row: &'a crate::plan::runs::RunRow,
    pub embedder_id: &'a str,
    /// The night's `run_metrics` file (its overall rows go to the textfile).
    pub run_metrics: &'a Path,
    pub alerts: &'a [Alert],
    pub incidents: &'a [Incident],
    pub duration_s: f64,
    /// The night's page (`html/<run_date>/<page>.html` under the output).
    pub report: Option<&'a Path>,
}

/// The link to a night's page: `base` (where the output's `html/` folder is served, `[alerts]
/// report_base_url`) joined with the page's `<run_date>/<page>.html`.
pub fn report_link(base: &str, page: &Path) -> Option<String> {
    let mut parts = page.iter().rev().take(2).map(|p| p.to_str());
    let (file, date) = (parts.next()??, parts.next()??);
    let base = if base.ends_with('/') { base.to_owned() } else { format!("{base}/") };
    Some(reqwest::Url::parse(&base).ok()?.join(&format!("{date}/{file}")).ok()?.to_string())
}

/// Sends a night to the configured sinks: the Prometheus textfile, and the webhook when an alert
/// pages. A sink that fails is logged, never fatal: the alerts are already in their table and in
/// the exit code.
pub async fn notify(config: &crate::config::Config, night: &NightSummary<'_>) {
    if let Some(path) = &config.alerts.textfile {
        let overall = match crate::store::table::read_file::<RunMetricsTable>(night.run_metrics) {
            Ok(rows) => rows.into_iter().filter(|m| m.scope.is_overall()).collect(),
            Err(e) => {
                tracing::warn!("could not read {}: {e}", night.run_metrics.display());
                Vec::new()
            }
        };
        let text = textfile_contents(
            night.row.finished_at,
            night.duration_s,
            night.row.coverage(),
            night.embedder_id,
            &overall,
            night.alerts,
            night.incidents,
        );
        match write_textfile(path, &text) {
            Ok(()) => tracing::info!("wrote the Prometheus textfile {}", path.display()),
            Err(e) => tracing::warn!("could not write the Prometheus textfile {}: {e}", path.display()),
        }
    }
    if let Some(url) = &config.webhook_url
        && let Some(payload) = webhook_payload(
            night.run_date,
            night.incidents,
            config.alerts.incidents.digest,
            config.alerts.report_base_url.as_deref().zip(night.report).and_then(|(b, p)| report_link(b, p)).as_deref(),
        )
    {
        match post_webhook(url, &payload).await {
            Ok(()) => tracing::info!(kind = %payload["kind"], "posted the night's incidents to the webhook"),
            Err(e) => tracing::warn!("could not post the night's incidents to the webhook: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(severity: Severity) -> Alert {
        Alert {
            severity,
            rule: "drop".into(),
            scope: crate::vocab::Scope::Overall,
            metric: "effective_models".into(),
            value: 2.0,
            baseline: Some(3.0),
            threshold: 25.0,
            message: "fell".into(),
            incident: None,
            inhibited_by: None,
        }
    }

    /// One night of incidents from these alerts, after `previous`.
    fn night(previous: &[Incident], alerts: &mut [Alert], day: u32) -> Vec<Incident> {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 1, day).unwrap();
        incident::track(
            previous,
            alerts,
            (date, &format!("r{day}")),
            true,
            &Default::default(),
            &[],
            &Default::default(),
        )
    }

    #[test]
    fn the_webhook_pages_news_once_then_digests_then_says_nothing() {
        let d = |n| chrono::NaiveDate::from_ymd_opt(2026, 1, n).unwrap();
        let first = night(&[], &mut [alert(Severity::Critical), alert(Severity::Info)], 1);
        let p = webhook_payload(d(1), &first, true, Some("https://x/r.html")).unwrap();
        assert_eq!(p["text"], "hivewatch 2026-01-01: incidents 1 opened (1 critical); 1 open");
        assert_eq!(p["kind"], "page");
        assert_eq!(p["blocks"].as_array().unwrap().len(), 3, "header, the incident, the report link: {p}");
        let second = night(&first, &mut [alert(Severity::Critical)], 2);
        let p = webhook_payload(d(2), &second, true, None).unwrap();
        assert_eq!(
            (p["kind"].as_str(), p["text"].as_str()),
            (Some("digest"), Some("hivewatch 2026-01-02: digest, 1 incident still open"))
        );
        assert!(webhook_payload(d(2), &second, false, None).is_none(), "no digest asked: nothing to say");
        let quiet = night(&second, &mut [], 3);
        let quiet = night(&quiet, &mut [], 4);
        let closed = night(&quiet, &mut [], 5);
        let p = webhook_payload(d(5), &closed, true, None).unwrap();
        assert_eq!(p["text"], "hivewatch 2026-01-05: incidents 1 resolved; 0 open");
        assert!(webhook_payload(d(6), &night(&closed, &mut [], 6), true, None).is_none());
    }

    /// Issue 30, item 16: the webhook's message links the night's page under the base URL.
    #[test]
    fn the_report_link_is_the_page_under_the_base_url() {
        let page = Path::new("/srv/out/html/2026-01-05/r1.lexical-0a1b2c3d.html");
        let want = "https://reports.example.org/hw/2026-01-05/r1.lexical-0a1b2c3d.html";
        assert_eq!(report_link("https://reports.example.org/hw/", page).as_deref(), Some(want));
        assert_eq!(report_link("https://reports.example.org/hw", page).as_deref(), Some(want));
        assert_eq!(report_link("not a url", page), None);
    }

    /// Issue 16, item 19: the failure said only "error sending request".
    #[tokio::test]
    async fn a_webhook_failure_says_why_without_the_url() {
        // A port nothing listens on: bind one, learn it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = SecretKey::new(format!("http://127.0.0.1:{port}/services/T000/B000/secretpart"));
        let e = post_webhook(&url, &json!({"text": "x"})).await.unwrap_err().to_string();
        assert!(e.to_lowercase().contains("refused"), "{e}");
        assert!(!e.contains("secretpart") && !e.contains(&port.to_string()), "{e}");
    }

    #[test]
    fn textfile_has_help_type_and_samples() {
        let m = RunMetric {
            scope: crate::vocab::Scope::Overall,
            metric: "effective_models".into(),
            value: 3.5,
            ci: None,
            n: 1,
            n_models: 2,
        };
        let mut alerts = [alert(Severity::Warning)];
        let incidents = night(&[], &mut alerts, 1);
        let t = textfile_contents(chrono::Utc::now(), 12.5, 0.99, "lexical-v1:\"x\"", &[m], &alerts, &incidents);
        assert!(t.contains("hivewatch_incidents_open{severity=\"warning\"} 1\n"), "{t}");
        assert!(t.contains("hivewatch_incident_pages{event=\"opened\"} 1\n"), "{t}");
        assert!(t.contains("# TYPE hivewatch_metric gauge\n"));
        let short = crate::store::EmbedderTag::of_id("lexical-v1:\"x\"").short();
        assert!(short.starts_with("lexical-") && short.len() == "lexical-".len() + 8, "{short}");
        let label = format!("embedder=\"{short}\"");
        assert!(t.contains(&format!("hivewatch_metric{{metric=\"effective_models\",{label}}} 3.5\n")), "{t}");
        assert!(
            t.contains(&format!("hivewatch_embedder_info{{{label},embedder_id=\"lexical-v1:\\\"x\\\"\"}} 1\n")),
            "the full id once: {t}"
        );
        assert!(t.contains("hivewatch_alerts{severity=\"warning\"} 1\n"));
    }
}
