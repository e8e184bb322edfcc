//! Footprint of a bench TCU: `tcu run --headless` (release build, six
//! plugins, 1 Hz telemetry, the default tick rate) against mosquitto for
//! `--seconds` (60), beside a bare rumqttc publisher of the same payload at
//! the same rate, both in the same run, each a process of its own.
//!
//! - *tcu*: the real binary, `--broker` at the test's mosquitto, its outbox
//!   in a temporary directory.
//! - *bare*: this benchmark re-run as a child (`--bare-publisher`): one
//!   rumqttc `Client` publishing a real telemetry snapshot (encoded once,
//!   beforehand, by a vehicle built from the same plugins) at QoS 1 every
//!   second. Nothing else: the floor of any MQTT publisher.
//!
//! Resident memory comes from `/proc/PID/status` (`VmHWM` peak, `VmRSS`
//! sampled every second; steady is the median of the second half), CPU from
//! `/proc/PID/task/*/schedstat` (time on a CPU, every thread) over the window after a 5 s settle.
//! At the end the tcu's largest resident mappings from `/proc/PID/smaps`
//! say what holds its memory.
//!
//! Run: `cargo build --release && cargo bench -p tcu-integration-tests --bench footprint -- [--seconds 60]`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tcu_engine::build::build_vehicle;
use tcu_engine::catalog::Catalog;
use tcu_engine::config::{VehicleConfig, VehicleOverrides};
use tcu_integration_tests::bench::{flag, release_dir};
use tcu_integration_tests::mqtt::{Mosquitto, mosquitto_available};
use tcu_link::encode::TelemetryEncoder;

const SETTLE: Duration = Duration::from_secs(5);
const VIN: &str = "WTCUZ000000000001";

fn status_kib(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU seconds `pid` has run, all its threads: the first field of each
/// task's `schedstat` is nanoseconds on a CPU (finer than `stat`'s clock
/// ticks, which a publisher of one message a second hardly moves).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum();
    ns as f64 / 1e9
}

/// The largest resident mappings of `pid`: (KiB, what).
fn top_mappings(pid: u32, n: usize) -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by_name: std::collections::BTreeMap<String, u64> = Default::default();
    let mut current = String::new();
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && first.chars().next().is_some_and(|c| c.is_ascii_hexdigit()) {
            let name = line.split_whitespace().nth(5).unwrap_or("[anon]");
            current = name.to_owned();
        } else if let Some(v) = line.strip_prefix("Rss:") {
            let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
            *by_name.entry(current.clone()).or_default() += kib;
        }
    }
    let mut v: Vec<(u64, String)> = by_name.into_iter().map(|(k, s)| (s, k)).collect();
    v.sort_by(|a, b| b.cmp(a));
    v.truncate(n);
    v
}

fn telemetry_payload() -> Vec<u8> {
    let overrides = VehicleOverrides {
        plugins_dir: Some(release_dir()),
        ..VehicleOverrides::default()
    };
    let config = VehicleConfig::defaults_with(&overrides, &Catalog::builtin()).unwrap();
    let (mut v, _) = build_vehicle(&config, Arc::new(Catalog::builtin())).unwrap();
    assert_eq!(
        v.plugins().len(),
        6,
        "build the plugins: cargo build --release"
    );
    for _ in 0..(30.0 / v.dt()) as usize {
        v.step();
    }
    TelemetryEncoder::new(&v, VIN, false).encode(v.bus(), 1, std::time::SystemTime::now())
}

