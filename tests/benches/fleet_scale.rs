//! A large fleet held for minutes on this machine together with mosquitto:
//! the `tcu fleet` binary (release) with N vehicles, 10 Hz physics and 1 Hz
//! telemetry, one connection each, watched by an independent subscriber.
//!
//! Reported over the window (which opens 10 s after the last vehicle
//! connected and lasts `--seconds`):
//!
//! - ticks late and skipped (from the fleet's `--stats` lines);
//! - delivery latency at the subscriber: its receive time minus the
//!   snapshot's `ts` (taken when the vehicle encoded it), p50 / p99 / max,
//!   millisecond resolution (the timestamp's);
//! - messages lost: per VIN, telemetry seqs missing between the first and
//!   the last one received, less those the vehicle reported in an
//!   `outbox.dropped` event (those are counted separately as reported);
//!   the subscriber keeps its session (clean session off, QoS 1), so a
//!   failure of its own connection (rumqttc gives up when a PINGRESP is a
//!   keepalive late, which happens once it falls that far behind) loses
//!   nothing: mosquitto keeps what it holds for it and sends it again, and
//!   the failures are counted and printed;
//! - resident memory of the fleet process at the end of the window, and
//!   per vehicle.
//!
//! The bare alternative for the latency is in the same table: mosquitto's
//! own delivery of the same number of messages is what `tests/benches/
//! publish.rs` and `fleet_cpu.rs` measure; here the point is whether the
//! machine holds the fleet at all. `scripts/fleet-knee` runs this at
//! growing N to find the largest fleet without late ticks or loss.
//!
//! A fleet needs about two file descriptors per vehicle; when the hard
//! open-file limit cannot hold the whole fleet in one process (10,000
//! vehicles under a 20,000 limit), it runs as `--processes P` shards
//! (`--shard K/P`, the fleet's own scale-out), the fewest that fit unless
//! given; the figures are summed over the processes.
//!
//! Run: `cargo build --release && cargo bench -p tcu-integration-tests --bench fleet_scale -- [--vehicles 10000] [--seconds 300] [--tick-rate 10] [--ticks-per-wake 1] [--connect-rate 500] [--processes P]`
//! (and, to watch with a slow subscriber: `[--subscriber-delay-us 1000]
//! [--subscriber-keepalive 5] [--subscriber-kept-session 0]`)

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tcu_integration_tests::bench::{flag, release_dir};
use tcu_integration_tests::mqtt::{Mosquitto, mosquitto_available};
use tcu_integration_tests::owned::SpawnOwned;
use tcu_integration_tests::process::Stopped;

const SETTLE: Duration = Duration::from_secs(10);

struct Args {
    vehicles: u64,
    seconds: u64,
    tick_rate: f64,
    /// Passed on to `tcu fleet --ticks-per-wake`.
    ticks_per_wake: u32,
    connect_rate: f64,
    processes: u64,
    /// Microseconds the subscriber spends on each message beyond reading
    /// it: a slow (CPU-starved) subscriber on demand.
    subscriber_delay_us: u64,
    /// The subscriber's keepalive, seconds.
    subscriber_keepalive: u64,
    /// A persistent session (`--subscriber-kept-session 0`: a clean one,
    /// which loses what the broker held for the subscriber whenever its
    /// connection fails).
    kept_session: bool,
}

/// The hard open-file limit of this process (inherited by the fleet's).
fn hard_nofile() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(4))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(1024)
}

fn args() -> Args {
    Args {
        vehicles: flag("--vehicles", 10_000),
        seconds: flag("--seconds", 300),
        tick_rate: flag("--tick-rate", 10.0),
        ticks_per_wake: flag("--ticks-per-wake", 1),
        connect_rate: flag("--connect-rate", 500.0),
        processes: flag("--processes", 0),
        subscriber_delay_us: flag("--subscriber-delay-us", 0),
        subscriber_keepalive: flag("--subscriber-keepalive", 30),
        kept_session: flag("--subscriber-kept-session", 1u8) == 1,
    }
}

/// The fewest processes whose shards fit under the hard limit.
fn processes_needed(vehicles: u64) -> u64 {
    let per = tcu_fleet::descriptors::PER_VEHICLE;
    let room = hard_nofile()
        .saturating_sub(tcu_fleet::descriptors::RESERVE)
        .max(per);
    (vehicles * per).div_ceil(room).max(1)
}

