//! Ingest throughput: real telemetry payloads through the twin's whole
//! ingest path against a bare rusqlite loop writing the same rows.
//!
//! - *twin*: [`Hub::ingest`] for every message, as the broker connection
//!   calls it: topic parse, JSON parse, the catalog's checks of every
//!   value, loss accounting, the document update, the records handed to
//!   the writer thread, which writes them into the twin's SQLite store
//!   (WAL, `synchronous = NORMAL`) in its batched transactions, with the
//!   configuration's defaults (`batch_max`, `flush_interval`). Timed from
//!   the first message to the end of the writer's flush, i.e. until every
//!   sample is committed.
//! - *bare*: one rusqlite connection to a fresh database of the same
//!   schema (created by the twin's store) and the same pragmas inserts the
//!   same rows (vehicle id, signal id, time, value; decoded beforehand)
//!   with the same prepared statement, in transactions of exactly the
//!   sizes the twin's writer made in the round before: *bare* in the
//!   order the messages came, *bare sorted* with each transaction's rows
//!   sorted by key first (as the twin's store writes them).
//!
//! Payloads are the vehicle's own (`common/telemetry.rs`: captured
//! snapshots re-rendered per VIN, seq and time), 82 signals each, from
//! `--vehicles` vehicles publishing in turn at 1 Hz of vehicle time.
//! Rounds alternate the two sides; each prints signal updates per second
//! and the ratio twin / bare.
//!
//! Run: `cargo bench -p tcu-twin --bench ingest [-- --messages N --vehicles V --rounds R]`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "common/telemetry.rs"]
mod telemetry;

use rusqlite::{Connection, params};
use serde_json::Value as Json;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tcu_engine::catalog::Catalog;
use tcu_twin::TwinError;
use tcu_twin::clock::{ManualClock, Millis};
use tcu_twin::config::{Overrides, TwinConfig};
use tcu_twin::fleet::Fleet;
use tcu_twin::hub::Hub;
use tcu_twin::ingest::Kind;
use tcu_twin::rules::check_value;
use tcu_twin::store::sqlite::SqliteStore;
use tcu_twin::store::writer::Writer;
use tcu_twin::store::{
    CaptureInfo, CaptureQuery, EventQuery, PendingCapture, Record, Store, StoredCommand,
};
use telemetry::Snapshots;

/// 2026-01-01T00:00:00Z.
const START: Millis = 1_767_225_600_000;

/// The twin's SQLite store, recording how many telemetry messages each
/// transaction carried (so the bare side can commit the same batches).
#[derive(Debug)]
struct Recording {
    inner: SqliteStore,
    batches: Mutex<Vec<usize>>,
}

impl Store for Recording {
    fn write(&self, batch: &[Record]) -> Result<(), TwinError> {
        let n = batch
            .iter()
            .filter(|r| matches!(r, Record::Samples { .. }))
            .count();
        self.batches.lock().unwrap().push(n);
        self.inner.write(batch)
    }
    fn documents(&self) -> Result<Vec<String>, TwinError> {
        self.inner.documents()
    }
    fn scan(
        &self,
        vin: &str,
        path: &str,
        from: Millis,
        to: Millis,
        f: &mut dyn FnMut(Millis, f64) -> bool,
    ) -> Result<(), TwinError> {
        self.inner.scan(vin, path, from, to, f)
    }
    fn signals(&self, vin: &str) -> Result<Vec<String>, TwinError> {
        self.inner.signals(vin)
    }
    fn events(&self, vin: &str, q: &EventQuery) -> Result<Vec<Json>, TwinError> {
        self.inner.events(vin, q)
    }
    fn commands(
        &self,
        vin: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<StoredCommand>, TwinError> {
        self.inner.commands(vin, from, to)
    }
    fn captures(&self, q: &CaptureQuery) -> Result<Vec<CaptureInfo>, TwinError> {
        self.inner.captures(q)
    }
    fn incomplete_captures(&self) -> Result<Vec<PendingCapture>, TwinError> {
        self.inner.incomplete_captures()
    }
    fn capture_file(
        &self,
        vin: &str,
        id: &str,
    ) -> Result<Option<(CaptureInfo, Option<String>)>, TwinError> {
        self.inner.capture_file(vin, id)
    }
    fn prune(&self, before: Millis) -> Result<u64, TwinError> {
        self.inner.prune(before)
    }
    fn size_bytes(&self) -> u64 {
        self.inner.size_bytes()
    }
}

struct Args {
    messages: usize,
    vehicles: usize,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args {
        messages: 12_000,
        vehicles: 100,
        rounds: 5,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    // `cargo bench` adds `--bench`; anything else unknown is ignored too.
    while let Some(flag) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse().ok()).expect("a number");
        match flag.as_str() {
            "--messages" => a.messages = value(),
            "--vehicles" => a.vehicles = value(),
            "--rounds" => a.rounds = value(),
            _ => {}
        }
    }
    a.vehicles = a.vehicles.max(1);
    a.messages = a.messages.max(a.vehicles);
    a
}