/// The child: publish `payload` once a second at QoS 1 for `seconds`.
fn bare_publisher(port: u16, payload: &Path, seconds: u64) {
    let payload = std::fs::read(payload).unwrap();
    let mut o = rumqttc::MqttOptions::new("bare-publisher", "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut connection) = rumqttc::Client::new(o, 64);
    std::thread::spawn(move || for _ in connection.iter() {});
    let start = Instant::now();
    let topic = format!("vehicle/{VIN}B/telemetry");
    let mut next = start;
    while start.elapsed() < Duration::from_secs(seconds) {
        let _ = client.publish(&topic, rumqttc::QoS::AtLeastOnce, false, payload.clone());
        next += Duration::from_secs(1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

struct Measured {
    peak_kib: u64,
    steady_kib: u64,
    cpu_ms_per_s: f64,
}

fn measure(children: &mut [(&str, &mut Child)], seconds: u64) -> Vec<Measured> {
    std::thread::sleep(SETTLE);
    let cpu0: Vec<f64> = children.iter().map(|(_, c)| cpu_seconds(c.id())).collect();
    let t0 = Instant::now();
    let mut samples: Vec<Vec<u64>> = vec![Vec::new(); children.len()];
    while t0.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        for (i, (_, c)) in children.iter().enumerate() {
            samples[i].push(status_kib(c.id(), "VmRSS:"));
        }
    }
    let window = t0.elapsed().as_secs_f64();
    children
        .iter()
        .enumerate()
        .map(|(i, (_, c))| {
            let mut second_half = samples[i][samples[i].len() / 2..].to_vec();
            second_half.sort_unstable();
            Measured {
                peak_kib: status_kib(c.id(), "VmHWM:"),
                steady_kib: second_half.get(second_half.len() / 2).copied().unwrap_or(0),
                cpu_ms_per_s: (cpu_seconds(c.id()) - cpu0[i]) * 1000.0 / window,
            }
        })
        .collect()
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(at) = argv.iter().position(|a| a == "--bare-publisher") {
        let port = argv[at + 1].parse().unwrap();
        let seconds = argv[at + 3].parse().unwrap();
        return bare_publisher(port, Path::new(&argv[at + 2]), seconds);
    }
    let seconds: u64 = flag("--seconds", 60);
    assert!(mosquitto_available(), "mosquitto is not installed");
    let tcu_exe = release_dir().join("tcu");
    assert!(
        tcu_exe.is_file(),
        "{} missing: cargo build --release",
        tcu_exe.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let payload = dir.path().join("payload.json");
    std::fs::write(&payload, telemetry_payload()).unwrap();
    let run_for = seconds + SETTLE.as_secs() + 5;

    std::fs::write(
        dir.path().join("tcu.toml"),
        format!(
            "[mqtt]\noutbox_dir = \"{}\"\n",
            dir.path().join("outbox").display()
        ),
    )
    .unwrap();
    let mut tcu = Command::new(&tcu_exe)
        .args(["run", "--headless", "--log-level", "warn", "--config"])
        .arg(dir.path().join("tcu.toml"))
        .arg("--plugins")
        .arg(release_dir())
        .arg("--broker")
        .arg(format!("mqtt://127.0.0.1:{}", broker.port))
        .arg("--duration")
        .arg(format!("{run_for}s"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut bare = Command::new(std::env::current_exe().unwrap())
        .arg("--bare-publisher")
        .arg(broker.port.to_string())
        .arg(&payload)
        .arg(run_for.to_string())
        .spawn()
        .unwrap();
    let results = measure(&mut [("tcu", &mut tcu), ("bare", &mut bare)], seconds);
    let mappings = top_mappings(tcu.id(), 12);
    for c in [&mut tcu, &mut bare] {
        let _ = c.kill();
        let _ = c.wait();
    }
    let (t, b) = (&results[0], &results[1]);
    println!(
        "footprint over {seconds} s at 1 Hz telemetry (payload {} bytes):",
        std::fs::metadata(&payload).map_or(0, |m| m.len())
    );
    println!(
        "{:<6} {:>10} {:>12} {:>12}",
        "", "peak MiB", "steady MiB", "CPU ms/s"
    );
    for (name, m) in [("tcu", t), ("bare", b)] {
        println!(
            "{name:<6} {:>10.2} {:>12.2} {:>12.3}",
            m.peak_kib as f64 / 1024.0,
            m.steady_kib as f64 / 1024.0,
            m.cpu_ms_per_s
        );
    }
    println!(
        "ratio tcu/bare: peak {:.2}, steady {:.2}, CPU {:.2}",
        t.peak_kib as f64 / b.peak_kib.max(1) as f64,
        t.steady_kib as f64 / b.steady_kib.max(1) as f64,
        t.cpu_ms_per_s / b.cpu_ms_per_s.max(1e-9)
    );
    println!("tcu's largest resident mappings (KiB, /proc/PID/smaps):");
    for (kib, what) in mappings {
        println!("  {kib:>7}  {what}");
    }
}
