// Self-contained on purpose: a benchmark includes this file with
// `#[path = ...] mod x;`, so it may only use `tcu_sdk` (with its
// `snapshot` feature), `serde` and `std` (see the crate docs for the model).

use serde::{Deserialize, Serialize};
use std::ffi::CStr;
use tcu_sdk::PluginError;
use tcu_sdk::Subsystem;
use tcu_sdk::abi::{
    TCU_TYPE_BOOLEAN, TCU_TYPE_FLOAT, TCU_TYPE_INT16, TCU_TYPE_INT32, TCU_TYPE_UINT8,
    TCU_TYPE_UINT32, TcuSignalDecl,
};
use tcu_sdk::physics::{approach, finite_or, from_bool};
#[path = "faults.rs"]
pub mod faults;

pub use tcu_sdk::vehicle::{GEAR_RATIO, WHEEL_RADIUS_M};
/// Peak motor torque, Nm.
pub const MAX_DRIVE_TORQUE_NM: f64 = 350.0;
/// Peak motor power, W.
pub const MAX_DRIVE_POWER_W: f64 = 150_000.0;
/// Regenerative torque limit, Nm.
pub const MAX_REGEN_TORQUE_NM: f64 = 250.0;
/// Regenerative power limit, W.
pub const MAX_REGEN_POWER_W: f64 = 60_000.0;
/// Regenerative torque requested per percent of brake pedal, Nm/%: the regen
/// limit is reached at half pedal, the friction brakes do the rest.
pub const REGEN_TORQUE_PER_BRAKE_PERCENT: f64 = 5.0;
/// Light regen when the driver lifts off the accelerator, Nm (about 0.05 g).
pub const LIFT_OFF_REGEN_TORQUE_NM: f64 = 30.0;
/// Below this speed there is no regen at all, km/h.
pub const REGEN_MIN_SPEED_KMH: f64 = 5.0;
/// Above this speed regen is not faded, km/h.
pub const REGEN_FULL_SPEED_KMH: f64 = 10.0;
/// Efficiency of the gear train between motor and wheels.
pub const GEAR_EFFICIENCY: f64 = 0.97;
/// Efficiency of motor plus inverter, both directions.
pub const DRIVE_EFFICIENCY: f64 = 0.92;
/// Inverter and control electronics draw while energised, W.
pub const INVERTER_IDLE_W: f64 = 200.0;
/// Share of the mechanical power that heats the motor.
pub const LOSS_FRACTION: f64 = 0.08;
/// Time constant of the torque response, s.
pub const TORQUE_TAU_S: f64 = 0.05;
/// Steady-state rise of the motor over its coolant per watt of loss, K/W.
pub const MOTOR_RISE_K_PER_W: f64 = 0.007;
/// Steady-state rise of the coolant over ambient per watt of loss, K/W.
pub const COOLANT_RISE_K_PER_W: f64 = 0.004;
/// Thermal time constant of the motor windings and stator, s.
pub const MOTOR_TAU_S: f64 = 120.0;
/// Thermal time constant of the coolant loop, s.
pub const COOLANT_TAU_S: f64 = 300.0;
/// Ambient used until a finite air temperature arrives, celsius.
pub const DEFAULT_AMBIENT_C: f64 = 20.0;
/// Plausible outside air temperatures, celsius; beyond them the sensor is
/// taken as faulty and clamped (the world's range is -40..60).
pub const MIN_AMBIENT_C: f64 = -50.0;
/// See [`MIN_AMBIENT_C`].
pub const MAX_AMBIENT_C: f64 = 70.0;
/// Reported torque below this magnitude rounds to zero, Nm; the drive counts
/// as running while its torque is at least this large.
pub const RUNNING_TORQUE_NM: f64 = 0.5;
/// Vehicle speeds above this are treated as sensor garbage and clamped, km/h
/// (keeps the int32 rpm and the thermal model in range).
pub const MAX_SPEED_KMH: f64 = 400.0;

