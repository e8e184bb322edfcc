//! `tcu run --headless --ticks-per-wake N`: the same ticks and the same
//! trace as one tick per wake-up (the status lines, which carry the
//! vehicle's state, are identical), and none counted late.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use std::time::Duration;
use tcu_integration_tests::process::{Running, tcu_command};

/// Runs 2 s headless without MQTT, `ticks_per_wake` ticks per wake-up; the
/// status lines (`t=` onwards) and the final line.
fn run(ticks_per_wake: u32) -> (Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tcu.toml");
    std::fs::write(&config, "[mqtt]\nenabled = false\n").unwrap();
    let mut cmd = tcu_command();
    cmd.args(["run", "--headless", "--seed", "7", "--duration", "2s"])
        .arg("--config")
        .arg(&config)
        .args(["--ticks-per-wake", &ticks_per_wake.to_string()]);
    let mut tcu = Running::start(cmd);
    let status = tcu.wait_exit(Duration::from_secs(60));
    let out = tcu.output();
    assert!(status.success(), "{out}");
    let statuses: Vec<String> = out
        .lines()
        .filter_map(|l| l.find("t=").map(|at| l[at..].to_owned()))
        .filter(|l| l.contains("speed="))
        .collect();
    let stopped = out
        .lines()
        .find(|l| l.contains("stopped"))
        .unwrap_or_else(|| panic!("no final line:\n{out}"))
        .to_owned();
    (statuses, stopped)
}

#[test]
fn ticks_run_in_bursts_give_the_same_trace_with_no_late_tick() {
    let (every_tick, _) = run(1);
    let (bursts, stopped) = run(10);
    assert!(every_tick.len() >= 2, "{every_tick:?}");
    assert_eq!(bursts, every_tick);
    assert!(
        stopped.contains("ticks=200")
            && stopped.contains("late=0")
            && stopped.contains("skipped=0"),
        "{stopped}"
    );
}
