//! `[mqtt] commands` and the command rate limit, with a real `tcu` against
//! mosquitto: an excluded path and a burst over the limit are answered on
//! `cmd/res` like any rejection, with their reasons, and never reach the
//! vehicle.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::time::Duration;
use tcu_integration_tests::mqtt::{Mosquitto, Subscriber, mosquitto_available, spawn_tcu_run};

const VIN: &str = "WTCUZ00000000000P";

#[test]
fn an_excluded_path_and_a_burst_over_the_rate_limit_are_refused_with_their_reasons() {
    assert!(mosquitto_available(), "mosquitto is not installed");
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "t-policy", "vehicle/#", true);
    let config = format!(
        "[vehicle]\nvin = \"{VIN}\"\n[mqtt]\nbroker = \"mqtt://127.0.0.1:{}\"\npublish_period = \"200ms\"\n\
         outbox_dir = \"{}\"\ncommands = [\"*\", \"!Sim.Crash.*\"]\ncommand_limit = 3\ncommand_window = \"60s\"\n",
        broker.port,
        dir.path().join("outbox").display()
    );
    let tcu = spawn_tcu_run(dir.path(), &config, &[]);
    let tel = format!("vehicle/{VIN}/telemetry");
    assert!(
        !sub.collect(&tel, Duration::from_secs(30), |m| !m.is_empty())
            .is_empty(),
        "{}",
        tcu.output()
    );
    let req = format!("vehicle/{VIN}/cmd/req");
    let res = format!("vehicle/{VIN}/cmd/res");
    let fan = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";
    // The refused crash does not count against the limit: three pass.
    sub.publish(
        &req,
        json!({"id": "crash", "set": {"Sim.Crash.Trigger": 100}}).to_string(),
    );
    let crash = sub.collect(&res, Duration::from_secs(15), |m| !m.is_empty());
    for i in 0..5 {
        sub.publish(
            &req,
            json!({"id": format!("fan-{i}"), "set": {fan: 50 + i}}).to_string(),
        );
    }
    let burst = sub.collect(&res, Duration::from_secs(15), |m| m.len() >= 5);
    let responses: Vec<Value> = crash.into_iter().chain(burst).collect();
    assert_eq!(responses.len(), 6, "{responses:?}\n{}", tcu.output());
    let by_id = |id: &str| {
        responses
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no response for {id}: {responses:?}"))
            .clone()
    };
    let crash = by_id("crash");
    assert_eq!(crash["status"], "rejected", "{crash}");
    assert!(
        crash["errors"]["Sim.Crash.Trigger"]
            .as_str()
            .is_some_and(|r| r.contains("[mqtt] commands")),
        "{crash}"
    );
    for i in 0..3 {
        assert_eq!(by_id(&format!("fan-{i}"))["status"], "accepted");
    }
    for i in 3..5 {
        let r = by_id(&format!("fan-{i}"));
        assert_eq!(r["status"], "rejected", "{r}");
        assert!(
            r["errors"]["payload"]
                .as_str()
                .is_some_and(|m| m.contains("rate limit: at most 3 commands per 1m")),
            "{r}"
        );
    }
    // The refused ones changed nothing: the fan holds the last accepted value.
    let later = sub.collect(&tel, Duration::from_secs(10), |m| {
        m.last().is_some_and(|t| t["signals"][fan] == json!(52))
    });
    let last = later.last().expect("telemetry after the commands");
    assert_eq!(last["signals"][fan], json!(52));
    assert!(
        tcu.output()
            .contains("command refused by the policy id=crash"),
        "{}",
        tcu.output()
    );
}
