//! Benchmark of a hot-swap on a running vehicle: how long the tick thread is
//! held by the ticks of a swap (begin, canary, commit) against ordinary
//! ticks, and how long a whole swap takes at 100 Hz.
//!
//! Each round swaps the battery to a fresh copy of its own library (a few
//! bytes appended, so the bytes, the store name and the `dlopen` are new
//! each time) through the full path: prepare (read, hash, descriptor,
//! staging, open; off the tick thread), then begin, canary and commit
//! between ticks. Probation is off so a round ends at commit.
//!
//! Run: `cargo build --release && cargo bench -p tcu-engine --bench swap`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use tcu_engine::build::build_vehicle;
use tcu_engine::catalog::Catalog;
use tcu_engine::config::{VehicleConfig as Config, VehicleOverrides as Overrides};
use tcu_engine::swap::store::Store;
use tcu_engine::swap::{SwapOutcome, SwapPolicy, prepare};

const ROUNDS: usize = 30;
const CANARY: u32 = 50;
const TICK_BUDGET: Duration = Duration::from_millis(10);

fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|p| p.parent()).unwrap().to_path_buf()
}

fn percentile(xs: &mut [Duration], p: f64) -> Duration {
    xs.sort();
    xs[((xs.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let tmp = std::env::temp_dir().join(format!("tcu-swap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let catalog = Catalog::builtin();
    let cli = Overrides {
        plugins_dir: Some(plugin_dir()),
        allow_unsigned: Some(true),
        store: Some(tmp.join("store")),
        ..Default::default()
    };
    let mut config = Config::defaults_with(&cli, &catalog).unwrap();
    config.hotswap.canary_ticks = CANARY;
    config.hotswap.probation = Duration::ZERO;
    let (mut v, rejected) = build_vehicle(&config, Arc::new(Catalog::builtin())).unwrap();
    assert!(
        rejected.is_empty() && v.plugins().len() == 6,
        "run `cargo build --release` first"
    );
    let policy = SwapPolicy::from_config(&config.hotswap).unwrap();
    let store = Store::open(&tmp.join("store")).unwrap();
    let original = std::fs::read(plugin_dir().join("libtcu_plugin_battery.so")).unwrap();

    // Ordinary ticks, for comparison.
    let mut plain: Vec<Duration> = (0..20_000)
        .map(|_| {
            let t = Instant::now();
            v.step();
            t.elapsed()
        })
        .collect();

    let mut swap_ticks: Vec<Duration> = Vec::new();
    let mut prepares = Vec::new();
    let mut worst_per_round = Vec::new();
    for round in 0..ROUNDS {
        let mut bytes = original.clone();
        bytes.extend_from_slice(format!("swap-bench-{}-{round}", std::process::id()).as_bytes());
        let file = tmp.join(format!("battery-{round}.so"));
        std::fs::write(&file, &bytes).unwrap();
        let t = Instant::now();
        let prepared = prepare(&[("battery".into(), file)], &policy, &catalog, &store);
        prepares.push(t.elapsed());
        let (tx, rx) = mpsc::channel();
        v.request_swap(prepared, Some(Box::new(move |o| tx.send(o).unwrap())));
        let mut worst = Duration::ZERO;
        loop {
            let t = Instant::now();
            v.step();
            let d = t.elapsed();
            swap_ticks.push(d);
            worst = worst.max(d);
            if let Ok(o) = rx.try_recv() {
                assert!(matches!(o, SwapOutcome::Passed(_)), "{o:?}");
                break;
            }
        }
        worst_per_round.push(worst);
    }
    v.swap_engine().flush_store();
    let _ = std::fs::remove_dir_all(&tmp);

    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let plain_max = plain.iter().max().copied().unwrap();
    let plain_p99 = percentile(&mut plain, 0.99);
    let swap_max = swap_ticks.iter().max().copied().unwrap();
    let swap_p99 = percentile(&mut swap_ticks, 0.99);
    let worst_median = percentile(&mut worst_per_round, 0.5);
    let prep_median = percentile(&mut prepares, 0.5);
    let total = prep_median + TICK_BUDGET * (CANARY + 1);
    println!("hot-swap of the battery library, {ROUNDS} rounds, canary {CANARY} ticks:");
    println!(
        "  ordinary tick:           p99 {:8.1} µs  max {:8.1} µs",
        us(plain_p99),
        us(plain_max)
    );
    println!(
        "  tick during a swap:      p99 {:8.1} µs  max {:8.1} µs",
        us(swap_p99),
        us(swap_max)
    );
    println!(
        "  longest tick per swap:   median {:8.1} µs (budget at 100 Hz: 1000 µs)",
        us(worst_median)
    );
    println!(
        "  prepare (off the tick thread): median {:8.1} µs",
        us(prep_median)
    );
    println!(
        "  whole swap at 100 Hz (prepare + canary + commit tick): {:.1} ms",
        total.as_secs_f64() * 1e3
    );
}
