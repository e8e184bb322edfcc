//! The DDI client's test bench: a recording installer in place of the
//! vehicle, and a client of the DDI fake built with short timeouts and
//! retries, so the client tests (`tests/tests/ota_*.rs`) drive it cycle by
//! cycle without waiting on timers.

// Test helper: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use crate::ddi_fake::{ActionSpec, DdiFake, FakeArtifact, FakeChunk, TENANT};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tcu_ota_client::{Client, ClientConfig, InstallChunk, InstallError, Installer};

/// The controller id the tests use.
pub const DEVICE: &str = "WTCUZ000000000001";

/// Every install call: (subsystem, library path, library bytes) per chunk.
pub type Calls = Arc<Mutex<Vec<Vec<(String, PathBuf, Vec<u8>)>>>>;

/// Records every install (with the bytes of each library) and answers as
/// told.
pub struct Recorder {
    /// What was installed.
    pub calls: Calls,
    /// The answer to every install.
    pub answer: Result<(), InstallError>,
    /// The running versions (an install sets its subsystems to 2.0.0).
    pub versions: BTreeMap<String, String>,
    /// Run while installing (e.g. to ask for a cancel).
    pub during: Option<Box<dyn FnMut() + Send>>,
    /// How long an install takes.
    pub takes: Duration,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("answer", &self.answer)
            .field("versions", &self.versions)
            .field("takes", &self.takes)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Answers `Ok`; battery and abs run 1.0.0.
    pub fn new() -> (Self, Calls) {
        let calls = Calls::default();
        (
            Self {
                calls: calls.clone(),
                answer: Ok(()),
                versions: BTreeMap::from([
                    ("battery".to_owned(), "1.0.0".to_owned()),
                    ("abs".to_owned(), "1.0.0".to_owned()),
                ]),
                during: None,
                takes: Duration::ZERO,
            },
            calls,
        )
    }
}

impl Installer for Recorder {
    fn install(
        &mut self,
        chunks: Vec<InstallChunk>,
    ) -> Result<Vec<(String, String)>, InstallError> {
        let rec = chunks
            .iter()
            .map(|c| {
                let bytes = std::fs::read(&c.library).unwrap();
                (c.subsystem.clone(), c.library.clone(), bytes)
            })
            .collect();
        self.calls.lock().unwrap().push(rec);
        if let Some(f) = self.during.as_mut() {
            f();
        }
        std::thread::sleep(self.takes);
        self.answer.clone()?;
        Ok(chunks
            .into_iter()
            .map(|c| {
                self.versions.insert(c.subsystem.clone(), "2.0.0".into());
                (c.subsystem, "2.0.0".to_owned())
            })
            .collect())
    }

    fn installed_versions(&self) -> BTreeMap<String, String> {
        self.versions.clone()
    }
}

/// The client configuration for `fake`, staging in `staging`.
pub fn config(fake: &DdiFake, staging: &Path) -> ClientConfig {
    let mut c = ClientConfig::new(fake.url(), TENANT, DEVICE, staging.to_owned());
    c.action_poll = Duration::from_millis(50);
    c.limits.retries = 2;
    c.limits.busy_retries = 3;
    c.limits.busy_wait = Duration::from_millis(10);
    c.limits.backoff_base = Duration::from_millis(10);
    c.limits.backoff_max = Duration::from_millis(40);
    c.progress_every = Duration::from_millis(0);
    c.timeout = Duration::from_secs(5);
    c.attributes.insert("VIN".into(), DEVICE.into());
    c
}

/// A client of `fake` staging in `dir`, with a recording installer, its
/// configuration adjusted by `tweak`.
pub fn recorded_client(
    fake: &DdiFake,
    dir: &Path,
    tweak: impl FnOnce(&mut ClientConfig),
) -> (Client<Recorder>, Calls) {
    let (inst, calls) = Recorder::new();
    let mut cfg = config(fake, dir);
    tweak(&mut cfg);
    (Client::new(cfg, inst).unwrap(), calls)
}

/// `len` bytes of `tag` repeated (a stand-in library).
pub fn lib_bytes(tag: &str, len: usize) -> Vec<u8> {
    tag.bytes().cycle().take(len).collect()
}

/// A chunk of version 2.0.0.
pub fn chunk(part: &str, files: Vec<FakeArtifact>) -> FakeChunk {
    FakeChunk {
        part: part.into(),
        version: "2.0.0".into(),
        artifacts: files,
    }
}

/// A forced action with one battery library.
pub fn battery_action() -> ActionSpec {
    ActionSpec::forced(vec![chunk(
        "battery",
        vec![FakeArtifact::new(
            "libbattery.so",
            lib_bytes("battery-v2", 100_000),
        )],
    )])
}

/// A stop flag that is never set.
pub fn stop() -> AtomicBool {
    AtomicBool::new(false)
}

/// Waits (bounded) until `f` holds.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: not within 20 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
