//! The DDI client against the project's DDI fake, with a recording
//! installer in place of the vehicle: chunks, cancels (also in the middle
//! of a slow download), maintenance windows, soft updates, confirmation,
//! installedBase, 304, busy answers, 410, interrupted and corrupted
//! downloads, a server that fails every download, and restarts in the
//! middle of an action.
//! Each test drives the client cycle by cycle, so nothing waits on timers.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use tcu_integration_tests::ddi_fake::{ActionSpec, ActionStatus, DdiFake, FakeArtifact, Fault};
use tcu_integration_tests::ota_recorder::{
    DEVICE, Recorder, battery_action, chunk, config, lib_bytes, recorded_client, stop, wait_until,
};
use tcu_ota_client::{Client, Confirmation, InstallError, OtaState, SoftUpdates};

#[test]
fn several_chunks_are_installed_in_one_transaction_and_closed_after_success() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let id = fake.add_action(ActionSpec::forced(vec![
        chunk(
            "battery",
            vec![
                FakeArtifact::new("libbattery.so", lib_bytes("bat", 70_000)),
                FakeArtifact::new("libbattery.so.sig", b"battery-signature".to_vec()),
            ],
        ),
        chunk(
            "abs",
            vec![FakeArtifact::new("libabs.so", lib_bytes("abs", 50_000))],
        ),
    ]));
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
    client.cycle(&stop()).unwrap();

    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 1, "one transaction for the whole action");
    let subs: Vec<&str> = calls[0].iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(subs, ["battery", "abs"]);
    assert_eq!(calls[0][0].2, lib_bytes("bat", 70_000));
    assert_eq!(calls[0][1].2, lib_bytes("abs", 50_000));
    assert_eq!(calls[0][0].1.file_name().unwrap(), "libbattery.so");
    assert_eq!(fake.status(id), ActionStatus::Closed { success: true });
    let ex = fake.executions(id);
    assert_eq!(ex.first().unwrap(), &("download".into(), "none".into()));
    assert!(ex.contains(&("downloaded".into(), "none".into())));
    assert_eq!(ex.last().unwrap(), &("closed".into(), "success".into()));
    let closing = fake.closing_details(id);
    assert!(closing.contains("passed probation"), "{closing}");
    // configData carried the VIN and the installed versions.
    let cfg = fake.config_data();
    assert_eq!(cfg.len(), 1);
    assert_eq!(cfg[0]["mode"], "merge");
    assert_eq!(cfg[0]["data"]["VIN"], DEVICE);
    assert_eq!(cfg[0]["data"]["version.battery"], "1.0.0");
    // Nothing left behind, nothing taken twice.
    assert!(client.current().is_none());
    assert!(!tmp.path().join("ota-state.json").exists());
    client.cycle(&stop()).unwrap();
    assert_eq!(fake.downloads().len(), 3);
}

#[test]
fn a_failed_swap_is_reported_as_failure_with_its_reason() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let id = fake.add_action(battery_action());
    let (mut inst, _calls) = Recorder::new();
    inst.answer = Err(InstallError::Failed(
        "rolled back during probation (battery 2.0.0 back to 1.0.0): panic".into(),
    ));
    let mut client = Client::new(config(&fake, tmp.path()), inst).unwrap();
    client.cycle(&stop()).unwrap();
    assert_eq!(fake.status(id), ActionStatus::Closed { success: false });
    let d = fake.closing_details(id);
    assert!(
        d.contains("rolled back") && d.contains("previous version keeps running"),
        "{d}"
    );
}

