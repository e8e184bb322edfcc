//! Benchmark of a hot-swap on a running vehicle, with signatures as in
//! production: how long the tick thread is held by the ticks of a swap
//! (begin, canary, commit) against ordinary ticks, what the signature check
//! and the preparation cost, and how long a whole swap takes, timed from
//! the start of its preparation until its outcome arrives.
//!
//! A key pair is made in a temporary directory; the six release plugins are
//! copied there and signed (with trusted keys the vehicle runs only
//! libraries that verify), and so is every new battery library. Each round
//! swaps the battery to a fresh copy of its own library (a few bytes
//! appended, so the bytes, the signature, the store name and the `dlopen`
//! are new each time) through the full path: prepare (read, signature,
//! open, staging; off the tick thread), then begin, canary and commit
//! between ticks. Probation is off so a round ends at commit.
//!
//! The whole swap is timed twice: stepping as fast as the vehicle goes
//! (what the swap itself costs), and paced by the real clock at 100 Hz
//! through the vehicle's own tick loop (what a running TCU waits).
//!
//! Run: `cargo build --release && cargo bench -p tcu-engine --bench swap`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use tcu_engine::build::build_vehicle;
use tcu_engine::catalog::Catalog;
use tcu_engine::config::{VehicleConfig as Config, VehicleOverrides as Overrides};
use tcu_engine::sim::clock::RealClock;
use tcu_engine::sim::{Event, RunSettings, TickHook, Vehicle};
use tcu_engine::swap::store::Store;
use tcu_engine::swap::{SwapOutcome, SwapPolicy, prepare, sign};

const ROUNDS: usize = 30;
const PACED_ROUNDS: usize = 5;
const CANARY: u32 = 50;
const PLUGINS: [&str; 6] = [
    "libtcu_plugin_battery.so",
    "libtcu_plugin_abs.so",
    "libtcu_plugin_engine.so",
    "libtcu_plugin_airbag.so",
    "libtcu_plugin_hvac.so",
    "libtcu_plugin_heated_seats.so",
];

fn release_dir() -> PathBuf {
    // target/release/deps/swap-<hash> -> target/release
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|p| p.parent()).unwrap().to_path_buf()
}

fn percentile(xs: &mut [Duration], p: f64) -> Duration {
    xs.sort();
    xs[((xs.len() - 1) as f64 * p).round() as usize]
}

/// The six release plugins copied into `dir` and signed with `key`.
fn signed_plugins(key: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for file in PLUGINS {
        let from = release_dir().join(file);
        assert!(
            from.is_file(),
            "{} missing: run `cargo build --release` first",
            from.display()
        );
        std::fs::copy(&from, dir.join(file)).unwrap();
        sign::sign_file(key, &dir.join(file)).unwrap();
    }
    dir.to_owned()
}

/// A new battery library for round `round`: other bytes, its own signature.
fn new_battery(original: &[u8], key: &Path, dir: &Path, round: usize) -> PathBuf {
    let mut bytes = original.to_vec();
    bytes.extend_from_slice(format!("swap-bench-{}-{round}", std::process::id()).as_bytes());
    let file = dir.join(format!("battery-{round}.so"));
    std::fs::write(&file, &bytes).unwrap();
    sign::sign_file(key, &file).unwrap();
    file
}

/// Stops the tick loop once the swap's outcome has arrived.
struct UntilOutcome {
    rx: mpsc::Receiver<SwapOutcome>,
    stop: Arc<AtomicBool>,
    done: Option<(SwapOutcome, Instant)>,
}

