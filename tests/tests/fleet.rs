//! `tcu fleet` against a real mosquitto: every vehicle a real MQTT client
//! with its own VIN, contiguous telemetry, its own commands and its own
//! last will; shards that split one fleet.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};
use tcu_integration_tests::mqtt::{Mosquitto, Subscriber, mosquitto_available};
use tcu_integration_tests::process::{Running, tcu_command};

const SETPOINT: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";

fn require_mosquitto() {
    assert!(
        mosquitto_available(),
        "mosquitto is not installed; ./scripts/test installs it (apt-get install mosquitto)"
    );
}

fn spawn_fleet(dir: &std::path::Path, broker: &Mosquitto, args: &[&str]) -> Running {
    let mut cmd = tcu_command();
    cmd.args(["fleet", "--broker"])
        .arg(format!("mqtt://127.0.0.1:{}", broker.port))
        .arg("--outbox-dir")
        .arg(dir.join("outbox"))
        .args(["--status-interval", "1s", "--publish-period", "500ms"])
        .args(args);
    Running::start(cmd)
}

/// Telemetry seqs by VIN, and every status payload, until `done` or `timeout`.
#[derive(Default)]
struct Seen {
    seqs: BTreeMap<String, Vec<u64>>,
    status: BTreeMap<String, Vec<Value>>,
    telemetry: BTreeMap<String, Value>,
    /// Telemetry seqs the vehicles reported lost (`outbox.dropped`).
    dropped: BTreeMap<String, Vec<u64>>,
}

impl Seen {
    fn take(&mut self, sub: &Subscriber, timeout: Duration, mut done: impl FnMut(&Seen) -> bool) {
        let end = Instant::now() + timeout;
        while Instant::now() < end && !done(self) {
            let Some((topic, payload)) = sub.next(Duration::from_millis(100)) else {
                continue;
            };
            let parts: Vec<&str> = topic.split('/').collect();
            let Ok(v) = serde_json::from_slice::<Value>(&payload) else {
                continue;
            };
            match parts.as_slice() {
                ["vehicle", vin, "telemetry"] => {
                    self.seqs
                        .entry((*vin).to_owned())
                        .or_default()
                        .push(v["seq"].as_u64().expect("telemetry without a seq"));
                    self.telemetry.insert((*vin).to_owned(), v);
                }
                ["vehicle", vin, "events"] if v["type"] == json!("outbox.dropped") => {
                    for r in v["telemetry_seqs"].as_array().into_iter().flatten() {
                        let seq = |x: &Value| x.as_u64().expect("a dropped range of numbers");
                        let (a, b) = (seq(&r[0]), seq(&r[1]));
                        self.dropped
                            .entry((*vin).to_owned())
                            .or_default()
                            .extend(a..=b);
                    }
                }
                ["vehicle", vin, "status"] => {
                    self.status.entry((*vin).to_owned()).or_default().push(v)
                }
                _ => {}
            }
        }
    }

    /// Takes until `n` VINs have published at least `k` telemetry
    /// messages each (a minute at most), and checks that `n` did.
    fn every_published(&mut self, sub: &Subscriber, n: usize, k: usize, fleet: &Running) {
        self.take(sub, Duration::from_secs(60), |s| {
            s.seqs.len() == n && s.seqs.values().all(|q| q.len() >= k)
        });
        assert_eq!(
            self.seqs.len(),
            n,
            "VINs seen: {:?}\n{}",
            self.seqs.keys(),
            fleet.output()
        );
    }

    /// Sends `vin` a command setting [`SETPOINT`] to `value` and takes
    /// until its telemetry shows it (20 s at most).
    fn set_setpoint(&mut self, sub: &Subscriber, vin: &str, value: f64) {
        sub.publish(
            &format!("vehicle/{vin}/cmd/req"),
            json!({"id": format!("set-{vin}"), "set": {SETPOINT: value}}).to_string(),
        );
        self.take(sub, Duration::from_secs(20), |s| {
            s.telemetry
                .get(vin)
                .is_some_and(|t| t["signals"][SETPOINT] == json!(value))
        });
        assert_eq!(
            self.telemetry[vin]["signals"][SETPOINT],
            json!(value),
            "the command did not reach {vin}"
        );
    }

