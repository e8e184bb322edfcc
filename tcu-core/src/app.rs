//! Assembling a vehicle from a configuration, and the commands of the `tcu`
//! binary that are more than argument parsing.

use crate::bus::{Bus, BusError};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::plugin::{self, LoadReport, Rejection};
use crate::sim::{Event, Hooks, StatusEvery, TickHook, Vehicle};
use crate::world::World;
use crate::world::dynamics::VehicleParams;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tcu_sdk::rng::derive_seed;

/// A vehicle could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The plugin directory could not be read.
    #[error("reading plugin directory {path}: {source}")]
    PluginDir {
        /// Directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The catalog lacks a signal the world model needs (a build defect).
    #[error("setting up the world model: {0}")]
    World(BusError),
    /// An initial signal value was refused.
    #[error("applying initial value of {0}")]
    Initial(BusError),
}

/// Default plugin directory: the directory of the running executable, so that
/// `cargo build` output works as it is.
pub fn default_plugins_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Builds a vehicle: bus, world (which claims its sensors first), initial
/// actuator values, then every plugin of the directory. Bad plugins are
/// returned as rejections; the vehicle runs without them.
pub fn build_vehicle(
    config: &Config,
    catalog: Arc<Catalog>,
) -> Result<(Vehicle, Vec<Rejection>), BuildError> {
    let dir = config
        .plugins_dir
        .clone()
        .unwrap_or_else(default_plugins_dir);
    build_vehicle_with(config, catalog, |bus| {
        plugin::load_dir(&dir, bus, config.seed).map_err(|source| BuildError::PluginDir {
            path: dir.clone(),
            source,
        })
    })
}

/// As [`build_vehicle`], with the plugins supplied by `load` (which admits
/// them onto the bus it is given) instead of read from a directory.
pub fn build_vehicle_with(
    config: &Config,
    catalog: Arc<Catalog>,
    load: impl FnOnce(&mut Bus) -> Result<LoadReport, BuildError>,
) -> Result<(Vehicle, Vec<Rejection>), BuildError> {
    let mut bus = Bus::new(catalog);
    let world = World::new(
        &mut bus,
        VehicleParams::default(),
        derive_seed(config.seed, "world"),
    )
    .map_err(BuildError::World)?;
    for (path, value) in &config.signals {
        bus.set_actuator(path, *value)
            .map_err(BuildError::Initial)?;
    }
    let report = load(&mut bus)?;
    let vehicle = Vehicle::new(
        bus,
        world,
        report.plugins,
        config.driver,
        config.tick_rate_hz,
    );
    Ok((vehicle, report.rejected))
}

/// Runs one vehicle in real time without a dashboard until `duration` or
/// until `stop` is set, logging a status line every status interval.
pub fn run_headless(
    config: &Config,
    duration: Option<std::time::Duration>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> Result<crate::sim::RunOutcome, BuildError> {
    let catalog = Arc::new(Catalog::builtin());
    let (mut vehicle, rejected) = build_vehicle(config, catalog)?;
    tracing::info!(vin = %config.vin, seed = config.seed, tick_rate_hz = config.tick_rate_hz, "vehicle assembled");
    for event in vehicle.drain_events() {
        tracing::info!(kind = %event.kind, "{}", event.detail);
    }
    for r in &rejected {
        tracing::warn!(kind = r.error.kind(), "plugin rejected: {}", r.error);
    }
    if vehicle.plugins().is_empty() {
        tracing::warn!("no plugins loaded: only the world model runs");
    }
    let settings = crate::sim::RunSettings { duration };
    let mut clock = crate::sim::clock::RealClock::new();
    let mut status = StatusEvery::new(config.status_interval, vehicle.dt(), |s| {
        tracing::info!("{s}");
    });
    let mut events = LogEvents;
    let mut hooks = Hooks(vec![&mut status, &mut events]);
    let outcome = crate::sim::run(&mut vehicle, &mut clock, &settings, stop, &mut hooks);
    tracing::info!(
        ticks = outcome.ticks,
        late = outcome.late_ticks,
        skipped = outcome.skipped_ticks,
        interrupted = outcome.interrupted,
        "stopped"
    );
    Ok(outcome)
}

/// Runs one vehicle in real time with the terminal dashboard (see
/// [`crate::dashboard`]) until quit, `stop`, or `duration`. Tracing should
/// already write into `log`, so nothing but the dashboard draws on the screen.
pub fn run_dashboard(
    config: &Config,
    duration: Option<std::time::Duration>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    log: crate::dashboard::LogSink,
) -> anyhow::Result<crate::sim::RunOutcome> {
    let catalog = Arc::new(Catalog::builtin());
    let (mut vehicle, rejected) = build_vehicle(config, catalog)?;
    for r in &rejected {
        tracing::warn!(kind = r.error.kind(), "plugin rejected: {}", r.error);
    }
    let options = crate::dashboard::Options {
        duration,
        log: Some(log),
        ..Default::default()
    };
    let outcome = crate::dashboard::run(&mut vehicle, &config.vin, stop, options)?;
    Ok(outcome)
}

/// Logs every event the vehicle raises while it runs.
#[derive(Debug)]
struct LogEvents;

impl TickHook for LogEvents {
    fn after_tick(&mut self, _vehicle: &Vehicle, events: &[Event]) {
        for e in events {
            if e.kind == "fault" {
                tracing::warn!(kind = %e.kind, t = e.t, "{}", e.detail);
            } else {
                tracing::info!(kind = %e.kind, t = e.t, "{}", e.detail);
            }
        }
    }
}

/// Text rendering of a plugin's descriptor for `tcu plugin inspect`.
pub fn describe_plugin(info: &plugin::PluginInfo, path: &Path) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} {} (ABI {})",
        path.display(),
        info.name,
        info.version,
        info.abi_version
    );
    for (title, list) in [("reads", &info.reads), ("writes", &info.writes)] {
        let _ = writeln!(out, "  {title} ({}):", list.len());
        for d in list {
            let _ = writeln!(out, "    {} : {}", d.path, d.datatype);
        }
    }
    out
}
