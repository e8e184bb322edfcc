//! Plugins that misbehave at run time: a panic in tick is caught at the
//! boundary, reported once, and disables only that plugin.

use std::sync::Arc;
use tcu_engine::build::build_vehicle;
use tcu_engine::catalog::Catalog;
use tcu_engine::config::{VehicleConfig, VehicleOverrides};
use tcu_integration_tests::fixtures;

#[test]
fn a_panic_in_tick_disables_that_plugin_and_the_car_keeps_running() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures::workspace_plugins_dir();
    for name in ["battery", "abs", "engine", "airbag", "hvac", "heated_seats"] {
        let file = format!("libtcu_plugin_{name}.so");
        std::fs::copy(src.join(&file), tmp.path().join(&file)).unwrap();
    }
    fixtures::build_panicky("panic_in_tick", tmp.path());
    let cli = VehicleOverrides {
        plugins_dir: Some(tmp.path().to_owned()),
        ..Default::default()
    };
    let catalog = Catalog::builtin();
    let config = VehicleConfig::defaults_with(&cli, &catalog).unwrap();
    let (mut v, rejected) = build_vehicle(&config, Arc::new(catalog)).unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(v.plugins().len(), 7);
    v.drain_events();
    v.step();
    let soc0 = v.status().soc;
    for _ in 0..1000 {
        v.step();
    }
    let events = v.drain_events();
    let faults: Vec<_> = events.iter().filter(|e| e.kind == "fault").collect();
    assert_eq!(faults.len(), 1, "{events:?}");
    assert!(
        faults[0].detail.contains("panicky") && faults[0].detail.contains("panicked"),
        "{faults:?}"
    );
    let status = v.status();
    assert_eq!((status.plugins_ok, status.plugins), (6, 7));
    assert!(status.speed_kmh > 0.0 && status.soc < soc0, "{status:?}");
}
