//! A capture's whole way, through real parts: a real `tcu run` (the `demo`
//! driver on ice, whose braking at 30 s engages the ABS) with a capture rule
//! on `abs.engaged`, a real mosquitto that is down at the moment of the
//! trigger, and a real `tcu-twin serve`. The capture waits in the vehicle's
//! outbox, reaches the twin once the broker is back, and the file exported
//! from the twin is the vehicle's own byte for byte. `tcu vet` on that export
//! tells the ABS library from one whose control is broken, and so does the
//! twin's own vetting job on the capture it stores.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use serde_json::Value as Json;
use std::path::Path;
use std::time::Duration;
use tcu_integration_tests::fixtures::workspace_plugins_dir;
use tcu_integration_tests::mqtt::{Mosquitto, mosquitto_available, spawn_tcu_run, wait_for};
use tcu_integration_tests::process::tcu_command;
use tcu_integration_tests::twin::{Twin, twin_config};
use tcu_integration_tests::variants::abs_variant;

const VIN: &str = "WTCUZ0000000000E1";

/// `tcu vet --current <current> --candidate <candidate> <trace>`: its exit
/// code and what it printed.
fn vet(current: &Path, candidate: &Path, trace: &Path) -> (i32, String) {
    let out = tcu_command()
        .arg("vet")
        .arg("--current")
        .arg(current)
        .arg("--candidate")
        .arg(candidate)
        .arg(trace)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The verdict column of `signal`'s row in a `tcu vet` table.
fn verdict(report: &str, signal: &str) -> String {
    report
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(signal))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("{signal} not in the report:\n{report}"))
        .to_owned()
}

/// Submits `library` as a candidate ABS to the twin and waits for the job's
/// end; the job's document.
fn vet_job(twin: &Twin, library: Vec<u8>) -> Json {
    let r = twin.request(
        "POST",
        "/api/vet?subsystem=abs",
        &[("content-type", "application/octet-stream")],
        Some(library),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let job = r.json()["job"].as_u64().unwrap();
    let mut last = Json::Null;
    let done = wait_for(Duration::from_secs(120), || {
        last = twin.get(&format!("/api/vet/{job}")).json();
        !matches!(last["status"].as_str(), Some("queued" | "running"))
    });
    assert!(done, "job {job} did not finish: {last}");
    last
}

#[test]
fn an_abs_capture_taken_while_the_broker_is_down_reaches_the_twin_and_its_export_tells_a_broken_abs_apart()
 {
    assert!(mosquitto_available(), "mosquitto is not installed");
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path(), "");
    let abs = workspace_plugins_dir().join(tcu_scenario::runner::library_file("abs"));
    let current = dir.path().join("current");
    std::fs::create_dir(&current).unwrap();
    std::fs::copy(&abs, current.join(abs.file_name().unwrap())).unwrap();
    let config = format!(
        "{}[vet]\ncurrent_dir = \"{}\"\n",
        twin_config(broker.port, dir.path(), "twin", ""),
        current.display()
    );
    let twin = Twin::start(dir.path(), "twin", &config, &[]);

    let vehicle_dir = dir.path().join("vehicle");
    std::fs::create_dir(&vehicle_dir).unwrap();
    let vehicle_config = format!(
        "[vehicle]\nvin = \"{VIN}\"\n[signals]\n\"Sim.Environment.RoadFriction\" = 0.1\n\
         [mqtt]\nbroker = \"mqtt://127.0.0.1:{}\"\npublish_period = \"1s\"\noutbox_dir = \"{}\"\n\
         [record]\ncapture_dir = \"{}\"\n\
         [[record.capture]]\nrule = \"abs.engaged\"\nbefore = 2.0\nafter = 1.0\n",
        broker.port,
        vehicle_dir.join("outbox").display(),
        vehicle_dir.join("captures").display()
    );
    let tcu = spawn_tcu_run(&vehicle_dir, &vehicle_config, &["--driver", "demo"]);
    twin.wait_doc(VIN, Duration::from_secs(30), "online", |d| {
        d["connectivity"] == "online"
    });

    // Down well before the braking at 30 s; the capture is taken offline.
    broker.stop();
    let handed = tcu.wait_for("capture handed to the MQTT link", Duration::from_secs(90));
    let output = tcu.output();
    let lost_at = output
        .find("MQTT link lost")
        .unwrap_or_else(|| panic!("{output}"));
    assert!(lost_at < output.find(&handed).unwrap(), "{output}");
    broker.restart();

    let mut listed = Vec::new();
    let complete = wait_for(Duration::from_secs(60), || {
        let r = twin.get(&format!("/api/vehicles/{VIN}/captures"));
        listed = if r.status == 200 {
            r.json()["captures"].as_array().cloned().unwrap_or_default()
        } else {
            Vec::new()
        };
        listed.iter().any(|c| c["complete"] == true)
    });
    assert!(
        complete,
        "no complete capture in the twin: {listed:?}\n{}",
        tcu.output()
    );
    let capture = listed.iter().find(|c| c["complete"] == true).unwrap();
    assert_eq!(capture["rule"], "abs.engaged", "{capture}");
    let id = capture["id"].as_str().unwrap();
    let tick = capture["trigger_tick"].as_u64().unwrap();
    assert!(
        handed.contains(&format!("tick={tick}")),
        "{handed} / {capture}"
    );

    // The export is the file the vehicle wrote.
    let export = twin.get(&format!("/api/vehicles/{VIN}/captures/{id}"));
    assert_eq!(export.status, 200, "{}", export.body);
    let on_vehicle = vehicle_dir
        .join("captures")
        .join(format!("capture-{tick:010}-abs.engaged.trace"));
    assert_eq!(export.body, std::fs::read_to_string(&on_vehicle).unwrap());
    let exported = dir.path().join("exported.trace");
    std::fs::write(&exported, &export.body).unwrap();
    drop(tcu);

    let broken = abs_variant("broken_control", &dir.path().join("abs-broken.so"));
    let (code, report) = vet(&abs, &broken, &exported);
    assert_eq!(code, 1, "{report}");
    assert_eq!(verdict(&report, "Vehicle.ADAS.ABS.IsEngaged"), "FAIL");
    let same = dir.path().join("abs-same.so");
    std::fs::copy(&abs, &same).unwrap();
    let (code, report) = vet(&abs, &same, &exported);
    assert_eq!(code, 0, "{report}");

    // The twin vets on the capture it stores, with the same verdicts.
    let job = vet_job(&twin, std::fs::read(&broken).unwrap());
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["report"]
            .to_string()
            .contains("Vehicle.ADAS.ABS.IsEngaged"),
        "{job}"
    );
    let job = vet_job(&twin, std::fs::read(&abs).unwrap());
    assert_eq!(job["status"], "passed", "{job}");
}
