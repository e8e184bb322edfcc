//! Desired state through the twin to real vehicles: a setpoint goes
//! pending → sent → accepted → applied and clears the delta; what the
//! catalog refuses never leaves the twin; a rejection reverts with the
//! vehicle's reason; a stale `If-Match` gets 412; a vehicle killed with
//! SIGKILL goes offline through its last will and gets on its return what
//! was set meanwhile; the CLI sets and exports through the API.

use serde_json::{Value as Json, json};
use std::time::Duration;
use tcu_integration_tests::mqtt::{Subscriber, wait_for};
use tcu_integration_tests::twin::{Rig, VINS, twin_command};

const FAN: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";
const SETPOINT: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";

/// The states the twin logged for `vin`'s `path`, in order.
fn logged_states(output: &str, vin: &str, path: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| {
            l.contains("desired value")
                && l.contains(vin)
                && l.contains(&format!("path=\"{path}\""))
        })
        .filter_map(|l| {
            l.split("state=")
                .nth(1)?
                .split_whitespace()
                .next()
                .map(|s| s.trim_matches('"').to_owned())
        })
        .collect()
}

/// Messages on `topic` the subscriber gets within `within`.
fn on_topic(sub: &Subscriber, topic: &str, within: Duration) -> Vec<Json> {
    sub.collect(topic, within, |_| false)
}

