//! What the dashboard shows, as plain data: a [`Snapshot`] the tick thread
//! fills after every tick ([`SnapshotHook`]) and the render thread copies out
//! under a short lock. The tick thread only ever `try_lock`s, so a frame
//! being copied costs the simulation nothing: the next tick publishes again.
//!
//! Signal values travel as one `Vec<f64>` aligned with [`paths`]; a signal
//! nobody has written yet (its plugin is not loaded) is `NaN` and shows as
//! `—`.
//!
//! The link ([`LinkState`]) and OTA ([`OtaState`]) parts are filled by
//! whoever owns those features, through [`Shared::update_link`] and
//! [`Shared::update_ota`]; until then the panels say "not configured".

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use tcu_engine::catalog::{SignalId, SignalKind};
use tcu_engine::sim::{Event, TickHook, Vehicle};

/// Seats with an airbag and an occupant: (VSS seat name, label).
pub const SEATS: [(&str, &str); 5] = [
    ("Row1.DriverSide", "R1 Driver"),
    ("Row1.PassengerSide", "R1 Pass."),
    ("Row2.DriverSide", "R2 Driver"),
    ("Row2.Middle", "R2 Middle"),
    ("Row2.PassengerSide", "R2 Pass."),
];
/// Seats with heating: the first three of [`SEATS`].
pub const HEATED_SEATS: usize = 3;
/// HVAC zones: (VSS station name, label).
pub const ZONES: [(&str, &str); 3] = [
    ("Row1.Driver", "R1 Driver"),
    ("Row1.Passenger", "R1 Pass."),
    ("Row2.Driver", "R2 Driver"),
];
/// Wheels: (VSS axle/wheel name, label).
pub const WHEELS: [(&str, &str); 4] = [
    ("Row1.Wheel.Left", "FL"),
    ("Row1.Wheel.Right", "FR"),
    ("Row2.Wheel.Left", "RL"),
    ("Row2.Wheel.Right", "RR"),
];

/// Signals read by name, without per-seat/zone/wheel families.
const FIXED: &[&str] = &[
    "Vehicle.Speed",
    "Vehicle.TraveledDistance",
    "Vehicle.Acceleration.Longitudinal",
    "Vehicle.Exterior.AirTemperature",
    "Vehicle.Powertrain.Range",
    "Sim.Driver.AcceleratorPedal",
    "Sim.Driver.BrakePedal",
    "Sim.Environment.AirTemperature",
    "Sim.Environment.RoadFriction",
    "Sim.Fault.ABS.WheelSensor",
    "Sim.Crash.Pulse",
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.CurrentEnergy",
    "Vehicle.Powertrain.TractionBattery.CurrentVoltage",
    "Vehicle.Powertrain.TractionBattery.IsPowerConnected",
    "Vehicle.Powertrain.TractionBattery.CurrentCurrent",
    "Vehicle.Powertrain.TractionBattery.CurrentPower",
    "Vehicle.Powertrain.TractionBattery.Temperature.Average",
    "Vehicle.Powertrain.TractionBattery.AccumulatedConsumedEnergy",
    "Vehicle.Powertrain.AccumulatedBrakingEnergy",
    "Vehicle.Powertrain.ElectricMotor.Speed",
    "Vehicle.Powertrain.ElectricMotor.Torque",
    "Vehicle.Powertrain.ElectricMotor.Power",
    "Vehicle.Powertrain.ElectricMotor.Temperature",
    "Vehicle.Powertrain.ElectricMotor.CoolantTemperature",
    "Sim.Powertrain.ElectricMotor.IsRunning",
    "Sim.Powertrain.ElectricalPower",
    "Vehicle.ADAS.ABS.IsEnabled",
    "Vehicle.ADAS.ABS.IsEngaged",
    "Vehicle.ADAS.ABS.IsError",
    "Vehicle.Cabin.HVAC.IsAirConditioningActive",
    "Vehicle.Cabin.HVAC.AmbientAirTemperature",
    "Sim.Cabin.HVAC.Power",
    "Sim.Cabin.Seat.Heating.Power",
];

