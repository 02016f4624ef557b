//! `hivewatch embed`: JSON lines of text in, JSON lines of vectors out.

use anyhow::{Context, Result};

use super::args::EmbedderArgs;
use crate::exit;
use crate::say::tell;

pub fn command(embedder: &EmbedderArgs) -> Result<i32> {
    let embedder = embedder.build()?;
    tell!("embedder {}", embedder.id());
    tokio::task::block_in_place(|| embed_stdin(&embedder))?;
    Ok(exit::OK)
}

/// `hivewatch embed`: JSON lines in, JSON lines out, in batches.
fn embed_stdin(embedder: &crate::embed::Embedder) -> Result<()> {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut batch: Vec<String> = Vec::new();
    let flush = |batch: &mut Vec<String>, out: &mut dyn Write| -> Result<()> {
        let texts: Vec<&str> = batch.iter().map(String::as_str).collect();
        for v in embedder.embed_blocking(&texts)? {
            serde_json::to_writer(&mut *out, &serde_json::json!({ "embedding": v }))?;
            out.write_all(b"\n")?;
        }
        batch.clear();
        Ok(())
    };
    let result = (|| -> Result<()> {
        for (n, line) in stdin.lines().enumerate() {
            let line = line.context("reading stdin")?;
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
                crate::input::InputError::new(std::path::Path::new("<stdin>"), Some(n + 1), format!("not JSON: {e}"))
                    .hint("write one object a line: {\"text\": \"...\"}")
            })?;
            let Some(text) = value.get("text").and_then(serde_json::Value::as_str) else {
                return Err(crate::input::InputError::new(
                    std::path::Path::new("<stdin>"),
                    Some(n + 1),
                    "no \"text\" string",
                )
                .hint("write one object a line: {\"text\": \"...\"}")
                .into());
            };
            batch.push(text.to_owned());
            if batch.len() == 256 {
                flush(&mut batch, &mut stdout)?;
            }
        }
        flush(&mut batch, &mut stdout)?;
        stdout.flush()?;
        Ok(())
    })();
    // The reader went away (`| head`): what it wanted is written; that is not a failure.
    match result {
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) => {
            Ok(())
        }
        other => other,
    }
}
