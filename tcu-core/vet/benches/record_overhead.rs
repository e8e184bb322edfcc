//! Recording overhead on the tick: the same vehicle (six release plugins,
//! demo cycle) stepped with and without the recording hook, rounds
//! alternating so machine noise hits both alike; the figure is the ratio
//! of the medians of the tick thread's wall time (target ≤ 1.2). The
//! writer thread encodes and writes on another core when there is one; the
//! rows it had to drop (a tick loop far faster than real time can outrun
//! it) are printed.
//!
//! Run: `cargo build --release -p tcu-plugin-battery -p tcu-plugin-abs
//! -p tcu-plugin-engine -p tcu-plugin-airbag -p tcu-plugin-hvac
//! -p tcu-plugin-heated-seats && cargo bench -p tcu-vet --bench record_overhead`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;
use std::time::Instant;
use tcu_engine::record::{RecordSettings, Recorder};
use tcu_engine::sim::{TickHook, Vehicle};

const TICKS: u32 = 100_000;
const ROUNDS: usize = 7;

fn bare(v: &mut Vehicle) -> f64 {
    let start = Instant::now();
    for _ in 0..TICKS {
        v.step();
    }
    black_box(v.bus().values());
    start.elapsed().as_nanos() as f64 / f64::from(TICKS)
}

fn recorded(v: &mut Vehicle, r: &mut Recorder) -> f64 {
    let start = Instant::now();
    for _ in 0..TICKS {
        v.step();
        r.after_tick(v, &[]);
    }
    start.elapsed().as_nanos() as f64 / f64::from(TICKS)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.trace");
    let mut plain = common::vehicle(2.0);
    let mut rec = common::vehicle(2.0);
    let settings = RecordSettings {
        path: path.clone(),
        max_bytes: 64 << 20,
        files: 2,
    };
    let mut recorder = Recorder::new(settings.clone(), &rec, "WTCUZ000000000009", 9).unwrap();
    // The same with the tick waiting for the writer whenever it is behind:
    // the whole cost of recording, whichever thread pays it.
    let mut waiting = common::vehicle(2.0);
    let settings = RecordSettings {
        path: dir.path().join("waiting.trace"),
        ..settings
    };
    let mut waiter = Recorder::new(settings, &waiting, "WTCUZ000000000009", 9)
        .unwrap()
        .wait_when_behind();
    bare(&mut plain);
    recorded(&mut rec, &mut recorder);
    recorded(&mut waiting, &mut waiter);
    let (mut b, mut r, mut w) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        b.push(bare(&mut plain));
        r.push(recorded(&mut rec, &mut recorder));
        w.push(recorded(&mut waiting, &mut waiter));
    }
    waiter.finish().unwrap();
    let w = common::median(w);
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let rows = rec.ticks();
    let dropped = recorder.dropped_rows();
    recorder.finish().unwrap();
    let (b, r) = (common::median(b), common::median(r));
    println!(
        "tick (world + 6 release plugins, demo cycle at 2 °C), median of {ROUNDS} x {TICKS} ticks:"
    );
    println!("  without recording:  {b:8.1} ns/tick");
    println!("  with recording:     {r:8.1} ns/tick");
    println!("  recorded / bare:    {:8.3}", r / b);
    println!(
        "  tick waiting for the writer when behind: {w:8.1} ns/tick, {:.3} x bare",
        w / b
    );
    println!(
        "  ({rows} ticks recorded, {dropped} rows dropped by a writer behind; the current file holds {bytes} bytes)"
    );
}
