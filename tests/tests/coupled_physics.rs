//! Vehicle-level physics with the six real plugin libraries loaded: the
//! couplings between subsystems that no single plugin test can show.

use tcu_engine::catalog::Value;
use tcu_engine::world::driver::DriverProfile;
use tcu_integration_tests::harness::{drive_to, get, run_for, set, vehicle};

const SOC: &str = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current";
const SPEED: &str = "Vehicle.Speed";
const ABS_ENGAGED: &str = "Vehicle.ADAS.ABS.IsEngaged";

fn pedals(v: &mut tcu_engine::sim::Vehicle, accel: f64, brake: f64) {
    set(v, "Sim.Driver.AcceleratorPedal", Value::Float(accel));
    set(v, "Sim.Driver.BrakePedal", Value::Float(brake));
}

#[test]
fn driving_drains_the_battery_and_regenerative_braking_refills_it() {
    for accel in [20.0, 50.0, 90.0] {
        let mut v = vehicle(1, DriverProfile::Idle, &[]);
        run_for(&mut v, 0.1);
        let soc0 = get(&v, SOC);
        pedals(&mut v, accel, 0.0);
        run_for(&mut v, 20.0);
        let soc_driven = get(&v, SOC);
        assert!(
            get(&v, SPEED) > 30.0,
            "accelerator {accel}%: {} km/h",
            get(&v, SPEED)
        );
        assert!(
            soc_driven < soc0,
            "accelerator {accel}%: SOC {soc0} -> {soc_driven}"
        );
        pedals(&mut v, 0.0, 30.0);
        run_for(&mut v, 3.0);
        assert!(
            get(&v, SOC) > soc_driven,
            "braking at {accel}% did not recharge"
        );
        assert!(get(&v, "Vehicle.Powertrain.AccumulatedBrakingEnergy") > 0.0);
    }
}

#[test]
fn more_throttle_drains_the_battery_faster() {
    let mut used = Vec::new();
    for accel in [10.0, 30.0, 60.0, 100.0] {
        let mut v = vehicle(1, DriverProfile::Idle, &[]);
        run_for(&mut v, 0.1);
        let soc0 = get(&v, SOC);
        pedals(&mut v, accel, 0.0);
        run_for(&mut v, 10.0);
        used.push(soc0 - get(&v, SOC));
    }
    assert!(
        used[0] > 0.0 && used.windows(2).all(|w| w[1] > w[0]),
        "{used:?}"
    );
}

/// Accelerates to about `target` km/h, then brakes fully; returns whether ABS
/// engaged at any tick, the stopping distance in metres and whether a wheel
/// locked.
fn emergency_stop(friction: f64, abs: bool, target: f64) -> (bool, f64, bool) {
    stop_with(friction, abs, target, 100.0)
}

/// As [`emergency_stop`], braking with `pedal` percent.
fn stop_with(friction: f64, abs: bool, target: f64, pedal: f64) -> (bool, f64, bool) {
    let mut v = vehicle(
        3,
        DriverProfile::Idle,
        &[
            ("Sim.Environment.RoadFriction", Value::Float(friction)),
            ("Vehicle.ADAS.ABS.IsEnabled", Value::Bool(abs)),
        ],
    );
    pedals(&mut v, 25.0, 0.0);
    for _ in 0..200_000 {
        if get(&v, SPEED) >= target {
            break;
        }
        v.step();
    }
    assert!(
        get(&v, SPEED) >= target,
        "never reached {target} km/h on mu {friction}"
    );
    pedals(&mut v, 0.0, pedal);
    let start = get(&v, "Vehicle.TraveledDistance");
    let (mut engaged, mut locked) = (false, false);
    for _ in 0..6000 {
        v.step();
        engaged |= get(&v, ABS_ENGAGED) >= 0.5;
        locked |= v.world().locked_wheels() > 0;
        if get(&v, SPEED) == 0.0 {
            break;
        }
    }
    assert_eq!(get(&v, SPEED), 0.0, "car did not stop on mu {friction}");
    (
        engaged,
        (get(&v, "Vehicle.TraveledDistance") - start) * 1000.0,
        locked,
    )
}

