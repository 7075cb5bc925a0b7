//! `tributary topics ...`

use crate::cli::TopicsCommand;
use anyhow::{Result, bail};
use tributary::log::{EmbeddedLog, EmbeddedTopicSettings, LogReader, TopicAdmin, TopicConfig};

/// Runs a `topics` subcommand on any backend; `embedded` is the embedded
/// log when that is the backend, for the settings and figures only it has.
pub(crate) fn run(
    log: &(impl TopicAdmin + LogReader + ?Sized),
    embedded: Option<&EmbeddedLog>,
    cmd: TopicsCommand,
) -> Result<()> {
    match cmd {
        TopicsCommand::Create {
            name,
            partitions,
            segment_bytes,
            retention,
            retention_bytes,
        } => {
            let mut config = TopicConfig::new(partitions);
            if let Some(r) = retention {
                config = config.retention(r);
            }
            if let Some(b) = retention_bytes {
                config = config.retention_bytes(b);
            }
            match (embedded, segment_bytes) {
                (Some(e), Some(b)) => {
                    let settings = EmbeddedTopicSettings::default().segment_bytes(b);
                    e.create_topic_with(&name, &config, &settings)?
                }
                (None, Some(_)) => bail!("--segment-bytes applies to the embedded log only"),
                (_, None) => log.create_topic(&name, &config)?,
            }
            println!("created topic {name} with {partitions} partition(s)");
        }
        TopicsCommand::List => {
            for t in log.list_topics()? {
                println!("{t}");
            }
        }
        TopicsCommand::Describe { name } => {
            let c = log.topic_config(&name)?;
            let segment_bytes = match embedded {
                Some(e) => format!(", segment_bytes {}", e.topic_settings(&name)?.segment_bytes),
                None => String::new(),
            };
            println!(
                "topic {name}: {} partition(s){segment_bytes}, retention {}, retention_bytes {}",
                c.partitions,
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
                let Some(e) = embedded else {
                    println!("{p:>9} {start:>12} {end:>12} {:>12}", "-");
                    continue;
                };
                let size = e.partition_size(&name, p)?;
                println!("{p:>9} {start:>12} {end:>12} {size:>12}");
                for q in e.quarantined(&name, p)? {
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
