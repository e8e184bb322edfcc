//! Recording overhead on the tick: the same vehicle (six release plugins,
//! demo cycle) stepped with and without the recording hook, rounds
//! alternating so machine noise hits all alike.
//!
//! Two ways, in one run:
//!
//! - *Paced* as `tcu run --record` runs: one tick every 10 ms, rounds of
//!   3 s alternating; the mean tick (step and hook, timed) and the
//!   process's CPU a second, the writer's included. After 10 ms asleep a
//!   tick finds its caches cold; this is the tick cost a recording drive
//!   pays, the figure against the target (≤ 1.2).
//! - *Flat out*: stepped as fast as they go, rounds of 102,400 ticks; the
//!   tick thread's wall time (the writer encodes and writes beside it on
//!   the other core, which on this machine slows the tick too, and drops
//!   rows when it falls a channel behind, printed), and the CPU time of
//!   every thread of the process a tick, the writer's included (the whole
//!   cost of recording hot).
//!
//! Run: `cargo build --release -p tcu-plugin-battery -p tcu-plugin-abs
//! -p tcu-plugin-engine -p tcu-plugin-airbag -p tcu-plugin-hvac
//! -p tcu-plugin-heated-seats && cargo bench -p tcu-vet --bench record_overhead`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};
use tcu_engine::record::{BATCH_ROWS, RecordSettings, Recorder};
use tcu_engine::sim::{TickHook, Vehicle};

/// Batches a round steps (102,400 ticks).
const BATCHES: usize = 1_600;
const ROUNDS: usize = 9;

/// One round's figures, per tick.
struct Round {
    /// The tick thread's wall time over the timed ticks.
    wall_ns: f64,
    /// CPU time of every thread of the process over the whole round.
    cpu_ns: f64,
}

