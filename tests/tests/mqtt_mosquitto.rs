//! The `tcu` binary against a real mosquitto on an ephemeral loopback port:
//! telemetry layout and sequence, the retained last will, a 20 s broker
//! outage at QoS 1, mutual TLS, the command round trip, the legacy profile.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;
use tcu_engine::catalog::Catalog;
use tcu_integration_tests::fixtures;
use tcu_integration_tests::mqtt::{
    Mosquitto, Pki, Subscriber, make_pki, mosquitto_available, spawn_tcu_run, wait_for,
};

const VIN: &str = "WTCUZ000000000001";

fn require_mosquitto() {
    assert!(
        mosquitto_available(),
        "mosquitto is not installed; ./scripts/test installs it (apt-get install mosquitto)"
    );
}

/// A tcu config for `broker`, publishing every 200 ms, outbox in `dir`.
fn config(vin: &str, broker: &str, dir: &Path, extra: &str) -> String {
    format!(
        "[vehicle]\nvin = \"{vin}\"\n[mqtt]\nbroker = \"{broker}\"\npublish_period = \"200ms\"\noutbox_dir = \"{}\"\n{extra}\n",
        dir.join(format!("outbox-{vin}")).display()
    )
}

/// `tcu` with VIN [`VIN`] and the default test config, on `broker`.
fn spawn_default(dir: &Path, broker: &Mosquitto) -> tcu_integration_tests::process::Running {
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    spawn_tcu_run(dir, &config(VIN, &url, dir, ""), &[])
}

fn telemetry_topic(vin: &str) -> String {
    format!("vehicle/{vin}/telemetry")
}

#[test]
fn telemetry_has_vss_keys_of_all_six_subsystems_and_seq_steps_by_one() {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "t-telemetry", "vehicle/#", true);
    let _tcu = spawn_default(dir.path(), &broker);
    let msgs = sub.collect(&telemetry_topic(VIN), Duration::from_secs(30), |m| {
        m.len() >= 5
    });
    assert!(msgs.len() >= 5, "got {} telemetry messages", msgs.len());
    let catalog = Catalog::builtin();
    let seqs: Vec<u64> = msgs
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1, "seq must step by one: {seqs:?}");
    }
    let first = &msgs[0];
    assert_eq!(first["vin"], VIN);
    assert!(
        first["ts"]
            .as_str()
            .is_some_and(|t| t.contains('T') && t.ends_with('Z')),
        "{}",
        first["ts"]
    );
    let signals = first["signals"].as_object().expect("signals object");
    for key in signals.keys() {
        assert!(catalog.get(key).is_some(), "`{key}` is not a catalog path");
    }
    let plugins = fixtures::workspace_plugins_dir();
    for file in fixtures::WORKSPACE_PLUGIN_FILES {
        let info = tcu_engine::plugin::inspect(&plugins.join(file)).unwrap();
        for decl in &info.writes {
            assert!(
                signals.contains_key(&decl.path),
                "{} writes {} but telemetry lacks it",
                info.name,
                decl.path
            );
        }
    }
}

#[test]
fn killing_the_tcu_delivers_the_retained_offline_status() {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let status = format!("vehicle/{VIN}/status");
    let sub = Subscriber::connect(broker.port, "t-status", &status, true);
    let mut tcu = spawn_default(dir.path(), &broker);
    let online = sub.collect(&status, Duration::from_secs(20), |m| !m.is_empty());
    assert_eq!(
        online.first().map(|m| m["status"].clone()),
        Some(json!("online")),
        "{}",
        tcu.output()
    );
    assert_eq!(online[0]["plugins"].as_object().map(|p| p.len()), Some(6));
    tcu.kill();
    // A subscriber that arrives later gets the retained will.
    let later = Subscriber::connect(broker.port, "t-status-later", &status, true);
    let mut last = None;
    assert!(
        wait_for(Duration::from_secs(15), || {
            if let Some((_, p)) = later.next(Duration::from_millis(200)) {
                last = serde_json::from_slice::<Value>(&p).ok();
            }
            last.as_ref().is_some_and(|v| v["status"] == "offline")
        }),
        "no retained offline status; last: {last:?}"
    );
}

