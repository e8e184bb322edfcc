use super::sqlite::SqliteStore;
use super::writer::Writer;
use super::*;
use crate::doc::{DesiredState, Outcome};
use serde_json::json;
use std::time::Duration;
use tcu_engine::catalog::Catalog;

const VIN: &str = "WTCUZ000000000001";
const SPEED: &str = "Vehicle.Speed";

fn open(dir: &tempfile::TempDir) -> (SqliteStore, Arc<Catalog>) {
    let catalog = Arc::new(Catalog::builtin());
    let s = SqliteStore::open(&dir.path().join("twin.db"), catalog.clone()).unwrap();
    (s, catalog)
}

fn samples(catalog: &Catalog, vin: &str, t: Millis, speed: f64) -> Record {
    Record::Samples {
        vin: Arc::from(vin),
        t,
        values: vec![(catalog.id(SPEED).unwrap(), speed)],
    }
}

#[test]
fn samples_events_outcomes_and_documents_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (s, c) = open(&dir);
    let mut batch: Vec<Record> = (0..10)
        .map(|i| samples(&c, VIN, 1000 * i, i as f64))
        .collect();
    batch.push(samples(&c, "WTCUZ000000000002", 500, 99.0));
    batch.push(Record::Event {
        vin: Arc::from(VIN),
        t: 2500,
        kind: "abs.engaged".into(),
        body: json!({"type": "abs.engaged", "ts": "x"}).to_string(),
    });
    batch.push(Record::Event {
        vin: Arc::from(VIN),
        t: 3500,
        kind: "fault".into(),
        body: json!({"type": "fault"}).to_string(),
    });
    batch.push(Record::Command {
        vin: Arc::from(VIN),
        outcome: Outcome {
            t: 4000,
            command_id: "c1".into(),
            path: "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed".into(),
            value: json!(70),
            state: DesiredState::Rejected,
            reason: Some("no".into()),
        },
    });
    batch.push(Record::Document {
        vin: Arc::from(VIN),
        body: "{\"v\":1}".into(),
    });
    batch.push(Record::Document {
        vin: Arc::from(VIN),
        body: "{\"v\":2}".into(),
    });
    s.write(&batch).unwrap();
    assert_eq!(
        s.samples(VIN, SPEED, 2000, 5000, 100).unwrap(),
        vec![(2000, 2.0), (3000, 3.0), (4000, 4.0)]
    );
    assert_eq!(s.samples(VIN, SPEED, 0, 10_000, 2).unwrap().len(), 2);
    assert!(
        s.samples("WTCUZ000000000009", SPEED, 0, 10_000, 100)
            .unwrap()
            .is_empty()
    );
    assert!(
        s.samples(VIN, "Vehicle.Nope", 0, 10_000, 100)
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.signals(VIN).unwrap(), vec![SPEED.to_owned()]);
    let all = EventQuery {
        from: 0,
        to: 10_000,
        kind: None,
        limit: 100,
    };
    let ev = s.events(VIN, &all).unwrap();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["type"], "abs.engaged");
    let faults = EventQuery {
        kind: Some("fault".into()),
        ..all.clone()
    };
    assert_eq!(s.events(VIN, &faults).unwrap().len(), 1);
    let newest = EventQuery { limit: 1, ..all };
    assert_eq!(s.events(VIN, &newest).unwrap()[0]["type"], "fault");
    let cmds = s.commands(VIN, 0, 10_000).unwrap();
    assert_eq!(cmds.len(), 1);
    assert_eq!(
        (cmds[0].state.as_str(), cmds[0].value.clone()),
        ("rejected", json!(70))
    );
    assert_eq!(s.documents().unwrap(), vec!["{\"v\":2}".to_owned()]);
    assert!(s.size_bytes() > 0);
    // Reopening finds everything.
    drop(s);
    let (s, _) = open(&dir);
    assert_eq!(s.samples(VIN, SPEED, 0, 10_000, 100).unwrap().len(), 10);
    assert_eq!(s.documents().unwrap().len(), 1);
}

