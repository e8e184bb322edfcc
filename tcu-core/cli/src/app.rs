//! Running one vehicle in real time, headless or with the dashboard: the
//! engine's vehicle wired to the MQTT link, the OTA client, `--watch` and
//! the dashboard's keys.

use crate::config::Config;
use crate::watch::WatchError;
use std::path::Path;
use std::sync::Arc;
use tcu_engine::build::{BuildError, build_vehicle, default_plugins_dir, open_store};
use tcu_engine::catalog::Catalog;
use tcu_engine::sim::{Event, Hooks, StatusEvery, TickHook, Vehicle};
use tcu_engine::swap::SwapPolicy;
use tcu_engine::swap::sign::SignError;

/// A run could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The vehicle could not be assembled.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The hot-swap policy is unusable (a trusted key cannot be read).
    #[error("[hotswap] trusted_keys: {0}")]
    Policy(#[from] SignError),
    /// `--watch` could not be set up.
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// The MQTT link could not be set up.
    #[error(transparent)]
    Mqtt(#[from] tcu_link::MqttError),
    /// The OTA client could not be started.
    #[error("[ota] {0}")]
    Ota(#[from] tcu_ota_client::OtaError),
    /// With trusted keys, libraries failed their signature check at start.
    #[error(
        "refusing to start: {0} failed the signature check ([hotswap] run_without_refused = true starts without them)"
    )]
    Refused(String),
    /// The recording could not be started.
    #[error("[record] {0}")]
    Record(#[from] tcu_engine::record::RecordError),
    /// The plugin directory could not be read for the reload key.
    #[error("reading plugin directory {dir}: {source}")]
    Reload {
        /// Directory.
        dir: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// Simulated time after which a headless run releases its start-up pages
/// (see [`tcu_engine::resident`]).
const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_secs(3);

/// Stops a run whose plugin directory held libraries that failed their
/// signature check, unless `[hotswap] run_without_refused` lets the vehicle
/// start without them (they are then reported like any rejection).
fn refuse_unverified(
    config: &Config,
    rejected: &[tcu_engine::plugin::Rejection],
) -> Result<(), RunError> {
    if config.vehicle.hotswap.run_without_refused {
        return Ok(());
    }
    let refused: Vec<String> = rejected
        .iter()
        .filter_map(|r| match &r.error {
            tcu_engine::plugin::LoadError::Refused { path, reason, .. } => {
                Some(format!("{} ({reason})", path.display()))
            }
            _ => None,
        })
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(RunError::Refused(refused.join(", ")))
    }
}

/// How a headless run keeps time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Stop after this much simulated time (`None`: until stopped).
    pub duration: Option<std::time::Duration>,
    /// Ticks run per wake-up (see [`tcu_engine::sim::clock::BurstClock`]).
    pub ticks_per_wake: u32,
}

/// Runs one vehicle in real time without a dashboard until the pacing's
/// duration or until `stop` is set, logging a status line every status
/// interval. With `watch`, rebuilt libraries written there are hot-swapped.
pub fn run_headless(
    config: &Config,
    pacing: Pacing,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    watch: Option<&Path>,
) -> Result<tcu_engine::sim::RunOutcome, RunError> {
    // A bench TCU runs for weeks: what only the start-up used need not stay
    // resident, and its peak is the start-up's. What parsing used goes
    // before the plugins load, what the loading used right after; the
    // files to release are noted before the threads that may load a
    // library (the watch, OTA) start.
    crate::release::before_loading();
    let catalog = Arc::new(Catalog::builtin());
    let policy = SwapPolicy::from_config(&config.vehicle.hotswap)?;
    let store = open_store(&config.vehicle)?;
    let (mut vehicle, rejected) = build_vehicle(&config.vehicle, catalog.clone())?;
    refuse_unverified(config, &rejected)?;
    let mut release = crate::release::ReleaseAfterStart::new(RELEASE_AFTER);
    let (control, mut inbox) = tcu_engine::control::channel();
    let _watcher = match watch {
        Some(dir) => Some(crate::watch::start(
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
    tracing::info!(vin = %config.vehicle.vin, seed = config.vehicle.seed, tick_rate_hz = config.vehicle.tick_rate_hz, "vehicle assembled");
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
    let settings = tcu_engine::sim::RunSettings {
        duration: pacing.duration,
    };
    let mut clock = tcu_engine::sim::clock::BurstClock::new(
        tcu_engine::sim::clock::RealClock::new(),
        std::time::Duration::from_secs_f64(vehicle.dt()),
        pacing.ticks_per_wake,
    );
    let mut mqtt = start_mqtt(config, &vehicle, &startup_events, control.clone())?;
    let metrics = mqtt.as_ref().map(|(_, h)| h.metrics().clone());
    let mut status =
        StatusEvery::new(
            config.vehicle.status_interval,
            vehicle.dt(),
            |s| match &metrics {
                Some(m) => tracing::info!("{s} {m}"),
                None => tracing::info!("{s}"),
            },
        );
    let mut events = LogEvents;
    let mut recorder = start_recording(config, &vehicle)?;
    let mut capturer = start_captures(config, &vehicle, mqtt.as_mut().map(|(_, h)| h))?;
    let mut hooks = Hooks(vec![&mut inbox, &mut status, &mut events, &mut release]);
    if let Some(r) = recorder.as_mut() {
        hooks.0.push(r);
    }
    if let Some(c) = capturer.as_mut() {
        hooks.0.push(c);
    }
    if let Some((hook, _)) = mqtt.as_mut() {
        hooks.0.push(hook);
    }
    if let Some(ota) = ota.as_mut() {
        hooks.0.push(ota);
    }
    // Under systemd: ready once ticking, watchdog pings from the loop.
    let mut notify = crate::notify::NotifyHook::from_process_env();
    let mut stall = crate::notify::StallHook::from_process_env(stop.clone());
    if let Some(n) = notify.as_mut() {
        hooks.0.push(n);
    }
    if let Some(s) = stall.as_mut() {
        hooks.0.push(s);
    }
    let outcome = tcu_engine::sim::run(&mut vehicle, &mut clock, &settings, stop, &mut hooks);
    drop(hooks);
    if let Some(n) = &notify {
        n.stopping();
    }
    if let Some(Err(e)) = recorder.map(tcu_engine::record::Recorder::finish) {
        tracing::error!("recording: {e}");
    }
    // Before the link stops: a capture still being written is handed to it
    // and so delivered, or kept in its outbox.
    for written in capturer
        .map(tcu_engine::record::Capturer::finish)
        .unwrap_or_default()
    {
        match written {
            Ok(path) => tracing::info!(path = %path.display(), "capture written"),
            Err(e) => tracing::error!("capture: {e}"),
        }
    }
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

/// A dashboard run could not be set up or ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// Setting the run up failed.
    #[error(transparent)]
    Setup(#[from] RunError),
    /// The dashboard itself failed (lost terminal, panic, ...).
    #[error(transparent)]
    Dashboard(tcu_dashboard::Error),
}

/// Runs one vehicle in real time with the terminal dashboard (see
/// [`tcu_dashboard`]) until quit, `stop`, or `duration`. Tracing should
/// already write into `log`, so nothing but the dashboard draws on the screen.
pub fn run_dashboard(
    config: &Config,
    duration: Option<std::time::Duration>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    log: tcu_dashboard::LogSink,
    watch: Option<&Path>,
) -> Result<tcu_engine::sim::RunOutcome, DashboardError> {
    use std::sync::Mutex;
    use tcu_dashboard::Request;
    let catalog = Arc::new(Catalog::builtin());
    let policy = SwapPolicy::from_config(&config.vehicle.hotswap).map_err(RunError::from)?;
    let store = open_store(&config.vehicle).map_err(RunError::from)?;
    let (mut vehicle, rejected) =
        build_vehicle(&config.vehicle, catalog.clone()).map_err(RunError::from)?;
    refuse_unverified(config, &rejected)?;
    for r in &rejected {
        tracing::warn!(kind = r.error.kind(), "plugin rejected: {}", r.error);
    }
    // The reload key swaps what changed in the plugin directory; the watch
    // (if any) and the reloader send through the dashboard's control handle.
    let plugins_dir = config
        .vehicle
        .plugins_dir
        .clone()
        .unwrap_or_else(default_plugins_dir);
    let reloader = tcu_engine::reload::Reloader::new(
        &plugins_dir,
        policy.clone(),
        catalog.clone(),
        store.clone(),
    )
    .map_err(|source| RunError::Reload {
        dir: plugins_dir.clone(),
        source,
    })?;
    let (control, inbox) = tcu_engine::control::channel();
    let ota = crate::ota::start(
        config,
        &vehicle,
        policy.clone(),
        catalog.clone(),
        store.clone(),
        control.clone(),
        stop.clone(),
    )
    .map_err(RunError::from)?;
    let ota_waker = ota.as_ref().map(crate::ota::OtaHook::waker);
    let startup = vehicle.drain_events();
    let recorder = start_recording(config, &vehicle)?;
    let mut mqtt = start_mqtt(config, &vehicle, &startup, control.clone())?;
    let capturer = start_captures(config, &vehicle, mqtt.as_mut().map(|(_, h)| h))?;
    let (mqtt_hook, mqtt_handle) = match mqtt {
        Some((hook, handle)) => (Some(hook), Some(handle)),
        None => (None, None),
    };
    let link = mqtt_handle
        .as_ref()
        .map(|h| (h.broker.to_string(), h.metrics().clone()));
    let handle: Arc<Mutex<Option<tcu_engine::control::ControlHandle>>> = Arc::default();
    let watcher: Arc<Mutex<Option<notify::RecommendedWatcher>>> = Arc::default();
    let on_start = {
        let (handle, watcher, stop) = (handle.clone(), watcher.clone(), stop.clone());
        let watch = watch.map(|dir| (dir.to_owned(), policy, catalog, store));
        move |shared: &Arc<tcu_dashboard::Shared>, control: &tcu_engine::control::ControlHandle| {
            *handle.lock().unwrap_or_else(|p| p.into_inner()) = Some(control.clone());
            if let Some((dir, policy, catalog, store)) = watch {
                match crate::watch::start(&dir, policy, catalog, store, control.clone()) {
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
    let options = tcu_dashboard::Options {
        duration,
        log: Some(log),
        requests: Some(Box::new(requests)),
        on_start: Some(Box::new(on_start)),
        channel: Some((control, inbox)),
        hooks: mqtt_hook
            .into_iter()
            .map(|h| Box::new(h) as Box<dyn TickHook>)
            .chain(ota.into_iter().map(|h| Box::new(h) as Box<dyn TickHook>))
            .chain(recorder.map(|h| Box::new(h) as Box<dyn TickHook>))
            .chain(capturer.map(|h| Box::new(h) as Box<dyn TickHook>))
            .collect(),
    };
    // Whatever ended the dashboard (quit, signal, lost terminal, panic), the
    // tick loop has stopped: shut the link down and keep the store's state
    // before reporting how it ended.
    let result = tcu_dashboard::run(&mut vehicle, &config.vehicle.vin, stop, options);
    if let Some(h) = mqtt_handle {
        h.shutdown();
    }
    vehicle.swap_engine().flush_store();
    drop(watcher);
    result.map_err(DashboardError::Dashboard)
}

/// Starts the recording of `config`'s `[record]`, if on (add it to the
/// run's hooks).
pub fn start_recording(
    config: &Config,
    vehicle: &Vehicle,
) -> Result<Option<tcu_engine::record::Recorder>, RunError> {
    let Some(settings) = config.record.settings() else {
        return Ok(None);
    };
    tracing::info!(path = %settings.path.display(), "recording every tick");
    let r = tcu_engine::record::Recorder::new(
        settings,
        vehicle,
        &config.vehicle.vin,
        config.vehicle.seed,
    )?;
    Ok(Some(r))
}

/// Starts the condition-based captures of `config`'s `[[record.capture]]`
/// (add them to the run's hooks). With an MQTT link the captures are also
/// published, and the capturer runs even without rules, so that rules can
/// be set remotely; without either, there is none.
pub fn start_captures(
    config: &Config,
    vehicle: &Vehicle,
    mqtt: Option<&mut tcu_link::MqttHandle>,
) -> Result<Option<tcu_engine::record::Capturer>, RunError> {
    let port = mqtt.and_then(tcu_link::MqttHandle::take_captures);
    if config.record.captures.is_empty() && port.is_none() {
        return Ok(None);
    }
    let mut c = tcu_engine::record::Capturer::new(
        &config.record.capture_dir,
        config.record.captures.clone(),
        vehicle,
        &config.vehicle.vin,
        config.vehicle.seed,
    )?;
    if let Some(port) = port {
        tracing::info!(
            topic = port.publisher.topic(),
            "captures are published over MQTT"
        );
        c = c
            .with_sink(Arc::new(port.publisher))
            .with_remote(port.rules);
    }
    Ok(Some(c))
}

/// Starts the MQTT link of `config` (if enabled) for `vehicle`, with a
/// control inbox for its commands (add the inbox to the run's hooks);
/// `startup` are the events raised before the run (plugin loads).
pub fn start_mqtt(
    config: &Config,
    vehicle: &Vehicle,
    startup: &[Event],
    control: tcu_engine::control::ControlHandle,
) -> Result<Option<(tcu_link::MqttHook, tcu_link::MqttHandle)>, RunError> {
    if !config.mqtt.enabled {
        return Ok(None);
    }
    let (mut hook, handle) =
        tcu_link::start(&config.mqtt, &config.vehicle.vin, vehicle, Some(control))?;
    hook.publish_events(startup);
    Ok(Some((hook, handle)))
}

/// Copies the MQTT link's counters into the dashboard's link panel twice a
/// second until `stop`.
fn feed_link_panel(
    shared: &tcu_dashboard::Shared,
    broker: &str,
    metrics: &tcu_link::Metrics,
    stop: &std::sync::atomic::AtomicBool,
) {
    use std::sync::atomic::Ordering;
    let period = std::time::Duration::from_millis(500);
    let mut last = metrics.published.load(Ordering::Relaxed);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(period);
        let published = metrics.published.load(Ordering::Relaxed);
        shared.update_link(tcu_dashboard::LinkState {
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
                "fault" | "plugin.rejected" | "plugin.rollback" | "plugin.rollback_failed"
            ) {
                tracing::warn!(kind = %e.kind, t = e.t, "{}", e.detail);
            } else {
                tracing::info!(kind = %e.kind, t = e.t, "{}", e.detail);
            }
        }
    }
}
