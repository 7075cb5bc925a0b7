//! Errors of the state crate.

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong with state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// RocksDB reported an error.
    #[cfg(feature = "rocksdb")]
    #[error("state store {path}: {source}")]
    Rocks {
        /// The database directory.
        path: String,
        /// The RocksDB error.
        #[source]
        source: rocksdb::Error,
    },
    /// A store that the backend was not opened with.
    #[error("unknown state store '{0}'")]
    UnknownStore(String),
    /// A commit batch could not be read back, or a batch given to
    /// [`StateBackend::load`](crate::StateBackend::load) breaks its rules
    /// (a bug, reported rather than ignored).
    #[error("malformed state batch: {0}")]
    Batch(&'static str),
}
