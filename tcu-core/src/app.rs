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
    /// The MQTT link could not be set up.
    #[error(transparent)]
    Mqtt(#[from] crate::mqtt::MqttError),
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
    let mut startup_events = vehicle.drain_events();
    for event in &startup_events {
        tracing::info!(kind = %event.kind, "{}", event.detail);
    }
    for r in &rejected {
        tracing::warn!(kind = r.error.kind(), "plugin rejected: {}", r.error);
        // Published over MQTT with the plugin loads.
        startup_events.push(Event {
            t: 0.0,
            kind: "plugin.rejected".into(),
            detail: r.error.to_string(),
        });
    }
    if vehicle.plugins().is_empty() {
        tracing::warn!("no plugins loaded: only the world model runs");
    }
    let settings = crate::sim::RunSettings { duration };
    let mut clock = crate::sim::clock::RealClock::new();
    let (mut mqtt, mut inbox) = start_mqtt(config, &vehicle, &startup_events)?;
    let metrics = mqtt.as_ref().map(|(_, h)| h.metrics().clone());
    let mut status = StatusEvery::new(config.status_interval, vehicle.dt(), |s| match &metrics {
        Some(m) => tracing::info!("{s} {m}"),
        None => tracing::info!("{s}"),
    });
    let mut events = LogEvents;
    let mut hooks = Hooks(vec![&mut inbox, &mut status, &mut events]);
    if let Some((hook, _)) = mqtt.as_mut() {
        hooks.0.push(hook);
    }
    let outcome = crate::sim::run(&mut vehicle, &mut clock, &settings, stop, &mut hooks);
    if let Some((_, handle)) = mqtt {
        handle.shutdown();
    }
    tracing::info!(
        ticks = outcome.ticks,
        late = outcome.late_ticks,
        skipped = outcome.skipped_ticks,
        interrupted = outcome.interrupted,
        "stopped"
    );
    Ok(outcome)
}

/// Starts the MQTT link of `config` (if enabled) for `vehicle`, with a
/// control inbox for its commands (add the inbox to the run's hooks);
/// `startup` are the events raised before the run (plugin loads).
pub fn start_mqtt(
    config: &Config,
    vehicle: &Vehicle,
    startup: &[Event],
) -> Result<
    (
        Option<(crate::mqtt::MqttHook, crate::mqtt::MqttHandle)>,
        crate::control::ControlInbox,
    ),
    BuildError,
> {
    let (control, inbox) = crate::control::channel();
    if !config.mqtt.enabled {
        return Ok((None, inbox));
    }
    let (mut hook, handle) = crate::mqtt::start(&config.mqtt, &config.vin, vehicle, Some(control))?;
    hook.publish_events(startup);
    Ok((Some((hook, handle)), inbox))
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
