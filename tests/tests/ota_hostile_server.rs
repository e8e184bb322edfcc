//! The DDI client against a server that misbehaves, on purpose or by
//! accident: it refuses the closing feedback for good, sends download links
//! to another host, answers with huge bodies, announces ids that would
//! change a URL or a path, serves an artifact whose hash never matches, and
//! names chunks and SWU members so that they would leave the staging
//! directory. With the recording installer of
//! `tcu_integration_tests::ota_recorder`, driven cycle by cycle.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use sha2::Digest;
use std::path::{Path, PathBuf};
use tcu_integration_tests::ddi_fake::{
    ActionSpec, ActionStatus, Answer, DdiFake, FakeArtifact, TENANT,
};
use tcu_integration_tests::ota_recorder::{
    DEVICE, battery_action, chunk, lib_bytes, recorded_client, stop,
};
use tcu_ota_client::Auth;

/// Every file below `dir`.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_below(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_closing_feedback_the_server_refuses_is_tried_a_few_times_then_given_up_also_across_a_restart()
{
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let id = fake.add_action(battery_action());
    fake.refuse_closing(id, 400);
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |c| {
        c.closing_feedback_tries = 3;
    });
    let failed: usize = (0..6)
        .map(|_| usize::from(client.cycle(&stop()).is_err()))
        .sum();
    assert_eq!(fake.refused_closing(id).len(), 3, "three tries, no more");
    assert_eq!(failed, 2, "the first two refusals fail their cycle");
    assert_eq!(calls.lock().unwrap().len(), 1, "installed once");
    assert_eq!(fake.downloads().len(), 1, "downloaded once");
    let state_file = tmp.path().join("ota-state.json");
    let state = std::fs::read_to_string(&state_file).unwrap();
    assert!(
        state.contains("report_refused") && state.contains("\"feedback_refusals\": 3"),
        "{state}"
    );
    drop(client);

    // After a restart the refused report is neither sent again nor the
    // action taken again, and polling goes on.
    let polls = fake.polls();
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |c| {
        c.closing_feedback_tries = 3;
    });
    for _ in 0..3 {
        client.cycle(&stop()).unwrap();
    }
    assert_eq!(
        fake.refused_closing(id).len(),
        3,
        "not tried after a restart"
    );
    assert!(calls.lock().unwrap().is_empty(), "not installed again");
    assert_eq!(fake.downloads().len(), 1, "not downloaded again");
    assert_eq!(fake.polls(), polls + 3, "one poll per cycle");
    assert_eq!(
        fake.status(id),
        ActionStatus::Open,
        "the server never heard"
    );

    // Once the server stops offering the action, the record goes too.
    fake.drop_action(id);
    client.cycle(&stop()).unwrap();
    assert!(client.current().is_none());
    assert!(!state_file.exists());
}

#[test]
fn the_authorization_token_goes_only_to_the_ddi_servers_origin_not_to_a_download_host() {
    for (auth, header) in [
        (Auth::TargetToken("t0ken".into()), "TargetToken t0ken"),
        (Auth::GatewayToken("g4te".into()), "GatewayToken g4te"),
    ] {
        let fake = DdiFake::start(DEVICE);
        fake.require_authorization(header);
        let mirror = fake.file_mirror();
        let tmp = tempfile::tempdir().unwrap();
        let id = fake.add_action(battery_action());
        let (mut client, calls) = recorded_client(&fake, tmp.path(), |c| c.auth = auth.clone());
        client.cycle(&stop()).unwrap();
        assert_eq!(fake.status(id), ActionStatus::Closed { success: true });
        assert_eq!(calls.lock().unwrap().len(), 1);

        let (to_mirror, to_ddi): (Vec<_>, Vec<_>) = fake
            .requests()
            .into_iter()
            .partition(|r| r.server == mirror.url());
        assert!(
            !to_mirror.is_empty() && to_mirror.iter().all(|r| r.path.starts_with("/files/")),
            "the library came from the other host: {to_mirror:?}"
        );
        assert!(
            to_mirror.iter().all(|r| r.authorization.is_none()),
            "the other host saw the token: {to_mirror:?}"
        );
        assert!(
            to_ddi
                .iter()
                .all(|r| r.authorization.as_deref() == Some(header)),
            "every request to the DDI server carries it: {to_ddi:?}"
        );
    }
}

