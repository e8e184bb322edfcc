//! The airbag control unit: crash severity from the integrated pulse, belt-
//! dependent firing decisions, latching, and the crash output.

use serde::{Deserialize, Serialize};
use std::ffi::CStr;
use tcu_sdk::abi::{TCU_TYPE_BOOLEAN, TCU_TYPE_FLOAT, TCU_TYPE_UINT32, TcuSignalDecl};
#[path = "faults.rs"]
pub mod faults;
use tcu_sdk::physics::{as_bool, finite_or, from_bool};
use tcu_sdk::vehicle::GRAVITY;
use tcu_sdk::{CommandError, PluginError, Subsystem};

/// Published severity levels the unit is calibrated to, as barrier-
/// equivalent speeds (a full-width rigid barrier hit at this speed), km/h.
pub mod levels {
    /// No-fire level for every occupant: 8 mph. NHTSA (*Air Bags*) gives the
    /// deployment threshold of frontal airbags as a crash equivalent to a
    /// rigid barrier at 8 to 14 mph, so nothing may fire below the lower
    /// end.
    pub const NO_FIRE_KMH: f64 = 12.9;
    /// Must-fire level for an unbelted occupant: 12 mph, the upper end of the
    /// 10–12 mph rigid-wall "must deploy" threshold (IIHS, *Airbags*, Q&A),
    /// inside the 8–14 mph band above.
    pub const MUST_FIRE_UNBELTED_KMH: f64 = 19.3;
    /// Must-fire level for a belted occupant: 16 mph, the higher "must
    /// deploy" threshold of advanced airbags with a belt sensor, because the
    /// belt alone protects up to moderate speeds (IIHS, *Airbags*, Q&A).
    pub const MUST_FIRE_BELTED_KMH: f64 = 25.7;
    /// No-fire level for a belted occupant: the unbelted must-fire level.
    /// Not a published figure but this unit's design choice: a crash that
    /// must fire the bag of an unbelted occupant is one the belt alone still
    /// handles, so the belted decision lies clearly above it.
    pub const NO_FIRE_BELTED_KMH: f64 = MUST_FIRE_UNBELTED_KMH;
}

/// Deceleration that opens a crash event (the "algorithm enable" level), g.
/// Low, because the world's pulse carries impacts only (no braking, no
/// road noise) and an early start keeps the decision window close to the
/// impact.
pub const WAKE_G: f64 = 0.3;
/// Speed change (km/h) at which the unit dates the impact: the window is
/// measured from the instant the integrated pulse reaches it, placed inside
/// the tick by interpolation (the sample is the tick's mean, so the speed
/// change grows linearly within a tick). Dating the impact this way rather
/// than by the tick that crossed [`WAKE_G`] keeps the firing level the same
/// whether the crossing fell early or late in a tick.
pub const IMPACT_DELTA_V_KMH: f64 = 0.02;
/// Earliest decision after the impact, s. Published decision times of
/// frontal units are 15–30 ms after impact (the "5 inch – 30 ms" rule: fire
/// 30 ms before an unbelted occupant has moved 125 mm; M. Huang, *Vehicle
/// Crash Mechanics*, CRC Press 2002, on crash sensing). Before 15 ms a
/// severe crash and a misuse event (a hammer blow, a kerb strike) look
/// alike, so the unit waits.
pub const DECISION_MIN_S: f64 = 0.015;
/// Latest decision after the impact, s: a crash that has not reached a
/// threshold by then is below it, and the event fires nothing more. 26 ms
/// leaves room for dating the impact a little late and still deciding
/// within 30 ms of it.
pub const DECISION_MAX_S: f64 = 0.026;
/// Speed change accumulated in the event that fires the bag of an unbelted
/// occupant, km/h. Calibrated against the world's 80 ms half-sine barrier
/// pulse: it puts the firing level at 14–16 km/h barrier-equivalent at
/// every tick length from 0.1 to 20 ms, between the no-fire (12.9) and the
/// unbelted must-fire (19.3) levels.
pub const UNBELTED_DELTA_V_KMH: f64 = 3.9;
/// Speed change that fires the bag of a belted occupant, km/h: a firing
/// level of 21–23 km/h, between 19.3 and the belted must-fire 25.7.
pub const BELTED_DELTA_V_KMH: f64 = 5.7;
/// Number of seats with an airbag.
pub const SEAT_COUNT: usize = 5;
/// Seat names in the order of the declared signals.
pub const SEATS: [&str; SEAT_COUNT] = [
    "Row1.DriverSide",
    "Row1.PassengerSide",
    "Row2.DriverSide",
    "Row2.Middle",
    "Row2.PassengerSide",
];

