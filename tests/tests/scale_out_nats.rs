//! Scale-out on a clustered broker: a three-node NATS cluster (Debian's
//! `nats-server`, JetStream and MQTT on every node), two `tcu fleet`
//! shards each on its own node, two `tcu-twin` instances splitting the
//! fleet through one JetStream durable consumer on one PostgreSQL
//! database, and an independent MQTT subscriber on the third node.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tcu_integration_tests::mqtt::Subscriber;
use tcu_integration_tests::nats::{Cluster, nats_available};
use tcu_integration_tests::postgres::{PASSWORD, Postgres};
use tcu_integration_tests::process::{Running, tcu_command};
use tcu_integration_tests::twin::{Twin, ingested};

const VEHICLES: usize = 10;
const SETPOINT: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";

fn require_nats() -> bool {
    if nats_available() {
        return true;
    }
    let required = std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("TCU_REQUIRE_NATS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "nats-server is not installed; ./scripts/test installs it (apt-get install nats-server)"
    );
    eprintln!("skipped: nats-server is not installed (./scripts/test installs it)");
    false
}

fn twin_config(node: &tcu_integration_tests::nats::Node, id: &str, db: &str) -> String {
    format!(
        "[ingest]\nbroker = \"{}\"\nclient_id = \"{id}\"\nshare_group = \"fleet\"\n\
         nats = \"{}\"\n[store]\npath = \"{db}\"\nflush_interval = \"50ms\"\n\
         checkpoint_interval = \"200ms\"\nsync_interval = \"100ms\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\n",
        node.mqtt_url(),
        node.nats_url()
    )
}

fn spawn_shard(dir: &std::path::Path, broker: &str, shard: &str) -> Running {
    let mut cmd = tcu_command();
    cmd.args([
        "fleet",
        "--vehicles",
        &VEHICLES.to_string(),
        "--shard",
        shard,
    ])
    .args(["--broker", broker, "--seed", "7", "--vin-prefix", "TCUNATS"])
    .arg("--outbox-dir")
    .arg(dir.join(format!("outbox-{}", shard.replace('/', "-"))))
    .args(["--status-interval", "1s", "--publish-period", "500ms"])
    .args(["--duration", "120s"]);
    Running::start(cmd)
}

/// Telemetry seqs per VIN seen by the independent subscriber.
fn telemetry(
    sub: &Subscriber,
    into: &mut BTreeMap<String, Vec<u64>>,
    last: &mut BTreeMap<String, Value>,
    for_: Duration,
) {
    let end = Instant::now() + for_;
    while Instant::now() < end {
        let Some((topic, payload)) = sub.next(Duration::from_millis(100)) else {
            continue;
        };
        let parts: Vec<&str> = topic.split('/').collect();
        if let ["vehicle", vin, "telemetry"] = parts.as_slice()
            && let Ok(v) = serde_json::from_slice::<Value>(&payload)
        {
            into.entry((*vin).to_owned())
                .or_default()
                .push(v["seq"].as_u64().expect("telemetry carries a seq"));
            last.insert((*vin).to_owned(), v);
        }
    }
}

