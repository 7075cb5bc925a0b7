//! `tributary groups ...`

use crate::cli::GroupsCommand;
use crate::position::Position;
use anyhow::{Result, bail};
use tributary::log::{Log, TopicPartition};

pub(crate) fn run(log: &dyn Log, cmd: GroupsCommand) -> Result<()> {
    match cmd {
        GroupsCommand::List => {
            for g in log.list_groups()? {
                println!("{g}");
            }
        }
        GroupsCommand::Describe { group } => {
            let committed = log.committed_offsets(&group)?;
            if committed.is_empty() {
                bail!("group '{group}' has no committed positions");
            }
            println!(
                "{:<30} {:>9} {:>12} {:>12} {:>10}",
                "topic", "partition", "position", "end", "lag"
            );
            let mut total = 0;
            let mut past_end = 0;
            for (tp, pos) in &committed {
                let (_, end) = log.offsets(&tp.topic, tp.partition)?;
                let lag = if *pos > end {
                    past_end += 1;
                    "PAST END".to_string()
                } else {
                    total += end - pos;
                    (end - pos).to_string()
                };
                println!(
                    "{:<30} {:>9} {:>12} {:>12} {:>10}",
                    tp.topic, tp.partition, pos, end, lag
                );
            }
            println!("total lag: {total}");
            if past_end > 0 {
                bail!(
                    "{past_end} position(s) of group '{group}' are past their partition's end: \
                     the log lost records it had acknowledged, or the topic was recreated; the \
                     application stops there rather than skip new records. Reset them \
                     (`tributary groups reset {group} --to earliest`)"
                );
            }
        }
        GroupsCommand::Reset {
            group,
            to,
            topics,
            reset_state,
            state_dir,
        } => {
            let target: Position = to.parse()?;
            if reset_state {
                let from = match target {
                    Position::Earliest => tributary::runtime::ReplayFrom::Earliest,
                    Position::Time(t) => tributary::runtime::ReplayFrom::Timestamp(t),
                    _ => bail!("--reset-state replays from earliest or from a time"),
                };
                let report =
                    tributary::runtime::reset_application(log, &group, &topics, &state_dir, from)?;
                for (tp, o) in &report.positions {
                    println!("{tp} -> {o}");
                }
                for t in &report.deleted_topics {
                    println!("deleted internal topic {t}");
                }
                if report.deleted_state {
                    println!("deleted local state {}", state_dir.join(&group).display());
                }
                return Ok(());
            }
            let topics = if topics.is_empty() {
                let mut t: Vec<String> = log
                    .committed_offsets(&group)?
                    .keys()
                    .map(|tp| tp.topic.clone())
                    .collect();
                t.dedup();
                if t.is_empty() {
                    bail!("group '{group}' has no positions; name the topics with --topic");
                }
                t
            } else {
                topics
            };
            let mut new = Vec::new();
            for topic in &topics {
                for p in 0..log.topic_config(topic)?.partitions {
                    let offset = target.resolve(log, topic, p)?;
                    new.push((TopicPartition::new(topic.clone(), p), offset));
                }
            }
            log.reset_offsets(&group, &new)?;
            for (tp, o) in &new {
                println!("{tp} -> {o}");
            }
        }
    }
    Ok(())
}
