//! Errors only the embedded log raises (the damage of its files, the lock
//! that keeps one writer per partition). They reach callers as
//! [`Error::Embedded`](crate::Error::Embedded).

use std::path::PathBuf;

/// What went wrong in the embedded log's own files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// Stored data failed its checksum or is structurally broken.
    #[error("corrupt log data in {file} at byte {position}: {reason}")]
    Corrupt {
        /// The file holding the damaged data.
        file: PathBuf,
        /// Byte position of the damaged batch in the file.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// Another process holds the partition's writer lock.
    #[error("partition {topic}/{partition} is locked by another writer ({lock})")]
    Locked {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The partition's directory, which the writer holds locked.
        lock: PathBuf,
    },
}
