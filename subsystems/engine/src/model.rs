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

pub use tcu_sdk::vehicle::{
    BRAKE_DEMAND_N_PER_PEDAL_PERCENT, GEAR_RATIO, GRAVITY, MASS_KG, WHEEL_RADIUS_M,
};
/// Peak motor torque, Nm.
pub const MAX_DRIVE_TORQUE_NM: f64 = 350.0;
/// Peak motor power, W. With the torque limit this is the usual electric
/// drive curve: constant torque up to the corner speed (150 kW / 350 Nm =
/// 429 rad/s, about 4,100 rpm or 56 km/h), constant power above it.
pub const MAX_DRIVE_POWER_W: f64 = 150_000.0;
/// Top speed, km/h: the drive is limited there, as the Tesla Model 3
/// Rear-Wheel Drive's published 201 km/h. The limiter fades the drive
/// torque out over the last [`LIMITER_BAND_KMH`].
pub const TOP_SPEED_KMH: f64 = 201.0;
/// See [`TOP_SPEED_KMH`], km/h.
pub const LIMITER_BAND_KMH: f64 = 5.0;
/// Highest motor speed, rpm: the VW APP310 drive's published 16,000 rpm
/// (at 9:1 and 0.33 m that is 221 km/h, above the top speed, so it only
/// guards a spinning wheel). Torque fades out over the last 500 rpm.
pub const MAX_MOTOR_RPM: f64 = 16_000.0;
/// Width of the motor speed fade, rpm.
pub const MOTOR_RPM_BAND: f64 = 500.0;
/// Winding temperature from which the drive derates its torque, celsius.
pub const MOTOR_DERATE_START_C: f64 = 140.0;
/// Winding temperature at which the drive gives no torque, celsius: the
/// 180 celsius limit of class H insulation (IEC 60085).
pub const MOTOR_MAX_TEMP_C: f64 = 180.0;
/// Deceleration the drive alone brakes the car with, in g: Volkswagen
/// states that the ID.3 brakes purely electrically up to about 0.3 g and the
/// hydraulic brakes step in only above it (VW newsroom, "Brake energy
/// recuperation for efficient driving").
pub const MAX_REGEN_DECELERATION_G: f64 = 0.3;
/// Regenerative torque limit, Nm: the torque that gives
/// [`MAX_REGEN_DECELERATION_G`] at the wheels (the wheels also supply the
/// gear losses, hence the efficiency factor).
pub const MAX_REGEN_TORQUE_NM: f64 =
    MAX_REGEN_DECELERATION_G * MASS_KG * GRAVITY * WHEEL_RADIUS_M * GEAR_EFFICIENCY / GEAR_RATIO;
/// Regenerative power limit at the shaft, W: the same source gives "more
/// than 100 kW" of recuperation power at 0.3 g.
pub const MAX_REGEN_POWER_W: f64 = 100_000.0;
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
/// Slip of the driven wheels (against the undriven ones) from which the
/// drive reduces its torque: above the slip a tyre runs at 80 % of its
/// grip on asphalt (about 6 % on Burckhardt's curves), so that firm
/// regeneration on a dry road is left alone.
pub const SLIP_START: f64 = 0.08;
/// Slip at which the drive's torque is gone (traction control while
/// driving, regen cut while braking): about where dry asphalt's friction
/// peaks (Burckhardt: 0.17), past the peak of every slippery surface.
pub const SLIP_CUT: f64 = 0.15;
/// Slip is measured against at least this speed, km/h.
pub const SLIP_REFERENCE_MIN_KMH: f64 = 5.0;
/// Largest plausible battery power budget, W (the catalog's maximum).
pub const MAX_BUDGET_W: f64 = 250_000.0;

/// Positions of the inputs in `READS`.
pub mod inputs {
    /// `Vehicle.Chassis.Accelerator.PedalPosition`, percent.
    pub const ACCELERATOR_PEDAL: usize = 0;
    /// `Vehicle.Chassis.Brake.PedalPosition`, percent.
    pub const BRAKE_PEDAL: usize = 1;
    /// `Sim.Chassis.Axle.Row{1,2}.Wheel.{Left,Right}.Speed`, km/h: the
    /// wheels' circumferential speeds. The rear (driven) ones turn the
    /// motor; the front ones show how fast the car goes.
    pub const WHEEL_SPEED: [usize; 4] = [2, 3, 4, 5];
    /// `Vehicle.Exterior.AirTemperature`, celsius.
    pub const AIR_TEMPERATURE: usize = 6;
    /// `Sim.Powertrain.TractionBattery.AvailableDischargePower`, W.
    pub const AVAILABLE_DISCHARGE: usize = 7;
    /// `Sim.Powertrain.TractionBattery.AvailableChargePower`, W.
    pub const AVAILABLE_CHARGE: usize = 8;
    /// Number of inputs.
    pub const COUNT: usize = 9;
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

/// What the battery can give and take this tick, W (at the drive's
/// terminals).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Power the battery can deliver to the drive.
    pub discharge: f64,
    /// Power the battery can accept from the drive.
    pub charge: f64,
}

