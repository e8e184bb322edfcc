//! CPU time per vehicle of `tcu fleet` against a bare rumqttc fleet, in one
//! run, through the same mosquitto, over the same number of connections, at
//! the same telemetry rate, with the same payloads and client options.
//!
//! - *bare*: N `AsyncClient`s (the link's own options:
//!   `tcu_link::options::mqtt_options`, with the same last will) on one
//!   multi-threaded runtime with as many threads as the fleet's links get;
//!   each client `publish().await`s one real telemetry snapshot (encoded
//!   once, beforehand) every publish period at QoS 1, and its event loop
//!   counts PUBACKs. Nothing else: no physics, no plugins, no encoding, no
//!   outbox, no status, no commands.
//! - *fleet*: `tcu_fleet::run_observed`, the code `tcu fleet` runs: N whole
//!   vehicles (six plugins from `target/release`, world model, demo driver)
//!   ticking at `--tick-rate` (`--ticks-per-wake` of a vehicle's ticks
//!   per wake-up, as `tcu fleet` takes it; default 1), each encoding its own snapshot every period
//!   and delivering it through its outbox and link, plus the retained
//!   status, the command subscription and the summary.
//!
//! Both start their connections through a gate at the same rate; each
//! window opens two seconds after the last vehicle connected and lasts
//! `--seconds`. CPU time is the whole process's (`getrusage`, user +
//! system, every thread) over the window; messages are the PUBACKed
//! publishes in the window. The ratio is fleet CPU / bare CPU (target:
//! at most 1.5).
//!
//! With `--rounds R`, the two run R times each, in the order bare, fleet,
//! fleet, bare, bare, fleet, ...: a machine whose speed drifts over
//! minutes (a shared host does) then weighs on both alike. Each round's
//! ratio is printed, then the ratio of the totals and the median of the
//! rounds'.
//!
//! Run: `cargo build --release && cargo bench -p tcu-integration-tests --bench fleet_cpu -- [--vehicles 1000] [--seconds 30] [--tick-rate 10] [--ticks-per-wake 1] [--rounds 1]`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use rumqttc::{AsyncClient, Event, Packet, QoS};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tcu_engine::build::build_vehicle;
use tcu_engine::catalog::Catalog;
use tcu_engine::config::{VehicleConfig, VehicleOverrides};
use tcu_fleet::status::Snapshot;
use tcu_fleet::{FleetSettings, Shard};
use tcu_integration_tests::bench::{flag, release_dir};
use tcu_integration_tests::mqtt::{Mosquitto, mosquitto_available};
use tcu_link::config::{Layered, MqttConfig, RawMqtt};
use tcu_link::encode::{self, TelemetryEncoder};
use tcu_link::gate::ConnectGate;
use tcu_link::options::{self, REQUEST_CAP};
use tcu_link::url::BrokerUrl;

const PREFIX: &str = "WTCUB";
const CONNECT_RATE: f64 = 500.0;
const SETTLE: Duration = Duration::from_secs(2);

struct Args {
    vehicles: u64,
    seconds: u64,
    tick_rate: f64,
    ticks_per_wake: u32,
    rounds: u32,
}

fn args() -> Args {
    Args {
        vehicles: flag("--vehicles", 1000),
        seconds: flag("--seconds", 30),
        tick_rate: flag("--tick-rate", 10.0),
        ticks_per_wake: flag("--ticks-per-wake", 1),
        rounds: flag("--rounds", 1),
    }
}

/// User + system CPU time of this whole process, seconds.
fn cpu_seconds() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid rusage for the call to fill.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    assert_eq!(rc, 0, "getrusage failed");
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn vehicle_config(tick_rate: f64) -> VehicleConfig {
    let overrides = VehicleOverrides {
        plugins_dir: Some(release_dir()),
        tick_rate_hz: Some(tick_rate),
        ..VehicleOverrides::default()
    };
    VehicleConfig::defaults_with(&overrides, &Catalog::builtin()).unwrap()
}

fn mqtt_config(port: u16, outbox: &Path) -> MqttConfig {
    let mut layers = Layered::default();
    layers.merge(
        "bench",
        RawMqtt {
            broker: Some(format!("mqtt://127.0.0.1:{port}")),
            publish_period: Some("1s".into()),
            outbox_dir: Some(outbox.to_owned()),
            ..RawMqtt::default()
        },
    );
    layers.resolve("WTCUZ000000000001").unwrap()
}

