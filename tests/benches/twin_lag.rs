//! End-to-end lag of the digital twin: a fleet of vehicles publishing
//! telemetry at 1 Hz through mosquitto, and how long it takes from a
//! vehicle's publish until the change shows on the twin's `/api/stream`,
//! against a bare rumqttc subscriber of the same messages in the same run
//! (publish → received), so the table shows what the twin adds.
//!
//! - *vehicles*: `--vehicles` rumqttc connections (connected in batches of
//!   50: mosquitto's listen backlog is 100), each publishing the vehicle's
//!   own payloads (`twin/benches/common/telemetry.rs`: captured snapshots
//!   with this vehicle's VIN, its seq from 1 and the publish time as `ts`)
//!   at QoS 1 once a second, spread evenly over the second. The bench
//!   records the instant of each publish call by VIN and seq.
//! - *twin*: the real `tcu-twin serve` process (release build), on the same
//!   broker, with its default configuration but for the broker, store and
//!   HTTP addresses. A reader follows `GET /api/stream`; each `vehicle`
//!   event carries the VIN and `loss.received`, the count of telemetry
//!   messages the document has taken in, i.e. the seq of the newest (every
//!   message arrives, in order, once). A sample is the time from the
//!   publish of that seq to the event; a seq a later event already covers
//!   (a stream coalesces changes it has not sent yet) gives no sample.
//! - *bare*: a rumqttc subscriber of `vehicle/+/telemetry` (QoS 1, as the
//!   twin subscribes): a sample per message, publish → received.
//!
//! mosquitto is the tests' launcher's (`max_queued_messages 0`, so it
//! drops nothing; `set_tcp_nodelay true`). Samples are taken from
//! publishes after a warm-up of `--warmup` seconds (documents created,
//! connections settled) until `--seconds`.
//!
//! Run: `cargo bench -p tcu-integration-tests --bench twin_lag [-- --vehicles N --seconds S]`
//! (builds the release `tcu-twin` it starts; about `S` + 20 s).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../twin/benches/common/telemetry.rs"]
mod telemetry;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value as Json;
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tcu_integration_tests::bench::flag;
use tcu_integration_tests::mqtt::{Mosquitto, mosquitto_available};
use tcu_integration_tests::twin::Twin;
use telemetry::Snapshots;

const BATCH: usize = 50;

struct Args {
    vehicles: usize,
    seconds: u64,
    warmup: u64,
}

fn args() -> Args {
    let mut a = Args {
        vehicles: flag("--vehicles", 1000),
        seconds: flag("--seconds", 60),
        warmup: flag("--warmup", 5),
    };
    a.vehicles = a.vehicles.max(1);
    a.seconds = a.seconds.max(a.warmup + 1);
    a
}

fn vin(i: usize) -> String {
    format!("WTCUZ{i:012}")
}

/// The vehicle index of a VIN made by [`vin`].
fn index(vin: &str) -> Option<usize> {
    vin.strip_prefix("WTCUZ")?.parse().ok()
}

/// Publish instants by vehicle, then by seq - 1, and where the measuring
/// window starts.
struct Clock {
    sent: Vec<Mutex<Vec<Instant>>>,
    window: Mutex<Option<(Instant, Instant)>>,
}

