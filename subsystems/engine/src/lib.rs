//! Engine ECU: the electric traction drive (motor, inverter, single-speed
//! reduction gear) of the simulated battery-electric vehicle.
//!
//! Reads the accelerator and brake pedals, the four wheels' true speeds
//! (`Sim.Chassis.Axle.<wheel>.Speed`: the rear ones turn the motor, the
//! front ones show the car's speed), the outside air temperature and the
//! battery's power budget
//! (`Sim.Powertrain.TractionBattery.AvailableDischargePower` /
//! `AvailableChargePower`); writes the VSS motor signals (speed, torque, power,
//! motor and coolant temperature) and three project signals the world model
//! and the battery consume: `Sim.Powertrain.ElectricMotor.IsRunning`,
//! `Sim.Powertrain.WheelForce` (N at the tyres) and
//! `Sim.Powertrain.ElectricalPower` (W drawn from the battery, negative while
//! regenerating).
//!
//! # Model
//!
//! - Motor speed is tied to the driven (rear) wheels: `omega = u / r * gear`
//!   with their mean circumferential speed u and the shared vehicle
//!   parameters r = 0.33 m (a 235/45 R19-class tyre) and a 9.0:1 reduction
//!   (typical for single-speed EV drives, 8.5..10.5:1). Locked rear wheels
//!   stop the motor, so they regenerate nothing.
//! - Slip control: when the rear wheels turn more than 8 % faster or slower
//!   than the front ones, the drive reduces its torque, to nothing at 15 %
//!   (traction control while driving; regeneration cut while braking, as
//!   the VW ID.3 reduces recuperation when the road gives the wheels no
//!   safe contact).
//! - Limits: the torque curve is constant torque then constant power; the
//!   drive stops pushing at 201 km/h (the Model 3 RWD's top speed, faded
//!   over 5 km/h) and at 16,000 rpm (the APP310's maximum), and derates
//!   linearly from a winding temperature of 140 celsius to nothing at the
//!   180 celsius of class H insulation (drive and regen alike).
//! - Drive torque = pedal % x 350 Nm, limited to 150 kW (`T <= P / omega`):
//!   a mid-size EV motor such as the Model 3 RWD or VW APP310 class. Drive
//!   and regen are also limited to the battery's budget: the electrical
//!   power never exceeds what the battery can deliver or accept, so an empty
//!   battery gives no torque at all (the inverter stays off) and a full one
//!   no regeneration.
//! - Brake blending: the brake pedal asks for a total braking force (the
//!   force the hydraulic brakes would give, shared with the ABS ECU); the
//!   drive regenerates as much of it as it can, up to 0.3 g and 100 kW (the
//!   VW ID.3's published figures for purely electric braking), and the ABS
//!   ECU applies friction for the rest. A light 30 Nm (~0.05 g) lift-off
//!   regen acts when both pedals are released. Regen exists only above
//!   5 km/h and fades in linearly up to 10 km/h, like production cars that
//!   hand over to the friction brakes near standstill. Braking overrides the
//!   accelerator
//!   (brake-throttle override, mandatory in many markets).
//! - Torque follows its target through a 50 ms first-order lag (inverter
//!   current-loop plus driveline smoothing), clamped to the limits after the
//!   lag so a sudden change of speed cannot overshoot them.
//! - Wheel force = `T * gear / r * 0.97` while driving; while regenerating the
//!   wheels also supply the gear losses, so the force is `T * gear / r / 0.97`
//!   and the braking power at the wheels exceeds the shaft power.
//! - Electrical power = shaft power / 0.92 when driving, shaft power x 0.92
//!   when regenerating (motor plus inverter efficiency, a typical cycle
//!   average), plus 200 W of inverter and controller draw while running. The
//!   drive is running while the reported torque is non-zero or the
//!   accelerator is pressed.
//! - Temperatures: losses = 8 % of |shaft power|. The coolant is a
//!   first-order lag (tau 300 s) toward ambient + 0.004 K/W x losses, the
//!   motor a lag (tau 120 s) toward coolant + 0.007 K/W x losses, so at a
//!   sustained 150 kW the motor settles about 130 K above ambient and at
//!   50 kW about 45 K: the range where real motors start to derate (see
//!   the limits above). Both start at the first ambient seen.
//!
//! Inputs are sanitised (non-finite values replaced, pedals clamped to
//! 0..100, wheel speeds to 0..400 km/h, ambient to -50..70 celsius); the
//! model has no randomness, so `create` ignores its seed. The snapshot (JSON) holds the lagged torque and both
//! temperatures.

mod model;
pub use model::*;

tcu_sdk::export_subsystem!(Engine);
