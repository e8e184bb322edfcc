//! Physical parameters of the simulated car that more than one model needs.
//!
//! The world model (in the core) and the ECU models (plugins) must agree on
//! them: ABS decides that a wheel would lock with the same numbers the world
//! uses to lock it. Kept here, next to the ABI, so both sides link the same
//! values.

/// Gravity, m/s².
pub const GRAVITY: f64 = 9.81;
/// Mass with occupants, kg (a mid-size electric car).
pub const MASS_KG: f64 = 1800.0;
/// Dynamic rolling radius of the tyres, m.
pub const WHEEL_RADIUS_M: f64 = 0.33;
/// Single-speed reduction gear between motor and wheels.
pub const GEAR_RATIO: f64 = 9.0;
/// Brake pressure at one wheel at which its brake force equals the tyre's
/// adhesion on a road of friction 1.0, bar. A wheel locks above
/// `mu * LOCK_PRESSURE_PER_MU`.
pub const LOCK_PRESSURE_PER_MU: f64 = 130.0;
/// Brake force per bar at one wheel, N/bar (follows from the lock pressure).
pub const BRAKE_FORCE_N_PER_BAR: f64 = MASS_KG * GRAVITY / 4.0 / LOCK_PRESSURE_PER_MU;
/// Total brake force the driver asks for per percent of brake pedal, N: the
/// force the hydraulic brakes give at 1 bar per percent on all four wheels.
/// The drive's regeneration and the friction brakes share this demand (brake
/// blending), so both ECUs read the pedal with the same number.
pub const BRAKE_DEMAND_N_PER_PEDAL_PERCENT: f64 = 4.0 * BRAKE_FORCE_N_PER_BAR;
/// Draw of the 12 V system through the DC/DC converter, W (control units,
/// lights, pumps; a typical figure for a car with its lights on). Served by
/// the traction battery before anything else.
pub const LOW_VOLTAGE_LOAD_W: f64 = 250.0;
