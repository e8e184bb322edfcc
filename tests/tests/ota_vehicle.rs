//! OTA end to end with the real vehicle: `tcu run --ota-server` against the
//! DDI fake. An unsigned library and one with a signature from an untrusted
//! key are refused (failure reported, the old battery keeps running); a
//! library signed with the trusted key is swapped in, passes probation, and
//! only then is success reported.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tcu_integration_tests::ddi_fake::{ActionSpec, ActionStatus, DdiFake, FakeArtifact, FakeChunk};
use tcu_integration_tests::process::Running;
use tcu_integration_tests::signed::signed_plugins_dir;
use tcu_integration_tests::variants;

const VIN: &str = "WTCUZ000000000001";

fn tcu() -> Command {
    tcu_integration_tests::process::tcu_command()
}

fn keygen(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let st = tcu()
        .args(["plugin", "keygen"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success());
    (dir.join("tcu-signing.key"), dir.join("tcu-signing.pub"))
}

fn sign(key: &Path, lib: &Path) -> Vec<u8> {
    let st = tcu()
        .args(["plugin", "sign", "--key"])
        .arg(key)
        .arg(lib)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(format!("{}.sig", lib.display())).unwrap()
}

fn battery_chunk(lib: &[u8], sig: Option<Vec<u8>>) -> FakeChunk {
    let mut artifacts = vec![FakeArtifact::new("libbattery.so", lib.to_vec())];
    if let Some(s) = sig {
        artifacts.push(FakeArtifact::new("libbattery.so.sig", s));
    }
    FakeChunk {
        part: "battery".into(),
        version: "2.0.0".into(),
        artifacts,
    }
}

fn wait_closed(fake: &DdiFake, id: u64, tcu: &Running, timeout: Duration) -> ActionStatus {
    let start = Instant::now();
    loop {
        let s = fake.status(id);
        if s != ActionStatus::Open {
            return s;
        }
        assert!(
            start.elapsed() < timeout,
            "action {id} still open after {timeout:?}; feedback {:?}\noutput:\n{}",
            fake.executions(id),
            tcu.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn signed_rollout_swaps_the_battery_and_bad_signatures_leave_it_running() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, public) = keygen(&tmp.path().join("trusted"));
    let (other_key, _) = keygen(&tmp.path().join("untrusted"));
    let v2 = variants::battery_variant("v2", &tmp.path().join("good/libbattery.so"));
    let good_sig = sign(&key, &v2);
    let bad = tmp.path().join("bad/libbattery.so");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::copy(&v2, &bad).unwrap();
    let bad_sig = sign(&other_key, &bad);
    let lib = std::fs::read(&v2).unwrap();

    let fake = DdiFake::start(VIN);
    let unsigned = fake.add_action(ActionSpec::forced(vec![battery_chunk(&lib, None)]));
    let untrusted = fake.add_action(ActionSpec::forced(vec![battery_chunk(&lib, Some(bad_sig))]));
    let good = fake.add_action(ActionSpec::forced(vec![battery_chunk(
        &lib,
        Some(good_sig),
    )]));

    let config = tmp.path().join("tcu.toml");
    std::fs::write(
        &config,
        format!(
            "[vehicle]\nplugins_dir = \"{}\"\n\n[hotswap]\ncanary_ticks = 20\nprobation = \"2s\"\ntrusted_keys = [\"{}\"]\n\n[ota]\naction_poll_interval = \"200ms\"\n",
            // With trusted keys, the libraries loaded at start must verify too.
            signed_plugins_dir(&key, &tmp.path().join("plugins")).display(),
            public.display()
        ),
    )
    .unwrap();
    let mut cmd = tcu();
    cmd.args(["run", "--headless", "--config"])
        .arg(&config)
        .arg("--store")
        .arg(tmp.path().join("store"))
        .args(["--ota-server", fake.url(), "--ota-poll", "200ms"]);
    let tcu = Running::start(cmd);

    let t = Duration::from_secs(60);
    assert_eq!(
        wait_closed(&fake, unsigned, &tcu, t),
        ActionStatus::Closed { success: false }
    );
    let d = fake.closing_details(unsigned);
    assert!(d.contains("unsigned"), "{d}");
    assert_eq!(
        wait_closed(&fake, untrusted, &tcu, t),
        ActionStatus::Closed { success: false }
    );
    let d = fake.closing_details(untrusted);
    assert!(
        d.contains("signature") && d.contains("previous version keeps running"),
        "{d}"
    );
    assert_eq!(
        tcu.count("battery 1.0.0 -> 2.0.0"),
        0,
        "no refused library ran"
    );

    assert_eq!(
        wait_closed(&fake, good, &tcu, t),
        ActionStatus::Closed { success: true }
    );
    // Success was reported only after probation.
    tcu.wait_for("battery 2.0.0 passed probation", Duration::from_secs(5));
    let d = fake.closing_details(good);
    assert!(
        d.contains("battery 2.0.0") && d.contains("passed probation"),
        "{d}"
    );
    let ex = fake.executions(good);
    assert_eq!(ex.first().unwrap().0, "download");
    assert!(ex.iter().any(|(e, _)| e == "downloaded"));
    // The device told the server who it is.
    let cfg = fake.config_data();
    assert_eq!(cfg[0]["data"]["VIN"], VIN);
    assert_eq!(cfg[0]["data"]["version.battery"], "1.0.0");
    assert!(cfg[0]["data"]["abiVersion"].is_string());
    // OTA state is raised as vehicle events.
    tcu.wait_for("ota.state", Duration::from_secs(1));
}