#[test]
fn fleet_shards_on_two_nats_nodes_reach_two_twins_that_ingest_every_message_once_and_see_every_vehicle()
 {
    if !require_nats() {
        return;
    }
    let Some(pg) = Postgres::start_or_skip("NATS scale-out") else {
        return;
    };
    let db = pg.database("fleet");
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 3, Duration::from_secs(90));
    let [n0, n1, n2] = [cluster.nodes[0], cluster.nodes[1], cluster.nodes[2]];
    let sub = Subscriber::connect(n2.mqtt, "scale-out-observer", "vehicle/#", true);
    let env = [
        ("RUST_LOG", "info,tcu_twin::fleet=trace"),
        ("TCU_TWIN_DB_PASSWORD", PASSWORD),
    ];
    let mut twins: Vec<Twin> = [("twin-a", n0), ("twin-b", n1)]
        .iter()
        .map(|(id, node)| {
            let twin = Twin::start(dir.path(), id, &twin_config(node, id, &db), &env);
            twin.process
                .wait_for("NATS consumer pulling", Duration::from_secs(30));
            twin
        })
        .collect();
    let mut shards = [
        spawn_shard(dir.path(), &n0.mqtt_url(), "1/2"),
        spawn_shard(dir.path(), &n1.mqtt_url(), "2/2"),
    ];

    // Every vehicle of both shards publishes through its own node.
    let mut seqs = BTreeMap::new();
    let mut last = BTreeMap::new();
    let end = Instant::now() + Duration::from_secs(60);
    while seqs.len() < VEHICLES || seqs.values().any(|s: &Vec<u64>| s.len() < 4) {
        assert!(
            Instant::now() < end,
            "telemetry from {} of {VEHICLES} vehicles within 60 s\n{}\n{}",
            seqs.len(),
            shards[0].output(),
            shards[1].output()
        );
        telemetry(&sub, &mut seqs, &mut last, Duration::from_millis(500));
    }
    let vins: Vec<String> = seqs.keys().cloned().collect();
    assert_eq!(vins.len(), VEHICLES, "{vins:?}");

    // Both twins show every vehicle online, whichever node its shard uses.
    for t in &twins {
        for vin in &vins {
            t.wait_doc(vin, Duration::from_secs(60), "online", |d| {
                d["connectivity"] == "online"
            });
        }
    }

    // A setpoint through twin B reaches every vehicle, half of which
    // (shard 1/2) are connected to another node than twin B.
    for vin in &vins {
        let r = twins[1].patch(vin, &json!({SETPOINT: 26.5}), None);
        assert!(
            r.status < 300,
            "PATCH {vin} through twin B: {} {}",
            r.status,
            r.body
        );
    }
    let end = Instant::now() + Duration::from_secs(30);
    let reported = |last: &BTreeMap<String, Value>, vin: &String| {
        last.get(vin)
            .is_some_and(|t| t["signals"][SETPOINT] == json!(26.5))
    };
    while !vins.iter().all(|v| reported(&last, v)) {
        let behind: Vec<_> = vins.iter().filter(|v| !reported(&last, v)).collect();
        assert!(
            Instant::now() < end,
            "not reporting the setpoint sent through twin B within 30 s: {behind:?}"
        );
        telemetry(&sub, &mut seqs, &mut last, Duration::from_millis(500));
    }
    // ... and reads `applied` in both twins, whichever ingested the report.
    for t in &twins {
        for vin in &vins {
            t.wait_doc(vin, Duration::from_secs(30), "the setpoint applied", |d| {
                d["desired"][SETPOINT]["state"] == "applied"
            });
        }
    }

    // SIGKILL both shards: every vehicle's last will reaches both twins.
    for s in &mut shards {
        s.kill();
    }
    for t in &twins {
        for vin in &vins {
            t.wait_doc(
                vin,
                Duration::from_secs(60),
                "offline by the last will",
                |d| d["connectivity"] == "offline",
            );
        }
    }
    telemetry(&sub, &mut seqs, &mut last, Duration::from_secs(2));

    // Contiguous seq per vehicle at the subscriber, and between them the
    // twins ingested each published message exactly once.
    let mut published = BTreeSet::new();
    for (vin, s) in &seqs {
        let mut sorted = s.clone();
        sorted.sort_unstable();
        sorted.dedup();
        let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
        assert_eq!(
            sorted.len() as u64,
            hi - lo + 1,
            "{vin}: seqs {lo}..={hi} have gaps at the subscriber: {sorted:?}"
        );
        published.extend(sorted.into_iter().map(|q| (vin.clone(), q)));
    }
    let mut counts: BTreeMap<(String, u64), u32> = BTreeMap::new();
    let mut per_twin = Vec::new();
    for t in &twins {
        let mine = ingested(&t.process.output());
        per_twin.push(mine.len());
        for k in mine {
            *counts.entry(k).or_default() += 1;
        }
    }
    assert!(
        per_twin.iter().all(|&n| n > 0),
        "each twin ingests a share of the fleet: {per_twin:?}"
    );
    let twice: Vec<_> = counts.iter().filter(|&(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "ingested more than once: {twice:?}");
    let missing: Vec<_> = published
        .iter()
        .filter(|k| !counts.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "published but ingested by neither twin: {missing:?}"
    );
    // The shared database logged each message once too (after both twins
    // stopped, so that their writers have drained).
    for t in &mut twins {
        let status = t.stop();
        assert!(status.success(), "exit {status}:\n{}", t.process.output());
    }
    let logged = pg.query(
        "fleet",
        "SELECT count(*), count(DISTINCT (vehicle, seq)) FROM ingested",
    );
    let (rows, distinct) = logged.trim().split_once('|').expect("two counts");
    assert_eq!(rows, distinct, "a (vehicle, seq) logged twice: {logged}");
    assert!(
        rows.parse::<usize>().unwrap_or(0) >= published.len(),
        "{rows} ingest rows for {} published messages",
        published.len()
    );
}
