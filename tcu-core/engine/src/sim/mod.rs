//! The simulated vehicle: bus, world model and plugin instances, advanced one
//! fixed step at a time, plus the loop that paces steps against a clock.
//!
//! One tick: the control path's driver (if any) sets the pedals, the world
//! model writes its sensors and moves the car, then every plugin runs in
//! dependency order. A plugin error discards that plugin's outputs for the
//! tick and is reported; a panic also disables the instance (its state can no
//! longer be trusted) while the rest of the car keeps running.

pub mod clock;
pub mod detect;
pub mod dtc;
pub mod faults;
mod order;
mod runner;
#[cfg(test)]
mod swap_tests;

pub use order::{Node, execution_order};
pub use runner::{Hooks, RunOutcome, RunSettings, StatusEvery, TickHook, run};

use crate::bus::Bus;
use crate::catalog::SignalId;
use crate::plugin::{PluginInstance, TickError};
use crate::reply::Reply;
use crate::swap::{PreparedSwap, SwapEngine, SwapError, SwapOutcome, SwapSettings};
use crate::world::World;
use crate::world::driver::{self, DriverProfile};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// Something worth telling the outside world about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Simulated time, s.
    pub t: f64,
    /// Event kind (`plugin.loaded`, `fault`, `airbag.deployed`,
    /// `abs.engaged`, `abs.released`, `dtc.raised`, `dtc.cleared`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Human-readable detail.
    pub detail: String,
    /// Structured detail (subsystem, versions, reason, ...), flattened into
    /// the event's JSON.
    #[serde(flatten)]
    pub fields: BTreeMap<String, String>,
}

/// Most events kept for a consumer that has not drained them.
const EVENT_BACKLOG: usize = 1024;

/// One row of the summary printed by headless runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// Simulated time, s.
    pub t: f64,
    /// Vehicle speed, km/h.
    pub speed_kmh: f64,
    /// State of charge, %.
    pub soc: f64,
    /// Mean cabin temperature, °C.
    pub cabin_c: f64,
    /// Electrical power of the traction drive, kW.
    pub drive_kw: f64,
    /// Plugins running / loaded.
    pub plugins_ok: usize,
    /// Plugins loaded.
    pub plugins: usize,
    /// Plugin faults so far.
    pub faults: u64,
}

#[derive(Debug, Clone, Copy)]
struct StatusIds {
    speed: SignalId,
    soc: SignalId,
    cabin: SignalId,
    drive: SignalId,
}

/// A vehicle in simulation.
#[derive(Debug)]
pub struct Vehicle {
    bus: Bus,
    world: World,
    plugins: Vec<PluginInstance>,
    driver: DriverProfile,
    dt: f64,
    tick: u64,
    faults: u64,
    events: VecDeque<Event>,
    status_ids: StatusIds,
    swap: SwapEngine,
    raised: Vec<crate::swap::Raised>,
    detect: detect::Detector,
    dtc: dtc::Monitor,
    injected: faults::InjectedErrors,
    /// The world's signals come from outside (a replayed recording): the
    /// driver and the world model are not stepped.
    external_world: bool,
}

impl Vehicle {
    /// Assembles a vehicle. The plugins are put in dependency order; a
    /// dependency cycle is reported as an event.
    pub fn new(
        bus: Bus,
        world: World,
        plugins: Vec<PluginInstance>,
        driver: DriverProfile,
        tick_rate_hz: f64,
    ) -> Self {
        let (plugins, cycle) = in_dependency_order(plugins);
        let mut bus = bus;
        let (dtc, dtc_warning) = dtc::Monitor::new(&mut bus);
        let id = |p: &str| bus.id(p).unwrap_or(SignalId(0));
        let status_ids = StatusIds {
            speed: id("Vehicle.Speed"),
            soc: id("Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"),
            cabin: id("Vehicle.Cabin.HVAC.AmbientAirTemperature"),
            drive: id("Sim.Powertrain.ElectricalPower"),
        };
        let detect = detect::Detector::new(&bus);
        let mut v = Self {
            bus,
            world,
            plugins,
            driver,
            dt: 1.0 / tick_rate_hz,
            tick: 0,
            faults: 0,
            events: VecDeque::new(),
            status_ids,
            swap: SwapEngine::new(
                SwapSettings {
                    canary_ticks: 50,
                    probation_ticks: (10.0 * tick_rate_hz).round() as u64,
                    seed: 0,
                },
                None,
                Default::default(),
            ),
            raised: Vec::new(),
            detect,
            dtc,
            injected: faults::InjectedErrors::default(),
            external_world: false,
        };
        let loaded: Vec<String> = v
            .plugins
            .iter()
            .map(|p| {
                let info = p.library().info();
                format!(
                    "{} {} from {}",
                    info.name,
                    info.version,
                    p.library().path().display()
                )
            })
            .collect();
        for detail in loaded {
            v.push_event("plugin.loaded", detail);
        }
        if !cycle.is_empty() {
            v.push_event(
                "plugin.cycle",
                format!(
                    "dependency cycle through {}; readers see the previous tick",
                    cycle.join(", ")
                ),
            );
        }
        if let Some(warning) = dtc_warning {
            v.push_event("dtc.unwatched", warning);
        }
        v
    }

