//! Vetting speed: an hour of the demo cycle at 2 °C recorded (six release
//! plugins, 100 Hz), then the battery vetted on it against a copy of
//! itself: simulated seconds per wall second of the whole vetting (reading
//! the trace, both instances, comparison), target ≥ 10,000. Beside it, in
//! the same run, reading the trace alone (the bare alternative), to show
//! what share the replay itself takes.
//!
//! Run: `cargo build --release -p tcu-plugin-battery -p tcu-plugin-abs
//! -p tcu-plugin-engine -p tcu-plugin-airbag -p tcu-plugin-hvac
//! -p tcu-plugin-heated-seats && cargo bench -p tcu-vet --bench vet_hour`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Instant;
use tcu_engine::catalog::Catalog;
use tcu_engine::record::{RecordSettings, Recorder, TraceReader};
use tcu_engine::sim::TickHook;
use tcu_vet::{Pair, Tolerances};

const HOUR_TICKS: u64 = 360_000;
const ROUNDS: usize = 5;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("hour.trace");
    let mut v = common::vehicle(2.0);
    let settings = RecordSettings {
        path: trace.clone(),
        max_bytes: 1 << 40,
        files: 1,
    };
    let mut r = Recorder::new(settings, &v, "WTCUZ000000000009", 9)
        .unwrap()
        .wait_when_behind();
    for _ in 0..HOUR_TICKS {
        v.step();
        r.after_tick(&v, &[]);
    }
    r.finish().unwrap();
    let bytes = std::fs::metadata(&trace).unwrap().len();

    let catalog = Arc::new(Catalog::builtin());
    let lib = common::release_dir().join("libtcu_plugin_battery.so");
    let copy = dir.path().join("candidate.so");
    std::fs::copy(&lib, &copy).unwrap();
    let pair = Pair::open(&lib, &copy, &catalog).unwrap();
    let traces = vec![trace.clone()];
    let (mut vet_s, mut read_s) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let report = tcu_vet::vet(
            &pair,
            &traces,
            &Tolerances::default(),
            &catalog,
            &mut || start.elapsed(),
        )
        .unwrap();
        vet_s.push(start.elapsed().as_secs_f64());
        assert!(report.passed, "{}", report.to_table());
        last = Some(report);

        let start = Instant::now();
        let mut reader = TraceReader::open(&trace).unwrap();
        let wanted: Vec<String> = pair
            .current
            .info()
            .reads
            .iter()
            .map(|s| s.path.clone())
            .collect();
        reader.select(|c| wanted.iter().any(|w| w == c));
        let mut rows = 0u64;
        while reader.next_row().unwrap().is_some() {
            rows += 1;
        }
        assert_eq!(rows, HOUR_TICKS);
        read_s.push(start.elapsed().as_secs_f64());
    }
    let report = last.unwrap();
    let t = &report.traces[0];
    let (vet, read) = (common::median(vet_s), common::median(read_s));
    let simulated = HOUR_TICKS as f64 / 100.0;
    println!(
        "battery vetted on one hour at 100 Hz ({} MB trace), median of {ROUNDS}:",
        bytes / 1_000_000
    );
    println!(
        "  whole vetting:       {vet:8.3} s wall = {:10.0} simulated s per wall s",
        simulated / vet
    );
    println!(
        "  reading the trace:   {read:8.3} s wall ({:.0} % of the vetting)",
        100.0 * read / vet
    );
    println!(
        "  tick cost (last round): current {:.0} ns, candidate {:.0} ns",
        t.tick_cost.current_ns, t.tick_cost.candidate_ns
    );
}
