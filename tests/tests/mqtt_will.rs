//! The last will after a hot swap, seen from a real mosquitto: the will is
//! fixed when a connection is made, so after a swap the next connection
//! must carry the versions that run now, not those of the start.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::time::Duration;
use tcu_integration_tests::mqtt::{Mosquitto, Subscriber, mosquitto_available, wait_for};
use tcu_integration_tests::process::Running;
use tcu_integration_tests::variants;

const VIN: &str = "WTCUZ000000000043";

/// Waits for a status on `sub` that `want` accepts.
fn status_where(sub: &Subscriber, want: impl Fn(&Value) -> bool) -> Option<Value> {
    let mut found = None;
    wait_for(Duration::from_secs(20), || {
        while let Some((_, p)) = sub.next(Duration::from_millis(100)) {
            if let Ok(v) = serde_json::from_slice::<Value>(&p)
                && want(&v)
            {
                found = Some(v);
                return true;
            }
        }
        false
    });
    found
}

#[test]
fn after_a_swap_the_next_connection_carries_the_current_versions_in_its_last_will() {
    assert!(
        mosquitto_available(),
        "mosquitto is not installed; ./scripts/test installs it"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(tmp.path(), "");
    let status = format!("vehicle/{VIN}/status");
    let sub = Subscriber::connect(broker.port, "t-will", &status, true);
    let watch = tmp.path().join("watch");
    std::fs::create_dir_all(&watch).unwrap();
    let v2 = variants::battery_variant("v2", &tmp.path().join("v2.so"));
    let config = tmp.path().join("tcu.toml");
    std::fs::write(
        &config,
        format!(
            "[vehicle]\nvin = \"{VIN}\"\n[hotswap]\ncanary_ticks = 20\nprobation = \"1s\"\n\
             [mqtt]\nbroker = \"mqtt://127.0.0.1:{}\"\noutbox_dir = \"{}\"\n",
            broker.port,
            tmp.path().join("outbox").display()
        ),
    )
    .unwrap();
    let mut cmd = tcu_integration_tests::process::tcu_command();
    cmd.args(["run", "--headless", "--allow-unsigned", "--config"])
        .arg(&config)
        .arg("--watch")
        .arg(&watch);
    let mut tcu = Running::start(cmd);
    tcu.wait_for(
        "watching for rebuilt plugin libraries",
        Duration::from_secs(20),
    );
    std::fs::copy(&v2, watch.join("libbattery.so")).unwrap();
    let battery = |v: &Value| v["plugins"]["battery"].as_str().map(str::to_owned);
    status_where(&sub, |v| {
        v["status"] == "online" && battery(v).as_deref() == Some("2.0.0")
    })
    .unwrap_or_else(|| panic!("no online status with battery 2.0.0:\n{}", tcu.output()));

    // A new connection, made after the swap.
    broker.stop();
    broker.restart();
    assert!(
        wait_for(Duration::from_secs(20), || tcu.count("MQTT connected") >= 2),
        "the TCU did not reconnect:\n{}",
        tcu.output()
    );
    tcu.kill();

    // The broker now holds the will as the retained status.
    let later = Subscriber::connect(broker.port, "t-will-later", &status, true);
    let will = status_where(&later, |v| v["status"] == "offline")
        .unwrap_or_else(|| panic!("no offline status after the kill:\n{}", broker.log()));
    assert_eq!(
        battery(&will).as_deref(),
        Some("2.0.0"),
        "the last will lists the versions of the start: {will}"
    );
}
