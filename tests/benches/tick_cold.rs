//! What a tick costs when the vehicle's state is cold in the cache: N whole
//! vehicles (six plugins from `target/release`, opened once and shared as
//! `tcu fleet` shares them) stepped round robin, one tick each per round,
//! against one vehicle stepped alone (its state warm). No link, no
//! encoding: the vehicle's own tick only, the part of a fleet's CPU that
//! grows with the memory a tick touches.
//!
//! Run: `cargo build --release && cargo bench -p tcu-integration-tests --bench tick_cold -- [--vehicles 1000] [--rounds 1000] [--prefetch]`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tcu_engine::build::{build_vehicle_shared, open_plugins};
use tcu_engine::catalog::Catalog;
use tcu_engine::config::{VehicleConfig, VehicleOverrides};
use tcu_engine::sim::Vehicle;
use tcu_integration_tests::bench::{flag, release_dir};
use tcu_link::encode::TelemetryEncoder;

fn vehicles(n: u64) -> Vec<Vehicle> {
    let catalog = Arc::new(Catalog::builtin());
    let overrides = VehicleOverrides {
        plugins_dir: Some(release_dir()),
        tick_rate_hz: Some(10.0),
        ..VehicleOverrides::default()
    };
    let mut config = VehicleConfig::defaults_with(&overrides, &catalog).unwrap();
    let (libs, rejected) = open_plugins(&config, &catalog).unwrap();
    assert!(rejected.is_empty(), "rejected plugins: {rejected:?}");
    assert_eq!(libs.len(), 6, "build the plugins: cargo build --release");
    (0..n)
        .map(|i| {
            config.seed = i;
            build_vehicle_shared(&config, catalog.clone(), &libs)
                .unwrap()
                .0
        })
        .collect()
}

/// Nanoseconds per tick over `rounds` rounds of one tick of each vehicle,
/// each vehicle's telemetry encoded every `encode_every` ticks (0: never),
/// as its link encodes it; with `prefetch`, the next vehicle's state is
/// hinted to the cache before each tick, as a fleet worker does.
fn per_tick(fleet: &mut [Vehicle], rounds: u64, encode_every: u64, prefetch: bool) -> f64 {
    // 30 simulated seconds first, so every vehicle is moving.
    for v in fleet.iter_mut() {
        for _ in 0..300 {
            v.step();
        }
    }
    let mut encoders: Vec<_> = fleet
        .iter()
        .map(|v| TelemetryEncoder::new(v, "WTCUC000000000001", false))
        .collect();
    let mut bytes = 0usize;
    let start = Instant::now();
    for r in 1..=rounds {
        for k in 0..fleet.len() {
            if prefetch && let Some(next) = fleet.get(k + 1) {
                next.prefetch();
            }
            let (v, e) = (&mut fleet[k], &mut encoders[k]);
            v.step();
            if encode_every > 0 && r % encode_every == 0 {
                bytes += e.encode(v.bus(), r, SystemTime::now()).len();
            }
        }
    }
    std::hint::black_box(bytes);
    start.elapsed().as_nanos() as f64 / (rounds * fleet.len() as u64) as f64
}

fn main() {
    let n: u64 = flag("--vehicles", 1000);
    let rounds: u64 = flag("--rounds", 1000);
    let prefetch = std::env::args().any(|a| a == "--prefetch");
    println!("| vehicles stepped | ns per tick | with telemetry encoded every 10 ticks |");
    println!("|---|---|---|");
    let mut ratio = Vec::new();
    for (label, count, r) in [
        ("1 (warm)", 1, rounds * n),
        ("round robin (cold)", n, rounds),
    ] {
        let step = per_tick(&mut vehicles(count), r, 0, prefetch);
        let encoded = per_tick(&mut vehicles(count), r, 10, prefetch);
        println!("| {label}: {count} | {step:.0} | {encoded:.0} |");
        ratio.push((step, encoded));
    }
    println!(
        "cold / warm: {:.2} (step), {:.2} (with encoding)",
        ratio[1].0 / ratio[0].0,
        ratio[1].1 / ratio[0].1
    );
}
