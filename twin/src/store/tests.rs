//! One suite for every backend: each case runs against SQLite (a file in
//! a temporary directory) and PostgreSQL (a real server the tests start;
//! the cases say they were skipped when none is installed, unless it is
//! required). Then what only the shared store does: peers' checkpoints,
//! the ingest log, outcomes kept once, migrations, errors without the
//! password.

use super::postgres::{PgTarget, PostgresStore, redact};
use super::sqlite::SqliteStore;
use super::writer::Writer;
use super::*;
use crate::doc::{DesiredState, Outcome};
use serde_json::json;
use std::time::Duration;
use tcu_engine::catalog::Catalog;
use tcu_integration_tests::postgres::{PASSWORD, Postgres};

const VIN: &str = "WTCUZ000000000001";
const SPEED: &str = "Vehicle.Speed";

/// A backend under test: `open()` opens the same database again (a
/// restart); `_keep` holds what it lives in.
struct Backend {
    open: Box<dyn Fn() -> Box<dyn Store>>,
    _keep: Box<dyn std::any::Any>,
}

impl Backend {
    fn sqlite() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("twin.db");
        Some(Self {
            open: Box::new(move || {
                Box::new(SqliteStore::open(&path, Arc::new(Catalog::builtin())).unwrap())
            }),
            _keep: Box::new(dir),
        })
    }

    fn postgres() -> Option<Self> {
        let pg = Postgres::shared("twin store suite")?;
        let target = target(&pg.fresh_database());
        Some(Self {
            open: Box::new(move || {
                Box::new(
                    PostgresStore::open(&target, "twin-a", Arc::new(Catalog::builtin())).unwrap(),
                )
            }),
            _keep: Box::new(pg),
        })
    }
}

fn target(url: &str) -> PgTarget {
    PgTarget {
        url: url.to_owned(),
        password: Some(PASSWORD.to_owned()),
    }
}

/// Declares every case of the suite as a test of `$backend`.
macro_rules! suite {
    ($backend:ident: $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[test]
                fn $case() {
                    if let Some(b) = super::Backend::$backend() {
                        super::$case(&b);
                    }
                }
            )*
        }
    };
}

macro_rules! both {
    ($($case:ident),* $(,)?) => {
        suite!(sqlite: $($case),*);
        suite!(postgres: $($case),*);
    };
}

both!(
    samples_events_outcomes_and_documents_round_trip,
    retention_deletes_only_what_is_older,
    a_long_range_reads_downsampled_from_the_store,
    the_writer_batches_off_the_caller_and_flushes_on_request,
    of_two_samples_with_the_same_key_in_one_batch_the_later_one_is_kept,
    a_capture_is_listed_as_its_chunks_come_and_exported_whole_once_complete,
    a_chunk_stored_twice_is_kept_once_and_retention_deletes_old_captures,
    incomplete_captures_are_read_back_with_their_chunks_for_a_restart,
);

fn catalog() -> Arc<Catalog> {
    Arc::new(Catalog::builtin())
}

fn samples(catalog: &Catalog, vin: &str, t: Millis, speed: f64) -> Record {
    Record::Samples {
        vin: Arc::from(vin),
        t,
        seq: u64::try_from(t).unwrap_or_default() + 1,
        values: vec![(catalog.id(SPEED).unwrap(), speed)],
    }
}

fn samples_events_outcomes_and_documents_round_trip(b: &Backend) {
    let (s, c) = ((b.open)(), catalog());
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
    let s = (b.open)();
    assert_eq!(s.samples(VIN, SPEED, 0, 10_000, 100).unwrap().len(), 10);
    assert_eq!(s.documents().unwrap().len(), 1);
}

