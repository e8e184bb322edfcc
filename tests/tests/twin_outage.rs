//! A 20 s broker outage under two vehicles and the twin: the twin's loss
//! counters agree with what the vehicles' outboxes reported, and nothing
//! is lost silently when the broker kept every message.

use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tcu_integration_tests::mqtt::{Mosquitto, Subscriber, mosquitto_available, wait_for};
use tcu_integration_tests::twin::{Twin, VINS, spawn_vehicle, twin_config};

#[test]
fn after_a_20_s_broker_outage_the_twins_loss_counters_agree_with_the_outbox_reports() {
    assert!(
        mosquitto_available(),
        "mosquitto is not installed; ./scripts/test installs it"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path(), "");
    // A persistent session: the broker queues for it across its restart.
    let sub = Subscriber::connect(broker.port, "outage-observer", "vehicle/#", false);
    let twin = Twin::start(
        dir.path(),
        "twin",
        &twin_config(broker.port, dir.path(), "twin", ""),
        &[],
    );
    // One car with room for the whole outage, one whose outbox must drop
    // (64 KiB holds ~20 snapshots; the outage makes ~100).
    let (big, small) = (VINS[0], VINS[1]);
    let _b = spawn_vehicle(dir.path(), big, broker.port, "");
    let _s = spawn_vehicle(dir.path(), small, broker.port, "outbox_max_bytes = 65536");
    for vin in VINS {
        twin.wait_doc(vin, Duration::from_secs(60), "telemetry", |d| {
            d["loss"]["received"].as_u64() >= Some(5)
        });
    }
    let mut highest: BTreeMap<String, u64> = BTreeMap::new();
    let mut dropped: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut seen: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut pump = || {
        while let Some((topic, payload)) = sub.next(Duration::from_millis(50)) {
            let Some((vin, leaf)) = topic
                .strip_prefix("vehicle/")
                .and_then(|r| r.split_once('/'))
            else {
                continue;
            };
            let v: Json = serde_json::from_slice(&payload).expect("JSON");
            match leaf {
                "telemetry" => {
                    let s = v["seq"].as_u64().expect("seq");
                    seen.entry(vin.to_owned()).or_default().insert(s);
                    let h = highest.entry(vin.to_owned()).or_default();
                    *h = (*h).max(s);
                }
                "events" if v["type"] == "outbox.dropped" => {
                    for r in v["telemetry_seqs"].as_array().expect("ranges") {
                        let (a, b) = (r[0].as_u64().expect("from"), r[1].as_u64().expect("to"));
                        dropped.entry(vin.to_owned()).or_default().extend(a..=b);
                    }
                }
                _ => {}
            }
        }
        (
            highest.get(big).copied().unwrap_or(0),
            highest.get(small).copied().unwrap_or(0),
        )
    };
    pump();
    broker.stop();
    std::thread::sleep(Duration::from_secs(20));
    broker.restart();
    let target = 5 + 20 * 5 + 10;
    assert!(
        wait_for(Duration::from_secs(60), || {
            let (b, s) = pump();
            b >= target && s >= target
        }),
        "telemetry did not resume: {highest:?}\n{}",
        broker.log()
    );
    for vin in VINS {
        let h = highest[vin];
        // The twin has caught up with what the observer saw.
        let doc = twin.wait_doc(vin, Duration::from_secs(60), "caught up", |d| {
            d["reported"]["Vehicle.Speed"]["seq"].as_u64() >= Some(h)
        });
        let loss = &doc["loss"];
        let reported = dropped.get(vin).map_or(0, |d| d.len() as u64);
        assert_eq!(
            loss["reported_dropped"].as_u64(),
            Some(reported),
            "{vin}: {loss}"
        );
        assert_eq!(loss["silent_lost"], 0, "{vin}: {loss}");
        let missing = (1..=h)
            .filter(|s| !seen[vin].contains(s) && !dropped.get(vin).is_some_and(|d| d.contains(s)))
            .count();
        assert_eq!(missing, 0, "{vin}: the observer saw a silent loss too");
    }
    assert!(
        dropped.get(small).is_some_and(|d| !d.is_empty()),
        "the small outbox should have dropped"
    );
    assert!(
        !dropped.contains_key(big),
        "the big outbox dropped: {:?}",
        dropped.get(big)
    );
    let small_doc = twin.doc(small).expect("doc");
    assert!(
        small_doc["loss"]["gaps"].as_u64() >= Some(1),
        "{}",
        small_doc["loss"]
    );
}
