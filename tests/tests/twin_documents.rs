//! The twin against a real mosquitto and two `tcu run --headless`
//! vehicles: documents mirror the vehicles' telemetry exactly, history
//! returns what was recorded, and a restart of the twin keeps both.

use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::time::Duration;
use tcu_integration_tests::mqtt::{Subscriber, wait_for};
use tcu_integration_tests::twin::{Rig, Twin, VINS};

const SPEED: &str = "Vehicle.Speed";
const SOC: &str = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current";

/// Every telemetry message the subscriber got, by VIN, in seq order.
fn telemetry(sub: &Subscriber) -> BTreeMap<String, Vec<Json>> {
    let mut out: BTreeMap<String, Vec<Json>> = BTreeMap::new();
    while let Some((topic, payload)) = sub.next(Duration::from_millis(500)) {
        if let Some(vin) = topic
            .strip_prefix("vehicle/")
            .and_then(|r| r.strip_suffix("/telemetry"))
        {
            let v: Json = serde_json::from_slice(&payload).expect("telemetry is JSON");
            out.entry(vin.to_owned()).or_default().push(v);
        }
    }
    for msgs in out.values_mut() {
        msgs.sort_by_key(|m| m["seq"].as_u64());
        msgs.dedup_by_key(|m| m["seq"].as_u64());
    }
    out
}

/// Kills every vehicle and waits until the twin shows them offline (their
/// last will), so nothing changes any more.
fn stop_vehicles(rig: &mut Rig) {
    for v in &mut rig.vehicles {
        v.kill();
    }
    for vin in VINS {
        rig.twin
            .wait_doc(vin, Duration::from_secs(30), "offline", |d| {
                d["connectivity"] == "offline"
            });
    }
}

fn ms(rfc3339: &str) -> i64 {
    let t = humantime_ms(rfc3339);
    t.unwrap_or_else(|| panic!("`{rfc3339}` is not RFC 3339"))
}

fn humantime_ms(s: &str) -> Option<i64> {
    // The tests crate has no time library: parse the vehicle's fixed
    // format `YYYY-MM-DDTHH:MM:SS.mmmZ` by hand.
    let b = s.as_bytes();
    if b.len() != 24 || b[23] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, se, milli) = (n(11..13)?, n(14..16)?, n(17..19)?, n(20..23)?);
    // Days from the civil date (proleptic Gregorian).
    let (y2, m2) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((((days * 24 + h) * 60 + mi) * 60 + se) * 1000 + milli)
}

#[test]
fn the_test_time_parser_agrees_with_the_epoch() {
    assert_eq!(humantime_ms("1970-01-01T00:00:00.000Z"), Some(0));
    assert_eq!(
        humantime_ms("2026-01-01T00:00:00.123Z"),
        Some(1_767_225_600_123)
    );
    assert_eq!(
        humantime_ms("2024-02-29T12:00:00.000Z"),
        Some(1_709_208_000_000)
    );
}

#[test]
fn each_document_reports_the_last_telemetry_an_independent_subscriber_saw() {
    let mut rig = Rig::start("", &[], None);
    std::thread::sleep(Duration::from_secs(2));
    stop_vehicles(&mut rig);
    let seen = telemetry(&rig.sub);
    for vin in VINS {
        let last = seen[vin].last().expect("telemetry was seen");
        let doc = rig.twin.doc(vin).expect("a document");
        let reported = doc["reported"].as_object().expect("reported");
        let signals = last["signals"].as_object().expect("signals");
        assert_eq!(
            reported.keys().collect::<Vec<_>>(),
            signals.keys().collect::<Vec<_>>(),
            "{vin}: the document's paths differ from the last message's"
        );
        for (path, value) in signals {
            let r = &reported[path];
            assert_eq!(&r["value"], value, "{vin} {path}: {r}");
            assert_eq!(r["seq"], last["seq"], "{vin} {path}");
            assert_eq!(r["ts"], last["ts"], "{vin} {path}");
        }
        let loss = &doc["loss"];
        assert_eq!(
            loss["received"].as_u64(),
            Some(seen[vin].len() as u64),
            "{loss}"
        );
        assert_eq!(
            (loss["gaps"].as_u64(), loss["silent_lost"].as_u64()),
            (Some(0), Some(0)),
            "{loss}"
        );
        assert_eq!(
            doc["plugins"].as_object().map(|p| p.len()),
            Some(6),
            "{doc}"
        );
    }
}

/// The captured `(ts, value)` of `path` of every message.
fn series(msgs: &[Json], path: &str) -> Vec<(i64, Json)> {
    msgs.iter()
        .map(|m| {
            (
                ms(m["ts"].as_str().expect("ts")),
                m["signals"][path].clone(),
            )
        })
        .collect()
}

