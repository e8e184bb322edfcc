//! Vetting jobs: a candidate plugin library, uploaded over the API, replayed
//! against the library the fleet runs now (`[vet] current_dir`) on every
//! complete stored capture whose trace header lists its subsystem, with
//! `tcu_vet` (the same vetting as `tcu vet`).
//!
//! One worker thread runs the jobs one after another, so vetting never
//! takes a thread of the HTTP runtime and never competes with itself for
//! the machine; submissions beyond `[vet] queue` waiting jobs are refused.
//! Each job writes the candidate and the captures into a private temporary
//! directory (removed after), so the vetting reads files exactly as
//! `tcu vet` does on exported captures. Jobs live in memory: the last
//! `[vet] jobs_kept` finished ones are kept, none survives a restart.
//!
//! The twin runs each job in a child process of its own executable
//! (`tcu-twin vet-job`, [`Runner::Child`]): the candidate's code, which
//! nobody has vetted yet, cannot take the twin down by crashing, and the
//! library it loads (never unloaded once opened) leaves with the child.
//! Submitting needs a write token all the same. [`Runner::InProcess`] runs
//! the same [`vet_files`] on the worker thread (the unit tests, whose
//! executable is not the twin).

use crate::TwinError;
use crate::clock::{Clock, Millis, rfc3339};
use crate::config::VetConfig;
use crate::store::{CaptureQuery, Store};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Instant, SystemTime};
use tcu_engine::catalog::Catalog;
use tcu_engine::plugin::PluginLibrary;
use tcu_engine::plugin::find_libraries;
use tcu_vet::{Pair, Tolerances};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for the worker.
    Queued,
    /// Being vetted.
    Running,
    /// Within tolerance on every capture.
    Passed,
    /// Vetted, and not within tolerance (the report says where).
    Failed,
    /// The vetting could not run (the error says why).
    Error,
}

impl JobStatus {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Error => "error",
        }
    }

    fn finished(self) -> bool {
        matches!(self, Self::Passed | Self::Failed | Self::Error)
    }
}

/// One vetting job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Its number.
    pub id: u64,
    /// The subsystem vetted.
    pub subsystem: String,
    /// Where it is.
    pub status: JobStatus,
    /// Size of the candidate library.
    pub bytes: usize,
    /// When it was submitted.
    pub submitted: Millis,
    /// When it finished.
    pub finished: Option<Millis>,
    /// The captures it was vetted on (`VIN/id`).
    pub captures: Vec<String>,
    /// `tcu_vet`'s report (passed, failed).
    pub report: Option<Json>,
    /// Why it could not run (error).
    pub error: Option<String>,
}

impl Job {
    /// The API's JSON; the report only when `full`.
    pub fn to_json(&self, full: bool) -> Json {
        let mut j = json!({
            "job": self.id,
            "subsystem": self.subsystem,
            "status": self.status.as_str(),
            "bytes": self.bytes,
            "submitted": rfc3339(self.submitted),
            "finished": self.finished.map(rfc3339),
            "captures": self.captures,
            "error": self.error,
        });
        if full {
            j["report"] = self.report.clone().unwrap_or(Json::Null);
        }
        j
    }
}

/// Why a submission was refused (an answer to the client, like
/// [`crate::fleet::PatchError`], not a failure of the twin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitError {
    /// No current library of that subsystem.
    UnknownSubsystem {
        /// Asked for.
        subsystem: String,
        /// `[vet] current_dir`.
        dir: String,
        /// Those there are, comma-separated.
        known: String,
    },
    /// The upload is empty.
    Empty,
    /// The queue is full: this many jobs wait.
    Full(usize),
    /// The worker is gone.
    Stopped,
    /// The current libraries could not be read: why.
    Current(String),
}

impl SubmitError {
    /// What to tell the client.
    pub fn detail(&self) -> String {
        match self {
            Self::UnknownSubsystem {
                subsystem,
                dir,
                known,
            } => format!(
                "no current library of subsystem `{subsystem}` in {dir} (there are: {known})"
            ),
            Self::Empty => "the candidate library is empty".into(),
            Self::Full(n) => {
                format!("{n} vetting jobs are waiting already; try again when one has finished")
            }
            Self::Stopped => "the vetting worker has stopped".into(),
            Self::Current(why) => why.clone(),
        }
    }
}

