//! Shared drive helpers: a car on a chosen road and weather, pedals, a
//! cruise controller, and per-tick integration of signals.

use tcu_engine::catalog::Value;
use tcu_engine::sim::Vehicle;
use tcu_engine::world::driver::DriverProfile;
pub use tcu_integration_tests::harness::{get, run_for, set};

pub const SPEED: &str = "Vehicle.Speed";
pub const ENERGY_KWH: &str = "Vehicle.Powertrain.TractionBattery.StateOfCharge.CurrentEnergy";
pub const DISTANCE_KM: &str = "Vehicle.TraveledDistance";
pub const DRIVE_POWER: &str = "Sim.Powertrain.ElectricalPower";
pub const HVAC_POWER: &str = "Sim.Cabin.HVAC.Power";
pub const SEAT_POWER: &str = "Sim.Cabin.Seat.Heating.Power";
pub const PACK_LOSS: &str = "Vehicle.Powertrain.TractionBattery.PowerLoss";
pub const BRAKING_ENERGY: &str = "Vehicle.Powertrain.AccumulatedBrakingEnergy";

/// A car with the HVAC and seat heating off at 20 celsius (mild weather:
/// nothing but the drive and the 12 V system draws), on a road of friction
/// `mu`, at `soc` percent.
pub fn mild_car(mu: f64, soc: f64) -> Vehicle {
    let mut signals = vec![
        ("Sim.Environment.AirTemperature", Value::Float(20.0)),
        ("Sim.Environment.RoadFriction", Value::Float(mu)),
        (
            "Vehicle.Cabin.Seat.Row1.DriverSide.HeatingCooling",
            Value::Int(0),
        ),
    ];
    for zone in ["Row1.Driver", "Row1.Passenger", "Row2.Driver"] {
        signals.push((fan(zone), Value::Int(0)));
    }
    let mut v = tcu_integration_tests::harness::vehicle(7, DriverProfile::Idle, &signals);
    set_soc(&mut v, soc);
    v.step();
    v
}

fn fan(zone: &str) -> &'static str {
    match zone {
        "Row1.Driver" => "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed",
        "Row1.Passenger" => "Vehicle.Cabin.HVAC.Station.Row1.Passenger.FanSpeed",
        _ => "Vehicle.Cabin.HVAC.Station.Row2.Driver.FanSpeed",
    }
}

/// Sets the battery's state of charge through its command.
pub fn set_soc(v: &mut Vehicle, soc: f64) {
    let battery = v
        .plugins_mut()
        .iter_mut()
        .find(|p| p.name() == "battery")
        .expect("battery plugin");
    battery.command("set_soc", soc).expect("set_soc");
}

pub fn pedals(v: &mut Vehicle, accel: f64, brake: f64) {
    set(v, "Sim.Driver.AcceleratorPedal", Value::Float(accel));
    set(v, "Sim.Driver.BrakePedal", Value::Float(brake));
}

/// One tick of a cruise controller toward `target` km/h: a moderate 40 %
/// pedal while more than 5 km/h short, then PI control with the integral
/// frozen while the pedal saturates; `integral` is its state.
pub fn cruise_step(v: &mut Vehicle, target: f64, integral: &mut f64) {
    let err = target - get(v, SPEED);
    let pedal = if err > 5.0 {
        40.0
    } else {
        let raw = 2.0 * err + 0.5 * (*integral + err * v.dt());
        if (0.0..=100.0).contains(&raw) {
            *integral += err * v.dt();
        }
        raw.clamp(0.0, 100.0)
    };
    pedals(v, pedal.round(), 0.0);
    v.step();
}

/// Drives to `target` km/h and holds it for `settle` seconds; returns the
/// controller's state.
pub fn reach_and_hold(v: &mut Vehicle, target: f64, settle: f64) -> f64 {
    let mut integral = 0.0;
    for _ in 0..60_000 {
        if get(v, SPEED) >= target - 0.5 {
            break;
        }
        cruise_step(v, target, &mut integral);
    }
    let ticks = (settle / v.dt()).round() as u64;
    for _ in 0..ticks {
        cruise_step(v, target, &mut integral);
    }
    integral
}

/// Energy in kWh of a power in W held for one tick.
pub fn kwh(v: &Vehicle, watts: f64) -> f64 {
    watts * v.dt() / 3.6e6
}
