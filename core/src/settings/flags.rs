//! The standard command-line flags of an application.

use super::layers::Layer;
use crate::error::{Error, Result};
use std::path::PathBuf;

/// The flags every application takes. Flatten them into an application's
/// own arguments with `#[command(flatten)]`, or let
/// [`Settings::load`](super::Settings::load) parse them alone.
#[derive(Debug, Clone, Default, clap::Parser)]
#[command(about = "A Tributary stream-processing application")]
pub struct Flags {
    /// A TOML file of settings (keys as in the README's configuration table).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the embedded log and local state are kept.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// Reset the application and replay its inputs from `earliest` or an
    /// RFC 3339 time, with empty state.
    #[arg(long, value_name = "FROM")]
    pub replay_from: Option<String>,
    /// Worker threads.
    #[arg(long, value_name = "N")]
    pub threads: Option<String>,
    /// Serve metrics, health, state and the status page on this address.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Kafka bootstrap servers; run on Kafka instead of the embedded log.
    #[arg(long, value_name = "HOST:PORT")]
    pub brokers: Option<String>,
    /// How long to run: `signal` (until SIGINT/SIGTERM) or `end` (to the
    /// end of the inputs).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Log lines as `text` or `json`.
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Any other setting, as KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl Flags {
    /// The flags that were given, as a settings layer.
    pub(super) fn layer(&self) -> Result<Layer> {
        let named = [
            ("data_dir", &self.data_dir),
            ("replay_from", &self.replay_from),
            ("threads", &self.threads),
            ("http", &self.http),
            ("brokers", &self.brokers),
            ("until", &self.until),
            ("log_format", &self.log_format),
        ];
        let mut values: Vec<(String, String, String)> = named
            .into_iter()
            .filter_map(|(key, v)| {
                v.as_ref().map(|v| {
                    (
                        key.to_owned(),
                        v.clone(),
                        format!("--{}", key.replace('_', "-")),
                    )
                })
            })
            .collect();
        for s in &self.set {
            let (key, value) = s
                .split_once('=')
                .ok_or_else(|| Error::InvalidConfig(format!("--set '{s}': expected KEY=VALUE")))?;
            let key = key.trim().replace('-', "_");
            values.push((key.clone(), value.to_owned(), format!("--set {key}")));
        }
        Ok(Layer::values("command-line flag", values))
    }
}