struct Work {
    id: u64,
    subsystem: String,
    library: Vec<u8>,
}

#[derive(Debug, Default)]
struct Jobs {
    all: BTreeMap<u64, Job>,
    next: u64,
}

/// A current library, with what its file looked like when it was opened.
type Cached = (SystemTime, u64, Arc<PluginLibrary>);

/// A service and the receiving end of its queue.
type Built = (Arc<Vetting>, Receiver<Work>);

/// Where a job's candidate runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// On the worker thread, in this process.
    InProcess,
    /// In a child process: this twin executable's `vet-job` command.
    Child(PathBuf),
}

/// What a vetting of files gave: the report's JSON text and whether the
/// candidate passed.
pub type Vetted = (String, bool);

/// Vets `candidate` against `current` on `traces` with the tolerances of
/// `tolerances` (none: exact): what `tcu-twin vet-job` and the in-process
/// runner both do.
pub fn vet_files(
    current: &Path,
    candidate: &Path,
    traces: &[PathBuf],
    tolerances: Option<&Path>,
    catalog: &Arc<Catalog>,
) -> Result<Vetted, String> {
    let tolerances = match tolerances {
        Some(p) => Tolerances::load(p, catalog).map_err(|e| e.to_string())?,
        None => Tolerances::default(),
    };
    let current =
        PluginLibrary::open(current, catalog).map_err(|e| format!("the current library: {e}"))?;
    let candidate = PluginLibrary::open(candidate, catalog)
        .map_err(|e| format!("the candidate library: {e}"))?;
    let pair = Pair::new(Arc::new(current), Arc::new(candidate)).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let report = tcu_vet::vet(&pair, traces, &tolerances, catalog, &mut || start.elapsed())
        .map_err(|e| e.to_string())?;
    Ok((report.to_json(), report.passed))
}

