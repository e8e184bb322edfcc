//! Two twins in one shared-subscription group: between them they ingest
//! every telemetry message exactly once, and both show every vehicle's
//! connectivity (status is read by each of them).

use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::time::Duration;
use tcu_integration_tests::mqtt::{Mosquitto, Subscriber, mosquitto_available};
use tcu_integration_tests::twin::{Twin, VINS, ingested, spawn_vehicle, twin_config};

#[test]
fn two_twins_in_one_share_group_ingest_every_telemetry_message_once_and_both_show_connectivity() {
    assert!(
        mosquitto_available(),
        "mosquitto is not installed; ./scripts/test installs it"
    );
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "share-observer", "vehicle/#", true);
    let env = [("RUST_LOG", "info,tcu_twin::fleet=trace")];
    let shared = "share_group = \"fleet\"";
    let twins: Vec<Twin> = ["twin-a", "twin-b"]
        .iter()
        .map(|id| {
            Twin::start(
                dir.path(),
                id,
                &twin_config(broker.port, dir.path(), id, shared),
                &env,
            )
        })
        .collect();
    let mut cars: Vec<_> = VINS
        .iter()
        .map(|v| spawn_vehicle(dir.path(), v, broker.port, ""))
        .collect();
    for t in &twins {
        for vin in VINS {
            t.wait_doc(vin, Duration::from_secs(60), "online", |d| {
                d["connectivity"] == "online"
            });
        }
    }
    std::thread::sleep(Duration::from_secs(4));
    for c in &mut cars {
        c.kill();
    }
    for t in &twins {
        for vin in VINS {
            t.wait_doc(
                vin,
                Duration::from_secs(30),
                "offline by the last will",
                |d| d["connectivity"] == "offline",
            );
        }
    }
    let mut published: BTreeMap<(String, u64), u32> = BTreeMap::new();
    while let Some((topic, payload)) = sub.next(Duration::from_millis(500)) {
        if let Some(vin) = topic
            .strip_prefix("vehicle/")
            .and_then(|r| r.strip_suffix("/telemetry"))
        {
            let v: Json = serde_json::from_slice(&payload).expect("JSON");
            published.insert((vin.to_owned(), v["seq"].as_u64().expect("seq")), 0);
        }
    }
    assert!(published.len() >= 20, "{} messages", published.len());
    for t in &twins {
        let mine = ingested(&t.process.output());
        assert!(
            !mine.is_empty(),
            "a twin of the group got nothing:\n{}",
            t.process.output()
        );
        for key in mine {
            let n = published
                .get_mut(&key)
                .unwrap_or_else(|| panic!("{key:?} ingested but never published"));
            *n += 1;
        }
    }
    let wrong: Vec<_> = published.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        wrong.is_empty(),
        "(vin, seq) not ingested exactly once between the twins: {wrong:?}"
    );
}
