//! The crate's error type: what failed and with what (file, field, path,
//! address).

use std::path::PathBuf;

/// Everything the twin's library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TwinError {
    /// The configuration is unreadable or has a bad field.
    #[error(transparent)]
    Config(#[from] tcu_engine::config::ConfigError),
    /// The store failed.
    #[error("store {path}: {message}")]
    Store {
        /// Database file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A TLS file could not be used.
    #[error("{what} {path}: {reason}")]
    Tls {
        /// The file.
        path: PathBuf,
        /// Which file it is (CA certificate, client key, ...).
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A listener could not be opened, or would be open without access
    /// control.
    #[error("http listen {addr}: {reason}")]
    Listen {
        /// Address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// A request of the command-line client failed.
    #[error("{url}: {reason}")]
    Client {
        /// The request's URL.
        url: String,
        /// Why (status and problem detail, or the transport's error).
        reason: String,
    },
    /// A command-line argument is unusable.
    #[error("{arg}: {reason}")]
    Argument {
        /// The argument.
        arg: String,
        /// Why.
        reason: String,
    },
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}