    /// Every VIN's telemetry seqs run 1, 2, ... with none missing or repeated.
    fn assert_contiguous(&self) {
        for (vin, seqs) in &self.seqs {
            let want: Vec<u64> = (1..=*seqs
                .iter()
                .max()
                .expect("a VIN is listed once it has a seq"))
                .collect();
            assert_eq!(*seqs, want, "{vin}: telemetry seqs not contiguous from 1");
        }
    }

    fn offline(&self) -> BTreeSet<&String> {
        self.status
            .iter()
            .filter(|(_, s)| s.last().is_some_and(|s| s["status"] == json!("offline")))
            .map(|(vin, _)| vin)
            .collect()
    }
}

#[test]
fn fifty_vehicles_publish_contiguous_telemetry_under_their_own_vins_and_a_command_changes_only_its_vehicle()
 {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "t-fleet", "vehicle/#", true);
    let mut fleet = spawn_fleet(dir.path(), &broker, &["--vehicles", "50", "--seed", "3"]);
    let mut seen = Seen::default();
    seen.every_published(&sub, 50, 4, &fleet);
    for vin in seen.seqs.keys() {
        assert_eq!(vin.len(), 17, "{vin}");
        assert!(vin.starts_with("WTCUZ"), "{vin}");
    }
    // One command to one vehicle.
    let target = seen.seqs.keys().nth(17).unwrap().clone();
    seen.set_setpoint(&sub, &target, 27.5);
    // Another round so that every other vehicle has published after the command.
    let before: BTreeMap<String, usize> = seen
        .seqs
        .iter()
        .map(|(v, q)| (v.clone(), q.len()))
        .collect();
    seen.take(&sub, Duration::from_secs(20), |s| {
        s.seqs.iter().all(|(v, q)| q.len() > before[v])
    });
    for (vin, t) in &seen.telemetry {
        if *vin != target {
            assert_ne!(t["signals"][SETPOINT], json!(27.5), "{vin} changed too");
        }
    }
    // SIGTERM: every vehicle delivers what it has and publishes offline.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(fleet.id().to_string())
        .status();
    let status = fleet.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{}", fleet.output());
    seen.take(&sub, Duration::from_secs(10), |s| s.offline().len() == 50);
    assert_eq!(seen.offline().len(), 50);
    seen.assert_contiguous();
    assert!(
        fleet.output().contains("fleet: 50/50 connected"),
        "{}",
        fleet.output()
    );
}

#[test]
fn sigkill_of_the_fleet_process_delivers_every_vehicles_offline_last_will() {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "t-will", "vehicle/+/status", true);
    let mut fleet = spawn_fleet(dir.path(), &broker, &["--vehicles", "30"]);
    let mut seen = Seen::default();
    let online = |s: &Seen| {
        s.status
            .values()
            .filter(|v| v.last().is_some_and(|s| s["status"] == json!("online")))
            .count()
    };
    seen.take(&sub, Duration::from_secs(60), |s| online(s) == 30);
    assert_eq!(online(&seen), 30, "{}", fleet.output());
    fleet.kill();
    // mosquitto sends a will when it notices the dead connection (at once
    // for a reset socket, after 1.5 keepalives otherwise).
    seen.take(&sub, Duration::from_secs(90), |s| s.offline().len() == 30);
    assert_eq!(seen.offline().len(), 30, "offline: {:?}", seen.offline());
}