fn history(twin: &Twin, vin: &str, query: &str) -> Json {
    let r = twin.get(&format!("/api/vehicles/{vin}/history?{query}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn points(h: &Json, path: &str) -> Vec<(i64, Json)> {
    h["signals"][path]
        .as_array()
        .unwrap_or_else(|| panic!("no series of {path}: {h}"))
        .iter()
        .map(|p| (ms(p["t"].as_str().expect("t")), p["value"].clone()))
        .collect()
}

#[test]
fn a_history_query_returns_the_recorded_range_and_agrees_with_the_captured_telemetry() {
    let mut rig = Rig::start("", &[], None);
    std::thread::sleep(Duration::from_secs(3));
    stop_vehicles(&mut rig);
    let seen = telemetry(&rig.sub);
    let msgs = &seen[VINS[0]];
    assert!(msgs.len() >= 10, "{} messages", msgs.len());
    let speed = series(msgs, SPEED);
    let soc = series(msgs, SOC);
    let (first, last) = (speed[0].0, speed[speed.len() - 1].0);
    let all = history(
        &rig.twin,
        VINS[0],
        &format!("signal={SPEED}&signal={SOC}&from={first}&to={}", last + 1),
    );
    assert_eq!(points(&all, SPEED), speed);
    assert_eq!(points(&all, SOC), soc);
    // A sub-range is exactly that part.
    let part = history(
        &rig.twin,
        VINS[0],
        &format!("signal={SPEED}&from={}&to={}", speed[2].0, speed[6].0),
    );
    assert_eq!(points(&part, SPEED), speed[2..6].to_vec());
    // Downsampled: each bucket's max and last of the captured values.
    let step = 1000;
    let down = history(
        &rig.twin,
        VINS[0],
        &format!(
            "signal={SPEED}&from={first}&to={}&step={step}&agg=max",
            last + 1
        ),
    );
    let got = points(&down, SPEED);
    let mut want: BTreeMap<i64, f64> = BTreeMap::new();
    for (t, v) in &speed {
        let b = first + (t - first) / step * step;
        let v = v.as_f64().expect("a number");
        let e = want.entry(b).or_insert(v);
        *e = e.max(v);
    }
    let want: Vec<(i64, Json)> = want.into_iter().map(|(t, v)| (t, json!(v))).collect();
    assert_eq!(got, want);
    // The other vehicle's history is its own.
    let other = series(&seen[VINS[1]], SPEED);
    let h = history(
        &rig.twin,
        VINS[1],
        &format!(
            "signal={SPEED}&from={}&to={}",
            other[0].0,
            other[other.len() - 1].0 + 1
        ),
    );
    assert_eq!(points(&h, SPEED), other);
}

#[test]
fn a_twin_restart_keeps_documents_and_history() {
    let mut rig = Rig::start("", &[], None);
    std::thread::sleep(Duration::from_secs(2));
    stop_vehicles(&mut rig);
    // Desired state waiting for an offline car must survive too.
    let fan = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";
    let r = rig.twin.patch(VINS[0], &json!({fan: 65}), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["desired"][fan]["state"], "pending");
    let query = format!("signal={SPEED}&signal={SOC}&from=0&to=99999999999999");
    // History is written in batches off the ingest path: wait until the
    // last reported sample is in it before taking the picture.
    for vin in VINS {
        let reported = rig.twin.doc(vin).expect("doc")["reported"][SPEED]["ts"].clone();
        assert!(
            wait_for(Duration::from_secs(10), || {
                let h = history(&rig.twin, vin, &query);
                h["signals"][SPEED]
                    .as_array()
                    .and_then(|p| p.last())
                    .map(|p| p["t"].clone())
                    == Some(reported.clone())
            }),
            "{vin}: the last sample never reached the history"
        );
    }
    let before: Vec<(Json, Json)> = VINS
        .iter()
        .map(|v| (rig.twin.doc(v).expect("doc"), history(&rig.twin, v, &query)))
        .collect();
    rig.twin.restart();
    for (vin, (doc, hist)) in VINS.iter().zip(&before) {
        let after = rig
            .twin
            .wait_doc(vin, Duration::from_secs(30), "restored", |d| {
                d["connectivity"] == "offline"
            });
        for key in [
            "reported",
            "desired",
            "delta",
            "plugins",
            "loss",
            "desired_version",
            "ota",
            "events",
        ] {
            assert_eq!(
                after[key], doc[key],
                "{vin}: `{key}` changed across the restart"
            );
        }
        assert!(after["version"].as_u64() >= doc["version"].as_u64());
        let h = history(&rig.twin, vin, &query);
        assert_eq!(
            h["signals"], hist["signals"],
            "{vin}: history changed across the restart"
        );
        assert!(!points(&h, SPEED).is_empty());
    }
}
