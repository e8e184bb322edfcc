//! Many vehicles in one process from one loaded set of plugin libraries:
//! the libraries are opened once and shared, each vehicle has its own bus,
//! world and plugin state, and nothing one vehicle does shows in another.

use std::sync::Arc;
use tcu_engine::build::build_vehicle_shared;
use tcu_engine::catalog::{Catalog, Value};
use tcu_engine::config::{VehicleConfig, VehicleOverrides};
use tcu_engine::plugin::open_dir;
use tcu_engine::sim::Vehicle;
use tcu_engine::world::driver::DriverProfile;
use tcu_integration_tests::fixtures::workspace_plugins_dir;
use tcu_integration_tests::harness::{drive_to, get, run_for, set};

const SOC: &str = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current";
const SPEED: &str = "Vehicle.Speed";
const DRIVER_BAG: &str = "Vehicle.Cabin.Seat.Row1.DriverSide.Airbag.IsDeployed";

fn config(vin: &str, seed: u64) -> VehicleConfig {
    let cli = VehicleOverrides {
        vin: Some(vin.to_owned()),
        seed: Some(seed),
        driver: Some(DriverProfile::Idle),
        ..Default::default()
    };
    VehicleConfig::defaults_with(&cli, &Catalog::builtin()).expect("default config")
}

fn two_vehicles() -> (Vehicle, Vehicle) {
    let catalog = Arc::new(Catalog::builtin());
    let (libs, rejected) = open_dir(&workspace_plugins_dir(), &catalog).expect("plugin dir");
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(libs.len(), 6);
    let (a, ra) = build_vehicle_shared(&config("WTCUZ000000000001", 1), catalog.clone(), &libs)
        .expect("vehicle a");
    let (b, rb) =
        build_vehicle_shared(&config("WTCUZ000000000002", 2), catalog, &libs).expect("vehicle b");
    assert!(ra.is_empty() && rb.is_empty(), "{ra:?} {rb:?}");
    (a, b)
}

#[test]
fn two_vehicles_run_instances_of_the_same_loaded_libraries() {
    let (a, b) = two_vehicles();
    assert_eq!(a.plugins().len(), 6);
    for (pa, pb) in a.plugins().iter().zip(b.plugins()) {
        assert_eq!(pa.name(), pb.name());
        assert!(
            Arc::ptr_eq(pa.library(), pb.library()),
            "{} was loaded twice",
            pa.name()
        );
    }
}

#[test]
fn driving_one_vehicle_leaves_the_other_parked_and_charged() {
    let (mut a, mut b) = two_vehicles();
    run_for(&mut a, 0.1);
    run_for(&mut b, 0.1);
    let (soc_a0, soc_b0) = (get(&a, SOC), get(&b, SOC));
    set(&mut a, "Sim.Driver.AcceleratorPedal", Value::Float(60.0));
    // Stepped independently: a for 20 s more, b for 5 s in between.
    run_for(&mut a, 10.0);
    run_for(&mut b, 5.0);
    run_for(&mut a, 10.0);
    assert!(get(&a, SPEED) > 50.0, "a: {} km/h", get(&a, SPEED));
    assert!(get(&a, SOC) < soc_a0, "a's battery did not drain");
    assert_eq!(get(&b, SPEED), 0.0, "b moved");
    assert!(
        (get(&b, SOC) - soc_b0).abs() < 0.01,
        "b's battery changed: {soc_b0} -> {}",
        get(&b, SOC)
    );
    let (ta, tb) = (a.time(), b.time());
    assert!(
        (ta - 20.1).abs() < 1e-6 && (tb - 5.1).abs() < 1e-6,
        "clocks {ta} / {tb}"
    );
}

#[test]
fn plugin_state_and_commands_stay_with_their_vehicle() {
    let (mut a, mut b) = two_vehicles();
    // A crash in a deploys a's airbag only.
    drive_to(&mut a, 40.0);
    set(&mut a, "Sim.Crash.Trigger", Value::Float(100.0));
    run_for(&mut a, 0.5);
    run_for(&mut b, 0.5);
    assert!(get(&a, DRIVER_BAG) >= 0.5, "a's airbag did not deploy");
    assert!(get(&b, DRIVER_BAG) < 0.5, "b's airbag deployed with a's");
    // A plugin command to a's battery changes a's state only.
    let battery = a
        .plugins_mut()
        .iter_mut()
        .find(|p| p.name() == "battery")
        .expect("battery");
    battery.command("set_soc", 20.0).expect("set_soc");
    run_for(&mut a, 0.1);
    run_for(&mut b, 0.1);
    assert!((get(&a, SOC) - 20.0).abs() < 0.5, "a: {}", get(&a, SOC));
    assert!(get(&b, SOC) > 50.0, "b: {}", get(&b, SOC));
}