impl Budget {
    /// A budget that never limits the drive (its own limits are lower).
    pub const UNLIMITED: Budget = Budget {
        discharge: MAX_BUDGET_W,
        charge: MAX_BUDGET_W,
    };
}

/// Largest drive torque allowed at `omega` within `budget`, Nm: the motor's
/// torque and power limits, and the shaft power the battery can pay for
/// after the inverter's own draw. With no budget at all the drive is off.
fn drive_torque_limit(omega: f64, budget: Budget) -> f64 {
    let affordable = (budget.discharge - INVERTER_IDLE_W) * DRIVE_EFFICIENCY;
    if affordable <= 0.0 {
        return 0.0;
    }
    if omega > 0.0 {
        MAX_DRIVE_TORQUE_NM
            .min(MAX_DRIVE_POWER_W / omega)
            .min(affordable / omega)
    } else {
        MAX_DRIVE_TORQUE_NM
    }
}

/// Largest regen torque magnitude allowed at `speed_kmh` within `budget`,
/// Nm: the motor's limits and the power the battery can accept.
fn regen_torque_limit(speed_kmh: f64, budget: Budget) -> f64 {
    let omega = motor_omega(speed_kmh);
    let limit = if omega > 0.0 {
        let storable = budget.charge.max(0.0) / DRIVE_EFFICIENCY;
        MAX_REGEN_TORQUE_NM
            .min(MAX_REGEN_POWER_W / omega)
            .min(storable / omega)
    } else {
        MAX_REGEN_TORQUE_NM
    };
    limit * regen_fade(speed_kmh)
}

/// 0 at or beyond `zero`, 1 at or before `full`, linear between (either
/// order).
fn ramp(x: f64, zero: f64, full: f64) -> f64 {
    ((x - zero) / (full - zero)).clamp(0.0, 1.0)
}

/// Share of the drive torque the vehicle limits allow: the top-speed
/// limiter (at the vehicle speed `speed_kmh`, from the undriven wheels),
/// the motor speed limit (at `omega`) and the winding temperature.
fn limits_factor(speed_kmh: f64, omega: f64, motor_temp_c: f64) -> f64 {
    let rpm = omega * 60.0 / std::f64::consts::TAU;
    ramp(speed_kmh, TOP_SPEED_KMH, TOP_SPEED_KMH - LIMITER_BAND_KMH)
        * ramp(rpm, MAX_MOTOR_RPM, MAX_MOTOR_RPM - MOTOR_RPM_BAND)
        * thermal_factor(motor_temp_c)
}

/// Share of its torque (drive and regen) a motor at `motor_temp_c` may
/// give.
fn thermal_factor(motor_temp_c: f64) -> f64 {
    ramp(motor_temp_c, MOTOR_MAX_TEMP_C, MOTOR_DERATE_START_C)
}

/// Share of its torque the drive may apply with the driven wheels turning
/// at `driven` km/h and the undriven ones at `reference` km/h: 1 while the
/// driven wheels grip, falling to 0 as they slip (spin, or drag toward lock
/// under regeneration). The VW ID.3 owner's manual describes the same:
/// recuperation is reduced automatically when the road does not give the
/// wheels safe contact.
fn grip_factor(driven: f64, reference: f64) -> f64 {
    let base = driven.max(reference).max(SLIP_REFERENCE_MIN_KMH);
    let slip = (driven - reference).abs() / base;
    ((SLIP_CUT - slip) / (SLIP_CUT - SLIP_START)).clamp(0.0, 1.0)
}

/// Regen torque magnitude that gives a braking force `force_n` at the
/// wheels, Nm.
fn regen_torque_for_force(force_n: f64) -> f64 {
    force_n * WHEEL_RADIUS_M * GEAR_EFFICIENCY / GEAR_RATIO
}