/// Runs `tcu-twin vet-job` (`exe`) on the files; its report, or what it
/// said when it could not vet (exit 2) or died.
fn vet_in_child(
    exe: &Path,
    current: &Path,
    candidate: &Path,
    traces: &[PathBuf],
    tolerances: Option<&Path>,
) -> Result<Vetted, String> {
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("vet-job")
        .arg("--current")
        .arg(current)
        .arg("--candidate")
        .arg(candidate);
    if let Some(t) = tolerances {
        cmd.arg("--tolerances").arg(t);
    }
    let out = cmd
        .args(traces)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("starting {} vet-job: {e}", exe.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    match out.status.code() {
        Some(code @ (0 | 1)) => {
            let text = String::from_utf8(out.stdout)
                .map_err(|e| format!("the vetting's report is not text: {e}"))?;
            Ok((text, code == 0))
        }
        Some(_) => Err(if stderr.is_empty() {
            format!("the vetting failed ({})", out.status)
        } else {
            stderr
        }),
        None => Err(format!(
            "the vetting process died ({}): the candidate crashed it{}",
            out.status,
            if stderr.is_empty() {
                String::new()
            } else {
                format!("; it said: {stderr}")
            }
        )),
    }
}

/// The vetting service (see the module's documentation).
pub struct Vetting {
    cfg: VetConfig,
    dir: PathBuf,
    runner: Runner,
    catalog: Arc<Catalog>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    jobs: Mutex<Jobs>,
    tx: SyncSender<Work>,
    libraries: Mutex<HashMap<PathBuf, Cached>>,
}

impl std::fmt::Debug for Vetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vetting")
            .field("current_dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Vetting {
    /// Starts the worker; `None` when `[vet] current_dir` is not set. The
    /// tolerance file is read now, so a bad one stops the twin at start.
    pub fn start(
        cfg: &VetConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        catalog: Arc<Catalog>,
        runner: Runner,
    ) -> Result<Option<Arc<Self>>, TwinError> {
        let Some((me, rx)) = Self::build(cfg, store, clock, catalog, runner)? else {
            return Ok(None);
        };
        let weak = Arc::downgrade(&me);
        std::thread::Builder::new()
            .name("twin-vet".into())
            .spawn(move || worker(&weak, &rx))
            .map_err(|e| TwinError::Io {
                path: "vetting worker thread".into(),
                source: e,
            })?;
        Ok(Some(me))
    }

    /// The service and the receiving end of its queue, no worker yet.
    fn build(
        cfg: &VetConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        catalog: Arc<Catalog>,
        runner: Runner,
    ) -> Result<Option<Built>, TwinError> {
        let Some(dir) = cfg.current_dir.clone() else {
            return Ok(None);
        };
        // Read now, so a bad file stops the twin at start; each job reads
        // it again (the child process needs the file, not this value).
        if let Some(p) = &cfg.tolerances {
            Tolerances::load(p, &catalog).map_err(|e| {
                TwinError::Config(tcu_engine::config::ConfigError::invalid(
                    "configuration",
                    "vet.tolerances",
                    e.to_string(),
                ))
            })?;
        }
        let (tx, rx) = mpsc::sync_channel(cfg.queue);
        let me = Arc::new(Self {
            cfg: cfg.clone(),
            dir,
            runner,
            catalog,
            store,
            clock,
            jobs: Mutex::new(Jobs::default()),
            tx,
            libraries: Mutex::new(HashMap::new()),
        });
        Ok(Some((me, rx)))
    }

    /// Largest upload taken.
    pub fn max_upload(&self) -> usize {
        self.cfg.max_upload_bytes
    }

    /// The current libraries by subsystem, re-opening a file only when it
    /// changed since it was last opened (blocking: reads the directory).
    pub fn current(&self) -> Result<BTreeMap<String, Arc<PluginLibrary>>, String> {
        let files = find_libraries(&self.dir)
            .map_err(|e| format!("[vet] current_dir {}: {e}", self.dir.display()))?;
        let mut cache = lock(&self.libraries);
        cache.retain(|p, _| files.contains(p));
        let mut out = BTreeMap::new();
        for path in files {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let stamp = (
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                meta.len(),
            );
            let fresh = cache
                .get(&path)
                .filter(|c| (c.0, c.1) == stamp)
                .map(|c| c.2.clone());
            let lib = match fresh {
                Some(lib) => lib,
                None => match PluginLibrary::open(&path, &self.catalog) {
                    Ok(lib) => {
                        let lib = Arc::new(lib);
                        cache.insert(path.clone(), (stamp.0, stamp.1, lib.clone()));
                        lib
                    }
                    Err(e) => {
                        tracing::warn!("[vet] current library {}: {e}", path.display());
                        continue;
                    }
                },
            };
            out.insert(lib.name().to_owned(), lib);
        }
        Ok(out)
    }

    /// Queues a job vetting `library` as the candidate for `subsystem`
    /// (blocking: reads the current libraries).
    pub fn submit(&self, subsystem: &str, library: Vec<u8>) -> Result<Job, SubmitError> {
        if library.is_empty() {
            return Err(SubmitError::Empty);
        }
        let current = self.current().map_err(SubmitError::Current)?;
        if !current.contains_key(subsystem) {
            return Err(SubmitError::UnknownSubsystem {
                subsystem: subsystem.to_owned(),
                dir: self.dir.display().to_string(),
                known: current.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        }
        let mut jobs = lock(&self.jobs);
        jobs.next += 1;
        let id = jobs.next;
        let job = Job {
            id,
            subsystem: subsystem.to_owned(),
            status: JobStatus::Queued,
            bytes: library.len(),
            submitted: self.clock.now_ms(),
            finished: None,
            captures: Vec::new(),
            report: None,
            error: None,
        };
        let work = Work {
            id,
            subsystem: subsystem.to_owned(),
            library,
        };
        // In before it is sent: the worker may start it at once.
        jobs.all.insert(id, job.clone());
        let refused = match self.tx.try_send(work) {
            Ok(()) => None,
            Err(TrySendError::Full(_)) => Some(SubmitError::Full(self.cfg.queue)),
            Err(TrySendError::Disconnected(_)) => Some(SubmitError::Stopped),
        };
        if let Some(e) = refused {
            jobs.all.remove(&id);
            return Err(e);
        }
        tracing::info!(job = id, subsystem, bytes = job.bytes, "vetting job queued");
        Ok(job)
    }

    /// Job `id`, if kept.
    pub fn job(&self, id: u64) -> Option<Job> {
        lock(&self.jobs).all.get(&id).cloned()
    }

    /// Every kept job, oldest first.
    pub fn jobs(&self) -> Vec<Job> {
        lock(&self.jobs).all.values().cloned().collect()
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut Job)) {
        let mut jobs = lock(&self.jobs);
        if let Some(j) = jobs.all.get_mut(&id) {
            f(j);
        }
        // Forget the oldest finished jobs beyond the limit.
        let finished: Vec<u64> = jobs
            .all
            .values()
            .filter(|j| j.status.finished())
            .map(|j| j.id)
            .collect();
        let excess = finished.len().saturating_sub(self.cfg.jobs_kept);
        for old in finished.into_iter().take(excess) {
            jobs.all.remove(&old);
        }
    }

    /// Runs one job: the report and whether it passed, or why it could
    /// not run.
    fn run(&self, w: &Work, captures: &mut Vec<String>) -> Result<(Json, bool), String> {
        let current = self.current()?;
        let current = current.get(&w.subsystem).cloned().ok_or_else(|| {
            format!(
                "the current library of `{}` is no longer in {}",
                w.subsystem,
                self.dir.display()
            )
        })?;
        let stored = self
            .store
            .captures(&CaptureQuery {
                subsystem: Some(w.subsystem.clone()),
                complete: true,
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
        if stored.is_empty() {
            return Err(format!(
                "no complete capture lists subsystem `{}`: nothing to vet on",
                w.subsystem
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("tcu-twin-vet-")
            .tempdir()
            .map_err(|e| format!("creating a temporary directory: {e}"))?;
        let candidate = dir.path().join(format!(
            "candidate-{}.{}",
            w.id,
            std::env::consts::DLL_EXTENSION
        ));
        write(&candidate, w.library.as_slice())?;
        let mut traces = Vec::with_capacity(stored.len());
        for c in &stored {
            let file = match self.store.capture_file(&c.vin, &c.meta.id) {
                Ok(Some((_, Some(file)))) => file,
                // Pruned meanwhile.
                Ok(_) => continue,
                Err(e) => return Err(e.to_string()),
            };
            let path = dir
                .path()
                .join(format!("capture-{}-{}.trace", c.vin, c.meta.id));
            write(&path, file.as_bytes())?;
            traces.push(path);
            captures.push(format!("{}/{}", c.vin, c.meta.id));
        }
        if traces.is_empty() {
            return Err(format!(
                "no complete capture lists subsystem `{}`: nothing to vet on",
                w.subsystem
            ));
        }
        let tolerances = self.cfg.tolerances.as_deref();
        let (text, passed) = match &self.runner {
            Runner::InProcess => vet_files(
                current.path(),
                &candidate,
                &traces,
                tolerances,
                &self.catalog,
            )?,
            Runner::Child(exe) => {
                vet_in_child(exe, current.path(), &candidate, &traces, tolerances)?
            }
        };
        // Files are named after the job's directory, which is gone after.
        let prefix = format!("{}/", dir.path().display());
        let text = text.replace(&prefix, "");
        let json = serde_json::from_str(&text).map_err(|e| format!("the report: {e}"))?;
        Ok((json, passed))
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn worker(me: &Weak<Vetting>, rx: &Receiver<Work>) {
    while let Ok(w) = rx.recv() {
        let Some(v) = me.upgrade() else { return };
        v.update(w.id, |j| j.status = JobStatus::Running);
        tracing::info!(job = w.id, subsystem = %w.subsystem, "vetting");
        let mut captures = Vec::new();
        // A panic of the vetting itself ends this job, not the worker (the
        // jobs after it would wait for ever).
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| v.run(&w, &mut captures)))
                .unwrap_or_else(|_| Err("the vetting panicked (see the twin's log)".into()));
        let now = v.clock.now_ms();
        v.update(w.id, |j| {
            j.finished = Some(now);
            j.captures = captures;
            match outcome {
                Ok((report, passed)) => {
                    j.status = if passed {
                        JobStatus::Passed
                    } else {
                        JobStatus::Failed
                    };
                    j.report = Some(report);
                }
                Err(e) => {
                    j.status = JobStatus::Error;
                    j.error = Some(e);
                }
            }
            tracing::info!(
                job = j.id,
                status = j.status.as_str(),
                "vetting job finished"
            );
        });
    }
}

#[cfg(test)]
mod tests;