#[test]
fn full_braking_engages_abs_on_every_surface_dry_included_and_light_braking_nowhere() {
    // ABS reads only wheel speeds: whether a wheel approaches lock, not
    // the road's friction, decides.
    for mu in [0.1, 0.2, 0.3, 0.8, 0.9, 1.0] {
        let (engaged, _, _) = emergency_stop(mu, true, 50.0);
        assert!(engaged, "ABS should engage on mu {mu}");
    }
    for mu in [0.8, 0.9, 1.0] {
        let (engaged, _, locked) = stop_with(mu, true, 50.0, 30.0);
        assert!(
            !engaged && !locked,
            "ABS engaged in light braking (mu {mu})"
        );
    }
}

#[test]
fn abs_stops_shorter_than_locked_wheels_on_ice() {
    let (engaged, with_abs, _) = emergency_stop(0.15, true, 50.0);
    let (_, without_abs, locked) = emergency_stop(0.15, false, 50.0);
    assert!(engaged && locked);
    assert!(
        with_abs < without_abs,
        "ABS {with_abs:.1} m vs locked {without_abs:.1} m"
    );
}

const SEATS: [&str; 5] = [
    "Row1.DriverSide",
    "Row1.PassengerSide",
    "Row2.DriverSide",
    "Row2.Middle",
    "Row2.PassengerSide",
];

fn deployed(v: &tcu_engine::sim::Vehicle, seat: &str) -> bool {
    get(v, &format!("Vehicle.Cabin.Seat.{seat}.Airbag.IsDeployed")) >= 0.5
}

#[test]
fn a_crash_deploys_the_airbags_of_occupied_seats_only_and_quickly() {
    for occupied_mask in [0b00001u8, 0b00101, 0b11010, 0b11111] {
        // Belted occupants, rigid barrier: 10 km/h is under the no-fire
        // level, 30 and 60 km/h above the belted must-fire level.
        for kmh in [10.0, 30.0, 60.0] {
            let mut v = vehicle(5, DriverProfile::Idle, &[]);
            for (i, seat) in SEATS.iter().enumerate() {
                let who = if occupied_mask & (1 << i) != 0 { 2 } else { 0 };
                set(
                    &mut v,
                    &format!("Sim.Cabin.Seat.{seat}.Occupant"),
                    Value::Int(who),
                );
            }
            drive_to(&mut v, kmh);
            set(&mut v, "Sim.Crash.Trigger", Value::Float(100.0));
            let t0 = v.time();
            let mut deploy_time = None;
            for _ in 0..40 {
                v.step();
                if deploy_time.is_none() && SEATS.iter().any(|s| deployed(&v, s)) {
                    deploy_time = Some(v.time() - t0);
                }
            }
            let fires = kmh > 26.0;
            for (i, seat) in SEATS.iter().enumerate() {
                let occupied = occupied_mask & (1 << i) != 0;
                assert_eq!(
                    deployed(&v, seat),
                    occupied && fires,
                    "seat {seat}, {kmh} km/h, occupancy {occupied_mask:05b}"
                );
            }
            assert!(get(&v, SPEED) < 0.5, "the barrier did not stop the car");
            if fires {
                // At 100 Hz the decision shows at the end of its tick: by
                // 30 ms after the impact.
                let t = deploy_time.expect("deployed");
                assert!(
                    (0.015..=0.030 + 1e-9).contains(&t),
                    "deployed {:.0} ms after the impact",
                    t * 1e3
                );
            }
        }
    }
}