impl Clock {
    /// The lag of `vin`'s `seq` received now, if it was published within
    /// the window.
    fn lag(&self, v: usize, seq: u64) -> Option<Duration> {
        let now = Instant::now();
        let sent = *self
            .sent
            .get(v)?
            .lock()
            .unwrap()
            .get(usize::try_from(seq).ok()?.checked_sub(1)?)?;
        let (from, to) = (*self.window.lock().unwrap())?;
        (sent >= from && sent < to).then(|| now - sent)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn options(id: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_max_packet_size(1 << 20, 1 << 20);
    o
}

/// The bare subscriber: every telemetry message's lag, until `stop`.
fn bare_subscriber(
    port: u16,
    clock: Arc<Clock>,
    ready: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Vec<Duration>, u64)> {
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let (client, mut ev) = AsyncClient::new(options("bare-subscriber", port), 1000);
            let (mut lags, mut received) = (Vec::new(), 0u64);
            while !stop.load(Ordering::Relaxed) {
                let e = tokio::time::timeout(Duration::from_millis(200), ev.poll()).await;
                match e {
                    Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                        client
                            .subscribe("vehicle/+/telemetry", QoS::AtLeastOnce)
                            .await
                            .unwrap();
                    }
                    Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                        ready.store(true, Ordering::Relaxed)
                    }
                    Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                        received += 1;
                        let v = p.topic.split('/').nth(1).and_then(index);
                        // `{"seq":N,...`: the vehicle's encoder writes seq first.
                        let seq = p.payload.strip_prefix(b"{\"seq\":").and_then(|rest| {
                            let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                            std::str::from_utf8(&rest[..n]).ok()?.parse().ok()
                        });
                        if let (Some(v), Some(seq)) = (v, seq)
                            && let Some(lag) = clock.lag(v, seq)
                        {
                            lags.push(lag);
                        }
                    }
                    Ok(Ok(_)) | Err(_) => {}
                    Ok(Err(e)) => panic!("bare subscriber: {e}"),
                }
            }
            (lags, received)
        })
    })
}

/// The stream reader: the lag of each newly visible seq, until `stop`.
fn stream_reader(
    url: String,
    vehicles: usize,
    clock: Arc<Clock>,
    stop: Arc<AtomicBool>,
    limit: Duration,
) -> std::thread::JoinHandle<(Vec<Duration>, u64)> {
    std::thread::spawn(move || {
        let http = reqwest::blocking::Client::builder()
            .timeout(limit)
            .build()
            .unwrap();
        let resp = http
            .get(format!("{url}/api/stream"))
            .header("accept", "text/event-stream")
            .send()
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        let mut seen = vec![0u64; vehicles];
        let (mut lags, mut events) = (Vec::new(), 0u64);
        for line in std::io::BufReader::new(resp).lines() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let Ok(line) = line else { break };
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            events += 1;
            let row: Json = serde_json::from_str(data.trim_start()).unwrap();
            let (Some(v), Some(received)) = (
                row["vin"].as_str().and_then(index),
                row["loss"]["received"].as_u64(),
            ) else {
                continue;
            };
            if v < vehicles && received > seen[v] {
                seen[v] = received;
                if let Some(lag) = clock.lag(v, received) {
                    lags.push(lag);
                }
            }
        }
        (lags, events)
    })
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The fleet: connects in batches, publishes at 1 Hz for `seconds`;
/// returns the publishes made.
fn fleet(a: &Args, port: u16, clock: Arc<Clock>, connected: Arc<AtomicUsize>) -> u64 {
    let snapshots = Arc::new(Snapshots::load());
    let published = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let (n, seconds, warmup) = (a.vehicles, a.seconds, a.warmup);
    runtime().block_on(async {
        let mut clients = Vec::with_capacity(n);
        let stop = Arc::new(AtomicBool::new(false));
        let mut loops = Vec::new();
        for batch in (0..n).collect::<Vec<_>>().chunks(BATCH) {
            for &i in batch {
                let (client, mut ev) = AsyncClient::new(options(&vin(i), port), 10);
                let (connected, stop, failed) = (connected.clone(), stop.clone(), failed.clone());
                loops.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        match ev.poll().await {
                            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                                connected.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {}
                            Err(_) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                    }
                }));
                clients.push(client);
            }
            let want = batch[batch.len() - 1] + 1;
            let end = Instant::now() + Duration::from_secs(30);
            while connected.load(Ordering::Relaxed) < want {
                assert!(
                    Instant::now() < end,
                    "{} of {want} connected",
                    connected.load(Ordering::Relaxed)
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let start = tokio::time::Instant::now() + Duration::from_millis(100);
        let std_start = Instant::now() + Duration::from_millis(100);
        *clock.window.lock().unwrap() = Some((
            std_start + Duration::from_secs(warmup),
            std_start + Duration::from_secs(seconds),
        ));
        let mut tasks = Vec::new();
        for (i, client) in clients.into_iter().enumerate() {
            let (clock, snapshots, published) =
                (clock.clone(), snapshots.clone(), published.clone());
            let offset = Duration::from_micros(1_000_000 * i as u64 / n as u64);
            tasks.push(tokio::spawn(async move {
                let v = vin(i);
                let topic = format!("vehicle/{v}/telemetry");
                let mut tick = tokio::time::interval_at(start + offset, Duration::from_secs(1));
                for seq in 1..=seconds {
                    tick.tick().await;
                    let payload = snapshots.payload(seq as usize - 1, &v, seq, wall_ms());
                    clock.sent[i].lock().unwrap().push(Instant::now());
                    client
                        .publish(topic.clone(), QoS::AtLeastOnce, false, payload)
                        .await
                        .unwrap();
                    published.fetch_add(1, Ordering::Relaxed);
                }
                client
            }));
        }
        let mut clients = Vec::new();
        for t in tasks {
            clients.push(t.await.unwrap());
        }
        // Let the last PUBACKs come in before the connections go.
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.store(true, Ordering::Relaxed);
        for c in &clients {
            let _ = c.try_disconnect();
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            for l in loops {
                let _ = l.await;
            }
        })
        .await;
    });
    let f = failed.load(Ordering::Relaxed);
    if f > 0 {
        println!("publisher connection errors: {f}");
    }
    published.load(Ordering::Relaxed)
}

