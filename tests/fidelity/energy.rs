//! Conservation of energy over a mixed drive: what leaves the battery's
//! cells equals what every consumer on the bus drew, plus the pack's own
//! resistive heat, less what regeneration fed back. Nothing may drive,
//! heat or brake on energy that no signal accounts for.

use crate::common::*;
use tcu_engine::catalog::Value;
use tcu_sdk::vehicle::LOW_VOLTAGE_LOAD_W;

/// Tolerance of the balance: 1 %.
const TOLERANCE: f64 = 0.01;

#[test]
fn battery_energy_out_equals_traction_plus_auxiliaries_plus_losses_less_regen_within_one_percent() {
    // Winter morning: cabin heating, a heated seat, then accelerate, cruise,
    // stop on regeneration, accelerate hard and brake hard.
    let mut v = tcu_integration_tests::harness::vehicle(
        3,
        tcu_engine::world::driver::DriverProfile::Idle,
        &[
            ("Sim.Environment.AirTemperature", Value::Float(0.0)),
            (
                "Vehicle.Cabin.Seat.Row1.DriverSide.HeatingCooling",
                Value::Int(100),
            ),
        ],
    );
    set_soc(&mut v, 70.0);
    v.step();
    let start = get(&v, ENERGY_KWH);
    let (mut traction, mut regen, mut aux, mut loss) = (0.0, 0.0, 0.0, 0.0);
    let mut account = |v: &tcu_engine::sim::Vehicle| {
        let drive = get(v, DRIVE_POWER);
        if drive >= 0.0 {
            traction += kwh(v, drive);
        } else {
            regen += kwh(v, -drive);
        }
        aux += kwh(
            v,
            get(v, HVAC_POWER) + get(v, SEAT_POWER) + LOW_VOLTAGE_LOAD_W,
        );
        loss += kwh(v, get(v, PACK_LOSS));
    };
    let phases: [(f64, f64, f64); 6] = [
        (20.0, 45.0, 0.0),
        (40.0, 12.0, 0.0),
        (20.0, 0.0, 20.0),
        (15.0, 90.0, 0.0),
        (10.0, 0.0, 60.0),
        (60.0, 0.0, 0.0),
    ];
    for (seconds, accel, brake) in phases {
        pedals(&mut v, accel, brake);
        for _ in 0..(seconds / v.dt()).round() as u64 {
            v.step();
            account(&v);
        }
    }
    let out = start - get(&v, ENERGY_KWH);
    let accounted = traction + aux + loss - regen;
    assert!(
        traction > 0.3 && regen > 0.05 && aux > 0.05,
        "{traction} {regen} {aux}"
    );
    assert!(
        (out - accounted).abs() <= TOLERANCE * out,
        "cells gave {out:.4} kWh; traction {traction:.4} + auxiliaries {aux:.4} + losses \
         {loss:.4} - regen {regen:.4} = {accounted:.4} kWh"
    );
}