    fn push_event(&mut self, kind: &str, detail: String) {
        self.push_event_with(kind, detail, BTreeMap::new());
    }

    fn push_event_with(&mut self, kind: &str, detail: String, fields: BTreeMap<String, String>) {
        if self.events.len() == EVENT_BACKLOG {
            self.events.pop_front();
        }
        self.events.push_back(Event {
            t: self.time(),
            kind: kind.to_owned(),
            detail,
            fields,
        });
    }

    /// Raises an event from outside the tick (assembly warnings, ...).
    pub fn raise(&mut self, kind: &str, detail: String) {
        self.push_event(kind, detail);
    }

    /// As [`Vehicle::raise`], with structured fields (OTA state, ...).
    pub fn raise_with(&mut self, kind: &str, detail: String, fields: BTreeMap<String, String>) {
        self.push_event_with(kind, detail, fields);
    }

    /// Replaces the hot-swap engine (its settings, store and active set).
    pub fn set_swap_engine(&mut self, engine: SwapEngine) {
        self.swap = engine;
    }

    /// The hot-swap engine.
    pub fn swap_engine(&self) -> &SwapEngine {
        &self.swap
    }

    /// Queues a hot-swap transaction; it begins between two ticks, after any
    /// transaction still in canary or probation. `reply` gets the final
    /// outcome (passed probation, rejected, rolled back).
    pub fn request_swap(
        &mut self,
        prepared: Result<PreparedSwap, SwapError>,
        reply: Option<Reply<SwapOutcome>>,
    ) {
        self.swap.request(prepared, reply);
    }

    /// With `true`, ticks no longer step the driver and the world model:
    /// whoever owns the vehicle writes the world's signals before each tick
    /// (a recorded drive replayed as a scenario does).
    pub fn set_external_world(&mut self, external: bool) {
        self.external_world = external;
    }

    /// Hints that this vehicle is about to tick, so that its memory loads
    /// while the caller does other work (a fleet worker, the tick of the
    /// vehicle before it). Changes nothing.
    pub fn prefetch(&self) {
        crate::cache::prefetch_value(self);
        self.prefetch_owned();
    }

    /// [`Self::prefetch`] without the vehicle's own struct: for a holder
    /// that hints the struct it is part of.
    pub fn prefetch_owned(&self) {
        self.bus.prefetch();
        self.detect.prefetch();
        self.dtc.prefetch();
        for p in &self.plugins {
            p.prefetch();
        }
    }

