//! Loading an application's settings from a TOML file, environment
//! variables and command-line flags, into one [`Settings`].
//!
//! Later layers win: built-in defaults, then the TOML file (`--config
//! FILE`, or the `TRIBUTARY_CONFIG` variable), then `TRIBUTARY_<KEY>`
//! environment variables, then flags (`--threads 4`, or `--set KEY=VALUE`
//! for any key). Every layer uses the same keys, the snake-case names of
//! [`Config`]'s fields plus [`Settings`]' own (`data_dir`, `brokers`,
//! `log_format`). An unknown key, a value of the wrong type or a bad value
//! is one error naming the key and the layer it came from.
//!
//! ```
//! use tributary::settings::Settings;
//! let settings = Settings::from_sources(
//!     ["my-app", "--threads", "3"],
//!     [("TRIBUTARY_THREADS", "2"), ("TRIBUTARY_COMMIT_INTERVAL", "250ms")],
//! )?;
//! assert_eq!(settings.config.threads, 3);
//! assert_eq!(settings.config.commit_interval, std::time::Duration::from_millis(250));
//! # Ok::<(), tributary::Error>(())
//! ```

mod flags;
mod layers;
mod logging;
mod values;

pub use flags::Flags;
pub use logging::LogFormat;

use crate::error::{Error, Result};
use crate::runtime::Config;
use clap::Parser;
use std::ffi::OsString;
use std::path::PathBuf;

/// Environment variables with the `TRIBUTARY_` prefix that are not
/// settings: read by the `tributary` CLI and the project's scripts.
pub const NOT_SETTINGS: &[&str] = &[
    "TRIBUTARY_CONFIG",
    "TRIBUTARY_LOG",
    "TRIBUTARY_DIR",
    "TRIBUTARY_BROKER_HOME",
];

/// Everything an application is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The runtime's settings.
    pub config: Config,
    /// Where the application keeps its data: the embedded log in
    /// `<data_dir>/log`, and local state in `<data_dir>/state` unless
    /// `state_dir` says otherwise (default `tributary-data`).
    pub data_dir: PathBuf,
    /// Kafka bootstrap servers (`host:port,...`); when set, the application
    /// runs on Kafka (crate `tributary-kafka`) instead of the embedded log.
    pub brokers: Option<String>,
    /// The format of log lines.
    pub log_format: LogFormat,
}

impl Default for Settings {
    fn default() -> Self {
        let data_dir = PathBuf::from("tributary-data");
        Settings {
            config: Config {
                state_dir: data_dir.join("state"),
                ..Config::default()
            },
            data_dir,
            brokers: None,
            log_format: LogFormat::default(),
        }
    }
}

impl Settings {
    /// Loads the settings from the process's command line and environment.
    /// `--help` and flag errors print and exit, as with any clap program.
    pub fn load() -> Result<Settings> {
        let flags = Flags::parse();
        Self::from_flags(&flags, std::env::vars())
    }

    /// Loads the settings from `args` (the program name first) and `env`
    /// (name, value pairs); for tests, and programs with their own
    /// argument handling.
    pub fn from_sources<A, E, K, V>(args: A, env: E) -> Result<Settings>
    where
        A: IntoIterator,
        A::Item: Into<OsString> + Clone,
        E: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let flags = Flags::try_parse_from(args)
            .map_err(|e| Error::InvalidConfig(e.render().to_string().trim().to_owned()))?;
        Self::from_flags(&flags, env)
    }

    /// Loads the settings with `flags` already parsed (flatten [`Flags`]
    /// into an application's own clap arguments) and `env`.
    pub fn from_flags<E, K, V>(flags: &Flags, env: E) -> Result<Settings>
    where
        E: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let env: Vec<(String, String)> =
            env.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let file = flags.config.clone().or_else(|| {
            env.iter()
                .find(|(k, _)| k == "TRIBUTARY_CONFIG")
                .map(|(_, v)| PathBuf::from(v))
        });
        let layers = vec![
            layers::Layer::file(file.as_deref())?,
            layers::Layer::env(&env),
            flags.layer()?,
        ];
        let raw = layers::merge(&layers)?;
        let settings = raw.apply(Settings::default());
        let problems: Vec<String> = settings
            .config
            .problems()
            .into_iter()
            .map(|(key, problem)| format!("{key}: {problem} ({})", layers::origin(&layers, key)))
            .collect();
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(Error::InvalidConfig(problems.join("; ")))
        }
    }

    /// The directory of the embedded log (`<data_dir>/log`).
    pub fn log_dir(&self) -> PathBuf {
        self.data_dir.join("log")
    }

    /// Sets up logging to stderr as [`log_format`](Self::log_format) says,
    /// filtered by `TRIBUTARY_LOG` (or `RUST_LOG`; default `info`). Lines
    /// about a task carry its `task` span (`app`, `task` fields). Does
    /// nothing if a subscriber is already set.
    pub fn init_logging(&self) {
        self.init_logging_at("info");
    }

    /// [`init_logging`](Self::init_logging) with another default filter
    /// (`error` for a quiet demo, say).
    pub fn init_logging_at(&self, default_filter: &str) {
        logging::init(self.log_format, default_filter);
    }
}
