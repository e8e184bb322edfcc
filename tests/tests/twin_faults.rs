//! Faults from the twin, end to end: mosquitto, real `tcu run --headless`
//! vehicles and `tcu-twin serve`. A fault injected through the twin's
//! command route reaches the vehicle as a `cmd/req` plugin command, the
//! route answers with the vehicle's `cmd/res`, and the code shows in the
//! twin's reported `Vehicle.Diagnostics.DTCList`; healing it through the
//! twin clears it there. A subsystem or fault no vehicle knows is refused
//! with a 422 naming it, and nothing reaches the vehicle.

use serde_json::{Value as Json, json};
use std::time::Duration;
use tcu_integration_tests::twin::{Rig, Twin, VINS};

const DTC_LIST: &str = "Vehicle.Diagnostics.DTCList";
const WAIT: Duration = Duration::from_secs(30);

fn command(twin: &Twin, vin: &str, body: &Json) -> tcu_integration_tests::twin::Resp {
    twin.request(
        "POST",
        &format!("/api/vehicles/{vin}/commands"),
        &[("content-type", "application/json")],
        Some(body.to_string().into_bytes()),
    )
}

/// The reported active codes of a document.
fn codes(doc: &Json) -> Vec<String> {
    doc["reported"][DTC_LIST]["value"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_fault_injected_through_the_twin_raises_its_dtc_in_the_reported_list_and_healing_clears_it() {
    let rig = Rig::start("", &[], None);
    let vin = VINS[0];
    rig.twin.wait_doc(vin, WAIT, "an empty DTC list", |d| {
        d["reported"].get(DTC_LIST).is_some() && codes(d).is_empty()
    });

    let inject = json!({"subsystem": "abs", "name": "fault.wheel_sensor", "value": 1});
    let r = command(&rig.twin, vin, &inject);
    assert_eq!(r.status, 200, "{}", r.body);
    let out = r.json();
    assert_eq!(out["status"], "accepted", "{out}");
    assert!(out["id"].as_str().is_some_and(|id| !id.is_empty()), "{out}");
    rig.twin
        .wait_doc(vin, WAIT, "C0035 reported", |d| codes(d) == ["C0035"]);
    // The other vehicle was not touched.
    assert!(codes(&rig.twin.doc(VINS[1]).expect("document")).is_empty());

    let heal = json!({"subsystem": "abs", "name": "fault.wheel_sensor", "value": 0});
    let r = command(&rig.twin, vin, &heal);
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("accepted")),
        "{}",
        r.body
    );
    rig.twin
        .wait_doc(vin, WAIT, "no code reported", |d| codes(d).is_empty());
}

#[test]
fn an_unknown_subsystem_or_fault_is_refused_by_the_twin_naming_it() {
    let rig = Rig::start("", &[], None);
    let vin = VINS[0];
    let r = command(
        &rig.twin,
        vin,
        &json!({"subsystem": "abs", "name": "fault.flux_capacitor", "value": 1}),
    );
    let p = r.problem(422);
    assert_eq!(p["field"], "name");
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("`fault.flux_capacitor`")),
        "{p}"
    );
    let r = command(
        &rig.twin,
        vin,
        &json!({"subsystem": "wipers", "name": "fault.blade", "value": 1}),
    );
    let p = r.problem(422);
    assert_eq!(p["field"], "subsystem");
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("`wipers`")),
        "{p}"
    );
    // A real fault with a value the plugin does not take never leaves the twin.
    let r = command(
        &rig.twin,
        vin,
        &json!({"subsystem": "hvac", "name": "fault.compressor", "value": 2}),
    );
    assert_eq!(r.problem(422)["field"], "value");
    std::thread::sleep(Duration::from_secs(1));
    assert!(codes(&rig.twin.doc(vin).expect("document")).is_empty());
}