/// Torque the drive aims for, Nm. Braking overrides the accelerator, as in
/// production EVs (brake-throttle override). The brake pedal asks for a
/// total braking force (brake blending): the drive takes as much of it as
/// its limits and the battery allow, the friction brakes the rest.
fn target_torque(accel_pct: f64, brake_pct: f64, speed_kmh: f64, budget: Budget) -> f64 {
    let regen_demand = if brake_pct > 0.0 {
        LIFT_OFF_REGEN_TORQUE_NM.max(regen_torque_for_force(
            brake_pct * BRAKE_DEMAND_N_PER_PEDAL_PERCENT,
        ))
    } else if accel_pct <= 0.0 {
        LIFT_OFF_REGEN_TORQUE_NM
    } else {
        0.0
    };
    if regen_demand > 0.0 {
        -regen_demand.min(regen_torque_limit(speed_kmh, budget))
    } else {
        (accel_pct / 100.0 * MAX_DRIVE_TORQUE_NM)
            .min(drive_torque_limit(motor_omega(speed_kmh), budget))
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
        TcuSignalDecl::new(c"Sim.Chassis.Axle.Row1.Wheel.Left.Speed", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Chassis.Axle.Row1.Wheel.Right.Speed", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Chassis.Axle.Row2.Wheel.Left.Speed", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Chassis.Axle.Row2.Wheel.Right.Speed", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Vehicle.Exterior.AirTemperature", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(
            c"Sim.Powertrain.TractionBattery.AvailableDischargePower",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Powertrain.TractionBattery.AvailableChargePower",
            TCU_TYPE_FLOAT,
        ),
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
        let wheel =
            |w: usize| finite_or(inputs[inputs::WHEEL_SPEED[w]], 0.0).clamp(0.0, MAX_SPEED_KMH);
        // The motor turns with the driven (rear) wheels: a locked wheel
        // stops it, and a stopped motor regenerates nothing.
        let speed = 0.5 * (wheel(2) + wheel(3));
        let reference = 0.5 * (wheel(0) + wheel(1));
        let grip = grip_factor(speed, reference);
        let ambient = finite_or(inputs[inputs::AIR_TEMPERATURE], DEFAULT_AMBIENT_C)
            .clamp(MIN_AMBIENT_C, MAX_AMBIENT_C);
        let budget = Budget {
            discharge: finite_or(inputs[inputs::AVAILABLE_DISCHARGE], 0.0).clamp(0.0, MAX_BUDGET_W),
            charge: finite_or(inputs[inputs::AVAILABLE_CHARGE], 0.0).clamp(0.0, MAX_BUDGET_W),
        };
        let omega = motor_omega(speed);

        let motor_temp = self.state.motor_temp_c.unwrap_or(ambient);
        let drive_share = grip * limits_factor(reference, omega, motor_temp);
        let regen_share = grip * thermal_factor(motor_temp);
        let target = target_torque(accel, brake, speed, budget);
        let target = target
            * if target >= 0.0 {
                drive_share
            } else {
                regen_share
            };
        // The lag can overshoot a limit that just tightened (the speed rose
        // or fell below the regen fade, the battery's budget shrank), so
        // clamp after it. `+ 0.0` turns a -0.0 (no regen at standstill)
        // into 0.0.
        let drive_limit = drive_torque_limit(omega, budget) * drive_share;
        let torque = approach(self.state.torque_nm, target, dt, TORQUE_TAU_S).clamp(
            -regen_torque_limit(speed, budget) * regen_share,
            drive_limit,
        ) + 0.0;
        self.state.torque_nm = torque;

        let mech_power = torque * omega;
        // A drive the battery cannot pay for stays off, inverter included.
        let running = torque.abs() >= RUNNING_TORQUE_NM
            || (accel > 0.0 && budget.discharge > INVERTER_IDLE_W);
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
        self.state.faults.only_command(&faults::FAULTS, name, value)
    }

    fn snapshot(&self) -> Vec<u8> {
        tcu_sdk::snapshot::encode(&self.state)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        tcu_sdk::snapshot::restore(
            &mut self.state,
            "engine: unreadable snapshot",
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

    fn input(accel: f64, brake: f64, speed: f64, ambient: f64) -> [f64; inputs::COUNT] {
        let mut i = [0.0; inputs::COUNT];
        i[inputs::ACCELERATOR_PEDAL] = accel;
        i[inputs::BRAKE_PEDAL] = brake;
        for w in inputs::WHEEL_SPEED {
            i[w] = speed;
        }
        i[inputs::AIR_TEMPERATURE] = ambient;
        i[inputs::AVAILABLE_DISCHARGE] = Budget::UNLIMITED.discharge;
        i[inputs::AVAILABLE_CHARGE] = Budget::UNLIMITED.charge;
        i
    }

    fn with_budget(
        mut i: [f64; inputs::COUNT],
        discharge: f64,
        charge: f64,
    ) -> [f64; inputs::COUNT] {
        i[inputs::AVAILABLE_DISCHARGE] = discharge;
        i[inputs::AVAILABLE_CHARGE] = charge;
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
            (
                inputs::WHEEL_SPEED[0],
                "Sim.Chassis.Axle.Row1.Wheel.Left.Speed",
            ),
            (
                inputs::WHEEL_SPEED[1],
                "Sim.Chassis.Axle.Row1.Wheel.Right.Speed",
            ),
            (
                inputs::WHEEL_SPEED[2],
                "Sim.Chassis.Axle.Row2.Wheel.Left.Speed",
            ),
            (
                inputs::WHEEL_SPEED[3],
                "Sim.Chassis.Axle.Row2.Wheel.Right.Speed",
            ),
            (inputs::AIR_TEMPERATURE, "Vehicle.Exterior.AirTemperature"),
            (
                inputs::AVAILABLE_DISCHARGE,
                "Sim.Powertrain.TractionBattery.AvailableDischargePower",
            ),
            (
                inputs::AVAILABLE_CHARGE,
                "Sim.Powertrain.TractionBattery.AvailableChargePower",
            ),
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
    fn an_empty_battery_gives_the_drive_no_torque_and_draws_nothing() {
        for speed in SPEEDS {
            for budget in [0.0, INVERTER_IDLE_W] {
                let mut e = fresh();
                let o = run(
                    &mut e,
                    &with_budget(input(100.0, 0.0, speed, 20.0), budget, 0.0),
                    200,
                );
                assert_eq!(o[outputs::WHEEL_FORCE], 0.0, "{speed} km/h, {budget} W");
                assert_eq!(o[outputs::ELECTRICAL_POWER], 0.0);
                assert_eq!(o[outputs::IS_RUNNING], 0.0);
            }
        }
    }

    #[test]
    fn the_drive_never_draws_more_than_the_battery_can_deliver() {
        for speed in SPEEDS {
            for budget in [5_000.0, 20_000.0, 60_000.0] {
                let mut e = fresh();
                let o = run(
                    &mut e,
                    &with_budget(input(100.0, 0.0, speed, 20.0), budget, 0.0),
                    300,
                );
                assert!(
                    o[outputs::ELECTRICAL_POWER] <= budget + 1e-6,
                    "{} W drawn of {budget} W at {speed} km/h",
                    o[outputs::ELECTRICAL_POWER]
                );
            }
        }
    }

    #[test]
    fn regeneration_never_feeds_more_than_the_battery_accepts() {
        for speed in [20.0, 60.0, 120.0] {
            for budget in [0.0, 3_000.0, 30_000.0] {
                let mut e = fresh();
                let o = run(
                    &mut e,
                    &with_budget(input(0.0, 60.0, speed, 20.0), 200_000.0, budget),
                    300,
                );
                let fed = -o[outputs::ELECTRICAL_POWER];
                assert!(
                    fed <= budget + 1e-6,
                    "{fed} W fed of {budget} W at {speed} km/h"
                );
            }
            // A full battery: no regenerative braking at all.
            let mut e = fresh();
            let o = run(
                &mut e,
                &with_budget(input(0.0, 60.0, speed, 20.0), 200_000.0, 0.0),
                300,
            );
            assert_eq!(o[outputs::WHEEL_FORCE], 0.0);
        }
    }

    #[test]
    fn the_brake_pedal_regenerates_its_blended_demand_up_to_the_published_0_3_g() {
        // From 10 % the demand exceeds the light lift-off regen.
        for brake in [10.0, 20.0, 40.0, 100.0] {
            let mut e = fresh();
            // 40 km/h: below the 100 kW corner, so the torque limit applies.
            let o = run(&mut e, &input(0.0, brake, 40.0, 20.0), 300);
            let force = -o[outputs::WHEEL_FORCE];
            let demand = brake * BRAKE_DEMAND_N_PER_PEDAL_PERCENT;
            let cap = MAX_REGEN_DECELERATION_G * MASS_KG * GRAVITY;
            assert!(
                (force - demand.min(cap)).abs() < 1e-3 * demand.min(cap),
                "pedal {brake}: regen {force} N for a demand of {demand} N"
            );
        }
    }

    #[test]
    fn locked_driven_wheels_stop_the_motor_and_regenerate_nothing() {
        for speed in [20.0, 60.0, 120.0] {
            let mut i = input(0.0, 60.0, speed, 20.0);
            i[inputs::WHEEL_SPEED[2]] = 0.0;
            i[inputs::WHEEL_SPEED[3]] = 0.0;
            let o = run(&mut fresh(), &i, 100);
            assert_eq!(o[outputs::MOTOR_SPEED], 0.0);
            assert_eq!(o[outputs::WHEEL_FORCE], 0.0, "{speed} km/h");
            assert!(o[outputs::ELECTRICAL_POWER] >= 0.0);
        }
    }

    #[test]
    fn slipping_driven_wheels_cut_regeneration_and_drive_torque() {
        // Rear wheels dragged 20 % below the front ones under regen.
        let mut i = input(0.0, 60.0, 60.0, 20.0);
        i[inputs::WHEEL_SPEED[2]] = 48.0;
        i[inputs::WHEEL_SPEED[3]] = 48.0;
        let o = run(&mut fresh(), &i, 100);
        assert_eq!(o[outputs::WHEEL_FORCE], 0.0);
        // Rear wheels spinning 20 % faster under drive.
        let mut i = input(100.0, 0.0, 30.0, 20.0);
        i[inputs::WHEEL_SPEED[0]] = 25.0;
        i[inputs::WHEEL_SPEED[1]] = 25.0;
        let o = run(&mut fresh(), &i, 100);
        assert_eq!(o[outputs::WHEEL_FORCE], 0.0);
        // Within the slip of a firmly braked tyre the drive is untouched.
        let mut i = input(0.0, 60.0, 60.0, 20.0);
        i[inputs::WHEEL_SPEED[2]] = 56.0;
        i[inputs::WHEEL_SPEED[3]] = 56.0;
        let o = run(&mut fresh(), &i, 100);
        assert!(o[outputs::WHEEL_FORCE] < -1000.0);
    }

    #[test]
    fn the_drive_stops_pushing_at_the_top_speed_and_at_the_motor_speed_limit() {
        let force = |speed: f64| {
            run(&mut fresh(), &input(100.0, 0.0, speed, 20.0), 100)[outputs::WHEEL_FORCE]
        };
        assert!(force(TOP_SPEED_KMH - LIMITER_BAND_KMH - 1.0) > 0.0);
        assert!(
            force(TOP_SPEED_KMH - LIMITER_BAND_KMH / 2.0) < force(TOP_SPEED_KMH - LIMITER_BAND_KMH)
        );
        assert_eq!(force(TOP_SPEED_KMH), 0.0);
        // A rear wheel spinning on ice at the motor's limit: no torque, even
        // though the car itself is slow.
        let limit_kmh =
            MAX_MOTOR_RPM * std::f64::consts::TAU / 60.0 / GEAR_RATIO * WHEEL_RADIUS_M * 3.6;
        let mut i = input(100.0, 0.0, 40.0, 20.0);
        i[inputs::WHEEL_SPEED[2]] = limit_kmh;
        i[inputs::WHEEL_SPEED[3]] = limit_kmh;
        let mut e = fresh();
        let o = run(&mut e, &i, 1);
        assert_eq!(o[outputs::WHEEL_FORCE], 0.0);
    }

    #[test]
    fn a_hot_motor_derates_its_torque_and_a_cold_one_does_not() {
        let at = |temp: f64, accel: f64, brake: f64| {
            let mut e = fresh();
            let json =
                format!(r#"{{"torque_nm":0.0,"motor_temp_c":{temp},"coolant_temp_c":60.0}}"#);
            e.restore(json.as_bytes()).expect("restore");
            // A third of a second: the windings (tau 120 s) stay put.
            run(&mut e, &input(accel, brake, 40.0, 20.0), 30)[outputs::WHEEL_FORCE]
        };
        let cool = at(60.0, 100.0, 0.0);
        assert!(cool > 0.0);
        let middle = (MOTOR_DERATE_START_C + MOTOR_MAX_TEMP_C) / 2.0;
        assert!((at(middle, 100.0, 0.0) - 0.5 * cool).abs() < 0.05 * cool);
        assert_eq!(at(MOTOR_MAX_TEMP_C + 5.0, 100.0, 0.0), 0.0);
        assert_eq!(
            at(MOTOR_MAX_TEMP_C + 5.0, 0.0, 50.0),
            0.0,
            "regen from a cooked motor"
        );
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
            let expect = target_torque(100.0, 0.0, speed, Budget::UNLIMITED) * GEAR_RATIO
                / WHEEL_RADIUS_M
                * GEAR_EFFICIENCY;
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