#[test]
fn cancel_before_installation_is_accepted_and_files_are_removed() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = battery_action();
    spec.window = Some("unavailable".into());
    let id = fake.add_action(spec);
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
    client.cycle(&stop()).unwrap();
    assert!(
        calls.lock().unwrap().is_empty(),
        "window closed: no install"
    );
    let dir = tcu_ota_client::action_dir(tmp.path(), &id.to_string());
    assert!(
        dir.join("battery/libbattery.so").is_file(),
        "downloaded now"
    );

    fake.cancel(id);
    client.cycle(&stop()).unwrap();
    assert_eq!(fake.status(id), ActionStatus::Canceled);
    let cf = fake.cancel_feedback(id);
    assert_eq!(cf.len(), 1);
    assert_eq!(cf[0]["status"]["execution"], "closed");
    assert_eq!(cf[0]["status"]["result"]["finished"], "success");
    assert!(!dir.exists(), "staged files removed");
    assert!(client.current().is_none());
    assert!(calls.lock().unwrap().is_empty());
}

#[test]
fn a_cancel_during_a_slow_download_stops_it_and_is_accepted() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    // 2 MB at about 200 kB/s: ten seconds if nothing stopped it.
    fake.throttle_downloads(4096, Duration::from_millis(20));
    let id = fake.add_action(ActionSpec::forced(vec![chunk(
        "battery",
        vec![FakeArtifact::new(
            "libbattery.so",
            lib_bytes("slow", 2_000_000),
        )],
    )]));
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
    let cycle = std::thread::spawn(move || {
        let r = client.cycle(&stop());
        (client, r)
    });
    wait_until("download started", || fake.served_bytes() > 50_000);
    let dir = tcu_ota_client::action_dir(tmp.path(), &id.to_string());
    assert!(dir.join("battery/libbattery.so.part").is_file());
    fake.cancel(id);
    let (client, result) = cycle.join().unwrap();
    result.unwrap();

    assert_eq!(fake.status(id), ActionStatus::Canceled);
    let cf = fake.cancel_feedback(id);
    assert_eq!(cf.len(), 1, "{cf:?}");
    assert_eq!(cf[0]["status"]["execution"], "closed");
    assert_eq!(cf[0]["status"]["result"]["finished"], "success");
    assert_eq!(fake.completed_downloads(), 0, "the download was cut short");
    assert!(fake.served_bytes() < 2_000_000);
    assert!(calls.lock().unwrap().is_empty(), "nothing was swapped");
    assert!(!dir.exists(), "partial files removed");
    assert!(client.current().is_none());
    assert!(!tmp.path().join("ota-state.json").exists());
    assert!(
        !fake.executions(id).iter().any(|(e, _)| e == "closed"),
        "the cancel closes the action, not a deployment feedback: {:?}",
        fake.executions(id)
    );
}

#[test]
fn cancel_during_installation_is_rejected_and_the_install_completes() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let id = fake.add_action(battery_action());
    let (mut inst, _calls) = Recorder::new();
    let handle = fake.handle();
    inst.during = Some(Box::new(move || handle.cancel(id)));
    inst.takes = Duration::from_millis(400);
    let mut client = Client::new(config(&fake, tmp.path()), inst).unwrap();
    client.cycle(&stop()).unwrap();
    let cf = fake.cancel_feedback(id);
    assert_eq!(cf.len(), 1, "{cf:?}");
    assert_eq!(cf[0]["status"]["execution"], "rejected");
    assert_eq!(fake.status(id), ActionStatus::Closed { success: true });
}

#[test]
fn update_skip_downloads_now_and_holds_the_install_back() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = battery_action();
    spec.update = "skip".into();
    let id = fake.add_action(spec);
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
    let next = client.cycle(&stop()).unwrap();
    assert!(
        next <= Duration::from_millis(50),
        "polls fast while an action is open"
    );
    client.cycle(&stop()).unwrap();
    assert!(calls.lock().unwrap().is_empty());
    assert_eq!(fake.status(id), ActionStatus::Open);
    assert!(
        fake.executions(id)
            .contains(&("downloaded".into(), "none".into()))
    );
    assert_eq!(fake.downloads().len(), 1, "downloaded once");
}

