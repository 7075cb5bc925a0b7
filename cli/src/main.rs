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

use clap::Parser;
use std::process::ExitCode;

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
    use anyhow::Context;
    if let cli::Command::State(cmd) = args.command {
        return state::run(cmd);
    }
    if let Some(brokers) = &args.brokers {
        return on_kafka(brokers, args.kafka_properties.as_deref(), args.command);
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
    let embedded = std::sync::Arc::new(
        tributary::log::EmbeddedLog::open(&args.dir)
            .with_context(|| format!("opening log directory {}", args.dir.display()))?,
    );
    // Every subcommand but `log` (the embedded log's own files) works on
    // the backend traits; the embedded log is passed beside them for what
    // only it has (segment sizes, quarantined ranges).
    let log: std::sync::Arc<dyn tributary::log::Log> = embedded.clone();
    match args.command {
        cli::Command::Topics(cmd) => topics::run(&*log, Some(&embedded), cmd),
        cli::Command::Produce(cmd) => produce::run(log, cmd),
        cli::Command::Consume(cmd) => consume::run(&*log, cmd),
        cli::Command::Groups(cmd) => groups::run(&*log, cmd),
        cli::Command::Log(cmd) => damage::run(&embedded, cmd),
        cli::Command::State(_) => unreachable!("handled above"),
    }
}

/// Runs a subcommand against a Kafka cluster.
fn on_kafka(
    brokers: &str,
    properties: Option<&std::path::Path>,
    command: cli::Command,
) -> anyhow::Result<()> {
    let mut config = tributary_kafka::KafkaConfig::new(brokers);
    if let Some(file) = properties {
        config = config.properties_file(file)?;
    }
    let log: std::sync::Arc<dyn tributary::log::Log> =
        std::sync::Arc::new(tributary_kafka::KafkaLog::connect(config)?);
    match command {
        cli::Command::Topics(cmd) => topics::run(&*log, None, cmd),
        cli::Command::Produce(cmd) => produce::run(log, cmd),
        cli::Command::Consume(cmd) => consume::run(&*log, cmd),
        cli::Command::Groups(cmd) => groups::run(&*log, cmd),
        cli::Command::Log(_) => anyhow::bail!(
            "`tributary log` checks the embedded log's files; a Kafka cluster checks its own"
        ),
        cli::Command::State(_) => unreachable!("handled before"),
    }
}

/// A closed stdout (`tributary consume ... | head`) is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
