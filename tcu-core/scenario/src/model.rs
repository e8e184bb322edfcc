//! The scenario file as written: serde types mirroring the TOML, every field
//! a user may get wrong wrapped in [`Spanned`] so that a later semantic error
//! (unknown signal, value out of range, time past the end) can name the line
//! and column of the offending value. Nothing here is validated beyond the
//! shape of the TOML; [`super::parse`] resolves it against the catalog.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// The six subsystems, loaded when a scenario does not say which.
pub const DEFAULT_PLUGINS: [&str; 6] =
    ["battery", "abs", "engine", "airbag", "hvac", "heated-seats"];

/// A map from a signal path to a value, both with their positions.
pub type SignalMap = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Short title (the JUnit test suite name).
    pub name: String,
    /// What the story is.
    #[serde(default)]
    pub description: String,
    /// Seed of every random source (default 1, or the replayed trace's).
    #[serde(default)]
    pub seed: Option<u64>,
    /// A recorded trace (`tcu run --record`) whose world inputs drive the
    /// vehicle instead of the world model, relative to the file.
    #[serde(default)]
    pub replay: Option<Spanned<String>>,
    /// Largest difference allowed between a plugin output and its recorded
    /// value (absolute, or relative to the larger magnitude).
    #[serde(default)]
    pub replay_tolerance: Option<Spanned<f64>>,
    /// Steps per second.
    #[serde(default)]
    pub tick_rate_hz: Option<Spanned<f64>>,
    /// Simulated seconds to run.
    pub duration: Spanned<f64>,
    /// `[vehicle]`
    #[serde(default)]
    pub vehicle: RawVehicle,
    /// `[occupants]`: seat -> `empty` / `unbelted` / `belted`.
    #[serde(default)]
    pub occupants: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// `[signals]`: initial actuator values.
    #[serde(default)]
    pub signals: SignalMap,
    /// `[[environment]]`: ambient temperature and friction over time.
    #[serde(default)]
    pub environment: Vec<Spanned<RawEnvironment>>,
    /// `[trace]`
    #[serde(default)]
    pub trace: RawTrace,
    /// `[[step]]`: the timeline.
    #[serde(default)]
    pub step: Vec<Spanned<RawStep>>,
    /// `[[expect]]`
    #[serde(default)]
    pub expect: Vec<Spanned<RawExpect>>,
}

/// `[vehicle]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVehicle {
    /// VIN (default: the default configuration's).
    pub vin: Option<Spanned<String>>,
    /// Plugin directory, relative to the scenario file.
    pub plugins_dir: Option<Spanned<String>>,
    /// Subsystem names or library paths (default: the six subsystems).
    pub plugins: Option<Vec<Spanned<String>>>,
}

/// One `[[environment]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvironment {
    /// When, s.
    pub at: Spanned<f64>,
    /// Ambient air, °C.
    pub air_temperature: Option<Spanned<f64>>,
    /// Tyre-road friction coefficient.
    pub road_friction: Option<Spanned<f64>>,
    /// Ramp from the current value over this many seconds (default: jump).
    pub over: Option<Spanned<f64>>,
}

/// `[trace]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrace {
    /// Sampling interval, ms (default 100).
    pub interval_ms: Option<Spanned<u64>>,
    /// Write every traced signal at every sample, not only changes.
    #[serde(default)]
    pub all: bool,
    /// Only these signals (default: every signal written during the run).
    pub signals: Option<Vec<Spanned<String>>>,
}

/// A condition on one signal (`when` of a step).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    /// Signal path.
    pub signal: Spanned<String>,
    /// Equal within `tolerance`.
    pub equals: Option<Spanned<toml::Value>>,
    /// Absolute tolerance of `equals`.
    pub tolerance: Option<Spanned<f64>>,
    /// Strictly above.
    pub above: Option<Spanned<f64>>,
    /// Strictly below.
    pub below: Option<Spanned<f64>>,
    /// Inclusive range.
    pub between: Option<Spanned<[f64; 2]>>,
}

/// Value predicate fields of a condition or an expectation, borrowed;
/// exactly one of `equals`, `above`, `below`, `between` must be present.
#[derive(Debug, Clone, Copy)]
pub struct RawPredicate<'a> {
    /// Equal within `tolerance`.
    pub equals: Option<&'a Spanned<toml::Value>>,
    /// Absolute tolerance of `equals`.
    pub tolerance: Option<&'a Spanned<f64>>,
    /// Strictly above.
    pub above: Option<&'a Spanned<f64>>,
    /// Strictly below.
    pub below: Option<&'a Spanned<f64>>,
    /// Inclusive range.
    pub between: Option<&'a Spanned<[f64; 2]>>,
}

