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
    let v = Vetting::start(&cfg, store, Arc::new(ManualClock::new(0)), catalog).unwrap();
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
    assert!(e.to_string().contains("`battery`"), "{e}");
    assert_eq!(
        v.submit("battery", Vec::new()).unwrap_err(),
        SubmitError::Empty
    );
    assert!(v.jobs().is_empty());
}

#[test]
fn a_job_with_no_capture_of_its_subsystem_ends_in_error_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("plugins");
    std::fs::create_dir(&current).unwrap();
    let name = tcu_integration_tests::fixtures::library_file_name("tcu_plugin_battery");
    let built = tcu_integration_tests::fixtures::workspace_plugins_dir().join(&name);
    std::fs::copy(&built, current.join(&name)).unwrap();
    let v = service(&current, &dir.path().join("t.db"));
    let library = std::fs::read(&built).unwrap();
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
