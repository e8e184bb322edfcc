//! Benchmark of one full tick (world model + six plugins): the plugins
//! loaded from their shared libraries against the very same plugin code
//! linked into this binary.
//!
//! Both paths go through the same host code and call the plugins through
//! the same descriptor function pointers, i.e. both cross the C ABI the
//! same way; only where those pointers lead differs (a library loaded with
//! `dlopen` from a private copy, or this executable). So the ratio is the
//! cost of running loaded code instead of linked code, not the cost of the
//! C ABI, which both pay alike. The plugin sources are included by path
//! because the libraries' exported descriptor symbols would clash if six
//! plugin rlibs were linked into one binary.
//!
//! Run: `cargo build --release && cargo bench -p tcu-engine --bench tick`
//! (the dynamic path loads the libraries from `target/release`).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../subsystems/abs/src/model.rs"]
#[allow(dead_code, unused_imports)]
mod abs;
#[path = "../../../subsystems/airbag/src/model.rs"]
#[allow(dead_code, unused_imports)]
mod airbag;
#[path = "../../../subsystems/battery/src/model.rs"]
#[allow(dead_code, unused_imports)]
mod battery;
#[path = "../../../subsystems/engine/src/model.rs"]
#[allow(dead_code, unused_imports)]
mod engine;
#[path = "../../../subsystems/heated-seats/src/model.rs"]
#[allow(dead_code, unused_imports)]
mod heated_seats;
#[path = "../../../subsystems/hvac/src/model.rs"]
#[allow(dead_code, unused_imports)]
mod hvac;

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tcu_engine::build::build_vehicle_with;
use tcu_engine::catalog::Catalog;
use tcu_engine::config::{VehicleConfig as Config, VehicleOverrides as Overrides};
use tcu_engine::plugin::{LoadReport, PluginLibrary, admit_library, load_dir};
use tcu_engine::sim::Vehicle;
use tcu_sdk::abi::TcuPluginDescriptor;

static STATIC_PLUGINS: [TcuPluginDescriptor; 6] = [
    tcu_sdk::descriptor::<abs::Abs>(),
    tcu_sdk::descriptor::<airbag::Airbag>(),
    tcu_sdk::descriptor::<battery::Battery>(),
    tcu_sdk::descriptor::<engine::Engine>(),
    tcu_sdk::descriptor::<heated_seats::HeatedSeats>(),
    tcu_sdk::descriptor::<hvac::Hvac>(),
];

const TICKS: u32 = 200_000;
const ROUNDS: usize = 7;

fn config() -> Config {
    Config::defaults_with(&Overrides::default(), &Catalog::builtin()).unwrap()
}

fn plugin_dir() -> PathBuf {
    // target/release/deps/tick-<hash> -> target/release
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|p| p.parent()).unwrap().to_path_buf()
}

fn dynamic_vehicle() -> Vehicle {
    let dir = plugin_dir();
    let (v, rejected) = build_vehicle_with(&config(), Arc::new(Catalog::builtin()), |bus| {
        Ok(load_dir(&dir, bus, 1).unwrap())
    })
    .unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(
        v.plugins().len(),
        6,
        "expected the six plugin libraries in {}: run `cargo build --release` first",
        dir.display()
    );
    v
}

fn static_vehicle() -> Vehicle {
    let (v, _) = build_vehicle_with(&config(), Arc::new(Catalog::builtin()), |bus| {
        let mut report = LoadReport::default();
        for d in &STATIC_PLUGINS {
            let lib = PluginLibrary::from_static(d, bus.catalog()).unwrap();
            let p = admit_library(lib, bus, 1, &report.plugins).unwrap();
            report.plugins.push(p);
        }
        Ok(report)
    })
    .unwrap();
    v
}

/// Nanoseconds per tick over `TICKS` ticks.
fn time_ticks(v: &mut Vehicle) -> f64 {
    let start = Instant::now();
    for _ in 0..TICKS {
        v.step();
    }
    black_box(v.bus().values());
    start.elapsed().as_nanos() as f64 / f64::from(TICKS)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let mut dynamic = dynamic_vehicle();
    let mut statik = static_vehicle();
    // Warm up both (caches, branch predictors, the demo cycle's first phase).
    time_ticks(&mut dynamic);
    time_ticks(&mut statik);
    let (mut d, mut s) = (Vec::new(), Vec::new());
    // Alternate the two so that machine noise hits both alike.
    for _ in 0..ROUNDS {
        d.push(time_ticks(&mut dynamic));
        s.push(time_ticks(&mut statik));
    }
    let (d, s) = (median(d), median(s));
    println!("full tick (world + 6 plugins), median of {ROUNDS} x {TICKS} ticks;");
    println!("both call the plugins through the same descriptor function pointers (C ABI):");
    let row = |label: &str, value: String| println!("  {label:<36}{value}");
    row("loaded (dlopen'ed libraries):", format!("{d:8.1} ns/tick"));
    row(
        "linked (same code in this binary):",
        format!("{s:8.1} ns/tick"),
    );
    row("loaded / linked:", format!("{:8.3}", d / s));
    row(
        "simulated/wall at 100 Hz (loaded):",
        format!("{:8.0}x", 1e9 / 100.0 / d),
    );
    assert_eq!(dynamic.faults(), 0, "plugin faults during the benchmark");
    assert_eq!(statik.faults(), 0, "plugin faults during the benchmark");
}
