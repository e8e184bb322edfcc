//! Recording a drive (`tcu_engine::record`, `tcu run --record`): every signal
//! the plugins read and write, every tick, exact, in rotating files each of
//! which reads back on its own.

use std::path::Path;
use tcu_engine::catalog::Value;
use tcu_engine::record::{BATCH_ROWS, RecordSettings, Recorder, TraceReader};
use tcu_engine::sim::{TickHook, Vehicle};
use tcu_engine::world::driver::DriverProfile;
use tcu_integration_tests::harness;

fn record(v: &mut Vehicle, settings: RecordSettings, ticks: u64) {
    let mut r = Recorder::new(settings, v, "WTCUZ000000000001", 4)
        .expect("recorder starts")
        .wait_when_behind();
    for _ in 0..ticks {
        v.step();
        r.after_tick(v, &[]);
    }
    r.finish().expect("recording flushed");
}

/// Settings for one file that never rotates.
fn unrotated(path: &Path) -> RecordSettings {
    RecordSettings {
        path: path.to_path_buf(),
        max_bytes: 1 << 30,
        files: 2,
    }
}

fn rows(path: &Path) -> (TraceReader, Vec<u64>) {
    let mut r = TraceReader::open(path).expect("trace opens");
    let mut ticks = Vec::new();
    while let Some(t) = r.next_row().expect("row reads") {
        ticks.push(t);
    }
    (r, ticks)
}

#[test]
fn a_recording_holds_every_signal_the_plugins_read_and_write_every_tick_bit_for_bit() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("drive.trace");
    let mut v = harness::vehicle(4, DriverProfile::Demo, &[]);
    let settings = unrotated(&path);
    record(&mut v, settings, 500);
    let (r, ticks) = rows(&path);
    assert_eq!(ticks, (1..=500).collect::<Vec<u64>>());
    let h = r.header();
    assert_eq!(
        (h.tick_rate_hz, h.seed, h.vin.as_str()),
        (100.0, 4, "WTCUZ000000000001")
    );
    let names: Vec<&str> = h.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), 6, "{names:?}");
    for p in v.plugins() {
        let entry = h.plugin(p.name()).expect("plugin in the header");
        assert_eq!(entry.version, p.library().info().version);
        for id in p.library().reads().iter().chain(p.library().writes()) {
            let path = &v.bus().meta(*id).path;
            assert!(h.columns.contains(path), "{path} not recorded");
        }
    }
    // The last row is the bus after the last tick, exactly.
    for (c, value) in h.columns.iter().zip(r.values()) {
        let id = v.bus().id(c).expect("catalog signal");
        assert_eq!(value.to_bits(), v.bus().get(id).to_bits(), "{c}");
    }
}

#[test]
fn a_recorder_settled_between_batches_keeps_every_row_and_returns_with_no_batch_in_flight() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("settled.trace");
    let mut v = harness::vehicle(4, DriverProfile::Demo, &[]);
    let settings = unrotated(&path);
    // Without wait_when_behind: rows would be dropped if the writer fell a
    // channel behind; settling after every batch keeps it at none.
    let mut r = Recorder::new(settings, &v, "WTCUZ000000000001", 4).expect("recorder starts");
    let batches = 80;
    for _ in 0..batches {
        for _ in 0..BATCH_ROWS {
            v.step();
            r.after_tick(&v, &[]);
        }
        r.settle();
    }
    // Settling with nothing handed over returns at once.
    r.settle();
    assert_eq!(r.dropped_rows(), 0);
    r.finish().expect("recording flushed");
    let (_, ticks) = rows(&path);
    let n = (batches * BATCH_ROWS) as u64;
    assert_eq!(ticks, (1..=n).collect::<Vec<u64>>());
}

#[test]
fn a_recording_rotates_into_bounded_files_that_each_read_back_on_their_own() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("drive.trace");
    let mut v = harness::vehicle(4, DriverProfile::Demo, &[]);
    let max_bytes = 40_000;
    let settings = RecordSettings {
        path: path.clone(),
        max_bytes,
        files: 3,
    };
    record(&mut v, settings, 6000);
    let names = ["drive.trace.2", "drive.trace.1", "drive.trace"];
    assert!(
        !dir.path().join("drive.trace.3").exists(),
        "a fourth file was kept"
    );
    let mut last = None;
    for name in names {
        let file = dir.path().join(name);
        let size = std::fs::metadata(&file).expect("rotated file").len();
        // A file is closed after the row that reached the limit.
        assert!(size < max_bytes + 4096, "{name}: {size} bytes");
        let (_, ticks) = rows(&file);
        assert!(!ticks.is_empty(), "{name} has no rows");
        if let Some(l) = last {
            assert_eq!(ticks[0], l + 1, "{name} does not follow on");
        }
        last = ticks.last().copied();
    }
    assert_eq!(last, Some(6000));
}

#[test]
fn a_recording_that_cannot_be_created_names_its_path() {
    let v = harness::vehicle(
        4,
        DriverProfile::Idle,
        &[("Sim.Environment.AirTemperature", Value::Float(8.0))],
    );
    let path = Path::new("/nonexistent-dir/drive.trace");
    let settings = RecordSettings {
        path: path.to_owned(),
        max_bytes: 1 << 20,
        files: 1,
    };
    let e = Recorder::new(settings, &v, "WTCUZ000000000001", 4).expect_err("no such directory");
    assert!(
        e.to_string()
            .contains("creating /nonexistent-dir/drive.trace"),
        "{e}"
    );
}

#[test]
fn tcu_run_record_writes_a_trace_of_the_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("run.trace");
    let out = tcu_integration_tests::process::tcu_command()
        .args(["run", "--headless", "--duration", "2s", "--record"])
        .arg(&path)
        .output()
        .expect("tcu runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (r, ticks) = rows(&path);
    assert_eq!(r.header().plugins.len(), 6);
    assert_eq!(ticks.first(), Some(&1));
    assert!(ticks.len() >= 150, "{} rows in 2 s at 100 Hz", ticks.len());
}

#[test]
fn tcu_run_writes_a_capture_when_its_rule_triggers() {
    let dir = tempfile::tempdir().expect("tmp");
    let caps = dir.path().join("caps");
    let config = dir.path().join("tcu.toml");
    std::fs::write(
        &config,
        format!(
            "[record]\ncapture_dir = \"{}\"\n[[record.capture]]\nrule = \"Vehicle.Speed > 1\"\nbefore = 0.5\nafter = 0.5\n",
            caps.display()
        ),
    )
    .expect("write config");
    let out = tcu_integration_tests::process::tcu_command()
        .args(["run", "--headless", "--duration", "3s", "--config"])
        .arg(&config)
        .output()
        .expect("tcu runs");
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let files: Vec<_> = std::fs::read_dir(&caps)
        .expect("capture dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}\n{log}");
    let (_, ticks) = rows(&files[0]);
    let name = files[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let trigger: u64 = name["capture-".len().."capture-".len() + 10]
        .parse()
        .expect("trigger tick in the name");
    // 0.5 s after at 100 Hz, and up to 0.5 s before (the car pulls away
    // within it, so the ring holds every tick since the start).
    assert_eq!(ticks.last(), Some(&(trigger + 50)), "{name}");
    assert_eq!(ticks[0], trigger.saturating_sub(50).max(1), "{name}");
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1));
    assert!(log.contains("capture written"), "{log}");
}