#[test]
fn a_desired_setpoint_goes_pending_sent_accepted_applied_reaches_the_car_and_clears_the_delta() {
    let rig = Rig::start("", &[], None);
    let vin = VINS[0];
    let r = rig.twin.patch(vin, &json!({SETPOINT: 24.5, FAN: 75}), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = r.json();
    let id = sent["desired"][FAN]["command_id"]
        .as_str()
        .expect("a command id")
        .to_owned();
    assert_eq!(
        sent["desired"][SETPOINT]["command_id"],
        id.as_str(),
        "values patched together travel together"
    );
    let doc = rig
        .twin
        .wait_doc(vin, Duration::from_secs(20), "both applied", |d| {
            d["desired"][FAN]["state"] == "applied" && d["desired"][SETPOINT]["state"] == "applied"
        });
    assert_eq!(doc["delta"], json!({}));
    assert_eq!(doc["reported"][FAN]["value"], 75);
    assert_eq!(doc["reported"][SETPOINT]["value"], 24.5);
    for path in [FAN, SETPOINT] {
        assert_eq!(
            logged_states(&rig.twin.process.output(), vin, path),
            ["pending", "sent", "accepted", "applied"],
            "{path}:\n{}",
            rig.twin.process.output()
        );
    }
    // The vehicle saw one request with that id and accepted it; its own
    // telemetry carries the values.
    let mut req = Vec::new();
    let mut res = Vec::new();
    let mut tel = Vec::new();
    // The cars keep publishing: read what came so far and a little more.
    let end = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < end
        && let Some((t, p)) = rig.sub.next(Duration::from_millis(300))
    {
        let v: Json = serde_json::from_slice(&p).expect("JSON");
        match t.strip_prefix(&format!("vehicle/{vin}/")) {
            Some("cmd/req") => req.push(v),
            Some("cmd/res") => res.push(v),
            Some("telemetry") => tel.push(v),
            _ => {}
        }
    }
    assert_eq!(req, [json!({"id": id, "set": {FAN: 75, SETPOINT: 24.5}})]);
    assert_eq!(res, [json!({"id": id, "status": "accepted"})]);
    assert!(
        tel.iter()
            .any(|t| t["signals"][FAN] == 75 && t["signals"][SETPOINT] == 24.5)
    );
}

#[test]
fn an_out_of_range_desired_value_is_refused_with_422_and_nothing_is_sent() {
    let rig = Rig::start("", &[], None);
    let vin = VINS[1];
    let before = rig.twin.doc(vin).expect("doc");
    for (patch, path, why) in [
        (json!({FAN: 150}), FAN, "outside"),
        (
            json!({FAN: 50, "Vehicle.Speed": 3}),
            "Vehicle.Speed",
            "not an actuator",
        ),
        (
            json!({"Vehicle.Cabin.HVAC.IsAirConditioningActive": 1}),
            "Vehicle.Cabin.HVAC.IsAirConditioningActive",
            "boolean",
        ),
    ] {
        let p = rig.twin.patch(vin, &patch, None).problem(422);
        let reason = p["errors"][path]
            .as_str()
            .unwrap_or_else(|| panic!("no reason for {path}: {p}"));
        assert!(reason.contains(why), "{path}: {reason}");
    }
    let req = on_topic(
        &rig.sub,
        &format!("vehicle/{vin}/cmd/req"),
        Duration::from_secs(2),
    );
    assert!(req.is_empty(), "refused values were sent: {req:?}");
    let after = rig.twin.doc(vin).expect("doc");
    assert_eq!(after["desired"], before["desired"]);
    assert_eq!(after["desired_version"], before["desired_version"]);
}

#[test]
fn a_command_the_vehicle_rejects_reverts_desired_with_the_vehicles_reason() {
    // A real `tcu` accepts every value the catalog allows, and the twin
    // sends no other, so the vehicle that says no is played by the test:
    // it speaks the same contract on its own VIN next to the rig's cars.
    let rig = Rig::start("", &[], None);
    let vin = "WTCUZ000000000003";
    let car = Subscriber::connect(
        rig.broker.port,
        "fake-car",
        &format!("vehicle/{vin}/cmd/req"),
        true,
    );
    let now = "2026-01-01T00:00:00.000Z";
    car.publish(
        &format!("vehicle/{vin}/status"),
        json!({"status": "online", "vin": vin, "ts": now, "plugins": {}}).to_string(),
    );
    car.publish(
        &format!("vehicle/{vin}/telemetry"),
        json!({"vin": vin, "seq": 1, "ts": now, "signals": {FAN: 40}}).to_string(),
    );
    rig.twin
        .wait_doc(vin, Duration::from_secs(10), "the fake car", |d| {
            d["reported"][FAN]["value"] == 40
        });
    let r = rig.twin.patch(vin, &json!({FAN: 90}), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, req) = car
        .next(Duration::from_secs(10))
        .expect("the command reaches the car");
    let req: Json = serde_json::from_slice(&req).expect("JSON");
    assert_eq!(req["set"], json!({FAN: 90}));
    car.publish(
        &format!("vehicle/{vin}/cmd/res"),
        json!({"id": req["id"], "status": "rejected", "errors": {FAN: "locked by the driver"}})
            .to_string(),
    );
    let doc = rig
        .twin
        .wait_doc(vin, Duration::from_secs(10), "rejected", |d| {
            d["desired"][FAN]["state"] == "rejected"
        });
    let d = &doc["desired"][FAN];
    assert_eq!(d["reason"], "locked by the driver");
    assert_eq!(
        d["value"], 40,
        "desired reverts to what the vehicle reports"
    );
    assert_eq!(doc["delta"], json!({}));
}

#[test]
fn a_stale_if_match_gets_412_with_the_current_document() {
    let rig = Rig::start("", &[], None);
    let vin = VINS[0];
    let get = rig.twin.get(&format!("/api/vehicles/{vin}"));
    let etag = get.etag.clone().expect("an ETag");
    let first = rig.twin.patch(vin, &json!({FAN: 55}), Some(&etag));
    assert_eq!(first.status, 200, "{}", first.body);
    assert_ne!(first.etag.as_deref(), Some(etag.as_str()));
    // Someone else's change was made against the old version.
    let p = rig
        .twin
        .patch(vin, &json!({FAN: 65}), Some(&etag))
        .problem(412);
    assert_eq!(p["field"], "If-Match");
    assert_eq!(p["current"]["desired"][FAN]["value"], 55);
    assert_eq!(
        Some(format!("\"{}\"", p["current"]["desired_version"])),
        first.etag
    );
    let req = on_topic(
        &rig.sub,
        &format!("vehicle/{vin}/cmd/req"),
        Duration::from_secs(2),
    );
    assert_eq!(req.len(), 1, "only the first patch was sent: {req:?}");
    assert_eq!(req[0]["set"], json!({FAN: 55}));
}

#[test]
fn sigkill_marks_a_vehicle_offline_by_its_last_will_and_its_return_delivers_what_was_set_meanwhile()
{
    let mut rig = Rig::start("", &[], None);
    let vin = VINS[1];
    rig.vehicle(vin).kill();
    rig.twin
        .wait_doc(vin, Duration::from_secs(20), "offline", |d| {
            d["connectivity"] == "offline"
        });
    // The other car is not affected.
    assert_eq!(
        rig.twin.doc(VINS[0]).expect("doc")["connectivity"],
        "online"
    );
    let r = rig.twin.patch(vin, &json!({FAN: 35}), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["desired"][FAN]["state"], "pending");
    assert!(
        on_topic(
            &rig.sub,
            &format!("vehicle/{vin}/cmd/req"),
            Duration::from_secs(1)
        )
        .is_empty(),
        "nothing is sent to an offline car"
    );
    rig.restart_vehicle(vin);
    let doc = rig
        .twin
        .wait_doc(vin, Duration::from_secs(60), "online and applied", |d| {
            d["connectivity"] == "online" && d["desired"][FAN]["state"] == "applied"
        });
    assert_eq!(doc["reported"][FAN]["value"], 35);
    assert_eq!(doc["delta"], json!({}));
    // The restarted car counts its seq from 1 again: a new run, no loss.
    assert_eq!(doc["loss"]["silent_lost"], 0, "{}", doc["loss"]);
}

fn run_cli(rig: &Rig, args: &[&str]) -> std::process::Output {
    twin_command()
        .args(args)
        .args(["--url", &rig.twin.url])
        .output()
        .expect("running tcu-twin")
}

#[test]
fn the_cli_sets_a_value_prints_its_final_state_and_exports_a_replayable_trace() {
    let rig = Rig::start("", &[], None);
    let vin = VINS[0];
    let out = run_cli(&rig, &["set", vin, &format!("{FAN}=55"), "--wait", "20s"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), format!("{FAN}: applied"));
    let out = run_cli(&rig, &["set", vin, &format!("{FAN}=155")]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("outside"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_cli(&rig, &["get", vin]);
    let doc: Json = serde_json::from_slice(&out.stdout).expect("get prints the document");
    assert_eq!(doc["vin"], vin);
    assert!(wait_for(Duration::from_secs(5), || rig
        .twin
        .doc(vin)
        .is_some_and(|d| d["loss"]["received"].as_u64() > Some(10))));
    let file = rig.dir.path().join("trace.csv");
    let out = run_cli(
        &rig,
        &[
            "export",
            vin,
            "--from",
            "0",
            "--to",
            "99999999999999",
            "--out",
            file.to_str().expect("path"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).expect("the trace");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("time,signal,value"));
    let catalog = tcu_engine::catalog::Catalog::builtin();
    let mut fan = Vec::new();
    let mut last_t = 0.0;
    for line in lines {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols.len(), 3, "{line}");
        let (t, path, value) = (cols[0], cols[1], cols[2]);
        assert_eq!(
            t.split('.').nth(1).map(str::len),
            Some(3),
            "three decimals: {line}"
        );
        let t: f64 = t.parse().expect("time");
        assert!(t >= last_t, "time goes forward: {line}");
        last_t = t;
        let meta = catalog
            .get(path)
            .unwrap_or_else(|| panic!("not a catalog path: {line}"));
        if meta.datatype == tcu_engine::catalog::DataType::Boolean {
            assert!(value == "true" || value == "false", "{line}");
        } else {
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("not a number: {line}"));
        }
        if path == FAN {
            fan.push(value.to_owned());
        }
    }
    assert!(
        text.lines().nth(1).is_some_and(|l| l.starts_with("0.000,")),
        "{text}"
    );
    assert_eq!(
        fan.last().map(String::as_str),
        Some("55"),
        "the set value is in the trace: {fan:?}"
    );
    assert_eq!(
        fan.windows(2).filter(|w| w[0] == w[1]).count(),
        0,
        "a row only on change: {fan:?}"
    );
}
