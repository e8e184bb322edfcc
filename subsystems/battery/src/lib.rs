//! Battery ECU: the battery management system of the 75 kWh traction
//! battery of the simulated battery-electric vehicle.
//!
//! Reads the power drawn by the traction drive
//! (`Sim.Powertrain.HighVoltage.DrivePower`, the drive's electrical power as
//! the world model carries it over the high-voltage bus, negative while
//! regenerating), the HVAC
//! (`Sim.Cabin.HVAC.Power`) and the seat heaters
//! (`Sim.Cabin.Seat.Heating.Power`), the outside air temperature and the
//! odometer (`Vehicle.TraveledDistance`). Writes
//! the VSS traction battery signals: state of charge (percent and kWh),
//! terminal voltage, current and power (positive = into the battery, as VSS
//! defines them), average cell temperature, the lifetime energy delivered,
//! `Vehicle.Powertrain.AccumulatedBrakingEnergy` (energy recovered by
//! regenerative braking), the pack's resistive loss
//! (`Vehicle.Powertrain.TractionBattery.PowerLoss`) and the power budget of
//! the drive (`Sim.Powertrain.TractionBattery.AvailableDischargePower` and
//! `AvailableChargePower`), which the engine ECU keeps within, and the
//! remaining range (`Vehicle.Powertrain.TractionBattery.Range`).
//!
//! # Model
//!
//! - Net capacity 75 kWh (the shared vehicle parameter; a long-range
//!   mid-size EV). A new battery starts at [`INITIAL_SOC_PERCENT`] (80 %,
//!   the usual daily charge limit); `restore` or the `set_soc` command
//!   (value in percent) set any other level.
//! - Load = traction + HVAC + seats + 250 W for the 12 V system via the
//!   DC/DC converter; the battery power is `P = -load`, limited to the
//!   pack's discharge and charge limits: 200 kW discharge (~2.7 C) falling
//!   to zero below 5 % state of charge and outside -40..60 celsius (full
//!   from -20 to 55), 150 kW charge (2 C) falling to zero from 90 % to
//!   100 % and below 15 celsius down to nothing at 0 celsius (and from 40 to
//!   45 celsius), after lithium-ion cell datasheets' charge window.
//! - Power budget: each tick the BMS publishes what the drive may draw (the
//!   discharge limit less the auxiliaries, which are served first) and what
//!   it may feed back (the charge limit plus the auxiliaries, which
//!   regeneration feeds directly). An empty pack serves nothing at all.
//! - Open-circuit voltage is linear in SOC from 340 V (0 %) to 403 V (100 %),
//!   a 96s NMC pack (3.55..4.2 V per cell). Internal resistance 0.08 ohm
//!   (about 0.8 mohm per cell group, typical for such packs). The terminal
//!   current solves `P = (OCV + I R) I` exactly (the quadratic's root in
//!   cancellation-free form), so `V = OCV + I R` and `V I = P`.
//! - The cells exchange `OCV * I`: discharging costs the cells `|P| + I^2 R`;
//!   charging stores `P - I^2 R` (coulombic efficiency above 99 %, so the
//!   resistive loss is the only charging loss). The stored energy is
//!   clamped to 0..75 kWh. An empty pack refuses discharge and a full pack
//!   refuses charge: current and power then report 0 (what really flows),
//!   the voltage reports OCV.
//! - `AccumulatedConsumedEnergy` integrates the terminal power while
//!   discharging. `AccumulatedBrakingEnergy` integrates `-traction power`
//!   while it is negative, less any regen the pack refused.
//! - Range: the energy left divided by the recent consumption, an
//!   exponential moving average of the Wh/km the cells gave over the last
//!   25 km (energy spent at a standstill included, regeneration credited),
//!   starting from 144 Wh/km (the Model 3 RWD's WLTP figure).
//! - Temperature: I^2 R heat into a 350 kJ/K thermal mass (about 350 kg of
//!   cells and structure at ~1 kJ/kgK), cooled toward ambient through
//!   150 W/K (liquid loop and radiator), i.e. a first-order lag with a time
//!   constant of about 39 minutes. A sustained 100 kW warms the pack by
//!   roughly 1 K per minute. Starts at the first ambient seen.
//! - Crash disconnect (`contactor.rs`): `Sim.Airbag.CrashSignal` opens the
//!   main contactors (`IsPowerConnected` / `IsGroundConnected` false, 0 W
//!   either way) until the `reset_contactors` command, refused while the
//!   crash signal is still on. While they are open the battery raises
//!   P0A0A (`faults.rs`); the injectable `fault.hv_disconnect` holds them
//!   open as an open interlock would.
//!
//! Inputs are sanitised (non-finite values replaced, negative auxiliary
//! loads ignored, ambient clamped to -50..70 celsius); the model has no
//! randomness, so `create` ignores its seed. The snapshot (JSON) holds the
//! stored energy, temperature, both lifetime counters and the range
//! estimate's average and odometer reading.

mod model;
pub use model::*;

tcu_sdk::export_subsystem!(Battery);
