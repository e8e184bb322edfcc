//! Running a fleet: builds every member from one set of loaded plugin
//! libraries, starts one MQTT link per vehicle on its crew's thread (their
//! connections spaced by one gate), hands the vehicles to the crews' workers,
//! reports the summary every interval, and on stop lets every link deliver
//! what it holds and publish its `offline` status. With OTA, every vehicle
//! also gets its own store and client (see [`crate::ota`]), polled by a
//! small pool.

use crate::FleetError;
use crate::crews::Crews;
use crate::mix::Mix;
use crate::ota::{FleetOta, Poller};
use crate::plan::{self, Member};
use crate::shard::Shard;
use crate::status::Snapshot;
use crate::worker::{PowerOff, Restart, Slot, TickCounters};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tcu_engine::build::{build_vehicle_shared, open_plugins};
use tcu_engine::catalog::Catalog;
use tcu_engine::config::VehicleConfig;
use tcu_link::config::MqttConfig;
use tcu_link::gate::ConnectGate;
use tcu_link::outbox::Outbox;
use tcu_link::{BrokerUrl, LinkSetup, LinkTask};
use tcu_sdk::rng::derive_seed;

/// How long the links get to deliver what they hold when the fleet stops.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What `tcu fleet` was asked for.
#[derive(Debug, Clone)]
pub struct FleetSettings {
    /// Vehicles in the whole fleet (all shards).
    pub vehicles: u64,
    /// First 1 to 8 characters of every VIN.
    pub vin_prefix: String,
    /// Fleet seed: every vehicle's seed and start offset derive from it.
    pub seed: u64,
    /// This process's slice.
    pub shard: Shard,
    /// Threads, each stepping its share of the vehicles and running their
    /// links.
    pub workers: usize,
    /// Connection attempts per second, first connects and reconnects.
    pub connect_rate: f64,
    /// Ticks of a vehicle per wake-up, the first at its deadline and the
    /// rest at once (1: each tick at its own deadline). Simulated time is
    /// unchanged; commands wait up to this many ticks.
    pub ticks_per_wake: u32,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Each vehicle's outbox lives in `outbox_root/<VIN>`.
    pub outbox_root: PathBuf,
    /// Each vehicle's outbox size limit, bytes (memory and disk).
    pub outbox_max_bytes: u64,
    /// Messages each vehicle's outbox keeps in memory before spilling.
    pub outbox_mem: usize,
    /// Summary line interval.
    pub status_interval: Duration,
    /// Also write each summary as a JSON line here.
    pub stats: Option<PathBuf>,
    /// The fleet file's mix (none: every vehicle as configured).
    pub mix: Option<Mix>,
    /// Take rollouts from a DDI server (none: OTA off).
    pub ota: Option<FleetOta>,
}

/// How a fleet run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetOutcome {
    /// The last summary.
    pub last: Snapshot,
    /// True when stopped by the flag rather than the duration.
    pub interrupted: bool,
}

/// Runs the fleet of `settings` built from `vehicle` and `mqtt` until
/// `settings.duration` or `stop`.
pub fn run(
    vehicle: &VehicleConfig,
    mqtt: &MqttConfig,
    settings: &FleetSettings,
    stop: &Arc<AtomicBool>,
) -> Result<FleetOutcome, FleetError> {
    run_observed(vehicle, mqtt, settings, stop, &mut |_| {})
}

