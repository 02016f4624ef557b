//! `hivewatch query NAME [--output DIR|URL] [--print | --csv[=FILE]]`: the analysts' first
//! queries (`reports/queries/*.sql`, compiled in so they work from any folder) against an output
//! root. Each file binds the root to a DuckDB variable (`hivewatch_out`, `reports` when unset),
//! so it also runs as it is in DuckDB. The query runs through the `duckdb` command when one is
//! found (`$HIVEWATCH_DUCKDB`, else `duckdb` on the PATH); otherwise the SQL is printed, ready to
//! paste, with how to install DuckDB.
//!
//! An object-store output (`s3://`, `gs://`, `az://`) is read through a local copy: hivewatch
//! lists the tables the query reads and pulls what is new or changed into a mirror under the
//! user's cache folder (the store layer's, with the credentials a run uses), and DuckDB reads
//! that folder. No DuckDB extension is needed, so it works on a machine that cannot download
//! `httpfs`, with any DuckDB.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::config::OutputLocation;
use crate::exit;
use crate::input::InputError;
use crate::remote::{Target, history};
use crate::say::{say, tell};

/// (name, SQL) of every query, in the order `--list` shows them.
pub const QUERIES: &[(&str, &str)] = &[
    ("diversity_over_time", include_str!("../reports/queries/diversity_over_time.sql")),
    ("converging_pairs", include_str!("../reports/queries/converging_pairs.sql")),
    ("probes_that_drove_a_drop", include_str!("../reports/queries/probes_that_drove_a_drop.sql")),
    ("refusal_rates_by_model", include_str!("../reports/queries/refusal_rates_by_model.sql")),
    ("alert_history", include_str!("../reports/queries/alert_history.sql")),
    ("adoption_by_model", include_str!("../reports/queries/adoption_by_model.sql")),
    ("claimed_identity", include_str!("../reports/queries/claimed_identity.sql")),
];

/// How to get DuckDB, for the messages and the README.
pub const INSTALL_DUCKDB: &str =
    "pip install duckdb-cli (or pipx install duckdb-cli; or the duckdb binary from duckdb.org)";

/// Where the text of the DuckDB variable starts in a query's `read_parquet` paths.
const ROOT_IN_PATH: &str = "getvariable('hivewatch_out') || '/";

/// What to do with a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Emit {
    /// Run it through the `duckdb` command and show its table (the SQL printed when there is
    /// no DuckDB).
    Table,
    /// Print the SQL, the output root bound, without running it.
    Print,
    /// Run it and write its rows as CSV with a header: to stdout (`None`), or to a file.
    Csv(Option<PathBuf>),
}

/// A query's description: its opening comment, up to the line that says how to run it, on one
/// line (whole sentences: the list used to cut it at the end of the first line).
pub fn description(sql: &str) -> String {
    let lines = sql.lines().map_while(|l| l.strip_prefix("--")).map(str::trim);
    lines.take_while(|l| !l.starts_with("Run it:")).collect::<Vec<_>>().join(" ")
}

/// The tables a query reads (the `<table>` of each `read_parquet(... || '/<table>/...')`).
pub fn tables_read(sql: &str) -> Vec<&str> {
    let mut tables = Vec::new();
    for (at, _) in sql.match_indices(ROOT_IN_PATH) {
        let table = sql[at + ROOT_IN_PATH.len()..].split('/').next().unwrap_or_default();
        if !table.is_empty() && !tables.contains(&table) {
            tables.push(table);
        }
    }
    tables
}

/// The SQL of query `name` bound to `output`: the variable set first, then the file.
pub fn bound_sql(sql: &str, output: &Path) -> String {
    let root = output.display().to_string().replace('\'', "''");
    format!("SET VARIABLE hivewatch_out = '{root}';\n{sql}")
}

/// The `duckdb` command to run, if any.
pub fn duckdb_command() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HIVEWATCH_DUCKDB").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("duckdb")).find(|p| p.is_file())
}

/// `hivewatch query --list` (or no NAME): every query with what it answers.
pub fn list() -> i32 {
    say!("The analysts' queries (hivewatch query NAME [--output DIR|URL] [--print | --csv[=FILE]]):");
    for (name, sql) in QUERIES {
        say!("  {name}");
        for line in wrap(&description(sql), 92) {
            say!("      {line}");
        }
    }
    exit::OK
}

/// Greedy word wrap.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