/// Telemetry seqs received (with how often) and seqs reported dropped.
fn tally(
    msgs: &[(String, Vec<u8>, bool)],
    vin: &str,
) -> (BTreeMap<u64, (u32, u32)>, BTreeSet<u64>, u64) {
    let mut seen: BTreeMap<u64, (u32, u32)> = BTreeMap::new();
    let mut dropped = BTreeSet::new();
    let mut dropped_count = 0;
    for (topic, payload, dup) in msgs {
        let v: Value = serde_json::from_slice(payload).expect("JSON payload");
        if *topic == telemetry_topic(vin) {
            let e = seen.entry(v["seq"].as_u64().expect("seq")).or_default();
            // (fresh publishes, broker redeliveries flagged DUP)
            if *dup { e.1 += 1 } else { e.0 += 1 }
        } else if *topic == format!("vehicle/{vin}/events") && v["type"] == "outbox.dropped" {
            dropped_count += v["count"].as_u64().expect("count");
            for r in v["telemetry_seqs"].as_array().expect("telemetry_seqs") {
                let (a, b) = (
                    r[0].as_u64().expect("range start"),
                    r[1].as_u64().expect("range end"),
                );
                dropped.extend(a..=b);
            }
        }
    }
    (seen, dropped, dropped_count)
}

#[test]
fn a_20_s_broker_outage_at_qos1_loses_no_seq_silently() {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path(), "");
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    // A persistent session: mosquitto saves it on SIGTERM and queues for it
    // while the subscriber reconnects.
    let sub = Subscriber::connect(broker.port, "t-outage", "vehicle/#", false);
    // Two cars: one with room to keep the whole outage, one whose outbox
    // must drop (64 KiB holds ~20 snapshots; the outage makes ~100).
    let (big, small) = (VIN, "WTCUZ000000000002");
    let dir_b = dir.path().join("b");
    let dir_s = dir.path().join("s");
    std::fs::create_dir_all(&dir_b).unwrap();
    std::fs::create_dir_all(&dir_s).unwrap();
    let tcu_b = spawn_tcu_run(&dir_b, &config(big, &url, &dir_b, ""), &[]);
    let tcu_s = spawn_tcu_run(
        &dir_s,
        &config(small, &url, &dir_s, "outbox_max_bytes = 65536"),
        &[],
    );
    let mut all = Vec::new();
    // Highest telemetry seq received per car; parses each message once.
    let mut max_seq: BTreeMap<String, u64> = BTreeMap::new();
    let mut pump = |all: &mut Vec<(String, Vec<u8>, bool)>| {
        while let Some((t, p, d)) = sub.next_full(Duration::from_millis(50)) {
            if let Some(vin) = t
                .strip_prefix("vehicle/")
                .and_then(|r| r.strip_suffix("/telemetry"))
            {
                let v: Value = serde_json::from_slice(&p).unwrap();
                let m = max_seq.entry(vin.to_owned()).or_default();
                *m = (*m).max(v["seq"].as_u64().unwrap());
            }
            all.push((t, p, d));
        }
        (
            max_seq.get(big).copied().unwrap_or(0),
            max_seq.get(small).copied().unwrap_or(0),
        )
    };
    assert!(
        wait_for(Duration::from_secs(30), || {
            let (b, s) = pump(&mut all);
            b >= 5 && s >= 5
        }),
        "no telemetry before the outage:\n{}\n{}",
        tcu_b.output(),
        tcu_s.output()
    );
    broker.stop();
    std::thread::sleep(Duration::from_secs(20)); // the outage itself
    assert!(
        tcu_b.output().contains("MQTT link lost"),
        "{}",
        tcu_b.output()
    );
    broker.restart();
    // Both cars produce 5 per second; wait until each has delivered at
    // least the outage's worth after the restart.
    let target = 5 + 20 * 5 + 10;
    let ok = wait_for(Duration::from_secs(40), || {
        let (b, s) = pump(&mut all);
        b >= target && s >= target
    });
    assert!(
        ok,
        "telemetry did not resume:\n{}\n{}\n{}",
        tcu_b.output(),
        tcu_s.output(),
        broker.log()
    );
    for vin in [big, small] {
        let (seen, dropped, dropped_count) = tally(&all, vin);
        let max = *seen.keys().next_back().unwrap();
        let missing: Vec<u64> = (1..=max)
            .filter(|s| !seen.contains_key(s) && !dropped.contains(s))
            .collect();
        assert!(
            missing.is_empty(),
            "{vin}: seqs missing without a drop report: {missing:?}"
        );
        let twice: Vec<u64> = seen
            .iter()
            .filter(|(_, (fresh, _))| *fresh > 1)
            .map(|(s, _)| *s)
            .collect();
        assert!(
            twice.is_empty(),
            "{vin}: seqs published twice by the TCU: {twice:?}"
        );
        let both: Vec<&u64> = dropped.iter().filter(|s| seen.contains_key(s)).collect();
        assert!(
            both.is_empty(),
            "{vin}: seqs reported dropped yet delivered: {both:?}"
        );
        if vin == big {
            assert_eq!(dropped_count, 0, "the big outbox dropped messages");
        } else {
            assert!(
                !dropped.is_empty(),
                "the small outbox should have dropped some telemetry"
            );
        }
    }
}

