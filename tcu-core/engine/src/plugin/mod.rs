//! The plugin host: opens subsystem libraries, checks them against the ABI and
//! the catalog before running any of their code, creates instances and drives
//! them through the C ABI.
//!
//! Loading order of checks, each with its own [`LoadError`]: the caller's
//! check of the file's bytes, if any (the signature, when trusted keys are
//! configured: see `crate::build`), then the file must open as a shared
//! library, export the descriptor symbol, carry our ABI version and a
//! descriptor at least as large as ours, name only catalog signals with the
//! catalog's datatypes, and write nothing another component writes. Only
//! then is `create` called (a failure or a panic there is also typed).
//!
//! What runs when: opening a library (to load it, or only to read its
//! descriptor with [`inspect`]) maps it, which runs its ELF initialisers:
//! the C runtime's, a Rust library's standard-library set-up, and any
//! constructor its author wrote. None of its entry points runs before the
//! checks pass. A library is therefore never unloaded once opened: its
//! handle is leaked on purpose, because unloading code that ran (and may
//! have registered destructors or handed out pointers) is unsound. Each is
//! loaded from a private in-memory copy of the bytes read, so every version
//! is a file of its own to the dynamic loader, which caches by path. Once a
//! copy is mapped, the pages no loadable segment maps are punched out of it
//! and the pages the loading touched leave the page tables (see
//! `crate::resident`): a copy costs what its code uses, not its file size.

mod descriptor;
mod elf;
mod instance;
mod library;
mod loader;

pub use descriptor::{PluginInfo, SignalDecl};
pub use instance::{PluginInstance, TickError};
pub use library::{PluginLibrary, inspect};
pub use loader::{
    CheckBytes, LoadReport, Rejection, admit, admit_library, admit_shared, find_libraries,
    load_dir, load_dir_checked, load_dir_with, open_dir, open_dir_checked,
};

use std::path::PathBuf;

/// Why a library was not admitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    /// The file is not a loadable shared library.
    #[error("loading plugin {path}: not a shared library: {reason}")]
    NotALibrary {
        /// File.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// The descriptor symbol is missing.
    #[error("loading plugin {path}: symbol `tcu_plugin_descriptor` not found (not a TCU plugin?)")]
    SymbolMissing {
        /// File.
        path: PathBuf,
    },
    /// Built against another ABI version.
    #[error("loading plugin {path}: ABI {found}, host supports {expected}")]
    AbiMismatch {
        /// File.
        path: PathBuf,
        /// The library's ABI version.
        found: u32,
        /// Ours.
        expected: u32,
    },
    /// The descriptor is smaller than ours (built against an older layout).
    #[error("loading plugin {path}: descriptor is {found} bytes, host needs at least {expected}")]
    TruncatedDescriptor {
        /// File.
        path: PathBuf,
        /// Declared size.
        found: u32,
        /// Our size.
        expected: u32,
    },
    /// A null or malformed field.
    #[error("loading plugin {path}: invalid descriptor: {reason}")]
    InvalidDescriptor {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Declares a signal that is not in the catalog.
    #[error("loading plugin {path} ({plugin}): unknown signal `{signal}`")]
    UnknownSignal {
        /// File.
        path: PathBuf,
        /// Subsystem name.
        plugin: String,
        /// The path it declared.
        signal: String,
    },
    /// Declares a signal with another datatype than the catalog's.
    #[error(
        "loading plugin {path} ({plugin}): `{signal}` declared as {declared}, catalog says {catalog}"
    )]
    TypeMismatch {
        /// File.
        path: PathBuf,
        /// Subsystem name.
        plugin: String,
        /// Signal path.
        signal: String,
        /// What the plugin declared.
        declared: String,
        /// What the catalog says.
        catalog: String,
    },
    /// Wants to write a signal someone else writes.
    #[error("loading plugin {path} ({plugin}): `{signal}` is already written by {owner}")]
    SecondWriter {
        /// File.
        path: PathBuf,
        /// Subsystem name.
        plugin: String,
        /// Signal path.
        signal: String,
        /// Current owner.
        owner: String,
    },
    /// Another library already provides this subsystem.
    #[error("loading plugin {path}: subsystem `{plugin}` is already provided by {other}")]
    DuplicateSubsystem {
        /// File.
        path: PathBuf,
        /// Subsystem name.
        plugin: String,
        /// The library already loaded.
        other: PathBuf,
    },
    /// `create` returned an error.
    #[error("loading plugin {path} ({plugin}): create failed ({status}): {message}")]
    CreateFailed {
        /// File.
        path: PathBuf,
        /// Subsystem name.
        plugin: String,
        /// Status name.
        status: String,
        /// The plugin's message.
        message: String,
    },
    /// Refused before it was opened by the caller's check of its bytes
    /// (with trusted keys configured: its signature).
    #[error("loading plugin {path}: refused: {reason}")]
    Refused {
        /// File.
        path: PathBuf,
        /// Short name of the refusal (`unsigned`, `bad_signature`).
        kind: &'static str,
        /// Why.
        reason: String,
    },
    /// `create` panicked (caught at the boundary).
    #[error("loading plugin {path} ({plugin}): create panicked: {message}")]
    Panic {
        /// File.
        path: PathBuf,
        /// Subsystem name.
        plugin: String,
        /// The panic message.
        message: String,
    },
}

impl LoadError {
    /// The same error reported against another file name (a library opened
    /// from a staged copy is reported against the file the user named).
    pub fn with_path(mut self, new: &std::path::Path) -> Self {
        match &mut self {
            Self::NotALibrary { path, .. }
            | Self::SymbolMissing { path }
            | Self::AbiMismatch { path, .. }
            | Self::TruncatedDescriptor { path, .. }
            | Self::InvalidDescriptor { path, .. }
            | Self::UnknownSignal { path, .. }
            | Self::TypeMismatch { path, .. }
            | Self::SecondWriter { path, .. }
            | Self::DuplicateSubsystem { path, .. }
            | Self::CreateFailed { path, .. }
            | Self::Refused { path, .. }
            | Self::Panic { path, .. } => *path = new.to_owned(),
        }
        self
    }

    /// A short machine-readable name of the failure (for events and tests).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotALibrary { .. } => "not_a_library",
            Self::SymbolMissing { .. } => "symbol_missing",
            Self::AbiMismatch { .. } => "abi_mismatch",
            Self::TruncatedDescriptor { .. } => "truncated_descriptor",
            Self::InvalidDescriptor { .. } => "invalid_descriptor",
            Self::UnknownSignal { .. } => "unknown_signal",
            Self::TypeMismatch { .. } => "type_mismatch",
            Self::SecondWriter { .. } => "second_writer",
            Self::DuplicateSubsystem { .. } => "duplicate_subsystem",
            Self::CreateFailed { .. } => "create_failed",
            Self::Refused { kind, .. } => kind,
            Self::Panic { .. } => "panic",
        }
    }
}