/// `hivewatch query NAME`: runs, prints, or writes as CSV the query `name` against `output`.
pub async fn run(name: &str, output: &OutputLocation, emit: &Emit) -> Result<i32> {
    let Some((_, sql)) = QUERIES.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = QUERIES.iter().map(|(n, _)| *n).collect();
        anyhow::bail!(
            InputError::new(Path::new("(command line)"), None, format!("no query named {name:?}"))
                .hint(format!("one of: {}", names.join(", ")))
        );
    };
    // Printing the SQL needs no runs (a first night may not have happened yet).
    let (root, copied) = local_root(output, sql, *emit != Emit::Print).await?;
    let bound = bound_sql(sql, &root);
    let duckdb = if *emit == Emit::Print { None } else { duckdb_command() };
    let Some(duckdb) = duckdb else {
        if let Emit::Csv(_) = emit {
            anyhow::bail!(
                InputError::new(Path::new("(command line: --csv)"), None, "CSV needs DuckDB to run the query, and it is not installed (no `duckdb` on the PATH, no $HIVEWATCH_DUCKDB)")
                    .hint(format!("{INSTALL_DUCKDB}; or --print for the SQL"))
            );
        }
        if *emit == Emit::Table {
            tell!("DuckDB is not installed (no `duckdb` on the PATH, no $HIVEWATCH_DUCKDB): {INSTALL_DUCKDB}.");
            tell!("The query, ready to paste into DuckDB:\n");
        }
        if let Some(note) = copied {
            say!("{note}");
        }
        say!("{bound}");
        return Ok(exit::OK);
    };
    let failed =
        |status: std::process::ExitStatus| anyhow::anyhow!("{} failed on query {name} ({status})", duckdb.display());
    let mut cmd = Command::new(&duckdb);
    if let Emit::Csv(_) = emit {
        cmd.args(["-csv", "-nullvalue", ""]);
    }
    cmd.arg("-c").arg(&bound);
    if let Emit::Csv(Some(file)) = emit {
        // Whole or not at all: a temporary sibling, renamed when DuckDB succeeded.
        let mut status = None;
        crate::store::write_atomic(file, |f| {
            let s = cmd.stdout(Stdio::from(f.try_clone()?)).status()?;
            status = Some(s);
            if s.success() { Ok(()) } else { Err(std::io::Error::other("DuckDB failed")) }
        })
        .map_err(|e| match status {
            Some(s) if !s.success() => failed(s),
            _ => anyhow::Error::new(e).context(format!("writing {} through {}", file.display(), duckdb.display())),
        })?;
        tell!("wrote the rows of {name} as CSV to {}", file.display());
        return Ok(exit::OK);
    }
    let status = cmd.status().with_context(|| format!("running {}", duckdb.display()))?;
    if status.success() { Ok(exit::OK) } else { Err(failed(status)) }
}

/// The folder DuckDB reads, and for an object-store output a note on where its copy is: the
/// output folder itself; or, for a URL, the mirror of the tables this query reads (and `runs`),
/// brought up to what the store holds. `need_runs`: refuse an output that holds no runs.
async fn local_root(output: &OutputLocation, sql: &str, need_runs: bool) -> Result<(PathBuf, Option<String>)> {
    let no_runs = |at: &Path, what: &str| {
        InputError::new(at, None, format!("holds no runs ({what})"))
            .hint("pass --output with the output root of a run or a demo (reports, reports/demo, s3://bucket/prefix); --print gives the SQL without runs")
    };
    let url = match output {
        OutputLocation::Dir(dir) => {
            if need_runs && !dir.join("runs").is_dir() {
                anyhow::bail!(no_runs(dir, "no runs/ folder"));
            }
            return Ok((dir.clone(), None));
        }
        OutputLocation::Url(url) => url,
    };
    // Its own state folder (role "query"): a night's mirror on the same machine is left alone.
    let target = Target::open(output, None, "query", false)?;
    let mirror = target.mirror.as_ref().context("an object-store output has a mirror")?;
    let mut tables = tables_read(sql);
    let runs = <crate::plan::runs::RunsTable as crate::store::table::Table>::DECL.name;
    if !tables.contains(&runs) {
        tables.push(runs);
    }
    let got = history::pull_tables(mirror, &tables).await?;
    if need_runs && got.runs == 0 {
        anyhow::bail!(no_runs(Path::new(url), "no objects under runs/"));
    }
    tell!(
        "{url}: {} files of {} in the local copy {} ({} downloaded, {} unchanged)",
        got.files,
        tables.join(", "),
        mirror.root().display(),
        got.pulled.downloaded,
        got.pulled.unchanged
    );
    let note =
        format!("-- {url}, read from the local copy hivewatch keeps of it (run hivewatch query again to refresh it)");
    Ok((mirror.root().to_owned(), Some(note)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_file_is_compiled_in_and_takes_the_output_root() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/queries");
        let files = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(files, QUERIES.len(), "every file of reports/queries is listed here");
        for (name, sql) in QUERIES {
            assert_eq!(std::fs::read_to_string(dir.join(format!("{name}.sql"))).unwrap(), *sql);
            let said = description(sql);
            assert!(!said.is_empty(), "{name} opens with a comment saying what it answers");
            assert!(said.ends_with(['.', '?']), "{name}: its description is whole sentences: {said}");
            assert!(!said.contains("Run it:") && !said.contains("--"), "{name}: {said}");
            let tables = tables_read(sql);
            assert!(!tables.is_empty(), "{name}");
            for t in tables {
                assert!(crate::tables::TABLES.iter().any(|d| d.name == t), "{name} reads {t}, not a table");
            }
            assert!(!sql.contains("'reports/"), "{name} hard-codes the output root");
            assert!(sql.contains("getvariable('hivewatch_out')"), "{name}");
            assert!(!sql.contains(" embedder_id,") || sql.contains("AS embedder"), "{name} shows the short embedder");
        }
        assert!(bound_sql("SELECT 1;", Path::new("/a/it's")).starts_with("SET VARIABLE hivewatch_out = '/a/it''s';\n"));
        assert_eq!(tables_read(QUERIES[2].1), ["probe_metrics", "probes"]);
        assert_eq!(wrap("aa bb cc dd", 5), ["aa bb", "cc dd"]);
    }
}
