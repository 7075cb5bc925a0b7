//! Window and session stores: key layouts over a [`StateBackend`] store.
//!
//! A window store keeps one value per (key, window start); a session store
//! one value per (key, session end, session start), as in Kafka Streams.
//! Both encode the key with its length first, then the times big-endian
//! with the sign bit flipped, so that all windows of a key are one
//! contiguous, time-ordered key range: fetching a key's windows in a time
//! range is a single range scan.

use crate::error::Result;
use crate::{StateBackend, StateBatch, StoreId};

fn time_bytes(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

fn time_from(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    (u64::from_be_bytes(a) ^ (1 << 63)) as i64
}

fn key_prefix(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + key.len() + 16);
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// The stored key of window `start` of `key`.
pub fn window_key(key: &[u8], start: i64) -> Vec<u8> {
    let mut k = key_prefix(key);
    k.extend_from_slice(&time_bytes(start));
    k
}

/// The stored key of session `[start, end]` of `key` (ordered by end).
pub fn session_key(key: &[u8], start: i64, end: i64) -> Vec<u8> {
    let mut k = key_prefix(key);
    k.extend_from_slice(&time_bytes(end));
    k.extend_from_slice(&time_bytes(start));
    k
}

/// Splits a stored window key into the key and the window start.
pub fn split_window_key(stored: &[u8]) -> Option<(&[u8], i64)> {
    let len = u32::from_be_bytes(stored.get(..4)?.try_into().ok()?) as usize;
    let key = stored.get(4..4 + len)?;
    let t = stored.get(4 + len..4 + len + 8)?;
    Some((key, time_from(t)))
}

/// Splits a stored session key into the key, session start and end.
pub fn split_session_key(stored: &[u8]) -> Option<(&[u8], i64, i64)> {
    let len = u32::from_be_bytes(stored.get(..4)?.try_into().ok()?) as usize;
    let key = stored.get(4..4 + len)?;
    let end = time_from(stored.get(4 + len..4 + len + 8)?);
    let start = time_from(stored.get(4 + len + 8..4 + len + 16)?);
    Some((key, start, end))
}

/// Windows of one key with `from <= start <= to`, in start order.
pub fn fetch_windows(
    backend: &dyn StateBackend,
    store: StoreId,
    partition: u32,
    key: &[u8],
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Vec<u8>)>> {
    let lo = window_key(key, from);
    let mut out = Vec::new();
    backend.scan(
        store,
        partition,
        Some(&lo),
        None,
        &mut |k, v| match split_window_key(k) {
            Some((kk, start)) if kk == key && start <= to => {
                out.push((start, v.to_vec()));
                true
            }
            _ => false,
        },
    )?;
    Ok(out)
}

/// Sessions of one key that end at or after `earliest_end` and start at or
/// before `latest_start` (the sessions a record at a time could merge with),
/// as `(start, end, value)`, in end order.
pub fn fetch_sessions(
    backend: &dyn StateBackend,
    store: StoreId,
    partition: u32,
    key: &[u8],
    earliest_end: i64,
    latest_start: i64,
) -> Result<Vec<(i64, i64, Vec<u8>)>> {
    let mut lo = key_prefix(key);
    lo.extend_from_slice(&time_bytes(earliest_end));
    let mut out = Vec::new();
    backend.scan(
        store,
        partition,
        Some(&lo),
        None,
        &mut |k, v| match split_session_key(k) {
            Some((kk, start, end)) if kk == key => {
                if start <= latest_start {
                    out.push((start, end, v.to_vec()));
                }
                true
            }
            _ => false,
        },
    )?;
    Ok(out)
}

/// Deletes every window of `store` in `partition` that starts before
/// `before` (expired windows), adding the deletions to `batch`; returns how
/// many there were.
pub fn expire_windows(
    backend: &dyn StateBackend,
    store: StoreId,
    partition: u32,
    before: i64,
    batch: &mut StateBatch,
) -> Result<usize> {
    let mut expired = Vec::new();
    backend.scan(store, partition, None, None, &mut |k, _| {
        if let Some((_, start)) = split_window_key(k)
            && start < before
        {
            expired.push(k.to_vec());
        }
        true
    })?;
    for k in &expired {
        batch.delete(store, partition, k);
    }
    Ok(expired.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryState;

    #[test]
    fn window_keys_order_by_key_then_time() {
        let a = window_key(b"k", -5);
        let b = window_key(b"k", 3);
        let c = window_key(b"k", 1_000);
        assert!(a < b && b < c);
        assert_eq!(split_window_key(&b), Some((&b"k"[..], 3)));
        let s = session_key(b"user", 10, 20);
        assert_eq!(split_session_key(&s), Some((&b"user"[..], 10, 20)));
    }

    #[test]
    fn fetch_and_expire_windows() {
        let state = MemoryState::new(&["w".to_string(), "s".to_string()]);
        let w = StoreId(0);
        let mut batch = StateBatch::new();
        for (key, start) in [
            (&b"a"[..], 0),
            (b"a", 10),
            (b"a", 20),
            (b"ab", 10),
            (b"b", 10),
        ] {
            batch.put(w, 0, &window_key(key, start), format!("{start}").as_bytes());
        }
        state.commit(&batch).unwrap();
        let got = fetch_windows(&state, w, 0, b"a", 5, 20).unwrap();
        assert_eq!(got, vec![(10, b"10".to_vec()), (20, b"20".to_vec())]);
        let mut batch = StateBatch::new();
        assert_eq!(expire_windows(&state, w, 0, 15, &mut batch).unwrap(), 4);
        state.commit(&batch).unwrap();
        assert_eq!(
            fetch_windows(&state, w, 0, b"a", i64::MIN, i64::MAX)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn fetch_sessions_that_may_merge() {
        let state = MemoryState::new(&["s".to_string()]);
        let s = StoreId(0);
        let mut batch = StateBatch::new();
        for (start, end) in [(0, 5), (10, 15), (30, 40)] {
            batch.put(s, 0, &session_key(b"u", start, end), b"x");
        }
        batch.put(s, 0, &session_key(b"v", 12, 13), b"y");
        state.commit(&batch).unwrap();
        // A record at 14 with a 5 ms gap may merge with sessions ending at or
        // after 9 and starting at or before 19.
        let got = fetch_sessions(&state, s, 0, b"u", 9, 19).unwrap();
        assert_eq!(got, vec![(10, 15, b"x".to_vec())]);
    }
}
