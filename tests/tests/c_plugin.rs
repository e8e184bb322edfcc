//! A subsystem written in C against `tcu_plugin.h`, compiled by the test
//! setup with the system C compiler, loads beside the Rust plugins and ticks.

use tcu_engine::catalog::Value;
use tcu_integration_tests::fixtures;
use tcu_integration_tests::harness::get;

#[test]
fn a_plugin_written_in_c_loads_and_ticks() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures::workspace_plugins_dir();
    for name in ["battery", "abs", "engine", "airbag", "hvac", "heated_seats"] {
        let file = format!("libtcu_plugin_{name}.so");
        std::fs::copy(src.join(&file), tmp.path().join(&file)).unwrap();
    }
    fixtures::build_c("range", tmp.path());
    let catalog = tcu_engine::catalog::Catalog::builtin();
    let cli = tcu_engine::config::VehicleOverrides {
        plugins_dir: Some(tmp.path().to_owned()),
        driver: Some(tcu_engine::world::driver::DriverProfile::Idle),
        ..Default::default()
    };
    let config = tcu_engine::config::VehicleConfig::defaults_with(&cli, &catalog).unwrap();
    let (mut v, rejected) =
        tcu_engine::build::build_vehicle(&config, std::sync::Arc::new(catalog)).unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");
    let names: Vec<&str> = v.plugins().iter().map(|p| p.name()).collect();
    assert!(names.contains(&"range"), "{names:?}");
    // The C plugin reads the battery's output, so it must run after it.
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(pos("battery") < pos("range"), "{names:?}");
    v.bus_mut()
        .set_actuator("Sim.Driver.AcceleratorPedal", Value::Float(60.0))
        .unwrap();
    let mut last_range = f64::INFINITY;
    for _ in 0..30 {
        for _ in 0..100 {
            v.step();
        }
        let soc = get(
            &v,
            "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
        );
        let range = get(&v, "Vehicle.Powertrain.Range");
        assert_eq!(range.fract(), 0.0, "uint32 range must be whole: {range}");
        assert!(
            range > 0.0 && range <= soc * 4000.0 + 1.0,
            "range {range} m at SOC {soc:.2} %"
        );
        assert!(
            range <= last_range,
            "range grew while driving: {last_range} -> {range}"
        );
        last_range = range;
    }
    assert_eq!(v.faults(), 0);
}
