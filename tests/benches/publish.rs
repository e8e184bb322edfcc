//! Throughput of the TCU's telemetry path against a bare rumqttc loop, in
//! one run, to the same local broker, with the same payloads.
//!
//! - *TCU path*: frames as the tick hook hands them over (bounded channel)
//!   → the link task → the disk-backed outbox → rumqttc, delivery counted
//!   when the broker's PUBACK arrives (what `published=` shows).
//! - *bare*: one task `publish().await`s the same payloads on an
//!   `AsyncClient` while the event loop is polled and PUBACKs are counted.
//!
//! Both use QoS 1 (the telemetry default), the same options (inflight
//! window, request channel capacity, packet size) and a single-threaded
//! tokio runtime on their own thread. Payloads are real snapshots of a
//! running vehicle (plugins from `target/release` when built, else the world
//! model's signals only), varied by seq. The broker is a mosquitto started
//! on an ephemeral port (queues unbounded so it never drops), or the
//! embedded rumqttd when mosquitto is not installed.
//!
//! Two burst sizes, each run through both paths in the same round:
//!
//! - *in window*: 4,000 messages, fewer than the outbox keeps in memory
//!   while the link is up ([`link::MEM_CAP`]): the path as it runs whenever
//!   the broker keeps up. The 0.8 target is for this figure.
//! - *backlog*: 20,000 messages, five times the memory window: the outbox
//!   spills to its disk queue and reads it back, which a bare client does
//!   not do at all; reported so the cost of that durability is on record.
//!
//! Run: `cargo build --release && cargo bench -p tcu-integration-tests --bench publish`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};
use tcu_engine::build::build_vehicle_with;
use tcu_engine::catalog::Catalog;
use tcu_engine::config::{VehicleConfig, VehicleOverrides};
use tcu_engine::plugin::load_dir;
use tcu_integration_tests::mqtt::{Mosquitto, mosquitto_available};
use tcu_link::encode::{TelemetryEncoder, Topics};
use tcu_link::hook::Frame;
use tcu_link::link::{self, LinkParts, REQUEST_CAP, WINDOW};
use tcu_link::options::MAX_PACKET_BYTES;
use tcu_link::outbox::{Msg, Outbox};
use tcu_link::{Metrics, broker};

/// Messages of the in-window burst (below `link::MEM_CAP`).
const IN_WINDOW: usize = 4_000;
/// Messages of the backlog burst.
const BACKLOG: usize = 20_000;
const DISTINCT: usize = 500;
const ROUNDS: usize = 7;
const BACKLOG_ROUNDS: usize = 3;
const TOPIC: &str = "vehicle/WTCUZ000000000001/telemetry";

fn payloads() -> Vec<Vec<u8>> {
    let config =
        VehicleConfig::defaults_with(&VehicleOverrides::default(), &Catalog::builtin()).unwrap();
    let dir = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .to_path_buf();
    let (mut v, _) = build_vehicle_with(&config, Arc::new(Catalog::builtin()), |bus| {
        Ok(load_dir(&dir, bus, 1).unwrap_or_default())
    })
    .unwrap();
    eprintln!("vehicle with {} plugins", v.plugins().len());
    let enc = TelemetryEncoder::new(&v, &config.vin, false);
    (0..DISTINCT)
        .map(|i| {
            for _ in 0..10 {
                v.step();
            }
            enc.encode(v.bus(), i as u64 + 1, SystemTime::now())
        })
        .collect()
}

/// The broker both paths publish to: the tests' mosquitto (configured not to
/// drop QoS 1 messages), or an embedded rumqttd where mosquitto is missing.
fn start_broker(dir: &Path) -> (u16, Option<Mosquitto>, &'static str) {
    if mosquitto_available() {
        let m = Mosquitto::start(dir, "");
        return (m.port, Some(m), "mosquitto");
    }
    let addr = broker::start("127.0.0.1:0".parse().unwrap()).unwrap();
    (addr.port(), None, "embedded rumqttd")
}