/// As [`run`], handing every summary to `observer` as it is taken (a
/// benchmark measures between two of them).
pub fn run_observed(
    vehicle: &VehicleConfig,
    mqtt: &MqttConfig,
    settings: &FleetSettings,
    stop: &Arc<AtomicBool>,
    observer: &mut dyn FnMut(&Snapshot),
) -> Result<FleetOutcome, FleetError> {
    let members = plan::members(
        settings.vehicles,
        &settings.vin_prefix,
        settings.seed,
        settings.shard,
        settings
            .mix
            .as_ref()
            .and_then(|m| m.spread)
            .unwrap_or(mqtt.publish_period),
    )
    .map_err(FleetError::Plan)?;
    check_templates(mqtt, members.len())?;
    crate::descriptors::ensure(members.len(), settings.ota.is_some())?;
    let mut stats = match &settings.stats {
        Some(p) => Some(
            std::fs::File::create(p).map_err(|source| FleetError::Stats {
                path: p.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let catalog = Arc::new(Catalog::builtin());
    let (libs, rejected) = open_plugins(vehicle, &catalog)?;
    for r in &rejected {
        tracing::warn!(kind = r.error.kind(), "plugin rejected: {}", r.error);
    }
    let mut crews = Crews::start(settings.workers).map_err(FleetError::Runtime)?;
    let (broker, in_process_broker) = broker_of(mqtt)?;
    let gate = Arc::new(ConnectGate::new(settings.connect_rate));
    tracing::info!(
        vehicles = members.len(),
        fleet = settings.vehicles,
        shard = %settings.shard,
        %broker,
        connect_rate = settings.connect_rate,
        "building the fleet"
    );
    let start = Instant::now();
    let dt = Duration::from_secs_f64(1.0 / vehicle.tick_rate_hz);
    let mut slots = Vec::with_capacity(members.len());
    let mut links: Vec<LinkTask> = Vec::with_capacity(members.len());
    let mut pollers: Vec<Box<dyn Poller>> = Vec::new();
    let mut again = Vec::new();
    // One count of unread commands for the whole fleet: a worker's look at
    // an inbox before each tick is then one shared load while nothing waits.
    let inboxes = tcu_engine::control::InboxGroup::default();
    for (i, m) in members.iter().enumerate() {
        let built = build_member(
            (i, m),
            vehicle,
            mqtt,
            settings,
            (&catalog, &libs, &inboxes),
            (crews.handle(i), &broker, in_process_broker, &gate),
        )?;
        slots.push(built.slot);
        links.push(built.link);
        pollers.extend(built.poller);
        again.push((m.clone(), built.config, built.control, built.relay));
    }
    let metrics: Vec<_> = links.iter().map(|l| l.metrics().clone()).collect();
    // Deadlines count from when every vehicle exists, so that building a
    // big fleet does not make its first ticks late.
    let t0 = Instant::now();
    for (slot, m) in slots.iter_mut().zip(&members) {
        slot.deadline = t0 + m.offset;
    }
    tracing::info!(
        vehicles = members.len(),
        built_in_ms = start.elapsed().as_millis() as u64,
        "fleet built; connecting"
    );
    let counters = Arc::new(TickCounters::default());
    let halt = Arc::new(AtomicBool::new(false));
    // The clients poll from a few threads, first spread like the ticks.
    let ota_stop = Arc::new(AtomicBool::new(false));
    let (pool, restarter) = match &settings.ota {
        Some(ota) => {
            let pool = crate::ota::Pool::new(
                pollers
                    .into_iter()
                    .zip(&members)
                    .map(|(p, m)| (t0 + m.offset, p))
                    .collect(),
            );
            let r: Arc<dyn Restart> = Arc::new(crate::restart::Restarter {
                members: again,
                catalog: catalog.clone(),
                libs: libs.clone(),
                ota: ota.clone(),
                pool: pool.clone(),
            });
            (
                pool.spawn(ota.threads, &ota_stop)
                    .map_err(FleetError::Thread)?,
                Some(r),
            )
        }
        None => (Vec::new(), None),
    };
    crews.work(
        slots,
        (dt, settings.ticks_per_wake),
        (&halt, &counters),
        restarter,
    );
    let downloads = settings.ota.as_ref().map(|o| o.attach.clone());
    let downloads = move || downloads.as_ref().map_or(0, |a| a.downloads());
    let interrupted = watch(
        t0,
        settings,
        stop,
        (&metrics, &counters, &downloads),
        stats.as_mut(),
        observer,
    );
    halt.store(true, Ordering::Relaxed);
    ota_stop.store(true, Ordering::Relaxed);
    let slots = crews.vehicles().map_err(|_| FleetError::WorkerPanicked)?;
    // The workers have stopped: the last telemetry is in the hooks'
    // channels; the links deliver it and publish `offline`.
    crews.finish(links, STOP_GRACE);
    let mut last = Snapshot::take(t0.elapsed().as_secs_f64(), &metrics, &counters, None);
    last.ota_downloads = downloads();
    tracing::info!("stopped: {}", last.line());
    if let Some(f) = stats.as_mut() {
        let _ = writeln!(f, "{}", last.json());
    }
    // Dropping the vehicles ends any installation waiting for one (as
    // interrupted: decided after a restart); the pool then sees the stop.
    for s in &slots {
        s.vehicle.swap_engine().flush_store();
    }
    drop(slots);
    let end = Instant::now() + STOP_GRACE;
    while pool.iter().any(|t| !t.is_finished()) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(FleetOutcome { last, interrupted })
}

/// Every vehicle needs its own client id and topics.
fn check_templates(mqtt: &MqttConfig, vehicles: usize) -> Result<(), FleetError> {
    if vehicles > 1 {
        if !mqtt.client_id_template.contains("{vin}") {
            return Err(FleetError::Template {
                field: "mqtt.client_id",
                value: mqtt.client_id_template.clone(),
            });
        }
        if !mqtt.topic_template.contains("{vin}") {
            return Err(FleetError::Template {
                field: "mqtt.topic_root",
                value: mqtt.topic_template.clone(),
            });
        }
    }
    Ok(())
}

/// The configured broker, or one embedded broker for the whole fleet.
fn broker_of(mqtt: &MqttConfig) -> Result<(BrokerUrl, bool), FleetError> {
    match &mqtt.broker {
        Some(b) => Ok((
            BrokerUrl::parse(b).map_err(tcu_link::MqttError::from)?,
            false,
        )),
        None => {
            let addr = tcu_link::broker::start(mqtt.embedded_listen)?;
            tracing::info!("embedded MQTT broker listening on {addr}");
            Ok((
                BrokerUrl {
                    host: addr.ip().to_string(),
                    port: addr.port(),
                    tls: false,
                },
                true,
            ))
        }
    }
}

type Shared<'a> = (
    &'a Arc<Catalog>,
    &'a [Arc<tcu_engine::plugin::PluginLibrary>],
    &'a tcu_engine::control::InboxGroup,
);
type LinkParts<'a> = (
    &'a tokio::runtime::Handle,
    &'a BrokerUrl,
    bool,
    &'a Arc<ConnectGate>,
);

/// A built member.
struct Built {
    slot: Slot,
    link: LinkTask,
    /// Its OTA client, with OTA.
    poller: Option<Box<dyn Poller>>,
    /// What starting it again takes: its configuration, control and
    /// link.
    config: VehicleConfig,
    control: tcu_engine::control::ControlHandle,
    relay: Option<String>,
}

/// One member: its vehicle (own plugin instances of the shared libraries),
/// its command inbox and its link.
fn build_member(
    (index, m): (usize, &Member),
    vehicle: &VehicleConfig,
    mqtt: &MqttConfig,
    settings: &FleetSettings,
    (catalog, libs, inboxes): Shared<'_>,
    (runtime, broker, in_process_broker, gate): LinkParts<'_>,
) -> Result<Built, FleetError> {
    let mut config = VehicleConfig {
        vin: m.vin.clone(),
        seed: m.seed,
        ..vehicle.clone()
    };
    let draw = settings
        .mix
        .as_ref()
        .map(|mix| mix.draw(settings.seed, &m.vin));
    let dt = 1.0 / vehicle.tick_rate_hz;
    let mut steps: Vec<(u64, crate::steps::Step)> = settings
        .mix
        .as_ref()
        .map(|mix| crate::steps::for_vehicle(&mix.steps, settings.seed, &m.vin))
        .unwrap_or_default()
        .into_iter()
        .map(|(_, s)| ((s.at.as_secs_f64() / dt).ceil() as u64, s))
        .collect();
    // The worker takes them from the end.
    steps.reverse();
    if let Some(draw) = &draw {
        if let Some(d) = draw.driver {
            config.driver = d;
        }
        config.signals.extend(draw.signals.clone());
    }
    let (control, inbox) = tcu_engine::control::channel_in(inboxes);
    let relay = match (&settings.ota, draw.as_ref().and_then(|d| d.link)) {
        (Some(ota), Some(fault)) => Some(crate::shaper::start(&ota.server, fault).map_err(
            |message| FleetError::Ota {
                vin: m.vin.clone(),
                message,
            },
        )?),
        _ => None,
    };
    let (v, ota, poller) = match &settings.ota {
        Some(ota) => {
            let (v, a) = crate::restart::start(
                ota,
                m,
                &config,
                (catalog, libs),
                (&control, relay.as_deref()),
            )?;
            (v, Some(a.hook), Some(a.poller))
        }
        None => (
            build_vehicle_shared(&config, catalog.clone(), libs)?.0,
            None,
            None,
        ),
    };
    if let Some(soc) = draw.as_ref().and_then(|d| d.soc) {
        // The battery's start command; applied before the first tick.
        control
            .send(tcu_engine::control::ControlMsg::PluginCommand {
                subsystem: "battery".into(),
                name: "set_soc".into(),
                value: soc,
                reply: None,
            })
            .map_err(|e| {
                FleetError::Plan(format!("{}: setting the state of charge: {e}", m.vin))
            })?;
    }
    let dir = settings.outbox_root.join(&m.vin);
    let link_config = mqtt.for_vin(&m.vin, dir.clone());
    let setup = LinkSetup {
        outbox: Outbox::new(Some(&dir), settings.outbox_max_bytes, settings.outbox_mem),
        broker: broker.clone(),
        in_process_broker,
        gate: Some(gate.clone()),
        jitter_seed: derive_seed(m.seed, "reconnect"),
        log_connections: false,
    };
    let (mut hook, link) = tcu_link::spawn_on(
        runtime,
        &link_config,
        &m.vin,
        &v,
        Some(control.clone()),
        setup,
    )?;
    let mut v = v;
    hook.publish_events(&v.drain_events());
    let power_off = if draw.as_ref().is_some_and(|d| d.power_off) && settings.ota.is_some() {
        PowerOff::Armed
    } else {
        PowerOff::No
    };
    Ok(Built {
        slot: Slot {
            vehicle: v,
            inbox,
            mqtt: hook,
            deadline: Instant::now(),
            ota,
            ota_state: None,
            steps,
            index,
            power_off,
        },
        link,
        poller,
        config,
        control,
        relay,
    })
}

/// Prints the summary every interval (and the progress bar every second
/// while connecting) until the duration is over or `stop` is set; true
/// when stopped by `stop`.
fn watch(
    t0: Instant,
    settings: &FleetSettings,
    stop: &AtomicBool,
    (metrics, counters, downloads): (&[Arc<tcu_link::Metrics>], &TickCounters, &dyn Fn() -> u64),
    mut stats: Option<&mut std::fs::File>,
    observer: &mut dyn FnMut(&Snapshot),
) -> bool {
    let mut previous = Snapshot::default();
    let end = settings.duration.map(|d| t0 + d);
    let mut next_status = t0 + settings.status_interval;
    let mut connecting = true;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            return false;
        }
        let progress_due = connecting && (now - t0).as_millis() % 1000 < 100;
        if now < next_status && !progress_due {
            continue;
        }
        let mut snap = Snapshot::take((now - t0).as_secs_f64(), metrics, counters, Some(&previous));
        snap.ota_downloads = downloads();
        if connecting {
            tracing::info!("{}", snap.progress());
            connecting = snap.connected < snap.wanted;
        }
        if now >= next_status {
            next_status += settings.status_interval;
            tracing::info!("{}", snap.line());
            if let Some(f) = stats.as_deref_mut()
                && let Err(e) = writeln!(f, "{}", snap.json())
            {
                tracing::error!("writing the stats file: {e}");
            }
            observer(&snap);
            previous = snap;
        }
    }
}
