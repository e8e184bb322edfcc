//! ABS ECU: the anti-lock braking system and brake pressure control of the
//! simulated vehicle.
//!
//! Reads the brake pedal, `Vehicle.Speed`, the road friction
//! (`Sim.Environment.RoadFriction`), the ABS enable switch
//! (`Vehicle.ADAS.ABS.IsEnabled`), the injected wheel-speed sensor fault
//! (`Sim.Fault.ABS.WheelSensor`, 0 none, 1..4 one wheel), the injected
//! wheel-sensor noise (`Sim.Fault.ABS.NoisyWheel` and
//! `Sim.Fault.ABS.WheelSensorNoise`: uniform noise of that amplitude on one
//! wheel's reading; a reading more than 10 km/h off the vehicle speed is
//! implausible, raises `IsError` and suspends regulation while it lasts) and
//! the outside air temperature. Writes the four wheel speeds, `Vehicle.ADAS.ABS.IsEngaged`
//! and `IsError`, and per wheel the applied brake pressure (which the world
//! model turns into braking force) and the brake disc temperature. Wheels
//! are always ordered Row1.Left, Row1.Right, Row2.Left, Row2.Right.
//!
//! # Model
//!
//! - Requested pressure = pedal % x 1 bar (100 bar at full pedal, a typical
//!   emergency-stop line pressure), less the share the drive already brakes
//!   regeneratively (`Sim.Powertrain.WheelForce`, negative while
//!   regenerating): brake blending, regeneration first and friction for the
//!   rest, so that the total brake force is what the pedal asks for.
//! - Lock pressure = `mu m g / 4 / 33.96 N/bar` = mu x 129.99 bar, from the
//!   world model's shared constants (m = 1800 kg, g = 9.81 m/s^2): above it
//!   the brake force exceeds the adhesion of one wheel and the wheel locks.
//!   Dry asphalt (mu 0.9, 117 bar) never locks at full pedal; ice (mu 0.1,
//!   13 bar) locks at 14 % pedal.
//! - ABS engages exactly when it is enabled, no wheel sensor is faulty, the
//!   car moves faster than 5 km/h (production systems hand over to locked
//!   wheels at walking pace) and the request exceeds the lock pressure. It
//!   then modulates each wheel with a deterministic 10 Hz saw between 85 %
//!   and 98 % of the lock pressure (release, then re-apply; real ABS cycles
//!   at 4..15 Hz), the four wheels staggered by a quarter period, and the
//!   wheel runs 5 % (low pressure) to 20 % (high pressure) slip: the band
//!   around peak tyre friction that ABS aims for.
//! - Otherwise the requested pressure is applied as is; the wheels then lock
//!   (speed 0) if it exceeds the lock pressure while the car moves, or roll
//!   with a small braking slip (up to 3 % at the lock pressure).
//! - A wheel-speed sensor fault k (1..4) reports wheel k as 0 km/h, sets
//!   `IsError` and disables regulation (plain braking), as real ABS does
//!   when it loses a wheel signal. Other fault codes above 4 are treated as
//!   4; the wheel itself keeps turning, only its sensor is dead.
//! - Disc temperature: heat = brake force (pressure x 33.96 N/bar, capped at
//!   the wheel's adhesion) x wheel speed, into a 7 kg cast-iron disc
//!   (460 J/kgK, 3.2 kJ/K), cooled toward ambient through 4 W/K at standstill
//!   plus 1.2 W/K per m/s (time constant about 13 minutes parked and 1.5
//!   minutes at 100 km/h). A stop from 100 km/h warms a disc by roughly
//!   50 K. A locked wheel's disc does not turn and is not heated.
//!
//! Inputs are sanitised (non-finite values replaced, pedal clamped to
//! 0..100, friction to 0.05..1.2, speed to 0..400 km/h, ambient to -50..70
//! celsius; an unreadable enable flag counts as enabled); the model has no
//! randomness, so `create` ignores its seed. The snapshot (JSON) holds the
//! modulation phase and the disc temperatures.

mod model;
pub use model::*;

tcu_sdk::export_subsystem!(Abs);