/// Every signal the dashboard shows, in snapshot order.
pub fn paths() -> &'static [String] {
    &INDEX.0
}

static INDEX: LazyLock<(Vec<String>, HashMap<String, usize>)> = LazyLock::new(|| {
    let mut v: Vec<String> = FIXED.iter().map(|s| (*s).to_owned()).collect();
    for (seat, _) in SEATS {
        v.push(format!("Sim.Cabin.Seat.{seat}.Occupant"));
        v.push(format!("Vehicle.Cabin.Seat.{seat}.IsOccupied"));
        v.push(format!("Vehicle.Cabin.Seat.{seat}.IsBelted"));
        v.push(format!("Vehicle.Cabin.Seat.{seat}.Airbag.IsDeployed"));
    }
    for (seat, _) in &SEATS[..HEATED_SEATS] {
        v.push(format!("Vehicle.Cabin.Seat.{seat}.HeatingCooling"));
        v.push(format!("Sim.Cabin.Seat.{seat}.Temperature"));
    }
    for (zone, _) in ZONES {
        v.push(format!("Vehicle.Cabin.HVAC.Station.{zone}.Temperature"));
        v.push(format!("Vehicle.Cabin.HVAC.Station.{zone}.FanSpeed"));
        v.push(format!("Sim.Cabin.HVAC.Station.{zone}.AirTemperature"));
    }
    for (wheel, _) in WHEELS {
        v.push(format!("Vehicle.Chassis.Axle.{wheel}.Speed"));
        v.push(format!("Sim.Chassis.Axle.{wheel}.Brake.Pressure"));
        v.push(format!("Sim.Chassis.Axle.{wheel}.Brake.DiscTemperature"));
    }
    let map = v.iter().enumerate().map(|(i, p)| (p.clone(), i)).collect();
    (v, map)
});

/// The MQTT link as the link panel shows it. Filled by the telemetry side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkState {
    /// Broker address (`host:port`).
    pub broker: String,
    /// Connected right now.
    pub connected: bool,
    /// Messages published so far.
    pub published: u64,
    /// Publish rate over the last seconds.
    pub msgs_per_s: f64,
    /// Messages waiting in the outbox.
    pub outbox_depth: usize,
}

/// The OTA client as the OTA panel shows it. Filled by the OTA side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OtaState {
    /// State machine state (`idle`, `downloading`, `probation`, ...).
    pub state: String,
    /// Open action id and what it installs, if any.
    pub action: Option<String>,
    /// Progress of the open action, 0..=1.
    pub progress: f64,
    /// Installed versions, `name version`.
    pub versions: Vec<String>,
}

/// One loaded plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRow {
    /// Subsystem name.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// False once disabled by a panic.
    pub ok: bool,
}

/// Samples of one chart series: (simulated time s, value).
pub type Series = VecDeque<(f64, f64)>;

/// Charted signals, in chart order: (title, unit).
pub const CHARTS: [(&str, &str); 4] = [
    ("Speed", "km/h"),
    ("SOC", "%"),
    ("Drive power", "kW"),
    ("Cabin", "°C"),
];
/// Seconds of simulated time the charts keep.
pub const CHART_WINDOW_S: f64 = 300.0;
/// Seconds of simulated time between chart samples.
const CHART_EVERY_S: f64 = 1.0;
/// Lines kept in the event log and the plugin history.
pub const LOG_LINES: usize = 200;

/// Everything a frame shows.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// VIN of the vehicle.
    pub vin: String,
    /// Simulated time, s.
    pub t: f64,
    /// Ticks run.
    pub ticks: u64,
    /// Plugin faults so far.
    pub faults: u64,
    /// Values aligned with [`paths`].
    pub values: Vec<f64>,
    /// True while a human drives (the driver profile is idle).
    pub manual: bool,
    /// Loaded plugins.
    pub plugins: Vec<PluginRow>,
    /// Swap / rollback / rejection history, newest last.
    pub plugin_history: VecDeque<String>,
    /// Event log (vehicle events, tracing, control outcomes), newest last;
    /// filled by [`Shared::frame`].
    pub log: VecDeque<String>,
    /// Chart series, aligned with [`CHARTS`].
    pub charts: [Series; 4],
    /// The MQTT link, once someone reports it.
    pub link: Option<LinkState>,
    /// The OTA client, once someone reports it.
    pub ota: Option<OtaState>,
    /// Active diagnostic trouble codes: (code, subsystem).
    pub dtcs: Vec<(String, String)>,
}

