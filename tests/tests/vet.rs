//! `tcu vet` and `tcu_vet`: recorded drives replayed through the current
//! and a candidate library side by side. An identical candidate passes; the
//! battery v2 diverges in its energy signals only; NaN, out-of-range and
//! panicking candidates fail with that reason; a candidate writing a signal
//! the current one does not is reported; reports are reproducible.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tcu_engine::catalog::{Catalog, Value};
use tcu_engine::record::{RecordSettings, Recorder};
use tcu_engine::sim::TickHook;
use tcu_engine::world::driver::DriverProfile;
use tcu_integration_tests::{fixtures, harness, variants};
use tcu_vet::{Pair, Report, Tolerances};

/// The battery's energy signal v2 changes: the charge power it accepts from
/// a cold pack. The replay is open loop (the drive's power comes from the
/// recording), so the extra energy the world would then recover does not
/// come back into the battery's other signals: the change shows where it
/// starts.
const ENERGY: &[&str] = &["Sim.Powertrain.TractionBattery.AvailableChargePower"];

/// The output the NaN and out-of-range variants spoil.
const SOC: &str = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current";

/// Records `seconds` of the demo drive at `air_c` into `dir/name`.
fn record(dir: &Path, name: &str, air_c: f64, seconds: f64) -> PathBuf {
    let path = dir.join(name);
    let mut v = harness::vehicle(
        9,
        DriverProfile::Demo,
        &[("Sim.Environment.AirTemperature", Value::Float(air_c))],
    );
    let settings = RecordSettings {
        path: path.clone(),
        max_bytes: 1 << 30,
        files: 1,
    };
    let mut r = Recorder::new(settings, &v, "WTCUZ000000000009", 9)
        .expect("recorder")
        .wait_when_behind();
    for _ in 0..(seconds / v.dt()).round() as u64 {
        v.step();
        r.after_tick(&v, &[]);
    }
    r.finish().expect("flushed");
    path
}

/// Two drives: a cold one (regeneration limited by the pack temperature)
/// and a mild one.
fn traces(dir: &Path) -> Vec<PathBuf> {
    vec![
        record(dir, "cold.trace", 2.0, 90.0),
        record(dir, "mild.trace", 18.0, 90.0),
    ]
}

fn workspace_lib(subsystem: &str) -> PathBuf {
    fixtures::workspace_plugins_dir().join(tcu_scenario::runner::library_file(subsystem))
}

/// A copy of `lib` under another name (each version is a file of its own).
fn copy_of(lib: &Path, dest: &Path) -> PathBuf {
    std::fs::copy(lib, dest).expect("copy library");
    dest.to_owned()
}

fn vet(current: &Path, candidate: &Path, traces: &[PathBuf], tolerances: &Tolerances) -> Report {
    let catalog = Arc::new(Catalog::builtin());
    let pair = Pair::open(current, candidate, &catalog).expect("libraries load");
    tcu_vet::vet(&pair, traces, tolerances, &catalog, &mut || Duration::ZERO).expect("vetting runs")
}

#[test]
fn an_identical_candidate_passes_on_every_trace() {
    let dir = tempfile::tempdir().expect("tmp");
    let traces = traces(dir.path());
    for subsystem in ["battery", "abs", "engine", "airbag", "hvac", "heated-seats"] {
        let current = workspace_lib(subsystem);
        let candidate = copy_of(
            &current,
            &dir.path().join(format!("{subsystem}-candidate.so")),
        );
        let report = vet(&current, &candidate, &traces, &Tolerances::default());
        assert!(report.passed, "{}", report.to_table());
        assert_eq!(report.traces.len(), 2);
        for t in &report.traces {
            assert_eq!(t.ticks, 9000, "{}", t.file);
            assert!(!t.signals.is_empty(), "{subsystem}: nothing compared");
            assert!(
                t.signals.iter().all(|s| s.max_abs == 0.0),
                "{}",
                report.to_table()
            );
        }
    }
}

#[test]
fn battery_v2_diverges_only_in_the_energy_signals_and_passes_with_a_tolerance_file_allowing_that() {
    let dir = tempfile::tempdir().expect("tmp");
    let traces = traces(dir.path());
    let current = workspace_lib("battery");
    let v2 = variants::battery_variant("v2", &dir.path().join("battery-v2.so"));
    let strict = vet(&current, &v2, &traces, &Tolerances::default());
    assert!(!strict.passed, "{}", strict.to_table());
    let cold = &strict.traces[0];
    let diverging: Vec<&str> = cold
        .signals
        .iter()
        .filter(|s| !s.within)
        .map(|s| s.signal.as_str())
        .collect();
    let mut sorted = diverging.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ENERGY, "{}", strict.to_table());
    assert!(cold.findings.is_empty(), "{:?}", cold.findings);
    // A pack warm enough for v1's full charge power: no difference at all.
    assert!(strict.traces[1].passed, "{}", strict.to_table());
    // The worst rows come first in the table.
    let table = strict.to_table();
    let first_row = table.lines().nth(2).expect("a first row");
    assert!(first_row.contains("FAIL"), "{table}");

    let catalog = Catalog::builtin();
    let allow = ENERGY
        .iter()
        .map(|s| format!("[signals.\"{s}\"]\nabs = 1e5\n"))
        .collect::<String>();
    let tol = Tolerances::parse(Path::new("energy.toml"), &allow, &catalog).expect("tolerances");
    let tolerant = vet(&current, &v2, &traces, &tol);
    assert!(tolerant.passed, "{}", tolerant.to_table());
}

