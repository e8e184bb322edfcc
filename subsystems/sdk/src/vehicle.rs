//! Physical parameters of the simulated car that more than one model needs.
//!
//! The world model (in the core) and the ECU models (plugins) must agree on
//! them: the brake ECU turns the pedal into the same total force the drive
//! blends its regeneration into, and the world turns the pressures into
//! brake torque with the same gains. Kept here, next to the ABI, so both
//! sides link the same values. Nothing here describes the road: the ECUs
//! infer the grip from wheel speeds, as real ones do.

/// Gravity, m/s².
pub const GRAVITY: f64 = 9.81;
/// Mass with occupants, kg (a mid-size electric car).
pub const MASS_KG: f64 = 1800.0;
/// Dynamic rolling radius of the tyres, m.
pub const WHEEL_RADIUS_M: f64 = 0.33;
/// Single-speed reduction gear between motor and wheels.
pub const GEAR_RATIO: f64 = 9.0;
/// Wheelbase, m: the Tesla Model 3's published 2,875 mm.
pub const WHEELBASE_M: f64 = 2.875;
/// Height of the centre of gravity, m. Tesla publishes no figure; passenger
/// cars sit at 0.5-0.6 m (Gillespie, Fundamentals of Vehicle Dynamics,
/// ch. 3) and a floor-mounted pack puts an EV at the low end.
pub const CG_HEIGHT_M: f64 = 0.5;
/// Share of the weight on the front axle at rest: Tesla states a "near
/// 50/50 weight distribution" for the Model 3.
pub const FRONT_WEIGHT_SHARE: f64 = 0.5;
/// Moment of inertia of one front wheel (wheel, tyre, disc, hub), kg m²: a
/// 19-inch wheel and tyre of about 23 kg with a radius of gyration of about
/// 0.23 m.
pub const FRONT_WHEEL_INERTIA_KG_M2: f64 = 1.2;
/// Moment of inertia of one driven (rear) wheel, kg m²: the wheel plus half
/// the motor rotor's inertia seen through the gear (an estimated
/// 0.04 kg m² rotor times 9² / 2).
pub const REAR_WHEEL_INERTIA_KG_M2: f64 = 1.2 + 0.04 * GEAR_RATIO * GEAR_RATIO / 2.0;
/// Total brake force at the tyres per bar of line pressure, N/bar: full
/// pedal (100 bar) asks for 1.2 g, enough to lock the wheels on dry
/// asphalt, as a real car's brakes can.
pub const BRAKE_FORCE_N_PER_BAR_TOTAL: f64 = 1.2 * MASS_KG * GRAVITY / 100.0;
/// Front axle's share of the friction brake force (caliper sizing): the
/// ideal distribution at 0.85 g for [`FRONT_WEIGHT_SHARE`] and
/// [`CG_HEIGHT_M`] / [`WHEELBASE_M`] (0.5 + 0.85 x 0.174), so that the rear
/// wheels do not lock first.
pub const FRONT_BRAKE_SHARE: f64 = 0.65;
/// Brake force at the tyre per bar at each wheel, N/bar, in wheel order
/// (Row1.Left, Row1.Right, Row2.Left, Row2.Right).
pub const BRAKE_FORCE_N_PER_BAR: [f64; 4] = [
    BRAKE_FORCE_N_PER_BAR_TOTAL * FRONT_BRAKE_SHARE / 2.0,
    BRAKE_FORCE_N_PER_BAR_TOTAL * FRONT_BRAKE_SHARE / 2.0,
    BRAKE_FORCE_N_PER_BAR_TOTAL * (1.0 - FRONT_BRAKE_SHARE) / 2.0,
    BRAKE_FORCE_N_PER_BAR_TOTAL * (1.0 - FRONT_BRAKE_SHARE) / 2.0,
];
/// Line pressure per percent of brake pedal, bar/% (100 bar at full pedal,
/// a usual emergency-stop line pressure).
pub const PRESSURE_PER_PEDAL_PERCENT: f64 = 1.0;
/// Total brake force the driver asks for per percent of brake pedal, N: the
/// force the friction brakes give at the pedal's line pressure. The drive's
/// regeneration and the friction brakes share this demand (brake blending),
/// so both ECUs read the pedal with the same number.
pub const BRAKE_DEMAND_N_PER_PEDAL_PERCENT: f64 =
    BRAKE_FORCE_N_PER_BAR_TOTAL * PRESSURE_PER_PEDAL_PERCENT;
/// Draw of the 12 V system through the DC/DC converter, W (control units,
/// lights, pumps; a typical figure for a car with its lights on). Served by
/// the traction battery before anything else.
pub const LOW_VOLTAGE_LOAD_W: f64 = 250.0;