#[test]
fn two_shards_of_one_fleet_run_every_vin_once_between_them() {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "t-shard", "vehicle/+/telemetry", true);
    let one_dir = dir.path().join("one");
    let two_dir = dir.path().join("two");
    std::fs::create_dir_all(&one_dir).unwrap();
    std::fs::create_dir_all(&two_dir).unwrap();
    let args = ["--vehicles", "21", "--duration", "6s"];
    let mut one = spawn_fleet(
        &one_dir,
        &broker,
        &[&args[..], &["--shard", "1/2"]].concat(),
    );
    let mut two = spawn_fleet(
        &two_dir,
        &broker,
        &[&args[..], &["--shard", "2/2"]].concat(),
    );
    let mut seen = Seen::default();
    seen.take(&sub, Duration::from_secs(60), |s| s.seqs.len() == 21);
    assert!(
        one.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        one.output()
    );
    assert!(
        two.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        two.output()
    );
    assert_eq!(seen.seqs.len(), 21, "{:?}", seen.seqs.keys());
    let serials: BTreeSet<u64> = seen.seqs.keys().map(|v| v[11..].parse().unwrap()).collect();
    assert_eq!(serials, (1..=21).collect(), "serials 1..=21, each once");
    assert!(one.output().contains("/11 connected"), "{}", one.output());
    assert!(two.output().contains("/10 connected"), "{}", two.output());
}

#[test]
fn a_broker_outage_loses_nothing_silently_across_the_fleet_and_reconnects_at_the_configured_rate() {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path(), "");
    // A persistent session: the broker keeps what arrives for it while it
    // is reconnecting after the restart.
    let sub = Subscriber::connect(broker.port, "t-outage", "vehicle/#", false);
    let rate = 8;
    let mut fleet = spawn_fleet(
        dir.path(),
        &broker,
        &["--vehicles", "24", "--connect-rate", &rate.to_string()],
    );
    let mut seen = Seen::default();
    seen.every_published(&sub, 24, 2, &fleet);
    broker.stop();
    let restarted_at = std::time::SystemTime::now();
    std::thread::sleep(Duration::from_secs(20));
    broker.restart();
    // Until every vehicle is back and has published well past the outage.
    let high: BTreeMap<String, u64> = seen
        .seqs
        .iter()
        .map(|(v, q)| (v.clone(), q.iter().max().copied().unwrap_or(0) + 50))
        .collect();
    seen.take(&sub, Duration::from_secs(90), |s| {
        s.seqs
            .iter()
            .all(|(v, q)| q.iter().max().copied().unwrap_or(0) >= high[v])
    });
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(fleet.id().to_string())
        .status();
    assert!(
        fleet.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        fleet.output()
    );
    seen.take(&sub, Duration::from_secs(10), |s| s.offline().len() == 24);
    for (vin, seqs) in &seen.seqs {
        let max = seqs.iter().max().copied().unwrap();
        assert!(max >= high[vin], "{vin} did not come back: last seq {max}");
        let mut got: BTreeSet<u64> = seqs.iter().copied().collect();
        got.extend(seen.dropped.get(vin).into_iter().flatten());
        let missing: Vec<u64> = (1..=max).filter(|q| !got.contains(q)).collect();
        assert!(missing.is_empty(), "{vin}: seqs lost silently: {missing:?}");
    }
    // mosquitto logs each connection with the second it arrived: after the
    // restart, the vehicles came back at no more than the gate's rate.
    let since = restarted_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let per_second = connects_per_second(dir.path(), since);
    let reconnects: usize = per_second.values().sum();
    assert!(
        reconnects >= 24,
        "{reconnects} reconnects logged: {per_second:?}"
    );
    // One second of the log can hold the end of one and the start of the
    // next: at most the rate plus one.
    let busiest = per_second.values().copied().max().unwrap_or(0);
    assert!(
        busiest <= rate + 1,
        "{busiest} connects in one second: {per_second:?}"
    );
}

