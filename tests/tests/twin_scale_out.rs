//! Scale-out of the twin: a `tcu fleet` of 20 vehicles on mosquitto, two
//! `tcu-twin serve` instances in one shared-subscription group on one
//! PostgreSQL database, and an independent subscriber as the witness.
//! Every telemetry message is ingested exactly once between the twins
//! (counted in the database by VIN and seq, and as stored samples), both
//! twins list every vehicle online, a setpoint set through B for a vehicle
//! whose telemetry A ingests reaches the car and reads `applied` in both,
//! stopping the fleet flips every vehicle offline in both, both show the
//! same reports and history, and B restarted from the database still
//! shows the whole fleet.

use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};
use tcu_integration_tests::mqtt::{Mosquitto, Subscriber, mosquitto_available, wait_for};
use tcu_integration_tests::postgres::{PASSWORD, Postgres};
use tcu_integration_tests::process::{Running, tcu_command};
use tcu_integration_tests::twin::Twin;

const VEHICLES: usize = 20;
const SETPOINT: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";
const SPEED: &str = "Vehicle.Speed";

/// What the independent subscriber saw.
#[derive(Default)]
struct Witness {
    /// Telemetry messages by (VIN, seq); the value counts deliveries.
    telemetry: BTreeMap<(String, u64), u32>,
    /// Distinct vehicle times of messages carrying `Vehicle.Speed`.
    speed_times: BTreeMap<String, BTreeSet<String>>,
    /// The newest telemetry of each VIN.
    last: BTreeMap<String, Json>,
}

impl Witness {
    fn take(&mut self, sub: &Subscriber, timeout: Duration, mut done: impl FnMut(&Self) -> bool) {
        let end = Instant::now() + timeout;
        while Instant::now() < end && !done(self) {
            let Some((topic, payload)) = sub.next(Duration::from_millis(100)) else {
                continue;
            };
            let Some(vin) = topic
                .strip_prefix("vehicle/")
                .and_then(|r| r.strip_suffix("/telemetry"))
            else {
                continue;
            };
            let v: Json = serde_json::from_slice(&payload).expect("telemetry is JSON");
            let seq = v["seq"].as_u64().expect("telemetry has a seq");
            *self.telemetry.entry((vin.to_owned(), seq)).or_default() += 1;
            if v["signals"].get(SPEED).is_some() {
                let ts = v["ts"].as_str().unwrap_or_default().to_owned();
                self.speed_times
                    .entry(vin.to_owned())
                    .or_default()
                    .insert(ts);
            }
            self.last.insert(vin.to_owned(), v);
        }
    }
}

fn twin_config(broker: u16, id: &str, db: &str) -> String {
    format!(
        "[ingest]\nbroker = \"mqtt://127.0.0.1:{broker}\"\nclient_id = \"{id}\"\nshare_group = \"fleet\"\n\
         [store]\npath = \"{db}\"\nflush_interval = \"50ms\"\ncheckpoint_interval = \"200ms\"\n\
         sync_interval = \"100ms\"\n[http]\nlisten = \"127.0.0.1:0\"\n"
    )
}

