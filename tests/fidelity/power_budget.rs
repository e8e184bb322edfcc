//! The battery's power budget: an empty pack moves nothing, a full or cold
//! pack takes no regeneration and the friction brakes brake instead, and a
//! moderate stop recovers most of the car's kinetic energy.

use crate::common::*;
use tcu_sdk::vehicle::MASS_KG;

#[test]
fn an_empty_battery_does_not_accelerate_the_car() {
    let mut v = mild_car(0.9, 0.0);
    pedals(&mut v, 100.0, 0.0);
    run_for(&mut v, 30.0);
    assert_eq!(get(&v, SPEED), 0.0, "an empty battery moved the car");
    assert_eq!(get(&v, DRIVE_POWER), 0.0);
}

/// Brakes with `pedal` % until the car stops; returns the mean
/// deceleration (m/s², from the speed and the stopping distance), the
/// regenerated energy the battery kept (at its terminals, less the pack's
/// resistive heat meanwhile; kWh) and the kinetic energy at the start
/// (kWh).
fn stop(v: &mut tcu_engine::sim::Vehicle, pedal: f64) -> (f64, f64, f64) {
    let speed = get(v, SPEED) / 3.6;
    let kinetic = 0.5 * MASS_KG * speed * speed / 3.6e6;
    let (d0, e0) = (get(v, DISTANCE_KM), get(v, BRAKING_ENERGY));
    pedals(v, 0.0, pedal);
    let mut heat = 0.0;
    for _ in 0..20_000 {
        v.step();
        heat += kwh(v, get(v, PACK_LOSS));
        if get(v, SPEED) == 0.0 {
            break;
        }
    }
    assert_eq!(get(v, SPEED), 0.0, "the car did not stop");
    let distance = (get(v, DISTANCE_KM) - d0) * 1000.0;
    (
        speed * speed / (2.0 * distance),
        get(v, BRAKING_ENERGY) - e0 - heat,
        kinetic,
    )
}

#[test]
fn at_full_charge_the_friction_brakes_take_over_and_the_car_stops_as_it_would_with_regen() {
    let mut half = mild_car(0.9, 50.0);
    reach_and_hold(&mut half, 60.0, 5.0);
    let (with_regen, recovered, _) = stop(&mut half, 25.0);
    assert!(recovered > 0.0);

    let mut full = mild_car(0.9, 100.0);
    reach_and_hold(&mut full, 60.0, 5.0);
    set_soc(&mut full, 100.0);
    full.step();
    let (without_regen, recovered, _) = stop(&mut full, 25.0);
    // At 100 % the pack takes only what the auxiliaries draw: a few
    // hundred watts, a few watt-hours over the stop.
    assert!(recovered < 0.002, "a full pack took {recovered} kWh");
    // Same pedal, same deceleration: the blend hides where the force comes
    // from. 3 % allows for the torque lag at the start of the stop.
    assert!(
        (without_regen - with_regen).abs() < 0.03 * with_regen,
        "mean deceleration {without_regen:.2} m/s² at 100 % vs {with_regen:.2} m/s² at 50 %"
    );
}

/// Regeneration's share of the braking energy in a moderate stop: the
/// range commonly quoted for battery-electric cars is 60 to 80 %; the rest
/// goes to motor, inverter and gear losses, to drag and rolling resistance
/// during the stop, and to the friction brakes below the regen fade speed.
#[test]
fn a_moderate_stop_recovers_sixty_to_eighty_percent_of_the_kinetic_energy() {
    let mut v = mild_car(0.9, 60.0);
    reach_and_hold(&mut v, 50.0, 5.0);
    // 0.12 g, a usual stop at a traffic light.
    let (_, recovered, kinetic) = stop(&mut v, 10.0);
    let share = recovered / kinetic;
    eprintln!(
        "a moderate stop from 50 km/h recovers {:.1} %",
        share * 100.0
    );
    assert!(
        (0.60..=0.80).contains(&share),
        "recovered {:.0} % of the kinetic energy",
        share * 100.0
    );
}
