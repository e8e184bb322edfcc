// Self-contained on purpose: a benchmark includes this file with
// `#[path = ...] mod x;`, so it may only use `tcu_sdk` (with its
// `snapshot` feature), `serde` and `std` (see the crate docs for the model).

use serde::{Deserialize, Serialize};
use std::ffi::CStr;
use tcu_sdk::PluginError;
use tcu_sdk::Subsystem;
use tcu_sdk::abi::{
    TCU_TYPE_BOOLEAN, TCU_TYPE_FLOAT, TCU_TYPE_UINT8, TCU_TYPE_UINT32, TcuSignalDecl,
};
use tcu_sdk::physics::{approach, as_bool, finite_or, from_bool};
#[path = "faults.rs"]
pub mod faults;

pub use tcu_sdk::vehicle::{
    BRAKE_DEMAND_N_PER_PEDAL_PERCENT, BRAKE_FORCE_N_PER_BAR, GRAVITY, PRESSURE_PER_PEDAL_PERCENT,
};
/// Largest regenerative force taken as plausible, N (the catalog limit of
/// `Sim.Powertrain.WheelForce`).
pub const MAX_REGEN_FORCE_N: f64 = 20_000.0;
/// ABS regulates only while the estimated vehicle speed is above this,
/// km/h; below it the wheels may lock (production systems hand over at
/// walking pace).
pub const ABS_MIN_SPEED_KMH: f64 = 5.0;
/// Slip (against the vehicle-speed estimate) beyond which a wheel's
/// pressure is dumped: past the friction peak of most surfaces (Burckhardt
/// puts dry asphalt's at 0.17, wet asphalt's at 0.13, snow's at 0.06), so a
/// wheel there is on its way to lock.
pub const SLIP_DUMP: f64 = 0.15;
/// Slip under which a held wheel has recovered and pressure is rebuilt.
pub const SLIP_REBUILD: f64 = 0.05;
/// Wheel deceleration that signals a wheel running away into lock, m/s²:
/// more than any tyre can decelerate the car (1.6 g, the order of the
/// thresholds in Bosch's ABS descriptions), so only a wheel past its
/// friction peak decelerates this fast.
pub const WHEEL_DECEL_DUMP: f64 = 1.6 * GRAVITY;
/// Wheel acceleration that shows a released wheel spinning back up, m/s²:
/// pressure is held while it does.
pub const WHEEL_ACCEL_HOLD: f64 = 0.5 * GRAVITY;
/// Fastest rise of the line pressure, bar/s: a hard stab at the pedal
/// reaches 100 bar in about 0.1 s (master cylinder and booster). Pressure
/// falls as fast as the driver releases.
pub const APPLY_RATE_BAR_PER_S: f64 = 1000.0;
/// Rate at which the modulator's outlet valve releases pressure, bar/s.
pub const DUMP_RATE_BAR_PER_S: f64 = 800.0;
/// Rate at which pressure is rebuilt after a hold up to
/// [`REBUILD_FAST_SHARE`] of the pressure at which the wheel last ran away,
/// bar/s (the inlet valve open).
pub const REBUILD_FAST_RATE_BAR_PER_S: f64 = 1000.0;
/// Share of the last runaway pressure up to which pressure is rebuilt fast.
pub const REBUILD_FAST_SHARE: f64 = 0.8;
/// Rate at which pressure is rebuilt beyond that, bar/s (the inlet valve
/// pulsed): the wheel creeps back toward its friction peak. Two-stage
/// rebuild is the classic ABS cycle (Bosch Automotive Handbook, "Antilock
/// braking system").
pub const REBUILD_RATE_BAR_PER_S: f64 = 100.0;
/// Fastest fall of the vehicle-speed estimate, m/s²: a little more than the
/// best tyre can brake the car (1.2 g on dry asphalt), so the estimate
/// follows the car while every wheel slips.
pub const REFERENCE_DECEL: f64 = 1.3 * GRAVITY;
/// Heat capacity of one brake disc: 7 kg of cast iron at 460 J/kgK, J/K.
pub const DISC_HEAT_CAPACITY_J_PER_K: f64 = 7.0 * 460.0;
/// Convective cooling of a disc at standstill, W/K.
pub const DISC_COOLING_STILL_W_PER_K: f64 = 4.0;
/// Additional cooling per m/s of vehicle speed, W/K per m/s.
pub const DISC_COOLING_PER_MPS_W_PER_K: f64 = 1.2;
/// Ambient used until a finite air temperature arrives, celsius.
pub const DEFAULT_AMBIENT_C: f64 = 20.0;
/// Plausible outside air temperatures, celsius; beyond them the sensor is
/// taken as faulty and clamped (the world's range is -40..60).
pub const MIN_AMBIENT_C: f64 = -50.0;
/// See [`MIN_AMBIENT_C`].
pub const MAX_AMBIENT_C: f64 = 70.0;
/// Wheel speeds above this are treated as sensor garbage and clamped, km/h.
pub const MAX_SPEED_KMH: f64 = 400.0;
/// A wheel reading further than this from the other wheels' median is
/// implausible, km/h: the ECU flags an error and stops regulating while it
/// lasts.
pub const PLAUSIBILITY_KMH: f64 = 10.0;
/// Catalog range of the disc temperature signal, celsius.
const DISC_TEMP_RANGE: (f64, f64) = (-50.0, 1000.0);
/// Catalog maximum of the brake pressure signals, bar.
const MAX_PRESSURE_BAR: f64 = 200.0;