fn retention_deletes_only_what_is_older(b: &Backend) {
    let (s, c) = ((b.open)(), catalog());
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

fn a_long_range_reads_downsampled_from_the_store(b: &Backend) {
    let (s, c) = ((b.open)(), catalog());
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

fn the_writer_batches_off_the_caller_and_flushes_on_request(b: &Backend) {
    let c = catalog();
    let store: Arc<dyn Store> = Arc::from((b.open)());
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

fn of_two_samples_with_the_same_key_in_one_batch_the_later_one_is_kept(b: &Backend) {
    let (s, c) = ((b.open)(), catalog());
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

/// Two twins' stores on one fresh database, or `None` when skipped.
fn two_twins() -> Option<(Arc<Postgres>, String, PostgresStore, PostgresStore)> {
    let pg = Postgres::shared("twin shared store")?;
    let url = pg.fresh_database();
    let a = PostgresStore::open(&target(&url), "twin-a", catalog()).unwrap();
    let b = PostgresStore::open(&target(&url), "twin-b", catalog()).unwrap();
    Some((pg, url, a, b))
}

fn document(vin: &str, body: &str) -> Record {
    Record::Document {
        vin: Arc::from(vin),
        body: body.to_owned(),
    }
}

#[test]
fn a_twin_reads_its_peers_checkpoints_once_each_change_and_never_its_own() {
    let Some((_pg, _url, a, b)) = two_twins() else {
        return;
    };
    a.write(&[
        document(VIN, "{\"a\":1}"),
        document("WTCUZ000000000002", "{\"a\":2}"),
    ])
    .unwrap();
    b.write(&[document(VIN, "{\"b\":1}")]).unwrap();
    assert_eq!(a.documents().unwrap(), ["{\"a\":1}", "{\"a\":2}"]);
    assert_eq!(b.documents().unwrap(), ["{\"b\":1}"]);
    let mut first = b.peer_documents().unwrap();
    first.sort();
    assert_eq!(first, ["{\"a\":1}", "{\"a\":2}"]);
    assert!(
        b.peer_documents().unwrap().is_empty(),
        "nothing changed since"
    );
    a.write(&[document(VIN, "{\"a\":3}")]).unwrap();
    assert_eq!(b.peer_documents().unwrap(), ["{\"a\":3}"]);
    assert_eq!(a.peer_documents().unwrap(), ["{\"b\":1}"]);
}

#[test]
fn every_telemetry_message_is_logged_once_with_its_seq_and_the_twin_that_took_it() {
    let Some((pg, url, a, b)) = two_twins() else {
        return;
    };
    let c = catalog();
    a.write(&[samples(&c, VIN, 1000, 1.0), samples(&c, VIN, 3000, 3.0)])
        .unwrap();
    b.write(&[samples(&c, VIN, 2000, 2.0)]).unwrap();
    let db = url.rsplit('/').next().unwrap();
    let log = pg.query(
        db,
        "SELECT v.vin, i.seq, i.instance FROM ingested i JOIN vehicles v ON v.id = i.vehicle ORDER BY i.seq",
    );
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            format!("{VIN}|1001|twin-a"),
            format!("{VIN}|2001|twin-b"),
            format!("{VIN}|3001|twin-a")
        ]
    );
    assert_eq!(a.samples(VIN, SPEED, 0, 10_000, 10).unwrap().len(), 3);
}

#[test]
fn a_command_outcome_two_twins_record_is_stored_once() {
    let Some((_pg, _url, a, b)) = two_twins() else {
        return;
    };
    let outcome = |state, t| Record::Command {
        vin: Arc::from(VIN),
        outcome: Outcome {
            t,
            command_id: "twin-x-1".into(),
            path: "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed".into(),
            value: json!(70),
            state,
            reason: None,
        },
    };
    a.write(&[
        outcome(DesiredState::Sent, 10),
        outcome(DesiredState::Applied, 20),
    ])
    .unwrap();
    b.write(&[outcome(DesiredState::Applied, 21)]).unwrap();
    let states: Vec<String> = a
        .commands(VIN, 0, 100)
        .unwrap()
        .into_iter()
        .map(|c| c.state)
        .collect();
    assert_eq!(states, ["sent", "applied"]);
}

#[test]
fn the_schema_is_created_once_and_a_newer_one_is_refused() {
    let Some((pg, url, a, _b)) = two_twins() else {
        return;
    };
    drop(a);
    let db = url.rsplit('/').next().unwrap();
    assert_eq!(
        pg.query(db, "SELECT version FROM tcu_twin_schema").trim(),
        "2",
        "the first schema and the captures"
    );
    assert!(PostgresStore::open(&target(&url), "twin-c", catalog()).is_ok());
    pg.query(db, "UPDATE tcu_twin_schema SET version = 99");
    let e = PostgresStore::open(&target(&url), "twin-c", catalog()).unwrap_err();
    assert!(e.to_string().contains("version 99"), "{e}");
}

#[test]
fn errors_name_the_database_url_without_its_password() {
    let port = tcu_integration_tests::mqtt::free_port();
    let t = PgTarget {
        url: format!("postgres://tcu:hunter22@127.0.0.1:{port}/fleet"),
        password: None,
    };
    let e = PostgresStore::open(&t, "twin-a", catalog())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("postgres://tcu@127.0.0.1:{port}/fleet")) && e.contains("connect"),
        "{e}"
    );
    assert!(!e.contains("hunter22"), "{e}");
    assert!(!format!("{t:?}").contains("hunter22"));
    assert_eq!(redact("postgres://u:p@h/d?x=1"), "postgres://u@h/d?x=1");
    assert_eq!(redact("postgresql://h:5/d"), "postgresql://h:5/d");
    let bad = PgTarget {
        url: "postgres://h:notaport/d".into(),
        password: None,
    };
    let e = PostgresStore::open(&bad, "twin-a", catalog())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad URL") && e.contains("postgres://h:notaport/d"),
        "{e}"
    );
}