/// Positions of the inputs in `READS`.
pub mod inputs {
    /// `Vehicle.Chassis.Accelerator.PedalPosition`, percent.
    pub const ACCELERATOR_PEDAL: usize = 0;
    /// `Vehicle.Chassis.Brake.PedalPosition`, percent.
    pub const BRAKE_PEDAL: usize = 1;
    /// `Vehicle.Speed`, km/h.
    pub const SPEED: usize = 2;
    /// `Vehicle.Exterior.AirTemperature`, celsius.
    pub const AIR_TEMPERATURE: usize = 3;
    /// Number of inputs.
    pub const COUNT: usize = 4;
}

/// Positions of the outputs in `WRITES`.
pub mod outputs {
    /// `Vehicle.Powertrain.ElectricMotor.Speed`, rpm.
    pub const MOTOR_SPEED: usize = 0;
    /// `Vehicle.Powertrain.ElectricMotor.Torque`, Nm.
    pub const MOTOR_TORQUE: usize = 1;
    /// `Vehicle.Powertrain.ElectricMotor.Power`, kW.
    pub const MOTOR_POWER: usize = 2;
    /// `Vehicle.Powertrain.ElectricMotor.Temperature`, celsius.
    pub const MOTOR_TEMPERATURE: usize = 3;
    /// `Vehicle.Powertrain.ElectricMotor.CoolantTemperature`, celsius.
    pub const COOLANT_TEMPERATURE: usize = 4;
    /// `Sim.Powertrain.ElectricMotor.IsRunning`.
    pub const IS_RUNNING: usize = 5;
    /// `Sim.Powertrain.WheelForce`, N.
    pub const WHEEL_FORCE: usize = 6;
    /// `Sim.Powertrain.ElectricalPower`, W.
    pub const ELECTRICAL_POWER: usize = 7;
    /// `Sim.Diagnostics.Engine.ActiveFaults`: the DTC mask.
    pub const ACTIVE_FAULTS: usize = 8;
    /// Number of outputs.
    pub const COUNT: usize = 9;
}

/// Catalog limit of `Sim.Powertrain.WheelForce`, N.
const WHEEL_FORCE_LIMIT_N: f64 = 20_000.0;
/// Catalog limit of `Sim.Powertrain.ElectricalPower`, W.
const ELECTRICAL_POWER_LIMIT_W: f64 = 250_000.0;

/// State that survives a hot swap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct EngineState {
    /// Motor torque after the response lag, Nm (negative in regen).
    torque_nm: f64,
    /// Motor temperature, celsius; `None` until the first tick sees ambient.
    motor_temp_c: Option<f64>,
    /// Coolant temperature, celsius; `None` until the first tick.
    coolant_temp_c: Option<f64>,
    #[serde(default)]
    faults: tcu_sdk::dtc::ActiveFaults,
}

/// The electric traction drive ECU (motor, inverter, reduction gear).
#[derive(Debug, Clone)]
pub struct Engine {
    state: EngineState,
}

/// Motor shaft speed for a vehicle speed, rad/s.
pub fn motor_omega(speed_kmh: f64) -> f64 {
    speed_kmh / 3.6 / WHEEL_RADIUS_M * GEAR_RATIO
}

/// Rounds for an integer signal; never yields -0.0.
fn whole(x: f64) -> f64 {
    x.round() + 0.0
}

/// Regen fade factor: 0 at or below 5 km/h, 1 from 10 km/h, linear between.
fn regen_fade(speed_kmh: f64) -> f64 {
    ((speed_kmh - REGEN_MIN_SPEED_KMH) / (REGEN_FULL_SPEED_KMH - REGEN_MIN_SPEED_KMH))
        .clamp(0.0, 1.0)
}

/// Largest drive torque allowed at `omega`, Nm.
fn drive_torque_limit(omega: f64) -> f64 {
    if omega > 0.0 {
        MAX_DRIVE_TORQUE_NM.min(MAX_DRIVE_POWER_W / omega)
    } else {
        MAX_DRIVE_TORQUE_NM
    }
}

