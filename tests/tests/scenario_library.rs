//! The scenario library in `scenarios/` runs green against the real plugins,
//! and the behaviours its stories rely on (faults, commands, swap steps)
//! work end to end.

use std::path::PathBuf;
use tcu_integration_tests::{fixtures, variants};
use tcu_scenario::{self as scenario, RunOptions, ScenarioReport};

fn opts() -> RunOptions {
    RunOptions {
        plugins_dir: Some(fixtures::workspace_plugins_dir()),
        ..RunOptions::default()
    }
}

fn library() -> Vec<PathBuf> {
    let dir = fixtures::workspace_root().join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// Runs scenario text written to a temporary file.
pub fn run_text(text: &str) -> ScenarioReport {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.toml");
    std::fs::write(&path, text).expect("write scenario");
    scenario::run_file(&path, &opts())
}

fn explain(r: &ScenarioReport) -> String {
    format!("{}: {:?} {:#?}", r.file.display(), r.error, r.cases)
}

/// The scenario ran and every expectation held.
fn assert_passed(r: &ScenarioReport) {
    assert!(
        r.error.is_none() && r.failures().next().is_none(),
        "{}",
        explain(r)
    );
}

/// The test builds of the battery that the swap stories load from
/// `target/scenario-libs` (relative to `scenarios/`).
fn build_swap_libraries() {
    let dir = fixtures::workspace_root().join("target/scenario-libs");
    for feature in ["v2", "probation_error"] {
        variants::battery_variant(feature, &dir.join(format!("battery-{feature}.so")));
    }
}

#[test]
fn every_library_scenario_passes() {
    build_swap_libraries();
    let files = library();
    assert!(
        files.len() >= 10,
        "expected at least ten scenarios, found {files:?}"
    );
    for f in &files {
        let r = scenario::run_file(f, &opts());
        assert!(
            r.error.is_none() && r.failures().next().is_none(),
            "{}",
            explain(&r)
        );
        assert!(r.cases.len() >= 4, "{} has too few checks", f.display());
        assert_eq!(scenario::exit_code(std::slice::from_ref(&r)), 0);
    }
}

const DRIVE: &str = r#"
name = "drive"
duration = 6.0
[[step]]
at = 0.0
set = { "Sim.Driver.AcceleratorPedal" = 30.0 }
"#;

#[test]
fn injected_plugin_errors_raise_fault_events_for_their_ticks_only() {
    let r = run_text(&format!(
        r#"{DRIVE}
[[step]]
at = 2.0
fault = {{ plugin_errors = "hvac", ticks = 10 }}
[[step]]
at = 3.0
fault = {{ plugin_errors = "engine" }}
[[step]]
at = 4.0
fault = {{ clear_plugin_errors = "engine" }}
[[expect]]
event = "fault"
detail = "hvac: injected tick error"
count = 10
[[expect]]
event = "fault"
detail = "engine: injected tick error"
count = 100
within = [3.0, 4.0]
[[expect]]
name = "the drive works again once the injection is cleared"
signal = "Sim.Powertrain.ElectricMotor.IsRunning"
equals = true
at = 5.0
"#
    ));
    assert_passed(&r);
}

#[test]
fn a_noisy_wheel_sensor_raises_is_error_and_a_quiet_one_does_not() {
    let r = run_text(&format!(
        r#"{DRIVE}
[[step]]
at = 2.0
fault = {{ noisy_wheel = "Row1.Left", amplitude = 2.0 }}
[[step]]
at = 4.0
fault = {{ noisy_wheel = "Row1.Left", amplitude = 40.0 }}
[[expect]]
signal = "Vehicle.ADAS.ABS.IsError"
equals = false
within = [0.0, 3.99]
[[expect]]
signal = "Vehicle.ADAS.ABS.IsError"
equals = true
eventually = true
within = [4.0, 6.0]
[[expect]]
event = "abs.error"
"#
    ));
    assert_passed(&r);
}

#[test]
fn commands_go_through_the_control_path_and_their_outcome_is_checked() {
    let r = run_text(&format!(
        r#"{DRIVE}
[[step]]
at = 1.0
command = {{ set = {{ "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature" = 25.0 }} }}
[[step]]
at = 1.0
command = {{ set = {{ "Vehicle.Speed" = 10.0, "Sim.Driver.BrakePedal" = 50.0 }}, expect = "rejected" }}
[[step]]
at = 1.0
command = {{ subsystem = "battery", name = "set_soc", value = 42.0 }}
[[expect]]
signal = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"
equals = 25.0
at = 1.5
[[expect]]
name = "all or nothing: the brake of the refused command was not applied"
signal = "Sim.Driver.BrakePedal"
equals = 0.0
always = true
[[expect]]
signal = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
between = [41.5, 42.0]
at = 1.5
"#
    ));
    assert_passed(&r);
    assert_eq!(r.cases.len(), 6, "{}", explain(&r));
}

#[test]
fn a_swap_step_to_a_missing_library_is_rejected_and_the_drive_goes_on() {
    let r = run_text(&format!(
        "{DRIVE}\n[[step]]\nat = 3.0\nswap = {{ subsystem = \"battery\", library = \"v2.so\" }}\n\
         [[expect]]\nevent = \"plugin.rejected\"\ndetail = \"v2.so\"\ncount = 1\n\
         [[expect]]\nevent = \"plugin.swapped\"\nnever = true\n\
         [[expect]]\nevent = \"fault\"\nnever = true\n"
    ));
    assert_passed(&r);
    assert_eq!(r.cases.len(), 3, "{}", explain(&r));
}

#[test]
fn a_missing_plugin_file_is_an_error_with_its_position() {
    let r = run_text(
        "name = \"x\"\nduration = 1.0\n[vehicle]\nplugins = [\"abs\", \"libs/libgone.so\"]\n",
    );
    let e = r.error.as_ref().expect("a scenario error");
    assert!(e.message.contains("missing plugin file"), "{e}");
    assert_eq!(e.pos.map(|p| (p.line, p.col)), Some((4, 19)), "{e}");
}

#[test]
fn the_complete_example_of_the_format_documentation_passes() {
    let readme = std::fs::read_to_string(fixtures::workspace_root().join("scenarios/README.md"))
        .expect("scenarios/README.md");
    let start = readme.find("```toml\n").expect("a toml example") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("end of the example");
    let r = run_text(&readme[start..end]);
    assert_passed(&r);
    assert_eq!(r.cases.len(), 6, "{}", explain(&r));
}

#[test]
fn a_pinned_plugin_version_must_match_the_library() {
    let ok = run_text(
        "name = \"x\"\nduration = 0.5\n[vehicle]\nplugins = [\"abs@1.0.0\", \"battery\"]\n",
    );
    assert!(ok.error.is_none(), "{}", explain(&ok));
    let r = run_text("name = \"x\"\nduration = 0.5\n[vehicle]\nplugins = [\"abs@2.0.0\"]\n");
    let e = r.error.as_ref().expect("a scenario error");
    assert!(
        e.message
            .contains("is version 1.0.0, the scenario asks for 2.0.0"),
        "{e}"
    );
    assert_eq!(e.pos.map(|p| (p.line, p.col)), Some((4, 12)), "{e}");
}