#[test]
fn huge_answers_to_poll_deployment_cancel_and_feedback_are_refused_without_being_read() {
    const HUGE: usize = 256 * 1024 * 1024;
    let cases = [
        (Answer::Poll, "the poll answer"),
        (Answer::DeploymentBase, "the deploymentBase answer"),
        (Answer::CancelAction, "the cancelAction answer"),
        (Answer::Feedback, "the feedback answer"),
    ];
    for (answer, what) in cases {
        for declared in [true, false] {
            let fake = DdiFake::start(DEVICE);
            let tmp = tempfile::tempdir().unwrap();
            if answer != Answer::Poll {
                let id = fake.add_action(battery_action());
                if answer == Answer::CancelAction {
                    fake.cancel(id);
                }
            }
            fake.oversize_next(answer, HUGE, declared);
            let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
            let e = client.cycle(&stop()).unwrap_err().to_string();
            let case = format!("{answer:?}, length declared: {declared}");
            assert!(
                e.contains(&format!("{what} is larger than 1048576 bytes")),
                "{case}: {e}"
            );
            assert!(
                fake.oversized_bytes_sent() < (HUGE / 4) as u64,
                "{case}: the client took {} bytes",
                fake.oversized_bytes_sent()
            );
            assert!(calls.lock().unwrap().is_empty(), "{case}");
        }
    }
}

#[test]
fn an_action_id_that_is_not_a_plain_id_is_refused_and_never_reaches_a_url_or_a_path() {
    for announced in ["../../../../evil", "1/../../2", "7?x=1", "%2e%2e", "a b"] {
        let fake = DdiFake::start(DEVICE);
        let tmp = tempfile::tempdir().unwrap();
        let staging = tmp.path().join("staging");
        let mut spec = battery_action();
        spec.announced_id = Some(announced.into());
        fake.add_action(spec);
        let (mut client, calls) = recorded_client(&fake, &staging, |_| {});
        let e = client.cycle(&stop()).unwrap_err().to_string();
        assert!(
            e.contains("deploymentBase") && e.contains(&format!("id `{announced}`")),
            "{announced}: {e}"
        );
        let prefix = format!("/{TENANT}/controller/v1/{DEVICE}");
        for r in fake.requests() {
            assert!(
                r.method != "POST"
                    && (r.path.starts_with(&prefix) || r.path.starts_with("/files/")),
                "{announced}: {r:?}"
            );
        }
        assert!(fake.downloads().is_empty(), "{announced}");
        assert!(calls.lock().unwrap().is_empty(), "{announced}");
        assert_eq!(
            files_below(tmp.path()),
            Vec::<PathBuf>::new(),
            "{announced}"
        );
        assert!(
            std::fs::read_dir(&staging).unwrap().next().is_none(),
            "{announced}: nothing made in the staging directory"
        );
    }
}

#[test]
fn a_complete_download_with_the_wrong_hash_is_fetched_again_once_then_fails_naming_both_digests() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let good = lib_bytes("good", 50_000);
    let mut served = good.clone();
    served[1234] ^= 0x01;
    let mut art = FakeArtifact::new("libbattery.so", served.clone());
    art.announced = Some(good.clone());
    let id = fake.add_action(ActionSpec::forced(vec![chunk("battery", vec![art])]));
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |c| c.limits.retries = 5);
    client.cycle(&stop()).unwrap();
    assert_eq!(
        fake.completed_downloads(),
        2,
        "fetched again once, not more"
    );
    assert_eq!(fake.downloads().len(), 2);
    assert!(calls.lock().unwrap().is_empty());
    assert_eq!(fake.status(id), ActionStatus::Closed { success: false });
    let d = fake.closing_details(id);
    let expected = hex::encode(sha2::Sha256::digest(&good));
    let actual = hex::encode(sha2::Sha256::digest(&served));
    assert!(
        d.contains("libbattery.so")
            && d.contains("sha256 mismatch")
            && d.contains(&format!("expected {expected}"))
            && d.contains(&format!("got {actual}")),
        "{d}"
    );
    // Closed: not fetched again on the next poll.
    client.cycle(&stop()).unwrap();
    assert_eq!(fake.downloads().len(), 2);
}