#[test]
fn a_fleet_file_gives_each_vehicle_its_drawn_driver_ambient_temperature_and_occupants() {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "t-mix", "vehicle/+/telemetry", true);
    let file = dir.path().join("fleet.toml");
    std::fs::write(
        &file,
        "[drivers]\nmotorway = 1\nparked = 1\n\n[ambient]\nmin = -7.0\nmax = -7.0\n\n\
         [occupants]\ncounts = { \"2\" = 1 }\n",
    )
    .unwrap();
    let mut fleet = spawn_fleet(
        dir.path(),
        &broker,
        &["--vehicles", "12", "--fleet", file.to_str().unwrap()],
    );
    let mut seen = Seen::default();
    // Long enough for a motorway driver to be well on its way.
    seen.every_published(&sub, 12, 12, &fleet);
    let (mut moving, mut parked) = (0, 0);
    for (vin, t) in &seen.telemetry {
        let sig = |p: &str| t["signals"][p].clone();
        let air = sig("Vehicle.Exterior.AirTemperature").as_f64().unwrap();
        assert!((air + 7.0).abs() < 0.5, "{vin}: ambient {air}");
        assert_eq!(
            sig("Vehicle.Cabin.Seat.Row1.DriverSide.IsOccupied"),
            json!(true),
            "{vin}"
        );
        assert_eq!(
            sig("Vehicle.Cabin.Seat.Row1.PassengerSide.IsOccupied"),
            json!(true),
            "{vin}"
        );
        assert_eq!(
            sig("Vehicle.Cabin.Seat.Row2.Middle.IsOccupied"),
            json!(false),
            "{vin}"
        );
        let speed = sig("Vehicle.Speed").as_f64().unwrap();
        if speed > 30.0 {
            moving += 1;
        } else if speed == 0.0 {
            parked += 1;
        }
    }
    assert_eq!(
        moving + parked,
        12,
        "every vehicle is on the motorway or parked"
    );
    assert!(
        moving >= 2 && parked >= 2,
        "both profiles drawn: {moving} moving, {parked} parked"
    );
    fleet.kill();
}

#[test]
fn a_fleet_files_state_of_charge_band_starts_every_battery_at_its_drawn_charge() {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "t-soc", "vehicle/+/telemetry", true);
    let file = dir.path().join("fleet.toml");
    // Parked: the charge moves by the auxiliary load only.
    std::fs::write(
        &file,
        "[drivers]\nparked = 1\n\n[soc]\nmin = 20.0\nmax = 80.0\n",
    )
    .unwrap();
    let mix = tcu_fleet::mix::Mix::load(&file).unwrap();
    let mut fleet = spawn_fleet(
        dir.path(),
        &broker,
        &[
            "--vehicles",
            "12",
            "--seed",
            "11",
            "--fleet",
            file.to_str().unwrap(),
        ],
    );
    let mut seen = Seen::default();
    seen.every_published(&sub, 12, 2, &fleet);
    let mut socs = Vec::new();
    for (vin, t) in &seen.telemetry {
        let soc = t["signals"]["Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"]
            .as_f64()
            .unwrap();
        let drawn = mix.draw(11, vin).soc.unwrap();
        assert!(
            (soc - drawn).abs() < 0.5,
            "{vin}: state of charge {soc}, drawn {drawn}"
        );
        assert!((19.5..=80.0).contains(&soc), "{vin}: {soc}");
        socs.push(soc);
    }
    let (lo, hi) = socs
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
    assert!(hi - lo > 20.0, "spread over the band: {socs:?}");
    fleet.kill();
}