/// Positions of the inputs in `READS`.
pub mod inputs {
    /// `Vehicle.Chassis.Brake.PedalPosition`, percent.
    pub const BRAKE_PEDAL: usize = 0;
    /// `Sim.Chassis.Axle.Row{1,2}.Wheel.{Left,Right}.Speed`, km/h: what the
    /// four wheel-speed sensors see.
    pub const WHEEL_SPEED: [usize; 4] = [1, 2, 3, 4];
    /// `Vehicle.ADAS.ABS.IsEnabled`.
    pub const ABS_ENABLED: usize = 5;
    /// `Sim.Fault.ABS.WheelSensor`: 0 none, 1..4 the faulty wheel.
    pub const WHEEL_SENSOR_FAULT: usize = 6;
    /// `Vehicle.Exterior.AirTemperature`, celsius.
    pub const AIR_TEMPERATURE: usize = 7;
    /// `Sim.Fault.ABS.NoisyWheel`: 0 none, 1..4 the noisy wheel.
    pub const NOISY_WHEEL: usize = 8;
    /// `Sim.Fault.ABS.WheelSensorNoise`: noise amplitude, km/h.
    pub const WHEEL_NOISE: usize = 9;
    /// `Sim.Powertrain.WheelForce`, N (negative while regenerating).
    pub const DRIVE_FORCE: usize = 10;
    /// Number of inputs.
    pub const COUNT: usize = 11;
}

/// Positions of the outputs in `WRITES`. Per-wheel arrays are ordered
/// Row1.Left, Row1.Right, Row2.Left, Row2.Right (the fault numbering minus 1).
pub mod outputs {
    /// `Vehicle.Chassis.Axle.Row{1,2}.Wheel.{Left,Right}.Speed`, km/h.
    pub const WHEEL_SPEED: [usize; 4] = [0, 1, 2, 3];
    /// `Vehicle.ADAS.ABS.IsEngaged`.
    pub const IS_ENGAGED: usize = 4;
    /// `Vehicle.ADAS.ABS.IsError`.
    pub const IS_ERROR: usize = 5;
    /// `Sim.Chassis.Axle.Row{1,2}.Wheel.{Left,Right}.Brake.Pressure`, bar.
    pub const BRAKE_PRESSURE: [usize; 4] = [6, 7, 8, 9];
    /// `Sim.Chassis.Axle.Row{1,2}.Wheel.{Left,Right}.Brake.DiscTemperature`,
    /// celsius.
    pub const DISC_TEMPERATURE: [usize; 4] = [10, 11, 12, 13];
    /// `Sim.Diagnostics.ABS.ActiveFaults`: the DTC mask.
    pub const ACTIVE_FAULTS: usize = 14;
    /// Number of outputs.
    pub const COUNT: usize = 15;
}

/// Phase of one wheel's pressure control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Not regulating: the wheel gets the driver's (blended) pressure.
    Follow,
    /// The wheel runs into lock: the outlet valve releases pressure.
    Dump,
    /// The wheel spins back up: both valves closed, pressure held.
    Hold,
    /// The wheel has recovered: pressure rises again, slowly.
    Rebuild,
}

/// State that survives a hot swap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AbsState {
    /// Each wheel's controller.
    wheels: [WheelControl; 4],
    /// Wheel speeds read in the last tick, m/s (for the wheel
    /// accelerations); `None` before the first tick.
    last_wheels: Option<[f64; 4]>,
    /// Vehicle-speed estimate, m/s.
    reference: f64,
    /// Disc temperatures, celsius; `None` until the first tick sees ambient.
    disc_temp_c: Option<[f64; 4]>,
    #[serde(default)]
    faults: tcu_sdk::dtc::ActiveFaults,
}

/// The ABS / brake control ECU.
#[derive(Debug, Clone)]
pub struct Abs {
    state: AbsState,
    /// Source of the injected sensor noise (not part of the snapshot: noise
    /// has no memory).
    noise: tcu_sdk::rng::SplitMix64,
}

/// One wheel's controller state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WheelControl {
    /// Control phase.
    pub phase: Phase,
    /// Pressure applied, bar.
    pub pressure: f64,
    /// Pressure at which the wheel last ran away into lock, bar.
    pub runaway_pressure: f64,
}

impl WheelControl {
    /// A wheel following the driver with no pressure.
    pub const IDLE: WheelControl = WheelControl {
        phase: Phase::Follow,
        pressure: 0.0,
        runaway_pressure: 0.0,
    };
}