/// CPU time of every thread of this process so far (the first field of
/// each `/proc/self/task/*/schedstat`, nanoseconds on the CPU).
fn process_cpu() -> Duration {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path().join("schedstat");
        // A thread may end between the listing and the read.
        if let Ok(text) = std::fs::read_to_string(&path) {
            ns += text
                .split_whitespace()
                .next()
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(ns)
}

/// Steps `v` flat out for a round, batch by batch; only the ticks (and
/// `hook`) are timed. The writer's backlog is written before the round
/// ends, so its CPU time is the round's.
fn round(v: &mut Vehicle, mut hook: Option<&mut Recorder>) -> Round {
    let cpu = process_cpu();
    let mut wall = Duration::ZERO;
    for _ in 0..BATCHES {
        let start = Instant::now();
        match hook.as_deref_mut() {
            Some(r) => {
                for _ in 0..BATCH_ROWS {
                    v.step();
                    r.after_tick(v, &[]);
                }
            }
            None => {
                for _ in 0..BATCH_ROWS {
                    v.step();
                }
            }
        }
        wall += start.elapsed();
    }
    // What the writer still holds belongs to this round.
    if let Some(r) = hook {
        r.settle();
    }
    black_box(v.bus().values());
    let ticks = (BATCHES * BATCH_ROWS) as f64;
    Round {
        wall_ns: wall.as_nanos() as f64 / ticks,
        cpu_ns: (process_cpu() - cpu).as_nanos() as f64 / ticks,
    }
}

/// Ticks of a paced round (3 s at 100 Hz) and paced rounds of each kind.
const PACED_TICKS: usize = 300;
const PACED_ROUNDS: usize = 6;

/// Steps `v` one tick every `dt` of wall time for a paced round: the mean
/// wall time of a tick (step and hook), and the process's CPU time a
/// second of the round.
fn paced_round(v: &mut Vehicle, mut hook: Option<&mut Recorder>) -> (f64, f64) {
    let dt = Duration::from_secs_f64(v.dt());
    let cpu = process_cpu();
    let begun = Instant::now();
    let mut deadline = begun;
    let mut ticking = Duration::ZERO;
    for _ in 0..PACED_TICKS {
        deadline += dt;
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let start = Instant::now();
        v.step();
        if let Some(r) = hook.as_deref_mut() {
            r.after_tick(v, &[]);
        }
        ticking += start.elapsed();
    }
    let cpu = (process_cpu() - cpu).as_secs_f64();
    (
        ticking.as_nanos() as f64 / PACED_TICKS as f64,
        cpu * 1e3 / begun.elapsed().as_secs_f64(),
    )
}

fn recorder(v: &Vehicle, path: std::path::PathBuf) -> Recorder {
    let settings = RecordSettings {
        path,
        max_bytes: 64 << 20,
        files: 2,
    };
    Recorder::new(settings, v, "WTCUZ000000000009", 9).unwrap()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut plain = common::vehicle(2.0);
    let mut recorded = common::vehicle(2.0);
    let mut rec = recorder(&recorded, dir.path().join("bench.trace"));
    // Warm-up: caches, the writer's first batches, the file's first pages.
    round(&mut plain, None);
    round(&mut recorded, Some(&mut rec));
    let warm_dropped = rec.dropped_rows();
    let (mut paced_bare, mut paced_recorded) = (Vec::new(), Vec::new());
    for _ in 0..PACED_ROUNDS {
        paced_bare.push(paced_round(&mut plain, None));
        paced_recorded.push(paced_round(&mut recorded, Some(&mut rec)));
    }
    let paced_dropped = rec.dropped_rows() - warm_dropped;
    let before_flat = rec.dropped_rows();
    let (mut bare, mut flat_out) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        bare.push(round(&mut plain, None));
        flat_out.push(round(&mut recorded, Some(&mut rec)));
    }
    let wall = |rs: &[Round]| common::median(rs.iter().map(|r| r.wall_ns).collect());
    let cpu = |rs: &[Round]| common::median(rs.iter().map(|r| r.cpu_ns).collect());
    let flat_dropped = rec.dropped_rows() - before_flat;
    let rows = ROUNDS * BATCHES * BATCH_ROWS;
    rec.finish().unwrap();
    let bytes = std::fs::metadata(dir.path().join("bench.trace"))
        .map(|m| m.len())
        .unwrap_or(0);
    let (b, f) = (wall(&bare), wall(&flat_out));
    let (bc, fc) = (cpu(&bare), cpu(&flat_out));
    let tick = |rs: &[(f64, f64)]| common::median(rs.iter().map(|r| r.0).collect());
    let per_s = |rs: &[(f64, f64)]| common::median(rs.iter().map(|r| r.1).collect());
    let (pb, pr) = (tick(&paced_bare), tick(&paced_recorded));
    println!(
        "tick (world + 6 release plugins, demo cycle at 2 °C), paced at 100 Hz as `tcu run` runs, medians of {PACED_ROUNDS} rounds x {PACED_TICKS} ticks:"
    );
    println!(
        "  tick: {pb:8.1} ns bare, {pr:8.1} ns recorded, {:.3} x (target <= 1.2)",
        pr / pb
    );
    println!(
        "  process CPU: {:.3} ms/s bare, {:.3} ms/s recorded, {:.3} x (the writer included; {paced_dropped} rows dropped)",
        per_s(&paced_bare),
        per_s(&paced_recorded),
        per_s(&paced_recorded) / per_s(&paced_bare)
    );
    println!(
        "flat out, medians of {ROUNDS} rounds x {} ticks:",
        BATCHES * BATCH_ROWS
    );
    println!(
        "  tick thread: {b:8.1} ns bare, {f:8.1} ns recorded, {:.3} x ({flat_dropped} of {rows} rows dropped by a writer behind)",
        f / b
    );
    println!(
        "  process CPU a tick: {bc:8.1} ns bare, {fc:8.1} ns recorded, {:.3} x (the writer included)",
        fc / bc
    );
    println!("  (the trace holds {bytes} bytes)");
}
