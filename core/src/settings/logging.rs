//! Log lines on stderr, as text or JSON.

use serde::Deserialize;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines, coloured when stderr is a terminal (the default).
    #[default]
    Text,
    /// One JSON object per line, with the fields of the event and of its
    /// spans (the task a line is about), for log collectors.
    Json,
}

/// Installs the global subscriber (no-op if one is set), filtered by
/// `TRIBUTARY_LOG`, else `RUST_LOG`, else `default`.
pub(super) fn init(format: LogFormat, default: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRIBUTARY_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
}
