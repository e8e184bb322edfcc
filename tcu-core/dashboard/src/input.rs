//! Keys → [`Action`]s → control messages. Every change to the vehicle is a
//! [`ControlMsg`] sent through the same [`ControlHandle`] MQTT commands and
//! scenario steps use; its outcome comes back through the reply callback
//! and, when refused, lands in the event log. The clock controls act on the
//! [`ClockControl`]; reloading plugins and polling OTA are handed to
//! whoever owns those features (see [`Request`]).
//!
//! VSS 5.0 has one A/C switch for the cabin
//! (`Vehicle.Cabin.HVAC.IsAirConditioningActive`), so `a` toggles it for every
//! zone; setpoint and fan are per zone.
//!
//! Relative keys (setpoint, fan, seat heating, ambient, friction) stop at
//! the signal's limits in the catalog the bus checks against, and say so in
//! the event log when a press would have gone past them: the dashboard never
//! sends a value the car refuses, and never keeps its own copy of a limit.
//!
//! Terminals report key presses, not releases, so the pedals are levels:
//! each press of throttle or brake adds 10 % and releases the other pedal;
//! space releases both. The first pedal press takes the car over from the
//! automatic driver (the driver profile becomes idle).

use super::clock::ClockControl;
use super::snapshot::{HEATED_SEATS, SEATS, Shared, Snapshot, ZONES};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tcu_engine::catalog::{Catalog, DtcFault, DtcTable, Value};
use tcu_engine::control::{ControlHandle, ControlMsg};

/// The crash the dashboard triggers: into a rigid barrier at the current
/// speed (`Sim.Crash.Trigger`, the share of the speed lost, percent). Fast
/// enough, it fires the airbags and opens the high-voltage circuit, so the
/// car coasts to a stop and does not drive again until reset.
pub const CRASH_SHARE_PERCENT: f64 = 100.0;

/// The key list the help overlay and the README show.
pub const KEYS: &[(&str, &str)] = &[
    ("↑ / w", "throttle +10 % (takes over from the demo driver)"),
    ("↓ / s", "brake +10 %"),
    ("space", "release both pedals"),
    ("c", "crash: into a rigid barrier at the current speed"),
    (
        "1-5",
        "select seat (R1 driver, R1 pass., R2 driver, middle, pass.)",
    ),
    (
        "o",
        "cycle the selected seat's occupant: empty/unbelted/belted",
    ),
    ("h / H", "selected seat heating -10 / +10 %"),
    ("z", "select the next HVAC zone"),
    ("t / T", "zone setpoint -0.5 / +0.5 °C"),
    ("f / F", "zone fan -10 / +10 %"),
    ("a", "A/C on/off"),
    ("e / E", "ambient temperature -1 / +1 °C"),
    ("g / G", "road friction -0.1 / +0.1"),
    ("x", "ABS wheel-sensor fault: none, FL, FR, RL, RR"),
    (
        "D",
        "select the next diagnostic fault (named in the header)",
    ),
    (
        "d",
        "inject the selected fault, or heal it if its DTC is active",
    ),
    ("p", "pause / resume the simulation clock"),
    ("n", "single step (pauses first)"),
    ("< / >", "slower / faster clock (x0.25 .. x16)"),
    ("L", "reload plugins"),
    ("U", "poll OTA now"),
    ("?", "this help (Esc closes)"),
    ("q / Ctrl-C", "quit"),
];

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Leave the dashboard.
    Quit,
    /// Show or hide the key list.
    ToggleHelp,
    /// Hide the key list.
    CloseHelp,
    /// More accelerator.
    Throttle,
    /// More brake.
    Brake,
    /// Release both pedals.
    Coast,
    /// Trigger a crash pulse.
    Crash,
    /// Select a seat (index into [`SEATS`]).
    SelectSeat(usize),
    /// Next occupant state of the selected seat.
    CycleOccupant,
    /// Change the selected seat's heating level by this many percent.
    SeatHeat(i64),
    /// Select the next HVAC zone.
    NextZone,
    /// Change the selected zone's setpoint, °C.
    Setpoint(f64),
    /// Change the selected zone's fan speed, %.
    Fan(i64),
    /// Toggle the A/C.
    ToggleAc,
    /// Change the ambient temperature, °C.
    Ambient(f64),
    /// Change the road friction.
    Friction(f64),
    /// Next wheel-sensor fault.
    CycleFault,
    /// Select the next injectable diagnostic fault.
    NextDtcFault,
    /// Inject the selected diagnostic fault, or heal it when active.
    ToggleDtcFault,
    /// Pause or resume the clock.
    Pause,
    /// One tick while paused.
    Step,
    /// Faster (true) or slower clock.
    Speed(bool),
    /// Reload the plugin libraries.
    ReloadPlugins,
    /// Poll the OTA server now.
    PollOta,
}

