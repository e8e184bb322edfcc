//! The `tcu` binary as a user runs it: headless runs with status lines,
//! clean stops, `plugin inspect`, `config generate`, and clear errors.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tcu_integration_tests::fixtures;
use tcu_integration_tests::owned::SpawnOwned;

fn tcu() -> Command {
    tcu_integration_tests::process::tcu_command()
}

/// Fields of the status lines: (t, speed, soc, cabin).
fn status_lines(out: &str) -> Vec<(f64, f64, f64, f64)> {
    let field = |line: &str, key: &str| -> f64 {
        let rest = &line[line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len()..];
        let num: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-'))
            .collect();
        num.parse()
            .unwrap_or_else(|_| panic!("number after {key} in {line}"))
    };
    out.lines()
        .filter(|l| l.contains(" speed="))
        .map(|l| {
            (
                field(l, "t="),
                field(l, "speed="),
                field(l, "soc="),
                field(l, "cabin="),
            )
        })
        .collect()
}

#[test]
fn headless_run_prints_changing_status_lines_and_exits_zero() {
    let out = tcu()
        .args(["run", "--headless", "--duration", "4s", "--seed", "3"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for name in ["battery", "abs", "engine", "airbag", "hvac", "heated-seats"] {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("INFO {name} ")) && l.contains("kind=plugin.loaded")),
            "plugin {name} not loaded:\n{text}"
        );
    }
    let lines = status_lines(&text);
    assert_eq!(lines.len(), 4, "{text}");
    let (first, last) = (lines[0], lines[3]);
    assert_eq!((first.0, last.0), (1.0, 4.0));
    // The demo driver pulls away: faster, less charge, the cabin warming from 5 °C.
    assert!(
        last.1 > first.1 && first.1 > 0.0,
        "speed {first:?} -> {last:?}"
    );
    assert!(last.2 < first.2, "soc {first:?} -> {last:?}");
    assert!(last.3 > first.3, "cabin {first:?} -> {last:?}");
    assert!(text.contains("faults=0"), "{text}");
}

#[test]
fn sigterm_stops_a_run_cleanly() {
    let mut child = tcu()
        .args(["run", "--headless"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn_owned()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(5) {
            child.kill().unwrap();
            panic!("tcu did not stop within 5 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(exit.success(), "{exit:?}\n{text}");
    assert!(text.contains("interrupted=true"), "{text}");
}

#[test]
fn plugin_inspect_prints_the_descriptor_as_json() {
    let dir = fixtures::workspace_plugins_dir();
    let out = tcu()
        .args(["plugin", "inspect", "--json"])
        .arg(dir.join("libtcu_plugin_battery.so"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "battery");
    assert_eq!(v["version"], "1.0.0");
    assert_eq!(v["abi_version"], 1);
    let reads = v["reads"].as_array().unwrap();
    assert!(
        reads
            .iter()
            .any(|r| r["path"] == "Sim.Powertrain.HighVoltage.DrivePower")
    );
    let writes = v["writes"].as_array().unwrap();
    assert!(writes.iter().any(|w| w["path"]
        == "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
        && w["datatype"] == "float"));

    let text = tcu()
        .args(["plugin", "inspect"])
        .arg(dir.join("libtcu_plugin_abs.so"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("abs 1.0.0 (ABI 1)") && text.contains("Vehicle.ADAS.ABS.IsEngaged : boolean"),
        "{text}"
    );
}

#[test]
fn plugin_inspect_of_a_bad_file_fails_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = fixtures::write_not_a_library(tmp.path());
    let out = tcu()
        .args(["plugin", "inspect"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&bad.display().to_string()) && err.contains("not a shared library"),
        "{err}"
    );
}

/// Runs `cmd` to its end, at most `limit` (then kills it by its PID and
/// fails): (exit code, or `None` when a signal ended it; stderr).
fn run_bounded(mut cmd: Command, limit: Duration) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn_owned()
        .expect("starting tcu");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for tcu") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    let mut stderr = child.stderr.take().expect("stderr is piped");
    std::io::Read::read_to_string(&mut stderr, &mut err).expect("reading stderr");
    (status.code(), err)
}

#[test]
fn plugin_inspect_of_a_library_that_crashes_when_loaded_fails_naming_it_and_tcu_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = fixtures::build_c("crash_on_load", tmp.path());
    let mut cmd = tcu();
    cmd.args(["plugin", "inspect"]).arg(&lib);
    let (code, err) = run_bounded(cmd, Duration::from_secs(30));
    // The library's constructor ran in a process of its own: `tcu` itself
    // exits normally with an error, it is not killed.
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&lib.display().to_string()) && err.contains("crashed"),
        "{err}"
    );
}

#[test]
fn plugin_inspect_of_a_library_that_hangs_when_loaded_times_out_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = fixtures::build_c("hang_on_load", tmp.path());
    let mut cmd = tcu();
    cmd.args(["plugin", "inspect", "--timeout", "1s"]).arg(&lib);
    let start = Instant::now();
    let (code, err) = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&lib.display().to_string()) && err.contains("did not finish within 1s"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn config_generate_prints_the_default_config() {
    let out = tcu().args(["config", "generate"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        tcu_cli::config::DEFAULT_TOML
    );
}

#[test]
fn a_bad_config_file_is_refused_with_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tcu.toml");
    std::fs::write(
        &path,
        "[signals]\n\"Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed\" = 300\n",
    )
    .unwrap();
    let out = tcu()
        .args(["run", "--headless", "--duration", "1s", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&path.display().to_string())
            && err.contains("FanSpeed")
            && err.contains("outside"),
        "{err}"
    );
}

#[test]
fn a_bad_plugin_is_reported_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures::workspace_plugins_dir();
    std::fs::copy(
        src.join("libtcu_plugin_battery.so"),
        tmp.path().join("libtcu_plugin_battery.so"),
    )
    .unwrap();
    fixtures::build_c("abi_mismatch", tmp.path());
    let out = tcu()
        .args(["run", "--headless", "--duration", "1s", "--plugins"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("plugin rejected") && text.contains("ABI 99, host supports 1"),
        "{text}"
    );
    assert!(text.contains("plugins=1/1"), "{text}");
}
