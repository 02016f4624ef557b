//! `hivewatch query NAME [--output DIR]`: the analysts' first queries (`reports/queries/*.sql`,
//! compiled in so they work from any folder) against an output root. Each file binds the
//! root to a DuckDB variable (`hivewatch_out`, `reports` when unset), so it also runs as it is
//! in DuckDB. The query runs through the `duckdb` command when one is found (`$HIVEWATCH_DUCKDB`,
//! else `duckdb` on the PATH); otherwise the SQL is printed, ready to paste, with how to install
//! DuckDB.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::exit;
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

/// A query's one-line description: its first comment line.
pub fn description(sql: &str) -> &str {
    sql.lines().next().and_then(|l| l.strip_prefix("--")).map_or("", str::trim)
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

/// `hivewatch query`: lists the queries, or runs (or prints) one.
pub fn run(name: Option<&str>, output: &Path, print: bool) -> Result<i32> {
    let Some(name) = name else {
        say!("The analysts' queries (hivewatch query NAME [--output DIR]):");
        for (name, sql) in QUERIES {
            say!("  {name:<26} {}", description(sql));
        }
        return Ok(exit::OK);
    };
    let Some((_, sql)) = QUERIES.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = QUERIES.iter().map(|(n, _)| *n).collect();
        anyhow::bail!(
            crate::input::InputError::new(Path::new("(command line)"), None, format!("no query named {name:?}"))
                .hint(format!("one of: {}", names.join(", ")))
        );
    };
    let output = if output.is_absolute() { output.to_owned() } else { std::env::current_dir()?.join(output) };
    if !output.join("runs").is_dir() {
        anyhow::bail!(
            crate::input::InputError::new(&output, None, "holds no runs (no runs/ folder)")
                .hint("pass --output with the output root of a run or a demo (reports, reports/demo)")
        );
    }
    let sql = bound_sql(sql, &output);
    let duckdb = if print { None } else { duckdb_command() };
    let Some(duckdb) = duckdb else {
        if !print {
            tell!("DuckDB is not installed (no `duckdb` on the PATH, no $HIVEWATCH_DUCKDB): {INSTALL_DUCKDB}.");
            tell!("The query, ready to paste into DuckDB:\n");
        }
        say!("{sql}");
        return Ok(exit::OK);
    };
    let status =
        Command::new(&duckdb).arg("-c").arg(&sql).status().with_context(|| format!("running {}", duckdb.display()))?;
    if status.success() {
        Ok(exit::OK)
    } else {
        anyhow::bail!("{} failed on query {name} ({status})", duckdb.display())
    }
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
            assert!(!description(sql).is_empty(), "{name} opens with a comment saying what it answers");
            assert!(!sql.contains("'reports/"), "{name} hard-codes the output root");
            assert!(sql.contains("getvariable('hivewatch_out')"), "{name}");
            assert!(!sql.contains(" embedder_id,") || sql.contains("AS embedder"), "{name} shows the short embedder");
        }
        assert!(bound_sql("SELECT 1;", Path::new("/a/it's")).starts_with("SET VARIABLE hivewatch_out = '/a/it''s';\n"));
    }
}