#[test]
fn the_cabin_reaches_the_setpoint_in_winter_and_the_battery_pays_for_it() {
    let cold = [("Sim.Environment.AirTemperature", Value::Float(-10.0))];
    let fans = |f: i64| {
        ["Row1.Driver", "Row1.Passenger", "Row2.Driver"].map(|z| {
            (
                format!("Vehicle.Cabin.HVAC.Station.{z}.FanSpeed"),
                Value::Int(f),
            )
        })
    };
    let build = |fan: i64| {
        let mut signals: Vec<(String, Value)> =
            cold.iter().map(|(p, v)| ((*p).to_owned(), *v)).collect();
        signals.extend(fans(fan));
        signals.push((
            "Vehicle.Cabin.Seat.Row1.DriverSide.HeatingCooling".into(),
            Value::Int(0),
        ));
        let refs: Vec<(&str, Value)> = signals.iter().map(|(p, v)| (p.as_str(), *v)).collect();
        vehicle(9, DriverProfile::Idle, &refs)
    };
    let mut heated = build(100);
    let mut off = build(0);
    run_for(&mut heated, 0.01);
    let soc0 = get(&heated, SOC);
    let cabin = "Vehicle.Cabin.HVAC.AmbientAirTemperature";
    run_for(&mut heated, 5.0);
    let early = get(&heated, cabin);
    run_for(&mut heated, 1795.0);
    run_for(&mut off, 1800.0);
    assert!(
        (get(&heated, cabin) - 21.0).abs() < 1.5,
        "cabin {:.1} after 30 min",
        get(&heated, cabin)
    );
    assert!(
        early < 0.0,
        "cabin warmed implausibly fast: {early:.1} after 5 s"
    );
    assert!(
        get(&off, cabin) < -8.0,
        "unheated cabin at {:.1}",
        get(&off, cabin)
    );
    let (used_heated, used_off) = (soc0 - get(&heated, SOC), soc0 - get(&off, SOC));
    assert!(
        used_heated > used_off + 0.5,
        "HVAC cost {used_heated:.2} % vs {used_off:.2} % of charge"
    );
}

#[test]
fn seat_heating_warms_the_seat_and_draws_power() {
    let seat = "Sim.Cabin.Seat.Row1.DriverSide.Temperature";
    let power = "Sim.Cabin.Seat.Heating.Power";
    let mut last_temp = f64::NEG_INFINITY;
    for level in [0, 30, 60, 100] {
        let mut v = vehicle(
            2,
            DriverProfile::Idle,
            &[
                ("Sim.Environment.AirTemperature", Value::Float(0.0)),
                (
                    "Vehicle.Cabin.Seat.Row1.DriverSide.HeatingCooling",
                    Value::Int(level),
                ),
            ],
        );
        run_for(&mut v, 1.0);
        let p = get(&v, power);
        assert_eq!(p > 0.0, level > 0, "level {level}: {p} W");
        run_for(&mut v, 299.0);
        let t = get(&v, seat);
        assert!(
            t > last_temp,
            "level {level}: seat at {t:.1}, lower level reached {last_temp:.1}"
        );
        last_temp = t;
    }
    assert!(
        last_temp > 30.0,
        "seat at level 100 only reached {last_temp:.1} after 5 min"
    );
}

#[test]
fn the_battery_drive_and_brake_loop_needs_no_plugin_dependency_cycle() {
    // The battery's budget reaches the drive and the drive's regeneration
    // the brakes within the tick; the drive's draw reaches the battery
    // through the world model, a tick later.
    let mut v = vehicle(1, DriverProfile::Idle, &[]);
    let events = v.drain_events();
    assert!(
        events.iter().all(|e| e.kind != "plugin.cycle"),
        "{:?}",
        events.iter().find(|e| e.kind == "plugin.cycle")
    );
    let names: Vec<&str> = v.plugins().iter().map(|p| p.name()).collect();
    let pos = |n: &str| names.iter().position(|x| *x == n).expect("plugin");
    assert!(
        pos("battery") < pos("engine") && pos("engine") < pos("abs"),
        "{names:?}"
    );
}
