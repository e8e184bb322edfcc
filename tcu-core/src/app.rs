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
    /// The MQTT link could not be set up.
    #[error(transparent)]
    Mqtt(#[from] crate::mqtt::MqttError),
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
    let store = open_store(config)?;
    let (mut vehicle, rejected) = build_vehicle(config, catalog.clone())?;
    let (control, mut inbox) = crate::control::channel();
    let _watcher = match watch {
        Some(dir) => Some(crate::swap::watch::start(
            dir,
            policy.clone(),
            catalog.clone(),
            store.clone(),
            control.clone(),
        )?),
        None => None,
    };
    let mut ota = crate::ota::start(
        config,
        &vehicle,
        policy,
        catalog,
        store,
        control.clone(),
        stop.clone(),
    )?;
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
            fields: Default::default(),
        });
    }
    if vehicle.plugins().is_empty() {
        tracing::warn!("no plugins loaded: only the world model runs");
    }
    let settings = crate::sim::RunSettings { duration };
    let mut clock = crate::sim::clock::RealClock::new();
    let mut mqtt = start_mqtt(config, &vehicle, &startup_events, control.clone())?;
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
    if let Some(ota) = ota.as_mut() {
        hooks.0.push(ota);
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
    vehicle.swap_engine().flush_store();
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
    watch: Option<&Path>,
) -> anyhow::Result<crate::sim::RunOutcome> {
    use crate::dashboard::Request;
    use std::sync::Mutex;
    let catalog = Arc::new(Catalog::builtin());
    let policy = SwapPolicy::from_config(&config.hotswap)?;
    let store = open_store(config)?;
    let (mut vehicle, rejected) = build_vehicle(config, catalog.clone())?;
    for r in &rejected {
        tracing::warn!(kind = r.error.kind(), "plugin rejected: {}", r.error);
    }
    // The reload key swaps what changed in the plugin directory; the watch
    // (if any) and the reloader send through the dashboard's control handle.
    let plugins_dir = config
        .plugins_dir
        .clone()
        .unwrap_or_else(default_plugins_dir);
    let reloader = crate::swap::watch::Reloader::new(
        &plugins_dir,
        policy.clone(),
        catalog.clone(),
        store.clone(),
    )?;
    let (control, inbox) = crate::control::channel();
    let ota = crate::ota::start(
        config,
        &vehicle,
        policy.clone(),
        catalog.clone(),
        store.clone(),
        control.clone(),
        stop.clone(),
    )?;
    let ota_waker = ota.as_ref().map(crate::ota::OtaHook::waker);
    let startup = vehicle.drain_events();
    let mqtt = start_mqtt(config, &vehicle, &startup, control.clone())?;
    let (mqtt_hook, mqtt_handle) = match mqtt {
        Some((hook, handle)) => (Some(hook), Some(handle)),
        None => (None, None),
    };
    let link = mqtt_handle
        .as_ref()
        .map(|h| (h.broker.to_string(), h.metrics().clone()));
    let handle: Arc<Mutex<Option<crate::control::ControlHandle>>> = Arc::default();
    let watcher: Arc<Mutex<Option<notify::RecommendedWatcher>>> = Arc::default();
    let on_start = {
        let (handle, watcher, stop) = (handle.clone(), watcher.clone(), stop.clone());
        let watch = watch.map(|dir| (dir.to_owned(), policy, catalog, store));
        move |shared: &Arc<crate::dashboard::Shared>, control: &crate::control::ControlHandle| {
            *handle.lock().unwrap_or_else(|p| p.into_inner()) = Some(control.clone());
            if let Some((dir, policy, catalog, store)) = watch {
                match crate::swap::watch::start(&dir, policy, catalog, store, control.clone()) {
                    Ok(w) => *watcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(w),
                    Err(e) => tracing::error!("{e}"),
                }
            }
            if let Some((broker, metrics)) = link {
                let shared = shared.clone();
                std::thread::spawn(move || feed_link_panel(&shared, &broker, &metrics, &stop));
            }
        }
    };
    let reloader = Arc::new(Mutex::new(reloader));
    let requests = move |request: Request| match request {
        Request::ReloadPlugins => {
            let Some(control) = handle.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
                return;
            };
            let reloader = reloader.clone();
            // Hashing and staging take milliseconds: not on the render thread.
            std::thread::spawn(move || {
                let mut r = reloader.lock().unwrap_or_else(|p| p.into_inner());
                match r.reload(&control) {
                    Ok(0) => tracing::info!("reload: no plugin library changed"),
                    Ok(n) => tracing::info!("reload: swapping {n} changed plugin libraries"),
                    Err(e) => tracing::error!("reload: {e}"),
                }
            });
        }
        Request::PollOta => match &ota_waker {
            Some(waker) => {
                waker.poll_now();
                tracing::info!("OTA: polling the server now");
            }
            None => tracing::info!("OTA is off: set [ota] server or --ota-server to poll a server"),
        },
    };
    let options = crate::dashboard::Options {
        duration,
        log: Some(log),
        requests: Some(Box::new(requests)),
        on_start: Some(Box::new(on_start)),
        channel: Some((control, inbox)),
        hooks: mqtt_hook
            .into_iter()
            .map(|h| Box::new(h) as Box<dyn TickHook>)
            .chain(ota.into_iter().map(|h| Box::new(h) as Box<dyn TickHook>))
            .collect(),
    };
    // Whatever ended the dashboard (quit, signal, lost terminal, panic), the
    // tick loop has stopped: shut the link down and keep the store's state
    // before reporting how it ended.
    let result = crate::dashboard::run(&mut vehicle, &config.vin, stop, options);
    if let Some(h) = mqtt_handle {
        h.shutdown();
    }
    vehicle.swap_engine().flush_store();
    drop(watcher);
    Ok(result?)
}

/// Starts the MQTT link of `config` (if enabled) for `vehicle`, with a
/// control inbox for its commands (add the inbox to the run's hooks);
/// `startup` are the events raised before the run (plugin loads).
pub fn start_mqtt(
    config: &Config,
    vehicle: &Vehicle,
    startup: &[Event],
    control: crate::control::ControlHandle,
) -> Result<Option<(crate::mqtt::MqttHook, crate::mqtt::MqttHandle)>, BuildError> {
    if !config.mqtt.enabled {
        return Ok(None);
    }
    let (mut hook, handle) = crate::mqtt::start(&config.mqtt, &config.vin, vehicle, Some(control))?;
    hook.publish_events(startup);
    Ok(Some((hook, handle)))
}

/// Copies the MQTT link's counters into the dashboard's link panel twice a
/// second until `stop`.
fn feed_link_panel(
    shared: &crate::dashboard::Shared,
    broker: &str,
    metrics: &crate::mqtt::Metrics,
    stop: &std::sync::atomic::AtomicBool,
) {
    use std::sync::atomic::Ordering;
    let period = std::time::Duration::from_millis(500);
    let mut last = metrics.published.load(Ordering::Relaxed);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(period);
        let published = metrics.published.load(Ordering::Relaxed);
        shared.update_link(crate::dashboard::LinkState {
            broker: broker.to_owned(),
            connected: metrics.connected.load(Ordering::Relaxed),
            published,
            msgs_per_s: (published - last) as f64 / period.as_secs_f64(),
            outbox_depth: usize::try_from(metrics.outbox.load(Ordering::Relaxed))
                .unwrap_or(usize::MAX),
        });
        last = published;
    }
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