#[test]
fn a_postgres_store_dropped_on_an_async_runtime_closes_without_panicking() {
    let Some((_pg, _url, a, b)) = two_twins() else {
        return;
    };
    a.write(&[document(VIN, "{}")]).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    // The twin's last reference to its store goes on its runtime.
    rt.block_on(async move { drop((a, b)) });
}

#[test]
fn two_twins_writing_the_first_samples_of_the_same_new_vehicles_at_once_lose_no_batch() {
    // Both stores insert the same new VINs at the same moment: the insert
    // that waits on the other's uncommitted row must still find the id
    // (a lookup in the same statement's snapshot finds nothing, and the
    // whole batch was lost).
    let Some((_pg, _url, a, b)) = two_twins() else {
        return;
    };
    let c = catalog();
    let rounds = 40;
    let barrier = std::sync::Barrier::new(2);
    let failed: Vec<String> = std::thread::scope(|s| {
        let writers: Vec<_> = [(&a, 1000), (&b, 2000)]
            .into_iter()
            .map(|(store, t)| {
                let (barrier, c) = (&barrier, &c);
                s.spawn(move || {
                    let mut failed = Vec::new();
                    for round in 0..rounds {
                        let vin = format!("WTCUZ0000TF{round:06}");
                        barrier.wait();
                        if let Err(e) = store.write(&[samples(c, &vin, t, 1.0)]) {
                            failed.push(format!("round {round}: {e}"));
                        }
                    }
                    failed
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|w| w.join().expect("a writer thread"))
            .collect()
    });
    assert!(failed.is_empty(), "batches lost: {failed:?}");
    for round in 0..rounds {
        let vin = format!("WTCUZ0000TF{round:06}");
        assert_eq!(
            a.samples(&vin, SPEED, 0, 10_000, 10).unwrap().len(),
            2,
            "{vin}: both twins' samples are stored"
        );
    }
}

/// A small trace file whose header lists battery and abs.
fn capture_file() -> String {
    let mut f = String::from(
        "# tcu-trace 1\n# tick_rate_hz 100\n# plugin battery 1.0.0 reads=Sim.A writes=Vehicle.B\n\
         # plugin abs 1.2.0 reads=Sim.C writes=Vehicle.D\ntick,Sim.A\n",
    );
    for i in 0..200 {
        f.push_str(&format!("{i},QJ9Aq{i}\n"));
    }
    f
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The records of `file` received at `t` as pieces of `piece` bytes,
/// in the order `order` gives the indices, with the completion last (as
/// the assembler gives them).
fn capture_records(file: &str, piece: usize, order: &[usize], vin: &str, t: Millis) -> Vec<Record> {
    let pieces: Vec<&str> = file
        .as_bytes()
        .chunks(piece)
        .map(|p| std::str::from_utf8(p).unwrap())
        .collect();
    let id = sha256_hex(file.as_bytes());
    let meta = Arc::new(CaptureMeta {
        id: id.clone(),
        rule: "abs.engaged".into(),
        trigger_tick: 1234,
        trigger_t: 12.34,
        bytes: file.len() as u64,
        chunks: pieces.len() as u32,
    });
    let mut out: Vec<Record> = order
        .iter()
        .map(|&i| Record::CaptureChunk {
            vin: Arc::from(vin),
            meta: meta.clone(),
            t,
            chunk: i as u32,
            data: pieces[i].to_owned(),
        })
        .collect();
    out.push(Record::CaptureComplete {
        vin: Arc::from(vin),
        id,
        t,
        plugins: json!({"battery": "1.0.0", "abs": "1.2.0"}).to_string(),
    });
    out
}

fn chunk_count(file: &str, piece: usize) -> usize {
    file.len().div_ceil(piece)
}

fn a_capture_is_listed_as_its_chunks_come_and_exported_whole_once_complete(b: &Backend) {
    let s = (b.open)();
    let f = capture_file();
    let n = chunk_count(&f, 600);
    let id = sha256_hex(f.as_bytes());
    let order: Vec<usize> = (0..n).rev().collect();
    let records = capture_records(&f, 600, &order, VIN, 5000);
    let (first, rest) = records.split_at(2);
    s.write(first).unwrap();
    let q = CaptureQuery {
        vin: Some(VIN.into()),
        ..Default::default()
    };
    let listed = s.captures(&q).unwrap();
    assert_eq!(listed.len(), 1);
    let c = &listed[0];
    assert_eq!(
        (c.meta.id.as_str(), c.received_chunks, c.complete),
        (id.as_str(), 2, false)
    );
    assert_eq!(c.meta.chunks as usize, n);
    assert_eq!(
        (c.meta.rule.as_str(), c.meta.trigger_tick),
        ("abs.engaged", 1234)
    );
    let (_, file_now) = s.capture_file(VIN, &id).unwrap().unwrap();
    assert_eq!(file_now, None, "no file before it is complete");
    s.write(rest).unwrap();
    let (info, exported) = s.capture_file(VIN, &id).unwrap().unwrap();
    assert!(info.complete);
    assert_eq!(info.received_chunks as usize, n);
    assert_eq!(exported.as_deref(), Some(f.as_str()), "byte for byte");
    assert_eq!(
        info.plugins.get("battery").map(String::as_str),
        Some("1.0.0")
    );
    let abs = CaptureQuery {
        subsystem: Some("abs".into()),
        complete: true,
        ..Default::default()
    };
    assert_eq!(s.captures(&abs).unwrap().len(), 1);
    let wipers = CaptureQuery {
        subsystem: Some("wipers".into()),
        ..Default::default()
    };
    assert!(s.captures(&wipers).unwrap().is_empty());
    assert!(s.capture_file(VIN, &"0".repeat(64)).unwrap().is_none());
    assert!(s.capture_file("WTCUZ000000000002", &id).unwrap().is_none());
    let other = CaptureQuery {
        vin: Some("WTCUZ000000000002".into()),
        ..Default::default()
    };
    assert!(s.captures(&other).unwrap().is_empty());
}

fn a_chunk_stored_twice_is_kept_once_and_retention_deletes_old_captures(b: &Backend) {
    let s = (b.open)();
    let f = capture_file();
    let order: Vec<usize> = (0..chunk_count(&f, 600)).collect();
    let records = capture_records(&f, 600, &order, VIN, 5000);
    // A second twin on the same store writes the same records again.
    s.write(&records).unwrap();
    s.write(&records).unwrap();
    let (info, exported) = s
        .capture_file(VIN, &sha256_hex(f.as_bytes()))
        .unwrap()
        .unwrap();
    assert_eq!(exported.as_deref(), Some(f.as_str()));
    assert_eq!(info.received, 5000);
    assert_eq!(s.prune(5000).unwrap(), 0, "not older");
    assert_eq!(s.prune(5001).unwrap(), 1);
    assert!(s.captures(&CaptureQuery::default()).unwrap().is_empty());
    // The chunks went with it: the same capture again starts from nothing.
    s.write(&records[..1]).unwrap();
    let listed = s.captures(&CaptureQuery::default()).unwrap();
    assert_eq!(listed[0].received_chunks, 1);
}

fn incomplete_captures_are_read_back_with_their_chunks_for_a_restart(b: &Backend) {
    let s = (b.open)();
    let f = capture_file();
    let chunks = chunk_count(&f, 600);
    let order: Vec<usize> = (0..chunks).collect();
    let records = capture_records(&f, 600, &order, VIN, 5000);
    // All but the last chunk (and its completion): incomplete.
    s.write(&records[..chunks - 1]).unwrap();
    let pending = s.incomplete_captures().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].vin, VIN);
    assert_eq!(pending[0].meta.chunks as usize, chunks);
    let indices: Vec<u32> = pending[0].parts.iter().map(|p| p.0).collect();
    assert_eq!(indices, (0..chunks as u32 - 1).collect::<Vec<_>>());
    let joined: String = pending[0].parts.iter().map(|p| p.1.as_str()).collect();
    assert!(f.starts_with(&joined));
    s.write(&records[chunks - 1..]).unwrap();
    assert!(s.incomplete_captures().unwrap().is_empty(), "complete now");
}
