//! ABS ECU: the anti-lock braking system and brake pressure control of the
//! simulated vehicle.
//!
//! Reads the brake pedal, the four wheel-speed sensors (the world model's
//! true wheel speeds, `Sim.Chassis.Axle.<wheel>.Speed`), the drive's wheel
//! force (`Sim.Powertrain.WheelForce`, for brake blending), the ABS enable
//! switch (`Vehicle.ADAS.ABS.IsEnabled`), the injected wheel-speed sensor
//! fault (`Sim.Fault.ABS.WheelSensor`, 0 none, 1..4 one wheel), the injected
//! wheel-sensor noise (`Sim.Fault.ABS.NoisyWheel` and
//! `Sim.Fault.ABS.WheelSensorNoise`: uniform noise of that amplitude on one
//! wheel's reading) and the outside air temperature. It reads neither the
//! road's friction nor the vehicle's speed: like a real ABS it infers both
//! from the wheels. Writes the four wheel speeds as its sensors read them,
//! `Vehicle.ADAS.ABS.IsEngaged` and `IsError`, and per wheel the applied
//! brake pressure (which the world model turns into brake torque) and the
//! brake disc temperature. Wheels are always ordered Row1.Left, Row1.Right,
//! Row2.Left, Row2.Right.
//!
//! # Model
//!
//! - Requested pressure = pedal % x 1 bar (100 bar at full pedal, 1.2 g of
//!   friction braking split 65/35 front/rear), less the share the drive
//!   already brakes regeneratively: brake blending, regeneration first and
//!   friction for the rest, so that the total brake force is what the pedal
//!   asks for. The line pressure rises at most 1000 bar/s (a hard stab
//!   reaches 100 bar in 0.1 s) and falls as fast as the pedal.
//! - Vehicle-speed estimate: the fastest healthy wheel, falling no faster
//!   than 1.3 g (while every wheel slips none shows the car's speed). Slip
//!   per wheel is measured against it, wheel acceleration from successive
//!   readings.
//! - Control loop per wheel, while the estimate exceeds 5 km/h and the
//!   sensors are healthy: a wheel whose slip passes 15 % or that decelerates
//!   faster than 1.6 g is running into lock, and its pressure is dumped at
//!   800 bar/s; while it spins back up (faster than 0.5 g) or its slip stays
//!   above 5 % the pressure is held; then it is rebuilt, fast (1000 bar/s)
//!   to 80 % of the pressure at which it last ran away and slowly
//!   (100 bar/s) beyond, until the driver's request is reached. The cycle
//!   frequency is not set anywhere: it follows from the wheel's dynamics and
//!   the valve rates (about 11 Hz on dry asphalt, 15 Hz on ice in the
//!   quarter-car test). `IsEngaged` is true while any wheel is regulated.
//! - A wheel-speed sensor fault k (1..4) reports wheel k as 0 km/h, sets
//!   `IsError` and disables regulation (plain braking), as real ABS does
//!   when it loses a wheel signal. Other fault codes above 4 are treated as
//!   4. The dead sensor raises its wheel's DTC (C0035, C0040, C0045,
//!   C0050), the same as the injectable `fault.wheel_sensor*` of that
//!   wheel (`faults.rs`). A noisy reading more than 10 km/h from the median of the other
//!   wheels is implausible: `IsError` while it lasts, no regulation.
//! - Disc temperature: heat = brake force (pressure x the wheel's N/bar) x
//!   the wheel's own speed, into a 7 kg cast-iron disc (460 J/kgK,
//!   3.2 kJ/K), cooled toward ambient through 4 W/K at standstill plus
//!   1.2 W/K per m/s (time constant about 13 minutes parked and 1.5 minutes
//!   at 100 km/h). A locked wheel's disc does not turn and is not heated.
//!
//! Inputs are sanitised (non-finite values replaced, pedal clamped to
//! 0..100, wheel speeds to 0..400 km/h, ambient to -50..70 celsius; an
//! unreadable enable flag counts as enabled). The seed feeds only the
//! injected noise. The snapshot (JSON) holds each wheel's controller, the
//! last readings, the speed estimate and the disc temperatures.

mod model;
pub use model::*;

tcu_sdk::export_subsystem!(Abs);
