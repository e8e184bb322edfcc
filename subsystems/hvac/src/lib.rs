//! Climate control (HVAC) ECU of the TCU simulator.
//!
//! Simulates a three-zone automatic climate control with a reversible heat
//! pump, together with the cabin air it conditions. Zones, always in this
//! order: `Row1.Driver`, `Row1.Passenger`, `Row2.Driver`.
//!
//! # Signals
//!
//! Reads `Vehicle.Exterior.AirTemperature`, then the three
//! `Vehicle.Cabin.HVAC.Station.<zone>.Temperature` setpoints, then the three
//! `Vehicle.Cabin.HVAC.Station.<zone>.FanSpeed`, then
//! `Vehicle.Cabin.HVAC.IsAirConditioningActive`, then `Vehicle.Speed`.
//! Writes the three `Sim.Cabin.HVAC.Station.<zone>.AirTemperature`,
//! `Vehicle.Cabin.HVAC.AmbientAirTemperature` (mean of the three zones) and
//! `Sim.Cabin.HVAC.Power` (electrical power, averaged over the tick).
//!
//! # Model
//!
//! Each zone is one lumped thermal mass exchanging heat with the outside,
//! with the two other zones and with its HVAC outlet:
//!
//! `C dT/dt = Q + UA(v) (T_ambient - T) + K_mix sum(T_other - T)`
//!
//! Every parameter, with the figure it is tuned to and its source, is in
//! `params.rs` ([`params`]).
//!
//! - [`ZONE_HEAT_CAPACITY_J_PER_K`] = 50 kJ/K per zone (trim, seats and
//!   glazing with the air), [`UA_STANDSTILL_W_PER_K`] = 35 W/K per zone
//!   plus [`UA_PER_KMH_W_PER_K`] = 0.15 W/K per km/h (the outer film
//!   coefficient grows with airspeed). Passive time constant C/UA is about
//!   24 minutes at standstill.
//! - [`MIXING_W_PER_K`] = 20 W/K between every pair of zones: there is no
//!   partition, the air circulates.
//! - **Controller**: proportional, `Q = GAIN (setpoint - T)` with
//!   [`GAIN_W_PER_K`] = 3000 W/K, limited to `|Q| <= 2500 W * fan/100`
//!   ([`MAX_HEAT_W`]: a 7.5 kW cabin heat pump, typical of EVs). The high
//!   gain drives a zone at full power until it is within a degree, like a
//!   production automatic climate control; the P-offset
//!   `UA |setpoint - ambient| / (GAIN + UA)` stays below 0.9 K for every
//!   reachable setpoint with ambient -20..40 C. Fan 0 switches the zone's
//!   conditioning off; cooling (`Q < 0`) needs the A/C on, heating does not.
//!   Setpoints are clamped to 16..30 C (the range of production climate
//!   controls; the catalog has no bounds); a non-finite setpoint requests
//!   nothing.
//! - **Electrical power**: `sum |Q| / COP` plus fans of
//!   [`FAN_MAX_POWER_W`] = 150 W per zone following the fan affinity law
//!   (power grows with the cube of the speed); 0 W when all fans are off.
//!   Cooling runs at [`COP_COOLING`] = 3.0. Heating runs the heat pump,
//!   whose COP falls with the ambient it draws heat from
//!   ([`cop_heating`], [`COP_HEATING_CURVE`]: 3.2 at 20 C, 2.4 at 0 C, 2.0
//!   at -10 C, 1.7 at -20 C, after published measurements of EV heat
//!   pumps); below [`HEAT_PUMP_MIN_AMBIENT_C`] = -20 C the pump stops and
//!   the PTC heater takes over at COP 1.
//! - **Result**: warming from -10 to 21 C at full fan takes about 13 minutes
//!   (90 % of the step in about 12); left alone the cabin drifts toward the
//!   ambient with a time constant of about 24 minutes.
//!
//! The first tick initialises every zone to the ambient temperature it
//! reads (a car parked long enough to be at ambient); a snapshot carries the
//! zone temperatures across a hot swap. Each tick is split into sub-steps of
//! at most 1 s; in each, a zone (with its controller, linearised at the
//! start of the sub-step) is integrated exactly as a first-order lag, so any
//! tick length is stable. A non-finite ambient reuses
//! the last good one (20 C before any); other non-finite inputs read as off
//! or zero. The model is deterministic, so `create` ignores its seed.

mod model;
pub use model::*;

tcu_sdk::export_subsystem!(Hvac);