/// A real snapshot: one vehicle after 30 s of the demo cycle.
fn telemetry_payload(config: &VehicleConfig) -> Vec<u8> {
    let (mut v, _) = build_vehicle(config, Arc::new(Catalog::builtin())).unwrap();
    assert_eq!(
        v.plugins().len(),
        6,
        "build the plugins: cargo build --release"
    );
    for _ in 0..(30.0 / v.dt()) as usize {
        v.step();
    }
    let enc = TelemetryEncoder::new(&v, "WTCUZ000000000001", false);
    enc.encode(v.bus(), 1, std::time::SystemTime::now())
}

struct Window {
    cpu_s: f64,
    messages: u64,
    seconds: f64,
}

/// The bare fleet: connects N clients, measures one window, drops them.
fn bare(args: &Args, mqtt: &MqttConfig, payload: Vec<u8>, threads: usize) -> Window {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    let url = BrokerUrl::parse(mqtt.broker.as_deref().unwrap()).unwrap();
    let gate = Arc::new(ConnectGate::new(CONNECT_RATE));
    let acks = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicUsize::new(0));
    let members =
        tcu_fleet::plan::members(args.vehicles, PREFIX, 1, Shard::ALL, mqtt.publish_period)
            .unwrap();
    for m in &members {
        let cfg = mqtt.for_vin(&m.vin, PathBuf::new());
        let topics = encode::Topics::for_config(&cfg, &m.vin);
        let will = options::status_will(
            &topics.status,
            encode::status(false, &m.vin, &[], std::time::SystemTime::now()),
        );
        let o = options::mqtt_options(&cfg, &url, Some(will)).unwrap();
        let _guard = rt.enter();
        let (client, mut eventloop) = AsyncClient::new(o, REQUEST_CAP);
        let (gate, acks, connected) = (gate.clone(), acks.clone(), connected.clone());
        let up = Arc::new(AtomicBool::new(false));
        let up2 = up.clone();
        rt.spawn(async move {
            gate.wait().await;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connected.fetch_add(1, Ordering::Relaxed);
                        up2.store(true, Ordering::Relaxed);
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        acks.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            }
        });
        let (payload, offset, period) = (payload.clone(), m.offset, mqtt.publish_period);
        rt.spawn(async move {
            while !up.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(offset).await;
            let mut every = tokio::time::interval(period);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let _ = client
                    .publish(
                        topics.telemetry.clone(),
                        QoS::AtLeastOnce,
                        false,
                        payload.clone(),
                    )
                    .await;
            }
        });
    }
    let n = members.len();
    let end = Instant::now() + Duration::from_secs(120);
    while connected.load(Ordering::Relaxed) < n && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        connected.load(Ordering::Relaxed),
        n,
        "bare fleet did not connect"
    );
    std::thread::sleep(SETTLE);
    let (c0, a0, t0) = (cpu_seconds(), acks.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs(args.seconds));
    let w = Window {
        cpu_s: cpu_seconds() - c0,
        messages: acks.load(Ordering::Relaxed) - a0,
        seconds: t0.elapsed().as_secs_f64(),
    };
    rt.shutdown_timeout(Duration::from_secs(2));
    w
}

