//! `tributary state ...`: inspect a stopped application's local state.

use crate::cli::{KeyType, StateCommand};
use anyhow::{Context, Result, bail};
use tributary::codec::{Codec, Rkyv};
use tributary_state::{RocksState, StateBackend, StateConfig};

pub(crate) fn run(cmd: StateCommand) -> Result<()> {
    let (dir, app) = match &cmd {
        StateCommand::List { state_dir, app } => (state_dir, app),
        StateCommand::Get { state_dir, app, .. } => (state_dir, app),
        StateCommand::Scan { state_dir, app, .. } => (state_dir, app),
    };
    let path = dir.join(app);
    if !path.exists() {
        bail!("no state for application '{app}' in {}", dir.display());
    }
    let state = RocksState::open_existing(
        &path,
        StateConfig {
            memory_budget: 32 << 20,
        },
    )
    .with_context(|| {
        format!(
            "opening {} (is the application still running?)",
            path.display()
        )
    })?;
    match cmd {
        StateCommand::List { .. } => {
            for s in state.store_names() {
                println!("{s}");
            }
        }
        StateCommand::Get {
            store,
            key,
            key_type,
            partitions,
            ..
        } => {
            let id = state
                .store_id(&store)
                .with_context(|| format!("no store '{store}'"))?;
            let k = encode_key(&key, key_type)?;
            for p in 0..partitions {
                if let Some(v) = state.get(id, p, &k)? {
                    println!("{}", line(p, &k, &v, key_type));
                    return Ok(());
                }
            }
            bail!("key '{key}' is not in store '{store}'");
        }
        StateCommand::Scan {
            store,
            key_type,
            partitions,
            max,
            ..
        } => {
            let id = state
                .store_id(&store)
                .with_context(|| format!("no store '{store}'"))?;
            let mut printed = 0u64;
            for p in 0..partitions {
                state.scan(id, p, None, None, &mut |k, v| {
                    println!("{}", line(p, k, v, key_type));
                    printed += 1;
                    max.is_none_or(|m| printed < m)
                })?;
                if max.is_some_and(|m| printed >= m) {
                    break;
                }
            }
        }
    }
    Ok(())
}

fn encode_key(key: &str, t: KeyType) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match t {
        KeyType::String => Rkyv.encode(&key.to_string(), &mut out)?,
        KeyType::U64 => Rkyv.encode(&key.parse::<u64>().context("key is not a u64")?, &mut out)?,
        KeyType::I64 => Rkyv.encode(&key.parse::<i64>().context("key is not an i64")?, &mut out)?,
        KeyType::Hex => out = hex_decode(key)?,
    }
    Ok(out)
}

fn decode_key(k: &[u8], t: KeyType) -> serde_json::Value {
    let decoded = match t {
        KeyType::String => Codec::<String>::decode(&Rkyv, k)
            .ok()
            .map(serde_json::Value::from),
        KeyType::U64 => Codec::<u64>::decode(&Rkyv, k)
            .ok()
            .map(serde_json::Value::from),
        KeyType::I64 => Codec::<i64>::decode(&Rkyv, k)
            .ok()
            .map(serde_json::Value::from),
        KeyType::Hex => None,
    };
    decoded.unwrap_or_else(|| serde_json::Value::from(hex(k)))
}

fn line(partition: u32, k: &[u8], v: &[u8], t: KeyType) -> String {
    serde_json::json!({
        "partition": partition,
        "key": decode_key(k, t),
        "value_hex": hex(v),
        "value_text": String::from_utf8_lossy(v),
    })
    .to_string()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hex_decode(s: &str) -> Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        bail!("hex key has an odd number of digits");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).context("invalid hex key"))
        .collect()
}
