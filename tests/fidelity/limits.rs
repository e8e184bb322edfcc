//! Vehicle limits and the range estimate: the top-speed limiter and the
//! motor speed limit hold at full pedal, and the remaining range agrees
//! with the energy left and the consumption just driven.

use crate::common::*;

/// The limiter's published figure: Tesla Model 3 Rear-Wheel Drive, 201 km/h.
const TOP_SPEED_KMH: f64 = 201.0;
/// The motor's published maximum: VW APP310, 16,000 rpm.
const MAX_MOTOR_RPM: f64 = 16_000.0;

#[test]
fn full_pedal_for_a_minute_and_a_half_stays_under_the_top_speed_and_the_motor_limit() {
    let mut v = mild_car(0.9, 90.0);
    pedals(&mut v, 100.0, 0.0);
    let (mut top, mut rpm) = (0.0_f64, 0.0_f64);
    for _ in 0..9_000 {
        v.step();
        top = top.max(get(&v, SPEED));
        rpm = rpm.max(get(&v, "Vehicle.Powertrain.ElectricMotor.Speed"));
    }
    assert!(top <= TOP_SPEED_KMH, "reached {top:.1} km/h");
    assert!(top >= TOP_SPEED_KMH - 8.0, "only {top:.1} km/h");
    assert!(rpm <= MAX_MOTOR_RPM, "{rpm} rpm");
}

/// After 20 km at 90 km/h the estimate must say what the energy left buys
/// at about the consumption just driven (the estimate averages over the
/// last 25 km, starting from a WLTP-like 144 Wh/km, so within 10 %), and be
/// plausible for a 75 kWh mid-size EV at 80 %: 60 kWh at 120-170 Wh/km is
/// 350 to 500 km (Model 3 Long Range: 602 km WLTP on a full pack).
#[test]
fn the_range_estimate_is_plausible_and_follows_the_consumption() {
    let mut v = mild_car(0.9, 80.0);
    let mut integral = reach_and_hold(&mut v, 90.0, 10.0);
    let (e0, d0) = (get(&v, ENERGY_KWH), get(&v, DISTANCE_KM));
    while get(&v, DISTANCE_KM) - d0 < 20.0 {
        cruise_step(&mut v, 90.0, &mut integral);
    }
    let wh_km = (e0 - get(&v, ENERGY_KWH)) * 1000.0 / (get(&v, DISTANCE_KM) - d0);
    let range_km = get(&v, "Vehicle.Powertrain.TractionBattery.Range") / 1000.0;
    let expect = get(&v, ENERGY_KWH) * 1000.0 / wh_km;
    eprintln!("range {range_km:.0} km at {wh_km:.0} Wh/km (energy left buys {expect:.0} km)");
    assert!(
        (range_km - expect).abs() <= 0.10 * expect,
        "{range_km:.0} km vs {expect:.0} km"
    );
    assert!((350.0..=500.0).contains(&range_km), "{range_km:.0} km");
}