#[test]
fn window_opening_installs_without_downloading_again() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = battery_action();
    spec.window = Some("unavailable".into());
    let id = fake.add_action(spec);
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
    client.cycle(&stop()).unwrap();
    client.cycle(&stop()).unwrap();
    assert!(calls.lock().unwrap().is_empty());
    let deployment_gets = |f: &DdiFake| {
        f.requests()
            .iter()
            .filter(|r| r.path.contains("/deploymentBase/") && r.method == "GET")
            .count()
    };
    assert_eq!(
        deployment_gets(&fake),
        1,
        "unchanged href: not fetched again"
    );
    fake.set_window(id, "available");
    client.cycle(&stop()).unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(fake.downloads().len(), 1, "not downloaded twice");
    assert_eq!(fake.status(id), ActionStatus::Closed { success: true });
}

#[test]
fn an_unchanged_poll_is_answered_304_and_the_server_sleep_is_honoured() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    fake.set_sleep("00:00:07");
    let (inst, _) = Recorder::new();
    let mut client = Client::new(config(&fake, tmp.path()), inst).unwrap();
    assert_eq!(client.cycle(&stop()).unwrap(), Duration::from_secs(7));
    // The configData sent changes the poll (link gone), so poll twice more.
    client.cycle(&stop()).unwrap();
    assert_eq!(client.cycle(&stop()).unwrap(), Duration::from_secs(7));
    assert!(fake.not_modified() >= 1, "{:?}", fake.requests());
    let polls: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(DEVICE))
        .collect();
    assert!(polls.last().unwrap().if_none_match.is_some());
}

#[test]
fn busy_answers_409_and_429_are_retried() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let id = fake.add_action(battery_action());
    fake.fault_download(Fault::Status(429));
    fake.fault_download(Fault::Status(409));
    fake.fault_feedback(429);
    fake.fault_feedback(409);
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
    client.cycle(&stop()).unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(fake.downloads().len(), 3, "two busy answers, then the file");
    assert_eq!(fake.status(id), ActionStatus::Closed { success: true });
}

#[test]
fn a_busy_poll_backs_off_and_the_next_cycle_works() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    fake.fault_poll(429);
    let (inst, _) = Recorder::new();
    let mut client = Client::new(config(&fake, tmp.path()), inst).unwrap();
    assert!(client.cycle(&stop()).is_err());
    client.cycle(&stop()).unwrap();
}

#[test]
fn gone_410_on_feedback_drops_the_action() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let id = fake.add_action(battery_action());
    fake.fault_feedback(410);
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
    client.cycle(&stop()).unwrap();
    assert!(client.current().is_none());
    assert!(!tmp.path().join("ota-state.json").exists());
    client.cycle(&stop()).unwrap();
    assert!(
        calls.lock().unwrap().is_empty(),
        "a dropped action is not installed"
    );
    assert!(fake.downloads().is_empty());
    let _ = id;
}

#[test]
fn a_download_cut_halfway_is_resumed_with_range() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let data = lib_bytes("resume-me", 300_000);
    let id = fake.add_action(ActionSpec::forced(vec![chunk(
        "battery",
        vec![FakeArtifact::new("libbattery.so", data.clone())],
    )]));
    fake.fault_download(Fault::CutAfter(150_000));
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
    client.cycle(&stop()).unwrap();
    let d = fake.downloads();
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!(d[0].range, None);
    let range = d[1].range.clone().unwrap();
    let from: usize = range
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(from > 0 && from <= 150_000, "{range}");
    assert_eq!(
        calls.lock().unwrap()[0][0].2,
        data,
        "resumed bytes verified"
    );
    assert_eq!(fake.status(id), ActionStatus::Closed { success: true });
}