/// Maps a key event to an action.
pub fn action_for(key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return (key.code == KeyCode::Char('c')).then_some(Action::Quit);
    }
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Esc => Action::CloseHelp,
        KeyCode::Up | KeyCode::Char('w') => Action::Throttle,
        KeyCode::Down | KeyCode::Char('s') => Action::Brake,
        KeyCode::Char(' ') => Action::Coast,
        KeyCode::Char('c') => Action::Crash,
        KeyCode::Char(d @ '1'..='5') => Action::SelectSeat(usize::from(d as u8 - b'1')),
        KeyCode::Char('o') => Action::CycleOccupant,
        KeyCode::Char('h') => Action::SeatHeat(-10),
        KeyCode::Char('H') => Action::SeatHeat(10),
        KeyCode::Char('z') => Action::NextZone,
        KeyCode::Char('t') => Action::Setpoint(-0.5),
        KeyCode::Char('T') => Action::Setpoint(0.5),
        KeyCode::Char('f') => Action::Fan(-10),
        KeyCode::Char('F') => Action::Fan(10),
        KeyCode::Char('a') => Action::ToggleAc,
        KeyCode::Char('e') => Action::Ambient(-1.0),
        KeyCode::Char('E') => Action::Ambient(1.0),
        KeyCode::Char('g') => Action::Friction(-0.1),
        KeyCode::Char('G') => Action::Friction(0.1),
        KeyCode::Char('x') => Action::CycleFault,
        KeyCode::Char('D') => Action::NextDtcFault,
        KeyCode::Char('d') => Action::ToggleDtcFault,
        KeyCode::Char('p') => Action::Pause,
        KeyCode::Char('n') => Action::Step,
        KeyCode::Char('>' | '.') => Action::Speed(true),
        KeyCode::Char('<' | ',') => Action::Speed(false),
        KeyCode::Char('L') => Action::ReloadPlugins,
        KeyCode::Char('U') => Action::PollOta,
        _ => return None,
    })
}

/// Work the dashboard hands to other parts of the TCU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Reload (hot-swap) the plugin libraries from their directory.
    ReloadPlugins,
    /// Poll the OTA server now instead of at the next interval.
    PollOta,
}

/// Receives [`Request`]s; runs on the render thread, so it must only hand
/// the request on.
pub type RequestHandler = Box<dyn FnMut(Request) + Send>;

/// Turns actions into control messages; keeps the selections.
pub struct Controller {
    control: ControlHandle,
    clock: Arc<ClockControl>,
    shared: Arc<Shared>,
    requests: Option<RequestHandler>,
    /// The limits the keys are held to: the catalog `tcu run` builds its
    /// vehicle from.
    catalog: Catalog,
    /// Selected seat, index into [`SEATS`].
    pub seat: usize,
    /// Selected HVAC zone, index into [`ZONES`].
    pub zone: usize,
    /// The injectable diagnostic faults, in the DTC file's order.
    pub dtc_faults: Vec<DtcFault>,
    /// Selected diagnostic fault, index into `dtc_faults`.
    pub dtc_fault: usize,
    /// Pedals as last set by the human: (accelerator, brake) %.
    pedals: Option<(f64, f64)>,
    /// Help overlay shown.
    pub help: bool,
    /// Values sent lately, by path: the base for the next relative change
    /// until the snapshot has caught up (two presses within one frame must
    /// add up).
    sent: HashMap<String, (f64, Instant)>,
}

/// How long a sent value stays the base for relative changes.
const SENT_FRESH: Duration = Duration::from_millis(300);

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("seat", &self.seat)
            .field("zone", &self.zone)
            .field("pedals", &self.pedals)
            .field("help", &self.help)
            .finish_non_exhaustive()
    }
}

fn or0(v: f64) -> f64 {
    if v.is_nan() { 0.0 } else { v }
}

impl Controller {
    /// A controller sending through `control`.
    pub fn new(
        control: ControlHandle,
        clock: Arc<ClockControl>,
        shared: Arc<Shared>,
        requests: Option<RequestHandler>,
    ) -> Self {
        let catalog = Catalog::builtin();
        Self {
            control,
            clock,
            shared,
            requests,
            dtc_faults: DtcTable::builtin(&catalog).faults().cloned().collect(),
            dtc_fault: 0,
            catalog,
            seat: 0,
            zone: 0,
            pedals: None,
            help: false,
            sent: HashMap::new(),
        }
    }