    /// Runs one tick.
    pub fn step(&mut self) {
        if !self.external_world {
            let t = self.time();
            driver::apply(self.driver, t, &mut self.bus);
            self.world.step(&mut self.bus, self.dt);
        }
        for i in 0..self.plugins.len() {
            // A candidate runs in shadow on this tick's inputs whatever the
            // live instance does: replacing a disabled instance (or one
            // whose tick fails) needs a canary that really ran.
            self.swap.shadow(self.plugins[i].name(), self.dt, &self.bus);
            if self.plugins[i].is_poisoned() {
                continue;
            }
            if !self.injected.is_empty() && self.injected.take(self.plugins[i].name()) {
                self.faults += 1;
                let detail = format!("{}: injected tick error", self.plugins[i].name());
                self.push_event("fault", detail);
                self.swap.live_error(
                    self.plugins[i].name(),
                    &TickError::Status {
                        plugin: self.plugins[i].name().to_owned(),
                        status: "ERROR",
                        message: "injected tick error".to_owned(),
                    },
                );
                continue;
            }
            if let Err(e) = self.plugins[i].tick(self.dt, &mut self.bus) {
                self.swap.live_error(self.plugins[i].name(), &e);
                self.faults += 1;
                let detail = if matches!(e, TickError::Panic { .. }) {
                    format!("{e}; the instance is disabled")
                } else {
                    e.to_string()
                };
                self.push_event("fault", detail);
            }
        }
        for (kind, detail) in self.detect.scan(&self.bus) {
            self.push_event(kind, detail);
        }
        for (kind, detail, fields) in self.dtc.scan(&mut self.bus) {
            self.push_event_with(kind, detail, fields);
        }
        self.tick += 1;
        if self.swap.busy() {
            let changed = self.swap.between_ticks(
                self.tick,
                &mut self.plugins,
                &mut self.bus,
                &mut self.raised,
            );
            if changed {
                let plugins = std::mem::take(&mut self.plugins);
                let (plugins, cycle) = in_dependency_order(plugins);
                self.plugins = plugins;
                if !cycle.is_empty() {
                    self.push_event(
                        "plugin.cycle",
                        format!(
                            "dependency cycle through {}; readers see the previous tick",
                            cycle.join(", ")
                        ),
                    );
                }
            }
            let raised = std::mem::take(&mut self.raised);
            for (kind, detail, fields) in raised {
                self.push_event_with(kind, detail, fields);
            }
        }
    }

    /// Simulated time, s.
    pub fn time(&self) -> f64 {
        self.tick as f64 * self.dt
    }

    /// Ticks run so far.
    pub fn ticks(&self) -> u64 {
        self.tick
    }

    /// Step length, s.
    pub fn dt(&self) -> f64 {
        self.dt
    }

    /// The bus.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The bus, for the control path.
    pub fn bus_mut(&mut self) -> &mut Bus {
        &mut self.bus
    }

    /// The diagnostic trouble codes the plugins of this vehicle can raise.
    pub fn dtc_table(&self) -> &std::sync::Arc<crate::catalog::DtcTable> {
        self.dtc.table()
    }

    /// The world model.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// Plugins in execution order.
    pub fn plugins(&self) -> &[PluginInstance] {
        &self.plugins
    }

    /// Plugins in execution order, mutable (for commands).
    pub fn plugins_mut(&mut self) -> &mut [PluginInstance] {
        &mut self.plugins
    }

    /// Replaces the driver profile.
    pub fn set_driver(&mut self, driver: DriverProfile) {
        self.driver = driver;
    }

    /// Takes the events raised since the last call.
    pub fn drain_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    /// Moves the events raised since the last call into `out` (reusing its
    /// allocation; nothing is allocated when there are none).
    pub fn drain_events_into(&mut self, out: &mut Vec<Event>) {
        out.extend(self.events.drain(..));
    }

    /// Plugin faults so far.
    pub fn faults(&self) -> u64 {
        self.faults
    }

    /// The summary of the current state.
    pub fn status(&self) -> Status {
        let ids = self.status_ids;
        Status {
            t: self.time(),
            speed_kmh: self.bus.get(ids.speed),
            soc: self.bus.get(ids.soc),
            cabin_c: self.bus.get(ids.cabin),
            drive_kw: self.bus.get(ids.drive) / 1000.0,
            plugins_ok: self.plugins.iter().filter(|p| !p.is_poisoned()).count(),
            plugins: self.plugins.len(),
            faults: self.faults,
        }
    }
}

/// Sorts plugins writers-before-readers; returns the subsystems of a
/// dependency cycle, if any.
fn in_dependency_order(plugins: Vec<PluginInstance>) -> (Vec<PluginInstance>, Vec<String>) {
    let nodes: Vec<Node<'_>> = plugins
        .iter()
        .map(|p| Node {
            name: p.name(),
            reads: p.library().reads(),
            writes: p.library().writes(),
        })
        .collect();
    let (order, cycle) = execution_order(&nodes);
    let mut slots: Vec<Option<PluginInstance>> = plugins.into_iter().map(Some).collect();
    let plugins = order.iter().filter_map(|&i| slots[i].take()).collect();
    (plugins, cycle)
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "t={:7.1}s speed={:6.1} km/h soc={:6.2}% cabin={:5.1}°C drive={:7.2} kW plugins={}/{} faults={}",
            self.t,
            self.speed_kmh,
            self.soc,
            self.cabin_c,
            self.drive_kw,
            self.plugins_ok,
            self.plugins,
            self.faults
        )
    }
}