/// Slack on time comparisons: sums of ticks are not exact in binary.
const TIME_SLACK_S: f64 = 1e-9;
/// Metres per second to kilometres per hour.
const KMH_PER_MPS: f64 = 3.6;

/// Input slots, in the order of [`Airbag::READS`].
pub mod inputs {
    /// `Sim.Crash.Pulse`, g.
    pub const CRASH_PULSE: usize = 0;
    /// `Vehicle.Cabin.Seat.<seat>.IsOccupied`, per seat in `SEATS` order.
    pub const IS_OCCUPIED: [usize; 5] = [1, 2, 3, 4, 5];
    /// `Vehicle.Cabin.Seat.<seat>.IsBelted`, per seat in `SEATS` order.
    pub const IS_BELTED: [usize; 5] = [6, 7, 8, 9, 10];
}

/// Output slots, in the order of [`Airbag::WRITES`].
pub mod outputs {
    /// `Vehicle.Cabin.Seat.<seat>.Airbag.IsDeployed`, per seat in `SEATS` order.
    pub const IS_DEPLOYED: [usize; 5] = [0, 1, 2, 3, 4];
    /// `Sim.Airbag.CrashSignal`: a deployment happened (until reset).
    pub const CRASH_SIGNAL: usize = 5;
    /// `Sim.Diagnostics.Airbag.ActiveFaults`: the DTC mask.
    pub const ACTIVE_FAULTS: usize = 6;
    /// `Sim.Airbag.WarningLamp`: on while a fault is active.
    pub const WARNING_LAMP: usize = 7;
}

/// How far a seat's airbag inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Stage {
    /// Not deployed.
    #[default]
    None,
    /// First stage only: the occupant was belted, the belt takes part of the load.
    First,
    /// Both stages: the occupant was not belted.
    Full,
}

/// A crash event: from the first sample above [`WAKE_G`] until the pulse
/// falls below it again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Event {
    /// Speed change accumulated since the event opened, km/h.
    delta_v_kmh: f64,
    /// When the speed change reached [`IMPACT_DELTA_V_KMH`]: the impact as
    /// the unit dates it, s.
    impact_s: Option<f64>,
}

/// Everything that survives a hot swap. `time_s`, `peak_g` and `stages` are
/// required, so that the state of another plugin (or `{}`) is refused; the
/// fields added in 2.0.0 default, so 1.0.0's snapshots still restore.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    /// Simulated time since `create`, at the end of the last tick, s.
    time_s: f64,
    /// The crash event in progress.
    #[serde(default)]
    event: Option<Event>,
    /// When the unit first fired a bag.
    deployed_at_s: Option<f64>,
    /// When the unit decided to fire each seat's bag, in `SEATS` order.
    #[serde(default)]
    decided_at_s: [Option<f64>; SEAT_COUNT],
    /// Highest pulse seen since creation or the last reset, g.
    peak_g: f64,
    /// Stage per seat, in `SEATS` order.
    stages: [Stage; SEAT_COUNT],
    /// Active faults; a reset does not heal them (none in older snapshots).
    #[serde(default)]
    faults: tcu_sdk::dtc::ActiveFaults,
}

