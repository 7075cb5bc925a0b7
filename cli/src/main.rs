//! The `tributary` command: manage topics and consumer groups of an
//! embedded log or a Kafka cluster (`--brokers`), produce JSON lines, and
//! consume records.

mod cli;
mod consume;
mod damage;
mod groups;
mod position;
mod produce;
mod state;
mod topics;
mod topology;

use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;
use tributary::log::{EmbeddedLog, Log};

fn main() -> ExitCode {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRIBUTARY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = cli::Cli::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: cli::Cli) -> anyhow::Result<()> {
    match args.command {
        cli::Command::State(cmd) => return state::run(cmd),
        cli::Command::Topology(cmd) => return topology::run(&cmd),
        _ => {}
    }
    let (log, embedded) = open_backend(&args)?;
    match args.command {
        cli::Command::Topics(cmd) => topics::run(&*log, embedded.as_deref(), cmd),
        cli::Command::Produce(cmd) => produce::run(log, cmd),
        cli::Command::Consume(cmd) => consume::run(&*log, cmd),
        cli::Command::Groups(cmd) => groups::run(&*log, cmd),
        cli::Command::Log(cmd) => match &embedded {
            Some(e) => damage::run(e, cmd),
            None => anyhow::bail!(
                "`tributary log` checks the embedded log's files; a Kafka cluster checks its own"
            ),
        },
        cli::Command::State(_) | cli::Command::Topology(_) => unreachable!("handled above"),
    }
}

/// The backend's traits, and the embedded log when that is the backend.
type Backend = (Arc<dyn Log>, Option<Arc<EmbeddedLog>>);

/// The backend the subcommands work on, through its traits: a Kafka cluster
/// (`--brokers`) or the embedded log, which is also returned on its own for
/// what only it has (segment sizes, quarantined ranges, `tributary log`).
fn open_backend(args: &cli::Cli) -> anyhow::Result<Backend> {
    use anyhow::Context;
    if let Some(brokers) = &args.brokers {
        let mut config = tributary_kafka::KafkaConfig::new(brokers.as_str());
        if let Some(file) = &args.kafka_properties {
            config = config.properties_file(file)?;
        }
        return Ok((Arc::new(tributary_kafka::KafkaLog::connect(config)?), None));
    }
    let creates = matches!(
        args.command,
        cli::Command::Topics(cli::TopicsCommand::Create { .. })
    );
    if !creates && !args.dir.join("topics").is_dir() {
        anyhow::bail!(
            "{} is not a log directory (no topics/ in it): pass the right --dir (or \
             TRIBUTARY_DIR), or create a topic there first with `tributary topics create`",
            args.dir.display()
        );
    }
    let embedded = Arc::new(
        EmbeddedLog::open(&args.dir)
            .with_context(|| format!("opening log directory {}", args.dir.display()))?,
    );
    Ok((embedded.clone(), Some(embedded)))
}

/// A closed stdout (`tributary consume ... | head`) is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