/// What the subscriber saw.
#[derive(Default)]
struct Seen {
    /// Latencies (ms) of messages received while `measuring`.
    latencies: Vec<i64>,
    /// Telemetry seqs per VIN, whole run.
    seqs: BTreeMap<String, BTreeSet<u64>>,
    /// Reported-lost seqs per VIN.
    reported: BTreeMap<String, BTreeSet<u64>>,
    /// Telemetry messages received while measuring.
    in_window: u64,
    /// Times the subscriber's connection failed.
    disconnects: u64,
    /// Reconnects on which mosquitto had not kept the subscriber's session.
    sessions_lost: u64,
    /// Why its connection failed the first time.
    first_failure: Option<String>,
}

/// The value after `"key":` in a JSON text, as raw text (number or string).
fn raw_field<'a>(text: &'a str, key: &str, from_end: bool) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let at = if from_end {
        text.rfind(&pat)?
    } else {
        text.find(&pat)?
    };
    let rest = &text[at + pat.len()..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    let end = rest.find(['"', ',', '}'])?;
    Some(&rest[..end])
}

/// How the subscriber reads.
struct Watch {
    delay: Duration,
    keepalive: Duration,
    /// Keep the session across a reconnect (mosquitto then queues what
    /// arrives meanwhile).
    kept_session: bool,
}

