//! A store read as JSON from outside its tasks, for the HTTP state API:
//! keys parsed from text, entries decoded through the store's types and
//! written with serde.

use crate::codec::{Codec, Rkyv, RkyvData};
use crate::error::Error;
use crate::topology::graph::StoreLayout;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::marker::PhantomData;
use std::sync::Arc;
use tributary_state::{StateBackend, StoreId};

/// Why a store query failed.
#[derive(Debug)]
pub(crate) enum QueryError {
    /// The key given does not decode as the store's key type.
    BadKey(String),
    /// Reading or decoding the store failed.
    Failed(Error),
}

impl From<Error> for QueryError {
    fn from(e: Error) -> Self {
        QueryError::Failed(e)
    }
}

impl From<tributary_state::Error> for QueryError {
    fn from(e: tributary_state::Error) -> Self {
        QueryError::Failed(e.into())
    }
}

/// A store, type-erased, answering in JSON.
pub(crate) trait JsonView: Send + Sync + std::fmt::Debug {
    /// The entry of the key written as `text` (JSON, or a bare string for
    /// string keys) in the store partitions `held`: `None` if they have
    /// nothing for it.
    fn get(&self, text: &str, held: &[u32]) -> Result<Option<Value>, QueryError>;
    /// The key written as `text`, as JSON (to compare with entries' keys).
    fn key(&self, text: &str) -> Result<Value, QueryError>;
    /// Every entry of the store partitions `held`, as `(key, entry)`.
    fn entries(&self, held: &[u32]) -> Result<Vec<(Value, Value)>, QueryError>;
    /// The store's partitions (tasks), over every instance.
    fn partitions(&self) -> u32;
}

/// The [`JsonView`] of a store whose keys are `K` and values (or window
/// aggregates) `V`.
pub(crate) struct TypedView<K, V> {
    backend: Arc<dyn StateBackend>,
    id: StoreId,
    partitions: u32,
    layout: StoreLayout,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> std::fmt::Debug for TypedView<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedView")
            .field("id", &self.id)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl<K, V> TypedView<K, V>
where
    K: RkyvData + Serialize + DeserializeOwned + PartialEq + 'static,
    V: RkyvData + Serialize + 'static,
{
    pub(crate) fn new(
        backend: Arc<dyn StateBackend>,
        name: &str,
        partitions: u32,
        layout: StoreLayout,
    ) -> crate::Result<Self> {
        if layout == StoreLayout::Internal {
            return Err(Error::InvalidConfig(format!(
                "store '{name}' holds an operator's own bookkeeping (sliding windows, join \
                 buffers, suppression) and cannot be served"
            )));
        }
        let id = backend
            .store_id(name)
            .ok_or_else(|| Error::InvalidConfig(format!("no state store named '{name}'")))?;
        Ok(TypedView {
            backend,
            id,
            partitions,
            layout,
            _types: PhantomData,
        })
    }

    fn parse(text: &str) -> Result<K, QueryError> {
        serde_json::from_str::<K>(text)
            .or_else(|_| serde_json::from_value::<K>(Value::String(text.to_owned())))
            .map_err(|e| {
                QueryError::BadKey(format!(
                    "key '{text}' is not a {}: {e}",
                    std::any::type_name::<K>()
                ))
            })
    }

    fn decode<T: RkyvData>(bytes: &[u8]) -> Result<T, QueryError> {
        Rkyv.decode(bytes)
            .map_err(|e| QueryError::Failed(Error::Codec(e)))
    }

    fn json<T: Serialize>(value: &T) -> Result<Value, QueryError> {
        serde_json::to_value(value)
            .map_err(|e| QueryError::Failed(Error::Runtime(format!("writing JSON: {e}"))))
    }

    /// Sessions as `[{start, end, value}]`.
    fn sessions(bytes: &[u8]) -> Result<Value, QueryError> {
        let sessions: Vec<(i64, i64, V, i64)> = Self::decode(bytes)?;
        let list = sessions
            .iter()
            .map(|(start, end, v, _)| {
                Ok(json!({"start": start, "end": end, "value": Self::json(v)?}))
            })
            .collect::<Result<Vec<Value>, QueryError>>()?;
        Ok(Value::Array(list))
    }

    /// The windows of every key, in key order of first appearance.
    fn windows(&self, size: i64, held: &[u32]) -> Result<Vec<(K, Vec<Value>)>, QueryError> {
        let mut out: Vec<(K, Vec<Value>)> = Vec::new();
        self.scan(held, |k, v| {
            let (key, _bucket): (K, i64) = Self::decode(k)?;
            let windows: Vec<(i64, V, i64)> = Self::decode(v)?;
            let list = windows
                .iter()
                .map(|(start, v, _)| {
                    Ok(json!({"start": start, "end": start + size, "value": Self::json(v)?}))
                })
                .collect::<Result<Vec<Value>, QueryError>>()?;
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some((_, all)) => all.extend(list),
                None => out.push((key, list)),
            }
            Ok(())
        })?;
        for (_, list) in &mut out {
            list.sort_by_key(|w| w["start"].as_i64());
        }
        Ok(out)
    }