fn vehicles(t: &Twin, connectivity: &str) -> BTreeSet<String> {
    let r = t.get(&format!("/api/vehicles?connectivity={connectivity}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["vehicles"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|v| v["vin"].as_str().map(str::to_owned))
        .collect()
}

/// Rows of `sql` split at `|`.
fn rows(pg: &Postgres, sql: &str) -> Vec<Vec<String>> {
    pg.query("fleet", sql)
        .lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

#[test]
fn two_twins_on_one_postgresql_database_serve_one_fleet_view_and_ingest_every_message_once() {
    assert!(
        mosquitto_available(),
        "mosquitto is not installed; ./scripts/test installs it"
    );
    let Some(pg) = Postgres::start_or_skip("twin scale-out") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "scale-out-witness", "vehicle/#", true);
    let db = pg.database("fleet");
    let env = [("TCU_TWIN_DB_PASSWORD", PASSWORD)];
    let a = Twin::start(
        dir.path(),
        "twin-a",
        &twin_config(broker.port, "twin-a", &db),
        &env,
    );
    let mut b = Twin::start(
        dir.path(),
        "twin-b",
        &twin_config(broker.port, "twin-b", &db),
        &env,
    );

    let mut cmd = tcu_command();
    cmd.args([
        "fleet",
        "--vehicles",
        &VEHICLES.to_string(),
        "--seed",
        "5",
        "--broker",
    ])
    .arg(format!("mqtt://127.0.0.1:{}", broker.port))
    .arg("--outbox-dir")
    .arg(dir.path().join("outbox"))
    .args(["--status-interval", "1s", "--publish-period", "250ms"])
    .args(["--duration", "180s"]);
    let mut fleet = Running::start(cmd);

    let mut seen = Witness::default();
    seen.take(&sub, Duration::from_secs(60), |s| s.last.len() == VEHICLES);
    assert_eq!(seen.last.len(), VEHICLES, "{}", fleet.output());
    let vins: BTreeSet<String> = seen.last.keys().cloned().collect();
    for t in [&a, &b] {
        let all = wait_for(Duration::from_secs(30), || vehicles(t, "online") == vins);
        assert!(
            all,
            "{} lists {:?} online, not all of {vins:?}\n{}",
            t.url,
            vehicles(t, "online"),
            t.process.output()
        );
    }

    // A vehicle whose telemetry A ingests (most of it).
    seen.take(&sub, Duration::from_secs(2), |_| false);
    let by_a = rows(
        &pg,
        "SELECT v.vin FROM ingested i JOIN vehicles v ON v.id = i.vehicle WHERE i.instance = 'twin-a' \
         GROUP BY v.vin ORDER BY count(*) DESC, v.vin LIMIT 1",
    );
    let target = by_a
        .first()
        .and_then(|r| r.first())
        .cloned()
        .expect("twin-a ingested telemetry");
    // Its document in B holds what A ingested: B's reported values come
    // from both twins.
    b.wait_doc(&target, Duration::from_secs(10), "reported values", |d| {
        d["reported"].get(SPEED).is_some()
    });

    let r = b.patch(&target, &json!({SETPOINT: 27.5}), None);
    assert_eq!(r.status, 200, "{}", r.body);
    seen.take(&sub, Duration::from_secs(30), |s| {
        s.last
            .get(&target)
            .is_some_and(|t| t["signals"][SETPOINT] == json!(27.5))
    });
    assert_eq!(
        seen.last[&target]["signals"][SETPOINT],
        json!(27.5),
        "the setpoint set through B did not reach {target}"
    );
    for t in [&a, &b] {
        let d = t.wait_doc(
            &target,
            Duration::from_secs(30),
            "the setpoint applied",
            |d| d["desired"][SETPOINT]["state"] == "applied",
        );
        assert_eq!(d["delta"], json!({}), "{d}");
        assert_eq!(d["reported"][SETPOINT]["value"], json!(27.5), "{d}");
    }

    // SIGTERM: every vehicle publishes offline before the fleet exits.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(fleet.id().to_string())
        .status();
    fleet.wait_exit(Duration::from_secs(60));
    for t in [&a, &b] {
        let all = wait_for(Duration::from_secs(30), || vehicles(t, "offline") == vins);
        assert!(
            all,
            "{} lists {:?} offline, not all of {vins:?}",
            t.url,
            vehicles(t, "offline")
        );
    }
    // One view: both twins show every vehicle's last report (whichever
    // twin ingested it), and the same history.
    seen.take(&sub, Duration::from_secs(2), |_| false);
    for vin in &vins {
        let last = &seen.last[vin];
        let same = wait_for(Duration::from_secs(10), || {
            let (da, db) = (a.doc(vin), b.doc(vin));
            da.zip(db).is_some_and(|(da, db)| {
                // (A message without the signal leaves its seq behind.)
                da["reported"] == db["reported"]
                    && (last["signals"].get(SPEED).is_none()
                        || da["reported"][SPEED]["seq"] == last["seq"])
            })
        });
        assert!(
            same,
            "{vin}: the twins' reported values differ or miss the last telemetry (seq {}):\nA {}\nB {}",
            last["seq"],
            a.doc(vin).unwrap_or_default()["reported"][SPEED],
            b.doc(vin).unwrap_or_default()["reported"][SPEED]
        );
    }
    let history = |t: &Twin| {
        let r = t.get(&format!(
            "/api/vehicles/{target}/history?signal={SPEED}&from=0&to=4102444800000"
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["signals"][SPEED].as_array().map_or(0, Vec::len)
    };
    let points = seen.speed_times.get(&target).map_or(0, BTreeSet::len);
    assert_eq!(
        (history(&a), history(&b)),
        (points, points),
        "history of {target}"
    );

    // B stops cleanly (closing its database connections) and restarts
    // from the database with the whole fleet: its own documents and A's.
    b.restart();
    let all = wait_for(Duration::from_secs(30), || vehicles(&b, "offline") == vins);
    assert!(
        all,
        "restarted, B lists {:?} offline",
        vehicles(&b, "offline")
    );
    let d = b.wait_doc(&target, Duration::from_secs(10), "the setpoint kept", |d| {
        d["desired"][SETPOINT]["state"] == "applied"
    });
    assert_eq!(d["reported"][SETPOINT]["value"], json!(27.5), "{d}");
    for mut t in [a, b] {
        let status = t.stop();
        assert!(status.success(), "{status:?}\n{}", t.process.output());
    }
    // Everything published is delivered and written by now.
    seen.take(&sub, Duration::from_secs(3), |_| false);
    std::thread::sleep(Duration::from_secs(1));

    let duplicates: Vec<_> = seen.telemetry.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "the witness got redeliveries: {duplicates:?}"
    );
    let mut stored: BTreeMap<(String, u64), u32> = BTreeMap::new();
    let mut by_twin: BTreeMap<String, usize> = BTreeMap::new();
    for row in rows(
        &pg,
        "SELECT v.vin, i.seq, i.instance FROM ingested i JOIN vehicles v ON v.id = i.vehicle",
    ) {
        let seq = row[1].parse().expect("a seq");
        *stored.entry((row[0].clone(), seq)).or_default() += 1;
        *by_twin.entry(row[2].clone()).or_default() += 1;
    }
    assert_eq!(by_twin.len(), 2, "both twins ingested a share: {by_twin:?}");
    let wrong: Vec<_> = seen
        .telemetry
        .keys()
        .filter(|k| stored.get(*k) != Some(&1))
        .map(|k| (k, stored.get(k)))
        .collect();
    assert!(
        wrong.is_empty(),
        "(VIN, seq) not ingested exactly once: {wrong:?}"
    );
    let extra: Vec<_> = stored
        .keys()
        .filter(|k| !seen.telemetry.contains_key(*k))
        .collect();
    assert!(extra.is_empty(), "ingested but never published: {extra:?}");
    assert!(
        seen.telemetry.len() >= VEHICLES * 8,
        "{} messages",
        seen.telemetry.len()
    );
    let samples: BTreeMap<String, usize> = rows(
        &pg,
        &format!(
            "SELECT v.vin, count(*) FROM samples s JOIN vehicles v ON v.id = s.vehicle \
             JOIN signals g ON g.id = s.signal WHERE g.path = '{SPEED}' GROUP BY v.vin"
        ),
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].parse().expect("a count")))
    .collect();
    for vin in &vins {
        assert_eq!(
            samples.get(vin).copied().unwrap_or(0),
            seen.speed_times.get(vin).map_or(0, BTreeSet::len),
            "stored {SPEED} samples of {vin}"
        );
    }
}
