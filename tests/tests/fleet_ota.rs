//! `tcu fleet --ota-server` against goosebit: 20 vehicles, each its own DDI
//! controller, take one rollout of battery 2.0.0; the process downloads the
//! artifact once (a proxy in front of goosebit counts the downloads), each vehicle
//! installs it through its own swap transaction and reports success only
//! after probation. Then a rollout of a battery that fails probation: every
//! vehicle rolls back on its own, reports failure, and none is left on the
//! bad version.
//!
//! Needs the goosebit virtual environment `scripts/test` creates (see
//! `ota_goosebit.rs`); without it the test says so and passes, unless
//! `TCU_REQUIRE_GOOSEBIT=1`.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tcu_integration_tests::goosebit::{self, Goosebit};
use tcu_integration_tests::mqtt::{Mosquitto, Subscriber, mosquitto_available};
use tcu_integration_tests::process::{Running, tcu_command};
use tcu_integration_tests::variants;
use tcu_ota_client::publish::{self, ManagementApi};

const VEHICLES: usize = 20;
const HW: &str = "fleet-1";

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?}:\n{text}");
    text
}

fn vins() -> Vec<String> {
    (0..VEHICLES as u64)
        .map(|i| tcu_fleet::vin::derive("WTCUZ", i))
        .collect()
}

fn api(gb: &Goosebit) -> publish::Goosebit {
    publish::Goosebit::login(gb.url(), goosebit::USER, goosebit::PASSWORD).unwrap()
}

/// Waits until goosebit shows every vehicle as `ok` says.
fn wait_devices(
    gb: &Goosebit,
    fleet: &Running,
    what: &str,
    ok: impl Fn(&publish::DeviceStatus) -> bool,
) {
    let start = Instant::now();
    let mut api = api(gb);
    loop {
        let states: BTreeMap<String, Result<publish::DeviceStatus, String>> = vins()
            .into_iter()
            .map(|v| {
                let d = api.device(&v).map_err(|e| e.to_string());
                (v, d)
            })
            .collect();
        if states.values().all(|d| d.as_ref().is_ok_and(&ok)) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "goosebit never showed every vehicle {what}: {states:#?}\nfleet:\n{}\ngoosebit:\n{}",
            tail(&fleet.output()),
            tail(&gb.logs())
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The end of a long log.
fn tail(s: &str) -> &str {
    let mut from = s.len().saturating_sub(6000);
    while !s.is_char_boundary(from) {
        from += 1;
    }
    &s[from..]
}

/// A proxy in front of goosebit that counts artifact downloads (GETs of
/// `.../download`): goosebit's own logging configuration turns uvicorn's
/// access log off. Each request gets its own upstream connection
/// (`Connection: close`), so every request's head is seen. The DDI links
/// point back at the proxy, as goosebit builds them from the `Host` header.
struct CountingProxy {
    port: u16,
    downloads: Arc<AtomicUsize>,
}

impl CountingProxy {
    fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let downloads = Arc::new(AtomicUsize::new(0));
        let count = downloads.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let count = count.clone();
                std::thread::spawn(move || relay(client, upstream, &count));
            }
        });
        Self { port, downloads }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn downloads(&self) -> usize {
        self.downloads.load(Ordering::SeqCst)
    }
}

/// One request: its head rewritten to `Connection: close`, then both
/// directions copied until either side closes.
fn relay(mut client: TcpStream, upstream: u16, downloads: &AtomicUsize) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(60)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default().to_owned();
    let path = first.split_whitespace().nth(1).unwrap_or_default();
    if first.starts_with("GET ") && path.ends_with("/download") {
        downloads.fetch_add(1, Ordering::SeqCst);
    }
    let mut out = first.clone() + "\r\n";
    for l in lines.filter(|l| !l.is_empty()) {
        if !l.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    if up.write_all(out.as_bytes()).is_err() || up.write_all(&buf[head_end..]).is_err() {
        return;
    }
    let (Ok(mut up_read), Ok(mut client_write)) = (up.try_clone(), client.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client, &mut up);
        let _ = up.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut up_read, &mut client_write);
    let _ = client_write.shutdown(std::net::Shutdown::Both);
}

/// Uploads `plugin` as one bundle and assigns it to the whole fleet.
fn roll_out(gb: &Goosebit, plugin: &Path, bundle: &Path) {
    run_ok(
        tcu_command()
            .args(["ota", "package", "--hw-revision", HW, "--plugin"])
            .arg(plugin)
            .arg("--out")
            .arg(bundle),
    );
    let mut api = api(gb);
    let id = api.upload(bundle).unwrap();
    for v in vins() {
        api.assign(&v, &id).unwrap();
    }
}

