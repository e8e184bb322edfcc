//! A recorded drive replayed as a scenario (`replay = "file"`): the trace
//! drives the world, the plugins run live, and the same library versions
//! reproduce the recorded outputs, while another version does not.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tcu_engine::build::build_vehicle_shared;
use tcu_engine::catalog::{Catalog, Value};
use tcu_engine::config::{VehicleConfig, VehicleOverrides};
use tcu_engine::plugin::PluginLibrary;
use tcu_engine::record::{RecordSettings, Recorder};
use tcu_engine::sim::TickHook;
use tcu_engine::world::driver::DriverProfile;
use tcu_integration_tests::{fixtures, variants};
use tcu_scenario::{CaseStatus, RunOptions, ScenarioReport};

const REPLAY_CASE: &str = "replay reproduces the recorded outputs of";

/// Records `seconds` of the demo cycle at 2 °C and 50 Hz on a vehicle with
/// the battery and ABS libraries only, into `path`.
pub fn record_drive(path: &Path, seconds: f64) {
    let catalog = Arc::new(Catalog::builtin());
    let cli = VehicleOverrides {
        seed: Some(5),
        driver: Some(DriverProfile::Demo),
        tick_rate_hz: Some(50.0),
        ..Default::default()
    };
    let mut config = VehicleConfig::defaults_with(&cli, &catalog).expect("config");
    config
        .signals
        .insert("Sim.Environment.AirTemperature".into(), Value::Float(2.0));
    let libs: Vec<Arc<PluginLibrary>> = ["battery", "abs"]
        .iter()
        .map(|s| {
            let file =
                fixtures::workspace_plugins_dir().join(tcu_scenario::runner::library_file(s));
            Arc::new(PluginLibrary::open(&file, &catalog).expect("library opens"))
        })
        .collect();
    let (mut v, rejected) = build_vehicle_shared(&config, catalog, &libs).expect("vehicle");
    assert!(rejected.is_empty(), "{rejected:?}");
    let settings = RecordSettings {
        path: path.to_owned(),
        max_bytes: 1 << 30,
        files: 1,
    };
    let mut r = Recorder::new(settings, &v, &config.vin, 5)
        .expect("recorder")
        .wait_when_behind();
    for _ in 0..(seconds * 50.0).round() as u64 {
        v.step();
        r.after_tick(&v, &[]);
    }
    r.finish().expect("flushed");
}

fn run(dir: &Path, plugins: &str, extra: &str) -> ScenarioReport {
    let text = format!(
        "name = \"replayed\"\nduration = 45.0\nreplay = \"drive.trace\"\n{extra}[vehicle]\nplugins = [{plugins}]\n\
         [[expect]]\nname = \"the charge falls while driving\"\n\
         signal = \"Vehicle.Powertrain.TractionBattery.StateOfCharge.Current\"\ndecreases_by = 0.001\n"
    );
    let path = dir.join("replay.toml");
    std::fs::write(&path, text).expect("write scenario");
    let opts = RunOptions {
        plugins_dir: Some(fixtures::workspace_plugins_dir()),
        ..RunOptions::default()
    };
    tcu_scenario::run_file(&path, &opts)
}

fn replay_case(r: &ScenarioReport) -> &CaseStatus {
    &r.cases
        .iter()
        .find(|c| c.name.starts_with(REPLAY_CASE))
        .unwrap_or_else(|| panic!("no replay case: {:?} {:#?}", r.error, r.cases))
        .status
}

#[test]
fn a_recorded_drive_replayed_as_a_scenario_reproduces_the_recorded_outputs_of_the_same_libraries() {
    let dir = tempfile::tempdir().expect("tmp");
    record_drive(&dir.path().join("drive.trace"), 45.0);
    let r = run(dir.path(), "\"battery\", \"abs\"", "");
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(replay_case(&r), &CaseStatus::Passed, "{:#?}", r.cases);
    assert!(r.failures().next().is_none(), "{:#?}", r.cases);
    // The run follows the recording (2,250 ticks at 50 Hz, seed 5 from it).
    assert!((r.simulated - 45.0).abs() < 1e-9, "{}", r.simulated);
}

#[test]
fn a_replay_through_another_battery_version_does_not_reproduce_the_recording() {
    let dir = tempfile::tempdir().expect("tmp");
    record_drive(&dir.path().join("drive.trace"), 45.0);
    let v2: PathBuf = variants::battery_variant("v2", &dir.path().join("battery-v2.so"));
    let r = run(dir.path(), &format!("\"{}\", \"abs\"", v2.display()), "");
    assert!(r.error.is_none(), "{:?}", r.error);
    let CaseStatus::Failed(why) = replay_case(&r) else {
        panic!("v2 reproduced v1's recording: {:#?}", r.cases)
    };
    assert!(
        why.contains("Sim.Powertrain.TractionBattery.AvailableChargePower"),
        "{why}"
    );
}

#[test]
fn a_replay_whose_trace_is_missing_is_an_error_at_the_replay_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = run(dir.path(), "\"battery\"", "");
    let e = r.error.as_ref().expect("an error");
    assert_eq!(e.pos.map(|p| p.line), Some(3), "{e}");
    assert!(e.message.contains("replay: opening"), "{e}");
}
