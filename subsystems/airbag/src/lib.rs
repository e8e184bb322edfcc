//! Airbag control unit (ACU) of the TCU simulator.
//!
//! Simulates the crash-detection and firing logic of a front airbag control
//! unit for five seats (`Row1.DriverSide`, `Row1.PassengerSide`,
//! `Row2.DriverSide`, `Row2.Middle`, `Row2.PassengerSide`, always in that
//! order).
//!
//! # Signals
//!
//! Reads `Sim.Crash.Pulse` (longitudinal deceleration in g, from the world
//! model), then the five `Vehicle.Cabin.Seat.<seat>.IsOccupied`, then the five
//! `Vehicle.Cabin.Seat.<seat>.IsBelted`. Writes the five
//! `Vehicle.Cabin.Seat.<seat>.Airbag.IsDeployed`.
//!
//! # Model
//!
//! - **Threshold** [`DEPLOY_THRESHOLD_G`] = 20 g. Frontal-crash algorithms fire
//!   somewhere between 15 and 25 g of sustained deceleration (a 25-30 km/h
//!   barrier impact); 20 g sits in that band and well above anything a
//!   driven car sees (hard braking is ~1 g, a pothole a few g at the sensor).
//! - **Dwell** [`DWELL_S`] = 1 ms: the pulse must spend at least 1 ms of
//!   cumulative (sampled) time above the threshold in one event before the
//!   unit fires. Real units integrate the pulse for the same reason: a single
//!   electrical or hammer-blow spike must not inflate anything. The time a
//!   sample counts for is the tick length (sample and hold), so at the default
//!   100 Hz one sample above threshold already fires, and at 0.1 ms ticks ten
//!   are needed. Deployment therefore happens at most one tick plus 1 ms
//!   after the pulse really crosses the threshold.
//! - **Event window** [`WAKE_G`] = 3 g: the dwell accumulator is cleared once
//!   the pulse falls below this level (the "algorithm enable" level of real
//!   units), so unrelated bumps do not add up over minutes.
//! - **What deploys**: at the instant the unit fires, every seat that is
//!   occupied at that instant, belted or not, and never an empty seat. The
//!   belt only selects the stage recorded in the state ([`Stage::First`] for
//!   a belted occupant, the softer first stage of a dual-stage inflator;
//!   [`Stage::Full`] for an unbelted one, who relies on the bag alone).
//!   `IsDeployed` is true for both stages.
//! - **Latching**: the firing decision is taken once per event; deployed bags
//!   stay deployed (and a seat that gets occupied later stays undeployed)
//!   until the `reset` command, which models the workshop replacing the
//!   modules. Any other command is unsupported.
//! - **State** (snapshot): simulated time, the dwell accumulator, when the
//!   pulse first exceeded the threshold, when the unit fired, the peak pulse
//!   and the stage per seat. The model is deterministic and uses no random
//!   numbers, so `create` ignores its seed.
//!
//! Non-finite inputs read as "no pulse" / "seat empty" / "not belted":
//! a broken sensor must never fire a bag.

mod model;
pub use model::*;

tcu_sdk::export_subsystem!(Airbag);
