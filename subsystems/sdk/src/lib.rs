//! SDK for TCU subsystem plugins.
//!
//! [`abi`] is the C contract between the core and a subsystem library. The rest
//! of this crate is the safe Rust side: implement [`Subsystem`] for a type and
//! call [`export_subsystem!`] once, and the crate builds into a library the
//! TCU loads. Every entry point generated here runs the plugin code inside
//! `catch_unwind`, so a panic becomes [`abi::TCU_STATUS_PANIC`] instead of an
//! abort across the boundary.
//!
//! Rules for plugin authors (the host relies on them): no threads, no
//! thread-local values with destructors, no allocation in `tick` on the normal
//! path, and state that survives a hot swap goes through `snapshot`/`restore`.

pub mod abi;
mod glue;
pub mod physics;
pub mod rng;
pub mod vehicle;

pub use glue::descriptor;

use core::ffi::CStr;
use core::fmt;

/// An error reported by a plugin; the message reaches the host's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError(pub String);

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PluginError {}

impl From<&str> for PluginError {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for PluginError {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// A simulated ECU. One instance per vehicle; the host calls `tick` once per
/// simulation step with the declared inputs and outputs.
pub trait Subsystem: Sized + 'static {
    /// Subsystem name (`battery`, `abs`, ...): what an update replaces.
    const NAME: &'static CStr;
    /// Semantic version of this implementation.
    const VERSION: &'static CStr;
    /// Signals read, in the order `tick` receives them.
    const READS: &'static [abi::TcuSignalDecl];
    /// Signals written, in the order `tick` fills them.
    const WRITES: &'static [abi::TcuSignalDecl];

    /// Builds the initial state; `seed` feeds every random source.
    fn create(seed: u64) -> Result<Self, PluginError>;

    /// Advances by `dt` seconds. `outputs` arrives holding the current bus
    /// values of the written signals, so leaving a slot alone keeps it.
    fn tick(&mut self, dt: f64, inputs: &[f64], outputs: &mut [f64]) -> Result<(), PluginError>;

    /// A plugin-specific command. The default knows none.
    fn command(&mut self, name: &str, value: f64) -> Result<(), CommandError> {
        let _ = value;
        Err(CommandError::Unsupported(name.to_owned()))
    }

    /// Serialises the state that must survive a hot swap.
    fn snapshot(&self) -> Vec<u8>;

    /// Restores a state written by `snapshot` of this or an earlier version.
    fn restore(&mut self, bytes: &[u8]) -> Result<(), PluginError>;
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The plugin does not know the command.
    Unsupported(String),
    /// The command is known but failed.
    Failed(PluginError),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsupported(name) => write!(f, "unsupported command `{name}`"),
            Self::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// Exports a [`Subsystem`] implementation as the library's descriptor symbol.
///
/// Use it once, in the crate built as the `cdylib`.
#[macro_export]
macro_rules! export_subsystem {
    ($ty:ty) => {
        /// Descriptor of this subsystem library, read by the TCU host.
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals)]
        pub static tcu_plugin_descriptor: $crate::abi::TcuPluginDescriptor =
            $crate::descriptor::<$ty>();
    };
}