fn tls_broker(dir: &Path, pki: &Pki, tls_port: u16) -> Mosquitto {
    Mosquitto::start(
        dir,
        &format!(
            "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
            pki.ca.display(),
            pki.server.0.display(),
            pki.server.1.display()
        ),
    )
}

#[test]
fn mutual_tls_connects_with_the_client_certificate_and_is_refused_without() {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let tls_port = tcu_integration_tests::mqtt::free_port();
    let broker = tls_broker(dir.path(), &pki, tls_port);
    let sub = Subscriber::connect(broker.port, "t-tls", "vehicle/#", true);
    let url = format!("mqtts://127.0.0.1:{tls_port}");
    let (with, without) = (VIN, "WTCUZ000000000002");
    let d1 = dir.path().join("with");
    let d2 = dir.path().join("without");
    std::fs::create_dir_all(&d1).unwrap();
    std::fs::create_dir_all(&d2).unwrap();
    let certs = format!(
        "ca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        pki.ca.display(),
        pki.client.0.display(),
        pki.client.1.display()
    );
    let tcu_with = spawn_tcu_run(&d1, &config(with, &url, &d1, &certs), &[]);
    let tcu_without = spawn_tcu_run(
        &d2,
        &config(
            without,
            &url,
            &d2,
            &format!("ca_file = \"{}\"\n", pki.ca.display()),
        ),
        &[],
    );
    let got = sub.collect(&telemetry_topic(with), Duration::from_secs(20), |m| {
        m.len() >= 2
    });
    assert!(
        got.len() >= 2,
        "no telemetry over mutual TLS:\n{}\n{}",
        tcu_with.output(),
        broker.log()
    );
    let line = tcu_without
        .wait_line("t=    3.0s", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no status line:\n{}", tcu_without.output()));
    assert!(
        line.contains("mqtt=down published=0"),
        "without a client certificate: {line}"
    );
    assert!(
        sub.collect(
            &telemetry_topic(without),
            Duration::from_millis(500),
            |_| false
        )
        .is_empty()
    );
}

#[test]
fn commands_are_applied_or_rejected_with_a_reason_and_the_tcu_keeps_running() {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "t-cmd", "vehicle/#", true);
    let mut tcu = spawn_default(dir.path(), &broker);
    let tel = telemetry_topic(VIN);
    assert!(
        !sub.collect(&tel, Duration::from_secs(20), |m| !m.is_empty())
            .is_empty(),
        "{}",
        tcu.output()
    );
    let req = format!("vehicle/{VIN}/cmd/req");
    let res = format!("vehicle/{VIN}/cmd/res");
    let setpoint = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";
    let fan = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";
    let cases: Vec<(String, Value)> = vec![
        (
            json!({"id": "ok-1", "set": {setpoint: 26.5, fan: 80, "Vehicle.Cabin.HVAC.IsAirConditioningActive": true,
                "Vehicle.Cabin.Seat.Row1.DriverSide.HeatingCooling": 100, "Vehicle.ADAS.ABS.IsEnabled": false}})
            .to_string(),
            json!({"id": "ok-1", "status": "accepted"}),
        ),
        (json!({"id": "range", "set": {fan: 150}}).to_string(), json!("range")),
        (json!({"id": "sensor", "set": {"Vehicle.Speed": 10}}).to_string(), json!("sensor")),
        ("{\"id\": \"broken\", ".to_owned(), Value::Null),
        (
            json!({"id": "huge", "set": {setpoint: 20}, "pad": "x".repeat(20_000)}).to_string(),
            json!("huge"),
        ),
    ];
    for (payload, _) in &cases {
        sub.publish(&req, payload.clone());
    }
    let responses = sub.collect(&res, Duration::from_secs(15), |m| m.len() >= cases.len());
    assert_eq!(
        responses.len(),
        cases.len(),
        "{responses:?}\n{}",
        tcu.output()
    );
    let by_id = |id: &Value| {
        responses
            .iter()
            .find(|r| r["id"] == *id)
            .unwrap_or_else(|| panic!("no response for {id}: {responses:?}"))
    };
    assert_eq!(*by_id(&json!("ok-1")), cases[0].1);
    let reason = |id: &Value, key: &str| -> String {
        let r = by_id(id);
        assert_eq!(r["status"], "rejected", "{r}");
        r["errors"][key]
            .as_str()
            .unwrap_or_else(|| panic!("no reason for {key}: {r}"))
            .to_owned()
    };
    assert!(reason(&json!("range"), fan).contains("outside"));
    assert!(reason(&json!("sensor"), "Vehicle.Speed").contains("not an actuator"));
    assert!(reason(&Value::Null, "payload").contains("malformed JSON"));
    assert!(reason(&json!("huge"), "payload").contains("over the limit"));
    // Accepted values show in later telemetry; the refused ones changed nothing.
    let later = sub.collect(&tel, Duration::from_secs(10), |m| {
        m.last()
            .is_some_and(|t| t["signals"][setpoint] == json!(26.5))
    });
    let last = later.last().expect("telemetry after the command");
    assert_eq!(last["signals"][setpoint], json!(26.5));
    assert_eq!(last["signals"][fan], json!(80));
    assert_eq!(
        last["signals"]["Vehicle.Cabin.HVAC.IsAirConditioningActive"],
        json!(true)
    );
    assert_eq!(last["signals"]["Vehicle.ADAS.ABS.IsEnabled"], json!(false));
    assert!(tcu.running(), "the TCU stopped:\n{}", tcu.output());
}