fn row(name: &str, lags: &mut [Duration]) -> String {
    lags.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let n = lags.len();
    if n == 0 {
        return format!("| {name} | 0 | - | - | - |");
    }
    format!(
        "| {name} | {n} | {:.2} | {:.2} | {:.2} |",
        ms(lags[n / 2]),
        ms(lags[(n * 99 / 100).min(n - 1)]),
        ms(lags[n - 1])
    )
}

fn main() {
    let a = args();
    assert!(
        mosquitto_available(),
        "mosquitto is not installed; ./scripts/test installs it (apt-get install mosquitto)"
    );
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let config = format!(
        "[ingest]\nbroker = \"mqtt://127.0.0.1:{}\"\nclient_id = \"twin-lag\"\n\
         [store]\npath = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
        broker.port,
        dir.path().join("twin.db").display()
    );
    let mut twin = Twin::start(dir.path(), "twin", &config, &[]);
    let clock = Arc::new(Clock {
        sent: (0..a.vehicles).map(|_| Mutex::new(Vec::new())).collect(),
        window: Mutex::new(None),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    let bare = bare_subscriber(broker.port, clock.clone(), ready.clone(), stop.clone());
    let limit = Duration::from_secs(a.seconds + 120);
    let stream = stream_reader(
        twin.url.clone(),
        a.vehicles,
        clock.clone(),
        stop.clone(),
        limit,
    );
    let end = Instant::now() + Duration::from_secs(30);
    while !ready.load(Ordering::Relaxed) {
        assert!(
            Instant::now() < end,
            "the bare subscriber did not subscribe"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let connected = Arc::new(AtomicUsize::new(0));
    println!(
        "{} vehicles publishing the captured snapshots ({} signals each) once a second for {} s",
        a.vehicles,
        Snapshots::load().signal_count(0),
        a.seconds
    );
    let t0 = Instant::now();
    let published = fleet(&a, broker.port, clock.clone(), connected.clone());
    println!(
        "{} vehicles connected, {published} telemetry messages published in {:.1} s (connecting included)",
        connected.load(Ordering::Relaxed),
        t0.elapsed().as_secs_f64()
    );
    // The stream reader sees the stop flag at its next line: a last change
    // or the stream's end when the twin stops.
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let (mut bare_lags, received) = bare.join().unwrap();
    let status = twin.stop();
    assert!(
        status.success(),
        "the twin exited with {status}:\n{}",
        twin.process.output()
    );
    let (mut twin_lags, events) = stream.join().unwrap();
    println!(
        "bare subscriber received {received} of {published}; the twin's stream sent {events} vehicle events\n"
    );
    assert_eq!(received, published, "the broker lost messages");
    println!(
        "| path ({} vehicles at 1 Hz, publishes from {} s to {} s) | samples | p50 ms | p99 ms | max ms |",
        a.vehicles, a.warmup, a.seconds
    );
    println!("|---|---|---|---|---|");
    println!(
        "{}",
        row(
            "bare rumqttc subscriber: publish → received",
            &mut bare_lags
        )
    );
    println!(
        "{}",
        row("twin: publish → change on `/api/stream`", &mut twin_lags)
    );
}
