//! Processes started by the tests' helpers end with the test or bench that
//! started them, even when it is killed by a signal and runs no `Drop`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `pid` is still a process that has not ended (a zombie waiting
/// for its reaper has ended).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
fn a_server_started_by_a_bench_killed_by_a_signal_does_not_outlive_it() {
    let mut owner = Command::new(env!("CARGO_BIN_EXE_owned-child"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting owned-child");
    let mut line = String::new();
    BufReader::new(owner.stdout.take().expect("its stdout"))
        .read_line(&mut line)
        .expect("reading the child's PID");
    let child: u32 = line.trim().parse().expect("a PID");
    assert!(running(child), "sleep {child} did not start");
    // SIGKILL: no destructor, no handler runs in the owner.
    owner.kill().expect("killing owned-child");
    owner.wait().expect("reaping owned-child");
    let end = Instant::now() + Duration::from_secs(10);
    while running(child) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    let still = running(child);
    if still {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(child.to_string())
            .status();
    }
    assert!(
        !still,
        "sleep {child} still runs 10 s after its owner was killed"
    );
}