#[test]
fn the_legacy_profile_publishes_the_proof_of_concepts_nesting_and_names() {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let topic = format!("device/{VIN}/telemetry");
    let sub = Subscriber::connect(broker.port, "t-legacy", "device/#", true);
    let cfg = config(
        VIN,
        &format!("mqtt://127.0.0.1:{}", broker.port),
        dir.path(),
        "",
    );
    let tcu = spawn_tcu_run(dir.path(), &cfg, &["--profile", "legacy"]);
    // The second snapshot: every plugin has run by then.
    let msgs = sub.collect(&topic, Duration::from_secs(20), |m| m.len() >= 2);
    let m = msgs
        .get(1)
        .unwrap_or_else(|| panic!("not two messages on {topic}:\n{}", tcu.output()));
    assert_eq!(m["DeviceID"], VIN);
    assert!(m["Timestamp"].as_str().is_some(), "{m}");
    let number = |path: &str| {
        let v = path.split('.').fold(m, |v, k| &v[k]);
        assert!(v.is_number(), "{path} is not a number: {v}\n{m}");
    };
    let boolean = |path: &str| {
        let v = path.split('.').fold(m, |v, k| &v[k]);
        assert!(v.is_boolean(), "{path} is not a boolean: {v}\n{m}");
    };
    let text = |path: &str| {
        let v = path.split('.').fold(m, |v, k| &v[k]);
        assert!(v.is_string(), "{path} is not a string: {v}\n{m}");
    };
    let null = |path: &str| {
        let v = path.split('.').fold(m, |v, k| &v[k]);
        let parent = path.rsplit_once('.').map(|(p, _)| p).unwrap_or_default();
        let parent = parent.split('.').fold(m, |v, k| &v[k]);
        let key = path.rsplit('.').next().unwrap_or_default();
        assert!(
            v.is_null() && parent.get(key).is_some(),
            "{path} should be present and null: {v}\n{m}"
        );
    };
    for z in 1..=3 {
        text(&format!("AirConditioning.Zone{z}.State"));
        number(&format!("AirConditioning.Zone{z}.Temperature"));
        null(&format!("AirConditioning.Zone{z}.Humidity"));
    }
    for s in 1..=5 {
        text(&format!("Airbag.Seat{s}.State"));
        for f in [
            "Triggered",
            "Active",
            "SeatbeltFastened",
            "PassengerPresent",
        ] {
            boolean(&format!("Airbag.Seat{s}.{f}"));
        }
    }
    for s in 1..=3 {
        text(&format!("HeatSeats.HeatedSeat{s}.State"));
        number(&format!("HeatSeats.HeatedSeat{s}.Temperature"));
    }
    number("ABS.BrakePedalPressure");
    number("ABS.BrakeActualPressure");
    boolean("ABS.TractionControl");
    for w in 1..=4 {
        number(&format!("ABS.Wheel{w}.Speed"));
        number(&format!("ABS.Wheel{w}.Pressure"));
        null(&format!("ABS.Wheel{w}.FluidTemperature"));
        number(&format!("ABS.Wheel{w}.DiskTemperature"));
    }
    number("Battery.BatteryTemperature");
    number("Battery.EnergyAdded");
    number("Battery.StateOfCharge");
    number("Engine.Speed");
    // No group publishes VSS paths any more.
    for (group, fields) in m.as_object().unwrap() {
        if let Some(fields) = fields.as_object() {
            for key in fields.keys() {
                assert!(
                    !key.starts_with("Vehicle.") && !key.starts_with("Sim."),
                    "{group} still publishes the VSS path {key}"
                );
            }
        }
    }
}