    /// Calls `f` with every entry of the partitions `held`, as stored.
    fn scan(
        &self,
        held: &[u32],
        mut f: impl FnMut(&[u8], &[u8]) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        for &p in held {
            let mut failed = None;
            self.backend
                .scan(self.id, p, None, None, &mut |k, v| match f(k, v) {
                    Ok(()) => true,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                })?;
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(())
    }

    fn lookup(&self, key: &K, held: &[u32]) -> Result<Option<Vec<u8>>, QueryError> {
        let mut k = Vec::new();
        Rkyv.encode(key, &mut k)
            .map_err(|e| QueryError::Failed(Error::Codec(e)))?;
        for &p in held {
            if let Some(v) = self.backend.get(self.id, p, &k)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}

impl<K, V> JsonView for TypedView<K, V>
where
    K: RkyvData + Serialize + DeserializeOwned + PartialEq + 'static,
    V: RkyvData + Serialize + 'static,
{
    fn key(&self, text: &str) -> Result<Value, QueryError> {
        Self::json(&Self::parse(text)?)
    }

    fn partitions(&self) -> u32 {
        self.partitions
    }

    fn get(&self, text: &str, held: &[u32]) -> Result<Option<Value>, QueryError> {
        let key = Self::parse(text)?;
        match self.layout {
            StoreLayout::KeyValue => match self.lookup(&key, held)? {
                Some(v) => Ok(Some(Self::json(&Self::decode::<V>(&v)?)?)),
                None => Ok(None),
            },
            StoreLayout::Sessions => match self.lookup(&key, held)? {
                Some(v) => Ok(Some(Self::sessions(&v)?)),
                None => Ok(None),
            },
            StoreLayout::TimeWindows { size } => Ok(self
                .windows(size, held)?
                .into_iter()
                .find(|(k, _)| *k == key)
                .map(|(_, list)| Value::Array(list))),
            StoreLayout::Internal => Ok(None),
        }
    }

    fn entries(&self, held: &[u32]) -> Result<Vec<(Value, Value)>, QueryError> {
        let mut out = Vec::new();
        match self.layout {
            StoreLayout::KeyValue | StoreLayout::Sessions => {
                let sessions = self.layout == StoreLayout::Sessions;
                self.scan(held, |k, v| {
                    let key = Self::json(&Self::decode::<K>(k)?)?;
                    let value = if sessions {
                        Self::sessions(v)?
                    } else {
                        Self::json(&Self::decode::<V>(v)?)?
                    };
                    out.push((key, value));
                    Ok(())
                })?;
            }
            StoreLayout::TimeWindows { size } => {
                for (k, list) in self.windows(size, held)? {
                    out.push((Self::json(&k)?, Value::Array(list)));
                }
            }
            StoreLayout::Internal => {}
        }
        Ok(out)
    }
}