#[test]
fn a_corrupted_artifact_fails_the_action_and_nothing_is_installed() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let mut art = FakeArtifact::new("libbattery.so", lib_bytes("good", 10_000));
    art.data[5000] ^= 0xff; // served bytes differ from the announced hash
    art.announced = Some(lib_bytes("good", 10_000));
    art.sha1_only = true;
    let id = fake.add_action(ActionSpec::forced(vec![chunk("battery", vec![art])]));
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
    client.cycle(&stop()).unwrap();
    assert!(calls.lock().unwrap().is_empty());
    assert_eq!(fake.status(id), ActionStatus::Closed { success: false });
    let d = fake.closing_details(id);
    assert!(d.contains("sha1 mismatch"), "{d}");
    assert!(d.contains("previous version keeps running"), "{d}");
}

#[test]
fn a_server_failing_every_download_is_given_up_on_after_bounded_retries() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let id = fake.add_action(battery_action());
    fake.fail_all_downloads(500);
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
    let t = Instant::now();
    client.cycle(&stop()).unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(fake.downloads().len(), 3, "1 try + 2 retries");
    assert!(calls.lock().unwrap().is_empty());
    assert_eq!(fake.status(id), ActionStatus::Closed { success: false });
    assert!(
        fake.closing_details(id)
            .contains("giving up after 3 attempts")
    );
    // Closed: the client does not take it again.
    client.cycle(&stop()).unwrap();
    assert_eq!(fake.downloads().len(), 3);
}

#[test]
fn a_restart_during_installation_reports_the_outcome_before_a_new_action() {
    for (running_after_restart, success) in [("2.0.0", true), ("1.0.0", false)] {
        let fake = DdiFake::start(DEVICE);
        let tmp = tempfile::tempdir().unwrap();
        let id = fake.add_action(battery_action());
        let (mut inst, _) = Recorder::new();
        inst.answer = Err(InstallError::Interrupted("the vehicle stopped".into()));
        let mut client = Client::new(config(&fake, tmp.path()), inst).unwrap();
        client.cycle(&stop()).unwrap();
        assert_eq!(fake.status(id), ActionStatus::Open, "outcome unknown yet");
        let state = std::fs::read_to_string(tmp.path().join("ota-state.json")).unwrap();
        assert!(state.contains("installing"), "{state}");
        drop(client);

        // A second action waits behind the first one's outcome.
        let next = fake.add_action(battery_action());
        let (mut inst, calls) = Recorder::new();
        inst.versions
            .insert("battery".into(), running_after_restart.into());
        let mut client = Client::new(config(&fake, tmp.path()), inst).unwrap();
        client.cycle(&stop()).unwrap();
        assert_eq!(fake.status(id), ActionStatus::Closed { success });
        let d = fake.closing_details(id);
        assert!(
            d.contains(&format!("battery {running_after_restart}")),
            "{d}"
        );
        // The same cycle then took the next action.
        assert_eq!(calls.lock().unwrap().len(), 1);
        assert_eq!(fake.status(next), ActionStatus::Closed { success: true });
    }
}

#[test]
fn a_restart_during_download_resumes_the_same_action() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let id = fake.add_action(battery_action());
    let (inst, _) = Recorder::new();
    // Stopped as the download begins: the action stays open and saved.
    let mut client = Client::new(config(&fake, tmp.path()), inst).unwrap();
    client.cycle(&AtomicBool::new(true)).unwrap();
    let state = std::fs::read_to_string(tmp.path().join("ota-state.json")).unwrap();
    assert!(state.contains("downloading"), "{state}");
    drop(client);

    let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
    client.cycle(&stop()).unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(fake.status(id), ActionStatus::Closed { success: true });
    let starts = fake
        .executions(id)
        .iter()
        .filter(|(e, _)| e == "download")
        .count();
    assert_eq!(starts, 1, "the same action resumed, not started again");
}

fn soft_battery_action() -> ActionSpec {
    let mut spec = battery_action();
    spec.update = "attempt".into();
    spec
}

#[test]
fn a_soft_update_is_installed_at_once_by_default() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let id = fake.add_action(soft_battery_action());
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
    client.cycle(&stop()).unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(fake.status(id), ActionStatus::Closed { success: true });
    assert!(!fake.executions(id).iter().any(|(e, _)| e == "scheduled"));
}