/// Largest regen torque magnitude allowed at `speed_kmh`, Nm.
fn regen_torque_limit(speed_kmh: f64) -> f64 {
    let omega = motor_omega(speed_kmh);
    let by_power = if omega > 0.0 {
        MAX_REGEN_POWER_W / omega
    } else {
        MAX_REGEN_TORQUE_NM
    };
    MAX_REGEN_TORQUE_NM.min(by_power) * regen_fade(speed_kmh)
}

/// Torque the drive aims for, Nm. Braking overrides the accelerator, as in
/// production EVs (brake-throttle override).
fn target_torque(accel_pct: f64, brake_pct: f64, speed_kmh: f64) -> f64 {
    let regen_demand = if brake_pct > 0.0 {
        LIFT_OFF_REGEN_TORQUE_NM.max(brake_pct * REGEN_TORQUE_PER_BRAKE_PERCENT)
    } else if accel_pct <= 0.0 {
        LIFT_OFF_REGEN_TORQUE_NM
    } else {
        0.0
    };
    if regen_demand > 0.0 {
        -regen_demand.min(regen_torque_limit(speed_kmh))
    } else {
        (accel_pct / 100.0 * MAX_DRIVE_TORQUE_NM).min(drive_torque_limit(motor_omega(speed_kmh)))
    }
}

impl Engine {
    fn new() -> Self {
        Self {
            state: EngineState {
                torque_nm: 0.0,
                motor_temp_c: None,
                coolant_temp_c: None,
                faults: Default::default(),
            },
        }
    }
}

fn check_state(s: &EngineState) -> Result<(), PluginError> {
    let temps = [s.motor_temp_c, s.coolant_temp_c];
    if !s.torque_nm.is_finite()
        || s.torque_nm.abs() > MAX_DRIVE_TORQUE_NM
        || temps.iter().flatten().any(|t| !t.is_finite())
    {
        return Err(PluginError::from(
            "engine snapshot holds a non-finite or out-of-range value",
        ));
    }
    Ok(())
}