fn vin(i: usize) -> String {
    format!("WTCUZ{i:012}")
}

/// One message: topic, payload, and the rows it stores (for the bare side).
struct Message {
    topic: String,
    payload: Vec<u8>,
    rows: Vec<(i64, i64, Millis, f64)>,
}

fn messages(a: &Args, catalog: &Catalog, snapshots: &Snapshots) -> Vec<Message> {
    let cfg = TwinConfig::build(None, &Overrides::default(), &Overrides::default()).unwrap();
    // Each snapshot's rows, decoded once with the twin's own checks.
    let decoded: Vec<Vec<(i64, f64)>> = (0..snapshots.len())
        .map(|i| {
            let doc: Json = serde_json::from_slice(&snapshots.payload(i, &vin(0), 1, 0)).unwrap();
            doc["signals"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(path, v)| {
                    let (id, slot, _) = check_value(catalog, path, v).unwrap();
                    (id.index() as i64 + 1, slot)
                })
                .collect()
        })
        .collect();
    let mut out = Vec::with_capacity(a.messages);
    for n in 0..a.messages {
        let (seq, v) = ((n / a.vehicles) as u64 + 1, n % a.vehicles);
        let t = START + (seq as i64) * 1000 + v as i64;
        let i = (seq as usize - 1) % snapshots.len();
        let vin = vin(v);
        out.push(Message {
            topic: cfg.ingest.topics.topic(&vin, Kind::Telemetry),
            payload: snapshots.payload(i, &vin, seq, t),
            rows: decoded[i]
                .iter()
                .map(|&(s, value)| (v as i64 + 1, s, t, value))
                .collect(),
        });
    }
    out
}

fn count_rows(path: &Path) -> u64 {
    let c = Connection::open(path).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap();
    n as u64
}

struct TwinRound {
    elapsed: Duration,
    ingested: Duration,
    updates: u64,
    batches: Vec<usize>,
}

fn twin_round(cfg: &TwinConfig, catalog: &Arc<Catalog>, msgs: &[Message], db: &Path) -> TwinRound {
    let store = Arc::new(Recording {
        inner: SqliteStore::open(db, catalog.clone()).unwrap(),
        batches: Mutex::new(Vec::new()),
    });
    let writer = Writer::spawn(store.clone(), cfg.store.batch_max, cfg.store.flush_interval);
    let fleet = Fleet::new(
        catalog.clone(),
        cfg.ingest.topics.clone(),
        cfg.twin.clone(),
        cfg.ingest.max_payload_bytes,
        cfg.ingest.max_vehicles,
        START,
    );
    let hub = Hub::new(
        fleet,
        store.clone(),
        writer,
        Arc::new(ManualClock::new(START)),
    );
    let t0 = Instant::now();
    for m in msgs {
        hub.ingest(&m.topic, &m.payload);
    }
    let ingested = t0.elapsed();
    assert!(
        hub.writer.flush(Duration::from_secs(600)),
        "the writer did not drain"
    );
    let elapsed = t0.elapsed();
    hub.writer.close();
    let updates = hub.fleet().stats.signal_updates;
    let batches = store.batches.lock().unwrap().clone();
    TwinRound {
        elapsed,
        ingested,
        updates,
        batches,
    }
}

