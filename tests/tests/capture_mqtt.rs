//! Captures leaving a real `tcu run` over a real mosquitto: a vehicle on ice
//! whose driver brakes (the `demo` profile: away, cruise, and at 30 s a
//! firm braking that locks wheels on ice) engages its ABS, the capture of `abs.engaged` is published in
//! chunks on `vehicle/{vin}/captures`, and a subscriber reassembles the very
//! file (its SHA-256 is the chunks' `id`), also when the broker was down
//! at the trigger; `tcu vet` on it tells the ABS library from one whose
//! control is broken. Capture rules are also changed through `cmd/req`.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tcu_engine::record::TraceReader;
use tcu_integration_tests::mqtt::{Mosquitto, Subscriber, mosquitto_available, spawn_tcu_run};
use tcu_integration_tests::process::{Running, tcu_command};
use tcu_integration_tests::{fixtures, variants};

/// `tcu run` on ice with the demo driver, on `broker`, with `rules` as its
/// `[[record.capture]]` tables.
fn spawn(dir: &Path, vin: &str, broker: &Mosquitto, rules: &str) -> Running {
    let config = format!(
        "[vehicle]\nvin = \"{vin}\"\n[signals]\n\"Sim.Environment.RoadFriction\" = 0.1\n\
         [mqtt]\nbroker = \"mqtt://127.0.0.1:{}\"\npublish_period = \"1s\"\noutbox_dir = \"{}\"\n\
         [record]\ncapture_dir = \"{}\"\n{rules}",
        broker.port,
        dir.join("outbox").display(),
        dir.join("captures").display()
    );
    spawn_tcu_run(dir, &config, &["--driver", "demo"])
}

/// A capture put back together from its chunks.
#[derive(Debug)]
struct Reassembled {
    id: String,
    rule: String,
    trigger_tick: u64,
    text: String,
}

/// Chunks of captures, by id, as they arrive (any order, duplicates).
#[derive(Debug, Default)]
struct Chunks(BTreeMap<String, BTreeMap<u64, Value>>);

impl Chunks {
    /// Takes a chunk; returns its capture once every chunk of it is in.
    fn add(&mut self, c: Value) -> Option<Reassembled> {
        let id = c["id"].as_str().unwrap().to_owned();
        let n = c["chunks"].as_u64().unwrap();
        let parts = self.0.entry(id.clone()).or_default();
        parts.insert(c["chunk"].as_u64().unwrap(), c);
        if parts.len() as u64 != n {
            return None;
        }
        let first = &parts[&0];
        let text: String = parts
            .values()
            .map(|p| p["data"].as_str().unwrap())
            .collect();
        for p in parts.values() {
            assert_eq!(p["chunks"], first["chunks"]);
            assert_eq!(p["bytes"], first["bytes"]);
            assert!(p["data"].as_str().unwrap().len() <= 32 * 1024);
        }
        assert_eq!(text.len() as u64, first["bytes"].as_u64().unwrap());
        assert_eq!(hex::encode(Sha256::digest(text.as_bytes())), id, "hash");
        Some(Reassembled {
            id,
            rule: first["rule"].as_str().unwrap().to_owned(),
            trigger_tick: first["trigger_tick"].as_u64().unwrap(),
            text,
        })
    }
}

/// The next capture completed on `sub` within `timeout` (other topics are
/// skipped).
fn next_capture(
    sub: &Subscriber,
    chunks: &mut Chunks,
    vin: &str,
    timeout: Duration,
) -> Option<Reassembled> {
    let topic = format!("vehicle/{vin}/captures");
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if let Some((t, p)) = sub.next(Duration::from_millis(200))
            && t == topic
            && let Some(done) = chunks.add(serde_json::from_slice(&p).unwrap())
        {
            return Some(done);
        }
    }
    None
}

/// Writes a reassembled capture to `dir` and checks it opens as a trace
/// of consecutive rows around its trigger.
fn save(c: &Reassembled, dir: &Path, rows: usize) -> PathBuf {
    let path = dir.join(format!("{}.trace", &c.id[..16]));
    std::fs::write(&path, &c.text).unwrap();
    let mut r = TraceReader::open(&path).unwrap();
    let mut ticks = Vec::new();
    while let Some(t) = r.next_row().unwrap() {
        ticks.push(t);
    }
    assert_eq!(ticks.len(), rows, "{}", path.display());
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1));
    assert!(ticks.contains(&c.trigger_tick));
    path
}