impl Subsystem for Engine {
    const NAME: &'static CStr = c"engine";
    const VERSION: &'static CStr = c"1.0.0";
    const READS: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(c"Vehicle.Chassis.Accelerator.PedalPosition", TCU_TYPE_UINT8),
        TcuSignalDecl::new(c"Vehicle.Chassis.Brake.PedalPosition", TCU_TYPE_UINT8),
        TcuSignalDecl::new(c"Vehicle.Speed", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Vehicle.Exterior.AirTemperature", TCU_TYPE_FLOAT),
    ];
    const WRITES: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(c"Vehicle.Powertrain.ElectricMotor.Speed", TCU_TYPE_INT32),
        TcuSignalDecl::new(c"Vehicle.Powertrain.ElectricMotor.Torque", TCU_TYPE_INT16),
        TcuSignalDecl::new(c"Vehicle.Powertrain.ElectricMotor.Power", TCU_TYPE_INT16),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.ElectricMotor.Temperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.ElectricMotor.CoolantTemperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(c"Sim.Powertrain.ElectricMotor.IsRunning", TCU_TYPE_BOOLEAN),
        TcuSignalDecl::new(c"Sim.Powertrain.WheelForce", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Powertrain.ElectricalPower", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Diagnostics.Engine.ActiveFaults", TCU_TYPE_UINT32),
    ];

    fn create(_seed: u64) -> Result<Self, PluginError> {
        // The model is deterministic and noise-free, so the seed is unused.
        Ok(Self::new())
    }

    fn tick(&mut self, dt: f64, inputs: &[f64], outputs: &mut [f64]) -> Result<(), PluginError> {
        tcu_sdk::check_tick::<Self>(dt, inputs, outputs)?;
        let inputs = &faults::inputs(self.state.faults, inputs);
        faults::write(self.state.faults, outputs);
        let accel = finite_or(inputs[inputs::ACCELERATOR_PEDAL], 0.0).clamp(0.0, 100.0);
        let brake = finite_or(inputs[inputs::BRAKE_PEDAL], 0.0).clamp(0.0, 100.0);
        let speed = finite_or(inputs[inputs::SPEED], 0.0).clamp(0.0, MAX_SPEED_KMH);
        let ambient = finite_or(inputs[inputs::AIR_TEMPERATURE], DEFAULT_AMBIENT_C)
            .clamp(MIN_AMBIENT_C, MAX_AMBIENT_C);
        let omega = motor_omega(speed);

        let target = target_torque(accel, brake, speed);
        // The lag can overshoot a limit that just tightened (the speed rose
        // or fell below the regen fade), so clamp after it.
        // `+ 0.0` turns a -0.0 (no regen at standstill) into 0.0.
        let torque = approach(self.state.torque_nm, target, dt, TORQUE_TAU_S)
            .clamp(-regen_torque_limit(speed), drive_torque_limit(omega))
            + 0.0;
        self.state.torque_nm = torque;

        let mech_power = torque * omega;
        let running = torque.abs() >= RUNNING_TORQUE_NM || accel > 0.0;
        let conversion = if mech_power >= 0.0 {
            mech_power / DRIVE_EFFICIENCY
        } else {
            mech_power * DRIVE_EFFICIENCY
        };
        let electrical = conversion + if running { INVERTER_IDLE_W } else { 0.0 };
        // Regen: the wheels must supply the gear losses too, so the braking
        // force at the wheel is larger than the motor torque reflects.
        let wheel_force = if torque >= 0.0 {
            torque * GEAR_RATIO / WHEEL_RADIUS_M * GEAR_EFFICIENCY
        } else {
            torque * GEAR_RATIO / WHEEL_RADIUS_M / GEAR_EFFICIENCY
        };

        let losses = mech_power.abs() * LOSS_FRACTION;
        let coolant = approach(
            self.state.coolant_temp_c.unwrap_or(ambient),
            ambient + COOLANT_RISE_K_PER_W * losses,
            dt,
            COOLANT_TAU_S,
        );
        // The motor sheds its heat into the coolant, so it follows it.
        let motor = approach(
            self.state.motor_temp_c.unwrap_or(ambient),
            coolant + MOTOR_RISE_K_PER_W * losses,
            dt,
            MOTOR_TAU_S,
        );
        self.state.coolant_temp_c = Some(coolant);
        self.state.motor_temp_c = Some(motor);

        outputs[outputs::MOTOR_SPEED] = whole(omega * 60.0 / std::f64::consts::TAU);
        outputs[outputs::MOTOR_TORQUE] = whole(torque);
        outputs[outputs::MOTOR_POWER] = whole(mech_power / 1000.0);
        outputs[outputs::MOTOR_TEMPERATURE] = motor;
        outputs[outputs::COOLANT_TEMPERATURE] = coolant;
        outputs[outputs::IS_RUNNING] = from_bool(running);
        outputs[outputs::WHEEL_FORCE] =
            wheel_force.clamp(-WHEEL_FORCE_LIMIT_N, WHEEL_FORCE_LIMIT_N);
        outputs[outputs::ELECTRICAL_POWER] =
            electrical.clamp(-ELECTRICAL_POWER_LIMIT_W, ELECTRICAL_POWER_LIMIT_W);
        Ok(())
    }

    fn command(&mut self, name: &str, value: f64) -> Result<(), tcu_sdk::CommandError> {
        let unsupported = || Err(tcu_sdk::CommandError::Unsupported(name.to_owned()));
        (self.state.faults.command(&faults::FAULTS, name, value)).unwrap_or_else(unsupported)
    }

    fn snapshot(&self) -> Vec<u8> {
        tcu_sdk::snapshot::encode(&self.state)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        let state: EngineState = tcu_sdk::snapshot::decode("engine: unreadable snapshot", bytes)?;
        check_state(&state)?;
        self.state = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcu_sdk::testing::path;

    const DT: f64 = 0.01;

    fn input(accel: f64, brake: f64, speed: f64, ambient: f64) -> [f64; inputs::COUNT] {
        let mut i = [0.0; inputs::COUNT];
        i[inputs::ACCELERATOR_PEDAL] = accel;
        i[inputs::BRAKE_PEDAL] = brake;
        i[inputs::SPEED] = speed;
        i[inputs::AIR_TEMPERATURE] = ambient;
        i
    }

    /// Ticks `n` times with the same inputs, checking every output each tick.
    fn run(e: &mut Engine, i: &[f64; inputs::COUNT], n: usize) -> [f64; outputs::COUNT] {
        let mut o = [0.0; outputs::COUNT];
        for _ in 0..n {
            e.tick(DT, i, &mut o).expect("tick");
            assert_in_range(&o);
        }
        o
    }

    fn fresh() -> Engine {
        Engine::create(1).expect("create")
    }

    /// Catalog ranges of the written signals; where the catalog has none, a
    /// physically sensible range.
    fn assert_in_range(o: &[f64; outputs::COUNT]) {
        let ranges: [(usize, f64, f64, bool); outputs::COUNT] = [
            (outputs::MOTOR_SPEED, 0.0, 2_147_483_647.0, true),
            (outputs::MOTOR_TORQUE, -32768.0, 32767.0, true),
            (outputs::MOTOR_POWER, -32768.0, 32767.0, true),
            (outputs::MOTOR_TEMPERATURE, -50.0, 250.0, false),
            (outputs::COOLANT_TEMPERATURE, -50.0, 150.0, false),
            (outputs::IS_RUNNING, 0.0, 1.0, true),
            (outputs::WHEEL_FORCE, -20_000.0, 20_000.0, false),
            (outputs::ELECTRICAL_POWER, -250_000.0, 250_000.0, false),
            (outputs::ACTIVE_FAULTS, 0.0, 3.0, true),
        ];
        for (idx, lo, hi, whole) in ranges {
            let v = o[idx];
            assert!(v.is_finite(), "output {idx} not finite: {v}");
            assert!(
                (lo..=hi).contains(&v),
                "output {idx} = {v} outside {lo}..{hi}"
            );
            if whole {
                assert_eq!(v, v.round(), "output {idx} = {v} must be a whole number");
            }
        }
    }

    /// Mechanical power at the shaft from the reported signals, W (torque
    /// before rounding is not visible, so use the wheel force).
    fn mech_power_from_force(force: f64, speed_kmh: f64) -> f64 {
        let v = speed_kmh / 3.6;
        if force >= 0.0 {
            force * v / GEAR_EFFICIENCY
        } else {
            force * v * GEAR_EFFICIENCY
        }
    }

    const SPEEDS: [f64; 12] = [
        0.0, 3.0, 5.0, 7.5, 10.0, 20.0, 40.0, 60.0, 90.0, 120.0, 160.0, 200.0,
    ];

    #[test]
    fn every_declared_signal_exists_in_the_catalog_with_its_datatype() {
        tcu_sdk::testing::assert_declarations_in_catalog::<Engine>();
    }

    #[test]
    fn index_constants_match_the_declared_paths() {
        let reads = [
            (
                inputs::ACCELERATOR_PEDAL,
                "Vehicle.Chassis.Accelerator.PedalPosition",
            ),
            (inputs::BRAKE_PEDAL, "Vehicle.Chassis.Brake.PedalPosition"),
            (inputs::SPEED, "Vehicle.Speed"),
            (inputs::AIR_TEMPERATURE, "Vehicle.Exterior.AirTemperature"),
        ];
        assert_eq!(Engine::READS.len(), inputs::COUNT);
        for (i, p) in reads {
            assert_eq!(path(&Engine::READS[i]), p);
        }
        let writes = [
            (
                outputs::MOTOR_SPEED,
                "Vehicle.Powertrain.ElectricMotor.Speed",
            ),
            (
                outputs::MOTOR_TORQUE,
                "Vehicle.Powertrain.ElectricMotor.Torque",
            ),
            (
                outputs::MOTOR_POWER,
                "Vehicle.Powertrain.ElectricMotor.Power",
            ),
            (
                outputs::MOTOR_TEMPERATURE,
                "Vehicle.Powertrain.ElectricMotor.Temperature",
            ),
            (
                outputs::COOLANT_TEMPERATURE,
                "Vehicle.Powertrain.ElectricMotor.CoolantTemperature",
            ),
            (
                outputs::IS_RUNNING,
                "Sim.Powertrain.ElectricMotor.IsRunning",
            ),
            (outputs::WHEEL_FORCE, "Sim.Powertrain.WheelForce"),
            (outputs::ELECTRICAL_POWER, "Sim.Powertrain.ElectricalPower"),
        ];
        assert_eq!(Engine::WRITES.len(), outputs::COUNT);
        for (i, p) in writes {
            assert_eq!(path(&Engine::WRITES[i]), p);
        }
    }

    #[test]
    fn wheel_force_is_monotonic_in_the_accelerator_at_every_speed() {
        for speed in SPEEDS {
            for brake in [0.0, 30.0] {
                let mut last = f64::NEG_INFINITY;
                for accel in 0..=100 {
                    let mut e = fresh();
                    let o = run(&mut e, &input(f64::from(accel), brake, speed, 20.0), 100);
                    let f = o[outputs::WHEEL_FORCE];
                    assert!(
                        f >= last - 1e-6,
                        "force fell from {last} to {f} at pedal {accel}, speed {speed}, brake {brake}"
                    );
                    last = f;
                }
            }
        }
    }

    #[test]
    fn electrical_power_exceeds_mechanical_power_while_driving() {
        for speed in SPEEDS {
            for accel in (5..=100).step_by(5) {
                let mut e = fresh();
                let o = run(&mut e, &input(f64::from(accel), 0.0, speed, 20.0), 200);
                let mech = mech_power_from_force(o[outputs::WHEEL_FORCE], speed);
                assert!(mech >= 0.0);
                assert!(
                    o[outputs::ELECTRICAL_POWER] >= mech + INVERTER_IDLE_W - 1e-6,
                    "elec {} < mech {mech} at {speed} km/h, pedal {accel}",
                    o[outputs::ELECTRICAL_POWER]
                );
            }
        }
    }

    #[test]
    fn regen_returns_less_electrical_power_than_the_braking_power_at_every_speed() {
        for speed in [15.0, 30.0, 60.0, 100.0, 150.0, 200.0] {
            for brake in (10..=100).step_by(10) {
                let mut e = fresh();
                let o = run(&mut e, &input(0.0, f64::from(brake), speed, 20.0), 200);
                let mech = mech_power_from_force(o[outputs::WHEEL_FORCE], speed);
                let elec = o[outputs::ELECTRICAL_POWER];
                assert!(
                    mech < 0.0,
                    "no braking power at {speed} km/h, brake {brake}"
                );
                assert!(elec < 0.0, "regen did not feed the battery: {elec} W");
                assert!(
                    elec.abs() < mech.abs(),
                    "regen created energy: |{elec}| >= |{mech}|"
                );
                assert!(o[outputs::WHEEL_FORCE] < 0.0);
                assert!(o[outputs::MOTOR_TORQUE] < 0.0);
            }
        }
    }

    #[test]
    fn more_brake_pedal_never_regenerates_less() {
        for speed in SPEEDS {
            let mut last = f64::INFINITY;
            for brake in 0..=100 {
                let mut e = fresh();
                let o = run(&mut e, &input(0.0, f64::from(brake), speed, 20.0), 200);
                let f = o[outputs::WHEEL_FORCE];
                assert!(f <= last + 1e-6, "regen force weakened at brake {brake}");
                last = f;
            }
        }
    }

    #[test]
    fn regen_fades_below_ten_and_vanishes_below_five_kmh() {
        for brake in [0.0, 20.0, 60.0, 100.0] {
            let mut forces = Vec::new();
            for tenth in 0..=120 {
                let speed = f64::from(tenth) / 10.0;
                let mut e = fresh();
                let o = run(&mut e, &input(0.0, brake, speed, 20.0), 200);
                let f = o[outputs::WHEEL_FORCE];
                if speed <= REGEN_MIN_SPEED_KMH {
                    assert_eq!(f, 0.0, "regen at {speed} km/h");
                    assert_eq!(o[outputs::IS_RUNNING], 0.0);
                }
                forces.push(f);
            }
            // Stronger (more negative) as speed rises through the fade band.
            for w in forces.windows(2) {
                assert!(w[1] <= w[0] + 1e-6);
            }
        }
    }

    #[test]
    fn power_and_torque_never_exceed_their_limits() {
        // A long drive cycle that sweeps pedals and speed, including abrupt
        // speed jumps that the torque lag has to follow.
        let mut e = fresh();
        let mut o = [0.0; outputs::COUNT];
        for step in 0..60_000u32 {
            let t = f64::from(step) * DT;
            let speed = (100.0 + 100.0 * (t * 0.05).sin()).max(0.0)
                + if step % 5000 < 50 { 80.0 } else { 0.0 };
            let accel = (50.0 + 60.0 * (t * 0.37).sin()).clamp(0.0, 100.0).round();
            let brake = (60.0 * (t * 0.23).cos()).clamp(0.0, 100.0).round();
            e.tick(DT, &input(accel, brake, speed, 25.0), &mut o)
                .expect("tick");
            assert_in_range(&o);
            let torque = e.state.torque_nm;
            let mech = torque * motor_omega(speed);
            assert!(torque <= MAX_DRIVE_TORQUE_NM + 1e-9);
            assert!(torque >= -MAX_REGEN_TORQUE_NM - 1e-9);
            assert!(mech <= MAX_DRIVE_POWER_W + 1e-6, "drive {mech} W");
            assert!(mech >= -MAX_REGEN_POWER_W - 1e-6, "regen {mech} W");
            assert!(o[outputs::MOTOR_POWER].abs() <= 150.0);
            assert!(
                o[outputs::ELECTRICAL_POWER]
                    <= MAX_DRIVE_POWER_W / DRIVE_EFFICIENCY + INVERTER_IDLE_W + 1e-6
            );
        }
    }

    #[test]
    fn motor_speed_is_proportional_to_vehicle_speed() {
        let rpm_per_kmh = GEAR_RATIO / WHEEL_RADIUS_M / 3.6 * 60.0 / std::f64::consts::TAU;
        for tenth in 0..=2500 {
            let speed = f64::from(tenth) / 10.0;
            for accel in [0.0, 50.0] {
                let mut e = fresh();
                let o = run(&mut e, &input(accel, 0.0, speed, 20.0), 1);
                assert!((o[outputs::MOTOR_SPEED] - rpm_per_kmh * speed).abs() <= 0.5);
            }
        }
    }

    #[test]
    fn temperatures_rise_under_sustained_load_and_never_fall_below_ambient() {
        for ambient in [-30.0, 0.0, 20.0, 40.0] {
            let mut e = fresh();
            // 90 km/h at full pedal is power-limited at 150 kW.
            let i = input(100.0, 0.0, 90.0, ambient);
            let mut o = run(&mut e, &i, 1);
            let (mut motor, mut coolant) = (
                o[outputs::MOTOR_TEMPERATURE],
                o[outputs::COOLANT_TEMPERATURE],
            );
            for _ in 0..600 {
                o = run(&mut e, &i, 100);
                assert!(o[outputs::MOTOR_TEMPERATURE] >= motor);
                assert!(o[outputs::COOLANT_TEMPERATURE] >= coolant);
                motor = o[outputs::MOTOR_TEMPERATURE];
                coolant = o[outputs::COOLANT_TEMPERATURE];
            }
            assert!(
                motor > ambient + 50.0,
                "motor only reached {motor} at {ambient}"
            );
            assert!(coolant > ambient + 20.0, "coolant only reached {coolant}");
            assert!(motor >= coolant);
            // Then park: both cool back toward ambient, never below it.
            let park = input(0.0, 0.0, 0.0, ambient);
            for _ in 0..3600 {
                let before = (
                    o[outputs::MOTOR_TEMPERATURE],
                    o[outputs::COOLANT_TEMPERATURE],
                );
                o = run(&mut e, &park, 100);
                assert!(o[outputs::MOTOR_TEMPERATURE] <= before.0);
                assert!(o[outputs::COOLANT_TEMPERATURE] <= before.1);
                assert!(o[outputs::MOTOR_TEMPERATURE] >= ambient - 1e-9);
                assert!(o[outputs::COOLANT_TEMPERATURE] >= ambient - 1e-9);
            }
            assert!((o[outputs::MOTOR_TEMPERATURE] - ambient).abs() < 0.5);
        }
    }

    #[test]
    fn the_drive_runs_exactly_while_it_has_torque_or_a_pedal_request() {
        for speed in SPEEDS {
            for accel in [0.0, 1.0, 50.0] {
                for brake in [0.0, 50.0] {
                    let mut e = fresh();
                    let o = run(&mut e, &input(accel, brake, speed, 20.0), 200);
                    let expect = accel > 0.0 || o[outputs::MOTOR_TORQUE] != 0.0;
                    assert_eq!(o[outputs::IS_RUNNING], from_bool(expect));
                    let idle = if expect { INVERTER_IDLE_W } else { 0.0 };
                    if o[outputs::WHEEL_FORCE] == 0.0 {
                        assert_eq!(o[outputs::ELECTRICAL_POWER], idle);
                    }
                }
            }
        }
    }

    #[test]
    fn torque_follows_the_pedal_with_a_short_lag() {
        for speed in [0.0, 20.0, 50.0] {
            let mut e = fresh();
            let o = run(&mut e, &input(100.0, 0.0, speed, 20.0), 1);
            let first = o[outputs::WHEEL_FORCE];
            let o = run(&mut e, &input(100.0, 0.0, speed, 20.0), 50);
            let settled = o[outputs::WHEEL_FORCE];
            assert!(first > 0.0 && first < settled);
            let expect =
                target_torque(100.0, 0.0, speed) * GEAR_RATIO / WHEEL_RADIUS_M * GEAR_EFFICIENCY;
            assert!((settled - expect).abs() < 1e-3 * expect);
        }
    }

    #[test]
    fn bad_inputs_do_not_poison_the_state() {
        let mut e = fresh();
        let bad = [f64::NAN, f64::INFINITY, -f64::INFINITY, -5.0, 1e9];
        for a in bad {
            for s in bad {
                let o = run(&mut e, &input(a, a, s, a), 3);
                assert!(o.iter().all(|v| v.is_finite()));
            }
        }
        assert!(
            e.tick(f64::NAN, &input(0.0, 0.0, 0.0, 20.0), &mut [0.0; 8])
                .is_err()
        );
        assert!(e.tick(DT, &[0.0; 3], &mut [0.0; 8]).is_err());
    }

    #[test]
    fn snapshot_round_trip_continues_identically() {
        let mut a = fresh();
        run(&mut a, &input(80.0, 0.0, 70.0, 15.0), 3000);
        let mut b = Engine::create(99).expect("create");
        b.restore(&a.snapshot()).expect("restore");
        for step in 0..2000u32 {
            let accel = f64::from(step % 101);
            let brake = f64::from((step / 7) % 40);
            let i = input(accel, brake, 40.0 + f64::from(step % 50), 15.0);
            let (mut oa, mut ob) = ([0.0; outputs::COUNT], [0.0; outputs::COUNT]);
            a.tick(DT, &i, &mut oa).expect("tick");
            b.tick(DT, &i, &mut ob).expect("tick");
            assert_eq!(oa, ob);
        }
    }

    #[test]
    fn restore_refuses_bad_bytes() {
        let mut e = fresh();
        for bad in [
            &b""[..],
            b"not json",
            b"{}",
            br#"{"torque_nm":1e9,"motor_temp_c":null,"coolant_temp_c":null}"#,
        ] {
            let err = e.restore(bad).expect_err("must refuse");
            assert!(err.0.contains("engine"), "{err}");
        }
    }
}
