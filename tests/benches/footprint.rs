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
//! - *ticker*: this benchmark re-run as a child (`--bare-ticker`): a loop
//!   that only sleeps until the next deadline at the tcu's default tick rate
//!   (100 Hz), as the tick loop does, and does nothing else: the CPU floor of
//!   waking up 100 times a second on this machine.
//!
//! Resident memory comes from `/proc/PID/status` (`VmHWM` peak, `VmRSS`
//! sampled every second; steady is the median of the second half), CPU from
//! `/proc/PID/task/*/schedstat` (time on a CPU, every thread) over the window after a 5 s settle.
//! At the end the tcu's `/proc/PID/smaps_rollup` splits its resident memory
//! (file-backed and shared, private, anonymous), the plugins' in-memory
//! copies (`memfd:tcu-plugin`) are measured whole (the pages they hold,
//! mapped or not), the largest resident mappings from `/proc/PID/smaps` say
//! what holds it, and the CPU of each of its threads says where the time
//! goes.
//!
//! Run: `cargo build --release && cargo bench -p tcu-integration-tests --bench footprint -- [--seconds 60] [--tcu PATH] [--ticks-per-wake N]`

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
use tcu_integration_tests::owned::SpawnOwned;
use tcu_link::encode::TelemetryEncoder;

const SETTLE: Duration = Duration::from_secs(5);
const VIN: &str = "WTCUZ000000000001";
/// The tcu's default tick rate, which the ticker paces at.
const TICK_RATE_HZ: f64 = 100.0;

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

/// `key` of `/proc/PID/smaps_rollup`, KiB.
fn rollup_kib(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The in-memory plugin copies `pid` holds open: (count, KiB of pages they
/// hold, mapped or not).
fn memfd_copies(pid: u32) -> (usize, u64) {
    use std::os::unix::fs::MetadataExt;
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return (0, 0);
    };
    let mut n = 0;
    let mut kib = 0;
    for fd in fds.flatten() {
        let is_copy = std::fs::read_link(fd.path())
            .is_ok_and(|t| t.to_string_lossy().starts_with("/memfd:tcu-plugin"));
        if is_copy && let Ok(m) = std::fs::metadata(fd.path()) {
            n += 1;
            kib += m.blocks() / 2;
        }
    }
    (n, kib)
}

/// CPU ms each thread of `pid` has run, by thread name, largest first.
fn thread_cpu_ms(pid: u32) -> Vec<(f64, String)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut v: Vec<(f64, String)> = tasks
        .flatten()
        .filter_map(|t| {
            let ns: u64 = std::fs::read_to_string(t.path().join("schedstat"))
                .ok()?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            let name = std::fs::read_to_string(t.path().join("comm")).ok()?;
            Some((ns as f64 / 1e6, name.trim().to_owned()))
        })
        .collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    v
}

/// The child: sleep until each next deadline at `hz` for `seconds`, the
/// tick loop's pacing with no tick.
fn bare_ticker(hz: f64, seconds: u64) {
    let dt = Duration::from_secs_f64(1.0 / hz);
    let start = Instant::now();
    let mut n: u32 = 0;
    while start.elapsed() < Duration::from_secs(seconds) {
        n += 1;
        let deadline = dt * n;
        let now = start.elapsed();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
    }
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
    if let Some(at) = argv.iter().position(|a| a == "--bare-ticker") {
        let hz = argv[at + 1].parse().unwrap();
        let seconds = argv[at + 2].parse().unwrap();
        return bare_ticker(hz, seconds);
    }
    let seconds: u64 = flag("--seconds", 60);
    // `--ticks-per-wake N`: the tcu's own option, passed on.
    let ticks_per_wake: u32 = flag("--ticks-per-wake", 1);
    assert!(mosquitto_available(), "mosquitto is not installed");
    // `--tcu PATH`: another build of the binary (a before/after comparison
    // with the same plugins).
    let tcu_exe = flag("--tcu", release_dir().join("tcu"));
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
        // Passed only when asked for: a `--tcu` of an older build has no such option.
        .args(
            (ticks_per_wake != 1)
                .then(|| ["--ticks-per-wake".to_owned(), ticks_per_wake.to_string()])
                .into_iter()
                .flatten(),
        )
        .stdout(Stdio::null())
        .spawn_owned()
        .unwrap();
    let mut bare = Command::new(std::env::current_exe().unwrap())
        .arg("--bare-publisher")
        .arg(broker.port.to_string())
        .arg(&payload)
        .arg(run_for.to_string())
        .spawn_owned()
        .unwrap();
    let mut ticker = Command::new(std::env::current_exe().unwrap())
        .arg("--bare-ticker")
        .arg(TICK_RATE_HZ.to_string())
        .arg(run_for.to_string())
        .spawn_owned()
        .unwrap();
    let results = measure(
        &mut [
            ("tcu", &mut tcu),
            ("bare", &mut bare),
            ("ticker", &mut ticker),
        ],
        seconds,
    );
    let mappings = top_mappings(tcu.id(), 12);
    let rollup: Vec<(&str, u64)> = [
        "Rss:",
        "Pss:",
        "Shared_Clean:",
        "Private_Clean:",
        "Private_Dirty:",
        "Anonymous:",
    ]
    .into_iter()
    .map(|k| (k, rollup_kib(tcu.id(), k)))
    .collect();
    let copies = memfd_copies(tcu.id());
    let threads = thread_cpu_ms(tcu.id());
    for c in [&mut tcu, &mut bare, &mut ticker] {
        let _ = c.kill();
        let _ = c.wait();
    }
    let (t, b, k) = (&results[0], &results[1], &results[2]);
    println!(
        "footprint over {seconds} s at 1 Hz telemetry (payload {} bytes), tcu --ticks-per-wake {ticks_per_wake}:",
        std::fs::metadata(&payload).map_or(0, |m| m.len())
    );
    println!(
        "{:<6} {:>10} {:>12} {:>12}",
        "", "peak MiB", "steady MiB", "CPU ms/s"
    );
    for (name, m) in [("tcu", t), ("bare", b), ("ticker", k)] {
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
    println!(
        "CPU tcu/(bare + ticker): {:.2}; tcu - ticker: {:.3} ms/s",
        t.cpu_ms_per_s / (b.cpu_ms_per_s + k.cpu_ms_per_s).max(1e-9),
        t.cpu_ms_per_s - k.cpu_ms_per_s
    );
    println!("tcu's memory at the end (KiB, /proc/PID/smaps_rollup):");
    for (key, kib) in rollup {
        println!("  {key:<15} {kib:>7}");
    }
    println!(
        "  plugin copies: {} memfd files holding {} KiB (mapped or not)",
        copies.0, copies.1
    );
    println!("tcu's largest resident mappings (KiB, /proc/PID/smaps):");
    for (kib, what) in mappings {
        println!("  {kib:>7}  {what}");
    }
    println!("tcu's threads, CPU ms over the whole run:");
    for (ms, name) in threads {
        println!("  {ms:>9.1}  {name}");
    }
}
