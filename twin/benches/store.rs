//! The store: one simulated vehicle-day of 1 Hz telemetry written through
//! the twin's store, its size on disk, and the downsampled read of one
//! signal's day against a bare SQLite `GROUP BY` on the same file.
//!
//! The vehicle is the real one (the six plugins from `target/release`
//! when they are built, else the world model alone) driving the demo cycle
//! for a day of vehicle time; every second, every signal it has written
//! (what its telemetry holds, 82 with the plugins) goes to the store as
//! one telemetry record, through the twin's writer thread with the
//! configuration's batching. After the writer drained, the WAL is
//! checkpointed (`TRUNCATE`) and the database and WAL files are measured.
//!
//! Reads, alternating, of `Vehicle.Speed` over the whole day in 1,000
//! buckets:
//! - *twin*: [`Store::buckets`] (what `GET /history?step=` calls): the
//!   ids, the range scan in time order and the fold into min, max, avg
//!   and last per bucket;
//! - *bare*: one prepared `SELECT (t - from) / step, count(*), min(value),
//!   max(value), avg(value) ... GROUP BY 1` on another connection to the
//!   same file, with the ids looked up beforehand (and no `last`).
//!
//! Run: `cargo build --release && cargo bench -p tcu-twin --bench store [-- --hours H --reads R]`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use rusqlite::{Connection, params};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tcu_engine::build::build_vehicle_with;
use tcu_engine::catalog::Catalog;
use tcu_engine::config::{VehicleConfig, VehicleOverrides};
use tcu_engine::plugin::load_dir;
use tcu_engine::sim::Vehicle;
use tcu_twin::clock::Millis;
use tcu_twin::config::{Overrides, TwinConfig};
use tcu_twin::store::sqlite::SqliteStore;
use tcu_twin::store::writer::Writer;
use tcu_twin::store::{Bucket, Record, Store};

/// 2026-01-01T00:00:00Z.
const START: Millis = 1_767_225_600_000;
const VIN: &str = "WTCUZ000000000001";
const SIGNAL: &str = "Vehicle.Speed";
const BUCKETS: i64 = 1000;

fn args() -> (u64, usize) {
    let (mut hours, mut reads) = (24, 21);
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    // `cargo bench` adds `--bench`; anything else unknown is ignored too.
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--hours" => hours = it.next().and_then(|v| v.parse().ok()).expect("a number"),
            "--reads" => reads = it.next().and_then(|v| v.parse().ok()).expect("a number"),
            _ => {}
        }
    }
    (hours.max(1), reads.max(1))
}

fn vehicle(catalog: &Arc<Catalog>) -> Vehicle {
    let config = VehicleConfig::defaults_with(&VehicleOverrides::default(), catalog).unwrap();
    let dir = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .to_path_buf();
    let (v, _) = build_vehicle_with(&config, catalog.clone(), |bus| {
        Ok(load_dir(&dir, bus, 1).unwrap_or_default())
    })
    .unwrap();
    v
}

