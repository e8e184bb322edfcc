//! Benchmark of the scenario engine: a one-hour drive at 100 Hz with the six
//! plugins, in virtual time, through the whole scenario runner (timeline,
//! expectations, control path; no trace). Prints the ratio of simulated to
//! wall-clock time; the target is at least 10,000x (an hour in 0.36 s).
//!
//! Run: `cargo build --release && cargo bench -p tcu-scenario --bench scenario_hour`
//! (the plugins are loaded from `target/release`).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tcu_engine::catalog::Catalog;
use tcu_scenario::{self as scenario, RunOptions};

const ROUNDS: usize = 5;

/// An hour of mixed driving: a 60 s city cycle repeated, with regen stops,
/// a cold ambient and the HVAC working, and expectations sampled every tick.
fn scenario_text() -> String {
    let mut s = String::from(
        r#"name = "one hour"
seed = 3
tick_rate_hz = 100
duration = 3600.0
[occupants]
"Row1.DriverSide" = "belted"
"Row1.PassengerSide" = "belted"
[[environment]]
at = 0.0
air_temperature = -5.0
road_friction = 0.8
[[expect]]
signal = "Vehicle.Speed"
below = 200.0
always = true
[[expect]]
signal = "Vehicle.ADAS.ABS.IsError"
equals = false
always = true
[[expect]]
signal = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
decreases_by = 1.0
[[expect]]
event = "fault"
never = true
"#,
    );
    for cycle in 0..60 {
        let t = f64::from(cycle) * 60.0;
        s.push_str(&format!(
            "[[step]]\nat = {t}\nset = {{ \"Sim.Driver.BrakePedal\" = 0, \"Sim.Driver.AcceleratorPedal\" = 25 }}\n\
             [[step]]\nat = {}\nramp = {{ signal = \"Sim.Driver.AcceleratorPedal\", to = 4, over = 5.0 }}\n\
             [[step]]\nat = {}\nset = {{ \"Sim.Driver.AcceleratorPedal\" = 0, \"Sim.Driver.BrakePedal\" = 25 }}\n",
            t + 12.0,
            t + 40.0
        ));
    }
    s
}

/// CPU time (user + system) of this thread, s, from
/// `/proc/thread-self/stat` (Linux, 10 ms resolution): on a busy machine the
/// wall clock also counts the time other processes had the CPU, this does
/// not.
fn cpu_time() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which is in parentheses): state is
    // field 3, utime 14 and stime 15.
    let rest = text.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn plugin_dir() -> PathBuf {
    // target/release/deps/scenario_hour-<hash> -> target/release
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn main() {
    let catalog = Arc::new(Catalog::builtin());
    let sc = scenario::parse(Path::new("one-hour.toml"), &scenario_text(), &catalog)
        .expect("benchmark scenario parses");
    let opts = RunOptions {
        plugins_dir: Some(plugin_dir()),
        ..RunOptions::default()
    };
    let mut ratios = Vec::new();
    let mut walls = Vec::new();
    let mut cpu_ratios = Vec::new();
    for _ in 0..ROUNDS {
        let cpu0 = cpu_time();
        let r = scenario::run_scenario(&sc, catalog.clone(), &opts);
        if let (Some(a), Some(b)) = (cpu0, cpu_time()) {
            cpu_ratios.push(r.simulated / (b - a));
        }
        assert!(
            r.error.is_none(),
            "{:?} (run `cargo build --release` first)",
            r.error
        );
        assert!(r.failures().next().is_none(), "{:#?}", r.cases);
        walls.push(r.wall.as_secs_f64());
        ratios.push(r.simulated / r.wall.as_secs_f64());
    }
    walls.sort_by(f64::total_cmp);
    ratios.sort_by(f64::total_cmp);
    println!("one-hour drive at 100 Hz, six plugins, virtual time, median of {ROUNDS} runs:");
    println!("  wall time:          {:8.3} s", walls[ROUNDS / 2]);
    println!("  simulated/wall:     {:8.0}x", ratios[ROUNDS / 2]);
    println!(
        "  (best {:.0}x, worst {:.0}x)",
        ratios[ROUNDS - 1],
        ratios[0]
    );
    if cpu_ratios.len() == ROUNDS {
        cpu_ratios.sort_by(f64::total_cmp);
        println!(
            "  simulated/CPU time: {:8.0}x (this thread's CPU time only: what the run costs without contention)",
            cpu_ratios[ROUNDS / 2]
        );
    }
}