/// The next state of one wheel's controller. `slip` is measured against
/// the vehicle-speed estimate, `accel` is the wheel's circumferential
/// acceleration (m/s², negative slowing), `request` the driver's blended
/// pressure; the pressure never exceeds `request`.
pub fn regulate(c: WheelControl, slip: f64, accel: f64, request: f64, dt: f64) -> WheelControl {
    let runaway = slip > SLIP_DUMP || -accel > WHEEL_DECEL_DUMP;
    let dump = |c: WheelControl| WheelControl {
        phase: Phase::Dump,
        pressure: c.pressure - DUMP_RATE_BAR_PER_S * dt,
        runaway_pressure: if c.phase == Phase::Dump {
            c.runaway_pressure
        } else {
            c.pressure
        },
    };
    let next = match c.phase {
        Phase::Follow if runaway => dump(c),
        Phase::Follow => WheelControl {
            pressure: follow(c.pressure, request, dt),
            ..c
        },
        Phase::Dump | Phase::Hold | Phase::Rebuild if runaway && accel < WHEEL_ACCEL_HOLD => {
            dump(c)
        }
        Phase::Dump | Phase::Hold if slip > SLIP_REBUILD || accel > WHEEL_ACCEL_HOLD => {
            WheelControl {
                phase: Phase::Hold,
                ..c
            }
        }
        Phase::Dump | Phase::Hold | Phase::Rebuild => {
            let rate = if c.pressure < REBUILD_FAST_SHARE * c.runaway_pressure {
                REBUILD_FAST_RATE_BAR_PER_S
            } else {
                REBUILD_RATE_BAR_PER_S
            };
            let pressure = c.pressure + rate * dt;
            if pressure >= request {
                WheelControl {
                    phase: Phase::Follow,
                    pressure: request,
                    ..c
                }
            } else {
                WheelControl {
                    phase: Phase::Rebuild,
                    pressure,
                    ..c
                }
            }
        }
    };
    WheelControl {
        pressure: next.pressure.clamp(0.0, request.max(0.0)),
        ..next
    }
}

/// The pressure one tick later following `request` at the hydraulics'
/// apply rate.
pub fn follow(pressure: f64, request: f64, dt: f64) -> f64 {
    request.min(pressure + APPLY_RATE_BAR_PER_S * dt)
}

/// Median of three numbers.
fn median3(a: f64, b: f64, c: f64) -> f64 {
    a.max(b).min(a.min(b).max(c))
}

impl Abs {
    fn with_seed(seed: u64) -> Self {
        Self {
            state: AbsState {
                wheels: [WheelControl::IDLE; 4],
                last_wheels: None,
                reference: 0.0,
                disc_temp_c: None,
                faults: Default::default(),
            },
            noise: tcu_sdk::rng::SplitMix64::new(seed),
        }
    }
}

fn check_state(s: &AbsState) -> Result<(), PluginError> {
    let in_range = |p: f64| p.is_finite() && (0.0..=MAX_PRESSURE_BAR).contains(&p);
    let pressures_ok = s
        .wheels
        .iter()
        .all(|w| in_range(w.pressure) && in_range(w.runaway_pressure));
    let wheels_ok = s
        .last_wheels
        .is_none_or(|w| w.iter().all(|x| x.is_finite() && *x >= 0.0));
    let reference_ok = s.reference.is_finite() && s.reference >= 0.0;
    let temps_ok = s.disc_temp_c.is_none_or(|t| {
        t.iter()
            .all(|x| x.is_finite() && (DISC_TEMP_RANGE.0..=DISC_TEMP_RANGE.1).contains(x))
    });
    if pressures_ok && wheels_ok && reference_ok && temps_ok {
        Ok(())
    } else {
        Err(PluginError::from(
            "abs snapshot holds a non-finite or out-of-range value",
        ))
    }
}

