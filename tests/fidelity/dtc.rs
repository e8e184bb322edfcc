//! Diagnostic trouble codes through a whole vehicle: every injectable fault
//! of `catalog/dtc.tsv`, injected with its plugin command, raises its code
//! as a `dtc.raised` event and in `Vehicle.Diagnostics.DTCCount`, degrades
//! the car as its row says, and clears (`dtc.cleared`, count 0) when healed.
//!
//! Sources of the degradations: SAE J2012-DA (code meanings); a wheel-speed
//! sensor fault disables ABS and leaves conventional braking (UNECE R13-H,
//! annex 6: a failure of the anti-lock system must leave the service brake
//! working and light a warning); an airbag circuit fault lights the
//! readiness lamp (FMVSS 208 S4.5.2) and a bag whose circuit is open cannot
//! fire.

use tcu_engine::catalog::{DTC_COUNT, DtcFault, Value};
use tcu_engine::sim::Vehicle;
use tcu_engine::world::driver::DriverProfile;
use tcu_integration_tests::harness::{drive_to, get, run_for, set, vehicle, vehicle_at};

fn command(v: &mut Vehicle, subsystem: &str, name: &str, value: f64) {
    v.plugins_mut()
        .iter_mut()
        .find(|p| p.name() == subsystem)
        .unwrap_or_else(|| panic!("no {subsystem} plugin"))
        .command(name, value)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn inject(v: &mut Vehicle, subsystem: &str, fault: &str, on: bool) {
    command(
        v,
        subsystem,
        &format!("fault.{fault}"),
        f64::from(u8::from(on)),
    );
}

fn faults(v: &Vehicle) -> Vec<DtcFault> {
    v.dtc_table().faults().cloned().collect()
}

/// The `dtc.*` events since the last call: (kind, code, subsystem, description).
fn dtc_events(v: &mut Vehicle) -> Vec<(String, String, String, String)> {
    v.drain_events()
        .into_iter()
        .filter(|e| e.kind.starts_with("dtc."))
        .map(|e| {
            let f = |k: &str| e.fields.get(k).cloned().unwrap_or_default();
            (e.kind.clone(), f("code"), f("subsystem"), f("description"))
        })
        .collect()
}

#[test]
fn every_fault_raises_its_code_as_an_event_and_in_the_count_and_clears_when_healed() {
    let mut v = vehicle(5, DriverProfile::Idle, &[]);
    let all = faults(&v);
    assert_eq!(all.len(), 15, "every row of catalog/dtc.tsv is watched");
    run_for(&mut v, 0.1);
    dtc_events(&mut v);
    assert_eq!(get(&v, DTC_COUNT), 0.0);
    for f in &all {
        inject(&mut v, &f.subsystem, &f.fault, true);
        run_for(&mut v, 0.05);
        let want = |kind: &str| {
            vec![(
                kind.to_owned(),
                f.code.clone(),
                f.subsystem.clone(),
                f.description.clone(),
            )]
        };
        assert_eq!(dtc_events(&mut v), want("dtc.raised"), "{}", f.code);
        assert_eq!(get(&v, DTC_COUNT), 1.0, "{}", f.code);
        inject(&mut v, &f.subsystem, &f.fault, false);
        run_for(&mut v, 0.05);
        assert_eq!(dtc_events(&mut v), want("dtc.cleared"), "{}", f.code);
        assert_eq!(get(&v, DTC_COUNT), 0.0, "{}", f.code);
    }
    // All at once: one count per code.
    for f in &all {
        inject(&mut v, &f.subsystem, &f.fault, true);
    }
    run_for(&mut v, 0.05);
    assert_eq!(get(&v, DTC_COUNT), all.len() as f64);
}

#[test]
fn a_wheel_sensor_fault_turns_abs_off_with_its_warning_and_brakes_without_modulation() {
    let mut v = vehicle(5, DriverProfile::Idle, &[]);
    set(&mut v, "Sim.Environment.RoadFriction", Value::Float(0.1));
    drive_to(&mut v, 60.0);
    inject(&mut v, "abs", "wheel_sensor", true);
    set(&mut v, "Sim.Driver.BrakePedal", Value::Float(100.0));
    run_for(&mut v, 0.5);
    assert_eq!(get(&v, "Vehicle.ADAS.ABS.IsEngaged"), 0.0);
    assert_eq!(get(&v, "Vehicle.ADAS.ABS.IsError"), 1.0);
    assert_eq!(get(&v, "Vehicle.Chassis.Axle.Row1.Wheel.Left.Speed"), 0.0);
    let pedal = get(&v, "Vehicle.Chassis.Brake.PedalPosition");
    for wheel in ["Row1.Wheel.Right", "Row2.Wheel.Left", "Row2.Wheel.Right"] {
        let p = get(&v, &format!("Sim.Chassis.Axle.{wheel}.Brake.Pressure"));
        assert_eq!(p, pedal, "{wheel}: the pedal's pressure, unmodulated");
    }
    // Healed, the same stop is modulated again.
    inject(&mut v, "abs", "wheel_sensor", false);
    set(&mut v, "Sim.Driver.BrakePedal", Value::Float(0.0));
    drive_to(&mut v, 60.0);
    set(&mut v, "Sim.Driver.BrakePedal", Value::Float(100.0));
    run_for(&mut v, 0.3);
    assert_eq!(get(&v, "Vehicle.ADAS.ABS.IsEngaged"), 1.0);
}

/// Peak traction power the battery delivered and the top speed reached in
/// `secs` of full accelerator from rest.
fn flat_out(v: &mut Vehicle, secs: f64) -> (f64, f64) {
    set(v, "Sim.Driver.AcceleratorPedal", Value::Float(100.0));
    let mut peak_w: f64 = 0.0;
    for _ in 0..(secs / v.dt()).round() as usize {
        v.step();
        peak_w = peak_w.max(-get(v, "Vehicle.Powertrain.TractionBattery.CurrentPower"));
    }
    (peak_w, get(v, "Vehicle.Speed"))
}

#[test]
fn a_cell_overtemperature_limits_the_packs_power_to_limp_mode() {
    let (healthy_w, _) = flat_out(&mut vehicle(5, DriverProfile::Idle, &[]), 5.0);
    let mut v = vehicle(5, DriverProfile::Idle, &[]);
    inject(&mut v, "battery", "cell_overtemp", true);
    let (limp_w, _) = flat_out(&mut v, 5.0);
    assert!(healthy_w > 100_000.0, "{healthy_w}");
    // 20 kW of traction plus the auxiliary loads (12 V, HVAC, seats).
    let aux = get(&v, "Sim.Cabin.HVAC.Power") + get(&v, "Sim.Cabin.Seat.Heating.Power") + 250.0;
    assert!(limp_w <= 20_000.0 + aux + 1.0, "{limp_w} W");
}

#[test]
fn a_drive_fault_limits_torque_and_the_car_accelerates_in_limp_mode() {
    let (_, healthy_kmh) = flat_out(&mut vehicle(5, DriverProfile::Idle, &[]), 5.0);
    for fault in ["motor_overtemp", "inverter"] {
        let mut v = vehicle(5, DriverProfile::Idle, &[]);
        inject(&mut v, "engine", fault, true);
        let (_, limp_kmh) = flat_out(&mut v, 5.0);
        let torque = get(&v, "Vehicle.Powertrain.ElectricMotor.Torque");
        assert!(torque <= 0.3 * 350.0 + 1.0, "{fault}: {torque} Nm");
        assert!(
            limp_kmh > 5.0 && limp_kmh < 0.5 * healthy_kmh,
            "{fault}: {limp_kmh}"
        );
    }
}

fn hot_day_cooling(compressor_fault: bool) -> f64 {
    let mut v = vehicle(5, DriverProfile::Idle, &[]);
    set(&mut v, "Sim.Environment.AirTemperature", Value::Float(35.0));
    run_for(&mut v, 0.1);
    if compressor_fault {
        inject(&mut v, "hvac", "compressor", true);
    }
    set(
        &mut v,
        "Vehicle.Cabin.HVAC.IsAirConditioningActive",
        Value::Bool(true),
    );
    for zone in ["Row1.Driver", "Row1.Passenger", "Row2.Driver"] {
        let station = format!("Vehicle.Cabin.HVAC.Station.{zone}");
        set(
            &mut v,
            &format!("{station}.Temperature"),
            Value::Float(18.0),
        );
        set(&mut v, &format!("{station}.FanSpeed"), Value::Int(100));
    }
    run_for(&mut v, 600.0);
    get(&v, "Vehicle.Cabin.HVAC.AmbientAirTemperature")
}

#[test]
fn a_compressor_fault_leaves_the_cabin_uncooled_on_a_hot_day() {
    assert!(hot_day_cooling(false) < 25.0);
    assert!(hot_day_cooling(true) >= 35.0 - 0.5);
}

#[test]
fn an_open_seat_heater_stops_that_seat_heating_while_the_others_warm() {
    let mut v = vehicle(5, DriverProfile::Idle, &[]);
    set(&mut v, "Sim.Environment.AirTemperature", Value::Float(-5.0));
    run_for(&mut v, 0.1);
    inject(&mut v, "heated-seats", "heater_row1_driver", true);
    for seat in ["Row1.DriverSide", "Row1.PassengerSide"] {
        let path = format!("Vehicle.Cabin.Seat.{seat}.HeatingCooling");
        set(&mut v, &path, Value::Int(100));
    }
    run_for(&mut v, 600.0);
    let cabin = get(&v, "Vehicle.Cabin.HVAC.AmbientAirTemperature");
    let driver = get(&v, "Sim.Cabin.Seat.Row1.DriverSide.Temperature");
    let passenger = get(&v, "Sim.Cabin.Seat.Row1.PassengerSide.Temperature");
    // The cabin warms under the HVAC; the dead mat at most follows it.
    assert!(driver < cabin + 1.0, "driver {driver}, cabin {cabin}");
    assert!(
        passenger > cabin + 15.0,
        "passenger {passenger}, cabin {cabin}"
    );
}

#[test]
fn an_airbag_circuit_fault_lights_the_lamp_and_that_bag_does_not_fire() {
    let mut v = vehicle_at(5, DriverProfile::Idle, &[], 1000.0);
    for seat in ["Row1.DriverSide", "Row1.PassengerSide"] {
        set(
            &mut v,
            &format!("Sim.Cabin.Seat.{seat}.Occupant"),
            Value::Int(1),
        );
    }
    inject(&mut v, "airbag", "driver_circuit", true);
    run_for(&mut v, 0.01);
    assert_eq!(get(&v, "Sim.Airbag.WarningLamp"), 1.0);
    drive_to(&mut v, 50.0);
    set(&mut v, "Sim.Crash.Trigger", Value::Float(100.0));
    run_for(&mut v, 0.2);
    let bag = |seat: &str| get(&v, &format!("Vehicle.Cabin.Seat.{seat}.Airbag.IsDeployed"));
    assert_eq!(bag("Row1.DriverSide"), 0.0, "a disabled bag fired");
    assert_eq!(
        bag("Row1.PassengerSide"),
        1.0,
        "the healthy bag did not fire"
    );
}

#[test]
fn an_active_fault_and_its_limp_mode_survive_a_hot_swap_of_its_plugin() {
    use std::sync::{Arc, mpsc};
    use tcu_engine::catalog::Catalog;
    use tcu_engine::config::{VehicleConfig, VehicleOverrides};
    use tcu_engine::swap::{SwapOutcome, SwapPolicy, prepare};
    use tcu_integration_tests::{fixtures, variants};

    let tmp = tempfile::tempdir().expect("tempdir");
    let v2 = variants::battery_variant("v2", &tmp.path().join("battery-v2.so"));
    let cli = VehicleOverrides {
        seed: Some(5),
        plugins_dir: Some(fixtures::workspace_plugins_dir()),
        driver: Some(DriverProfile::Idle),
        allow_unsigned: Some(true),
        ..Default::default()
    };
    let c = VehicleConfig::defaults_with(&cli, &Catalog::builtin()).expect("config");
    let (mut v, rejected) =
        tcu_engine::build::build_vehicle(&c, Arc::new(Catalog::builtin())).expect("vehicle");
    assert!(rejected.is_empty(), "{rejected:?}");
    inject(&mut v, "battery", "cell_overtemp", true);
    set(&mut v, "Sim.Driver.AcceleratorPedal", Value::Float(100.0));
    run_for(&mut v, 0.5);
    assert_eq!(dtc_events(&mut v).len(), 1);

    let policy = SwapPolicy::from_config(&c.hotswap).expect("policy");
    let store = tcu_engine::build::open_store(&c).expect("store");
    let prepared = prepare(
        &[("battery".into(), v2)],
        &policy,
        &Catalog::builtin(),
        &store,
    );
    let (tx, rx) = mpsc::channel();
    v.request_swap(prepared, Some(Box::new(move |o| tx.send(o).expect("send"))));
    let mut peak_w: f64 = 0.0;
    let outcome = loop {
        v.step();
        assert_eq!(get(&v, DTC_COUNT), 1.0, "the code held through the swap");
        peak_w = peak_w.max(-get(&v, "Vehicle.Powertrain.TractionBattery.CurrentPower"));
        if let Ok(o) = rx.try_recv() {
            break o;
        }
        assert!(v.time() < 60.0, "no swap outcome");
    };
    assert!(matches!(outcome, SwapOutcome::Passed(_)), "{outcome:?}");
    let running = v
        .plugins()
        .iter()
        .find(|p| p.name() == "battery")
        .expect("battery");
    assert_eq!(running.library().info().version, "2.0.0");
    assert!(
        dtc_events(&mut v).is_empty(),
        "no clear and no second raise"
    );
    // Still limp: 20 kW of traction and the auxiliary loads at most.
    assert!(peak_w < 25_000.0, "{peak_w} W");
}

/// The codes of the `dtc.*` events of `kind` since the last drain.
fn codes(events: &[(String, String, String, String)], kind: &str) -> Vec<String> {
    let mut c: Vec<String> = events
        .iter()
        .filter(|e| e.0 == kind)
        .map(|e| e.1.clone())
        .collect();
    c.sort();
    c
}

/// A crash that deploys an airbag is recorded (B0052, SAE J2012-DA:
/// deployment commanded) and its high-voltage disconnect raises the
/// battery's interlock code (P0A0A); both stay until the reset that lets
/// the car drive again: the airbag unit's `reset` clears the record, the
/// battery's `reset_contactors` the disconnect.
#[test]
fn a_deploying_crash_raises_the_airbag_and_high_voltage_codes_until_the_reset_clears_them() {
    let mut v = vehicle_at(21, DriverProfile::Idle, &[], 1000.0);
    set(
        &mut v,
        "Sim.Cabin.Seat.Row1.DriverSide.Occupant",
        Value::Int(1),
    );
    drive_to(&mut v, 60.0);
    dtc_events(&mut v);
    set(&mut v, "Sim.Crash.Trigger", Value::Float(100.0));
    run_for(&mut v, 0.3);
    assert_eq!(
        get(&v, "Vehicle.Cabin.Seat.Row1.DriverSide.Airbag.IsDeployed"),
        1.0
    );
    let events = dtc_events(&mut v);
    assert_eq!(
        codes(&events, "dtc.raised"),
        ["B0052", "P0A0A"],
        "{events:?}"
    );
    assert_eq!(get(&v, DTC_COUNT), 2.0);
    run_for(&mut v, 5.0);
    assert!(dtc_events(&mut v).is_empty(), "raised once, held");
    command(&mut v, "airbag", "reset", 0.0);
    run_for(&mut v, 0.01);
    assert_eq!(codes(&dtc_events(&mut v), "dtc.cleared"), ["B0052"]);
    assert_eq!(get(&v, DTC_COUNT), 1.0);
    command(&mut v, "battery", "reset_contactors", 0.0);
    run_for(&mut v, 0.01);
    assert_eq!(codes(&dtc_events(&mut v), "dtc.cleared"), ["P0A0A"]);
    assert_eq!(get(&v, DTC_COUNT), 0.0);
}

/// The older wheel-sensor hook, `Sim.Fault.ABS.WheelSensor`, is a fault
/// path like any other: the wheel it names raises that wheel's code
/// (C0035 / C0040 / C0045 / C0050, SAE J2012-DA wheel speed sensor
/// circuits) and clears it when set back to 0.
#[test]
fn the_wheel_sensor_hook_raises_the_code_of_the_wheel_it_names_and_clears_it() {
    let mut v = vehicle(5, DriverProfile::Idle, &[]);
    run_for(&mut v, 0.1);
    dtc_events(&mut v);
    for (wheel, code) in [(1, "C0035"), (2, "C0040"), (3, "C0045"), (4, "C0050")] {
        set(&mut v, "Sim.Fault.ABS.WheelSensor", Value::Int(wheel));
        run_for(&mut v, 0.05);
        assert_eq!(codes(&dtc_events(&mut v), "dtc.raised"), [code]);
        assert_eq!(get(&v, DTC_COUNT), 1.0);
        assert_eq!(get(&v, "Vehicle.ADAS.ABS.IsError"), 1.0);
        set(&mut v, "Sim.Fault.ABS.WheelSensor", Value::Int(0));
        run_for(&mut v, 0.05);
        assert_eq!(codes(&dtc_events(&mut v), "dtc.cleared"), [code]);
        assert_eq!(get(&v, DTC_COUNT), 0.0);
    }
}