#[test]
fn chunk_names_that_could_leave_the_staging_directory_are_refused_before_anything_is_fetched() {
    for part in [
        "../../escape",
        "..",
        "bat/tery",
        "bat\\tery",
        "x..y",
        "a\0b",
    ] {
        let fake = DdiFake::start(DEVICE);
        let tmp = tempfile::tempdir().unwrap();
        let id = fake.add_action(ActionSpec::forced(vec![chunk(
            part,
            vec![FakeArtifact::new("libbattery.so", lib_bytes("x", 1000))],
        )]));
        let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
        client.cycle(&stop()).unwrap();
        assert!(calls.lock().unwrap().is_empty(), "{part:?}");
        assert_eq!(fake.status(id), ActionStatus::Closed { success: false });
        let d = fake.closing_details(id);
        assert!(
            d.contains("chunk name") && d.contains("is refused as a name"),
            "{part:?}: {d}"
        );
        assert!(
            fake.requests()
                .iter()
                .all(|r| r.method == "POST" || !r.path.contains("libbattery")),
            "{part:?}: nothing fetched"
        );
        assert_eq!(files_below(tmp.path()), Vec::<PathBuf>::new(), "{part:?}");
    }
}

#[test]
fn swu_members_with_names_that_could_leave_the_staging_directory_refuse_the_bundle() {
    let lib = lib_bytes("bundled", 4000);
    let desc = |file: &str| {
        format!(
            "software = {{ version = \"2.0.0\"; images: ( {{ filename = \"{file}\"; \
             name = \"battery\"; version = \"2.0.0\"; }} ); }};"
        )
    };
    let traversal = desc("../libbattery.so");
    let plain = desc("libbattery.so");
    // (the name that must be refused, the bundle's members)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a [u8])>);
    let cases: [Case<'_>; 3] = [
        (
            "../libbattery.so",
            vec![
                ("sw-description", traversal.as_bytes()),
                ("../libbattery.so", &lib),
            ],
        ),
        (
            "../../evil.sig",
            vec![
                ("sw-description", plain.as_bytes()),
                ("libbattery.so", &lib),
                ("../../evil.sig", b"sig"),
            ],
        ),
        (
            "lib..so",
            vec![
                ("sw-description", plain.as_bytes()),
                ("libbattery.so", &lib),
                ("lib..so", &lib),
            ],
        ),
    ];
    for (bad, members) in cases {
        let fake = DdiFake::start(DEVICE);
        let tmp = tempfile::tempdir().unwrap();
        let bundle = tcu_ota_client::swu::cpio(&members);
        let id = fake.add_action(ActionSpec::forced(vec![chunk(
            "bundle",
            vec![FakeArtifact::new("battery.swu", bundle)],
        )]));
        let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
        client.cycle(&stop()).unwrap();
        assert!(calls.lock().unwrap().is_empty(), "{bad}");
        assert_eq!(fake.status(id), ActionStatus::Closed { success: false });
        let d = fake.closing_details(id);
        assert!(
            d.contains("refused as a name") && d.contains(bad),
            "{bad}: {d}"
        );
        let outside: Vec<_> = files_below(tmp.path())
            .into_iter()
            .filter(|p| !p.ends_with("ota-state.json"))
            .collect();
        assert!(outside.is_empty(), "{bad}: {outside:?}");
    }
}
