//! Diagnostic trouble codes over MQTT: a `cmd/req` plugin command injects a
//! fault, the car answers on `cmd/res`, publishes `dtc.raised` on its events
//! topic and lists the code in the telemetry's `Vehicle.Diagnostics.DTCList`
//! (a JSON array of strings, as VSS defines it); healing clears all three.
//! Runs `tcu run` with its embedded broker on loopback.

use serde_json::{Value as Json, json};
use std::time::Duration;
use tcu_integration_tests::mqtt::{Subscriber, spawn_tcu_run};

const VIN: &str = "WTCUZ000000000001";
const LIST: &str = "Vehicle.Diagnostics.DTCList";

fn fault(sub: &Subscriber, id: &str, value: u8) -> Vec<Json> {
    sub.publish(
        &format!("vehicle/{VIN}/cmd/req"),
        json!({"id": id, "command": {"subsystem": "abs", "name": "fault.wheel_sensor", "value": value}})
            .to_string(),
    );
    sub.collect(
        &format!("vehicle/{VIN}/cmd/res"),
        Duration::from_secs(10),
        |m| !m.is_empty(),
    )
}

#[test]
fn a_fault_injected_over_mqtt_raises_its_dtc_in_events_and_telemetry_and_heals() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[mqtt]\nembedded_listen = \"127.0.0.1:0\"\npublish_period = \"200ms\"\noutbox_dir = \"{}\"\n",
        dir.path().join("outbox").display()
    );
    let tcu = spawn_tcu_run(dir.path(), &config, &[]);
    let line = tcu
        .wait_line("embedded MQTT broker listening on", Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no broker address logged:\n{}", tcu.output()));
    let port: u16 = line
        .split("listening on 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in `{line}`"));
    let sub = Subscriber::connect(port, "t-dtc", "vehicle/#", true);
    let tel = format!("vehicle/{VIN}/telemetry");
    let events = format!("vehicle/{VIN}/events");
    let first = sub.collect(&tel, Duration::from_secs(20), |m| !m.is_empty());
    assert_eq!(
        first.first().map(|t| t["signals"][LIST].clone()),
        Some(json!([]))
    );

    let res = fault(&sub, "d1", 1);
    assert_eq!(
        res.first(),
        Some(&json!({"id": "d1", "status": "accepted"})),
        "{}",
        tcu.output()
    );
    let raised = sub.collect(&events, Duration::from_secs(10), |m| {
        m.iter().any(|e| e["type"] == "dtc.raised")
    });
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

    assert_eq!(
        fault(&sub, "d2", 0).first(),
        Some(&json!({"id": "d2", "status": "accepted"}))
    );
    let cleared = sub.collect(&events, Duration::from_secs(10), |m| {
        m.iter().any(|e| e["type"] == "dtc.cleared")
    });
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