macro_rules! predicate_of {
    ($t:ty) => {
        impl $t {
            /// The predicate fields.
            pub fn predicate(&self) -> RawPredicate<'_> {
                RawPredicate {
                    equals: self.equals.as_ref(),
                    tolerance: self.tolerance.as_ref(),
                    above: self.above.as_ref(),
                    below: self.below.as_ref(),
                    between: self.between.as_ref(),
                }
            }
        }
    };
}
predicate_of!(RawCondition);
predicate_of!(RawExpect);

/// One `[[step]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Time, s (with `when`: not before this time).
    pub at: Option<Spanned<f64>>,
    /// Fire once, the first time this holds.
    pub when: Option<Spanned<RawCondition>>,
    /// Set actuators through the control path, all or nothing.
    pub set: Option<Spanned<SignalMap>>,
    /// Ramp one actuator.
    pub ramp: Option<Spanned<RawRamp>>,
    /// Crash pulse with this peak, g.
    pub crash: Option<Spanned<f64>>,
    /// A command as if received over MQTT.
    pub command: Option<Spanned<RawCommand>>,
    /// Fault injection.
    pub fault: Option<Spanned<RawFault>>,
    /// Hot-swap a subsystem.
    pub swap: Option<Spanned<RawSwap>>,
}

/// `ramp = { signal, to, over }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRamp {
    /// Actuator path.
    pub signal: Spanned<String>,
    /// Final value.
    pub to: Spanned<f64>,
    /// Duration, s.
    pub over: Spanned<f64>,
}

/// `command = { set = {...} }` or `command = { subsystem, name, value }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommand {
    /// All-or-nothing actuator write.
    pub set: Option<SignalMap>,
    /// Plugin command: subsystem.
    pub subsystem: Option<Spanned<String>>,
    /// Plugin command: name.
    pub name: Option<Spanned<String>>,
    /// Plugin command: argument.
    pub value: Option<Spanned<f64>>,
    /// `accepted` (default) or `rejected`.
    pub expect: Option<Spanned<String>>,
}

/// `fault = { ... }`: exactly one kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    /// Stuck (dead) wheel sensor: a wheel name or `none`.
    pub wheel_sensor: Option<Spanned<String>>,
    /// Noisy wheel sensor: a wheel name or `none`.
    pub noisy_wheel: Option<Spanned<String>>,
    /// Noise amplitude of `noisy_wheel`, km/h.
    pub amplitude: Option<Spanned<f64>>,
    /// Make this subsystem's ticks fail.
    pub plugin_errors: Option<Spanned<String>>,
    /// For this many ticks (default: until cleared).
    pub ticks: Option<Spanned<u64>>,
    /// End an injection of `plugin_errors`.
    pub clear_plugin_errors: Option<Spanned<String>>,
}

/// `swap = { subsystem, library }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSwap {
    /// Subsystem name.
    pub subsystem: Spanned<String>,
    /// Library file, relative to the scenario file.
    pub library: Spanned<String>,
}

/// One `[[expect]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// Test case name (default: generated from the expectation).
    pub name: Option<String>,
    /// Signal path (signal expectations).
    pub signal: Option<Spanned<String>>,
    /// Event kind (event expectations).
    pub event: Option<Spanned<String>>,
    /// Event detail must contain this.
    pub detail: Option<String>,
    /// Exactly this many matching events (default: at least one).
    pub count: Option<usize>,
    /// Equal within `tolerance`.
    pub equals: Option<Spanned<toml::Value>>,
    /// Absolute tolerance of `equals`.
    pub tolerance: Option<Spanned<f64>>,
    /// Strictly above.
    pub above: Option<Spanned<f64>>,
    /// Strictly below.
    pub below: Option<Spanned<f64>>,
    /// Inclusive range.
    pub between: Option<Spanned<[f64; 2]>>,
    /// Value rose by at least this much over the window.
    pub increases_by: Option<Spanned<f64>>,
    /// Value fell by at least this much over the window.
    pub decreases_by: Option<Spanned<f64>>,
    /// At this time.
    pub at: Option<Spanned<f64>>,
    /// In every sample of the window.
    pub always: Option<Spanned<bool>>,
    /// In some sample of the window.
    pub eventually: Option<Spanned<bool>>,
    /// In no sample of the window.
    pub never: Option<Spanned<bool>>,
    /// The window `[from, until]`, s (default: the whole run).
    pub within: Option<Spanned<[f64; 2]>>,
}