/// `tcu vet --current <current> --candidate <candidate> <trace>`: its exit
/// code and stdout.
fn vet(current: &Path, candidate: &Path, trace: &Path) -> (i32, String) {
    let out = tcu_command()
        .arg("vet")
        .arg("--current")
        .arg(current)
        .arg("--candidate")
        .arg(candidate)
        .arg(trace)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

const ABS_RULE: &str = "[[record.capture]]\nrule = \"abs.engaged\"\nbefore = 2.0\nafter = 1.0\n";

/// Waits until the vehicle's link is up (its retained status is online).
fn wait_online(sub: &Subscriber, vin: &str, tcu: &Running) {
    let status = format!("vehicle/{vin}/status");
    assert!(
        !sub.collect(&status, Duration::from_secs(30), |m| m
            .iter()
            .any(|s| s["status"] == "online"))
            .is_empty(),
        "{}",
        tcu.output()
    );
}

#[test]
fn an_abs_capture_on_ice_arrives_whole_over_mqtt_and_tcu_vet_on_it_tells_a_broken_abs_apart() {
    assert!(mosquitto_available(), "mosquitto is not installed");
    let vin = "WTCUZ0000000000C1";
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "t-captures", "vehicle/+/captures", true);
    let tcu = spawn(dir.path(), vin, &broker, ABS_RULE);
    let mut chunks = Chunks::default();
    let capture = next_capture(&sub, &mut chunks, vin, Duration::from_secs(90))
        .unwrap_or_else(|| panic!("no capture arrived:\n{}", tcu.output()));
    assert_eq!(capture.rule, "abs.engaged");
    // 2 s before, the trigger, 1 s after.
    let path = save(&capture, dir.path(), 301);
    // The vehicle wrote the same file.
    let on_vehicle = dir.path().join("captures").join(format!(
        "capture-{:010}-abs.engaged.trace",
        capture.trigger_tick
    ));
    assert_eq!(std::fs::read_to_string(&on_vehicle).unwrap(), capture.text);
    drop(tcu);

    let current = fixtures::workspace_plugins_dir().join(tcu_scenario::runner::library_file("abs"));
    let broken = variants::abs_variant("broken_control", &dir.path().join("abs-broken.so"));
    let (code, report) = vet(&current, &broken, &path);
    assert_eq!(code, 1, "{report}");
    // The controller's outputs diverge; the wheel speeds it passes on do not.
    let verdict = |signal: &str| {
        report
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(signal))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_else(|| panic!("{signal} not in the report:\n{report}"))
            .to_owned()
    };
    assert_eq!(verdict("Vehicle.ADAS.ABS.IsEngaged"), "FAIL", "{report}");
    assert_eq!(
        verdict("Sim.Chassis.Axle.Row1.Wheel.Left.Brake.Pressure"),
        "FAIL",
        "{report}"
    );
    assert_eq!(
        verdict("Vehicle.Chassis.Axle.Row1.Wheel.Left.Speed"),
        "ok",
        "{report}"
    );
    let same = dir.path().join("abs-same.so");
    std::fs::copy(&current, &same).unwrap();
    let (code, report) = vet(&current, &same, &path);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn an_abs_capture_taken_while_the_broker_is_down_arrives_whole_once_it_is_back() {
    assert!(mosquitto_available(), "mosquitto is not installed");
    let vin = "WTCUZ0000000000C2";
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path(), "");
    // A session the broker keeps across its restart, so what is published
    // before this subscriber is back is kept for it.
    let sub = Subscriber::connect(broker.port, "t-offline", "vehicle/#", false);
    let tcu = spawn(dir.path(), vin, &broker, ABS_RULE);
    wait_online(&sub, vin, &tcu);
    // Long before the braking at 30 s.
    broker.stop();
    let handed = "capture handed to the MQTT link";
    let line = tcu.wait_for(handed, Duration::from_secs(90));
    let output = tcu.output();
    let lost_at = output
        .find("MQTT link lost")
        .unwrap_or_else(|| panic!("{output}"));
    assert!(lost_at < output.find(handed).unwrap(), "{output}");
    let tick: u64 = line
        .split("tick=")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no tick in `{line}`"));
    broker.restart();
    let mut chunks = Chunks::default();
    let capture = next_capture(&sub, &mut chunks, vin, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("the capture taken offline never arrived:\n{}", tcu.output()));
    assert_eq!(
        (capture.rule.as_str(), capture.trigger_tick),
        ("abs.engaged", tick)
    );
    save(&capture, dir.path(), 301);
}