/// The last `ota.state` of every vehicle, and whether each saw its
/// probation end before it reported success (by VIN).
#[derive(Default)]
struct Events {
    last_state: BTreeMap<String, String>,
    passed: BTreeSet<String>,
    succeeded_before_probation: BTreeSet<String>,
    rolled_back: BTreeSet<String>,
    battery: BTreeMap<String, String>,
}

impl Events {
    fn take(&mut self, sub: &Subscriber, timeout: Duration, done: impl Fn(&Events) -> bool) {
        let end = Instant::now() + timeout;
        while Instant::now() < end && !done(self) {
            let Some((topic, payload)) = sub.next(Duration::from_millis(200)) else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<Value>(&payload) else {
                continue;
            };
            let parts: Vec<&str> = topic.split('/').collect();
            match parts.as_slice() {
                ["vehicle", vin, "events"] => {
                    let vin = (*vin).to_owned();
                    match v["type"].as_str().unwrap_or_default() {
                        "plugin.probation_passed" => {
                            self.passed.insert(vin);
                        }
                        "plugin.rollback" => {
                            self.rolled_back.insert(vin);
                        }
                        "ota.state" => {
                            let state = v["state"].as_str().unwrap_or_default().to_owned();
                            if state == "succeeded" && !self.passed.contains(&vin) {
                                self.succeeded_before_probation.insert(vin.clone());
                            }
                            self.last_state.insert(vin, state);
                        }
                        _ => {}
                    }
                }
                ["vehicle", vin, "status"] => {
                    if let Some(b) = v["plugins"]["battery"].as_str() {
                        self.battery.insert((*vin).to_owned(), b.to_owned());
                    }
                }
                _ => {}
            }
        }
    }

    fn all_in(&self, state: &str) -> bool {
        self.last_state.len() == VEHICLES && self.last_state.values().all(|s| s == state)
    }
}

fn stats_last(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null)
}

/// goosebit, a broker and a counting proxy, and the fleet's configuration.
struct Setup {
    gb: Goosebit,
    tmp: tempfile::TempDir,
    broker: Mosquitto,
    sub: Subscriber,
    proxy: CountingProxy,
    config: std::path::PathBuf,
    stats: std::path::PathBuf,
}

impl Setup {
    /// `None` (the test passes, saying so) without goosebit's environment.
    fn start() -> Option<Self> {
        let Some(gb) = Goosebit::start() else {
            assert!(
                std::env::var_os("TCU_REQUIRE_GOOSEBIT").is_none(),
                "TCU_REQUIRE_GOOSEBIT is set but the goosebit virtual environment is missing"
            );
            eprintln!("SKIPPED: no goosebit virtual environment (run scripts/test to create it)");
            return None;
        };
        assert!(
            mosquitto_available(),
            "mosquitto is not installed; ./scripts/test installs it"
        );
        let tmp = tempfile::tempdir().unwrap();
        let broker = Mosquitto::start(tmp.path(), "");
        let sub = Subscriber::connect(broker.port, "t-fleet-ota", "vehicle/#", true);
        let config = tmp.path().join("tcu.toml");
        // The bad battery fails 100 ticks after it starts: after the canary,
        // inside probation (2 s at 100 Hz).
        std::fs::write(
            &config,
            format!(
                "[hotswap]\ncanary_ticks = 20\nprobation = \"2s\"\nallow_unsigned = true\n\n\
                 [ota]\naction_poll_interval = \"500ms\"\nhw_revision = \"{HW}\"\n"
            ),
        )
        .unwrap();
        let stats = tmp.path().join("stats.jsonl");
        let proxy = CountingProxy::start(gb.port());
        Some(Self {
            gb,
            tmp,
            broker,
            sub,
            proxy,
            config,
            stats,
        })
    }

    fn fleet_of(&self, n: usize, extra: &[&str]) -> Running {
        let mut cmd = tcu_command();
        cmd.args(["fleet", "--vehicles", &n.to_string(), "--config"])
            .arg(&self.config)
            .arg("--broker")
            .arg(format!("mqtt://127.0.0.1:{}", self.broker.port))
            .arg("--outbox-dir")
            .arg(self.tmp.path().join("outbox"))
            .arg("--state-dir")
            .arg(self.tmp.path().join("state"))
            .arg("--stats")
            .arg(&self.stats)
            .args(["--status-interval", "1s", "--publish-period", "500ms"])
            .args(["--ota-server", &self.proxy.url(), "--ota-poll", "500ms"])
            .args(["--ota-threads", "6"])
            .args(extra);
        Running::start(cmd)
    }