#[test]
fn fleet_steps_crash_the_drawn_share_and_set_one_vins_actuator_leaving_the_others_alone() {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "t-steps", "vehicle/#", true);
    let one = tcu_fleet::vin::derive("WTCUZ", 5);
    let file = dir.path().join("fleet.toml");
    std::fs::write(
        &file,
        format!(
            "[drivers]\nmotorway = 1\n\n\
             [[steps]]\nat = \"3s\"\nshare = 0.3\ncrash = 100.0\n\n\
             [[steps]]\nat = \"1s\"\nvin = \"{one}\"\nset = {{ \"{SETPOINT}\" = 27.5 }}\n"
        ),
    )
    .unwrap();
    let mix = tcu_fleet::mix::Mix::load(&file).unwrap();
    let vins: Vec<String> = (0..12)
        .map(|i| tcu_fleet::vin::derive("WTCUZ", i))
        .collect();
    let crashed: BTreeSet<String> = vins
        .iter()
        .filter(|v| tcu_fleet::steps::takes(&mix.steps[0], 0, 3, v))
        .cloned()
        .collect();
    assert!(
        !crashed.is_empty() && crashed.len() < 12,
        "the seed draws a part of the fleet: {crashed:?}"
    );
    let mut fleet = spawn_fleet(
        dir.path(),
        &broker,
        &[
            "--vehicles",
            "12",
            "--seed",
            "3",
            "--fleet",
            file.to_str().unwrap(),
        ],
    );
    // Steps seen on the events topic, by VIN.
    let mut steps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut telemetry: BTreeMap<String, (u64, Value)> = BTreeMap::new();
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end
        && !(telemetry.len() == 12 && telemetry.values().all(|(n, _)| *n >= 24))
    {
        let Some((topic, payload)) = sub.next(Duration::from_millis(100)) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&payload) else {
            continue;
        };
        match topic.split('/').collect::<Vec<_>>().as_slice() {
            ["vehicle", vin, "events"] if v["type"] == json!("fleet.step") => steps
                .entry((*vin).to_owned())
                .or_default()
                .push(v["action"].as_str().unwrap_or_default().to_owned()),
            ["vehicle", vin, "telemetry"] => {
                let e = telemetry
                    .entry((*vin).to_owned())
                    .or_insert((0, Value::Null));
                e.0 += 1;
                e.1 = v;
            }
            _ => {}
        }
    }
    assert_eq!(telemetry.len(), 12, "{}", fleet.output());
    for vin in &vins {
        let mut want = Vec::new();
        if *vin == one {
            want.push(format!("set {SETPOINT} = Float(27.5)"));
        }
        if crashed.contains(vin) {
            want.push("set Sim.Crash.Trigger = Float(100.0)".to_owned());
        }
        assert_eq!(
            steps.get(vin).cloned().unwrap_or_default(),
            want,
            "{vin}'s steps"
        );
        let t = &telemetry[vin].1["signals"];
        let speed = t["Vehicle.Speed"].as_f64().unwrap();
        if crashed.contains(vin) {
            assert!(speed < 5.0, "{vin} crashed and stands: {speed} km/h");
        } else {
            assert!(speed > 30.0, "{vin} drives on: {speed} km/h");
        }
        assert_eq!(
            t[SETPOINT] == json!(27.5),
            *vin == one,
            "{vin}: {}",
            t[SETPOINT]
        );
    }
    fleet.kill();
}

#[test]
fn a_bad_fleet_file_stops_the_fleet_naming_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.toml");
    std::fs::write(&file, "[drivers]\nrally = 1\n").unwrap();
    let out = tcu_command()
        .args(["fleet", "--vehicles", "3", "--fleet"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains(&file.display().to_string()) && text.contains("`drivers.rally`"),
        "{text}"
    );
}

/// Connects per second that mosquitto's log shows for the fleet's clients
/// from `since` (seconds since the epoch) on.
fn connects_per_second(dir: &std::path::Path, since: u64) -> BTreeMap<u64, usize> {
    let log = std::fs::read_to_string(dir.join("mosquitto.log")).expect("mosquitto's log");
    let mut per_second: BTreeMap<u64, usize> = BTreeMap::new();
    for line in log
        .lines()
        .filter(|l| l.contains("New client connected") && l.contains("tcu-"))
    {
        let t: u64 = line
            .split(':')
            .next()
            .and_then(|t| t.trim().parse().ok())
            .expect("a log line starting with its time in seconds");
        if t >= since {
            *per_second.entry(t).or_default() += 1;
        }
    }
    per_second
}

