//! `tcu run --headless` as a `Type=notify` service: with `NOTIFY_SOCKET`
//! pointing at a socket of this test's own it sends `READY=1`, then
//! `WATCHDOG=1` pings from the tick loop; a stalled tick loop stops them.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};
use tcu_integration_tests::process::Running;

/// Datagrams received within `window`.
fn receive_for(sock: &UnixDatagram, window: Duration) -> Vec<String> {
    let end = Instant::now() + window;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while Instant::now() < end {
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

fn start(dir: &std::path::Path, stall_after: Option<u64>) -> (Running, UnixDatagram) {
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let mut cmd = tcu_integration_tests::process::tcu_command();
    cmd.args(["run", "--headless", "--duration", "60s"])
        .env("NOTIFY_SOCKET", &path)
        // Half of it: a ping every 200 ms.
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .env_remove("INVOCATION_ID")
        .env_remove("STATE_DIRECTORY");
    std::fs::write(dir.join("tcu.toml"), "[mqtt]\nenabled = false\n").unwrap();
    cmd.arg("--config").arg(dir.join("tcu.toml"));
    if let Some(n) = stall_after {
        cmd.env("TCU_STALL_TICK_LOOP_AFTER", n.to_string());
    }
    (Running::start(cmd), sock)
}

#[test]
fn a_notify_socket_gets_ready_then_watchdog_pings_from_the_tick_loop() {
    let dir = tempfile::tempdir().unwrap();
    let (tcu, sock) = start(dir.path(), None);
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = sock
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("{e}\n{}", tcu.output()));
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(first.starts_with("READY=1"), "{first:?}");
    let got = receive_for(&sock, Duration::from_secs(2));
    let pings = got.iter().filter(|m| *m == "WATCHDOG=1").count();
    // 2 s at one ping per 200 ms; a loaded machine may lose a few.
    assert!(pings >= 4, "{got:?}");
}

#[test]
fn a_stalled_tick_loop_stops_the_watchdog_pings() {
    let dir = tempfile::tempdir().unwrap();
    // 100 ticks a second: stalled after 1 s.
    let (tcu, sock) = start(dir.path(), Some(100));
    tcu.wait_for("tick loop stalled", Duration::from_secs(60));
    // Whatever was sent before the stall is read first.
    let _ = receive_for(&sock, Duration::from_millis(300));
    let got = receive_for(&sock, Duration::from_secs(2));
    assert!(
        !got.iter().any(|m| m == "WATCHDOG=1"),
        "pings while stalled: {got:?}"
    );
}
