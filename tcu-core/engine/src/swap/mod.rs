//! Hot-swap of subsystem libraries while the vehicle keeps ticking.
//!
//! A swap is a transaction over a set of `(subsystem, library file)`, all or
//! nothing, in two halves:
//!
//! 1. [`prepare`] (any thread, never the tick thread): read the file, check
//!    its ed25519 signature against the trusted keys, open a private copy of
//!    the bytes just checked with the plugin host's checks (ABI version,
//!    catalog signals; opening runs only the library's ELF initialisers),
//!    check the subsystem it provides, and copy it into the plugin store
//!    under a name of its own.
//! 2. [`SwapEngine`] (inside [`crate::sim::Vehicle`], between ticks): check
//!    the declared signals against the running bus (every signal the old
//!    version wrote is still written; new ones are free), create the new
//!    instance and restore the live one's snapshot into it, run it in shadow
//!    for `canary_ticks` on the same inputs as the live instance (outputs
//!    finite and in range, no error, no panic), then commit between two ticks:
//!    the live state is snapshotted once more and restored into the new
//!    instance, which takes the old one's place; the old instance is
//!    destroyed, its library stays mapped. For `probation` after the commit,
//!    a panic, an error status or an out-of-range output of a new version
//!    rolls the whole transaction back to the previous versions, restored from
//!    the snapshots taken at commit.
//!
//! Every rejection, commit and rollback becomes an event (`plugin.rejected`,
//! `plugin.swapped`, `plugin.rollback`, `plugin.rollback_failed`,
//! `plugin.probation_passed`) with the subsystem, versions and reason, and
//! the plugin store's manifest records the set that runs (see [`store`]) so
//! a restart resumes with a known-good set. A rollback that cannot restore a
//! previous version says so everywhere: the new version keeps running, the
//! outcome is [`SwapOutcome::RollbackFailed`], the event
//! `plugin.rollback_failed`, and the manifest names what runs.

mod engine;
mod prepare;
pub mod sign;
pub mod store;

pub(crate) use engine::Raised;
pub use engine::{SwapEngine, SwapSettings};
pub use prepare::{SwapPolicy, prepare, prepare_one};

use crate::plugin::{LoadError, PluginLibrary};
use serde::Serialize;
use std::path::PathBuf;

/// A swap was refused before it touched the vehicle, or by the vehicle.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SwapError {
    /// The library file could not be read or staged.
    #[error("{0}")]
    Io(String),
    /// Signature policy refused it.
    #[error(transparent)]
    Signature(#[from] sign::SignError),
    /// The plugin store refused it (a name that cannot be a file name
    /// there) or could not store it.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The plugin host refused it (ABI, unknown signal, type mismatch, create
    /// failed or panicked, ...).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The library provides another subsystem than the one it should replace.
    #[error("{path}: provides subsystem `{found}`, expected `{expected}`")]
    WrongSubsystem {
        /// The file.
        path: PathBuf,
        /// What the swap targets.
        expected: String,
        /// What the library says it is.
        found: String,
    },
    /// Its signals do not fit the running bus.
    #[error("{subsystem} {version}: incompatible signals: {reason}")]
    Incompatible {
        /// Subsystem.
        subsystem: String,
        /// Version of the refused library.
        version: String,
        /// Which signal and why.
        reason: String,
    },
    /// The targeted subsystem is not running.
    #[error("subsystem `{0}` is not running; a swap replaces a running subsystem")]
    NotRunning(String),
    /// The same subsystem twice in one transaction.
    #[error("subsystem `{0}` appears twice in one swap")]
    Duplicate(String),
    /// The transaction is empty.
    #[error("a swap needs at least one library")]
    Empty,
    /// Snapshot or restore failed.
    #[error("carrying state into {subsystem}: {reason}")]
    State {
        /// Subsystem.
        subsystem: String,
        /// What failed.
        reason: String,
    },
    /// The new version misbehaved while running in shadow.
    #[error("canary of {subsystem} {version} failed at shadow tick {tick}: {reason}")]
    Canary {
        /// Subsystem.
        subsystem: String,
        /// Version.
        version: String,
        /// Shadow tick (1-based).
        tick: u32,
        /// The error.
        reason: String,
    },
}

impl SwapError {
    /// Short machine-readable name (events, tests).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Io(_) => "io",
            Self::Signature(e) => e.kind(),
            Self::Store(store::StoreError::UnsafeName { .. }) => "unsafe_name",
            Self::Store(_) => "io",
            Self::Load(e) => e.kind(),
            Self::WrongSubsystem { .. } => "wrong_subsystem",
            Self::Incompatible { .. } => "incompatible_signals",
            Self::NotRunning(_) => "not_running",
            Self::Duplicate(_) => "duplicate",
            Self::Empty => "empty",
            Self::State { .. } => "state",
            Self::Canary { .. } => "canary",
        }
    }
}

/// One library ready to go in: opened from its staged file, checks passed.
#[derive(Debug)]
pub struct Staged {
    /// Subsystem it replaces.
    pub subsystem: String,
    /// The opened library.
    pub library: PluginLibrary,
    /// Its store entry.
    pub entry: store::Entry,
}

/// A prepared transaction.
#[derive(Debug)]
pub struct PreparedSwap {
    /// The libraries, one per subsystem.
    pub libs: Vec<Staged>,
}

/// One subsystem's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Subsystem.
    pub subsystem: String,
    /// Version before.
    pub from: String,
    /// Version after.
    pub to: String,
}

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SwapOutcome {
    /// Committed and passed probation.
    Passed(Vec<Change>),
    /// Refused; nothing changed.
    Rejected(SwapError),
    /// Committed, then rolled back during probation.
    RolledBack {
        /// What was undone.
        changes: Vec<Change>,
        /// Why.
        reason: String,
    },
    /// Committed, failed probation, and rolling back failed for at least
    /// one subsystem: those keep running their new version (`kept`, each
    /// still on its `to`). The manifest records that set as
    /// [`store::ManifestState::RollbackFailed`].
    RollbackFailed {
        /// What was undone (back on `from`).
        rolled_back: Vec<Change>,
        /// What could not be undone (still on `to`).
        kept: Vec<Change>,
        /// Why probation failed.
        reason: String,
        /// Why restoring the previous versions failed, per subsystem.
        error: String,
    },
}