/// The fleet: runs `tcu_fleet` until the window is measured.
fn fleet(
    args: &Args,
    vehicle: &VehicleConfig,
    mqtt: &MqttConfig,
    dir: &Path,
    threads: usize,
) -> (Window, Snapshot) {
    let settings = FleetSettings {
        vehicles: args.vehicles,
        vin_prefix: PREFIX.into(),
        seed: 1,
        shard: Shard::ALL,
        workers: threads,
        connect_rate: CONNECT_RATE,
        ticks_per_wake: args.ticks_per_wake,
        duration: None,
        outbox_root: dir.join("fleet-outbox"),
        outbox_max_bytes: 1 << 20,
        outbox_mem: 256,
        status_interval: Duration::from_secs(1),
        stats: None,
        mix: None,
        ota: None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel::<(Snapshot, f64)>();
    let handle = {
        let (vehicle, mqtt, stop) = (vehicle.clone(), mqtt.clone(), stop.clone());
        std::thread::spawn(move || {
            tcu_fleet::run_observed(&vehicle, &mqtt, &settings, &stop, &mut |s| {
                let _ = tx.send((*s, cpu_seconds()));
            })
            .unwrap()
        })
    };
    let wanted = args.vehicles as usize;
    let (mut start, mut end) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(120 + args.seconds);
    while end.is_none() && Instant::now() < deadline {
        let Ok((snap, cpu)) = rx.recv_timeout(Duration::from_secs(5)) else {
            continue;
        };
        match start {
            None if snap.connected == wanted => {
                // Opens SETTLE after the last connect.
                start = Some((snap, cpu, None::<f64>));
            }
            Some((s, c, None)) if snap.t_s - s.t_s >= SETTLE.as_secs_f64() => {
                start = Some((snap, cpu, Some(c)));
            }
            Some((s, _, Some(_))) if snap.t_s - s.t_s >= args.seconds as f64 => {
                end = Some((snap, cpu));
            }
            _ => {}
        }
    }
    stop.store(true, Ordering::Relaxed);
    let outcome = handle.join().unwrap();
    let (s, c0, _) = start.expect("the fleet never connected fully");
    let (e, c1) = end.expect("the fleet window never closed");
    (
        Window {
            cpu_s: c1 - c0,
            messages: e.published - s.published,
            seconds: e.t_s - s.t_s,
        },
        outcome.last,
    )
}

fn main() {
    let args = args();
    assert!(mosquitto_available(), "the fleet bench needs mosquitto");
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "max_connections -1\n");
    let mqtt = mqtt_config(broker.port, &dir.path().join("outbox"));
    let vehicle = vehicle_config(args.tick_rate);
    let payload = telemetry_payload(&vehicle);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "{} vehicles, {} s window, {} Hz physics ({} per wake-up), 1 s telemetry ({} bytes), {threads} threads each",
        args.vehicles,
        args.seconds,
        args.tick_rate,
        args.ticks_per_wake,
        payload.len()
    );
    let mut rounds = Vec::new();
    for r in 0..args.rounds.max(1) {
        // Bare first in even rounds, the fleet first in odd ones.
        let round_dir = dir.path().join(format!("round-{r}"));
        let (b, (f, last)) = if r % 2 == 0 {
            let b = bare(&args, &mqtt, payload.clone(), threads);
            (b, fleet(&args, &vehicle, &mqtt, &round_dir, threads))
        } else {
            let f = fleet(&args, &vehicle, &mqtt, &round_dir, threads);
            (bare(&args, &mqtt, payload.clone(), threads), f)
        };
        eprintln!(
            "round {}: bare {:.0}, fleet {:.0} µs per vehicle-second, ratio {:.2}",
            r + 1,
            per_vehicle_second(&args, &b),
            per_vehicle_second(&args, &f),
            f.cpu_s / b.cpu_s
        );
        rounds.push((b, f, last));
    }
    let row = |name: &str, w: &Window| {
        println!(
            "| {name} | {} | {:.1} | {} | {:.2} | {:.1} | {:.0} |",
            args.vehicles,
            w.seconds,
            w.messages,
            w.cpu_s,
            100.0 * w.cpu_s / w.seconds,
            per_vehicle_second(&args, w),
        );
    };
    println!(
        "| path | vehicles | window s | messages acked | CPU s | CPU % of one core | CPU µs per vehicle-second |"
    );
    println!("|---|---|---|---|---|---|---|");
    let total = |pick: fn(&(Window, Window, Snapshot)) -> &Window| Window {
        cpu_s: rounds.iter().map(|r| pick(r).cpu_s).sum(),
        messages: rounds.iter().map(|r| pick(r).messages).sum(),
        seconds: rounds.iter().map(|r| pick(r).seconds).sum(),
    };
    let (b, f) = (total(|r| &r.0), total(|r| &r.1));
    row("bare rumqttc publishers", &b);
    row("tcu fleet (whole vehicles)", &f);
    let mut ratios: Vec<f64> = rounds.iter().map(|r| r.1.cpu_s / r.0.cpu_s).collect();
    ratios.sort_by(f64::total_cmp);
    let (late, ticks, dropped) = rounds.iter().fold((0, 0, 0), |(l, t, d), r| {
        (l + r.2.late, t + r.2.ticks, d + r.2.dropped)
    });
    println!(
        "\nratio fleet / bare CPU: {:.2} over {} round(s), median of the rounds {:.2} (each: {}; target at most 1.5); fleet ticks late {late} of {ticks}, dropped {dropped}",
        f.cpu_s / b.cpu_s,
        rounds.len(),
        median(&ratios),
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
}

fn per_vehicle_second(args: &Args, w: &Window) -> f64 {
    1e6 * w.cpu_s / w.seconds / args.vehicles as f64
}

/// The middle of sorted `v` (the mean of the two middle ones when even).
fn median(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
