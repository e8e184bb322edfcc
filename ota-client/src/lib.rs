//! hawkBit DDI client of the TCU: polls a DDI server (hawkBit, goosebit,
//! anything that speaks the Direct Device Integration API), downloads and
//! verifies artifacts, hands them to an [`Installer`] (the vehicle's
//! hot-swap, implemented by the `tcu` binary) and reports the outcome honestly:
//! `closed`+`success` only after the new version passed probation.
//!
//! Depends on the engine only for its shared helpers (atomic writes, safe
//! file names, backoff); the binary that installs through it depends on
//! this crate, never the reverse. See [`client`] for the behaviour (soft updates, confirmation,
//! cancels, installedBase), [`wake`] for polling on demand, [`swu`] and
//! [`publish`] for the rollout tooling.

mod action;
mod artifacts;
pub mod cache;
pub use tcu_engine::backoff;
mod cancel;
pub mod client;
mod confirm;
pub mod ddi;
pub mod download;
mod hashing;
pub mod http;
mod installed;
pub mod publish;
mod server;
pub mod state;
pub mod swu;
pub mod wake;

pub use cache::ArtifactCache;
pub use client::{
    Client, ClientConfig, Confirmation, InstallChunk, InstallError, Installer, OtaEvent, OtaState,
    SoftUpdates,
};
pub use http::Auth;
pub use server::action_dir;
pub use wake::Waker;

use std::time::{Duration, Instant};

/// Errors of the client and the tooling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtaError {
    /// A setting is unusable.
    #[error("`{field}`: {message}")]
    Config {
        /// Field.
        field: String,
        /// Why.
        message: String,
    },
    /// The request did not complete (connection, timeout, body).
    #[error("{what}: {message}")]
    Http {
        /// What was being done.
        what: String,
        /// Cause.
        message: String,
    },
    /// The server answered with an unexpected status.
    #[error("{what}: the server answered {status}")]
    Status {
        /// What was being done.
        what: String,
        /// Status.
        status: u16,
    },
    /// A management API refused, with its message.
    #[error("{what}: the server answered {status}: {body}")]
    Api {
        /// What was being done.
        what: String,
        /// Status.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// The server's answer is not what DDI says.
    #[error("reading the {what} answer: {message}")]
    Parse {
        /// Which answer.
        what: String,
        /// Parser message.
        message: String,
    },
    /// An answer is longer than the client reads.
    #[error("{what} is larger than {limit} bytes; not read")]
    TooLarge {
        /// Which answer.
        what: String,
        /// Bytes accepted.
        limit: u64,
    },
    /// Local files.
    #[error("{what}: {message}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        message: String,
    },
}

impl OtaError {
    pub(crate) fn http(what: &str, e: &reqwest::Error) -> Self {
        use std::error::Error as _;
        let mut message = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            message.push_str(": ");
            message.push_str(&s.to_string());
            src = s.source();
        }
        Self::Http {
            what: what.into(),
            message,
        }
    }
}

/// Sleeps `d` in short slices; returns `true` as soon as `stopped()`.
pub fn sleep_unless(d: Duration, stopped: &dyn Fn() -> bool) -> bool {
    let end = Instant::now() + d;
    loop {
        if stopped() {
            return true;
        }
        let now = Instant::now();
        if now >= end {
            return false;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}