/// The airbag control unit of one vehicle.
#[derive(Debug, Clone, Default)]
pub struct Airbag {
    state: State,
}

/// The threshold of an occupant, km/h of speed change within the window.
pub fn threshold_kmh(belted: bool) -> f64 {
    if belted {
        BELTED_DELTA_V_KMH
    } else {
        UNBELTED_DELTA_V_KMH
    }
}

impl Airbag {
    /// When the unit first fired, in simulated seconds since creation.
    pub fn deployed_at_s(&self) -> Option<f64> {
        self.state.deployed_at_s
    }

    /// When the unit decided to fire the bag of seat `seat` (index into
    /// [`SEATS`]).
    pub fn decided_at_s(&self, seat: usize) -> Option<f64> {
        self.state.decided_at_s.get(seat).copied().flatten()
    }

    /// The impact of the crash event in progress as the unit dates it, in
    /// simulated seconds.
    pub fn impact_s(&self) -> Option<f64> {
        self.state.event.and_then(|e| e.impact_s)
    }

    /// Speed change accumulated in the event in progress, km/h.
    pub fn event_delta_v_kmh(&self) -> f64 {
        self.state.event.map_or(0.0, |e| e.delta_v_kmh)
    }

    /// Stage of the airbag of seat `seat` (index into [`SEATS`]).
    pub fn stage(&self, seat: usize) -> Stage {
        self.state.stages.get(seat).copied().unwrap_or_default()
    }

    /// Highest pulse seen since creation or the last reset, in g.
    pub fn peak_g(&self) -> f64 {
        self.state.peak_g
    }

    /// Integrates one tick's sample into the event and fires the seats
    /// whose threshold the speed change crossed within the window.
    fn decide(&mut self, pulse_g: f64, dt: f64, inputs: &[f64]) {
        let s = &mut self.state;
        let tick_start = s.time_s - dt;
        if s.event.is_some() && pulse_g < WAKE_G {
            s.event = None;
        }
        // Once a crash has fired bags, the unit is spent until reset: a
        // later event fires nothing.
        if s.event.is_none()
            && pulse_g >= WAKE_G
            && !faults::spent(s.faults, s.deployed_at_s.is_some())
        {
            s.event = Some(Event::default());
        }
        let Some(event) = &mut s.event else {
            return;
        };
        let before = event.delta_v_kmh;
        let rate = pulse_g * GRAVITY * KMH_PER_MPS;
        event.delta_v_kmh += rate * dt;
        let after = event.delta_v_kmh;
        // The sample is the mean over the tick, so the speed change grows
        // linearly within it: a level is crossed at a time inside the tick.
        let crossing = |level: f64| {
            if before >= level {
                tick_start
            } else {
                tick_start + (level - before) / rate
            }
        };
        if event.impact_s.is_none() && after >= IMPACT_DELTA_V_KMH {
            event.impact_s = Some(crossing(IMPACT_DELTA_V_KMH));
        }
        let Some(impact) = event.impact_s else {
            return;
        };
        for seat in 0..SEAT_COUNT {
            if s.stages[seat] != Stage::None {
                continue;
            }
            // A sensor that reads garbage counts as "empty" / "unbelted":
            // a bag fired into an empty seat is a needless repair bill, and
            // into a child seat it is dangerous.
            let occupied = as_bool(finite_or(inputs[inputs::IS_OCCUPIED[seat]], 0.0));
            // A bag with a circuit fault is disabled: it cannot fire.
            if faults::bag_disabled(s.faults, seat) {
                continue;
            }
            let belted = as_bool(finite_or(inputs[inputs::IS_BELTED[seat]], 0.0));
            let threshold = threshold_kmh(belted);
            if !occupied || after < threshold {
                continue;
            }
            let decision = crossing(threshold).max(impact + DECISION_MIN_S);
            if decision > impact + DECISION_MAX_S + TIME_SLACK_S
                || decision > s.time_s + TIME_SLACK_S
            {
                continue;
            }
            s.stages[seat] = if belted { Stage::First } else { Stage::Full };
            s.decided_at_s[seat] = Some(decision);
            let first = s.deployed_at_s.map_or(decision, |d| d.min(decision));
            s.deployed_at_s = Some(first);
        }
    }
}

