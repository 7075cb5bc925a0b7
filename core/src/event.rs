//! Keys and event times taken from the fields of an event type.
//!
//! `#[derive(Event)]` (crate `tributary-macros`) implements [`EventKey`]
//! for a field marked `#[event(key)]` and [`EventTime`] for a field marked
//! `#[event(timestamp)]`. [`value_key`] and [`value_time`] then plug them
//! into [`Stream::key_by`](crate::Stream::key_by) and
//! [`Stream::event_time`](crate::Stream::event_time):
//!
//! ```
//! use tributary::{Topology, codec::{Json, Utf8}, event::{EventKey, EventTime, value_key, value_time}};
//!
//! #[derive(Clone, serde::Serialize, serde::Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
//! struct View { user: String, item: String, at: i64 }
//!
//! // What `#[derive(Event)]` writes for `#[event(key)] user` and `#[event(timestamp)] at`:
//! impl EventKey for View {
//!     type Key = String;
//!     fn event_key(&self) -> String { self.user.clone() }
//! }
//! impl EventTime for View {
//!     fn event_time(&self) -> i64 { self.at }
//! }
//!
//! let mut b = Topology::builder("views");
//! b.stream::<String, View>("views", Utf8, Json)
//!     .event_time(value_time)
//!     .key_by("by-user", value_key)
//!     .to("views-by-user", Utf8, Json);
//! b.build()?;
//! # Ok::<(), tributary::Error>(())
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An event that carries its own key (the field marked `#[event(key)]`).
pub trait EventKey {
    /// The key's type.
    type Key;
    /// The event's key.
    fn event_key(&self) -> Self::Key;
}

/// An event that carries its own time (the field marked `#[event(timestamp)]`).
pub trait EventTime {
    /// The event's time, in milliseconds since the Unix epoch.
    fn event_time(&self) -> i64;
}

/// A point in time that converts to milliseconds since the Unix epoch: the
/// types a `#[event(timestamp)]` field may have.
pub trait Millis {
    /// Milliseconds since the Unix epoch (saturating at `i64`'s bounds).
    fn millis(&self) -> i64;
}

impl Millis for i64 {
    fn millis(&self) -> i64 {
        *self
    }
}

impl Millis for u64 {
    fn millis(&self) -> i64 {
        i64::try_from(*self).unwrap_or(i64::MAX)
    }
}

/// A duration since the Unix epoch.
impl Millis for Duration {
    fn millis(&self) -> i64 {
        i64::try_from(self.as_millis()).unwrap_or(i64::MAX)
    }
}

impl Millis for SystemTime {
    fn millis(&self) -> i64 {
        match self.duration_since(UNIX_EPOCH) {
            Ok(d) => d.millis(),
            Err(before) => -before.duration().millis(),
        }
    }
}

/// The key of a record's value, for [`Stream::key_by`](crate::Stream::key_by)
/// and [`Stream::group_by`](crate::Stream::group_by).
pub fn value_key<K, V: EventKey>(_key: &K, value: &V) -> V::Key {
    value.event_key()
}

/// The event time of a record's value, for
/// [`Stream::event_time`](crate::Stream::event_time).
pub fn value_time<K, V: EventTime>(_key: &K, value: &V) -> i64 {
    value.event_time()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_times_before_the_epoch_are_negative() {
        let t = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(t.millis(), -1500);
        assert_eq!((UNIX_EPOCH + Duration::from_millis(7)).millis(), 7);
        assert_eq!(u64::MAX.millis(), i64::MAX);
    }
}
