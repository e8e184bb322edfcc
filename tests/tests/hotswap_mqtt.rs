//! A hot-swap seen from the broker: while `tcu run` swaps its battery in
//! real time at 100 Hz, telemetry keeps coming with no gap in `seq`, the
//! swap is published on the events topic with subsystem and versions, and
//! the retained status lists the new version.

// Helpers here are test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use std::time::Duration;
use tcu_integration_tests::mqtt::{Mosquitto, Subscriber, mosquitto_available};
use tcu_integration_tests::process::Running;
use tcu_integration_tests::variants;

const VIN: &str = "WTCUZ000000000042";

#[test]
fn a_swap_leaves_no_telemetry_gap_and_is_published() {
    assert!(
        mosquitto_available(),
        "mosquitto is not installed; ./scripts/test installs it"
    );
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(tmp.path(), "");
    let sub = Subscriber::connect(broker.port, "t-swap", "vehicle/#", true);
    let watch = tmp.path().join("watch");
    std::fs::create_dir_all(&watch).unwrap();
    let v2 = variants::battery_variant("v2", &tmp.path().join("v2.so"));
    let config = tmp.path().join("tcu.toml");
    std::fs::write(
        &config,
        format!(
            "[vehicle]\nvin = \"{VIN}\"\n[hotswap]\ncanary_ticks = 20\nprobation = \"1s\"\n\
             [mqtt]\nbroker = \"mqtt://127.0.0.1:{}\"\npublish_period = \"100ms\"\noutbox_dir = \"{}\"\n",
            broker.port,
            tmp.path().join("outbox").display()
        ),
    )
    .unwrap();
    let mut cmd = tcu_integration_tests::process::tcu_command();
    cmd.args([
        "run",
        "--headless",
        "--allow-unsigned",
        "--duration",
        "5s",
        "--config",
    ])
    .arg(&config)
    .arg("--watch")
    .arg(&watch);
    let mut tcu = Running::start(cmd);
    tcu.wait_for(
        "watching for rebuilt plugin libraries",
        Duration::from_secs(20),
    );
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::copy(&v2, watch.join("libbattery.so")).unwrap();

    let root = format!("vehicle/{VIN}");
    let mut seqs = Vec::new();
    let mut events = Vec::new();
    let mut statuses = Vec::new();
    let end = std::time::Instant::now() + Duration::from_secs(30);
    let mut quiet_after_exit = 0;
    while std::time::Instant::now() < end && quiet_after_exit < 5 {
        let Some((topic, payload)) = sub.next(Duration::from_millis(200)) else {
            if tcu.exited() {
                quiet_after_exit += 1;
            }
            continue;
        };
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        if topic == format!("{root}/telemetry") {
            seqs.push(v["seq"].as_u64().unwrap());
        } else if topic == format!("{root}/events") {
            events.push(v);
        } else if topic == format!("{root}/status") {
            statuses.push(v);
        }
    }
    let status = tcu.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{}", tcu.output());
    // 5 s at 10 Hz: every snapshot, one after the other, through the swap.
    assert!(
        seqs.len() >= 45,
        "{} telemetry messages: {seqs:?}",
        seqs.len()
    );
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1, "gap in seq: {seqs:?}");
    }
    let swapped = events
        .iter()
        .find(|e| e["type"] == "plugin.swapped")
        .unwrap_or_else(|| panic!("no plugin.swapped event in {events:?}"));
    assert_eq!(
        (&swapped["subsystem"], &swapped["from"], &swapped["to"]),
        (&"battery".into(), &"1.0.0".into(), &"2.0.0".into()),
        "{swapped}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "plugin.probation_passed"),
        "{events:?}"
    );
    let latest_online = statuses
        .iter()
        .rev()
        .find(|s| s["status"] == "online")
        .expect("an online status");
    assert!(
        latest_online.to_string().contains("2.0.0"),
        "status lists the new version: {latest_online}"
    );
}
