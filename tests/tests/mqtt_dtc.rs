//! Diagnostic trouble codes over MQTT: a `cmd/req` plugin command injects a
//! fault, the car answers on `cmd/res`, publishes `dtc.raised` on its events
//! topic and lists the code in the telemetry's `Vehicle.Diagnostics.DTCList`
//! (a JSON array of strings, as VSS defines it); healing clears all three.
//! Runs `tcu run` with its embedded broker on loopback.

use serde_json::{Value as Json, json};
use std::time::Duration;
use tcu_integration_tests::mqtt::{Subscriber, spawn_tcu_embedded};

const VIN: &str = "WTCUZ000000000001";
const LIST: &str = "Vehicle.Diagnostics.DTCList";

/// Sends the fault command and gathers, from every topic at once, the
/// command's answers and the events until an event of type `until` arrives
/// (the event may come before the answer: neither is dropped while waiting
/// for the other).
fn fault(sub: &Subscriber, id: &str, value: u8, until: &str) -> (Vec<Json>, Vec<Json>) {
    sub.publish(
        &format!("vehicle/{VIN}/cmd/req"),
        json!({"id": id, "command": {"subsystem": "abs", "name": "fault.wheel_sensor", "value": value}})
            .to_string(),
    );
    let (mut answers, mut events) = (Vec::new(), Vec::new());
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let done = |answers: &[Json], events: &[Json]| {
        !answers.is_empty() && events.iter().any(|e| e["type"] == until)
    };
    while std::time::Instant::now() < end && !done(&answers, &events) {
        let Some((topic, payload)) = sub.next(Duration::from_millis(100)) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Json>(&payload) else {
            continue;
        };
        if topic.ends_with("/cmd/res") {
            answers.push(v);
        } else if topic.ends_with("/events") {
            events.push(v);
        }
    }
    (answers, events)
}

#[test]
fn a_fault_injected_over_mqtt_raises_its_dtc_in_events_and_telemetry_and_heals() {
    let dir = tempfile::tempdir().unwrap();
    let (tcu, port) = spawn_tcu_embedded(dir.path());
    let sub = Subscriber::connect(port, "t-dtc", "vehicle/#", true);
    let tel = format!("vehicle/{VIN}/telemetry");
    let first = sub.collect(&tel, Duration::from_secs(20), |m| !m.is_empty());
    assert_eq!(
        first.first().map(|t| t["signals"][LIST].clone()),
        Some(json!([]))
    );

    let (res, raised) = fault(&sub, "d1", 1, "dtc.raised");
    assert_eq!(
        res.first(),
        Some(&json!({"id": "d1", "status": "accepted"})),
        "{}",
        tcu.output()
    );
    let e = raised
        .iter()
        .find(|e| e["type"] == "dtc.raised")
        .expect("dtc.raised");
    assert_eq!(
        (&e["code"], &e["subsystem"]),
        (&json!("C0035"), &json!("abs"))
    );
    assert_eq!(e["description"], "Left front wheel speed sensor circuit");
    let with = sub.collect(&tel, Duration::from_secs(10), |m| {
        m.last()
            .is_some_and(|t| t["signals"][LIST] == json!(["C0035"]))
    });
    let last = &with.last().expect("telemetry")["signals"];
    assert_eq!(
        (&last[LIST], &last["Vehicle.Diagnostics.DTCCount"]),
        (&json!(["C0035"]), &json!(1))
    );

    let (res, cleared) = fault(&sub, "d2", 0, "dtc.cleared");
    assert_eq!(
        res.first(),
        Some(&json!({"id": "d2", "status": "accepted"}))
    );
    assert!(
        cleared
            .iter()
            .any(|e| e["type"] == "dtc.cleared" && e["code"] == "C0035")
    );
    let without = sub.collect(&tel, Duration::from_secs(10), |m| {
        m.last().is_some_and(|t| t["signals"][LIST] == json!([]))
    });
    assert_eq!(
        without.last().map(|t| t["signals"][LIST].clone()),
        Some(json!([]))
    );

    // A command the plugin does not know is refused with its reason.
    sub.publish(
        &format!("vehicle/{VIN}/cmd/req"),
        json!({"id": "d3", "command": {"subsystem": "abs", "name": "fault.nope", "value": 1}})
            .to_string(),
    );
    let res = sub.collect(
        &format!("vehicle/{VIN}/cmd/res"),
        Duration::from_secs(10),
        |m| !m.is_empty(),
    );
    let r = res.first().expect("a response");
    assert_eq!((&r["id"], &r["status"]), (&json!("d3"), &json!("rejected")));
    assert!(
        r["errors"]["command"]
            .as_str()
            .is_some_and(|s| s.contains("fault.nope")),
        "{r}"
    );
}
