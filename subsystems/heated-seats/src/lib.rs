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
//! Every parameter, with the figure it is tuned to and its source, is in
//! `params.rs` ([`params`]).
//!
//! - **Heating only.** The seats have no cooling hardware (no Peltier
//!   elements or ventilation fans), so a negative request is treated as 0.
//! - **Target**: a level is an absolute surface temperature, as the steps
//!   of a production heater are: level `L > 0` aims at
//!   `30 C + (42 C - 30 C) L/100` ([`target_temperature`]), whatever the
//!   cabin, but never below the cabin (there is no cooling). Level 50 aims
//!   at 36 C in a -10 C cabin as in a 20 C one. 42 C
//!   ([`FULL_LEVEL_TARGET_C`]) is the usual top setting: warm through
//!   clothing, safely below the ~44 C above which long skin contact starts
//!   to hurt.
//! - **Thermostat**: while below target the mat draws its full power,
//!   [`MAX_POWER_W`] = 90 W (a typical cushion plus backrest mat), at any
//!   level; near the target it draws exactly what lands the seat on the
//!   target at the end of the tick, and at the target only the maintenance
//!   power `h (T_target - T_cabin)`. Above the target it draws nothing. It
//!   never overshoots, so a seat never exceeds 42 C (or the cabin, if the
//!   cabin is hotter).
//! - **Loss** [`LOSS_W_PER_K`] = 0.8 W/K and **heat capacity**
//!   [`HEAT_CAPACITY_J_PER_K`] = 480 J/K: the passive time constant C/h is
//!   10 minutes, so with level 0 the seat follows the cabin with
//!   tau = 10 min. A seat reaches a warm 30 C in about 3 minutes from a 0 C
//!   cabin and 4.5 from -10 C ("heat will be felt within two to five
//!   minutes", owners' manuals), and at level 100 gets within 2 C of 42 C
//!   in about 4.4 minutes from 0 C, 6 from -10 C and 7.6 from -20 C.
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