impl Subsystem for Abs {
    const NAME: &'static CStr = c"abs";
    const VERSION: &'static CStr = c"1.0.0";
    const READS: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(c"Vehicle.Chassis.Brake.PedalPosition", TCU_TYPE_UINT8),
        TcuSignalDecl::new(c"Sim.Chassis.Axle.Row1.Wheel.Left.Speed", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Chassis.Axle.Row1.Wheel.Right.Speed", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Chassis.Axle.Row2.Wheel.Left.Speed", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Chassis.Axle.Row2.Wheel.Right.Speed", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Vehicle.ADAS.ABS.IsEnabled", TCU_TYPE_BOOLEAN),
        TcuSignalDecl::new(c"Sim.Fault.ABS.WheelSensor", TCU_TYPE_UINT8),
        TcuSignalDecl::new(c"Vehicle.Exterior.AirTemperature", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Fault.ABS.NoisyWheel", TCU_TYPE_UINT8),
        TcuSignalDecl::new(c"Sim.Fault.ABS.WheelSensorNoise", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Powertrain.WheelForce", TCU_TYPE_FLOAT),
    ];
    const WRITES: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(
            c"Vehicle.Chassis.Axle.Row1.Wheel.Left.Speed",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Chassis.Axle.Row1.Wheel.Right.Speed",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Chassis.Axle.Row2.Wheel.Left.Speed",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Chassis.Axle.Row2.Wheel.Right.Speed",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(c"Vehicle.ADAS.ABS.IsEngaged", TCU_TYPE_BOOLEAN),
        TcuSignalDecl::new(c"Vehicle.ADAS.ABS.IsError", TCU_TYPE_BOOLEAN),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row1.Wheel.Left.Brake.Pressure",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row1.Wheel.Right.Brake.Pressure",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row2.Wheel.Left.Brake.Pressure",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row2.Wheel.Right.Brake.Pressure",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row1.Wheel.Left.Brake.DiscTemperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row1.Wheel.Right.Brake.DiscTemperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row2.Wheel.Left.Brake.DiscTemperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row2.Wheel.Right.Brake.DiscTemperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(c"Sim.Diagnostics.ABS.ActiveFaults", TCU_TYPE_UINT32),
    ];

    fn create(seed: u64) -> Result<Self, PluginError> {
        // The seed only feeds injected sensor noise; the model is otherwise
        // deterministic and noise-free.
        Ok(Self::with_seed(seed))
    }

    fn tick(&mut self, dt: f64, inputs: &[f64], outputs: &mut [f64]) -> Result<(), PluginError> {
        tcu_sdk::check_tick::<Self>(dt, inputs, outputs)?;
        let dead = faults::dead_sensors(self.state.faults, inputs);
        faults::write(dead, outputs);
        let pedal = finite_or(inputs[inputs::BRAKE_PEDAL], 0.0).clamp(0.0, 100.0);
        let enabled = as_bool(finite_or(inputs[inputs::ABS_ENABLED], 1.0));
        // Injected faults and `Sim.Fault.ABS.WheelSensor` alike: `dead`.
        let fault = dead.any();
        let ambient = finite_or(inputs[inputs::AIR_TEMPERATURE], DEFAULT_AMBIENT_C)
            .clamp(MIN_AMBIENT_C, MAX_AMBIENT_C);
        let noisy = finite_or(inputs[inputs::NOISY_WHEEL], 0.0)
            .round()
            .clamp(0.0, 4.0) as usize;
        let amplitude = finite_or(inputs[inputs::WHEEL_NOISE], 0.0).clamp(0.0, 100.0);
        let noise = if noisy > 0 && amplitude > 0.0 {
            self.noise.noise(amplitude)
        } else {
            0.0
        };

        // What the sensors read, km/h: the true wheel speed, a dead sensor's
        // zero, an injected noise.
        let mut reading = [0.0; 4];
        let mut truth = [0.0; 4];
        for w in 0..4 {
            truth[w] = finite_or(inputs[inputs::WHEEL_SPEED[w]], 0.0).clamp(0.0, MAX_SPEED_KMH);
            reading[w] = if dead.is_active(w) {
                0.0
            } else if noisy == w + 1 {
                (truth[w] + noise).clamp(0.0, MAX_SPEED_KMH)
            } else {
                truth[w]
            };
        }
        let others = |w: usize| {
            let o: Vec<f64> = (0..4).filter(|&k| k != w).map(|k| reading[k]).collect();
            median3(o[0], o[1], o[2])
        };
        let implausible = noisy > 0
            && (reading[noisy - 1] - others(noisy - 1)).abs() > PLAUSIBILITY_KMH
            && others(noisy - 1) > ABS_MIN_SPEED_KMH;

        // Vehicle-speed estimate from the healthy wheels: the fastest one,
        // falling no faster than a car can brake (while every wheel slips,
        // none shows the car's speed).
        let wheels = reading.map(|r| r / 3.6);
        let fastest = (0..4)
            .filter(|&w| !dead.is_active(w))
            .map(|w| wheels[w])
            .fold(0.0, f64::max);
        let reference = fastest.max(self.state.reference - REFERENCE_DECEL * dt);
        let last = self.state.last_wheels.unwrap_or(wheels);
        self.state.reference = if reference < 1e-6 { 0.0 } else { reference };
        self.state.last_wheels = Some(wheels);

        // Brake blending: the pedal asks for a total force; what the drive
        // already regenerates is taken off it, the friction brakes give the
        // rest.
        let regen = (-finite_or(inputs[inputs::DRIVE_FORCE], 0.0)).clamp(0.0, MAX_REGEN_FORCE_N);
        let demand = pedal * BRAKE_DEMAND_N_PER_PEDAL_PERCENT;
        let request = if pedal > 0.0 {
            (demand - regen).max(0.0) / demand * pedal * PRESSURE_PER_PEDAL_PERCENT
        } else {
            0.0
        };

        let regulating =
            enabled && !fault && !implausible && self.state.reference * 3.6 > ABS_MIN_SPEED_KMH;
        let mut engaged = false;
        for w in 0..4 {
            let c = self.state.wheels[w];
            let next = if regulating && request > 0.0 {
                let slip = if self.state.reference > 0.0 {
                    ((self.state.reference - wheels[w]) / self.state.reference).max(0.0)
                } else {
                    0.0
                };
                let accel = (wheels[w] - last[w]) / dt;
                regulate(c, slip, accel, request, dt)
            } else {
                WheelControl {
                    phase: Phase::Follow,
                    pressure: follow(c.pressure, request, dt),
                    ..c
                }
            };
            engaged |= next.phase != Phase::Follow;
            self.state.wheels[w] = next;
        }

        // The friction brake turns the wheel's motion into heat in its
        // disc: force times the disc's own (the wheel's) speed, so a locked
        // wheel's disc is not heated (its tyre takes the heat).
        let speed = self.state.reference;
        let cooling = DISC_COOLING_STILL_W_PER_K + DISC_COOLING_PER_MPS_W_PER_K * speed;
        let tau = DISC_HEAT_CAPACITY_J_PER_K / cooling;
        let mut temps = self.state.disc_temp_c.unwrap_or([ambient; 4]);
        for w in 0..4 {
            let heat = self.state.wheels[w].pressure * BRAKE_FORCE_N_PER_BAR[w] * truth[w] / 3.6;
            temps[w] = approach(temps[w], ambient + heat / cooling, dt, tau)
                .clamp(DISC_TEMP_RANGE.0, DISC_TEMP_RANGE.1);
        }
        self.state.disc_temp_c = Some(temps);

        for w in 0..4 {
            outputs[outputs::WHEEL_SPEED[w]] = reading[w];
            outputs[outputs::BRAKE_PRESSURE[w]] = self.state.wheels[w].pressure;
            outputs[outputs::DISC_TEMPERATURE[w]] = temps[w];
        }
        outputs[outputs::IS_ENGAGED] = from_bool(engaged);
        outputs[outputs::IS_ERROR] = from_bool(fault || implausible);
        Ok(())
    }

    fn command(&mut self, name: &str, value: f64) -> Result<(), tcu_sdk::CommandError> {
        self.state.faults.only_command(&faults::FAULTS, name, value)
    }

    fn snapshot(&self) -> Vec<u8> {
        tcu_sdk::snapshot::encode(&self.state)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        tcu_sdk::snapshot::restore(
            &mut self.state,
            "abs: unreadable snapshot",
            bytes,
            check_state,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcu_sdk::testing::path;

    const DT: f64 = 0.01;
    const WHEELS: [&str; 4] = [
        "Row1.Wheel.Left",
        "Row1.Wheel.Right",
        "Row2.Wheel.Left",
        "Row2.Wheel.Right",
    ];

    #[derive(Clone, Copy)]
    struct In {
        pedal: f64,
        wheels: [f64; 4],
        enabled: bool,
        fault: u8,
        ambient: f64,
        regen: f64,
    }

    impl In {
        fn new(pedal: f64, speed: f64) -> Self {
            Self {
                pedal,
                wheels: [speed; 4],
                enabled: true,
                fault: 0,
                ambient: 20.0,
                regen: 0.0,
            }
        }

        fn array(self) -> [f64; inputs::COUNT] {
            let mut i = [0.0; inputs::COUNT];
            i[inputs::BRAKE_PEDAL] = self.pedal;
            for w in 0..4 {
                i[inputs::WHEEL_SPEED[w]] = self.wheels[w];
            }
            i[inputs::ABS_ENABLED] = from_bool(self.enabled);
            i[inputs::WHEEL_SENSOR_FAULT] = f64::from(self.fault);
            i[inputs::AIR_TEMPERATURE] = self.ambient;
            i[inputs::DRIVE_FORCE] = -self.regen;
            i
        }
    }

    fn fresh() -> Abs {
        Abs::create(1).expect("create")
    }

    fn tick(a: &mut Abs, i: In) -> [f64; outputs::COUNT] {
        let mut o = [0.0; outputs::COUNT];
        a.tick(DT, &i.array(), &mut o).expect("tick");
        assert!(o.iter().all(|v| v.is_finite()));
        for w in 0..4 {
            let p = o[outputs::BRAKE_PRESSURE[w]];
            assert!((0.0..=i.pedal * PRESSURE_PER_PEDAL_PERCENT + 1e-9).contains(&p));
        }
        o
    }

    fn run(a: &mut Abs, i: In, n: usize) -> [f64; outputs::COUNT] {
        let mut o = [0.0; outputs::COUNT];
        for _ in 0..n {
            o = tick(a, i);
        }
        o
    }

    fn pressures(o: &[f64; outputs::COUNT]) -> [f64; 4] {
        outputs::BRAKE_PRESSURE.map(|i| o[i])
    }

    /// One wheel on a quarter of the car, for closed-loop tests of the
    /// controller without the world model: Burckhardt's dry-asphalt or ice
    /// curve, the front wheel's load, inertia and brake gain. Returns the
    /// mean slip while regulating, the number of control cycles per second and
    /// whether the wheel ever locked.
    fn quarter_car(c1: f64, c2: f64, c3: f64, abs: bool) -> (f64, f64, bool) {
        let (m, j, r) = (450.0, 1.2, 0.33);
        let gain = BRAKE_FORCE_N_PER_BAR[0];
        let mut a = fresh();
        let (mut v, mut u): (f64, f64) = (25.0, 25.0);
        let (mut slips, mut dumps, mut locked) = (Vec::new(), 0, false);
        let mut last_phase = Phase::Follow;
        let mut t = 0.0;
        while v > 3.0 && t < 60.0 {
            let i = In {
                enabled: abs,
                ..In::new(100.0, u * 3.6)
            };
            let o = tick(&mut a, i);
            let p = o[outputs::BRAKE_PRESSURE[0]];
            // A cycle starts where a dump follows a rebuild (or the first
            // application), not where a hold is interrupted by more dumping.
            if a.state.wheels[0].phase == Phase::Dump
                && matches!(last_phase, Phase::Follow | Phase::Rebuild)
            {
                dumps += 1;
            }
            last_phase = a.state.wheels[0].phase;
            // 100 sub-steps per tick: the plant is stiff.
            for _ in 0..100 {
                let h = DT / 100.0;
                let slip = ((v - u) / v).clamp(0.0, 1.0);
                let mu = c1 * (1.0 - (-c2 * slip).exp()) - c3 * slip;
                let fx = mu * m * GRAVITY;
                u = (u + h * (fx - gain * p) * r * r / j).clamp(0.0, v);
                v -= h * fx / m;
            }
            locked |= u == 0.0;
            if o[outputs::IS_ENGAGED] == 1.0 {
                slips.push((v - u) / v);
            }
            t += DT;
        }
        let mean = slips.iter().sum::<f64>() / slips.len().max(1) as f64;
        (mean, f64::from(dumps) / t, locked)
    }

    #[test]
    fn every_declared_signal_exists_in_the_catalog_with_its_datatype() {
        tcu_sdk::testing::assert_declarations_in_catalog::<Abs>();
    }

    #[test]
    fn index_constants_match_the_declared_paths() {
        assert_eq!(Abs::READS.len(), inputs::COUNT);
        assert_eq!(Abs::WRITES.len(), outputs::COUNT);
        assert_eq!(
            path(&Abs::READS[inputs::BRAKE_PEDAL]),
            "Vehicle.Chassis.Brake.PedalPosition"
        );
        assert_eq!(
            path(&Abs::READS[inputs::ABS_ENABLED]),
            "Vehicle.ADAS.ABS.IsEnabled"
        );
        assert_eq!(
            path(&Abs::READS[inputs::WHEEL_SENSOR_FAULT]),
            "Sim.Fault.ABS.WheelSensor"
        );
        assert_eq!(
            path(&Abs::READS[inputs::AIR_TEMPERATURE]),
            "Vehicle.Exterior.AirTemperature"
        );
        assert_eq!(
            path(&Abs::READS[inputs::NOISY_WHEEL]),
            "Sim.Fault.ABS.NoisyWheel"
        );
        assert_eq!(
            path(&Abs::READS[inputs::WHEEL_NOISE]),
            "Sim.Fault.ABS.WheelSensorNoise"
        );
        assert_eq!(
            path(&Abs::READS[inputs::DRIVE_FORCE]),
            "Sim.Powertrain.WheelForce"
        );
        assert_eq!(
            path(&Abs::WRITES[outputs::IS_ENGAGED]),
            "Vehicle.ADAS.ABS.IsEngaged"
        );
        assert_eq!(
            path(&Abs::WRITES[outputs::IS_ERROR]),
            "Vehicle.ADAS.ABS.IsError"
        );
        for (w, name) in WHEELS.iter().enumerate() {
            assert_eq!(
                path(&Abs::READS[inputs::WHEEL_SPEED[w]]),
                format!("Sim.Chassis.Axle.{name}.Speed")
            );
            assert_eq!(
                path(&Abs::WRITES[outputs::WHEEL_SPEED[w]]),
                format!("Vehicle.Chassis.Axle.{name}.Speed")
            );
            assert_eq!(
                path(&Abs::WRITES[outputs::BRAKE_PRESSURE[w]]),
                format!("Sim.Chassis.Axle.{name}.Brake.Pressure")
            );
            assert_eq!(
                path(&Abs::WRITES[outputs::DISC_TEMPERATURE[w]]),
                format!("Sim.Chassis.Axle.{name}.Brake.DiscTemperature")
            );
        }
        let mut all: Vec<usize> = outputs::WHEEL_SPEED
            .into_iter()
            .chain([
                outputs::IS_ENGAGED,
                outputs::IS_ERROR,
                outputs::ACTIVE_FAULTS,
            ])
            .chain(outputs::BRAKE_PRESSURE)
            .chain(outputs::DISC_TEMPERATURE)
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..outputs::COUNT).collect::<Vec<_>>());
    }

    #[test]
    fn abs_engages_on_a_dry_road_as_on_ice_when_full_braking_would_lock_a_wheel() {
        for (surface, c1, c2, c3) in [
            ("dry asphalt", 1.2801, 23.99, 0.52),
            ("ice", 0.05, 306.39, 0.0),
        ] {
            let (slip, hz, locked) = quarter_car(c1, c2, c3, true);
            assert!(!locked, "{surface}: a wheel locked under ABS");
            assert!(slip > 0.0 && slip < 0.3, "{surface}: mean slip {slip}");
            // Real ABS cycles at a few to about 15 Hz; here it follows from
            // the wheel's dynamics and the valve rates.
            eprintln!("{surface}: mean slip {slip:.3}, {hz:.1} Hz");
            assert!((2.0..=20.0).contains(&hz), "{surface}: {hz:.1} Hz");
            let (_, _, locked) = quarter_car(c1, c2, c3, false);
            assert!(
                locked,
                "{surface}: without ABS full braking must lock the wheel"
            );
        }
    }

    #[test]
    fn a_wheel_running_into_lock_gets_its_pressure_dumped_and_the_others_keep_theirs() {
        let mut a = fresh();
        run(&mut a, In::new(80.0, 60.0), 10);
        let mut i = In::new(80.0, 60.0);
        // The front left wheel slows at 40 m/s² while the others roll.
        let mut before = pressures(&tick(&mut a, i));
        for _ in 0..3 {
            i.wheels[0] -= 40.0 * DT * 3.6;
            let o = tick(&mut a, i);
            assert_eq!(o[outputs::IS_ENGAGED], 1.0);
            let now = pressures(&o);
            assert!(now[0] < before[0], "{now:?}");
            assert_eq!(&now[1..], &[80.0; 3]);
            before = now;
        }
    }

    #[test]
    fn the_vehicle_speed_estimate_comes_from_the_wheels_not_from_a_road_friction_input() {
        assert!(Abs::READS.iter().all(|d| {
            let p = path(d);
            p != "Sim.Environment.RoadFriction" && p != "Vehicle.Speed"
        }));
        // All four wheels slow together faster than a car can: the estimate
        // falls at its limit and the wheels show slip against it.
        let mut a = fresh();
        run(&mut a, In::new(0.0, 80.0), 5);
        let mut speed: f64 = 80.0;
        for _ in 0..20 {
            speed -= 30.0 * DT * 3.6;
            tick(&mut a, In::new(0.0, speed));
        }
        let expect = 80.0 / 3.6 - REFERENCE_DECEL * 20.0 * DT;
        assert!(
            (a.state.reference - expect).abs() < 1e-9,
            "{}",
            a.state.reference
        );
    }

    #[test]
    fn never_engaged_with_the_pedal_released_or_the_car_stationary() {
        for speed in [0.0, 2.0, 4.9, 30.0, 100.0] {
            let o = run(&mut fresh(), In::new(0.0, speed), 20);
            assert_eq!(o[outputs::IS_ENGAGED], 0.0);
            assert_eq!(pressures(&o), [0.0; 4]);
        }
        for pedal in [10.0, 50.0, 100.0] {
            let o = run(&mut fresh(), In::new(pedal, 0.0), 20);
            assert_eq!(o[outputs::IS_ENGAGED], 0.0);
            assert_eq!(pressures(&o), [pedal; 4]);
        }
    }

    #[test]
    fn the_friction_brakes_give_only_what_regeneration_does_not() {
        for pedal in [10.0, 30.0, 60.0] {
            let demand = pedal * BRAKE_DEMAND_N_PER_PEDAL_PERCENT;
            for regen in [0.0, 0.25 * demand, 0.5 * demand, demand, 2.0 * demand] {
                let o = run(
                    &mut fresh(),
                    In {
                        regen,
                        ..In::new(pedal, 60.0)
                    },
                    20,
                );
                let friction: f64 = (0..4)
                    .map(|w| o[outputs::BRAKE_PRESSURE[w]] * BRAKE_FORCE_N_PER_BAR[w])
                    .sum();
                let expect = (demand - regen).max(0.0);
                assert!(
                    (friction - expect).abs() < 1e-6 * demand,
                    "pedal {pedal}, regen {regen} N: friction {friction} N, expected {expect} N"
                );
            }
        }
    }

    #[test]
    fn a_dead_wheel_sensor_reads_zero_on_that_wheel_only_and_disables_abs() {
        for fault in 1..=4u8 {
            let dead = usize::from(fault) - 1;
            for speed in [10.0, 50.0, 130.0] {
                let i = In {
                    fault,
                    ..In::new(100.0, speed)
                };
                let o = run(&mut fresh(), i, 20);
                assert_eq!(o[outputs::IS_ERROR], 1.0);
                assert_eq!(o[outputs::IS_ENGAGED], 0.0);
                assert_eq!(pressures(&o), [100.0; 4]);
                for w in 0..4 {
                    let expect = if w == dead { 0.0 } else { speed };
                    assert_eq!(o[outputs::WHEEL_SPEED[w]], expect);
                }
            }
        }
        let o = run(&mut fresh(), In::new(30.0, 50.0), 5);
        assert_eq!(o[outputs::IS_ERROR], 0.0);
    }

    #[test]
    fn without_abs_the_requested_pressure_goes_through_unmodulated() {
        let mut a = fresh();
        let mut i = In {
            enabled: false,
            ..In::new(100.0, 80.0)
        };
        for step in 1..50 {
            i.wheels = i.wheels.map(|w| (w - 2.0).max(0.0));
            let o = tick(&mut a, i);
            assert_eq!(o[outputs::IS_ENGAGED], 0.0);
            // At the hydraulics' apply rate: 10 bar per tick.
            let expect = (f64::from(step) * APPLY_RATE_BAR_PER_S * DT).min(100.0);
            assert!(
                (pressures(&o)[0] - expect).abs() < 1e-9,
                "{:?}",
                pressures(&o)
            );
            assert!(pressures(&o).iter().all(|&p| p == pressures(&o)[0]));
        }
    }

    #[test]
    fn discs_heat_while_braking_and_cool_back_to_ambient_afterwards() {
        for ambient in [-30.0, 0.0, 20.0, 45.0] {
            for pedal in [20.0, 60.0] {
                let mut a = fresh();
                let base = In {
                    ambient,
                    ..In::new(0.0, 100.0)
                };
                let o = tick(&mut a, base);
                for w in 0..4 {
                    assert!((o[outputs::DISC_TEMPERATURE[w]] - ambient).abs() < 1e-9);
                }
                // Five seconds of braking at 100 km/h (speed held, as on a
                // long descent).
                let mut last = outputs::DISC_TEMPERATURE.map(|i| o[i]);
                for _ in 0..500 {
                    let o = tick(&mut a, In { pedal, ..base });
                    let now = outputs::DISC_TEMPERATURE.map(|i| o[i]);
                    for w in 0..4 {
                        assert!(now[w] > last[w]);
                    }
                    last = now;
                }
                assert!(last.iter().all(|&t| t > ambient + 5.0), "{last:?}");
                for speed in [100.0, 0.0] {
                    for _ in 0..1500 {
                        let o = run(
                            &mut a,
                            In {
                                wheels: [speed; 4],
                                ..base
                            },
                            100,
                        );
                        let now = outputs::DISC_TEMPERATURE.map(|i| o[i]);
                        for w in 0..4 {
                            assert!(now[w] <= last[w]);
                            assert!(now[w] >= ambient - 1e-9);
                        }
                        last = now;
                    }
                }
                assert!(last.iter().all(|&t| (t - ambient).abs() < 0.1), "{last:?}");
            }
        }
    }

    #[test]
    fn a_locked_wheels_disc_is_not_heated() {
        let mut a = fresh();
        let i = In {
            enabled: false,
            wheels: [0.0, 80.0, 80.0, 80.0],
            ..In::new(100.0, 80.0)
        };
        let o = run(&mut a, i, 100);
        assert!((o[outputs::DISC_TEMPERATURE[0]] - 20.0).abs() < 1e-9);
        assert!(o[outputs::DISC_TEMPERATURE[1]] > 21.0);
    }

    #[test]
    fn a_noisy_wheel_sensor_is_flagged_only_when_implausible() {
        let ticks = |amplitude: f64| {
            let mut a = Abs::create(3).expect("create");
            let mut i = In::new(0.0, 50.0).array();
            i[inputs::NOISY_WHEEL] = 2.0;
            i[inputs::WHEEL_NOISE] = amplitude;
            let mut errors = 0;
            let mut off = 0.0_f64;
            for _ in 0..500 {
                let mut o = [0.0; outputs::COUNT];
                a.tick(DT, &i, &mut o).expect("tick");
                errors += usize::from(o[outputs::IS_ERROR] != 0.0);
                off = off.max((o[outputs::WHEEL_SPEED[1]] - 50.0).abs());
                assert_eq!(o[outputs::WHEEL_SPEED[0]], 50.0);
            }
            (errors, off)
        };
        let (quiet_errors, quiet_off) = ticks(5.0);
        assert_eq!(quiet_errors, 0);
        assert!(quiet_off > 1.0 && quiet_off <= 5.0, "{quiet_off}");
        let (loud_errors, _) = ticks(30.0);
        assert!(loud_errors > 100, "{loud_errors}");
        assert_eq!(ticks(30.0), ticks(30.0), "noise is seeded");
    }

    #[test]
    fn bad_inputs_do_not_poison_the_state() {
        let mut a = fresh();
        let bad = [f64::NAN, f64::INFINITY, -f64::INFINITY, -5.0, 1e12];
        for x in bad {
            for y in bad {
                let i = [x, y, x, y, x, y, x, y, x, y, x];
                let mut o = [0.0; outputs::COUNT];
                a.tick(DT, &i, &mut o).expect("tick");
                assert!(o.iter().all(|v| v.is_finite()));
                for w in 0..4 {
                    assert!(o[outputs::BRAKE_PRESSURE[w]] <= 100.0);
                    let t = o[outputs::DISC_TEMPERATURE[w]];
                    assert!((-50.0..=1000.0).contains(&t));
                }
            }
        }
        assert!(
            a.tick(f64::INFINITY, &In::new(0.0, 0.0).array(), &mut [0.0; 14])
                .is_err()
        );
        assert!(a.tick(DT, &[0.0; 6], &mut [0.0; 13]).is_err());
    }

    #[test]
    fn snapshot_round_trip_continues_identically() {
        let mut a = fresh();
        let mut i = In::new(100.0, 80.0);
        for _ in 0..37 {
            i.wheels[2] = (i.wheels[2] - 3.0).max(0.0);
            tick(&mut a, i);
        }
        let mut b = Abs::create(5).expect("create");
        b.restore(&a.snapshot()).expect("restore");
        for step in 0..3000u32 {
            let i = In {
                fault: u8::try_from((step / 500) % 5).expect("small"),
                wheels: [60.0, 60.0, 60.0 - f64::from(step % 40), 60.0],
                ..In::new(f64::from((step * 3) % 101), 60.0)
            };
            let (mut oa, mut ob) = ([0.0; outputs::COUNT], [0.0; outputs::COUNT]);
            a.tick(DT, &i.array(), &mut oa).expect("tick");
            b.tick(DT, &i.array(), &mut ob).expect("tick");
            assert_eq!(oa, ob);
        }
    }

    #[test]
    fn restore_refuses_bad_bytes() {
        let mut a = fresh();
        let good = String::from_utf8(a.snapshot()).expect("json");
        for bad in [
            String::new(),
            "[1,2".to_owned(),
            "{}".to_owned(),
            good.replacen("\"reference\":0.0", "\"reference\":-1.0", 1),
            good.replacen("\"pressure\":0.0", "\"pressure\":900.0", 1),
        ] {
            assert_ne!(bad, good);
            let err = a.restore(bad.as_bytes()).expect_err("must refuse");
            assert!(err.0.contains("abs"), "{err}");
        }
    }
}