fn bare_buckets(
    c: &Connection,
    ids: (i64, i64),
    from: Millis,
    to: Millis,
    step: Millis,
) -> Vec<Bucket> {
    let mut st = c
        .prepare_cached(
            "SELECT (t - ?3) / ?5, count(*), min(value), max(value), avg(value) FROM samples \
             WHERE vehicle = ?1 AND signal = ?2 AND t >= ?3 AND t < ?4 GROUP BY 1 ORDER BY 1",
        )
        .unwrap();
    let rows = st
        .query_map(params![ids.0, ids.1, from, to, step], |r| {
            Ok(Bucket {
                t: from + r.get::<_, i64>(0)? * step,
                count: r.get::<_, i64>(1)? as u64,
                min: r.get(2)?,
                max: r.get(3)?,
                avg: r.get(4)?,
                last: f64::NAN,
            })
        })
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let (hours, reads) = args();
    let catalog = Arc::new(Catalog::builtin());
    let cfg = TwinConfig::build(None, &Overrides::default(), &Overrides::default()).unwrap();
    let mut v = vehicle(&catalog);
    let per_second = (1.0 / v.dt()).round() as usize;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("day.db");
    let store = Arc::new(SqliteStore::open(&db, catalog.clone()).unwrap());
    let writer = Writer::spawn(store.clone(), cfg.store.batch_max, cfg.store.flush_interval);
    let vin: Arc<str> = Arc::from(VIN);
    let seconds = hours * 3600;
    let t0 = Instant::now();
    let mut rows = 0u64;
    let mut signals = 0;
    for s in 0..seconds {
        for _ in 0..per_second {
            v.step();
        }
        let bus = v.bus();
        let values: Vec<_> = catalog
            .iter()
            .filter(|(id, _)| bus.is_written(*id))
            .map(|(id, _)| (id, bus.get(id)))
            .collect();
        signals = values.len();
        rows += values.len() as u64;
        writer.send(vec![Record::Samples {
            vin: vin.clone(),
            t: START + s as i64 * 1000,
            seq: s + 1,
            values,
        }]);
    }
    assert!(
        writer.flush(Duration::from_secs(600)),
        "the writer did not drain"
    );
    let written = t0.elapsed();
    let batches = writer
        .stats
        .batches
        .load(std::sync::atomic::Ordering::Relaxed);
    writer.close();
    println!(
        "{hours} h of 1 Hz telemetry, {} plugins, {signals} signals a second: {rows} samples \
         simulated and written in {:.1} s ({batches} transactions)",
        v.plugins().len(),
        written.as_secs_f64()
    );

    let c = Connection::open(&db).unwrap();
    let before = store.size_bytes();
    let (busy, log, done): (i64, i64, i64) = c
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(
        busy, 0,
        "the checkpoint was blocked ({log} frames, {done} done)"
    );
    let size = store.size_bytes();
    let per_day = size as f64 * 24.0 / hours as f64;
    println!(
        "\non disk: {before} B before the checkpoint, {size} B after (database + WAL); \
         {:.1} MB per vehicle-day{}, {:.1} B per sample",
        per_day / 1e6,
        if hours == 24 { "" } else { " (scaled)" },
        size as f64 / rows as f64
    );

    let plan: Vec<String> = {
        let mut st = c
            .prepare(
                "EXPLAIN QUERY PLAN SELECT t, value FROM samples WHERE vehicle = ?1 AND signal = ?2 \
                 AND t >= ?3 AND t < ?4 ORDER BY t",
            )
            .unwrap();
        st.query_map(params![1, 1, 0, 1], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    println!("the twin's range scan: {}", plan.join("; "));

    let ids: (i64, i64) = c
        .query_row(
            "SELECT v.id, s.id FROM vehicles v, signals s WHERE v.vin = ?1 AND s.path = ?2",
            params![VIN, SIGNAL],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let (from, to) = (START, START + seconds as i64 * 1000);
    let step = (to - from) / BUCKETS;
    let (mut twin_ms, mut bare_ms, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reads {
        let t = Instant::now();
        let ours = store.buckets(VIN, SIGNAL, from, to, step).unwrap();
        let twin = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let bare = bare_buckets(&c, ids, from, to, step);
        let b = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(ours.len(), BUCKETS as usize);
        assert_eq!(ours.len(), bare.len());
        for (x, y) in ours.iter().zip(&bare) {
            assert_eq!((x.t, x.count, x.min, x.max), (y.t, y.count, y.min, y.max));
            assert!((x.avg - y.avg).abs() <= 1e-9 * x.avg.abs().max(1.0));
        }
        twin_ms.push(twin);
        bare_ms.push(b);
        ratios.push(b / twin);
    }
    let (tm, bm, r) = (
        median(&mut twin_ms),
        median(&mut bare_ms),
        median(&mut ratios),
    );
    println!(
        "\n| read of {hours} h of `{SIGNAL}` in {BUCKETS} buckets ({} samples), median of {reads} | ms |\n|---|---|\n\
         | twin (`Store::buckets`) | {tm:.2} |\n| bare `GROUP BY` | {bm:.2} |\n\
         | bare time / twin time (median of per-read ratios) | {r:.3} |",
        seconds
    );
}