impl Snapshot {
    /// The value of `path`, `NaN` if unknown or never written.
    pub fn get(&self, path: &str) -> f64 {
        debug_assert!(INDEX.1.contains_key(path), "{path} is not in paths()");
        INDEX
            .1
            .get(path)
            .and_then(|&i| self.values.get(i))
            .copied()
            .unwrap_or(f64::NAN)
    }

    /// Sets a value (tests and previews).
    pub fn set(&mut self, path: &str, value: f64) {
        if self.values.len() != paths().len() {
            self.values = vec![f64::NAN; paths().len()];
        }
        if let Some(&i) = INDEX.1.get(path) {
            self.values[i] = value;
        }
    }

    /// True when `path` reads as a set boolean.
    pub fn flag(&self, path: &str) -> bool {
        self.get(path) >= 0.5
    }
}

fn push_bounded(q: &mut VecDeque<String>, line: String) {
    if q.len() == LOG_LINES {
        q.pop_front();
    }
    q.push_back(line);
}

/// State shared between the tick thread, the render thread and whoever
/// reports the link and OTA state.
#[derive(Debug, Default)]
pub struct Shared {
    snapshot: Mutex<Snapshot>,
    /// The event log: vehicle events, tracing, control outcomes, notes of
    /// the link and OTA owners.
    log: Mutex<VecDeque<String>>,
    link: Mutex<Option<LinkState>>,
    ota: Mutex<Option<OtaState>>,
    /// Set by the render thread when the human takes the pedals; the tick
    /// thread then switches the driver profile to idle.
    pub take_over: AtomicBool,
}

impl Shared {
    /// A copy of the latest snapshot, with the link and OTA state.
    pub fn frame(&self) -> Snapshot {
        let mut s = self
            .snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        s.log = self
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        s.link = self
            .link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        s.ota = self
            .ota
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        s
    }

    /// Adds a line to the event log.
    pub fn log(&self, line: impl Into<String>) {
        push_bounded(
            &mut self.log.lock().unwrap_or_else(PoisonError::into_inner),
            line.into(),
        );
    }

    /// Reports the MQTT link state (called by the telemetry side).
    pub fn update_link(&self, link: LinkState) {
        *self.link.lock().unwrap_or_else(PoisonError::into_inner) = Some(link);
    }

    /// Reports the OTA state (called by the OTA side).
    pub fn update_ota(&self, ota: OtaState) {
        *self.ota.lock().unwrap_or_else(PoisonError::into_inner) = Some(ota);
    }
}

