//! `scripts/fleet-knee` reads each bench run's table by column name: when
//! the bench gained its `processes` and `skipped` columns, the script, which
//! read cells by position, took the tick count for "late" and a latency for
//! "lost", and called a fleet that held perfectly the knee. And a sweep
//! whose first size already failed said "the largest fleet held is 0".

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

/// The sweep over `sizes` with a bench that prints the saved table.
fn sweep(dir: &std::path::Path, sizes: &[&str]) -> String {
    sweep_with(dir, "", sizes)
}

/// The sweep over `sizes` with a bench that runs `first` (shell, `$1` is
/// the size) and then prints the saved table.
fn sweep_with(dir: &std::path::Path, first: &str, sizes: &[&str]) -> String {
    let root = workspace_root();
    let bench = dir.join("bench");
    std::fs::write(
        &bench,
        format!(
            "#!/bin/sh\n{first}\ncat '{}'\n",
            root.join("tests/fixtures/knee/fleet-scale-5000-10000.md")
                .display()
        ),
    )
    .expect("writing the fake bench");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bench, std::fs::Permissions::from_mode(0o755))
        .expect("making the fake bench executable");
    let out = Command::new("bash")
        .arg(root.join("scripts/fleet-knee"))
        .args(sizes)
        .env("TCU_KNEE_BENCH", &bench)
        .output()
        .expect("running scripts/fleet-knee");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_sweep_whose_first_size_fails_says_no_size_held_instead_of_a_fleet_of_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = sweep(dir.path(), &["10000"]);
    assert!(
        out.contains("no size held: the knee is below 10000, the smallest tried"),
        "{out}"
    );
    assert!(!out.contains("held is 0"), "{out}");
    let out = sweep(dir.path(), &["5000", "10000"]);
    assert!(
        out.contains("the largest fleet held is 5000; the knee is below 10000"),
        "{out}"
    );
}

#[test]
fn a_bench_that_fails_at_a_size_makes_that_size_the_knee_instead_of_ending_the_sweep() {
    // The bench panics when a fleet never connects all its vehicles (the
    // machine is saturated); the sweep used to stop there with the bench's
    // exit status and no verdict.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = sweep_with(
        dir.path(),
        "[ \"$1\" = 5000 ] || { echo 'the fleet did not connect' >&2; exit 101; }",
        &["5000", "12500"],
    );
    assert!(
        out.contains("knee: 12500 vehicles: the bench failed (exit 101"),
        "{out}"
    );
    assert!(
        out.contains("the largest fleet held is 5000; the knee is below 12500"),
        "{out}"
    );
}
