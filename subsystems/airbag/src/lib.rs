//! Airbag control unit (ACU) of the TCU simulator.
//!
//! Simulates the crash-detection and firing logic of a front airbag control
//! unit for five seats (`Row1.DriverSide`, `Row1.PassengerSide`,
//! `Row2.DriverSide`, `Row2.Middle`, `Row2.PassengerSide`, always in that
//! order).
//!
//! # Signals
//!
//! Reads `Sim.Crash.Pulse` (longitudinal deceleration in g, the world
//! model's mean over the tick), then the five
//! `Vehicle.Cabin.Seat.<seat>.IsOccupied`, then the five
//! `Vehicle.Cabin.Seat.<seat>.IsBelted`. Writes the five
//! `Vehicle.Cabin.Seat.<seat>.Airbag.IsDeployed` and `Sim.Airbag.CrashSignal`,
//! the crash output the battery opens its contactors on.
//!
//! # Model
//!
//! A velocity-based algorithm, as frontal units use, rather than a fixed g
//! threshold (each parameter documents its source):
//!
//! - **Event**: a sample above [`WAKE_G`] opens a crash event, which lasts
//!   until the pulse falls below it again. The unit integrates the pulse
//!   into the speed change Δv and dates the impact where Δv reaches
//!   [`IMPACT_DELTA_V_KMH`] (interpolated inside the tick).
//! - **Decision**: each occupied seat fires once Δv reaches its threshold,
//!   [`UNBELTED_DELTA_V_KMH`] for an unbelted occupant and the higher
//!   [`BELTED_DELTA_V_KMH`] for a belted one, at a time 15 to 26 ms after
//!   the dated impact ([`DECISION_MIN_S`], [`DECISION_MAX_S`]): never
//!   earlier (misuse immunity), and a crash that has not reached a
//!   threshold by the end of the window is below it. Against the world's
//!   barrier pulse this puts the firing levels between the published
//!   no-fire and must-fire levels ([`levels`]: no fire below 8 mph /
//!   12.9 km/h; must fire at 12 mph / 19.3 km/h unbelted and 16 mph /
//!   25.7 km/h belted), with decisions 15–30 ms after impact.
//! - **What deploys**: only occupied seats, never an empty one. The belt
//!   selects the threshold and the stage recorded ([`Stage::First`] for a
//!   belted occupant, the softer first stage of a dual-stage inflator;
//!   [`Stage::Full`] for an unbelted one). `IsDeployed` is true for both.
//!   The decision time is recorded per seat.
//! - **Latching and the crash signal**: deployed bags stay deployed and
//!   `Sim.Airbag.CrashSignal` stays true from the first deployment until the
//!   `reset` command, which models the workshop replacing the modules; a
//!   later crash event before that fires nothing. A crash with every seat
//!   empty deploys nothing and sends no crash signal. While a deployment is
//!   recorded the unit raises B0052 (`faults.rs`) and lights its warning
//!   lamp; the `reset` clears both. Besides `reset`, only the `fault.*`
//!   commands are known.
//! - **State** (snapshot): simulated time, the event in progress, when the
//!   unit fired and when each seat was decided, the peak pulse and the
//!   stage per seat; 1.0.0's snapshots restore. The model is deterministic
//!   and uses no random numbers, so `create` ignores its seed.
//!
//! Non-finite inputs read as "no pulse" / "seat empty" / "not belted":
//! a broken sensor must never fire a bag.

mod model;
pub use model::*;

tcu_sdk::export_subsystem!(Airbag);
