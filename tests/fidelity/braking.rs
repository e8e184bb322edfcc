//! Emergency stops: no car stops shorter than its tyres' grip allows, and
//! ABS engages whenever full braking would lock a wheel, on every surface.
//! The bound is kinematics: with at most `mu m g` of tyre force the stop
//! from `v` takes at least `v² / (2 mu g)`; drag and rolling resistance also
//! brake the car without using grip, so the strict bound adds their
//! deceleration at the initial speed (their largest).

use crate::common::*;
use tcu_engine::catalog::Value;
use tcu_sdk::vehicle::{GRAVITY, MASS_KG};

/// Surfaces by peak friction: dry asphalt (the world's default), wet
/// asphalt, wet cobblestones, snow, ice (Burckhardt's curves are scaled to
/// these peaks).
const SURFACES: [(&str, f64); 5] = [
    ("dry asphalt", 0.9),
    ("wet asphalt", 0.5),
    ("wet cobblestones", 0.35),
    ("snow", 0.2),
    ("ice", 0.1),
];

/// Full braking from `from` km/h; returns the stopping distance (m) and
/// whether ABS engaged.
fn emergency_stop(mu: f64, abs: bool, from: f64) -> (f64, bool) {
    let mut v = mild_car(mu, 60.0);
    set(&mut v, "Vehicle.ADAS.ABS.IsEnabled", Value::Bool(abs));
    reach_and_hold(&mut v, from, 3.0);
    let start = get(&v, DISTANCE_KM);
    pedals(&mut v, 0.0, 100.0);
    let mut engaged = false;
    for _ in 0..30_000 {
        v.step();
        engaged |= get(&v, "Vehicle.ADAS.ABS.IsEngaged") >= 0.5;
        if get(&v, SPEED) == 0.0 {
            break;
        }
    }
    assert_eq!(get(&v, SPEED), 0.0, "no stop on mu {mu}");
    ((get(&v, DISTANCE_KM) - start) * 1000.0, engaged)
}

#[test]
fn no_stop_from_100_km_h_is_shorter_than_the_tyres_grip_allows_and_abs_engages_on_every_surface() {
    let v: f64 = 100.0 / 3.6;
    let p = tcu_engine::world::dynamics::VehicleParams::default();
    let resist = (p.drag(v) + p.rolling_resistance(v)) / MASS_KG;
    for (surface, mu) in SURFACES {
        let (distance, engaged) = emergency_stop(mu, true, 100.0);
        let grip_only = v * v / (2.0 * mu * GRAVITY);
        let strict = v * v / (2.0 * (mu * GRAVITY + resist));
        eprintln!(
            "{surface} (mu {mu}): {distance:.1} m, v²/(2µg) {grip_only:.1} m, with drag and rolling {strict:.1} m"
        );
        assert!(engaged, "{surface}: ABS never engaged");
        assert!(
            distance >= strict,
            "{surface}: {distance:.1} m, shorter than the {strict:.1} m the grip allows"
        );
        // ABS that works keeps most of the grip: within 35 % of the ideal.
        assert!(
            distance <= 1.35 * grip_only,
            "{surface}: {distance:.1} m against an ideal {grip_only:.1} m"
        );
    }
}

#[test]
fn on_dry_asphalt_the_stop_from_100_km_h_is_no_shorter_than_v_squared_over_2_mu_g() {
    // Where drag and rolling are small against the grip, the plain bound.
    let v: f64 = 100.0 / 3.6;
    let (distance, _) = emergency_stop(0.9, true, 100.0);
    assert!(distance >= v * v / (2.0 * 0.9 * GRAVITY), "{distance:.1} m");
}

#[test]
fn abs_stops_shorter_than_locked_wheels_on_every_surface_but_ice() {
    for (surface, mu) in &SURFACES[..4] {
        let (with_abs, _) = emergency_stop(*mu, true, 80.0);
        let (locked, engaged) = emergency_stop(*mu, false, 80.0);
        assert!(!engaged);
        assert!(
            with_abs < locked,
            "{surface}: ABS {with_abs:.1} m vs locked {locked:.1} m"
        );
    }
}
