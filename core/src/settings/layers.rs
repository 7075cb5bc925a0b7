//! The layers settings come from (a TOML file, environment variables,
//! flags), merged by figment so that every value keeps its origin.

use super::values::{KEYS, Raw};
use crate::error::{Error, Result};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use std::collections::BTreeMap;
use std::path::Path;

/// One source of settings: its keys, their values, and for each key where
/// it was written (`environment variable TRIBUTARY_THREADS`...).
#[derive(Debug, Clone)]
pub(super) struct Layer {
    name: &'static str,
    values: Dict,
    origins: BTreeMap<String, String>,
}

impl Layer {
    /// A layer of `(key, value as text, origin)`; values are typed as
    /// figment types environment variables (`4` is a number, `true` a bool).
    pub(super) fn values(name: &'static str, values: Vec<(String, String, String)>) -> Layer {
        let mut layer = Layer {
            name,
            values: Dict::new(),
            origins: BTreeMap::new(),
        };
        for (key, value, origin) in values {
            let parsed: Value = value
                .parse()
                .unwrap_or_else(|e: std::convert::Infallible| match e {});
            layer.values.insert(key.clone(), parsed);
            layer.origins.insert(key, origin);
        }
        layer
    }

    /// The `TRIBUTARY_<KEY>` variables of `env` (but those in
    /// [`NOT_SETTINGS`](super::NOT_SETTINGS)).
    pub(super) fn env(env: &[(String, String)]) -> Layer {
        let values = env
            .iter()
            .filter(|(k, _)| !super::NOT_SETTINGS.contains(&k.as_str()))
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("TRIBUTARY_")?.to_ascii_lowercase();
                Some((key, v.clone(), format!("environment variable {k}")))
            })
            .collect();
        Layer::values("environment", values)
    }

    /// The top-level keys of a TOML file; no file, no layer.
    pub(super) fn file(path: Option<&Path>) -> Result<Layer> {
        let mut layer = Layer::values("file", Vec::new());
        let Some(path) = path else { return Ok(layer) };
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::InvalidConfig(format!("reading the settings file {}: {e}", path.display()))
        })?;
        use figment::providers::Format;
        let data = figment::providers::Toml::string(&text)
            .data()
            .map_err(|e| Error::InvalidConfig(format!("{}: {e}", path.display())))?;
        for (key, value) in data.into_values().flatten() {
            layer
                .origins
                .insert(key.clone(), format!("in {}", path.display()));
            layer.values.insert(key, value);
        }
        Ok(layer)
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        let origins = self.origins.clone();
        Metadata::named(self.name).interpolater(move |_: &Profile, keys: &[&str]| {
            let key = keys.first().copied().unwrap_or_default();
            origins
                .get(key)
                .cloned()
                .unwrap_or_else(|| format!("key {key}"))
        })
    }

    fn data(&self) -> std::result::Result<Map<Profile, Dict>, figment::Error> {
        Ok(Map::from([(Profile::Default, self.values.clone())]))
    }
}

/// Merges `layers` (later ones win) and types the result. Unknown keys and
/// values of the wrong type are reported together, each with its origin.
pub(super) fn merge(layers: &[Layer]) -> Result<Raw> {
    let mut problems = Vec::new();
    for layer in layers {
        for (key, origin) in &layer.origins {
            if !KEYS.contains(&key.as_str()) {
                problems.push(format!(
                    "unknown setting '{key}' ({origin}); the settings are: {}",
                    KEYS.join(", ")
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::InvalidConfig(problems.join("; ")));
    }
    let figment = layers
        .iter()
        .fold(Figment::new(), |f, layer| f.merge(layer.clone()));
    figment.extract::<Raw>().map_err(|errors| {
        let problems: Vec<String> = errors
            .into_iter()
            .map(|e| {
                let key = e.path.join(".");
                let origin = e
                    .metadata
                    .as_ref()
                    .map(|m| m.interpolate(&Profile::Default, &e.path))
                    .unwrap_or_else(|| "the defaults".into());
                format!("{key}: {} ({origin})", e.kind)
            })
            .collect();
        Error::InvalidConfig(problems.join("; "))
    })
}

/// Where `key` was last set, for errors about its value.
pub(super) fn origin(layers: &[Layer], key: &str) -> String {
    layers
        .iter()
        .rev()
        .find_map(|l| l.origins.get(key).cloned())
        .unwrap_or_else(|| "the default".into())
}
