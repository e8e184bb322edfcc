//! Assembling a vehicle from its configuration: bus, world model, initial
//! values, plugins (from a directory, with the plugin store's known-good
//! versions in their place) and the hot-swap engine. Every front end that
//! runs a vehicle (the `tcu` binary, the scenario runner, the fleet, the
//! tests) builds it here.

use crate::bus::{Bus, BusError};
use crate::catalog::Catalog;
use crate::config::VehicleConfig;
use crate::plugin::{self, LoadError, LoadReport, PluginLibrary, Rejection};
use crate::sim::Vehicle;
use crate::swap::sign::SignError;
use crate::swap::store::{Store, StoreError};
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
pub fn open_store(config: &VehicleConfig) -> Result<Store, BuildError> {
    Ok(match &config.hotswap.store {
        Some(dir) => Store::open(dir)?,
        None => Store::scratch(),
    })
}

/// The start-up rule for signatures, the same as for swaps: with trusted
/// keys configured (`[hotswap] trusted_keys`), every library a vehicle runs
/// must be signed by one of them, or be unsigned while `[hotswap]
/// allow_unsigned` says unsigned libraries may run; a bad signature is
/// never accepted. A refused library is a [`LoadError::Refused`] naming the
/// file, checked on the bytes that are then loaded, before any of its code
/// runs. Without trusted keys nothing is checked (development).
pub fn start_check(policy: &SwapPolicy) -> impl Fn(&Path, &[u8]) -> Result<(), LoadError> + '_ {
    move |path, bytes| {
        if policy.keys.is_empty() {
            return Ok(());
        }
        policy.check(path, bytes).map(drop).map_err(|e| {
            let message = e.to_string();
            // The signature errors start with the file, which the load
            // error names already.
            let reason = message
                .strip_prefix(&format!("{}: ", path.display()))
                .unwrap_or(&message)
                .to_owned();
            LoadError::Refused {
                path: path.to_owned(),
                kind: e.kind(),
                reason,
            }
        })
    }
}

/// Builds a vehicle: bus, world (which claims its sensors first), initial
/// actuator values, then every plugin of the directory, with the plugin
/// store's known-good versions in place of the directory's where it has
/// any. Every library, the directory's and the store's, passes
/// [`start_check`] first. Bad plugins are returned as rejections; the
/// vehicle runs without them. A store version that is refused is dropped
/// with a warning (`plugin.store` event) and the directory's library runs
/// in its place.
pub fn build_vehicle(
    config: &VehicleConfig,
    catalog: Arc<Catalog>,
) -> Result<(Vehicle, Vec<Rejection>), BuildError> {
    let dir = config
        .plugins_dir
        .clone()
        .unwrap_or_else(default_plugins_dir);
    let policy = SwapPolicy::from_config(&config.hotswap)?;
    let check = start_check(&policy);
    let store = open_store(config)?;
    let (mut active, mut warnings) = if store.is_persistent() {
        store.known_good()?
    } else {
        Default::default()
    };
    active.retain(|name, entry| {
        let path = store.path_of(entry);
        let checked = std::fs::read(&path)
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|bytes| check(&path, &bytes).map_err(|e| e.to_string()));
        match checked {
            Ok(()) => true,
            Err(e) => {
                warnings.push(format!("{e}; using the plugin directory's {name}"));
                false
            }
        }
    });
    for w in &warnings {
        tracing::warn!("plugin store: {w}");
    }
    let overrides = active
        .iter()
        .map(|(name, entry)| (name.clone(), store.path_of(entry)))
        .collect();
    let (mut vehicle, rejected) = build_vehicle_with(config, catalog, |bus| {
        plugin::load_dir_checked(&dir, &overrides, bus, config.seed, &check).map_err(|source| {
            BuildError::PluginDir {
                path: dir.clone(),
                source,
            }
        })
    })?;
    vehicle.set_swap_engine(SwapEngine::new(swap_settings(config), Some(store), active));
    for w in warnings {
        vehicle.raise("plugin.store", w);
    }
    Ok((vehicle, rejected))
}

/// Opens the plugin directory of `config` once, for vehicles built with
/// [`build_vehicle_shared`], every library passing [`start_check`] first.
pub fn open_plugins(
    config: &VehicleConfig,
    catalog: &Catalog,
) -> Result<(Vec<Arc<PluginLibrary>>, Vec<Rejection>), BuildError> {
    let dir = config
        .plugins_dir
        .clone()
        .unwrap_or_else(default_plugins_dir);
    let policy = SwapPolicy::from_config(&config.hotswap)?;
    plugin::open_dir_checked(&dir, catalog, &start_check(&policy))
        .map_err(|source| BuildError::PluginDir { path: dir, source })
}

/// Builds a vehicle whose plugins are new instances of `libs`, libraries
/// opened once (see [`open_plugins`]) and shared with every other
/// vehicle built from them: each vehicle has its own bus, world, plugin
/// state and hot-swap engine (staging in a scratch store), nothing else is
/// shared. A library the vehicle cannot admit (a second writer of a signal,
/// a failing `create`) is returned as a rejection; the vehicle runs
/// without it.
pub fn build_vehicle_shared(
    config: &VehicleConfig,
    catalog: Arc<Catalog>,
    libs: &[Arc<PluginLibrary>],
) -> Result<(Vehicle, Vec<Rejection>), BuildError> {
    let (mut vehicle, rejected) = build_vehicle_with(config, catalog, |bus| {
        let mut report = LoadReport::default();
        for lib in libs {
            match plugin::admit_shared(lib, bus, config.seed, &report.plugins) {
                Ok(p) => report.plugins.push(p),
                Err(error) => report.rejected.push(Rejection {
                    path: lib.path().to_owned(),
                    error,
                }),
            }
        }
        Ok(report)
    })?;
    vehicle.set_swap_engine(SwapEngine::new(
        swap_settings(config),
        Some(Store::scratch()),
        Default::default(),
    ));
    Ok((vehicle, rejected))
}

/// The hot-swap settings of `config`, probation in ticks.
/// The hot-swap timing of `config` (canary, probation in ticks, seed), for
/// a front end that gives a vehicle its own swap engine and store.
pub fn swap_settings(config: &VehicleConfig) -> SwapSettings {
    SwapSettings {
        canary_ticks: config.hotswap.canary_ticks,
        probation_ticks: (config.hotswap.probation.as_secs_f64() * config.tick_rate_hz).round()
            as u64,
        seed: config.seed,
    }
}

/// As [`build_vehicle`], with the plugins supplied by `load` (which admits
/// them onto the bus it is given) instead of read from a directory.
pub fn build_vehicle_with(
    config: &VehicleConfig,
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