#[test]
fn capture_rules_changed_through_cmd_req_are_announced_and_capture_and_a_bad_rule_is_refused_by_name()
 {
    assert!(mosquitto_available(), "mosquitto is not installed");
    let vin = "WTCUZ0000000000C3";
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "t-rules", "vehicle/#", true);
    // No rule in the configuration: the capturer runs for the link anyway.
    let tcu = spawn(dir.path(), vin, &broker, "");
    wait_online(&sub, vin, &tcu);
    let req = format!("vehicle/{vin}/cmd/req");
    let res = format!("vehicle/{vin}/cmd/res");
    sub.publish(
        &req,
        json!({"id": "bad", "capture_rules": [{"rule": "Vehicle.Sped > 1"}]}).to_string(),
    );
    let bad = sub.collect(&res, Duration::from_secs(15), |m| !m.is_empty());
    assert_eq!(bad.len(), 1, "{}", tcu.output());
    assert_eq!(bad[0]["id"], "bad");
    assert_eq!(bad[0]["status"], "rejected", "{}", bad[0]);
    assert!(
        bad[0]["errors"]["capture_rules[0]"]
            .as_str()
            .is_some_and(|e| e.contains("`Vehicle.Sped` is not a signal")),
        "{}",
        bad[0]
    );

    let rule = "Vehicle.Speed > 8";
    sub.publish(
        &req,
        json!({"id": "r-7", "capture_rules": [{"rule": rule, "before": 1.0, "after": 0.5}]})
            .to_string(),
    );
    let mut accepted = None;
    let mut announced = None;
    let mut chunks = Chunks::default();
    let mut capture = None;
    let captures = format!("vehicle/{vin}/captures");
    let events = format!("vehicle/{vin}/events");
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end && capture.is_none() {
        let Some((t, p)) = sub.next(Duration::from_millis(200)) else {
            continue;
        };
        if t == res {
            accepted = Some(serde_json::from_slice::<Value>(&p).unwrap());
        } else if t == events {
            let e: Value = serde_json::from_slice(&p).unwrap();
            if e["type"] == "capture.rules" {
                announced = Some(e);
            }
        } else if t == captures {
            // Announced and answered before any capture of the new rule.
            assert!(announced.is_some() && accepted.is_some());
            capture = chunks.add(serde_json::from_slice(&p).unwrap());
        }
    }
    let accepted = accepted.unwrap_or_else(|| panic!("no answer:\n{}", tcu.output()));
    assert_eq!(accepted, json!({"id": "r-7", "status": "accepted"}));
    let announced = announced.unwrap();
    let listed: Value = serde_json::from_str(announced["rules"].as_str().unwrap()).unwrap();
    assert_eq!(listed, json!([{"rule": rule, "before": 1.0, "after": 0.5}]));
    let capture = capture.unwrap_or_else(|| panic!("no capture:\n{}", tcu.output()));
    assert_eq!(capture.rule, rule);
    save(&capture, dir.path(), 151);
}

#[test]
fn the_command_policy_can_keep_capture_rules_from_being_changed_remotely() {
    assert!(mosquitto_available(), "mosquitto is not installed");
    let vin = "WTCUZ0000000000C4";
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "t-rules-policy", "vehicle/#", true);
    let config = format!(
        "[vehicle]\nvin = \"{vin}\"\n[mqtt]\nbroker = \"mqtt://127.0.0.1:{}\"\npublish_period = \"1s\"\n\
         outbox_dir = \"{}\"\ncommands = [\"*\", \"!Sim.Record.*\"]\n",
        broker.port,
        dir.path().join("outbox").display()
    );
    let tcu = spawn_tcu_run(dir.path(), &config, &["--driver", "idle"]);
    wait_online(&sub, vin, &tcu);
    sub.publish(
        &format!("vehicle/{vin}/cmd/req"),
        json!({"id": "p", "capture_rules": [{"rule": "abs.engaged"}]}).to_string(),
    );
    let res = sub.collect(
        &format!("vehicle/{vin}/cmd/res"),
        Duration::from_secs(15),
        |m| !m.is_empty(),
    );
    assert_eq!(res.len(), 1, "{}", tcu.output());
    assert_eq!(res[0]["status"], "rejected", "{}", res[0]);
    assert!(
        res[0]["errors"]["Sim.Record.CaptureRules"]
            .as_str()
            .is_some_and(|e| e.contains("[mqtt] commands")),
        "{}",
        res[0]
    );
    assert_eq!(tcu.count("capture rules:"), 0, "{}", tcu.output());
}