#[test]
fn nan_out_of_range_and_panicking_candidates_fail_with_that_reason() {
    let dir = tempfile::tempdir().expect("tmp");
    let traces = vec![record(dir.path(), "drive.trace", 10.0, 5.0)];
    let current = workspace_lib("battery");
    for (feature, kind) in [
        ("canary_nan", "nan"),
        ("canary_range", "out_of_range"),
        ("probation_panic", "panic"),
    ] {
        let lib = variants::battery_variant(feature, &dir.path().join(format!("{feature}.so")));
        let report = vet(&current, &lib, &traces, &Tolerances::default());
        assert!(!report.passed, "{feature}: {}", report.to_table());
        let t = &report.traces[0];
        let kinds: Vec<(&str, &str)> = t
            .findings
            .iter()
            .map(|f| (f.version, f.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [("candidate", kind)],
            "{feature}: {}",
            report.to_table()
        );
        let f = &t.findings[0];
        if kind == "panic" {
            // The variant panics after 100 good ticks and is not called again.
            assert_eq!(f.ticks, 1, "{f:?}");
            assert!(f.message.contains("panic in tick 101"), "{f:?}");
        } else {
            assert_eq!(f.signal.as_deref(), Some(SOC), "{f:?}");
            assert_eq!(f.ticks, 500, "{f:?}");
        }
        assert!(t.reasons()[0].starts_with(kind), "{:?}", t.reasons());
    }
}

#[test]
fn a_candidate_writing_a_signal_the_current_one_does_not_is_reported() {
    let dir = tempfile::tempdir().expect("tmp");
    let traces = vec![record(dir.path(), "drive.trace", 10.0, 2.0)];
    let current = workspace_lib("battery");
    let lib = variants::battery_variant("extra_write", &dir.path().join("extra.so"));
    let report = vet(&current, &lib, &traces, &Tolerances::default());
    assert!(!report.passed, "{}", report.to_table());
    assert_eq!(
        report.interface,
        ["the candidate writes `Vehicle.Speed`, which the current version does not write"]
    );
    assert!(
        report
            .to_table()
            .contains("interface: the candidate writes `Vehicle.Speed`")
    );
    assert!(report.to_junit().contains("<testcase name=\"interface\""));
}

#[test]
fn vetting_the_same_inputs_twice_gives_byte_identical_reports() {
    let dir = tempfile::tempdir().expect("tmp");
    let traces = vec![record(dir.path(), "drive.trace", 2.0, 30.0)];
    let current = workspace_lib("battery");
    let v2 = variants::battery_variant("v2", &dir.path().join("battery-v2.so"));
    let a = vet(&current, &v2, &traces, &Tolerances::default());
    let b = vet(&current, &v2, &traces, &Tolerances::default());
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(a.to_table(), b.to_table());
    assert_eq!(a.to_junit(), b.to_junit());
}

fn tcu_vet(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = tcu_integration_tests::process::tcu_command()
        .arg("vet")
        .args(args)
        .output()
        .expect("tcu runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tcu_vet_exits_0_within_tolerance_1_beyond_it_and_2_on_an_unreadable_trace() {
    let dir = tempfile::tempdir().expect("tmp");
    let traces_dir = dir.path().join("traces");
    std::fs::create_dir(&traces_dir).expect("dir");
    record(&traces_dir, "cold.trace", 2.0, 60.0);
    let current = workspace_lib("battery");
    let same = copy_of(&current, &dir.path().join("same.so"));
    let v2 = variants::battery_variant("v2", &dir.path().join("battery-v2.so"));
    let os = |p: &Path| p.as_os_str().to_owned();

    let (code, out, err) = tcu_vet(&[
        "--current".as_ref(),
        &os(&current),
        "--candidate".as_ref(),
        &os(&same),
        &os(&traces_dir),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("PASSED"), "{out}");

    let junit = dir.path().join("vet.xml");
    let (code, out, err) = tcu_vet(&[
        "--current".as_ref(),
        &os(&current),
        "--candidate".as_ref(),
        &os(&v2),
        "--json".as_ref(),
        "--junit".as_ref(),
        &os(&junit),
        &os(&traces_dir),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(json["passed"], false);
    assert_eq!(json["candidate"]["version"], "2.0.0");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(
        xml.contains(
            "<failure message=\"`Sim.Powertrain.TractionBattery.AvailableChargePower` diverges"
        ),
        "{xml}"
    );

    let tol = dir.path().join("tol.toml");
    let allow: String = ENERGY
        .iter()
        .map(|s| format!("[signals.\"{s}\"]\nabs = 1e5\n"))
        .collect();
    std::fs::write(&tol, allow).expect("write");
    let (code, out, err) = tcu_vet(&[
        "--current".as_ref(),
        &os(&current),
        "--candidate".as_ref(),
        &os(&v2),
        "--tolerances".as_ref(),
        &os(&tol),
        &os(&traces_dir),
    ]);
    assert_eq!(code, 0, "{out}{err}");

    let bad = dir.path().join("bad.trace");
    let good = std::fs::read_to_string(traces_dir.join("cold.trace")).expect("read");
    let mut lines: Vec<&str> = good.lines().collect();
    let n = lines.len();
    lines[n - 1] = "oops";
    std::fs::write(&bad, lines.join("\n")).expect("write");
    let (code, out, err) = tcu_vet(&[
        "--current".as_ref(),
        &os(&current),
        "--candidate".as_ref(),
        &os(&same),
        &os(&bad),
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!("{}:{n}: tick `oops`", bad.display())),
        "{err}"
    );
}