#[test]
fn a_deferred_soft_update_waits_downloaded_until_the_user_polls() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let id = fake.add_action(soft_battery_action());
    let (mut client, calls) =
        recorded_client(&fake, tmp.path(), |c| c.soft_updates = SoftUpdates::Defer);
    client.cycle(&stop()).unwrap();
    client.cycle(&stop()).unwrap();
    assert!(calls.lock().unwrap().is_empty(), "deferred");
    assert_eq!(fake.status(id), ActionStatus::Open);
    let ex = fake.executions(id);
    assert!(ex.contains(&("downloaded".into(), "none".into())), "{ex:?}");
    let scheduled: Vec<_> = fake
        .feedback(id)
        .into_iter()
        .filter(|f| f["status"]["execution"] == "scheduled")
        .collect();
    assert_eq!(scheduled.len(), 1, "scheduled once: {ex:?}");
    assert!(
        scheduled[0]["status"]["details"]
            .to_string()
            .contains("soft update")
    );

    client.waker().poll_now();
    client.cycle(&stop()).unwrap();
    assert_eq!(
        calls.lock().unwrap().len(),
        1,
        "installed on the user's poll"
    );
    assert_eq!(fake.downloads().len(), 1, "not downloaded again");
    assert_eq!(fake.status(id), ActionStatus::Closed { success: true });
}

#[test]
fn a_deferred_soft_update_is_installed_once_the_server_forces_it() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let id = fake.add_action(soft_battery_action());
    let (mut client, calls) =
        recorded_client(&fake, tmp.path(), |c| c.soft_updates = SoftUpdates::Defer);
    client.cycle(&stop()).unwrap();
    assert!(calls.lock().unwrap().is_empty());
    fake.set_update(id, "forced");
    client.cycle(&stop()).unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(fake.status(id), ActionStatus::Closed { success: true });
}

fn confirmed_battery_action() -> ActionSpec {
    let mut spec = battery_action();
    spec.confirm = true;
    spec
}

fn deployment_gets(fake: &DdiFake) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/deploymentBase/"))
        .count()
}

#[test]
fn a_confirmation_request_is_confirmed_automatically_and_the_deployment_follows() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    fake.set_sleep("00:10:00");
    let id = fake.add_action(confirmed_battery_action());
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
    let next = client.cycle(&stop()).unwrap();
    let cf = fake.confirmation_feedback(id);
    assert_eq!(cf.len(), 1, "{cf:?}");
    assert_eq!(cf[0]["confirmation"], "confirmed");
    assert!(cf[0]["timestamp"].as_u64().is_some() && cf[0]["code"].is_number());
    assert!(
        next <= Duration::from_millis(50),
        "polls again soon for the deployment, not in 10 minutes: {next:?}"
    );
    assert!(calls.lock().unwrap().is_empty());
    client.cycle(&stop()).unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(fake.status(id), ActionStatus::Closed { success: true });
}

#[test]
fn a_denied_confirmation_is_answered_once_and_nothing_is_fetched() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let id = fake.add_action(confirmed_battery_action());
    let (mut client, calls) =
        recorded_client(&fake, tmp.path(), |c| c.confirmation = Confirmation::Deny);
    for _ in 0..3 {
        client.cycle(&stop()).unwrap();
    }
    let cf = fake.confirmation_feedback(id);
    assert_eq!(cf.len(), 1, "denied once: {cf:?}");
    assert_eq!(cf[0]["confirmation"], "denied");
    assert!(cf[0]["details"].to_string().contains("deny"), "{cf:?}");
    assert_eq!(
        fake.status(id),
        ActionStatus::Open,
        "still waiting on the server"
    );
    assert_eq!(deployment_gets(&fake), 0);
    assert!(fake.downloads().is_empty());
    assert!(calls.lock().unwrap().is_empty());
}