fn bare_round(
    catalog: &Arc<Catalog>,
    msgs: &[Message],
    batches: &[usize],
    sort: bool,
    db: &Path,
) -> Duration {
    // The same schema, made by the twin's store.
    drop(SqliteStore::open(db, catalog.clone()).unwrap());
    let c = Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "NORMAL").unwrap();
    let vehicles = msgs.iter().map(|m| m.rows[0].0).max().unwrap_or(0);
    c.execute_batch("BEGIN").unwrap();
    for v in 1..=vehicles {
        c.execute(
            "INSERT INTO vehicles (id, vin) VALUES (?1, ?2)",
            params![v, vin(v as usize - 1)],
        )
        .unwrap();
    }
    for (id, meta) in catalog.iter() {
        c.execute(
            "INSERT INTO signals (id, path) VALUES (?1, ?2)",
            params![id.index() as i64 + 1, meta.path],
        )
        .unwrap();
    }
    c.execute_batch("COMMIT").unwrap();
    let t0 = Instant::now();
    let mut at = 0;
    for &n in batches {
        c.execute_batch("BEGIN").unwrap();
        let mut st = c
            .prepare_cached(
                "INSERT OR REPLACE INTO samples (vehicle, signal, t, value) VALUES (?1, ?2, ?3, ?4)",
            )
            .unwrap();
        let batch = msgs[at..at + n].iter().flat_map(|m| m.rows.iter().copied());
        if sort {
            let mut rows: Vec<_> = batch.collect();
            rows.sort_by_key(|&(v, s, t, _)| (v, s, t));
            for (v, s, t, value) in rows {
                st.execute(params![v, s, t, value]).unwrap();
            }
        } else {
            for (v, s, t, value) in batch {
                st.execute(params![v, s, t, value]).unwrap();
            }
        }
        drop(st);
        c.execute_batch("COMMIT").unwrap();
        at += n;
    }
    assert_eq!(at, msgs.len(), "the twin's batches cover every message");
    t0.elapsed()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let a = args();
    let catalog = Arc::new(Catalog::builtin());
    let cfg = TwinConfig::build(None, &Overrides::default(), &Overrides::default()).unwrap();
    let snapshots = Snapshots::load();
    let msgs = messages(&a, &catalog, &snapshots);
    let rows: u64 = msgs.iter().map(|m| m.rows.len() as u64).sum();
    let bytes: usize = msgs.iter().map(|m| m.payload.len()).sum();
    println!(
        "{} messages ({} vehicles, {} signals each, {} B average), {} signal updates per round; \
         store batch_max {}, flush_interval {:?}",
        msgs.len(),
        a.vehicles,
        snapshots.signal_count(0),
        bytes / msgs.len(),
        rows,
        cfg.store.batch_max,
        cfg.store.flush_interval
    );
    println!(
        "\n| round | twin updates/s | (ingest calls done at) | bare updates/s | twin / bare | bare sorted updates/s | twin / bare sorted | transactions | rows per transaction |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let (mut twin_rates, mut bare_rates, mut sorted_rates) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ratios, mut sorted_ratios) = (Vec::new(), Vec::new());
    for round in 1..=a.rounds {
        let dir = tempfile::tempdir().unwrap();
        let t = twin_round(&cfg, &catalog, &msgs, &dir.path().join("twin.db"));
        assert_eq!(t.updates, rows, "every signal update applied");
        assert_eq!(
            count_rows(&dir.path().join("twin.db")),
            rows,
            "every sample stored"
        );
        let rate = |name: &str, sort: bool| {
            let db = dir.path().join(format!("{name}.db"));
            let d = bare_round(&catalog, &msgs, &t.batches, sort, &db);
            assert_eq!(count_rows(&db), rows);
            rows as f64 / d.as_secs_f64()
        };
        let br = rate("bare", false);
        let sr = rate("sorted", true);
        let tr = rows as f64 / t.elapsed.as_secs_f64();
        println!(
            "| {round} | {tr:.0} | {:.2} s of {:.2} s | {br:.0} | {:.3} | {sr:.0} | {:.3} | {} | {:.0} |",
            t.ingested.as_secs_f64(),
            t.elapsed.as_secs_f64(),
            tr / br,
            tr / sr,
            t.batches.len(),
            rows as f64 / t.batches.len() as f64
        );
        for (v, x) in [
            (&mut twin_rates, tr),
            (&mut bare_rates, br),
            (&mut sorted_rates, sr),
            (&mut ratios, tr / br),
            (&mut sorted_ratios, tr / sr),
        ] {
            v.push(x);
        }
    }
    println!(
        "\nmedians: twin {:.0} signal updates/s; bare {:.0}/s, ratio {:.3}; bare sorted {:.0}/s, ratio {:.3} \
         (ratios: median of the rounds' ratios)",
        median(&mut twin_rates),
        median(&mut bare_rates),
        median(&mut ratios),
        median(&mut sorted_rates),
        median(&mut sorted_ratios)
    );
}