    /// The whole fleet, every vehicle registered with goosebit.
    fn registered_fleet(&self, extra: &[&str]) -> Running {
        // goosebit files a device under its hardware with a get-or-create
        // that races: twenty first registrations at once can create the
        // hardware row twice, after which every configData of that hardware
        // fails. One vehicle registers first, so the row exists.
        let mut first = self.fleet_of(1, &[]);
        let start = Instant::now();
        while !api(&self.gb).device(&vins()[0]).is_ok_and(|d| {
            d.hardware
                .is_some_and(|h| h.revision.as_deref() == Some(HW))
        }) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the first vehicle never registered:\n{}",
                first.output()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(first.id().to_string())
            .status();
        first.wait_exit(Duration::from_secs(20));
        let fleet = self.fleet_of(VEHICLES, extra);
        wait_devices(&self.gb, &fleet, "registered", |d| {
            d.hardware
                .as_ref()
                .is_some_and(|h| h.revision.as_deref() == Some(HW))
        });
        fleet
    }
}

#[test]
fn a_fleet_of_twenty_takes_one_rollout_with_one_download_and_rolls_a_bad_one_back_on_every_vehicle()
{
    let Some(setup) = Setup::start() else {
        return;
    };
    let Setup {
        gb,
        tmp,
        broker,
        sub,
        proxy,
        stats,
        ..
    } = &setup;
    let v2 = variants::battery_variant("v2", &tmp.path().join("v2/libbattery.so"));
    let bad = variants::battery_variant("probation_error", &tmp.path().join("bad/libbattery.so"));
    let fleet = setup.registered_fleet(&[]);
    let mut events = Events::default();

    roll_out(gb, &v2, &tmp.path().join("battery-2.0.0.swu"));
    wait_devices(gb, &fleet, "finished on 2.0.0", |d| {
        d.sw_version.as_deref() == Some("2.0.0")
            && d.last_state
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("finished"))
    });
    events.take(sub, Duration::from_secs(30), |e| e.all_in("succeeded"));
    assert!(
        events.all_in("succeeded"),
        "{:?}\n{}",
        events.last_state,
        fleet.output()
    );
    assert_eq!(
        events.passed.len(),
        VEHICLES,
        "every vehicle passed probation"
    );
    assert!(
        events.succeeded_before_probation.is_empty(),
        "success reported before probation: {:?}",
        events.succeeded_before_probation
    );
    assert_eq!(proxy.downloads(), 1, "one download for the whole fleet");
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats_last(stats)["ota"]["succeeded"] != VEHICLES && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let s = stats_last(stats);
    assert_eq!(s["ota"]["succeeded"], VEHICLES, "fleet status: {s}");
    assert_eq!(s["ota_downloads"], 1, "fleet status: {s}");
    assert!(
        fleet.output().contains("ota: succeeded 20 (1 downloaded)"),
        "the summary line shows the OTA states:\n{}",
        fleet.output()
    );

    roll_out(gb, &bad, &tmp.path().join("battery-1.9.0.swu"));
    wait_devices(gb, &fleet, "failed", |d| {
        d.last_state
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("error"))
    });
    events.take(sub, Duration::from_secs(30), |e| {
        e.all_in("failed") && e.rolled_back.len() == VEHICLES
    });
    assert!(
        events.all_in("failed"),
        "{:?}\n{}",
        events.last_state,
        fleet.output()
    );
    assert_eq!(
        events.rolled_back.len(),
        VEHICLES,
        "every vehicle rolled back on its own"
    );
    assert_eq!(
        proxy.downloads(),
        2,
        "one more download for the second rollout"
    );
    // Nobody is left on the bad version: every retained status lists 2.0.0.
    let late = Subscriber::connect(broker.port, "t-fleet-ota-late", "vehicle/+/status", true);
    let mut latest = Events::default();
    latest.take(&late, Duration::from_secs(15), |e| {
        e.battery.len() == VEHICLES
    });
    assert_eq!(latest.battery.len(), VEHICLES, "{:?}", latest.battery);
    for (vin, b) in &latest.battery {
        assert_eq!(b, "2.0.0", "{vin} runs battery {b}");
    }
}