impl Subsystem for Airbag {
    const NAME: &'static CStr = c"airbag";
    const VERSION: &'static CStr = c"2.0.0";
    const READS: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(c"Sim.Crash.Pulse", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row1.DriverSide.IsOccupied",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row1.PassengerSide.IsOccupied",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.DriverSide.IsOccupied",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.Middle.IsOccupied",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.PassengerSide.IsOccupied",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row1.DriverSide.IsBelted",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row1.PassengerSide.IsBelted",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.DriverSide.IsBelted",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(c"Vehicle.Cabin.Seat.Row2.Middle.IsBelted", TCU_TYPE_BOOLEAN),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.PassengerSide.IsBelted",
            TCU_TYPE_BOOLEAN,
        ),
    ];
    const WRITES: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row1.DriverSide.Airbag.IsDeployed",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row1.PassengerSide.Airbag.IsDeployed",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.DriverSide.Airbag.IsDeployed",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.Middle.Airbag.IsDeployed",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.PassengerSide.Airbag.IsDeployed",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(c"Sim.Airbag.CrashSignal", TCU_TYPE_BOOLEAN),
        TcuSignalDecl::new(c"Sim.Diagnostics.Airbag.ActiveFaults", TCU_TYPE_UINT32),
        TcuSignalDecl::new(c"Sim.Airbag.WarningLamp", TCU_TYPE_BOOLEAN),
    ];

    fn create(_seed: u64) -> Result<Self, PluginError> {
        Ok(Self::default())
    }

    fn tick(&mut self, dt: f64, inputs: &[f64], outputs: &mut [f64]) -> Result<(), PluginError> {
        tcu_sdk::check_tick::<Self>(dt, inputs, outputs)?;

        self.state.time_s += dt;
        let pulse = finite_or(inputs[inputs::CRASH_PULSE], 0.0).max(0.0);
        self.state.peak_g = self.state.peak_g.max(pulse);
        if dt > 0.0 {
            self.decide(pulse, dt, inputs);
        }

        for (seat, stage) in self.state.stages.iter().enumerate() {
            outputs[outputs::IS_DEPLOYED[seat]] = from_bool(*stage != Stage::None);
        }
        outputs[outputs::CRASH_SIGNAL] = from_bool(self.state.deployed_at_s.is_some());
        faults::write(
            self.state.faults,
            self.state.deployed_at_s.is_some(),
            outputs,
        );
        Ok(())
    }

    fn command(&mut self, name: &str, value: f64) -> Result<(), CommandError> {
        match name {
            "reset" => {
                // The clock keeps running: it is simulated time, not event time.
                self.state = State {
                    time_s: self.state.time_s,
                    faults: faults::after_reset(self.state.faults),
                    ..State::default()
                };
                Ok(())
            }
            _ => (self.state.faults.command(&faults::FAULTS, name, value))
                .unwrap_or_else(|| Err(CommandError::Unsupported(name.to_owned()))),
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        tcu_sdk::snapshot::encode(&self.state)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        let state: State = tcu_sdk::snapshot::decode("airbag: invalid snapshot", bytes)?;
        let finite = |v: Option<f64>| v.is_none_or(f64::is_finite);
        if !(state.time_s.is_finite()
            && state.peak_g.is_finite()
            && finite(state.deployed_at_s)
            && state.decided_at_s.iter().all(|d| finite(*d))
            && state
                .event
                .is_none_or(|e| e.delta_v_kmh.is_finite() && finite(e.impact_s)))
        {
            return Err(PluginError(
                "airbag: invalid snapshot: non-finite value".to_owned(),
            ));
        }
        self.state = state;
        Ok(())
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
