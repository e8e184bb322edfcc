//! `scripts/fleet-knee` reads each bench run's table by column name: when
//! the bench gained its `processes` and `skipped` columns, the script, which
//! read cells by position, took the tick count for "late" and a latency for
//! "lost", and called a fleet that held perfectly the knee.

use std::process::Command;
use tcu_integration_tests::fixtures::workspace_root;

/// The script's verdict on the saved table for `size` vehicles.
fn verdict(size: &str, extra: &[&str]) -> String {
    let root = workspace_root();
    let out = Command::new("bash")
        .arg(root.join("scripts/fleet-knee"))
        .arg("--check-table")
        .arg(root.join("tests/fixtures/knee/fleet-scale-5000-10000.md"))
        .arg(size)
        .args(extra)
        .output()
        .expect("running scripts/fleet-knee");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn the_knee_script_reads_late_ticks_loss_and_p99_by_column_name_not_position() {
    // The saved tables of a real sweep (2026-12-02): 5,000 vehicles held
    // (nothing late or lost, p99 3 ms), 10,000 did not.
    assert_eq!(
        verdict("5000", &[]),
        "held: 5000 vehicles gave late=0 lost=0 p99=3 ms"
    );
    assert_eq!(
        verdict("10000", &[]),
        "knee: 10000 vehicles gave late=235371 lost=0 p99=61235 ms"
    );
    // A row that held, against a p99 target it misses, is the knee.
    assert_eq!(
        verdict("5000", &["--target-p99-ms", "2"]),
        "knee: 5000 vehicles gave late=0 lost=0 p99=3 ms"
    );
    // No row for the size is a knee that says so, never a fleet held.
    let none = verdict("2000", &[]);
    assert!(
        none.starts_with("knee: no complete row for 2000 vehicles"),
        "{none}"
    );
}
