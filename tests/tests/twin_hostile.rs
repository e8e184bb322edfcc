//! Malformed and hostile input: MQTT payloads the contract does not allow
//! are counted (and logged once per vehicle and path), HTTP requests get
//! problem answers, and the twin keeps serving the real vehicles.

use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use tcu_integration_tests::mqtt::{Subscriber, wait_for};
use tcu_integration_tests::twin::{Rig, VINS};

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[test]
fn malformed_and_hostile_mqtt_payloads_are_counted_and_the_twin_keeps_serving() {
    let rig = Rig::start("", &[], None);
    let vin = VINS[0];
    let attacker = Subscriber::connect(rig.broker.port, "attacker", "attacker/none", true);
    let t = |leaf: &str| format!("vehicle/{vin}/{leaf}");
    let ts = "2026-01-01T00:00:00.000Z";
    // Whole messages refused: 7 for the real car's topics.
    let bad: Vec<(String, Vec<u8>)> = vec![
        (t("telemetry"), b"{not json".to_vec()),
        (t("telemetry"), b"[1, 2]".to_vec()),
        (t("telemetry"), vec![b'x'; 300 * 1024]),
        (
            t("telemetry"),
            json!({"vin": "WTCUZ000000000009", "seq": 1, "ts": ts, "signals": {}})
                .to_string()
                .into_bytes(),
        ),
        (t("events"), b"nope".to_vec()),
        (t("status"), b"{}".to_vec()),
        (t("cmd/res"), b"{\"status\": 5}".to_vec()),
    ];
    for (topic, payload) in &bad {
        attacker.publish(topic, payload.clone());
    }
    // Values refused one by one on a VIN of the attacker's: 4 per message.
    let fake = "WTCUZ000000000003";
    for seq in 1..=3 {
        let signals = json!({
            "Vehicle.Nope": 1, "Vehicle.Speed": "fast", "Vehicle.ADAS.ABS.IsEngaged": 2,
            "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed": 400, "Vehicle.IsMoving": true,
        });
        attacker.publish(
            &format!("vehicle/{fake}/telemetry"),
            json!({"vin": fake, "seq": seq, "ts": ts, "signals": signals}).to_string(),
        );
    }
    // Topics that are not a VIN's.
    attacker.publish("vehicle/not-a-vin/telemetry", "{}");
    attacker.publish("vehicle/WTCUZ00000000000I/status", "{}");
    let doc = rig
        .twin
        .wait_doc(vin, Duration::from_secs(20), "7 invalid", |d| {
            d["loss"]["invalid"] == 7
        });
    let before = doc["loss"]["received"].as_u64().unwrap_or(0);
    let f = rig
        .twin
        .wait_doc(fake, Duration::from_secs(20), "12 invalid", |d| {
            d["loss"]["invalid"] == 12
        });
    assert_eq!(
        f["reported"]["Vehicle.IsMoving"]["value"], true,
        "the good value of the message counts"
    );
    assert!(f["reported"].get("Vehicle.Nope").is_none());
    // The real car's seq accounting is untouched, and it keeps updating.
    rig.twin
        .wait_doc(vin, Duration::from_secs(20), "more telemetry", |d| {
            d["loss"]["received"].as_u64() > Some(before + 3)
                && d["loss"]["silent_lost"] == 0
                && d["loss"]["gaps"] == 0
        });
    let out = rig.twin.process.output();
    let logged = out
        .lines()
        .filter(|l| l.contains(fake) && l.contains("key=Vehicle.Nope"))
        .count();
    assert_eq!(logged, 1, "logged once per vehicle and path:\n{out}");
    let metrics = rig.twin.get("/metrics").body;
    assert_eq!(metric(&metrics, "twin_invalid_total"), 19.0, "{metrics}");
    assert!(
        metric(&metrics, "twin_messages_ignored_total") >= 2.0,
        "{metrics}"
    );
    assert!(wait_for(Duration::from_secs(5), || rig
        .twin
        .get("/api/vehicles")
        .status
        == 200));
}

#[test]
fn malformed_and_hostile_http_requests_get_problem_answers_and_the_twin_keeps_serving() {
    let rig = Rig::start("", &[], None);
    let vin = VINS[1];
    let tw = &rig.twin;
    let merge = ("content-type", "application/merge-patch+json");
    let desired = format!("/api/vehicles/{vin}/desired");
    let fan = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";
    let p = tw
        .request("PATCH", &desired, &[merge], Some(b"{\"a\": ".to_vec()))
        .problem(400);
    assert_eq!(p["field"], "body");
    let p = tw.get("/api/vehicles/WTCUZ000000000009").problem(404);
    assert_eq!(p["field"], "vin");
    let p = tw
        .patch(vin, &json!({"Vehicle.No.Such.Path": 1}), None)
        .problem(422);
    assert_eq!(p["errors"]["Vehicle.No.Such.Path"], "unknown signal");
    let p = tw
        .request(
            "PATCH",
            &desired,
            &[("content-type", "text/plain")],
            Some(json!({fan: 1}).to_string().into_bytes()),
        )
        .problem(415);
    assert_eq!(p["field"], "Content-Type");
    let huge = format!("{{\"{fan}\": 1, \"pad\": \"{}\"}}", "x".repeat(512 * 1024));
    tw.request("PATCH", &desired, &[merge], Some(huge.into_bytes()))
        .problem(413);
    tw.get("/api/nothing/here").problem(404);
    tw.request("DELETE", &format!("/api/vehicles/{vin}"), &[], None)
        .problem(405);
    let p = tw
        .get(&format!(
            "/api/vehicles/{vin}/history?signal=Vehicle.Speed&from=last-tuesday"
        ))
        .problem(400);
    assert_eq!(p["field"], "from");
    tw.patch(vin, &json!({fan: 1}), Some("\"not-a-version\""))
        .problem(412);
    // Bytes that are not HTTP at all.
    let addr = tw.url.trim_start_matches("http://").to_owned();
    let mut raw = TcpStream::connect(&addr).expect("connect");
    raw.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    raw.write_all(b"\x16\x03\x01 definitely not HTTP\r\n\r\n")
        .expect("write");
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    // Still serving, with the cars' documents moving on.
    let before = tw.doc(vin).expect("doc")["loss"]["received"]
        .as_u64()
        .unwrap_or(0);
    tw.wait_doc(vin, Duration::from_secs(20), "newer telemetry", |d| {
        d["loss"]["received"].as_u64() > Some(before)
    });
    assert_eq!(
        tw.doc(vin).expect("doc")["desired"],
        json!({}),
        "no refused request changed anything"
    );
}
