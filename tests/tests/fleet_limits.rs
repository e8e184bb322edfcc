//! A fleet and the process's open-file limit: every vehicle holds a socket
//! and its outbox lock, so a fleet needs about two descriptors per vehicle.

use std::time::Duration;
use tcu_integration_tests::mqtt::{Mosquitto, mosquitto_available};
use tcu_integration_tests::process::{Running, tcu_command};

#[test]
fn a_fleet_needing_more_descriptors_than_the_soft_limit_raises_it_and_connects_every_vehicle() {
    assert!(
        mosquitto_available(),
        "mosquitto is not installed; ./scripts/test installs it"
    );
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    // 120 vehicles need about 500 descriptors; the soft limit allows 200
    // (before the fix the fleet stalled below its size, connects failing
    // with EMFILE), the hard limit allows the rest.
    let tcu = tcu_command();
    let mut cmd = std::process::Command::new("prlimit");
    cmd.arg("--nofile=200:4096")
        .arg("--")
        .arg(tcu.get_program())
        .args(["fleet", "--vehicles", "120", "--broker"])
        .arg(format!("mqtt://127.0.0.1:{}", broker.port))
        .arg("--outbox-dir")
        .arg(dir.path().join("outbox"))
        .args(["--status-interval", "1s", "--duration", "60s"]);
    for (k, v) in tcu.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let mut fleet = Running::start(cmd);
    fleet.wait_for("120/120 connected", Duration::from_secs(45));
    assert!(
        fleet.output().contains("raised the open-file limit"),
        "{}",
        fleet.output()
    );
    fleet.kill();
}