/// The OTA panel's state from an `ota.state` event (fields `state`,
/// `action`, `bytes`/`of`, `versions` as `name=version,...`).
fn ota_state(e: &Event) -> OtaState {
    let num = |k: &str| e.fields.get(k).and_then(|v| v.parse::<f64>().ok());
    OtaState {
        state: e.fields.get("state").cloned().unwrap_or_default(),
        action: e.fields.get("action").cloned(),
        progress: match (num("bytes"), num("of")) {
            (Some(n), Some(of)) if of > 0.0 => (n / of).clamp(0.0, 1.0),
            _ => 0.0,
        },
        versions: e
            .fields
            .get("versions")
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.replace('=', " "))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The tick hook that feeds the dashboard.
#[derive(Debug)]
pub struct SnapshotHook {
    shared: Arc<Shared>,
    /// Resolved ids, with whether the signal is an actuator (an actuator
    /// always has a value: its initial one until someone sets it).
    ids: Vec<Option<(SignalId, bool)>>,
    local: Snapshot,
    /// Event lines not yet moved into the shared log.
    pending: Vec<String>,
    next_sample: f64,
    /// The fault masks as last read, so that the code list is only rebuilt
    /// (and allocates) when one changes.
    masks: Vec<f64>,
}

impl SnapshotHook {
    /// A hook for `vehicle`, publishing into `shared`.
    pub fn new(vehicle: &Vehicle, vin: &str, shared: Arc<Shared>) -> Self {
        let bus = vehicle.bus();
        let ids = paths()
            .iter()
            .map(|p| {
                bus.id(p)
                    .ok()
                    .map(|id| (id, bus.meta(id).kind == SignalKind::Actuator))
            })
            .collect();
        let local = Snapshot {
            vin: vin.to_owned(),
            values: vec![f64::NAN; paths().len()],
            ..Snapshot::default()
        };
        Self {
            shared,
            ids,
            local,
            pending: Vec::new(),
            next_sample: 0.0,
            masks: Vec::new(),
        }
    }

    fn read(&mut self, vehicle: &Vehicle) {
        let bus = vehicle.bus();
        for (slot, id) in self.local.values.iter_mut().zip(&self.ids) {
            *slot = match id {
                Some((id, actuator)) if *actuator || bus.is_written(*id) => bus.get(*id),
                _ => f64::NAN,
            };
        }
        let table = vehicle.dtc_table();
        let masks = table.signals().map(|id| bus.get(id));
        if !masks.eq(self.masks.iter().copied()) {
            self.masks = table.signals().map(|id| bus.get(id)).collect();
            self.local.dtcs = table
                .active(|id| bus.get(id))
                .map(|f| (f.code.clone(), f.subsystem.clone()))
                .collect();
        }
        let s = &mut self.local;
        s.t = vehicle.time();
        s.ticks = vehicle.ticks();
        s.faults = vehicle.faults();
        s.plugins.clear();
        s.plugins
            .extend(vehicle.plugins().iter().map(|p| PluginRow {
                name: p.library().info().name.clone(),
                version: p.library().info().version.clone(),
                ok: !p.is_poisoned(),
            }));
        if s.t >= self.next_sample {
            self.next_sample = s.t + CHART_EVERY_S;
            let status = vehicle.status();
            let samples = [
                status.speed_kmh,
                status.soc,
                status.drive_kw,
                status.cabin_c,
            ];
            for (series, v) in s.charts.iter_mut().zip(samples) {
                while series
                    .front()
                    .is_some_and(|(t, _)| *t < s.t - CHART_WINDOW_S)
                {
                    series.pop_front();
                }
                series.push_back((s.t, v));
            }
        }
    }
}

impl TickHook for SnapshotHook {
    fn before_tick(&mut self, vehicle: &mut Vehicle) {
        if !self.local.manual && self.shared.take_over.load(Ordering::Relaxed) {
            vehicle.set_driver(tcu_engine::world::driver::DriverProfile::Idle);
            self.local.manual = true;
        }
    }

    fn after_tick(&mut self, vehicle: &Vehicle, events: &[Event]) {
        self.read(vehicle);
        for e in events {
            let line = format!("{:8.2}s {} {}", e.t, e.kind, e.detail);
            if matches!(
                e.kind.as_str(),
                "plugin.swapped" | "plugin.rollback" | "plugin.rejected"
            ) {
                push_bounded(&mut self.local.plugin_history, line.clone());
            }
            if e.kind == "ota.state" {
                self.shared.update_ota(ota_state(e));
            }
            self.pending.push(line);
        }
        // Only the newest lines are ever shown; keep no more while waiting.
        let excess = self.pending.len().saturating_sub(LOG_LINES);
        self.pending.drain(..excess);
        if !self.pending.is_empty()
            && let Ok(mut log) = self.shared.log.try_lock()
        {
            for line in self.pending.drain(..) {
                push_bounded(&mut log, line);
            }
        }
        // Never wait for the render thread: if it is copying, publish on the
        // next tick instead.
        if let Ok(mut out) = self.shared.snapshot.try_lock() {
            out.clone_from(&self.local);
        }
    }
}
