//! Seat heating ECU of the TCU simulator.
//!
//! Simulates the heating mats and their thermostat in three seats, always in
//! this order: `Row1.DriverSide`, `Row1.PassengerSide`, `Row2.DriverSide`.
//!
//! # Signals
//!
//! Reads the three `Vehicle.Cabin.Seat.<seat>.HeatingCooling` requests
//! (int8, -100..100 %), then `Vehicle.Cabin.HVAC.AmbientAirTemperature` (the
//! cabin temperature, written by the HVAC plugin). Writes the three
//! `Sim.Cabin.Seat.<seat>.Temperature` (surface temperature) and
//! `Sim.Cabin.Seat.Heating.Power` (electrical power of all three mats).
//!
//! # Model
//!
//! Each seat surface is one thermal mass losing heat to the cabin:
//!
//! `C dT/dt = P - h (T - T_cabin)`
//!
//! - **Heating only.** The seats have no cooling hardware (no Peltier
//!   elements or ventilation fans), so a negative request is treated as 0.
//! - **Target** for level `L > 0`:
//!   `T_cabin + (42 C - T_cabin) L/100`, but at least `T_cabin`
//!   ([`target_temperature`]). 42 C ([`FULL_LEVEL_TARGET_C`]) is the usual
//!   top setting of production seat heaters: warm through clothing, safely
//!   below the ~44 C above which long skin contact starts to hurt.
//! - **Thermostat**: while below target the mat draws its full power for the
//!   level, [`MAX_POWER_W`] = 90 W (a typical cushion plus backrest mat)
//!   times `L/100`; near the target it draws exactly what lands the seat on
//!   the target at the end of the tick, and at the target only the
//!   maintenance power `h (T_target - T_cabin)`. Above the target it draws
//!   nothing. It never overshoots, so a seat never exceeds 42 C (or the
//!   cabin, if the cabin is hotter).
//! - **Loss** [`LOSS_W_PER_K`] = 0.8 W/K and **heat capacity**
//!   [`HEAT_CAPACITY_J_PER_K`] = 480 J/K (roughly 0.5 kg of cover, mat and
//!   foam at ~1 kJ/(kg K)): the passive time constant C/h is 10 minutes, so
//!   with level 0 the seat follows the cabin with tau = 10 min. The loss is
//!   lower than the ~2 W/K of a bare seat on purpose: with 2 W/K a 90 W mat
//!   could not hold 42 C in a cabin colder than about -3 C, and the seats
//!   must reach their target from a -20 C cabin. With these numbers a seat at
//!   level 100 gets within 2 C of 42 C in about 4.4 minutes from a 0 C cabin,
//!   6 minutes from -10 C and 7.6 minutes from -20 C.
//! - The mat converts all its electrical power into heat; the output power
//!   is the sum over the three seats, at most 270 W.
//!
//! The first tick initialises the seats to the cabin temperature it reads;
//! a snapshot carries the seat temperatures across a hot swap. Each tick is
//! integrated exactly (first-order lag with the tick's power held), so any
//! tick length is stable. A non-finite cabin reading reuses the last good
//! one (20 C before any); a non-finite level reads as 0. The model is
//! deterministic, so `create` ignores its seed.

mod model;
pub use model::*;

tcu_sdk::export_subsystem!(HeatedSeats);