#[test]
fn an_outage_step_takes_every_link_offline_and_the_fleet_comes_back_at_the_gates_rate_losing_nothing()
 {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "t-outage-step", "vehicle/#", true);
    let file = dir.path().join("fleet.toml");
    std::fs::write(&file, "[[steps]]\nat = \"5s\"\noutage = \"5s\"\n").unwrap();
    let (vehicles, rate) = (50, 20);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut fleet = spawn_fleet(
        dir.path(),
        &broker,
        &[
            "--vehicles",
            &vehicles.to_string(),
            "--connect-rate",
            &rate.to_string(),
            "--fleet",
            file.to_str().unwrap(),
        ],
    );
    // Telemetry every 500 ms: seq 40 is 20 s into a vehicle's run, well
    // past the outage (5 s to 10 s) and the reconnects after it.
    let mut seen = Seen::default();
    seen.take(&sub, Duration::from_secs(90), |s| {
        s.seqs.len() == vehicles && s.seqs.values().all(|q| q.iter().max() >= Some(&40))
    });
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(fleet.id().to_string())
        .status();
    assert!(
        fleet.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        fleet.output()
    );
    seen.take(&sub, Duration::from_secs(10), |s| {
        s.offline().len() == vehicles
    });
    assert_eq!(seen.seqs.len(), vehicles, "{}", fleet.output());
    for (vin, seqs) in &seen.seqs {
        let max = seqs.iter().max().copied().unwrap();
        assert!(max >= 40, "{vin} did not come back: last seq {max}");
        let got: BTreeSet<u64> = seqs.iter().copied().collect();
        let missing: Vec<u64> = (1..=max).filter(|q| !got.contains(q)).collect();
        assert!(missing.is_empty(), "{vin}: seqs missing: {missing:?}");
        assert!(
            !seen.dropped.contains_key(vin),
            "{vin}: the outbox held the outage, nothing is dropped"
        );
        // The outage dropped the connection without DISCONNECT: the
        // broker published the vehicle's last will, then it came back.
        let statuses: Vec<&Value> = seen.status[vin].iter().map(|s| &s["status"]).collect();
        let will = statuses.iter().position(|s| **s == json!("offline"));
        assert!(
            will.is_some_and(|w| statuses[w..].contains(&&json!("online"))),
            "{vin}: statuses {statuses:?}"
        );
    }
    let per_second = connects_per_second(dir.path(), started);
    let connects: usize = per_second.values().sum();
    assert!(
        connects >= 2 * vehicles,
        "each vehicle connects again after the outage: {connects} connects {per_second:?}"
    );
    // One second of the log can hold the end of one gate slot and the
    // start of the next: at most the rate plus one.
    let busiest = per_second.values().copied().max().unwrap_or(0);
    assert!(
        busiest <= rate + 1,
        "{busiest} connects in one second: {per_second:?}"
    );
}

#[test]
fn ticks_per_wake_runs_each_vehicles_ticks_in_groups_at_the_simulated_rate_and_still_takes_commands()
 {
    require_mosquitto();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "");
    let sub = Subscriber::connect(broker.port, "t-per-wake", "vehicle/#", true);
    let stats = dir.path().join("stats.jsonl");
    let started = Instant::now();
    let mut fleet = spawn_fleet(
        dir.path(),
        &broker,
        &[
            "--vehicles",
            "10",
            "--tick-rate",
            "10",
            "--ticks-per-wake",
            "5",
            "--duration",
            "8s",
            "--stats",
            stats.to_str().unwrap(),
        ],
    );
    let mut seen = Seen::default();
    seen.every_published(&sub, 10, 2, &fleet);
    let target = seen.seqs.keys().nth(3).unwrap().clone();
    seen.set_setpoint(&sub, &target, 26.5);
    let status = fleet.wait_exit(Duration::from_secs(30));
    let ran = started.elapsed().as_secs_f64();
    assert!(status.success(), "{status:?}\n{}", fleet.output());
    let lines: Vec<Value> = std::fs::read_to_string(&stats)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 3, "{lines:?}");
    // Ticks are counted a wake-up at a time: with 5 per wake-up every
    // total is a multiple of 5 (with 1 per wake-up, totals are any number).
    for l in &lines {
        let ticks = l["ticks"].as_u64().unwrap();
        assert_eq!(ticks % 5, 0, "ticks counted outside a group of 5: {l}");
        assert_eq!(l["late_ticks"], json!(0), "{l}");
    }
    // Simulated time runs at the tick rate, not five times as fast: at
    // most 10 vehicles x 10 Hz x the process's whole life, plus one group.
    let last = lines.last().unwrap()["ticks"].as_u64().unwrap();
    let ceiling = (10.0 * 10.0 * ran) as u64 + 10 * 5;
    assert!(
        last > 10 * 10 * 4 && last <= ceiling,
        "{last} ticks in {ran:.1} s of 10 vehicles at 10 Hz (ceiling {ceiling})"
    );
    seen.assert_contiguous();
}
