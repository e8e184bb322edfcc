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
#[cfg(feature = "catalog")]
pub mod catalog;
pub mod dtc;
mod glue;
pub mod physics;
pub mod rng;
#[cfg(feature = "snapshot")]
pub mod snapshot;
#[cfg(feature = "testing")]
pub mod testing;
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

/// Checks the arguments of [`Subsystem::tick`] before a model reads them: a
/// finite, non-negative `dt` and one slot per declared read and write.
///
/// The glue already passes slices of the declared lengths; this guards
/// models that are called directly (benchmarks, wrappers, tests). The error
/// names the subsystem: `battery: invalid time step -1`.
pub fn check_tick<T: Subsystem>(
    dt: f64,
    inputs: &[f64],
    outputs: &[f64],
) -> Result<(), PluginError> {
    if !(dt.is_finite() && dt >= 0.0) {
        return Err(PluginError(format!(
            "{}: invalid time step {dt}",
            T::NAME.to_string_lossy()
        )));
    }
    if inputs.len() != T::READS.len() || outputs.len() != T::WRITES.len() {
        return Err(PluginError(format!(
            "{}: expected {} inputs and {} outputs, got {} and {}",
            T::NAME.to_string_lossy(),
            T::READS.len(),
            T::WRITES.len(),
            inputs.len(),
            outputs.len()
        )));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use abi::{TCU_TYPE_FLOAT, TcuSignalDecl};

    struct Probe;

    impl Subsystem for Probe {
        const NAME: &'static CStr = c"probe";
        const VERSION: &'static CStr = c"0.0.0";
        const READS: &'static [TcuSignalDecl] = &[
            TcuSignalDecl::new(c"Vehicle.Speed", TCU_TYPE_FLOAT),
            TcuSignalDecl::new(c"Vehicle.Exterior.AirTemperature", TCU_TYPE_FLOAT),
        ];
        const WRITES: &'static [TcuSignalDecl] =
            &[TcuSignalDecl::new(c"Sim.Cabin.HVAC.Power", TCU_TYPE_FLOAT)];

        fn create(_seed: u64) -> Result<Self, PluginError> {
            Ok(Self)
        }

        fn tick(
            &mut self,
            dt: f64,
            inputs: &[f64],
            outputs: &mut [f64],
        ) -> Result<(), PluginError> {
            check_tick::<Self>(dt, inputs, outputs)
        }

        fn snapshot(&self) -> Vec<u8> {
            Vec::new()
        }

        fn restore(&mut self, _bytes: &[u8]) -> Result<(), PluginError> {
            Ok(())
        }
    }

    #[test]
    fn check_tick_accepts_the_declared_lengths_and_any_finite_step() {
        for dt in [0.0, 1e-6, 0.01, 3600.0] {
            assert_eq!(Probe.tick(dt, &[0.0; 2], &mut [0.0; 1]), Ok(()));
        }
    }

    #[test]
    fn check_tick_refuses_a_bad_step_naming_the_subsystem() {
        for dt in [-1.0, f64::NAN, f64::INFINITY] {
            let err = Probe
                .tick(dt, &[0.0; 2], &mut [0.0; 1])
                .expect_err("bad dt");
            assert_eq!(err.0, format!("probe: invalid time step {dt}"));
        }
    }

    #[test]
    fn check_tick_refuses_slices_of_other_lengths() {
        let err = Probe
            .tick(0.01, &[0.0; 3], &mut [])
            .expect_err("bad lengths");
        assert_eq!(err.0, "probe: expected 2 inputs and 1 outputs, got 3 and 0");
    }
}
