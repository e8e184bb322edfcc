//! Building simulated vehicles for tests: the real plugin libraries from the
//! workspace, the default configuration with test overrides, virtual time.

use std::sync::Arc;
use tcu_engine::build::build_vehicle;
use tcu_engine::catalog::{Catalog, Value};
use tcu_engine::config::{VehicleConfig, VehicleOverrides};
use tcu_engine::sim::Vehicle;
use tcu_engine::world::driver::DriverProfile;

/// A vehicle with the six workspace plugins, `seed`, the default initial
/// signals overridden by `signals`, and `driver`. Panics if a plugin is
/// rejected: the real plugins must always load.
pub fn vehicle(seed: u64, driver: DriverProfile, signals: &[(&str, Value)]) -> Vehicle {
    vehicle_with(seed, driver, signals, None)
}

/// As [`vehicle`], stepped at `tick_rate_hz` (a crash needs finer steps
/// than the default 100 Hz to time an airbag decision to the millisecond).
pub fn vehicle_at(
    seed: u64,
    driver: DriverProfile,
    signals: &[(&str, Value)],
    tick_rate_hz: f64,
) -> Vehicle {
    vehicle_with(seed, driver, signals, Some(tick_rate_hz))
}

fn vehicle_with(
    seed: u64,
    driver: DriverProfile,
    signals: &[(&str, Value)],
    tick_rate_hz: Option<f64>,
) -> Vehicle {
    let catalog = Catalog::builtin();
    let cli = VehicleOverrides {
        seed: Some(seed),
        plugins_dir: Some(crate::fixtures::workspace_plugins_dir()),
        driver: Some(driver),
        tick_rate_hz,
        ..Default::default()
    };
    let mut config = VehicleConfig::defaults_with(&cli, &catalog).expect("default config");
    for (path, value) in signals {
        config.signals.insert((*path).to_owned(), *value);
    }
    let (vehicle, rejected) = build_vehicle(&config, Arc::new(catalog)).expect("vehicle builds");
    assert!(
        rejected.is_empty(),
        "workspace plugins rejected: {rejected:?}"
    );
    assert_eq!(vehicle.plugins().len(), 6, "expected six plugins");
    vehicle
}

/// Runs `seconds` of simulated time.
pub fn run_for(v: &mut Vehicle, seconds: f64) {
    let ticks = (seconds / v.dt()).round() as u64;
    for _ in 0..ticks {
        v.step();
    }
}

/// Current value of a signal as a number.
pub fn get(v: &Vehicle, path: &str) -> f64 {
    v.bus()
        .get(v.bus().id(path).unwrap_or_else(|e| panic!("{e}")))
}

/// Sets an actuator through the control path.
pub fn set(v: &mut Vehicle, path: &str, value: Value) {
    v.bus_mut()
        .set_actuator(path, value)
        .unwrap_or_else(|e| panic!("setting {path}: {e}"));
}

/// Drives with the accelerator at 60 % until the car reaches `kmh`, then
/// releases the pedal; panics if it never gets there.
pub fn drive_to(v: &mut Vehicle, kmh: f64) {
    set(v, "Sim.Driver.AcceleratorPedal", Value::Float(60.0));
    let limit = (120.0 / v.dt()).round() as u64;
    for _ in 0..limit {
        if get(v, "Vehicle.Speed") >= kmh {
            break;
        }
        v.step();
    }
    assert!(
        get(v, "Vehicle.Speed") >= kmh,
        "the car never reached {kmh} km/h"
    );
    set(v, "Sim.Driver.AcceleratorPedal", Value::Float(0.0));
}
