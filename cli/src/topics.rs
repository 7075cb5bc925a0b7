//! `tributary topics ...`

use crate::cli::TopicsCommand;
use anyhow::Result;
use tributary::log::{EmbeddedLog, Log, TopicConfig};

pub(crate) fn run(log: &EmbeddedLog, cmd: TopicsCommand) -> Result<()> {
    match cmd {
        TopicsCommand::Create {
            name,
            partitions,
            segment_bytes,
            retention,
            retention_bytes,
        } => {
            let mut config = TopicConfig::new(partitions);
            if let Some(b) = segment_bytes {
                config = config.segment_bytes(b);
            }
            if let Some(r) = retention {
                config = config.retention(r);
            }
            if let Some(b) = retention_bytes {
                config = config.retention_bytes(b);
            }
            log.create_topic(&name, &config)?;
            println!("created topic {name} with {partitions} partition(s)");
        }
        TopicsCommand::List => {
            for t in log.list_topics()? {
                println!("{t}");
            }
        }
        TopicsCommand::Describe { name } => {
            let c = log.topic_config(&name)?;
            println!(
                "topic {name}: {} partition(s), segment_bytes {}, retention {}, retention_bytes {}",
                c.partitions,
                c.segment_bytes,
                c.retention_ms.map_or("none".into(), |ms| {
                    humantime::format_duration(std::time::Duration::from_millis(ms as u64))
                        .to_string()
                }),
                c.retention_bytes.map_or("none".into(), |b| b.to_string()),
            );
            println!(
                "{:>9} {:>12} {:>12} {:>12}",
                "partition", "start", "end", "bytes"
            );
            for p in 0..c.partitions {
                let (start, end) = log.offsets(&name, p)?;
                let size = log.partition_size(&name, p)?;
                println!("{p:>9} {start:>12} {end:>12} {size:>12}");
                for q in log.quarantined(&name, p)? {
                    println!(
                        "{:>9} quarantined: records {}..{} ({} records; {})",
                        "",
                        q.from,
                        q.to,
                        q.to - q.from,
                        q.reason
                    );
                }
            }
        }
        TopicsCommand::Delete { name } => {
            log.delete_topic(&name)?;
            println!("deleted topic {name}");
        }
    }
    Ok(())
}
