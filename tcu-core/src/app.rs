//! Assembling a vehicle from a configuration, and the commands of the `tcu`
//! binary that are more than argument parsing.

use crate::bus::{Bus, BusError};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::plugin::{self, LoadReport, Rejection};
use crate::sim::{Event, Hooks, StatusEvery, TickHook, Vehicle};
use crate::swap::sign::SignError;
use crate::swap::store::{Store, StoreError};
use crate::swap::watch::WatchError;
use crate::swap::{SwapEngine, SwapPolicy, SwapSettings};
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
    /// The plugin store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The hot-swap policy is unusable (a trusted key cannot be read).
    #[error("[hotswap] trusted_keys: {0}")]
    Policy(#[from] SignError),
    /// `--watch` could not be set up.
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// The OTA client could not be started.
    #[error("[ota] {0}")]
    Ota(#[from] tcu_ota_client::OtaError),
}

/// Default plugin directory: the directory of the running executable, so that
/// `cargo build` output works as it is.
pub fn default_plugins_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The configured plugin store, or a scratch staging area without one.
pub fn open_store(config: &Config) -> Result<Store, BuildError> {
    Ok(match &config.hotswap.store {
        Some(dir) => Store::open(dir)?,
        None => Store::scratch(),
    })
}

/// Builds a vehicle: bus, world (which claims its sensors first), initial
/// actuator values, then every plugin of the directory, with the plugin
/// store's known-good versions in place of the directory's where it has
/// any. Bad plugins are returned as rejections; the vehicle runs without
/// them.
pub fn build_vehicle(
    config: &Config,
    catalog: Arc<Catalog>,
) -> Result<(Vehicle, Vec<Rejection>), BuildError> {
    let dir = config
        .plugins_dir
        .clone()
        .unwrap_or_else(default_plugins_dir);
    let store = open_store(config)?;
    let (active, warnings) = if store.is_persistent() {
        store.known_good()?
    } else {
        Default::default()
    };
    for w in &warnings {
        tracing::warn!("plugin store: {w}");
    }
    let overrides = active
        .iter()
        .map(|(name, entry)| (name.clone(), store.path_of(entry)))
        .collect();
    let (mut vehicle, rejected) = build_vehicle_with(config, catalog, |bus| {
        plugin::load_dir_with(&dir, &overrides, bus, config.seed).map_err(|source| {
            BuildError::PluginDir {
                path: dir.clone(),
                source,
            }
        })
    })?;
    let settings = SwapSettings {
        canary_ticks: config.hotswap.canary_ticks,
        probation_ticks: (config.hotswap.probation.as_secs_f64() * config.tick_rate_hz).round()
            as u64,
        seed: config.seed,
    };
    vehicle.set_swap_engine(SwapEngine::new(settings, Some(store), active));
    for w in warnings {
        vehicle.raise("plugin.store", w);
    }
    Ok((vehicle, rejected))
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
/// until `stop` is set, logging a status line every status interval. With
/// `watch`, rebuilt libraries written there are hot-swapped.
pub fn run_headless(
    config: &Config,
    duration: Option<std::time::Duration>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    watch: Option<&Path>,
) -> Result<crate::sim::RunOutcome, BuildError> {
    let catalog = Arc::new(Catalog::builtin());
    let policy = SwapPolicy::from_config(&config.hotswap)?;
    let (mut vehicle, rejected) = build_vehicle(config, catalog.clone())?;
    let (control, mut inbox) = crate::control::channel();
    let _watcher = match watch {
        Some(dir) => Some(crate::swap::watch::start(
            dir,
            policy,
            catalog,
            open_store(config)?,
            control.clone(),
        )?),
        None => None,
    };
    let mut ota = crate::ota::start(
        config,
        &vehicle,
        SwapPolicy::from_config(&config.hotswap)?,
        Arc::new(Catalog::builtin()),
        open_store(config)?,
        control.clone(),
        stop.clone(),
    )?;
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
    let mut hooks = Hooks(vec![&mut inbox, &mut status, &mut events]);
    if let Some(ota) = ota.as_mut() {
        hooks.0.push(ota);
    }
    let outcome = crate::sim::run(&mut vehicle, &mut clock, &settings, stop, &mut hooks);
    tracing::info!(
        ticks = outcome.ticks,
        late = outcome.late_ticks,
        skipped = outcome.skipped_ticks,
        interrupted = outcome.interrupted,
        "stopped"
    );
    vehicle.swap_engine().flush_store();
    Ok(outcome)
}

/// Logs every event the vehicle raises while it runs.
#[derive(Debug)]
struct LogEvents;

impl TickHook for LogEvents {
    fn after_tick(&mut self, _vehicle: &Vehicle, events: &[Event]) {
        for e in events {
            if matches!(
                e.kind.as_str(),
                "fault" | "plugin.rejected" | "plugin.rollback"
            ) {
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
