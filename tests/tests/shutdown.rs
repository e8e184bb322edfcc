//! How `tcu run --headless` ends on SIGTERM, as systemd stops it: the tick
//! loop stops, the outbox is written to disk (and sent by the next start),
//! the OTA client stops with its action state saved, and the process exits
//! 0 in bounded time; a second SIGTERM exits at once.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;
use tcu_integration_tests::ddi_fake::{ActionSpec, ActionStatus, DdiFake, FakeArtifact, FakeChunk};
use tcu_integration_tests::mqtt::{Mosquitto, Subscriber, mosquitto_available, spawn_tcu_run};
use tcu_integration_tests::process::Running;

fn sigterm(tcu: &Running) {
    let pid = libc::pid_t::try_from(tcu.id()).unwrap();
    // SAFETY: kill(2) with a PID this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
}

fn config(vin: &str, port: u16, outbox: &Path) -> String {
    format!(
        "[vehicle]\nvin = \"{vin}\"\n[mqtt]\nbroker = \"mqtt://127.0.0.1:{port}\"\n\
         publish_period = \"200ms\"\noutbox_dir = \"{}\"\n",
        outbox.display()
    )
}

/// Bytes under `dir`, all files.
fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                total += e.metadata().map_or(0, |m| m.len());
            }
        }
    }
    total
}

#[test]
fn sigterm_with_the_broker_down_leaves_the_queue_in_the_outbox_and_the_next_start_sends_it() {
    assert!(mosquitto_available(), "mosquitto is not installed");
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path(), "");
    broker.stop();
    let outbox = dir.path().join("outbox");
    let first = dir.path().join("first");
    std::fs::create_dir_all(&first).unwrap();
    let mut tcu = spawn_tcu_run(
        &first,
        &config("WTCUZ00000000000A", broker.port, &outbox),
        &[],
    );
    tcu.wait_for("t=    2.0s", Duration::from_secs(60));
    sigterm(&tcu);
    let status = tcu.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{}", tcu.output());
    assert!(tcu.output().contains("stopped ticks="), "{}", tcu.output());
    assert!(bytes_under(&outbox) > 0, "nothing in the outbox on disk");

    // The next start (another VIN, same outbox) sends the first one's.
    broker.restart();
    let sub = Subscriber::connect(
        broker.port,
        "t-shutdown",
        "vehicle/WTCUZ00000000000A/telemetry",
        true,
    );
    let second = dir.path().join("second");
    std::fs::create_dir_all(&second).unwrap();
    let _tcu = spawn_tcu_run(
        &second,
        &config("WTCUZ00000000000B", broker.port, &outbox),
        &[],
    );
    let got = sub.collect(
        "vehicle/WTCUZ00000000000A/telemetry",
        Duration::from_secs(30),
        |m| m.len() >= 5,
    );
    assert!(
        got.len() >= 5,
        "the first run's telemetry: {} messages",
        got.len()
    );
}

/// A broker that accepts the connection and never acknowledges a publish:
/// the link's orderly stop waits for acknowledgements, so a shutdown takes
/// seconds.
fn silent_broker() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // CONNECT in, CONNACK (accepted) out, then nothing but reading.
                if s.read(&mut buf).unwrap_or(0) == 0 {
                    return;
                }
                let _ = s.write_all(&[0x20, 0x02, 0x00, 0x00]);
                while s.read(&mut buf).unwrap_or(0) > 0 {}
            });
        }
    });
    port
}

#[test]
fn a_second_sigterm_exits_at_once_without_waiting_for_the_orderly_stop() {
    let dir = tempfile::tempdir().unwrap();
    let port = silent_broker();
    let outbox = dir.path().join("outbox");
    let mut tcu = spawn_tcu_run(dir.path(), &config("WTCUZ00000000000C", port, &outbox), &[]);
    tcu.wait_for("MQTT connected", Duration::from_secs(60));
    tcu.wait_for("t=    1.0s", Duration::from_secs(60));
    sigterm(&tcu);
    tcu.wait_for("signal received: stopping", Duration::from_secs(10));
    sigterm(&tcu);
    let status = tcu.wait_exit(Duration::from_secs(5));
    let out = tcu.output();
    assert_eq!(status.code(), Some(tcu_cli::shutdown::FORCED_EXIT), "{out}");
    assert!(out.contains("second signal: exiting at once"), "{out}");
    // The orderly stop (2 s waiting for acknowledgements) never finished.
    assert!(!out.contains("stopped ticks="), "{out}");
}

#[test]
fn sigterm_during_an_ota_download_saves_the_action_state_and_flushes_the_outbox() {
    assert!(mosquitto_available(), "mosquitto is not installed");
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path(), "");
    broker.stop();
    let fake = DdiFake::start("WTCUZ00000000000D");
    // About 200 kB/s: the 2 MB artifact takes seconds.
    fake.throttle_downloads(4096, Duration::from_millis(20));
    let action = fake.add_action(ActionSpec::forced(vec![FakeChunk {
        part: "battery".into(),
        version: "2.0.0".into(),
        artifacts: vec![FakeArtifact::new("libbattery.so", vec![7u8; 2 << 20])],
    }]));
    let outbox = dir.path().join("outbox");
    let store = dir.path().join("store");
    let conf = format!(
        "{}[ota]\naction_poll_interval = \"200ms\"\n",
        config("WTCUZ00000000000D", broker.port, &outbox)
    );
    let mut tcu = spawn_tcu_run(
        dir.path(),
        &conf,
        &[
            "--store",
            store.to_str().unwrap(),
            "--ota-server",
            fake.url(),
            "--ota-poll",
            "200ms",
        ],
    );
    assert!(
        tcu_integration_tests::mqtt::wait_for(Duration::from_secs(60), || fake.served_bytes()
            > 100_000),
        "no download under way:\n{}",
        tcu.output()
    );
    sigterm(&tcu);
    let status = tcu.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{}", tcu.output());
    assert_eq!(fake.completed_downloads(), 0, "stopped before the end");
    assert_eq!(fake.status(action), ActionStatus::Open);
    let state = std::fs::read_to_string(store.join("ota/ota-state.json")).unwrap();
    assert!(state.contains("downloading"), "{state}");
    assert!(bytes_under(&outbox) > 0, "nothing in the outbox on disk");
}
