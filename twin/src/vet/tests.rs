//! Submissions refused up front, and a job that has nothing to vet on.

use super::*;
use crate::clock::ManualClock;
use crate::store::sqlite::SqliteStore;
use std::time::Duration;

fn config(dir: &Path) -> VetConfig {
    VetConfig {
        current_dir: Some(dir.to_owned()),
        tolerances: None,
        max_upload_bytes: 1 << 20,
        jobs_kept: 2,
        queue: 4,
    }
}

fn service(current: &Path, db: &Path) -> Arc<Vetting> {
    let catalog = Arc::new(Catalog::builtin());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db, catalog.clone()).unwrap());
    Vetting::start(
        &config(current),
        store,
        Arc::new(ManualClock::new(1_000)),
        catalog,
        Runner::InProcess,
    )
    .unwrap()
    .expect("on with a current_dir")
}

fn wait_finished(v: &Vetting, id: u64) -> Job {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = v.job(id).expect("kept");
        if j.status.finished() {
            return j;
        }
        assert!(Instant::now() < deadline, "job {id} still {:?}", j.status);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn vetting_is_off_without_a_current_dir() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(Catalog::builtin());
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("t.db"), catalog.clone()).unwrap());
    let cfg = VetConfig {
        current_dir: None,
        ..config(dir.path())
    };
    let v = Vetting::start(
        &cfg,
        store,
        Arc::new(ManualClock::new(0)),
        catalog,
        Runner::InProcess,
    )
    .unwrap();
    assert!(v.is_none());
}

#[test]
fn an_unknown_subsystem_and_an_empty_library_are_refused_before_a_job_exists() {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("plugins");
    std::fs::create_dir(&current).unwrap();
    let v = service(&current, &dir.path().join("t.db"));
    let e = v.submit("battery", b"\x7fELF".to_vec()).unwrap_err();
    assert!(
        matches!(&e, SubmitError::UnknownSubsystem { subsystem, .. } if subsystem == "battery"),
        "{e:?}"
    );
    assert!(e.detail().contains("`battery`"), "{e:?}");
    assert_eq!(
        v.submit("battery", Vec::new()).unwrap_err(),
        SubmitError::Empty
    );
    assert!(v.jobs().is_empty());
}

/// A current directory in `dir` holding the workspace's battery library;
/// the library's bytes.
fn battery_current(dir: &Path) -> (PathBuf, Vec<u8>) {
    let current = dir.join("plugins");
    std::fs::create_dir(&current).unwrap();
    let name = tcu_integration_tests::fixtures::library_file_name("tcu_plugin_battery");
    let built = tcu_integration_tests::fixtures::workspace_plugins_dir().join(&name);
    std::fs::copy(&built, current.join(&name)).unwrap();
    (current, std::fs::read(&built).unwrap())
}

/// The service with no worker: jobs stay queued until `worker` runs.
fn idle(current: &Path, db: &Path, queue: usize) -> (Arc<Vetting>, Receiver<Work>) {
    let catalog = Arc::new(Catalog::builtin());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db, catalog.clone()).unwrap());
    let cfg = VetConfig {
        queue,
        ..config(current)
    };
    Vetting::build(
        &cfg,
        store,
        Arc::new(ManualClock::new(7)),
        catalog,
        Runner::InProcess,
    )
    .unwrap()
    .unwrap()
}

#[test]
fn a_full_queue_refuses_the_next_job_and_keeps_no_trace_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let (current, library) = battery_current(dir.path());
    let (v, _rx) = idle(&current, &dir.path().join("t.db"), 2);
    v.submit("battery", library.clone()).unwrap();
    v.submit("battery", library.clone()).unwrap();
    let e = v.submit("battery", library).unwrap_err();
    assert_eq!(e, SubmitError::Full(2));
    assert!(e.detail().contains("2 vetting jobs are waiting"), "{e:?}");
    let ids: Vec<u64> = v.jobs().iter().map(|j| j.id).collect();
    assert_eq!(ids, [1, 2]);
}

#[test]
fn finished_jobs_beyond_jobs_kept_are_forgotten_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (current, library) = battery_current(dir.path());
    let (v, rx) = idle(&current, &dir.path().join("t.db"), 4);
    for _ in 0..3 {
        v.submit("battery", library.clone()).unwrap();
    }
    let weak = Arc::downgrade(&v);
    let worker = std::thread::spawn(move || worker(&weak, &rx));
    wait_finished(&v, 3);
    let kept: Vec<(u64, JobStatus)> = v.jobs().iter().map(|j| (j.id, j.status)).collect();
    // jobs_kept = 2; each ended in error: no capture to vet on.
    assert_eq!(kept, [(2, JobStatus::Error), (3, JobStatus::Error)]);
    assert_eq!(v.job(1), None);
    drop(v);
    worker.join().unwrap();
}

#[test]
fn a_job_with_no_capture_of_its_subsystem_ends_in_error_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let (current, library) = battery_current(dir.path());
    let v = service(&current, &dir.path().join("t.db"));
    let job = v.submit("battery", library).unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    let done = wait_finished(&v, job.id);
    assert_eq!(done.status, JobStatus::Error);
    let error = done.error.unwrap_or_default();
    assert!(
        error.contains("no complete capture") && error.contains("`battery`"),
        "{error}"
    );
    assert_eq!(done.finished, Some(1_000));
}

#[test]
fn an_unreadable_tolerance_file_stops_the_start_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(Catalog::builtin());
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("t.db"), catalog.clone()).unwrap());
    let cfg = VetConfig {
        tolerances: Some(dir.path().join("missing.toml")),
        ..config(dir.path())
    };
    let e = Vetting::start(
        &cfg,
        store,
        Arc::new(ManualClock::new(0)),
        catalog,
        Runner::InProcess,
    )
    .unwrap_err();
    let e = e.to_string();
    assert!(
        e.contains("vet.tolerances") && e.contains("missing.toml"),
        "{e}"
    );
}