    /// Applies an action; returns false when the dashboard should quit.
    pub fn handle(&mut self, action: Action, snap: &Snapshot) -> bool {
        match action {
            Action::Quit => return false,
            Action::ToggleHelp => self.help = !self.help,
            Action::CloseHelp => self.help = false,
            Action::Throttle | Action::Brake | Action::Coast => self.pedal(action, snap),
            Action::Crash => self.set(vec![(
                "Sim.Crash.Trigger".into(),
                Value::Float(CRASH_SHARE_PERCENT),
            )]),
            Action::SelectSeat(i) => self.seat = i.min(SEATS.len() - 1),
            Action::CycleOccupant => {
                let path = format!("Sim.Cabin.Seat.{}.Occupant", SEATS[self.seat].0);
                let next = (self.base(snap, &path) as i64 + 1) % 3;
                self.set(vec![(path, Value::Int(next))]);
            }
            Action::SeatHeat(delta) => self.seat_heat(delta, snap),
            Action::NextZone => self.zone = (self.zone + 1) % ZONES.len(),
            Action::Setpoint(delta) => {
                let path = format!(
                    "Vehicle.Cabin.HVAC.Station.{}.Temperature",
                    ZONES[self.zone].0
                );
                let v = self.within_limits(&path, self.base(snap, &path) + delta);
                self.set(vec![(path, Value::Float(v))]);
            }
            Action::Fan(delta) => {
                let path = format!("Vehicle.Cabin.HVAC.Station.{}.FanSpeed", ZONES[self.zone].0);
                let v = self.within_limits(&path, (self.base(snap, &path) as i64 + delta) as f64);
                self.set(vec![(path, Value::Int(v as i64))]);
            }
            Action::ToggleAc => {
                let path = "Vehicle.Cabin.HVAC.IsAirConditioningActive";
                let on = self.base(snap, path) < 0.5;
                self.set(vec![(path.into(), Value::Bool(on))]);
            }
            Action::Ambient(delta) => {
                let path = "Sim.Environment.AirTemperature";
                let v = self.within_limits(path, self.base(snap, path) + delta);
                self.set(vec![(path.into(), Value::Float(v))]);
            }
            Action::Friction(delta) => {
                let path = "Sim.Environment.RoadFriction";
                let v = (self.within_limits(path, self.base(snap, path) + delta) * 100.0).round()
                    / 100.0;
                self.set(vec![(path.into(), Value::Float(v))]);
            }
            Action::CycleFault => {
                let path = "Sim.Fault.ABS.WheelSensor";
                let next = (self.base(snap, path) as i64 + 1) % 5;
                self.set(vec![(path.into(), Value::Int(next))]);
            }
            Action::NextDtcFault => {
                self.dtc_fault = (self.dtc_fault + 1) % self.dtc_faults.len().max(1);
            }
            Action::ToggleDtcFault => self.toggle_dtc_fault(snap),
            Action::Pause => self.clock.set_paused(!self.clock.is_paused()),
            Action::Step => {
                if self.clock.is_paused() {
                    self.clock.step();
                } else {
                    self.clock.set_paused(true);
                }
            }
            Action::Speed(up) => self.clock.shift_speed(up),
            Action::ReloadPlugins => self.request(Request::ReloadPlugins),
            Action::PollOta => self.request(Request::PollOta),
        }
        true
    }

    fn pedal(&mut self, action: Action, snap: &Snapshot) {
        if self.pedals.is_none() {
            self.shared.take_over.store(true, Ordering::Relaxed);
            self.shared
                .log("dashboard: you are driving (driver profile idle)");
        }
        let (a, b) = self.pedals.unwrap_or_else(|| {
            (
                or0(snap.get("Sim.Driver.AcceleratorPedal")),
                or0(snap.get("Sim.Driver.BrakePedal")),
            )
        });
        let (a, b) = match action {
            Action::Throttle => ((a + 10.0).min(100.0), 0.0),
            Action::Brake => (0.0, (b + 10.0).min(100.0)),
            _ => (0.0, 0.0),
        };
        self.pedals = Some((a, b));
        self.set(vec![
            ("Sim.Driver.AcceleratorPedal".into(), Value::Float(a)),
            ("Sim.Driver.BrakePedal".into(), Value::Float(b)),
        ]);
    }

