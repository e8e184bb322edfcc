//! hawkBit's Management API behind `ManagementApi`, against the project's
//! fake of it (no hawkBit server can run here): a bundle becomes a
//! software module with its artifact and a distribution set, targets are
//! assigned it, paged target lists are read whole, and a rollout in groups
//! is created, waited for and started; refusals name what failed.

#![allow(clippy::unwrap_used)]

use tcu_integration_tests::hawkbit_mgmt_fake::{HawkbitMgmtFake, USER};
use tcu_ota_client::publish::ManagementApi;
use tcu_ota_client::publish::hawkbit::{Hawkbit, Rollout};

fn bundle(dir: &std::path::Path) -> std::path::PathBuf {
    let lib = dir.join("libbattery.so");
    std::fs::write(&lib, b"battery library bytes").unwrap();
    let out = dir.join("battery.swu");
    tcu_ota_client::swu::write(
        &out,
        "2.0.0",
        &["sim-1".into()],
        &[tcu_ota_client::swu::Image {
            name: "battery".into(),
            version: "2.0.0".into(),
            file: lib,
            sig: None,
        }],
    )
    .unwrap();
    out
}

fn vins(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("WTCUZ0000TF{i:06}")).collect()
}

#[test]
fn a_bundle_becomes_a_module_with_its_artifact_and_a_distribution_set_that_a_target_is_assigned() {
    let dir = tempfile::tempdir().unwrap();
    let fake = HawkbitMgmtFake::start(&vins(3));
    let mut api = Hawkbit::new(&fake.url, USER.0, USER.1).unwrap();
    let b = bundle(dir.path());
    let set = api.upload(&b).unwrap();
    {
        let s = fake.state.lock().unwrap();
        let module = s.modules.values().next().expect("a module");
        assert_eq!(module["name"], "tcu-battery");
        assert_eq!(module["version"], "2.0.0");
        let (name, bytes) = s.artifacts.values().next().expect("an artifact");
        assert_eq!(name, "battery.swu");
        assert_eq!(
            bytes,
            &std::fs::read(&b).unwrap(),
            "the artifact is the bundle"
        );
        let ds = &s.sets[&set.parse::<u64>().unwrap()];
        assert_eq!(ds["modules"][0]["id"], module["id"]);
    }
    api.assign("WTCUZ0000TF000002", &set).unwrap();
    let d = api.device("WTCUZ0000TF000002").unwrap();
    assert_eq!(d.last_state.as_deref(), Some("pending"));
    assert_eq!(d.sw_version, None, "nothing installed yet (204)");

    // The same bundle again: hawkBit refuses a module that exists (409).
    let e = api.upload(&b).unwrap_err().to_string();
    assert!(e.contains("409") && e.contains("tcu-battery 2.0.0"), "{e}");
    // An unknown target: 404, naming the target and the set.
    let e = api
        .assign("WTCUZ0000TF000099", &set)
        .unwrap_err()
        .to_string();
    assert!(e.contains("404") && e.contains("WTCUZ0000TF000099"), "{e}");
}

#[test]
fn targets_are_read_page_by_page_and_a_rollout_is_created_waited_for_and_started() {
    let dir = tempfile::tempdir().unwrap();
    let mut names = vins(230);
    names.push("OTHER0000000000001".into());
    let fake = HawkbitMgmtFake::start(&names);
    let mut api = Hawkbit::new(&fake.url, USER.0, USER.1).unwrap();
    let all = api.targets(Some("controllerId==WTCUZ*")).unwrap();
    assert_eq!(all.len(), 230, "three pages of at most 100");
    assert_eq!(all, vins(230));
    let pages = fake
        .state
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|(m, p)| m == "GET" && p.starts_with("/rest/v1/targets?"))
        .count();
    assert_eq!(pages, 3);

    let set = api.upload(&bundle(dir.path())).unwrap();
    let id = api
        .start_rollout(&Rollout {
            name: "battery 2.0.0".into(),
            distribution_set: set.clone(),
            filter: "controllerId==WTCUZ*".into(),
            groups: 4,
            success_percent: 80,
            error_percent: 20,
        })
        .unwrap();
    assert_eq!(api.rollout_status(&id).unwrap(), "running");
    let s = fake.state.lock().unwrap();
    let r = &s.rollouts[&id.parse::<u64>().unwrap()];
    assert_eq!(r["amountGroups"], 4);
    assert_eq!(r["successCondition"]["expression"], "80");
    assert_eq!(r["errorCondition"]["expression"], "20");
    assert_eq!(r["errorAction"]["action"], "PAUSE");
    assert_eq!(s.targets["WTCUZ0000TF000117"], set.parse().ok());
    assert_eq!(s.targets["OTHER0000000000001"], None, "outside the filter");
}

#[test]
fn wrong_credentials_are_refused_with_the_status_and_what_was_being_done() {
    let dir = tempfile::tempdir().unwrap();
    let fake = HawkbitMgmtFake::start(&vins(1));
    let mut api = Hawkbit::new(&fake.url, USER.0, "wrong").unwrap();
    let e = api.upload(&bundle(dir.path())).unwrap_err().to_string();
    assert!(
        e.contains("401") && e.contains("creating software module"),
        "{e}"
    );
}

fn tcu(args: &[&str]) -> (bool, String) {
    let out = tcu_integration_tests::process::tcu_command()
        .args(args)
        .env("TCU_OTA_PASSWORD", USER.1)
        .output()
        .expect("tcu runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn tcu_ota_rollout_and_publish_api_hawkbit_drive_the_management_api() {
    let dir = tempfile::tempdir().unwrap();
    let fake = HawkbitMgmtFake::start(&vins(3));
    let b = bundle(dir.path());
    let b = b.to_str().unwrap();
    let (ok, out) = tcu(&[
        "ota",
        "rollout",
        "--server",
        &fake.url,
        "--bundle",
        b,
        "--filter",
        "controllerId==WTCUZ*",
        "--groups",
        "2",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("to 3 targets in 2 groups"), "{out}");
    assert!(
        fake.state
            .lock()
            .unwrap()
            .rollouts
            .values()
            .all(|r| r["status"] == "running"),
        "{out}"
    );
    let (ok, out) = tcu(&[
        "ota",
        "rollout",
        "--server",
        &fake.url,
        "--bundle",
        b,
        "--filter",
        "controllerId==NOBODY*",
    ]);
    assert!(!ok && out.contains("no target matches"), "{out}");

    let fresh = HawkbitMgmtFake::start(&vins(1));
    let (ok, out) = tcu(&[
        "ota",
        "publish",
        "--api",
        "hawkbit",
        "--server",
        &fresh.url,
        "--bundle",
        b,
        "--device",
        "WTCUZ0000TF000001",
    ]);
    assert!(ok, "{out}");
    assert!(
        fresh.state.lock().unwrap().targets["WTCUZ0000TF000001"].is_some(),
        "{out}"
    );
}
