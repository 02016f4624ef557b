//! `hivewatch endpoints check`: one cheap request to each endpoint, and why any failed.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::collect::providers::{self, ChatRequest};
use crate::config::Config;
use crate::exit;
use crate::net::retry::ErrorKind;
use crate::plan::SentParams;
use crate::say::say;

#[derive(Debug, Subcommand)]
pub enum EndpointsCommand {
    /// Send one cheap request to each endpoint and report ok or the reason it failed (exit 5
    /// when one failed).
    Check {
        #[arg(long, short, default_value = "hivewatch.toml")]
        config: PathBuf,
    },
}

pub async fn command(command: EndpointsCommand) -> Result<i32> {
    let EndpointsCommand::Check { config } = command;
    let mut cfg = Config::load(&config)?;
    cfg.resolve_keys(|v| std::env::var(v).ok())?;
    let endpoints = check_endpoints(&cfg).await?;
    let night = check_night(&cfg).await;
    Ok(if endpoints == exit::OK && night == 0 { exit::OK } else { exit::CHECK_FAILED })
}

/// The embedder a night would use, asked for one vector (a remote one that does not answer
/// fails here, not after every model request has been sent): a line to print.
pub(super) async fn check_embedder(cfg: &Config) -> Result<String> {
    let mut embedder = crate::embed::Embedder::from_config(cfg)?;
    Ok(match embedder.settle().await? {
        Some(dim) => format!("embedder {}: answers ({dim} dimensions)", embedder.id()),
        None => format!("embedder {}: ready", embedder.id()),
    })
}

/// What else a night needs, checked as a dry run does: the output can be written, the embedder
/// answers. Prints a line each; returns how many failed.
async fn check_night(cfg: &Config) -> usize {
    let member = cfg.consortium.member.is_some();
    let output = crate::session::check_place(crate::run::place(cfg, member), !member).await;
    let embedder = if member { None } else { Some(check_embedder(cfg).await) };
    let mut failed = 0;
    let mut line = |what: &str, r: Result<String, String>| {
        let (status, detail) = match r {
            Ok(detail) => ("ok", detail),
            Err(e) => {
                failed += 1;
                ("FAILED", e.replace('\n', " "))
            }
        };
        say!("{:<28} {:<10} {:<8} {:>8}  {}", what, "", status, "", detail);
    };
    line("(output)", output.map(|o| format!("{}: writable", o.unwrap_or_default())).map_err(|e| e.to_string()));
    if let Some(r) = embedder {
        line("(embedder)", r.map_err(|e| format!("{e:#}")));
    }
    if failed > 0 {
        say!("{failed} other check(s) failed (exit code {})", exit::CHECK_FAILED);
    }
    failed
}

async fn check_endpoints(cfg: &Config) -> Result<i32> {
    // Collection's own client: the same redirect policy (no key to another origin).
    let client = crate::net::client::http_client().context("building the HTTP client")?;
    let redactor = crate::secrets::Redactor::new(cfg.endpoints.iter().filter_map(|e| e.api_key.as_ref()));
    let checks = cfg.endpoints.iter().cloned().map(|ep| {
        let (client, redactor) = (client.clone(), redactor.clone());
        async move {
            let params = SentParams { max_tokens: 16, ..SentParams::for_sample(&ep, 0) };
            let req = ChatRequest { system: None, prompt: "Reply with the single word: ok", params };
            let wire = providers::build(&ep, &req);
            let body = serde_json::to_vec(&wire.body).expect("serialises");
            let t = std::time::Instant::now();
            let r =
                crate::collect::send_once(&client, &wire, &body, &ep, crate::net::client::MAX_BODY_BYTES, &redactor)
                    .await;
            (ep, t.elapsed(), r)
        }
    });
    let results = futures_join_all(checks).await;
    let mut failed = 0;
    say!("{:<28} {:<10} {:<8} {:>8}  detail", "endpoint", "provider", "status", "ms");
    for (ep, elapsed, r) in results {
        let (status, detail) = match r {
            Ok((reply, _)) => ("ok", format!("{:?}", redactor.redact_capped(&reply.text, 40).0)),
            Err(e) => {
                failed += 1;
                let hint = match e.kind {
                    ErrorKind::Auth => " (check the key in the variable named by api_key_env)",
                    ErrorKind::ClientError => " (check model and base_url)",
                    ErrorKind::Connect => " (is the server up? is base_url right?)",
                    ErrorKind::Redirect => " (no redirect to another host is followed with a key)",
                    _ => "",
                };
                let message = redactor.redact_capped(&e.message, crate::collect::MAX_ERROR_BYTES).0;
                ("FAILED", format!("{}: {message}{hint}", e.kind.as_str()))
            }
        };
        say!("{:<28} {:<10} {:<8} {:>8}  {}", ep.name, ep.provider.as_str(), status, elapsed.as_millis(), detail);
    }
    if failed > 0 {
        say!("{failed} endpoint(s) failed the check (exit code {})", exit::CHECK_FAILED);
    }
    Ok(if failed == 0 { exit::OK } else { exit::CHECK_FAILED })
}

/// Awaits futures concurrently on the current task (no extra dependency for one call site).
async fn futures_join_all<F>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let mut n = 0;
    for (i, f) in futs.into_iter().enumerate() {
        set.spawn(async move { (i, f.await) });
        n += 1;
    }
    let mut out: Vec<Option<F::Output>> = (0..n).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        let (i, v) = r.expect("check task panicked");
        out[i] = Some(v);
    }
    out.into_iter().map(|v| v.expect("every task reported")).collect()
}