    fn seat_heat(&mut self, delta: i64, snap: &Snapshot) {
        if self.seat >= HEATED_SEATS {
            self.shared.log(format!(
                "dashboard: seat {} has no heating",
                SEATS[self.seat].1
            ));
            return;
        }
        let path = format!("Vehicle.Cabin.Seat.{}.HeatingCooling", SEATS[self.seat].0);
        let v = self.within_limits(&path, (self.base(snap, &path) as i64 + delta) as f64);
        self.set(vec![(path, Value::Int(v as i64))]);
    }

    fn request(&mut self, request: Request) {
        match &mut self.requests {
            Some(handler) => handler(request),
            None => self.shared.log(format!(
                "dashboard: {request:?} is not configured in this build"
            )),
        }
    }

    /// `value` held within the catalog limits of `path` (rounded for an
    /// integer signal); a press that would have gone past them is logged.
    fn within_limits(&self, path: &str, value: f64) -> f64 {
        let Some(meta) = self.catalog.get(path) else {
            return value;
        };
        let held = meta.clamp(value);
        if held != value {
            let (min, max) = meta.bounds();
            let unit = meta
                .unit
                .as_deref()
                .map_or_else(String::new, |u| format!(" {u}"));
            self.shared.log(format!(
                "dashboard: {path} stays within its limits [{min}, {max}]{unit}"
            ));
        }
        held
    }

    /// The current value of `path` as the base of a relative change.
    fn base(&self, snap: &Snapshot, path: &str) -> f64 {
        match self.sent.get(path) {
            Some((v, at)) if at.elapsed() < SENT_FRESH => *v,
            _ => or0(snap.get(path)),
        }
    }

    /// Sends an all-or-nothing write; a refusal is logged with its reasons.
    /// Sends `fault.<name>` to the selected fault's plugin: 1 to inject, or
    /// 0 when the snapshot shows its code active.
    fn toggle_dtc_fault(&mut self, snap: &Snapshot) {
        let Some(f) = self.dtc_faults.get(self.dtc_fault) else {
            return;
        };
        let active = snap.dtcs.iter().any(|(code, _)| *code == f.code);
        let value = if active { 0.0 } else { 1.0 };
        let name = format!("fault.{}", f.fault);
        let what = format!("{} {name}={value} ({})", f.subsystem, f.code);
        let shared = self.shared.clone();
        let msg = ControlMsg::PluginCommand {
            subsystem: f.subsystem.clone(),
            name,
            value,
            reply: Some(Box::new(move |result| match result {
                Ok(()) => shared.log(format!("command {what}")),
                Err(e) => shared.log(format!("refused {what}: {e}")),
            })),
        };
        if self.control.send(msg).is_err() {
            self.shared.log("dashboard: the vehicle is not running");
        }
    }

    fn set(&mut self, set: Vec<(String, Value)>) {
        let now = Instant::now();
        for (path, value) in &set {
            self.sent.insert(path.clone(), (value.to_slot(), now));
        }
        let shared = self.shared.clone();
        let what = set
            .iter()
            .map(|(p, v)| format!("{p}={}", v.to_slot()))
            .collect::<Vec<_>>()
            .join(", ");
        let msg = ControlMsg::Set {
            set,
            reply: Some(Box::new(move |result| match result {
                Ok(()) => shared.log(format!("set {what}")),
                Err(errors) => shared.log(format!("refused {what}: {errors:?}")),
            })),
        };
        if self.control.send(msg).is_err() {
            self.shared.log("dashboard: the vehicle is not running");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ClockControl;
    use std::sync::atomic::AtomicBool;
    use tcu_engine::control;

    const SETPOINT: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";

    #[test]
    fn the_setpoint_keys_stop_at_the_vehicle_limits_and_say_so() {
        // The inbox stays open: the messages are sent, nobody applies them.
        let (handle, _inbox) = control::channel();
        let shared = Arc::new(Shared::default());
        let clock = Arc::new(ClockControl::new(Arc::new(AtomicBool::new(false))));
        let mut c = Controller::new(handle, clock, shared.clone(), None);
        let mut snap = Snapshot::default();
        snap.set(SETPOINT, 27.5);
        for _ in 0..3 {
            c.handle(Action::Setpoint(0.5), &snap);
        }
        assert_eq!(c.sent[SETPOINT].0, 28.0, "sent above the limit");
        let log = shared.frame().log;
        assert!(
            log.iter()
                .any(|l| l.contains(SETPOINT) && l.contains("[16, 28]")),
            "{log:?}"
        );
        c.sent.clear();
        snap.set(SETPOINT, 16.0);
        c.handle(Action::Setpoint(-0.5), &snap);
        assert_eq!(c.sent[SETPOINT].0, 16.0, "sent below the limit");
    }
}
