//! What the recording and vetting benchmarks share: the vehicle with the
//! six plugins of the release build, driven by the demo cycle.

use std::path::PathBuf;
use std::sync::Arc;
use tcu_engine::build::build_vehicle;
use tcu_engine::catalog::{Catalog, Value};
use tcu_engine::config::{VehicleConfig, VehicleOverrides};
use tcu_engine::sim::Vehicle;
use tcu_engine::world::driver::DriverProfile;

/// `target/release`: the benchmark lies in its `deps/`.
pub fn release_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the benchmark's path");
    exe.parent()
        .and_then(std::path::Path::parent)
        .expect("the benchmark lies two levels below the profile directory")
        .to_path_buf()
}

/// A vehicle with the six release plugins on the demo cycle at `air_c`.
pub fn vehicle(air_c: f64) -> Vehicle {
    let catalog = Catalog::builtin();
    let cli = VehicleOverrides {
        seed: Some(9),
        plugins_dir: Some(release_dir()),
        driver: Some(DriverProfile::Demo),
        ..Default::default()
    };
    let mut config = VehicleConfig::defaults_with(&cli, &catalog).expect("default config");
    config
        .signals
        .insert("Sim.Environment.AirTemperature".into(), Value::Float(air_c));
    let (v, rejected) = build_vehicle(&config, Arc::new(catalog)).expect("vehicle builds");
    assert!(
        rejected.is_empty() && v.plugins().len() == 6,
        "expected the six plugins in {} (cargo build --release -p tcu-plugin-...): {rejected:?}",
        release_dir().display()
    );
    v
}

/// The median of `xs`.
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}
