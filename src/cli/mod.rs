//! The command line: flags parsed by clap into one argument struct per command, each command a
//! thin adapter (its own file here) over a library call, printing apart ([`print`]), and the
//! edge where library errors become exit codes ([`crate::exit`]).

mod analyze;
mod args;
mod embed;
mod endpoints;
mod features;
mod identity;
mod import;
mod init;
pub mod print;
mod run;
mod simulate;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::exit;
use crate::probes::builtin::SuiteRef;
use crate::say::{say, tell};

#[derive(Debug, Parser)]
#[command(
    name = "hivewatch",
    version,
    about = "Watches the AI model ecosystem for behavioural monoculture",
    after_help = "Start with `hivewatch demo` (no configuration, no network), then `hivewatch init` (a configuration and the probe suites, here). Nightly: `hivewatch run --config hivewatch.toml`. Exit codes: 0 ok, 1 alert raised, 2 bad input, 3 run failed (rerun to resume), 4 output locked, 5 an endpoint check failed."
)]
pub struct Cli {
    /// More log detail (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a starting point into DIR (default: here): hivewatch.toml (the example
    /// configuration) and the shipped probe suites (probes/core, probes/contagion).
    Init(init::InitArgs),
    /// Run the nightly job: send the probe suite to every endpoint and write the tables.
    Run(run::RunArgs),
    /// Probe suites.
    Probes {
        #[command(subcommand)]
        command: ProbesCommand,
    },
    /// Configured endpoints.
    Endpoints {
        #[command(subcommand)]
        command: endpoints::EndpointsCommand,
    },
    /// The simulated ecosystem.
    Simulate {
        #[command(subcommand)]
        command: simulate::SimulateCommand,
    },
    /// Embed JSON lines {"text": ...} from stdin; write one JSON line {"embedding": [...]} each.
    Embed {
        #[command(flatten)]
        embedder: args::EmbedderArgs,
    },
    /// Recompute every derived table of stored runs from their stored responses: embeddings
    /// (with this embedder), features (this lexicon), identity claims, measures, trends, alerts and
    /// the report.
    /// No model is asked.
    /// With --config naming a coordinator's configuration, a consortium's night: the union of what
    /// its members published.
    Analyze(analyze::AnalyzeArgs),
    /// Bring existing multi-model outputs in as historical runs (formats: jsonl, csv, alpaca-eval,
    /// inspect-ai, promptfoo).
    Import(import::ImportArgs),
    /// Behavioural features of responses.
    Features {
        #[command(subcommand)]
        command: features::FeaturesCommand,
    },
    /// What answers claim about who made them: the claim extraction against labelled answers.
    Identity {
        #[command(subcommand)]
        command: identity::IdentityCommand,
    },
    /// Run the analysts' queries (reports/queries) against an output root, a folder or an
    /// object-store URL, through DuckDB; or print them ready to paste when DuckDB is not
    /// installed. No NAME (or --list): list them.
    Query {
        /// The query (e.g. diversity_over_time); leave out to list them all.
        #[arg(conflicts_with = "list")]
        name: Option<String>,
        /// List the queries and what each answers.
        #[arg(long)]
        list: bool,
        /// Output root holding the runs: a folder, or s3://bucket/prefix (also gs://, az://),
        /// read through a local copy of the tables the query reads (credentials as for `run`).
        #[arg(long, default_value = "reports")]
        output: String,
        /// Print the SQL (the output root bound) instead of running it; works before any run.
        #[arg(long, conflicts_with = "csv")]
        print: bool,
        /// Write the rows as CSV with a header row: to stdout with --csv, to FILE with
        /// --csv=FILE (written whole, or not at all). Needs DuckDB.
        #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true)]
        csv: Option<Option<PathBuf>>,
    },
    /// Run the pipeline against the built-in simulator: no configuration, no network.
    Demo {
        /// Output root (a new or empty folder, or an earlier demo's, which is cleared).
        #[arg(long, default_value = "reports/demo")]
        output: PathBuf,
        /// Another scenario file instead of the built-in one.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Run only the first N nights.
        #[arg(long)]
        nights: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
enum ProbesCommand {
    /// Load and check a suite; print its id and categories.
    Validate {
        /// A built-in suite (core, contagion) or a suite folder.
        #[arg(default_value = "core")]
        suite: String,
    },
}

/// Parses arguments, runs the command, and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    // The demo tells its own story on stdout: its logs only with -v.
    let quiet = cli.quiet || (matches!(cli.command, Command::Demo { .. }) && cli.verbose == 0);
    init_logging(cli.verbose, quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tell!("error: cannot start the async runtime: {e}");
            return exit::RUN_FAILED;
        }
    };
    let code = match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(err) => {
            let code = exit::for_error(&err);
            tell!("error: {}", describe(&err));
            code
        }
    };
    // A run stopped by a signal leaves its tail on a blocking thread, asked to stop at its next
    // stage boundary; give it that long, not the rest of the night (what it leaves half-written
    // is a hidden temporary file, removed by the next start).
    runtime.shutdown_timeout(Duration::from_secs(3));
    code
}

/// An error and its causes on one line, each cause once: most errors here already quote their
/// source ("cannot create X: Permission denied"), so the chain would say it twice.
fn describe(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default},hyper=warn,reqwest=warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// One arm per command, each into its own file.
async fn dispatch(command: Command) -> Result<i32> {
    match command {
        Command::Run(args) => run::command(args).await,
        Command::Init(args) => init::command(&args),
        Command::Probes { command: ProbesCommand::Validate { suite } } => {
            let suite = SuiteRef::parse(&suite, |p: &str| PathBuf::from(p)).load()?;
            say!("suite {} version {} id {}: {} probes", suite.name, suite.version, suite.id, suite.probes.len());
            for (category, n) in suite.categories() {
                say!("  {category:<28} {n:>4}");
            }
            Ok(exit::OK)
        }
        Command::Endpoints { command } => endpoints::command(command).await,
        Command::Simulate { command } => simulate::command(command).await,
        Command::Embed { embedder } => embed::command(&embedder),
        Command::Analyze(args) => analyze::command(args).await,
        Command::Import(args) => import::command(args).await,
        Command::Features { command } => features::command(command),
        Command::Identity { command } => identity::command(command),
        Command::Query { name: None, .. } | Command::Query { list: true, .. } => Ok(crate::query::list()),
        Command::Query { name: Some(name), output, print, csv, .. } => {
            let emit = match (print, csv) {
                (true, _) => crate::query::Emit::Print,
                (false, Some(file)) => crate::query::Emit::Csv(file),
                (false, None) => crate::query::Emit::Table,
            };
            crate::query::run(&name, &args::output_flag(&output)?, &emit).await
        }
        Command::Demo { output, scenario, nights } => crate::demo::run(&output, scenario.as_deref(), nights).await,
    }
}
