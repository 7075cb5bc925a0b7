//! `tributary log ...`: verifying segments and quarantining damage.

use crate::cli::LogCommand;
use anyhow::{Result, bail};
use tributary::log::{EmbeddedLog, prelude::*};

pub(crate) fn run(log: &EmbeddedLog, cmd: LogCommand) -> Result<()> {
    match cmd {
        LogCommand::Verify => verify(log),
        LogCommand::Quarantine { topic, partition } => {
            let partitions = match partition {
                Some(p) => vec![p],
                None => (0..log.topic_config(&topic)?.partitions).collect(),
            };
            let mut total = 0;
            for p in partitions {
                for q in log.quarantine(&topic, p)? {
                    total += 1;
                    let copy = q.copy.as_ref().map_or("no bytes to copy".to_string(), |c| {
                        format!("copied to {}", c.display())
                    });
                    println!(
                        "{topic}/{p}: quarantined records {}..{} ({}; {copy})",
                        q.from, q.to, q.reason
                    );
                }
            }
            println!("{total} damaged range(s) quarantined");
            Ok(())
        }
    }
}

fn verify(log: &EmbeddedLog) -> Result<()> {
    let checks = log.verify()?;
    let mut damaged = 0;
    for c in &checks {
        let state = if c.damage.is_empty() { "ok" } else { "DAMAGED" };
        println!(
            "{}/{}: {state}: records {}..{}, {} segment(s), {} bytes",
            c.topic, c.partition, c.start, c.end, c.segments, c.bytes
        );
        for d in &c.damage {
            damaged += 1;
            println!(
                "  damaged: records {}..{} in {} at byte {}: {}",
                d.from,
                d.to,
                d.file.display(),
                d.position,
                d.reason
            );
        }
        for q in &c.quarantined {
            println!("  quarantined: records {}..{}: {}", q.from, q.to, q.reason);
        }
    }
    let partitions = checks.len();
    if damaged > 0 {
        bail!(
            "{damaged} damaged range(s) in {partitions} partition(s) checked; \
             `tributary log quarantine TOPIC` sets them aside"
        );
    }
    println!("{partitions} partition(s) checked: no damage");
    Ok(())
}
