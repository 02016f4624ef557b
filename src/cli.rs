//! The command line: parsing, logging, and the edge where library errors become exit codes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use crate::collect::providers::{self, ChatRequest};
use crate::collect::retry::ErrorKind;
use crate::config::Config;
use crate::exit;
use crate::pipeline::{Tail, derive_tables};
use crate::plan::{Plan, SentParams};
use crate::probes::Suite;
use crate::run::{RunOptions, RunReport};
use crate::sim::SimConfig;
use crate::sim::faults::FaultSpec;

#[derive(Debug, Parser)]
#[command(
    name = "hivewatch",
    version,
    about = "Watches the AI model ecosystem for behavioural monoculture",
    after_help = "Start with `hivewatch demo` (no configuration, no network). Nightly: `hivewatch run --config hivewatch.toml`. Exit codes: 0 ok, 1 alert raised, 2 bad input, 3 run failed (rerun to resume), 4 output locked, 5 an endpoint check failed."
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
    /// Run the nightly job: send the probe suite to every endpoint and write the tables.
    Run {
        #[arg(long, short, default_value = "hivewatch.toml")]
        config: PathBuf,
        /// Print the plan (requests and estimated tokens per endpoint) and send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Start a new run even if an unfinished run of the same plan could be resumed.
        #[arg(long)]
        fresh: bool,
        /// Output root (a folder or an s3://, gs://, az:// URL), instead of the configuration's run.output.
        #[arg(long)]
        output: Option<String>,
        /// A consortium member's run: collect, then publish responses under
        /// members/member=<name>/ of the output (the coordinator's `analyze --date` does the rest).
        #[arg(long)]
        collect_only: bool,
        /// Run date (YYYY-MM-DD) of a new run, for backfills; default today (UTC).
        #[arg(long)]
        run_date: Option<NaiveDate>,
    },
    /// Probe suites.
    Probes {
        #[command(subcommand)]
        command: ProbesCommand,
    },
    /// Configured endpoints.
    Endpoints {
        #[command(subcommand)]
        command: EndpointsCommand,
    },
    /// The simulated ecosystem.
    Simulate {
        #[command(subcommand)]
        command: SimulateCommand,
    },
    /// Embed JSON lines {"text": ...} from stdin; write one JSON line {"embedding": [...]} each.
    Embed {
        #[command(flatten)]
        embedder: EmbedderArgs,
    },
    /// Recompute every derived table of stored runs from their stored responses: embeddings
    /// (with this embedder), features (this lexicon), measures, trends, alerts and the report.
    /// No model is asked.
    /// With --config naming a coordinator's configuration, a consortium's night: the union of what
    /// its members published.
    Analyze {
        /// A configuration: its [alerts] judge the runs (default: the rules the last `run`
        /// recorded in the output, else the built-in ones; the rules used are printed). A
        /// coordinator's ([consortium] members, output, [embed], [alerts]): analyse the night of
        /// --date over every member's published responses.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// With --config: the night (YYYY-MM-DD) to analyse; default today (UTC).
        #[arg(long, requires = "config")]
        date: Option<NaiveDate>,
        /// With --config: how long to wait for members that have not published yet (e.g. 90m, 2h).
        #[arg(long, requires = "config", value_parser = humantime::parse_duration, default_value = "0s")]
        deadline: Duration,
        /// With --config: the first wait between looks for late members (doubling, at most a minute).
        #[arg(long, requires = "config", value_parser = humantime::parse_duration, default_value = "5s", hide = true)]
        poll: Duration,
        /// Output root holding the runs.
        #[arg(long, default_value = "reports")]
        output: PathBuf,
        #[command(flatten)]
        embedder: EmbedderArgs,
        /// Run ids (comma-separated); default every run.
        #[arg(long, value_delimiter = ',')]
        runs: Vec<String>,
        /// Behaviour lexicon for the `features` table (default: the built-in one).
        #[arg(long)]
        lexicon: Option<PathBuf>,
        /// Refusal detector for the `features` table: learned or lexicon (default: learned,
        /// unless --lexicon names a lexicon its weights were not fitted with).
        #[arg(long, value_parser = ["learned", "lexicon"])]
        refusal: Option<String>,
    },
    /// Bring existing multi-model outputs in as historical runs (formats: jsonl, csv, alpaca-eval,
    /// inspect-ai, promptfoo).
    Import(ImportArgs),
    /// Behavioural features of responses.
    Features {
        #[command(subcommand)]
        command: FeaturesCommand,
    },
    /// Run the analysts' queries (reports/queries) against an output root through DuckDB, or
    /// print them ready to paste when DuckDB is not installed. No NAME: list them.
    Query {
        /// The query (e.g. diversity_over_time); leave out to list them all.
        name: Option<String>,
        /// Output root holding the runs.
        #[arg(long, default_value = "reports")]
        output: PathBuf,
        /// Print the SQL (the output root bound) instead of running it.
        #[arg(long)]
        print: bool,
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

/// `println!` that never panics: a closed stdout (`hivewatch import ... | head`) is no error for
/// the data, so the work goes on and the rest of what it would print is dropped.
macro_rules! say {
    ($($arg:tt)*) => { say(format_args!($($arg)*)) };
}

/// Writes a line to stdout; once stdout is closed (a broken pipe), writes nothing more.
pub fn say(line: std::fmt::Arguments) {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    static CLOSED: AtomicBool = AtomicBool::new(false);
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if out.write_fmt(line).and_then(|()| out.write_all(b"\n")).is_err() {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// `eprintln!` that never panics (stderr closed too).
macro_rules! tell {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Which embedder, from the command line.
/// `hivewatch import`'s arguments.
#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// The files to import (AlpacaEval: one model_outputs.json per model).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long, value_enum)]
    format: crate::import::Format,
    /// Output root.
    #[arg(long, default_value = "reports")]
    output: PathBuf,
    /// Run date of rows with no `date` (default today, UTC).
    #[arg(long)]
    run_date: Option<NaiveDate>,
    /// What to do with a row that cannot be used.
    #[arg(long, value_enum, default_value = "refuse")]
    on_bad_row: crate::import::OnBadRow,
    #[command(flatten)]
    embedder: EmbedderArgs,
    /// Behaviour lexicon for the `features` table (default: the built-in one).
    #[arg(long)]
    lexicon: Option<PathBuf>,
    /// Judge the runs by this configuration's [alerts] (default: the rules the last `run`
    /// recorded in the output, else the built-in ones; the rules used are printed).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Refusal detector for the `features` table: learned or lexicon (default: learned,
    /// unless --lexicon names a lexicon its weights were not fitted with).
    #[arg(long, value_parser = ["learned", "lexicon"])]
    refusal: Option<String>,
    /// Model cards: a TOML file of [[models]] (name, vendor, family, parents,
    /// release_date) declaring what the imported models are, so the `lineage` table can
    /// say which close pairs are declared relatives (default: nothing declared).
    #[arg(long)]
    models: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct EmbedderArgs {
    /// lexical, minilm or remote.
    #[arg(long, default_value = "lexical")]
    embedder: String,
    /// minilm: folder with config.json, tokenizer.json, model.safetensors.
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// minilm: a Hugging Face Hub model id, fetched once into a local cache (needs internet).
    #[arg(long)]
    hf_model: Option<String>,
    /// minilm: the Hub revision (branch, tag or commit) of --hf-model.
    #[arg(long)]
    hf_revision: Option<String>,
    /// remote: OpenAI-compatible base URL ending in /v1.
    #[arg(long)]
    base_url: Option<String>,
    /// remote: embedding model name.
    #[arg(long)]
    model: Option<String>,
    /// remote: environment variable holding the key.
    #[arg(long)]
    api_key_env: Option<String>,
}

impl EmbedderArgs {
    /// The same validation as the configuration's `[embed]`, with errors naming the flags.
    fn build(&self) -> Result<crate::embed::Embedder> {
        use toml::Spanned;
        let flag = |v: &Option<String>| v.clone().map(|v| Spanned::new(0..0, v));
        let raw = crate::config::embed::RawEmbed {
            embedder: Some(Spanned::new(0..0, self.embedder.clone())),
            model_dir: self.model_dir.as_ref().map(|d| d.display().to_string()),
            hf_model: flag(&self.hf_model),
            hf_revision: flag(&self.hf_revision),
            base_url: flag(&self.base_url),
            model: self.model.clone(),
            api_key_env: flag(&self.api_key_env),
            ..Default::default()
        };
        let at = std::path::Path::new("(command line: --embedder and its options)");
        let err = |_: std::ops::Range<usize>, message: String| crate::input::InputError::new(at, None, message);
        let cwd = std::env::current_dir()?;
        let resolve = |p: &str| cwd.join(p);
        let embed = crate::config::embed::parse(&raw, &err, &resolve)?;
        let api_key = match &embed {
            crate::config::EmbedConfig::Remote { api_key_env: Some(var), .. } => {
                let value = std::env::var(var).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
                match value {
                    Some(v) if v.chars().any(char::is_control) => anyhow::bail!(
                        crate::input::InputError::new(at, None, format!("{var} holds a control character"))
                            .hint("export the key again without line breaks")
                    ),
                    Some(v) => Some(crate::secrets::SecretKey::new(v)),
                    None => anyhow::bail!(
                        crate::input::InputError::new(
                            at,
                            None,
                            format!("--api-key-env {var}: the variable is not set")
                        )
                        .hint("export it before running")
                    ),
                }
            }
            _ => None,
        };
        Ok(crate::embed::Embedder::build(&embed, api_key)?)
    }
}

#[derive(Debug, Subcommand)]
enum FeaturesCommand {
    /// Measure the refusal detectors on human-labelled completions (a CSV with `completion` and
    /// `human_label` columns, optional `model` and `id`, e.g. XSTest's
    /// labelled_completions.csv): the learned detector leave-one-model-out and with its shipped
    /// weights, the lexicon's rule and the prefix-match baseline; precision, recall, accuracy
    /// and three-way accuracy per model and over all rows.
    Eval {
        /// The labelled CSV.
        labels: PathBuf,
        /// Lexicon to evaluate (default: the built-in one).
        #[arg(long)]
        lexicon: Option<PathBuf>,
        /// Weights to evaluate instead of the built-in ones (written by `features train`).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// The embedder of the learned detector: lexical (the variant for every run not embedded
        /// with the MiniLM it was fitted for) or minilm.
        #[command(flatten)]
        embedder: EmbedderArgs,
    },
    /// Fit the learned refusal detector on human-labelled completions and write its weights
    /// file: the lexical variant, and the MiniLM variant with --embedder minilm. The built-in
    /// src/features/refusal-lr-v2.json is this command's output on xstest_dev.
    Train {
        /// The labelled CSV.
        labels: PathBuf,
        /// The weights file to write.
        #[arg(long)]
        out: PathBuf,
        /// The version the file records (its rows carry VERSION-lexical, VERSION-minilm): bump it
        /// whenever the weights change.
        #[arg(long, default_value = "refusal-lr-v2")]
        weights_version: String,
        /// Lexicon whose signals the detector reads (default: the built-in one).
        #[arg(long)]
        lexicon: Option<PathBuf>,
        #[command(flatten)]
        embedder: EmbedderArgs,
    },
}

fn load_lexicon(path: Option<&std::path::Path>) -> Result<crate::features::Lexicon> {
    Ok(match path {
        Some(p) => crate::features::Lexicon::load(p)?,
        None => crate::features::Lexicon::builtin(),
    })
}

/// The refusal detector of `--refusal` (checked against the lexicon).
fn refusal_detector(
    method: Option<&str>,
    lexicon: &crate::features::Lexicon,
) -> Result<crate::features::detector::RefusalDetector> {
    use crate::config::RefusalMethod;
    let method = method.map(|m| if m == "lexicon" { RefusalMethod::Lexicon } else { RefusalMethod::Learned });
    Ok(crate::features::detector::RefusalDetector::build(method, lexicon)?)
}

/// `hivewatch features eval`.
fn features_eval(
    labels: &std::path::Path,
    lexicon: Option<&std::path::Path>,
    weights: Option<&std::path::Path>,
    embedder: &EmbedderArgs,
) -> Result<()> {
    use crate::features::detector::LearnedWeights;
    let lexicon = load_lexicon(lexicon)?;
    let weights = match weights {
        Some(p) => LearnedWeights::load(p)?,
        None => LearnedWeights::builtin(),
    };
    let embedder = embedder.build()?;
    let rows = crate::features::eval::read_labelled(labels)?;
    let bytes = std::fs::read(labels).with_context(|| format!("reading {}", labels.display()))?;
    let models: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.model.as_str()).collect();
    say!(
        "{} on {} ({} rows, {} models); lexicon {}; embedder {}",
        weights.version,
        labels.display(),
        rows.len(),
        models.len(),
        lexicon.version,
        embedder.id()
    );
    let eval = crate::features::eval::evaluate_learned(
        &lexicon,
        &rows,
        &embedder,
        &weights,
        &crate::util::sha256_hex(&bytes),
    )?;
    say!("{eval}");
    Ok(())
}

/// `hivewatch features train`.
fn features_train(
    labels: &std::path::Path,
    out: &std::path::Path,
    version: &str,
    lexicon: Option<&std::path::Path>,
    embedder: &EmbedderArgs,
) -> Result<()> {
    use crate::embed::Embedder;
    use crate::features::train;
    let lexicon = load_lexicon(lexicon)?;
    let embedder = embedder.build()?;
    let rows = crate::features::eval::read_labelled(labels)?;
    let bytes = std::fs::read(labels).with_context(|| format!("reading {}", labels.display()))?;
    let lexical = train::prepare(&lexicon, &rows, &Embedder::Lexical)?;
    let minilm = match embedder {
        Embedder::Lexical => None,
        Embedder::MiniLm(_) => Some(train::prepare(&lexicon, &rows, &embedder)?),
        Embedder::Remote(_) => anyhow::bail!(
            "features train fits a lexical and a MiniLM variant: pass --embedder minilm with --model-dir or --hf-model, or no --embedder"
        ),
    };
    let name = labels.file_name().map_or_else(|| labels.display().to_string(), |n| n.to_string_lossy().into_owned());
    let file =
        train::train(&lexicon, &rows, &lexical, minilm.as_ref(), version, (&name, &crate::util::sha256_hex(&bytes)))?;
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    // Read back before writing: what is written must load.
    crate::features::detector::LearnedWeights::parse(out, &text)?;
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    let variants = if file.minilm.is_some() { "lexical and minilm variants" } else { "lexical variant" };
    say!(
        "wrote {}: {} ({variants}, lexicon {}), fitted on {} rows ({} refusals) of {name}",
        out.display(),
        file.version,
        file.lexicon,
        file.trained_on.rows,
        file.trained_on.refusals
    );
    Ok(())
}

#[derive(Debug, Subcommand)]
enum ProbesCommand {
    /// Load and check a suite; print its id and categories.
    Validate {
        #[arg(default_value = "probes/core")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum EndpointsCommand {
    /// Send one cheap request to each endpoint and report ok or the reason it failed (exit 5
    /// when one failed).
    Check {
        #[arg(long, short, default_value = "hivewatch.toml")]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum SimulateCommand {
    /// Serve the OpenAI, Anthropic and Gemini protocols for synthetic models.
    Serve {
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Port; 0 picks a free one (the address is printed).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Fault rates, e.g. 429=0.2,500=0.1,malformed=0.05,hang=0.02,slow=0.1
        #[arg(long, default_value = "")]
        faults: String,
        /// Require the key held by this environment variable.
        #[arg(long)]
        api_key_env: Option<String>,
        /// Latency added to every answer, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Seconds announced in Retry-After on injected 429s.
        #[arg(long, default_value_t = 1.0)]
        retry_after_s: f64,
        /// A drifting-ecosystem scenario (TOML); its models answer as on --night.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// The scenario's night to serve.
        #[arg(long, default_value_t = 1)]
        night: u32,
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

async fn dispatch(command: Command) -> Result<i32> {
    match command {
        Command::Run { config, dry_run, fresh, output, collect_only, run_date } => {
            run_command(&config, RunFlags { dry_run, fresh, output, collect_only, run_date }).await
        }
        Command::Probes { command: ProbesCommand::Validate { dir } } => {
            let suite = Suite::load(&dir)?;
            say!("suite {} version {} id {}: {} probes", suite.name, suite.version, suite.id, suite.probes.len());
            for (category, n) in suite.categories() {
                say!("  {category:<28} {n:>4}");
            }
            Ok(exit::OK)
        }
        Command::Endpoints { command: EndpointsCommand::Check { config } } => {
            let mut cfg = Config::load(&config)?;
            cfg.resolve_keys(|v| std::env::var(v).ok())?;
            check_endpoints(&cfg).await
        }
        Command::Simulate {
            command:
                SimulateCommand::Serve { host, port, faults, api_key_env, latency_ms, retry_after_s, scenario, night },
        } => serve_simulator(host, port, &faults, api_key_env, latency_ms, retry_after_s, scenario, night).await,
        Command::Embed { embedder } => {
            let embedder = embedder.build()?;
            tell!("embedder {}", embedder.id());
            tokio::task::block_in_place(|| embed_stdin(&embedder))?;
            Ok(exit::OK)
        }
        Command::Analyze { output, embedder, runs, lexicon, config, refusal, date, deadline, poll } => {
            // One load: a coordinator's configuration analyses the consortium's night, any other
            // lends its [alerts].
            let loaded = config.as_deref().map(|path| Config::load(path).map(|cfg| (path, cfg))).transpose()?;
            let rules = match loaded {
                Some((path, cfg)) if !cfg.consortium.members.is_empty() => {
                    let local_flags = !runs.is_empty() || lexicon.is_some();
                    return analyze_consortium(path, cfg, date, deadline, poll, local_flags).await;
                }
                Some((path, _)) if date.is_some() => anyhow::bail!(
                    crate::input::InputError::new(
                        path,
                        None,
                        "has no [consortium] members: --date names a consortium's night"
                    )
                    .hint("drop --date, or pass the coordinator's configuration")
                ),
                other => other.map(|(path, cfg)| (path, cfg.alerts)),
            };
            let embedder = embedder.build()?;
            let lexicon = load_lexicon(lexicon.as_deref())?;
            let refusal = refusal_detector(refusal.as_deref(), &lexicon)?;
            tokio::task::block_in_place(|| analyze(&output, &embedder, (&lexicon, &refusal), rules, &runs))?;
            Ok(exit::OK)
        }
        Command::Import(args) => import_command(args),
        Command::Features { command: FeaturesCommand::Eval { labels, lexicon, weights, embedder } } => {
            tokio::task::block_in_place(|| features_eval(&labels, lexicon.as_deref(), weights.as_deref(), &embedder))?;
            Ok(exit::OK)
        }
        Command::Features { command: FeaturesCommand::Train { labels, out, weights_version, lexicon, embedder } } => {
            tokio::task::block_in_place(|| {
                features_train(&labels, &out, &weights_version, lexicon.as_deref(), &embedder)
            })?;
            Ok(exit::OK)
        }
        Command::Query { name, output, print } => crate::query::run(name.as_deref(), &output, print),
        Command::Demo { output, scenario, nights } => crate::demo::run(&output, scenario.as_deref(), nights).await,
    }
}

/// `hivewatch run`'s flags beside the configuration.
struct RunFlags {
    dry_run: bool,
    fresh: bool,
    output: Option<String>,
    collect_only: bool,
    run_date: Option<NaiveDate>,
}

/// `hivewatch run`: the night (or its plan, with --dry-run); the exit code says whether it paged.
async fn run_command(config: &std::path::Path, flags: RunFlags) -> Result<i32> {
    let RunFlags { dry_run, fresh, output, collect_only, run_date } = flags;
    if let Some(date) = run_date {
        refuse_future_date(date, "--run-date")?;
    }
    let mut cfg = Config::load(config)?;
    if let Some(o) = output {
        cfg.output = output_flag(&o)?;
    }
    crate::consortium::check_run_role(&cfg, collect_only)?;
    let suite = Suite::load(&cfg.suite_dir)?;
    if dry_run {
        if let Err(e) = cfg.resolve_keys(|v| std::env::var(v).ok()) {
            tracing::warn!("{e}");
        }
        // A bad lexicon, or one the refusal detector asked for cannot read, is bad input here too.
        crate::features::instruments(cfg.lexicon.as_deref(), cfg.refusal)?;
        // An object store is checked writable: a dry run says whether the night can land.
        let target = crate::run::open_target(&cfg, collect_only).await?;
        print_plan(&Plan::new(cfg, suite));
        if target.remote.is_some() {
            say!("output {}: writable", target.describe());
        }
        return Ok(exit::OK);
    }
    cfg.resolve_keys(|v| std::env::var(v).ok())?;
    let plan = Plan::new(cfg.clone(), suite);
    let started = std::time::Instant::now();
    let report = crate::run::run_interruptible(plan, RunOptions { fresh, run_date, collect_only }).await?;
    if report.collect_only {
        print_published(&report);
        return Ok(exit::OK);
    }
    crate::run::notify(&cfg, &report, started.elapsed().as_secs_f64()).await;
    print_report(&report, cfg.alerts.trend.min_runs);
    Ok(if crate::alert::raised(&report.alerts) > 0 { exit::ALERT } else { exit::OK })
}

/// `hivewatch simulate serve`: the simulator on a port until Ctrl-C.
#[allow(clippy::too_many_arguments)]
async fn serve_simulator(
    host: std::net::IpAddr,
    port: u16,
    faults: &str,
    api_key_env: Option<String>,
    latency_ms: u64,
    retry_after_s: f64,
    scenario: Option<PathBuf>,
    night: u32,
) -> Result<i32> {
    let scenario = scenario.map(|p| crate::sim::scenario::Scenario::load(&p)).transpose()?.map(std::sync::Arc::new);
    let faults: FaultSpec = faults.parse()?;
    let api_key = match api_key_env {
        Some(var) => {
            Some(std::env::var(&var).with_context(|| format!("--api-key-env {var}: the variable is not set"))?)
        }
        None => None,
    };
    let config = SimConfig { faults, api_key, latency: Duration::from_millis(latency_ms), retry_after_s, scenario };
    let sim = crate::sim::start(SocketAddr::new(host, port), config)
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    sim.set_night(night);
    // Tests read this line to learn the port.
    say!("hivewatch simulator listening on http://{}", sim.addr);
    say!("base_url for each provider in [[endpoints]] (any model name; its family is the part before the first -):");
    say!("  provider = \"openai\"     base_url = \"{}\"", sim.openai_url());
    say!("  provider = \"anthropic\"  base_url = \"{}\"", sim.root_url());
    say!("  provider = \"gemini\"     base_url = \"{}\"", sim.root_url());
    say!("  [embed] embedder = \"remote\"  base_url = \"{}\"  model = \"sim-embed\"", sim.openai_url());
    say!("Ctrl-C stops it.");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    sim.stop().await;
    Ok(exit::OK)
}

/// `hivewatch analyze --config COORDINATOR --date D`: a consortium's night over what its
/// members published. `local_flags`: --runs or --lexicon were given (they do not apply).
async fn analyze_consortium(
    config: &std::path::Path,
    mut cfg: Config,
    date: Option<NaiveDate>,
    deadline: Duration,
    poll: Duration,
    local_flags: bool,
) -> Result<i32> {
    if local_flags {
        anyhow::bail!(
            crate::input::InputError::new(
                config,
                None,
                "is a coordinator's configuration ([consortium] members): its night is analysed whole"
            )
            .hint("drop --runs and --lexicon (the lexicon is the configuration's)")
        );
    }
    // The coordinator holds no member's key: endpoints are the members' business.
    cfg.endpoints.clear();
    cfg.resolve_keys(|v| std::env::var(v).ok())?;
    let date = date.unwrap_or_else(|| chrono::Utc::now().date_naive());
    refuse_future_date(date, "--date")?;
    let opts = crate::consortium::AnalyzeOptions { date, deadline, poll };
    let started = std::time::Instant::now();
    let report = crate::consortium::analyze(&cfg, &opts).await?;
    crate::consortium::notify(&cfg, &report, started.elapsed().as_secs_f64()).await;
    print_night(&report);
    Ok(if crate::alert::raised(&report.alerts) > 0 { exit::ALERT } else { exit::OK })
}

fn print_plan(plan: &Plan) {
    say!(
        "plan: suite {} ({} probes, id {}) x {} endpoints x {} samples = {} requests",
        plan.suite.name,
        plan.suite.probes.len(),
        plan.suite.id,
        plan.config.endpoints.len(),
        plan.samples(),
        plan.total_requests()
    );
    say!(
        "{:<28} {:<10} {:<28} {:>9} {:>14} {:>16}",
        "endpoint",
        "provider",
        "model",
        "requests",
        "~prompt tok",
        "max output tok"
    );
    let (mut pt, mut ct) = (0, 0);
    for e in plan.estimates() {
        say!(
            "{:<28} {:<10} {:<28} {:>9} {:>14} {:>16}",
            e.endpoint,
            e.provider,
            e.model,
            e.requests,
            e.est_prompt_tokens,
            e.max_completion_tokens
        );
        pt += e.est_prompt_tokens;
        ct += e.max_completion_tokens;
    }
    say!("{:<68} {:>9} {:>14} {:>16}", "total", plan.total_requests(), pt, ct);
}

/// A run date later than tomorrow (UTC) is refused: tomorrow is today somewhere, anything
/// later is a typo, and a future night would stand as the latest forever after.
pub fn refuse_future_date(date: NaiveDate, what: &str) -> Result<()> {
    let latest = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    if date > latest {
        anyhow::bail!(
            crate::input::InputError::new(
                std::path::Path::new("(command line)"),
                None,
                format!("{what}: {date} is in the future")
            )
            .hint(format!("a run date may be at most {latest} (today in every time zone)"))
        );
    }
    Ok(())
}

/// The run's first line: its id, date, and what was planned, ok and failed.
fn say_counts(r: &RunReport) {
    say!(
        "run {} ({}){}: {} planned, {} ok, {} failed, coverage {:.1}%",
        r.run_id,
        r.run_date,
        if r.resumed { ", resumed" } else { "" },
        r.row.planned,
        r.row.ok,
        r.row.failed,
        100.0 * r.row.coverage()
    );
}

/// What a night's run says on stdout (also under -q, for cron's log): the counts, two or three
/// headline figures, the baseline's state, where the report is, and the alerts.
pub fn print_report(r: &RunReport, min_runs: usize) {
    say_counts(r);
    let mut names: Vec<_> = r.per_endpoint.iter().collect();
    names.sort();
    for (name, (ok, failed)) in names {
        if *failed > 0 {
            say!("  {name:<28} {ok:>6} ok {failed:>6} failed");
        }
    }
    // The cache's share says what a night cost in embedding time (0 new: all repeated answers).
    say!(
        "embedded {} responses with {} ({} new, the rest from the cache)",
        r.embedded.rows,
        r.embedded.embedder_id,
        r.embedded.newly_embedded
    );
    for line in headline(&r.trends, r.comparable_runs, min_runs) {
        say!("{line}");
    }
    say!("report: {}", r.report.display());
    for t in &r.tables {
        tracing::debug!("wrote {}", t.display());
    }
    print_alerts(&r.alerts);
}

/// The night in two or three figures, and whether its baseline is still building (fewer than
/// `min_runs` comparable runs, the trend rule's `min_runs`: every rule can judge from there on).
pub fn headline(trends: &[crate::trend::TrendRow], comparable_runs: usize, min_runs: usize) -> Vec<String> {
    let row = |metric: &str| trends.iter().find(|t| t.scope.is_overall() && t.metric == metric);
    let figure = |metric: &str, label: &str| {
        row(metric).map(|t| {
            let against = match (t.baseline, t.pct_change) {
                (Some(b), Some(p)) => format!(" (baseline {}, {p:+.1}%)", crate::report::svg::fmt(b)),
                _ => String::new(),
            };
            let full = t.full.map_or(String::new(), |(v, n)| {
                format!(
                    " [on the {} models shared with the baseline; all {n}: {}]",
                    t.panel_models,
                    crate::report::svg::fmt(v)
                )
            });
            format!("{label} {}{against}{full}", crate::report::svg::fmt(t.value))
        })
    };
    let mut out = Vec::new();
    let figures: Vec<String> = [
        figure("effective_models", "effective models"),
        figure("model_vendi_ratio", "model Vendi ratio"),
        row("families").map(|t| format!("{} behaviour families", t.value)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !figures.is_empty() {
        out.push(figures.join("; "));
    }
    if comparable_runs + 1 < min_runs {
        out.push(format!(
            "baseline building: {} of {min_runs} comparable runs (tonight's included); the trend and pair rules judge from {min_runs} on, the others against the nights there are",
            comparable_runs + 1
        ));
    }
    out
}

/// A member's collect-only run: what it sent and where it published.
pub fn print_published(r: &RunReport) {
    say_counts(r);
    for t in &r.tables {
        say!("published {}", t.display());
    }
    say!("to {} (the coordinator's `hivewatch analyze --date {}` analyses the union)", r.output, r.run_date);
}

/// A consortium night: who published, what was written, the alerts.
pub fn print_night(r: &crate::consortium::NightReport) {
    say!(
        "night {} ({}): {} of {} members, {} planned, {} ok, {} failed, coverage {:.1}%",
        r.date,
        r.run_id,
        r.members.len() - r.missing().len(),
        r.members.len(),
        r.row.planned,
        r.row.ok,
        r.row.failed,
        100.0 * r.row.coverage()
    );
    for m in &r.members {
        let detail = match (&m.member_run_id, &m.note) {
            (_, Some(note)) => note.clone(),
            (Some(run), None) => format!("run {run}, {} ok of {}", m.ok.unwrap_or(0), m.planned.unwrap_or(0)),
            (None, None) => "nothing published by the deadline".into(),
        };
        say!("  {:<20} {:<9} {detail}", m.member, m.status.as_str());
    }
    if !r.missing().is_empty() {
        say!(
            "missing: {} (rerun the same command when they have published: the night is rewritten, never duplicated)",
            r.missing().join(", ")
        );
    }
    say!(
        "embedded {} responses with {} ({} new, the rest from the cache)",
        r.embedded.rows,
        r.embedded.embedder_id,
        r.embedded.newly_embedded
    );
    for t in &r.tables {
        say!("wrote {}/{t}", r.output.trim_end_matches('/'));
    }
    print_alerts(&r.alerts);
}

/// `--output`: a folder (relative to the working folder) or an object-store URL.
fn output_flag(o: &str) -> Result<crate::config::OutputLocation> {
    let cwd = std::env::current_dir()?;
    crate::config::OutputLocation::parse(o, &|p| cwd.join(p)).map_err(|(message, hint)| {
        crate::input::InputError::new(std::path::Path::new("(command line: --output)"), None, message).hint(hint).into()
    })
}

/// The night's alerts, most severe first.
pub fn print_alerts(alerts: &[crate::alert::Alert]) {
    if crate::alert::raised(alerts) == 0 {
        say!("no alert raised");
    }
    for a in alerts {
        say!("{:<8} {:<13} {}: {}", a.severity.as_str(), a.rule, a.scope, a.message);
    }
}

async fn check_endpoints(cfg: &Config) -> Result<i32> {
    // Collection's own client: the same redirect policy (no key to another origin).
    let client = crate::collect::http_client().context("building the HTTP client")?;
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
                crate::collect::send_once(&client, &wire, &body, &ep, crate::collect::MAX_BODY_BYTES, &redactor).await;
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

/// `hivewatch import`: the instruments and model cards first (bad input stops it before the
/// output is touched), then [`import`].
fn import_command(args: ImportArgs) -> Result<i32> {
    let ImportArgs { files, format, output, run_date, on_bad_row, embedder, lexicon, config, refusal, models } = args;
    if let Some(date) = run_date {
        refuse_future_date(date, "--run-date")?;
    }
    let embedder = embedder.build()?;
    let lexicon = load_lexicon(lexicon.as_deref())?;
    let refusal = refusal_detector(refusal.as_deref(), &lexicon)?;
    let cards = models.as_deref().map(crate::config::models::ModelCards::load).transpose()?;
    let job =
        ImportJob { files: &files, format, output: &output, run_date, on_bad_row, config: config.as_deref(), cards };
    tokio::task::block_in_place(|| import(job, &embedder, (&lexicon, &refusal)))?;
    Ok(exit::OK)
}

/// What `hivewatch import` was asked to do.
struct ImportJob<'a> {
    files: &'a [PathBuf],
    format: crate::import::Format,
    output: &'a std::path::Path,
    run_date: Option<NaiveDate>,
    on_bad_row: crate::import::OnBadRow,
    /// Whose `[alerts]` judge the runs.
    config: Option<&'a std::path::Path>,
    cards: Option<crate::config::models::ModelCards>,
}

/// `hivewatch import`: lock the output, read every file (bad rows refused or listed; rows
/// spilled by run), then write the runs.
fn import(
    job: ImportJob,
    embedder: &crate::embed::Embedder,
    (lexicon, refusal): (&crate::features::Lexicon, &crate::features::detector::RefusalDetector),
) -> Result<()> {
    let ImportJob { files, format, output, run_date, on_bad_row, config, cards } = job;
    // Locked first: a run writing here must not see half an import, nor an import wait for
    // parsing to learn it cannot write.
    let output = crate::store::Output::local(output);
    let _lock = crate::store::lock::acquire(&output)?;
    let rules = config.map(|path| Config::load(path).map(|cfg| (path, cfg.alerts))).transpose()?;
    let alerts = alert_rules(rules, &output)?;
    let mut collector =
        crate::import::Collector::new(&output.scratch_dir()).context("making scratch space for the import")?;
    let mut bad = Vec::new();
    for file in files {
        crate::import::read(format, file, on_bad_row, &mut bad, &mut |row| collector.add(row))?;
    }
    for b in &bad {
        tell!("skipped {}:{}: {}", b.file.display(), b.line, b.reason);
    }
    if !bad.is_empty() {
        say!("skipped {} bad row(s), listed above", bad.len());
    }
    let default_date = run_date.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let runs = collector.runs(format, default_date).context("writing the import's scratch files")?;
    if runs.is_empty() {
        anyhow::bail!(crate::input::InputError::new(&files[0], None, "holds no row to import").hint("check --format"));
    }
    for run in &runs {
        refuse_future_date(run.run_date, &format!("rows dated {} in {}", run.run_date, files[0].display()))?;
    }
    if let Some(cards) = cards {
        collector.declare(cards)?;
    }
    let mut cache = crate::embed::cache::EmbeddingCache::open(&output.embed_cache_dir(), embedder.id())
        .context("opening the embedding cache")?;
    let mut tail = Tail { embedder, cache: &mut cache, lexicon, refusal, alerts: &alerts, stamp_finish: false };
    for run in &runs {
        collector.write_run(&output, run, &mut tail)?;
        say!(
            "run {} ({}): {} responses of {} models to {} prompts (suite {}) imported",
            run.run_id,
            run.run_date,
            run.rows,
            run.models,
            run.suite.probes.len(),
            run.suite.id
        );
    }
    Ok(())
}

/// The alert rules `analyze` and `import` judge runs by, said aloud: `--config`'s `[alerts]`,
/// else those the last `hivewatch run` recorded in the output, else the built-in ones.
fn alert_rules(
    config: Option<(&std::path::Path, crate::alert::AlertConfig)>,
    output: &crate::store::Output,
) -> Result<crate::alert::AlertConfig> {
    let (rules, from) = match config {
        Some((path, rules)) => (rules, format!("[alerts] of {}", path.display())),
        None => {
            let recorded = output.alert_rules_path();
            match std::fs::read(&recorded) {
                Ok(bytes) => {
                    let bad = |message: String| {
                        crate::input::InputError::new(&recorded, None, message)
                            .hint("pass --config with the configuration whose [alerts] to use")
                    };
                    let rules: crate::alert::AlertConfig = serde_json::from_slice(&bytes)
                        .map_err(|e| bad(format!("cannot read the alert rules recorded by the last run: {e}")))?;
                    rules.validate().map_err(bad)?;
                    (rules, format!("recorded by the last run in {}", recorded.display()))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                    crate::alert::AlertConfig::default(),
                    "the built-in ones (no --config, and no run recorded its rules in this output)".to_owned(),
                ),
                Err(e) => return Err(e).with_context(|| format!("reading {}", recorded.display())),
            }
        }
    };
    let rule_states = [
        ("drop", rules.drop.enabled),
        ("trend", rules.trend.enabled),
        ("floor", rules.floor.enabled),
        ("shift", rules.shift.enabled),
        ("pair", rules.pair.enabled),
        ("concentration", rules.concentration.enabled),
        ("refusal", rules.refusal.enabled),
    ];
    let names = |enabled: bool| {
        let v: Vec<&str> = rule_states.iter().filter(|(_, e)| *e == enabled).map(|(n, _)| *n).collect();
        if v.is_empty() { "none".to_owned() } else { v.join(", ") }
    };
    say!(
        "alert rules: {from}; enabled: {}; disabled: {}; coverage guard {}",
        names(true),
        names(false),
        rules.min_coverage
    );
    Ok(rules)
}

/// `hivewatch analyze`: re-derive every table of stored runs (features, embeddings, measures,
/// trends, alerts, report) from their stored responses.
fn analyze(
    output: &std::path::Path,
    embedder: &crate::embed::Embedder,
    (lexicon, refusal): (&crate::features::Lexicon, &crate::features::detector::RefusalDetector),
    rules: Option<(&std::path::Path, crate::alert::AlertConfig)>,
    wanted: &[String],
) -> Result<()> {
    let output = crate::store::Output::local(output);
    let _lock = crate::store::lock::acquire(&output)?;
    let alerts = &alert_rules(rules, &output)?;
    let all = crate::plan::runs::list(&output)?;
    if all.is_empty() {
        anyhow::bail!(
            crate::input::InputError::new(output.root(), None, "holds no runs")
                .hint("run hivewatch run (or demo) first, or pass --output")
        );
    }
    for id in wanted {
        if !all.iter().any(|(_, r)| r == id) {
            anyhow::bail!(
                crate::input::InputError::new(output.root(), None, format!("has no run {id}"))
                    .hint("see the run ids in runs/*/*.parquet")
            );
        }
    }
    let mut cache = crate::embed::cache::EmbeddingCache::open(&output.embed_cache_dir(), embedder.id())
        .context("opening the embedding cache")?;
    let mut tail = Tail { embedder, cache: &mut cache, lexicon, refusal, alerts, stamp_finish: false };
    for (date, id) in all.iter().filter(|(_, id)| wanted.is_empty() || wanted.contains(id)) {
        let row = crate::plan::runs::read(&output, &crate::store::table::RunRef::new(*date, id, embedder.tag()))?;
        let derived = derive_tables(&output, row, &mut tail)?;
        say!(
            "run {id}: {} rows of features with {}; {} rows embedded with {} ({} new)",
            derived.featured,
            lexicon.version,
            derived.embedded.rows,
            derived.embedded.embedder_id,
            derived.embedded.newly_embedded
        );
        for path in &derived.tables {
            say!("run {id}: wrote {}", path.display());
        }
        let raised = crate::alert::raised(&derived.alerts);
        if raised > 0 {
            say!("run {id}: {raised} alert(s) in the alerts table (re-analysis notifies no one)");
        }
    }
    Ok(())
}