#[test]
fn a_rollout_converges_when_a_share_of_the_fleet_is_powered_off_during_probation() {
    let Some(setup) = Setup::start() else {
        return;
    };
    let file = setup.tmp.path().join("fleet.toml");
    std::fs::write(&file, "[ota.misbehave]\npower_off = 0.25\n").unwrap();
    let mix = tcu_fleet::mix::Mix::load(&file).unwrap();
    let cut: BTreeSet<String> = vins()
        .into_iter()
        .filter(|v| mix.draw(5, v).power_off)
        .collect();
    assert!(
        !cut.is_empty() && cut.len() < VEHICLES,
        "the seed powers a part of the fleet off: {cut:?}"
    );
    let v2 = variants::battery_variant("v2", &setup.tmp.path().join("v2/libbattery.so"));
    let fleet = setup.registered_fleet(&["--fleet", file.to_str().unwrap(), "--seed", "5"]);
    roll_out(&setup.gb, &v2, &setup.tmp.path().join("battery-2.0.0.swu"));
    // Every vehicle ends in a final state: the ones powered off report the
    // failure after starting again from their store (their client found the
    // installation in its saved state), the others finish on 2.0.0.
    wait_devices(
        &setup.gb,
        &fleet,
        "finished, or failed if powered off",
        |d| {
            let state = d
                .last_state
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if cut.contains(&d.id) {
                state == "error"
            } else {
                state == "finished" && d.sw_version.as_deref() == Some("2.0.0")
            }
        },
    );
    let mut events = Events::default();
    events.take(&setup.sub, Duration::from_secs(30), |e| {
        e.last_state.len() == VEHICLES
            && e.last_state.iter().all(|(v, s)| {
                s == if cut.contains(v) {
                    "failed"
                } else {
                    "succeeded"
                }
            })
    });
    for v in vins() {
        let want = if cut.contains(&v) {
            "failed"
        } else {
            "succeeded"
        };
        assert_eq!(
            events.last_state.get(&v).map(String::as_str),
            Some(want),
            "{v}\n{}",
            tail(&fleet.output())
        );
    }
    assert_eq!(
        fleet.count("powered off during probation; starting again from its store"),
        cut.len()
    );
    assert_eq!(
        setup.proxy.downloads(),
        1,
        "one download for the whole fleet"
    );
    // The vehicles powered off run what their store kept: the version
    // before the swap that had not passed probation.
    let late = Subscriber::connect(
        setup.broker.port,
        "t-fleet-ota-power",
        "vehicle/+/status",
        true,
    );
    let mut latest = Events::default();
    latest.take(&late, Duration::from_secs(15), |e| {
        e.battery.len() == VEHICLES
    });
    for v in vins() {
        let want = if cut.contains(&v) { "1.0.0" } else { "2.0.0" };
        assert_eq!(
            latest.battery.get(&v).map(String::as_str),
            Some(want),
            "{v}: {:?}",
            latest.battery
        );
    }
}

#[test]
fn a_rollout_converges_over_links_that_drop_mid_download_or_crawl() {
    let Some(setup) = Setup::start() else {
        return;
    };
    let file = setup.tmp.path().join("fleet.toml");
    std::fs::write(
        &file,
        "[ota.misbehave]\ndrop_download = 0.2\nslow_link = 0.15\nslow_link_bytes_per_s = 150000.0\n",
    )
    .unwrap();
    let mix = tcu_fleet::mix::Mix::load(&file).unwrap();
    let fault = |v: &String| mix.draw(5, v).link;
    let dropping = vins()
        .iter()
        .filter(|v| fault(v) == Some(tcu_fleet::shaper::LinkFault::DropMidDownload))
        .count();
    let slow = vins()
        .iter()
        .filter(|v| matches!(fault(v), Some(tcu_fleet::shaper::LinkFault::Slow(_))))
        .count();
    assert!(
        dropping > 0 && slow > 0,
        "the seed draws both: {dropping} dropping, {slow} slow"
    );
    let v2 = variants::battery_variant("v2", &setup.tmp.path().join("v2/libbattery.so"));
    let fleet = setup.registered_fleet(&["--fleet", file.to_str().unwrap(), "--seed", "5"]);
    roll_out(&setup.gb, &v2, &setup.tmp.path().join("battery-2.0.0.swu"));
    wait_devices(&setup.gb, &fleet, "finished on 2.0.0", |d| {
        d.sw_version.as_deref() == Some("2.0.0")
            && d.last_state
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("finished"))
    });
    let mut events = Events::default();
    events.take(&setup.sub, Duration::from_secs(30), |e| {
        e.all_in("succeeded")
    });
    assert!(events.all_in("succeeded"), "{:?}", events.last_state);
    // Each misbehaving vehicle downloads over its own link: a dropped
    // download is resumed (a second request), the others share one.
    assert_eq!(
        fleet.count("misbehaving link: dropping the connection mid-answer"),
        dropping,
        "{}",
        tail(&fleet.output())
    );
    assert_eq!(
        setup.proxy.downloads(),
        1 + slow + 2 * dropping,
        "downloads: the shared one, one per slow link, two per dropped link"
    );
}