fn subscribe(port: u16, seen: Arc<Mutex<Seen>>, measuring: Arc<AtomicBool>, w: Watch) {
    let mut o = MqttOptions::new("fleet-scale-watch", "127.0.0.1", port);
    o.set_keep_alive(w.keepalive);
    o.set_clean_session(!w.kept_session);
    o.set_max_packet_size(1 << 20, 1 << 20);
    o.set_inflight(1000);
    let (client, mut connection) = Client::new(o, 10_000);
    std::thread::spawn(move || {
        for ev in connection.iter() {
            if !w.delay.is_zero() {
                std::thread::sleep(w.delay);
            }
            match ev {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    let mut s = seen.lock().unwrap();
                    if s.disconnects > 0 && !ack.session_present {
                        s.sessions_lost += 1;
                    }
                    drop(s);
                    let _ = client.try_subscribe("vehicle/+/telemetry", QoS::AtLeastOnce);
                    let _ = client.try_subscribe("vehicle/+/events", QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let now = SystemTime::now();
                    let Some(vin) = p.topic.split('/').nth(1).map(str::to_owned) else {
                        continue;
                    };
                    let text = String::from_utf8_lossy(&p.payload);
                    let mut s = seen.lock().unwrap();
                    if p.topic.ends_with("/events") {
                        if text.contains("\"outbox.dropped\"")
                            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                        {
                            for r in v["telemetry_seqs"].as_array().into_iter().flatten() {
                                let (a, b) =
                                    (r[0].as_u64().unwrap_or(0), r[1].as_u64().unwrap_or(0));
                                s.reported.entry(vin.clone()).or_default().extend(a..=b);
                            }
                        }
                        continue;
                    }
                    let Some(seq) = raw_field(&text, "seq", false).and_then(|x| x.parse().ok())
                    else {
                        continue;
                    };
                    s.seqs.entry(vin).or_default().insert(seq);
                    if measuring.load(Ordering::Relaxed)
                        && let Some(ts) = raw_field(&text, "ts", true)
                        && let Ok(t) = humantime::parse_rfc3339(ts)
                    {
                        let ms = match now.duration_since(t) {
                            Ok(d) => d.as_millis() as i64,
                            Err(e) => -(e.duration().as_millis() as i64),
                        };
                        s.latencies.push(ms);
                        s.in_window += 1;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let mut s = seen.lock().unwrap();
                    s.disconnects += 1;
                    s.first_failure.get_or_insert_with(|| e.to_string());
                    drop(s);
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    });
}

/// The last `--stats` line of one fleet process.
fn last_stats_of(path: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(text.lines().last()?).ok()
}

/// The counters of every process's last `--stats` line, summed; `None`
/// until every process wrote one.
fn last_stats(paths: &[std::path::PathBuf]) -> Option<serde_json::Value> {
    let mut sum = serde_json::Map::new();
    for p in paths {
        let v = last_stats_of(p)?;
        for k in [
            "connected",
            "ticks",
            "late_ticks",
            "skipped_ticks",
            "published",
            "dropped",
        ] {
            let total =
                sum.get(k).and_then(|x| x.as_u64()).unwrap_or(0) + v[k].as_u64().unwrap_or(0);
            sum.insert(k.to_owned(), total.into());
        }
    }
    Some(serde_json::Value::Object(sum))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let a = args();
    assert!(mosquitto_available(), "the fleet bench needs mosquitto");
    let tcu = release_dir().join("tcu");
    assert!(
        tcu.is_file(),
        "{} missing: cargo build --release",
        tcu.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "max_connections -1\n");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let measuring = Arc::new(AtomicBool::new(false));
    subscribe(
        broker.port,
        seen.clone(),
        measuring.clone(),
        Watch {
            delay: Duration::from_micros(a.subscriber_delay_us),
            keepalive: Duration::from_secs(a.subscriber_keepalive.max(1)),
            kept_session: a.kept_session,
        },
    );
    let processes = if a.processes > 0 {
        a.processes
    } else {
        processes_needed(a.vehicles)
    };
    let stats: Vec<_> = (1..=processes)
        .map(|k| dir.path().join(format!("stats-{k}.jsonl")))
        .collect();
    let ramp = a.vehicles as f64 / a.connect_rate;
    // Only a backstop: the bench stops the fleet itself after the window,
    // however long connecting took.
    let total = ramp * 3.0 + 120.0 + SETTLE.as_secs_f64() + a.seconds as f64 + 60.0;
    let fleets: Vec<Child> = (1..=processes)
        .map(|k| {
            Command::new(&tcu)
                .args(["fleet", "--broker"])
                .arg(format!("mqtt://127.0.0.1:{}", broker.port))
                .args(["--vehicles", &a.vehicles.to_string()])
                .args(["--shard", &format!("{k}/{processes}")])
                .args(["--tick-rate", &a.tick_rate.to_string()])
                .args(["--ticks-per-wake", &a.ticks_per_wake.to_string()])
                .args(["--publish-period", "1s", "--status-interval", "1s"])
                // The connect rate is the fleet's: each process takes its share.
                .args([
                    "--connect-rate",
                    &(a.connect_rate / processes as f64).to_string(),
                ])
                .args(["--duration", &format!("{}s", total.ceil())])
                .arg("--outbox-dir")
                .arg(dir.path().join(format!("outbox-{k}")))
                .arg("--stats")
                .arg(&stats[k as usize - 1])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn_owned()
                .unwrap()
        })
        .collect();
    let mut fleets = Stopped(fleets);
    let pids: Vec<u32> = fleets.0.iter().map(Child::id).collect();
    eprintln!(
        "{} vehicles in {processes} process(es), {} Hz physics ({} per wake-up), 1 s telemetry, connecting at {}/s",
        a.vehicles, a.tick_rate, a.ticks_per_wake, a.connect_rate
    );
    let wanted = a.vehicles;
    let deadline = Instant::now() + Duration::from_secs_f64(ramp * 3.0 + 120.0);
    loop {
        let s = last_stats(&stats);
        if s.as_ref().and_then(|s| s["connected"].as_u64()) == Some(wanted) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the fleet did not connect: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(SETTLE);
    let start = last_stats(&stats).unwrap();
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(a.seconds));
    measuring.store(false, Ordering::Relaxed);
    let end = last_stats(&stats).unwrap();
    let rss: u64 = pids.iter().map(|&p| rss_kib(p)).sum();
    assert!(
        fleets
            .0
            .iter_mut()
            .all(|f| matches!(f.try_wait(), Ok(None))),
        "a fleet process ended during the window: its figures would be empty"
    );
    let window = t0.elapsed().as_secs_f64();
    drop(fleets);
    std::thread::sleep(Duration::from_secs(2));
    let s = seen.lock().unwrap();
    let mut lat = s.latencies.clone();
    lat.sort_unstable();
    let (mut lost, mut reported) = (0u64, 0u64);
    for (vin, seqs) in &s.seqs {
        let (Some(lo), Some(hi)) = (seqs.first(), seqs.last()) else {
            continue;
        };
        let rep = s.reported.get(vin);
        for q in *lo..=*hi {
            if !seqs.contains(&q) {
                if rep.is_some_and(|r| r.contains(&q)) {
                    reported += 1;
                } else {
                    lost += 1;
                }
            }
        }
    }
    let d = |k: &str| end[k].as_u64().unwrap_or(0) - start[k].as_u64().unwrap_or(0);
    println!(
        "| vehicles | processes | window s | ticks | late | skipped | msgs received | latency p50 / p99 / max ms | lost silently | reported lost | RSS MiB | KiB per vehicle |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {:.0} | {} | {} | {} | {} | {} / {} / {} | {} | {} | {:.0} | {:.1} |",
        a.vehicles,
        processes,
        window,
        d("ticks"),
        d("late_ticks"),
        d("skipped_ticks"),
        s.in_window,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0),
        lost,
        reported,
        rss as f64 / 1024.0,
        rss as f64 / a.vehicles as f64,
    );
    println!(
        "vehicles seen by the subscriber: {} of {}; its connection failed {} time(s) (first: {}), {} reconnect(s) without its session",
        s.seqs.len(),
        a.vehicles,
        s.disconnects,
        s.first_failure.as_deref().unwrap_or("-"),
        s.sessions_lost
    );
}
