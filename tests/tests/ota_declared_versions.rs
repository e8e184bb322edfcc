//! A deployment whose chunks declare something else than their libraries
//! are, against the real vehicle (`tcu run --ota-server` and the DDI fake):
//! one chunk of two declares `abs 2.0.0` for the abs library 1.0.0, so the
//! whole action is refused before anything is swapped (the battery chunk,
//! which is right, included), and the failure names both sides. A correct
//! action afterwards is installed as usual.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};
use tcu_integration_tests::ddi_fake::{ActionSpec, ActionStatus, DdiFake, FakeArtifact, FakeChunk};
use tcu_integration_tests::fixtures::{library_file_name, workspace_plugins_dir};
use tcu_integration_tests::process::Running;
use tcu_integration_tests::variants;

const VIN: &str = "WTCUZ000000000001";

fn chunk(part: &str, version: &str, file: &str, lib: &Path) -> FakeChunk {
    FakeChunk {
        part: part.into(),
        version: version.into(),
        artifacts: vec![FakeArtifact::new(file, std::fs::read(lib).unwrap())],
    }
}

fn wait_closed(fake: &DdiFake, id: u64, tcu: &Running) -> ActionStatus {
    let start = Instant::now();
    loop {
        let s = fake.status(id);
        if s != ActionStatus::Open {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "action {id} still open; feedback {:?}\noutput:\n{}",
            fake.executions(id),
            tcu.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_chunk_whose_version_disagrees_with_its_library_refuses_the_whole_action_naming_both() {
    let tmp = tempfile::tempdir().unwrap();
    let battery = variants::battery_variant("v2", &tmp.path().join("v2/libbattery.so"));
    let abs = workspace_plugins_dir().join(library_file_name("tcu_plugin_abs"));
    let fake = DdiFake::start(VIN);
    let wrong = fake.add_action(ActionSpec::forced(vec![
        chunk("battery", "2.0.0", "libbattery.so", &battery),
        chunk("abs", "2.0.0", "libabs.so", &abs),
    ]));
    let right = fake.add_action(ActionSpec::forced(vec![chunk(
        "battery",
        "2.0.0",
        "libbattery.so",
        &battery,
    )]));
    let config = tmp.path().join("tcu.toml");
    std::fs::write(
        &config,
        "[hotswap]\ncanary_ticks = 20\nprobation = \"1s\"\n\n\
         [ota]\naction_poll_interval = \"200ms\"\n\n[mqtt]\nenabled = false\n",
    )
    .unwrap();
    let mut cmd = tcu_integration_tests::process::tcu_command();
    cmd.args(["run", "--headless", "--allow-unsigned", "--config"])
        .arg(&config)
        .arg("--store")
        .arg(tmp.path().join("store"))
        .args(["--ota-server", fake.url(), "--ota-poll", "200ms"]);
    let tcu = Running::start(cmd);

    assert_eq!(
        wait_closed(&fake, wrong, &tcu),
        ActionStatus::Closed { success: false }
    );
    let d = fake.closing_details(wrong);
    assert!(
        d.contains("chunk `abs 2.0.0`, library says `abs 1.0.0`")
            && d.contains("previous version keeps running"),
        "{d}"
    );
    assert!(
        !d.contains("chunk `battery"),
        "the battery chunk was right: {d}"
    );
    assert_eq!(
        tcu.count("battery 1.0.0 -> 2.0.0"),
        0,
        "nothing was swapped"
    );
    assert_eq!(tcu.count("abs 1.0.0 -> "), 0, "nothing was swapped");

    assert_eq!(
        wait_closed(&fake, right, &tcu),
        ActionStatus::Closed { success: true }
    );
    assert_eq!(tcu.count("battery 1.0.0 -> 2.0.0"), 1);
}
