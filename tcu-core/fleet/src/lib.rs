//! Fleet mode: thousands of vehicles in one process, each the same vehicle
//! `tcu run` runs (same plugins, world model, bus, MQTT contract, commands
//! and outbox), with its own VIN, seed, client id, last will, retained
//! status and outbox. The plugin libraries are loaded once; each vehicle has
//! its own instances. A few worker threads step all vehicles on their own
//! deadlines; the links run as tasks on a few single-threaded runtimes
//! (`links`), their connections spaced by one gate.
//!
//! Modules, lowest first: [`vin`] (VINs with check digits), [`shard`]
//! (slices of a fleet across processes), [`mix`] (the fleet file: shares
//! of drivers, ambient temperatures, states of charge, occupants, steps),
//! [`steps`] (steps for one VIN, a share or all), [`plan`] (members: VIN,
//! seed, start offset), [`ota`] (every vehicle a DDI controller, polled by
//! a small pool), `restart` (a vehicle started from its store, again after
//! a power-off), [`shaper`] (misbehaving links), [`worker`] (stepping), [`status`] (summary, progress,
//! JSON lines), [`descriptors`] (the open-file limit a fleet needs),
//! [`run`] (assembly and shutdown).

mod crews;
pub mod descriptors;
pub mod mix;
pub mod ota;
pub mod plan;
pub(crate) mod restart;
pub mod run;
pub mod shaper;
pub mod shard;
pub mod status;
pub mod steps;
pub mod vin;
pub mod worker;

pub use run::{FleetOutcome, FleetSettings, run, run_observed};
pub use shard::Shard;

/// A fleet could not be run.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The fleet's size, prefix or shard is unusable.
    #[error("fleet: {0}")]
    Plan(String),
    /// A per-vehicle setting would be the same for every vehicle.
    #[error(
        "{field} = `{value}` has no {{vin}}: every vehicle of a fleet needs its own (e.g. `tcu-{{vin}}`, `vehicle/{{vin}}`)"
    )]
    Template {
        /// Field.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// A vehicle could not be assembled.
    #[error(transparent)]
    Build(#[from] tcu_engine::build::BuildError),
    /// A link could not be set up.
    #[error(transparent)]
    Mqtt(#[from] tcu_link::MqttError),
    /// A crew (the thread and runtime that steps vehicles and runs their
    /// links) could not be started.
    #[error("starting the fleet's crew threads: {0}")]
    Runtime(std::io::Error),
    /// A worker thread could not be started.
    #[error("starting a fleet worker thread: {0}")]
    Thread(std::io::Error),
    /// A worker thread panicked.
    #[error("a fleet worker thread panicked")]
    WorkerPanicked,
    /// A vehicle could not be made a DDI controller.
    #[error("OTA client of {vin}: {message}")]
    Ota {
        /// The vehicle.
        vin: String,
        /// What failed.
        message: String,
    },
    /// The stats file could not be created.
    #[error("creating the stats file {path}: {source}")]
    Stats {
        /// File.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}
