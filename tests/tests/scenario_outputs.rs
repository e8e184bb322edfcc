//! Scenario outputs: traces are reproducible byte for byte, a wrong
//! expectation fails with a message naming what, when, expected and actual,
//! and malformed files are errors with a position.

use tcu_integration_tests::fixtures;
use tcu_scenario::{self as scenario, CaseStatus, RunOptions, ScenarioReport};

fn run(text: &str, trace: bool) -> ScenarioReport {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.toml");
    std::fs::write(&path, text).expect("write scenario");
    let opts = RunOptions {
        plugins_dir: Some(fixtures::workspace_plugins_dir()),
        trace,
        ..RunOptions::default()
    };
    scenario::run_file(&path, &opts)
}

fn library(name: &str) -> String {
    std::fs::read_to_string(fixtures::workspace_root().join("scenarios").join(name))
        .expect("library scenario")
}

#[test]
fn same_scenario_and_seed_give_a_byte_identical_trace() {
    let text = library("city-drive-regen.toml");
    let a = run(&text, true).trace.expect("trace");
    let b = run(&text, true).trace.expect("trace");
    assert!(a.starts_with("time,signal,value\n0.000,"), "{}", &a[..80]);
    assert!(a.lines().count() > 1000);
    assert!(a == b, "traces of two identical runs differ");
    // The seed matters: the thermometer noise follows it.
    let c = run(&text.replace("seed = 21", "seed = 22"), true)
        .trace
        .expect("trace");
    assert_ne!(a, c);
}

#[test]
fn trace_rows_follow_the_settings() {
    let r = run(
        r#"name = "t"
duration = 1.0
[trace]
interval_ms = 500
all = true
signals = ["Vehicle.Speed", "Sim.Driver.AcceleratorPedal"]
[[step]]
at = 0.0
set = { "Sim.Driver.AcceleratorPedal" = 50 }
"#,
        true,
    );
    let trace = r.trace.expect("trace");
    let rows: Vec<&str> = trace.lines().collect();
    assert_eq!(rows.len(), 1 + 3 * 2, "{trace}");
    assert_eq!(rows[1], "0.000,Vehicle.Speed,0");
    assert_eq!(rows[2], "0.000,Sim.Driver.AcceleratorPedal,0");
    assert!(rows[3].starts_with("0.500,Vehicle.Speed,"), "{trace}");
    assert_eq!(rows[6], "1.000,Sim.Driver.AcceleratorPedal,50");
}

#[test]
fn a_wrong_expectation_fails_with_a_readable_message() {
    let text = library("emergency-braking-ice.toml").replace(
        "name = \"the car stops\"\nsignal = \"Vehicle.Speed\"\nbelow = 0.5\nat = 30.0",
        "name = \"the car stops\"\nsignal = \"Vehicle.Speed\"\nbelow = 0.5\nat = 12.0",
    );
    let r = run(&text, false);
    assert!(r.error.is_none(), "{:?}", r.error);
    let failed: Vec<_> = r.failures().collect();
    assert_eq!(failed.len(), 1, "{:#?}", r.cases);
    let CaseStatus::Failed(msg) = &failed[0].status else {
        unreachable!()
    };
    assert!(
        msg.starts_with("the car stops: at t=12.000 s: expected Vehicle.Speed < 0.5, actual "),
        "{msg}"
    );
    let actual: f64 = msg
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert!(actual > 10.0, "{msg}");
    assert_eq!(scenario::exit_code(&[r]), 1);
}

#[test]
fn failed_event_and_window_expectations_say_what_was_seen() {
    let r = run(
        r#"name = "t"
duration = 5.0
[[step]]
at = 0.0
set = { "Sim.Driver.AcceleratorPedal" = 100.0 }
[[step]]
at = 4.0
crash = 100.0
[[expect]]
event = "airbag.deployed"
detail = "Row2.Middle"
[[expect]]
signal = "Vehicle.Speed"
above = 100.0
eventually = true
"#,
        false,
    );
    let msgs: Vec<String> = r
        .failures()
        .map(|c| match &c.status {
            CaseStatus::Failed(m) => m.clone(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    assert!(
        msgs[0].contains("expected at least one `airbag.deployed` event with detail containing `Row2.Middle` in [0, 5] s, actual 0 matching; all `airbag.deployed` events: t=4.0"),
        "{}",
        msgs[0]
    );
    assert!(msgs[0].contains("`Row1.DriverSide`"), "{}", msgs[0]);
    assert!(
        msgs[1].contains(
            "expected Vehicle.Speed > 100 at some time in [0, 5] s; actual values ranged over [0, "
        ),
        "{}",
        msgs[1]
    );
}

#[test]
fn malformed_files_are_errors_with_file_line_and_column() {
    let cases = [
        (
            "bad TOML",
            "name = \"t\"\nduration = [\n",
            (2, 13),
            "invalid scenario: unclosed array",
        ),
        (
            "unknown signal",
            "name = \"t\"\nduration = 5.0\n[[expect]]\nsignal = \"Vehicle.Sped\"\nabove = 1.0\nat = 1.0\n",
            (4, 10),
            "unknown signal `Vehicle.Sped`",
        ),
        (
            "value out of range",
            "name = \"t\"\nduration = 5.0\n[[step]]\nat = 1.0\nset = { \"Sim.Driver.BrakePedal\" = 130 }\n",
            (5, 35),
            "`Sim.Driver.BrakePedal`: value 130 is outside [0, 100]",
        ),
        (
            "time past the end",
            "name = \"t\"\nduration = 5.0\n[[step]]\nat = 9.0\ncrash = 30.0\n",
            (4, 6),
            "time 9 s is past the end of the scenario (duration 5 s)",
        ),
        (
            "unknown plugin",
            "name = \"t\"\nduration = 5.0\n[vehicle]\nplugins = [\"airbag\", \"gearbox\"]\n",
            (4, 22),
            "unknown plugin `gearbox`",
        ),
    ];
    for (what, text, (line, col), message) in cases {
        let r = run(text, false);
        let e = r
            .error
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no error"));
        let shown = e.to_string();
        assert!(
            shown.contains(&format!("s.toml:{line}:{col}: ")),
            "{what}: {shown}"
        );
        assert!(shown.contains(message), "{what}: {shown}");
        assert!(
            matches!(r.cases.as_slice(), [c] if matches!(c.status, CaseStatus::Error(_))),
            "{what}"
        );
        assert_eq!(scenario::exit_code(&[r]), 2, "{what}");
    }
}