#[test]
fn retention_deletes_only_what_is_older() {
    let dir = tempfile::tempdir().unwrap();
    let (s, c) = open(&dir);
    let batch: Vec<Record> = (0..10)
        .map(|i| samples(&c, VIN, 1000 * i, 1.0))
        .chain([Record::Event {
            vin: Arc::from(VIN),
            t: 100,
            kind: "x".into(),
            body: "{}".into(),
        }])
        .collect();
    s.write(&batch).unwrap();
    assert_eq!(s.prune(5000).unwrap(), 5 + 1);
    let left = s.samples(VIN, SPEED, 0, 100_000, 100).unwrap();
    assert_eq!(left.first().map(|r| r.0), Some(5000));
    assert_eq!(left.len(), 5);
}

#[test]
fn downsampling_gives_min_max_avg_and_last_per_bucket() {
    let rows = [(0, 1.0), (400, 5.0), (999, 3.0), (1000, 10.0), (3500, -1.0)];
    let b = downsample(rows, 0, 1000);
    assert_eq!(b.len(), 3, "empty buckets are left out: {b:?}");
    assert_eq!(
        (b[0].t, b[0].count, b[0].min, b[0].max, b[0].avg, b[0].last),
        (0, 3, 1.0, 5.0, 3.0, 3.0)
    );
    assert_eq!((b[1].t, b[1].last), (1000, 10.0));
    assert_eq!((b[2].t, b[2].min), (3000, -1.0));
    assert_eq!(Agg::Last.of(&b[0]), 3.0);
    assert_eq!(Agg::Max.of(&b[0]), 5.0);
    // Buckets start at `from`, not at the epoch.
    assert_eq!(downsample([(1250, 1.0)], 1200, 100)[0].t, 1200);
}

#[test]
fn a_long_range_reads_downsampled_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (s, c) = open(&dir);
    // An hour at 1 Hz, value = seconds.
    let batch: Vec<Record> = (0..3600)
        .map(|i| samples(&c, VIN, 1000 * i, i as f64))
        .collect();
    s.write(&batch).unwrap();
    let b = s.buckets(VIN, SPEED, 0, 3_600_000, 60_000).unwrap();
    assert_eq!(b.len(), 60);
    assert_eq!(
        (b[1].min, b[1].max, b[1].last, b[1].count),
        (60.0, 119.0, 119.0, 60)
    );
    assert!((b[1].avg - 89.5).abs() < 1e-9);
}

#[test]
fn the_writer_batches_off_the_caller_and_flushes_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let (s, c) = open(&dir);
    let store: Arc<dyn Store> = Arc::new(s);
    let w = Writer::spawn(store.clone(), 100, Duration::from_secs(60));
    for i in 0..250 {
        w.send(vec![samples(&c, VIN, i, 1.0)]);
    }
    assert!(w.flush(Duration::from_secs(10)));
    assert_eq!(store.samples(VIN, SPEED, 0, 1000, 1000).unwrap().len(), 250);
    let stats = &w.stats;
    assert_eq!(
        stats.written.load(std::sync::atomic::Ordering::Relaxed),
        250
    );
    assert!(stats.batches.load(std::sync::atomic::Ordering::Relaxed) >= 3);
    w.send(vec![samples(&c, VIN, 5000, 1.0)]);
    w.close();
    assert_eq!(
        store.samples(VIN, SPEED, 0, 10_000, 1000).unwrap().len(),
        251,
        "close writes the rest"
    );
}

#[test]
fn of_two_samples_with_the_same_key_in_one_batch_the_later_one_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (s, c) = open(&dir);
    let other = "WTCUZ000000000002";
    // Interleaved vehicles and times, as a fleet's batch holds them; the
    // key (vehicle, signal, t) 2000 of VIN comes twice.
    let batch = vec![
        samples(&c, VIN, 3000, 3.0),
        samples(&c, other, 1000, 10.0),
        samples(&c, VIN, 2000, 2.0),
        samples(&c, other, 2000, 20.0),
        samples(&c, VIN, 2000, 2.5),
        samples(&c, VIN, 1000, 1.0),
    ];
    s.write(&batch).unwrap();
    assert_eq!(
        s.samples(VIN, SPEED, 0, 10_000, 100).unwrap(),
        [(1000, 1.0), (2000, 2.5), (3000, 3.0)]
    );
    assert_eq!(
        s.samples(other, SPEED, 0, 10_000, 100).unwrap(),
        [(1000, 10.0), (2000, 20.0)]
    );
}