impl TickHook for UntilOutcome {
    fn after_tick(&mut self, _vehicle: &Vehicle, _events: &[Event]) {
        if self.done.is_none()
            && let Ok(o) = self.rx.try_recv()
        {
            self.done = Some((o, Instant::now()));
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

struct Bench {
    vehicle: Vehicle,
    policy: SwapPolicy,
    catalog: Catalog,
    store: Store,
    original: Vec<u8>,
    key: PathBuf,
    dir: PathBuf,
}

impl Bench {
    fn new(tmp: &Path) -> Self {
        let key = tmp.join("bench.key");
        let public = tmp.join("bench.pub");
        sign::keygen(&key, &public).unwrap();
        let plugins = signed_plugins(&key, &tmp.join("plugins"));
        let catalog = Catalog::builtin();
        let cli = Overrides {
            plugins_dir: Some(plugins.clone()),
            allow_unsigned: Some(false),
            store: Some(tmp.join("store")),
            ..Default::default()
        };
        let mut config = Config::defaults_with(&cli, &catalog).unwrap();
        config.hotswap.canary_ticks = CANARY;
        config.hotswap.probation = Duration::ZERO;
        config.hotswap.trusted_keys = vec![public.display().to_string()];
        let (vehicle, rejected) = build_vehicle(&config, Arc::new(Catalog::builtin())).unwrap();
        assert!(
            rejected.is_empty() && vehicle.plugins().len() == 6,
            "the six signed plugins load: {rejected:?}"
        );
        Self {
            vehicle,
            policy: SwapPolicy::from_config(&config.hotswap).unwrap(),
            store: Store::open(&tmp.join("store")).unwrap(),
            original: std::fs::read(plugins.join("libtcu_plugin_battery.so")).unwrap(),
            catalog,
            key,
            dir: tmp.to_owned(),
        }
    }

    /// Prepares the swap of round `round` and queues it; returns when the
    /// preparation ended and the channel of its outcome.
    fn request(&mut self, round: usize) -> (Duration, mpsc::Receiver<SwapOutcome>) {
        let file = new_battery(&self.original, &self.key, &self.dir, round);
        let t = Instant::now();
        let prepared = prepare(
            &[("battery".into(), file)],
            &self.policy,
            &self.catalog,
            &self.store,
        );
        let took = t.elapsed();
        let (tx, rx) = mpsc::channel();
        self.vehicle
            .request_swap(prepared, Some(Box::new(move |o| tx.send(o).unwrap())));
        (took, rx)
    }
}

fn main() {
    let tmp = std::env::temp_dir().join(format!("tcu-swap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut b = Bench::new(&tmp);

    // Ordinary ticks, for comparison.
    let mut plain: Vec<Duration> = (0..20_000)
        .map(|_| {
            let t = Instant::now();
            b.vehicle.step();
            t.elapsed()
        })
        .collect();

    // The signature check alone, on the bytes prepare verifies.
    let mut verifies: Vec<Duration> = (0..ROUNDS)
        .map(|round| {
            let file = new_battery(&b.original, &b.key, &tmp, 1000 + round);
            let bytes = std::fs::read(&file).unwrap();
            let t = Instant::now();
            sign::verify_bytes(&file, &bytes, &b.policy.keys).unwrap();
            t.elapsed()
        })
        .collect();

    let mut swap_ticks: Vec<Duration> = Vec::new();
    let mut prepares = Vec::new();
    let mut wholes = Vec::new();
    let mut worst_per_round = Vec::new();
    let mut ticks_per_swap = Vec::new();
    for round in 0..ROUNDS {
        let start = Instant::now();
        let (took, rx) = b.request(round);
        prepares.push(took);
        let first = b.vehicle.ticks();
        let mut worst = Duration::ZERO;
        loop {
            let t = Instant::now();
            b.vehicle.step();
            let d = t.elapsed();
            swap_ticks.push(d);
            worst = worst.max(d);
            if let Ok(o) = rx.try_recv() {
                wholes.push(start.elapsed());
                ticks_per_swap.push(b.vehicle.ticks() - first);
                assert!(matches!(o, SwapOutcome::Passed(_)), "{o:?}");
                break;
            }
        }
        worst_per_round.push(worst);
    }

    // Paced at 100 Hz by the vehicle's own tick loop, as `tcu run` runs it.
    let mut paced = Vec::new();
    for round in 0..PACED_ROUNDS {
        let start = Instant::now();
        let (_, rx) = b.request(ROUNDS + round);
        let stop = Arc::new(AtomicBool::new(false));
        let mut hook = UntilOutcome {
            rx,
            stop: stop.clone(),
            done: None,
        };
        let settings = RunSettings {
            duration: Some(Duration::from_secs(30)),
        };
        tcu_engine::sim::run(
            &mut b.vehicle,
            &mut RealClock::new(),
            &settings,
            &stop,
            &mut hook,
        );
        let (o, at) = hook.done.expect("an outcome within 30 s at 100 Hz");
        assert!(matches!(o, SwapOutcome::Passed(_)), "{o:?}");
        paced.push(at - start);
    }
    b.vehicle.swap_engine().flush_store();
    let _ = std::fs::remove_dir_all(&tmp);

    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let plain_max = plain.iter().max().copied().unwrap();
    let plain_p99 = percentile(&mut plain, 0.99);
    let swap_max = swap_ticks.iter().max().copied().unwrap();
    let swap_p99 = percentile(&mut swap_ticks, 0.99);
    let worst_median = percentile(&mut worst_per_round, 0.5);
    let verify_median = percentile(&mut verifies, 0.5);
    let prep_median = percentile(&mut prepares, 0.5);
    let whole_median = percentile(&mut wholes, 0.5);
    ticks_per_swap.sort_unstable();
    let swap_ticks_median = ticks_per_swap[ticks_per_swap.len() / 2];
    let (paced_min, paced_max) = (
        paced.iter().min().copied().unwrap(),
        paced.iter().max().copied().unwrap(),
    );
    let paced_median = percentile(&mut paced, 0.5);
    println!(
        "hot-swap of the battery library, signed (ed25519, trusted key configured), \
         {ROUNDS} rounds, canary {CANARY} ticks, no probation:"
    );
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
        "  signature check alone (ed25519 over the library's bytes): median {:8.1} µs",
        us(verify_median)
    );
    println!(
        "  prepare (read, signature, open, staging with fsync; off the tick thread): median {:8.1} µs",
        us(prep_median)
    );
    println!(
        "  whole swap, timed, ticks unpaced (prepare to outcome, {swap_ticks_median} ticks): median {:8.1} ms",
        ms(whole_median)
    );
    println!(
        "  whole swap, timed, paced at 100 Hz by the tick loop ({PACED_ROUNDS} rounds): \
         median {:.1} ms (min {:.1}, max {:.1})",
        ms(paced_median),
        ms(paced_min),
        ms(paced_max)
    );
}