#[test]
fn a_confirmation_left_to_the_user_is_confirmed_by_a_poll_the_user_asked_for() {
    let fake = DdiFake::start(DEVICE);
    let tmp = tempfile::tempdir().unwrap();
    let id = fake.add_action(confirmed_battery_action());
    let (inst, calls) = Recorder::new();
    let mut cfg = config(&fake, tmp.path());
    cfg.confirmation = Confirmation::User;
    let (tx, rx) = std::sync::mpsc::channel();
    let mut client = Client::new(cfg, inst).unwrap().with_events(tx);
    client.cycle(&stop()).unwrap();
    client.cycle(&stop()).unwrap();
    assert!(
        fake.confirmation_feedback(id).is_empty(),
        "nobody confirmed"
    );
    let waiting: Vec<_> = rx
        .try_iter()
        .filter(|e| e.state == OtaState::Waiting)
        .collect();
    assert_eq!(waiting.len(), 1, "announced once: {waiting:?}");
    assert!(waiting[0].detail.contains("battery 2.0.0"), "{waiting:?}");

    client.waker().poll_now();
    client.cycle(&stop()).unwrap();
    let cf = fake.confirmation_feedback(id);
    assert_eq!(cf.len(), 1);
    assert_eq!(cf[0]["confirmation"], "confirmed");
    client.cycle(&stop()).unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(fake.status(id), ActionStatus::Closed { success: true });
}

#[test]
fn an_installed_base_that_disagrees_with_the_running_versions_is_raised_once() {
    for (running, diverged) in [("1.0.0", true), ("2.0.0", false)] {
        let fake = DdiFake::start(DEVICE);
        let tmp = tempfile::tempdir().unwrap();
        let id = fake.add_installed(battery_action());
        let (mut inst, calls) = Recorder::new();
        inst.versions.insert("battery".into(), running.into());
        let (tx, rx) = std::sync::mpsc::channel();
        let mut client = Client::new(config(&fake, tmp.path()), inst)
            .unwrap()
            .with_events(tx);
        client.cycle(&stop()).unwrap();
        client.cycle(&stop()).unwrap();
        let events: Vec<_> = rx
            .try_iter()
            .filter(|e| e.state == OtaState::Diverged)
            .collect();
        let gets = fake
            .requests()
            .iter()
            .filter(|r| r.path.ends_with(&format!("/installedBase/{id}")))
            .count();
        assert_eq!(gets, 1, "fetched once for the same link and versions");
        assert!(calls.lock().unwrap().is_empty());
        if diverged {
            assert_eq!(events.len(), 1, "{events:?}");
            assert_eq!(events[0].action.as_deref(), Some(id.to_string().as_str()));
            assert!(
                events[0].detail.contains("battery runs 1.0.0, not 2.0.0"),
                "{events:?}"
            );
        } else {
            assert!(events.is_empty(), "{events:?}");
        }
    }
}

#[test]
fn a_client_sleeping_the_servers_hour_polls_again_when_woken() {
    let fake = DdiFake::start(DEVICE);
    fake.set_sleep("01:00:00");
    let tmp = tempfile::tempdir().unwrap();
    let (mut client, calls) = recorded_client(&fake, tmp.path(), |_| {});
    let waker = client.waker();
    let stop = Arc::new(AtomicBool::new(false));
    let run = {
        let stop = stop.clone();
        std::thread::spawn(move || client.run(&stop))
    };

    wait_until("first poll", || fake.polls() == 1);
    // The server said one hour: nothing more comes by itself.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(fake.polls(), 1);

    waker.poll_now();
    wait_until("poll after the wake", || fake.polls() == 2);
    waker.clone().poll_now();
    wait_until("poll after a second wake", || fake.polls() == 3);

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    run.join().unwrap();
    assert_eq!(fake.polls(), 3, "one poll per wake");
    assert!(calls.lock().unwrap().is_empty(), "nothing was offered");
}