fn options(port: u16, id: &str) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    o.set_inflight(WINDOW as u16);
    o.set_keep_alive(Duration::from_secs(30));
    o
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Messages per second through the TCU's link.
fn tcu_path(port: u16, payloads: &[Vec<u8>], round: &str, messages: usize) -> f64 {
    let outbox_dir = tempfile::tempdir().unwrap();
    let (client, eventloop) =
        AsyncClient::new(options(port, &format!("bench-tcu-{round}")), REQUEST_CAP);
    let metrics = Arc::new(Metrics::default());
    let parts = LinkParts {
        topics: Topics::new("vehicle/WTCUZ000000000001", None),
        vin: "WTCUZ000000000001".into(),
        plugins: Vec::new(),
        outbox: Outbox::new(Some(outbox_dir.path()), 1 << 30, link::MEM_CAP),
        control: None,
        metrics: metrics.clone(),
        in_process_broker: false,
    };
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let t = std::thread::spawn(move || {
        runtime().block_on(link::run(
            client,
            eventloop,
            parts,
            rx,
            stop_rx,
            Duration::from_secs(1),
        ));
    });
    let end = Instant::now() + Duration::from_secs(10);
    while !metrics.connected.load(Ordering::Relaxed) {
        assert!(Instant::now() < end, "TCU link did not connect");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The retained online status counts as one publish once acked.
    while metrics.published.load(Ordering::Relaxed) < 1 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
    }
    let base = metrics.published.load(Ordering::Relaxed);
    let start = Instant::now();
    for (i, p) in payloads.iter().cycle().take(messages).enumerate() {
        let msg = Msg {
            topic: TOPIC.to_owned(),
            payload: p.clone(),
            qos: 1,
            seq: Some(i as u64 + 1),
        };
        tx.blocking_send(Frame::Publish(msg)).unwrap();
    }
    // Wait for the last PUBACK with few wake-ups: sleep about the time the
    // remaining messages need at 200,000 msg/s (faster than either path),
    // at least 1 ms. A steady short poll costs this thread a context switch
    // each time, which on two cores is CPU taken from the link.
    loop {
        let done = metrics.published.load(Ordering::Relaxed) - base;
        if done >= messages as u64 {
            break;
        }
        let left = messages as u64 - done;
        std::thread::sleep(Duration::from_micros(left * 5).max(Duration::from_millis(1)));
    }
    let rate = messages as f64 / start.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    t.join().unwrap();
    rate
}

/// Messages per second through a bare rumqttc loop.
fn bare(port: u16, payloads: &[Vec<u8>], round: &str, messages: usize) -> f64 {
    let payloads: Vec<Vec<u8>> = payloads.to_vec();
    let id = format!("bench-bare-{round}");
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let (client, mut eventloop) = AsyncClient::new(options(port, &id), REQUEST_CAP);
            loop {
                if let Event::Incoming(Packet::ConnAck(_)) = eventloop.poll().await.unwrap() {
                    break;
                }
            }
            let start = Instant::now();
            let publisher = tokio::spawn(async move {
                for p in payloads.iter().cycle().take(messages) {
                    client
                        .publish(TOPIC, QoS::AtLeastOnce, false, p.clone())
                        .await
                        .unwrap();
                }
                client
            });
            let mut acks = 0;
            while acks < messages {
                if let Event::Incoming(Packet::PubAck(_)) = eventloop.poll().await.unwrap() {
                    acks += 1;
                }
            }
            let rate = messages as f64 / start.elapsed().as_secs_f64();
            let _ = publisher.await;
            rate
        })
    })
    .join()
    .unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `rounds` rounds of `messages`, bare then TCU in each; prints
/// them and returns the medians.
fn series(
    port: u16,
    payloads: &[Vec<u8>],
    label: &str,
    messages: usize,
    rounds: usize,
) -> (f64, f64) {
    let (mut t, mut b) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let id = format!("{label}-{round}");
        b.push(bare(port, payloads, &id, messages));
        t.push(tcu_path(port, payloads, &id, messages));
        println!(
            "{label} round {round}: bare {:>9.0} msg/s   tcu {:>9.0} msg/s",
            b[round], t[round]
        );
    }
    (median(b), median(t))
}

fn main() {
    let payloads = payloads();
    let avg = payloads.iter().map(Vec::len).sum::<usize>() / payloads.len();
    let dir = tempfile::tempdir().unwrap();
    let (port, _mosquitto, which) = start_broker(dir.path());
    println!("broker: {which} on 127.0.0.1:{port}; messages of ~{avg} B, QoS 1");
    let (bw, tw) = series(port, &payloads, "in-window", IN_WINDOW, ROUNDS);
    let (bb, tb) = series(port, &payloads, "backlog", BACKLOG, BACKLOG_ROUNDS);
    println!(
        "in window ({IN_WINDOW} messages, median of {ROUNDS}): bare rumqttc {bw:.0} msg/s, TCU telemetry path {tw:.0} msg/s, ratio {:.2}",
        tw / bw
    );
    println!(
        "backlog ({BACKLOG} messages through the disk queue, median of {BACKLOG_ROUNDS}): bare rumqttc {bb:.0} msg/s, TCU telemetry path {tb:.0} msg/s, ratio {:.2}",
        tb / bb
    );
}
