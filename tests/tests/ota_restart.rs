//! A `tcu run --headless` killed (SIGKILL) in the middle of an OTA action
//! and started again on the same store and staging directory, against the
//! DDI fake:
//!
//! 1. killed during a slow download: the restarted TCU resumes the same
//!    action (a `Range` request, no second `download` feedback) and swaps;
//! 2. killed again while the new battery is on probation: the restarted TCU
//!    runs the last good battery (1.0.0), and before it polls for anything
//!    it closes the action with `failure`, saying the restart came before
//!    probation passed; only then does it take the next action.

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

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
}

/// A signed battery v2: (library bytes, signature bytes, public key file).
fn signed_v2(dir: &Path) -> (Vec<u8>, Vec<u8>, PathBuf) {
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    run_ok(tcu().args(["plugin", "keygen"]).current_dir(&keys));
    let lib = variants::battery_variant("v2", &dir.join("v2/libbattery.so"));
    run_ok(
        tcu()
            .args(["plugin", "sign", "--key"])
            .arg(keys.join("tcu-signing.key"))
            .arg(&lib),
    );
    let sig = std::fs::read(format!("{}.sig", lib.display())).unwrap();
    (
        std::fs::read(&lib).unwrap(),
        sig,
        keys.join("tcu-signing.pub"),
    )
}

fn battery_v2(lib: &[u8], sig: &[u8]) -> ActionSpec {
    ActionSpec::forced(vec![FakeChunk {
        part: "battery".into(),
        version: "2.0.0".into(),
        artifacts: vec![
            FakeArtifact::new("libbattery.so", lib.to_vec()),
            FakeArtifact::new("libbattery.so.sig", sig.to_vec()),
        ],
    }])
}

fn start(config: &Path, store: &Path, fake: &DdiFake) -> Running {
    let mut cmd = tcu();
    cmd.args(["run", "--headless", "--config"])
        .arg(config)
        .arg("--store")
        .arg(store)
        .args(["--ota-server", fake.url(), "--ota-poll", "200ms"]);
    Running::start(cmd)
}

fn wait_until(what: &str, tcu: &Running, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: not within 60 s; output:\n{}",
            tcu.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_tcu_killed_mid_action_resumes_the_download_and_reports_an_interrupted_probation() {
    let tmp = tempfile::tempdir().unwrap();
    let (lib, sig, public) = signed_v2(tmp.path());
    let fake = DdiFake::start(VIN);
    // About 200 kB/s: the 0.5 MB library takes seconds, time to kill.
    fake.throttle_downloads(4096, Duration::from_millis(20));
    let first = fake.add_action(battery_v2(&lib, &sig));
    let config = tmp.path().join("tcu.toml");
    // A long probation, so that the second kill lands inside it.
    std::fs::write(
        &config,
        format!(
            "[vehicle]\nplugins_dir = \"{}\"\n\n\
             [hotswap]\ncanary_ticks = 20\nprobation = \"120s\"\ntrusted_keys = [\"{}\"]\n\n\
             [ota]\naction_poll_interval = \"200ms\"\n\n[mqtt]\nenabled = false\n",
            // With trusted keys, the libraries loaded at start must verify too.
            signed_plugins_dir(
                &tmp.path().join("keys/tcu-signing.key"),
                &tmp.path().join("plugins")
            )
            .display(),
            public.display()
        ),
    )
    .unwrap();
    let store = tmp.path().join("store");
    let state_file = store.join("ota/ota-state.json");

    // 1. Killed during the download.
    let mut tcu = start(&config, &store, &fake);
    wait_until("download under way", &tcu, || fake.served_bytes() > 100_000);
    tcu.kill();
    assert_eq!(fake.completed_downloads(), 0, "killed before the end");
    assert_eq!(fake.status(first), ActionStatus::Open);
    let state = std::fs::read_to_string(&state_file).unwrap();
    assert!(state.contains("downloading"), "{state}");

    // The restart resumes the same action where the download stopped, and
    // swaps; the battery is now on probation.
    let mut tcu = start(&config, &store, &fake);
    tcu.wait_for("battery 1.0.0 -> 2.0.0", Duration::from_secs(60));
    let downloads = fake.downloads();
    let lib_gets: Vec<_> = downloads
        .iter()
        .filter(|r| r.path.ends_with("/libbattery.so"))
        .collect();
    assert!(
        lib_gets.last().unwrap().range.is_some(),
        "resumed with Range: {lib_gets:?}"
    );
    let starts = fake
        .executions(first)
        .iter()
        .filter(|(e, _)| e == "download")
        .count();
    assert_eq!(starts, 1, "the same action resumed, not started again");
    wait_until("installation persisted", &tcu, || {
        std::fs::read_to_string(&state_file).is_ok_and(|s| s.contains("installing"))
    });
    assert_eq!(fake.status(first), ActionStatus::Open, "probation not over");

    // 2. Killed during probation, with the next action already waiting.
    tcu.kill();
    let before_restart = fake.requests().len();
    let second = fake.add_action(battery_v2(&lib, &sig));
    let tcu = start(&config, &store, &fake);
    wait_until("outcome of the first action", &tcu, || {
        fake.status(first) != ActionStatus::Open
    });
    assert_eq!(fake.status(first), ActionStatus::Closed { success: false });
    let details = fake.closing_details(first);
    assert!(
        details.contains("interrupted by a restart before the new version passed probation")
            && details.contains("battery 1.0.0"),
        "{details}"
    );
    // The outcome went out before anything else was asked of the server.
    let after = fake.requests()[before_restart..].to_vec();
    assert_eq!(after[0].method, "POST", "{after:?}");
    assert!(
        after[0]
            .path
            .ends_with(&format!("/deploymentBase/{first}/feedback")),
        "{after:?}"
    );
    // Then the next action is taken.
    wait_until("next action fetched", &tcu, || {
        fake.requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.contains(&format!("/deploymentBase/{second}")))
    });
}
