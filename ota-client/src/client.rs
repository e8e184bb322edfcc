//! The poll loop and the life of an action.
//!
//! One cycle: deliver the outcome of an action left over from before a
//! restart, poll (with `If-None-Match`), send configData when the server
//! asks, then handle a cancel or a deployment. The interval is the server's
//! `sleep` (or the configured override), shortened to `action_poll` while an
//! action is open so that a cancel is seen; failures back off exponentially
//! with jitter.
//!
//! An action goes `Downloading` → `Downloaded` → (waiting for the
//! maintenance window) → `Installing` → `Finished`, persisted at every step.
//! All chunks of an action are installed in one call of
//! [`Installer::install`], which the vehicle turns into one hot-swap
//! transaction; `closed`+`success` is sent only when it returns `Ok` (after
//! probation). While it runs, the client keeps polling and answers a cancel
//! with `rejected`.
//!
//! Chunk to subsystem: a chunk's `part` names the subsystem, unless it is a
//! generic hawkBit module type (`os`, `application`, ...), then its `name`.
//! An artifact that is an SWU bundle (`.swu`, as goosebit serves) is
//! unpacked instead, and each image of its `sw-description` names its
//! subsystem. A file `X.sig` beside `X` is its signature, checked by the
//! hot-swap step.

use crate::backoff::{Backoff, Jitter};
use crate::ddi::{
    CancelBase, ConfigData, DeploymentBase, Execution, Feedback, Finished, Handling, Poll, Window,
};
use crate::download::{self, DownloadError, Expected, Limits};
use crate::http::{Auth, Http};
use crate::state::{ActionState, Outcome, Stage, StateFile, Target};
use crate::{OtaError, sleep_unless};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Why an installation did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallError {
    /// Refused or rolled back; the old versions keep running.
    Failed(String),
    /// The installer could not finish (the vehicle stopped): the outcome is
    /// not known and is decided after the restart.
    Interrupted(String),
}

/// What installs verified artifacts: the vehicle's hot-swap.
pub trait Installer: Send {
    /// Installs `(subsystem, library)` pairs all together; blocks until the
    /// new versions passed probation (`Ok` with `(subsystem, version)`) or
    /// the transaction failed.
    fn install(
        &mut self,
        chunks: Vec<(String, PathBuf)>,
    ) -> Result<Vec<(String, String)>, InstallError>;
    /// Running subsystem versions.
    fn installed_versions(&self) -> BTreeMap<String, String>;
}

/// The client's state, as shown to the vehicle's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OtaState {
    /// Nothing to do.
    Idle,
    /// Fetching artifacts.
    Downloading,
    /// All artifacts verified.
    Downloaded,
    /// Waiting (download skipped, or the maintenance window is closed).
    Waiting,
    /// Swapping.
    Installing,
    /// Installed and passed probation.
    Succeeded,
    /// Failed; the old versions run.
    Failed,
    /// Canceled by the server.
    Canceled,
    /// The server is unreachable or misbehaves.
    Error,
}

/// One change of the client's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtaEvent {
    /// State.
    pub state: OtaState,
    /// Action id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// What happened.
    pub detail: String,
    /// Bytes done and total while downloading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<(u64, u64)>,
}

/// Everything the client needs to know.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Server base URL (`http://host:8080`), without the tenant.
    pub server: String,
    /// Tenant (`DEFAULT`).
    pub tenant: String,
    /// Controller id (the VIN by default).
    pub controller_id: String,
    /// Credentials.
    pub auth: Auth,
    /// Extra trusted CA (PEM).
    pub ca_file: Option<PathBuf>,
    /// Poll interval that overrides the server's (development).
    pub poll_override: Option<Duration>,
    /// Interval before the server said anything.
    pub default_poll: Duration,
    /// Interval while an action is open.
    pub action_poll: Duration,
    /// Where artifacts and the state file go.
    pub staging_dir: PathBuf,
    /// Download limits and retries.
    pub limits: Limits,
    /// Timeout of each connect, read and write.
    pub timeout: Duration,
    /// Least time between two progress feedbacks.
    pub progress_every: Duration,
    /// Attributes sent as configData (VIN, hwRevision, ...), beside the
    /// installed versions.
    pub attributes: BTreeMap<String, String>,
    /// First backoff step after a failed poll.
    pub backoff_base: Duration,
    /// Largest backoff step after failed polls.
    pub backoff_max: Duration,
    /// Seed of the jitter.
    pub seed: u64,
}

impl ClientConfig {
    /// Defaults around the four values that have none.
    pub fn new(server: &str, tenant: &str, controller_id: &str, staging_dir: PathBuf) -> Self {
        Self {
            server: server.trim_end_matches('/').to_owned(),
            tenant: tenant.to_owned(),
            controller_id: controller_id.to_owned(),
            auth: Auth::None,
            ca_file: None,
            poll_override: None,
            default_poll: Duration::from_secs(60),
            action_poll: Duration::from_secs(5),
            staging_dir,
            limits: Limits::default(),
            timeout: Duration::from_secs(30),
            progress_every: Duration::from_secs(2),
            attributes: BTreeMap::new(),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            seed: 1,
        }
    }

    /// `{server}/{tenant}/controller/v1/{controller}`.
    pub fn base_url(&self) -> String {
        format!(
            "{}/{}/controller/v1/{}",
            self.server, self.tenant, self.controller_id
        )
    }

    /// The state file inside the staging directory.
    pub fn state_path(&self) -> PathBuf {
        self.staging_dir.join("ota-state.json")
    }
}

/// A feedback reached the server, or the action is gone there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Delivered,
    Gone,
}

/// Everything but the installer (so polling can go on while it installs).
struct Core {
    cfg: ClientConfig,
    http: Http,
    state: StateFile,
    current: Option<ActionState>,
    etag: Option<String>,
    cached: Option<Poll>,
    server_sleep: Option<Duration>,
    jitter: Jitter,
    events: Option<mpsc::Sender<OtaEvent>>,
    config_sent: Option<BTreeMap<String, String>>,
    parked: Option<String>,
    last_closed: Option<String>,
    rejected_cancels: BTreeSet<String>,
}

/// The DDI client.
pub struct Client<I: Installer> {
    core: Core,
    installer: I,
    backoff: Backoff,
}

impl<I: Installer> std::fmt::Debug for Client<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.core.cfg.base_url())
            .field("current", &self.core.current)
            .finish()
    }
}

impl<I: Installer> Client<I> {
    /// A client; loads the persisted action, if any.
    pub fn new(cfg: ClientConfig, installer: I) -> Result<Self, OtaError> {
        let http = Http::new(&cfg.auth, cfg.ca_file.as_deref(), cfg.timeout)?;
        std::fs::create_dir_all(&cfg.staging_dir).map_err(|e| OtaError::Config {
            field: "ota.staging_dir".into(),
            message: format!("creating {}: {e}", cfg.staging_dir.display()),
        })?;
        let state = StateFile::new(cfg.state_path());
        let current = state.load();
        if let Some(a) = &current {
            tracing::info!(action = %a.id, stage = ?a.stage, "resuming the OTA action saved before the restart");
        }
        let backoff = Backoff::new(cfg.backoff_base, cfg.backoff_max);
        Ok(Self {
            core: Core {
                jitter: Jitter::new(cfg.seed),
                cfg,
                http,
                state,
                current,
                etag: None,
                cached: None,
                server_sleep: None,
                events: None,
                config_sent: None,
                parked: None,
                last_closed: None,
                rejected_cancels: BTreeSet::new(),
            },
            installer,
            backoff,
        })
    }

    /// Sends every state change to `tx` as well as to the log.
    pub fn with_events(mut self, tx: mpsc::Sender<OtaEvent>) -> Self {
        self.core.events = Some(tx);
        self
    }

    /// The open action, if any.
    pub fn current(&self) -> Option<&ActionState> {
        self.core.current.as_ref()
    }

    /// The installer.
    pub fn installer(&self) -> &I {
        &self.installer
    }

    /// Polls until `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool) {
        tracing::info!(server = %self.core.cfg.base_url(), "OTA client polling");
        while !stop.load(Ordering::Relaxed) {
            let wait = match self.cycle(stop) {
                Ok(d) => {
                    self.backoff.reset();
                    d
                }
                Err(e) => {
                    let d = self.backoff.next_delay(&mut self.core.jitter);
                    tracing::warn!(retry_in = ?d, "OTA: {e}");
                    let action = self.core.current.as_ref().map(|a| a.id.clone());
                    self.core.emit(OtaState::Error, action, e.to_string(), None);
                    d
                }
            };
            if sleep_unless(wait, &|| stop.load(Ordering::Relaxed)) {
                break;
            }
        }
    }

    /// One poll cycle; returns the time until the next.
    pub fn cycle(&mut self, stop: &AtomicBool) -> Result<Duration, OtaError> {
        self.flush_pending()?;
        let poll = self.core.poll()?;
        if let Some(s) = poll.sleep() {
            self.core.server_sleep = Some(s);
        }
        if let Some(link) = &poll.links.config_data {
            let versions = self.installer.installed_versions();
            if let Err(e) = self.core.put_config(&link.href, &versions) {
                tracing::warn!("OTA: sending configData: {e}");
            }
        }
        if let Some(link) = &poll.links.cancel_action {
            self.core.handle_cancel(&link.href, false)?;
        } else if let Some(link) = &poll.links.deployment_base {
            self.deployment(&link.href, stop)?;
        } else if let Some(a) = self.core.current.take() {
            tracing::info!(action = %a.id, "the server no longer offers the action; discarding it");
            self.core.discard(&a);
            self.core.parked = None;
        }
        Ok(self.core.next_interval())
    }

    /// Delivers what is owed from before (a restart): the outcome of an
    /// action that was installing, or a closing feedback not yet sent.
    fn flush_pending(&mut self) -> Result<(), OtaError> {
        let Some(a) = self.core.current.clone() else {
            return Ok(());
        };
        match a.stage {
            Stage::Installing => {
                let installed = self.installer.installed_versions();
                let ok = a.targets.iter().all(|t| {
                    t.version
                        .as_ref()
                        .is_some_and(|v| installed.get(&t.subsystem) == Some(v))
                });
                let running = describe_running(&a.targets, &installed);
                let outcome = if ok {
                    Outcome {
                        success: true,
                        details: vec![format!("restarted during installation; running {running}")],
                    }
                } else {
                    Outcome {
                        success: false,
                        details: vec![format!(
                            "interrupted by a restart before the new version passed probation; running {running}"
                        )],
                    }
                };
                self.core.finish(outcome)
            }
            Stage::Finished => self.core.deliver_outcome(),
            Stage::Downloading | Stage::Downloaded => Ok(()),
        }
    }

    fn deployment(&mut self, href: &str, stop: &AtomicBool) -> Result<(), OtaError> {
        if self.core.parked.as_deref() == Some(href) {
            return Ok(()); // nothing changed since we decided to wait
        }
        let db: DeploymentBase = self.core.get_json(href, "deploymentBase")?;
        let id = db.id.clone();
        if self.core.last_closed.as_deref() == Some(id.as_str()) {
            tracing::debug!(action = %id, "already closed; the server has not caught up yet");
            return Ok(());
        }
        if let Some(cur) = self.core.current.take() {
            if cur.id == id {
                self.core.current = Some(cur);
            } else {
                tracing::warn!(old = %cur.id, new = %id, "the server replaced the open action");
                self.core.discard(&cur);
            }
        }
        let d = &db.deployment;
        if d.download == Handling::Skip {
            self.core.parked = Some(href.to_owned());
            self.core.emit(
                OtaState::Waiting,
                Some(id),
                "the server says: do not download yet".into(),
                None,
            );
            return Ok(());
        }
        if self.core.current.is_none() {
            let targets = match chunk_targets(&db) {
                Ok(t) => t,
                Err(reason) => {
                    self.core.current = Some(ActionState {
                        id,
                        stage: Stage::Downloading,
                        targets: vec![],
                        outcome: None,
                    });
                    return self.core.finish(Outcome {
                        success: false,
                        details: vec![reason],
                    });
                }
            };
            let n: usize = d.chunks.iter().map(|c| c.artifacts.len()).sum();
            self.core.current = Some(ActionState {
                id: id.clone(),
                stage: Stage::Downloading,
                targets,
                outcome: None,
            });
            self.core.save();
            let fb = Feedback::new(
                Execution::Download,
                Finished::None,
                None,
                vec![format!("downloading {n} file(s)")],
            );
            if self.core.action_feedback(&id, &fb)? == Delivery::Gone {
                return Ok(());
            }
        }
        if self
            .core
            .current
            .as_ref()
            .is_some_and(|a| a.stage == Stage::Downloading)
        {
            self.core.emit(
                OtaState::Downloading,
                Some(id.clone()),
                "downloading".into(),
                None,
            );
            match self.core.download_all(&db, stop) {
                Ok(libs) => {
                    if let Some(a) = self.core.current.as_mut() {
                        a.targets = libs;
                        a.stage = Stage::Downloaded;
                    }
                    self.core.save();
                    let fb = Feedback::new(
                        Execution::Downloaded,
                        Finished::None,
                        None,
                        vec!["all files downloaded and verified".into()],
                    );
                    if self.core.action_feedback(&id, &fb)? == Delivery::Gone {
                        return Ok(());
                    }
                    self.core.emit(
                        OtaState::Downloaded,
                        Some(id.clone()),
                        "all files downloaded and verified".into(),
                        None,
                    );
                }
                Err(DownloadError::Stopped) => return Ok(()),
                Err(e) => {
                    return self.core.finish(Outcome {
                        success: false,
                        details: vec![format!("download failed: {e}"), old_keeps_running()],
                    });
                }
            }
        }
        if d.update == Handling::Skip || d.maintenance_window == Some(Window::Unavailable) {
            if self.core.parked.is_none() {
                let fb = Feedback::new(
                    Execution::Scheduled,
                    Finished::None,
                    None,
                    vec!["downloaded; waiting for the maintenance window".into()],
                );
                if self.core.action_feedback(&id, &fb)? == Delivery::Gone {
                    return Ok(());
                }
            }
            self.core.parked = Some(href.to_owned());
            self.core.emit(
                OtaState::Waiting,
                Some(id),
                "downloaded; waiting for the maintenance window".into(),
                None,
            );
            return Ok(());
        }
        self.core.parked = None;
        self.install(&id, stop)
    }

    fn install(&mut self, id: &str, stop: &AtomicBool) -> Result<(), OtaError> {
        let Some(a) = self.core.current.as_mut() else {
            return Ok(());
        };
        a.stage = Stage::Installing;
        let mut chunks = Vec::new();
        for t in &a.targets {
            match &t.library {
                Some(p) => chunks.push((t.subsystem.clone(), p.clone())),
                None => {
                    let reason = format!("no library was downloaded for {}", t.subsystem);
                    return self.core.finish(Outcome {
                        success: false,
                        details: vec![reason],
                    });
                }
            }
        }
        let what = describe_targets(&a.targets);
        self.core.save();
        let fb = Feedback::new(
            Execution::Proceeding,
            Finished::None,
            None,
            vec![format!("installing {what}")],
        );
        if self.core.action_feedback(id, &fb)? == Delivery::Gone {
            return Ok(());
        }
        self.core.emit(
            OtaState::Installing,
            Some(id.to_owned()),
            format!("installing {what}"),
            None,
        );
        let core = &mut self.core;
        let installer = &mut self.installer;
        let result = std::thread::scope(|s| {
            let (done_tx, done_rx) = mpsc::channel::<()>();
            let worker = std::thread::Builder::new()
                .name("ota-install".into())
                .spawn_scoped(s, move || {
                    let r = installer.install(chunks);
                    let _ = done_tx.send(());
                    r
                });
            let worker = match worker {
                Ok(w) => w,
                Err(e) => {
                    return Err(InstallError::Failed(format!(
                        "starting the installation: {e}"
                    )));
                }
            };
            // Keep polling while the swap runs: a cancel now is rejected.
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                done_rx.recv_timeout(core.cfg.action_poll)
            {
                if !stop.load(Ordering::Relaxed) {
                    core.poll_during_install();
                }
            }
            worker
                .join()
                .unwrap_or_else(|_| Err(InstallError::Failed("the installer panicked".into())))
        });
        match result {
            Ok(versions) => {
                let v: Vec<String> = versions.iter().map(|(s, v)| format!("{s} {v}")).collect();
                self.core.finish(Outcome {
                    success: true,
                    details: vec![format!("installed {}; passed probation", v.join(", "))],
                })
            }
            Err(InstallError::Failed(reason)) => self.core.finish(Outcome {
                success: false,
                details: vec![reason, old_keeps_running()],
            }),
            Err(InstallError::Interrupted(reason)) => {
                tracing::warn!(action = %id, "installation interrupted ({reason}); its outcome is reported after the restart");
                Ok(())
            }
        }
    }
}

fn old_keeps_running() -> String {
    "the previous version keeps running".into()
}

fn describe_targets(t: &[Target]) -> String {
    t.iter()
        .map(|t| match &t.version {
            Some(v) => format!("{} {v}", t.subsystem),
            None => t.subsystem.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_running(t: &[Target], installed: &BTreeMap<String, String>) -> String {
    t.iter()
        .map(|t| {
            format!(
                "{} {}",
                t.subsystem,
                installed.get(&t.subsystem).map_or("(not running)", |v| v)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Subsystems of a deployment, before download (SWU bundles are resolved
/// after download, from their sw-description).
fn chunk_targets(db: &DeploymentBase) -> Result<Vec<Target>, String> {
    if db.deployment.chunks.is_empty() {
        return Err("the deployment has no chunks".into());
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for c in &db.deployment.chunks {
        let sub = c
            .subsystem()
            .ok_or("a chunk has neither part nor name")?
            .to_owned();
        if !seen.insert(sub.clone()) {
            return Err(format!("subsystem `{sub}` appears in two chunks"));
        }
        out.push(Target {
            subsystem: sub,
            version: c.version.clone(),
            library: None,
        });
    }
    Ok(out)
}

fn is_library_name(name: &str) -> bool {
    !name.ends_with(".sig") && !name.ends_with(".swu")
}

impl Core {
    fn emit(
        &self,
        state: OtaState,
        action: Option<String>,
        detail: String,
        progress: Option<(u64, u64)>,
    ) {
        if progress.is_none() {
            tracing::info!(state = ?state, action = action.as_deref().unwrap_or("-"), "OTA: {detail}");
        }
        if let Some(tx) = &self.events {
            let _ = tx.send(OtaEvent {
                state,
                action,
                detail,
                progress,
            });
        }
    }

    fn save(&self) {
        if let Some(a) = &self.current
            && let Err(e) = self.state.save(a)
        {
            tracing::warn!(file = %self.state.path().display(), "saving the OTA state: {e}");
        }
    }

    fn action_dir(&self, id: &str) -> PathBuf {
        let safe = download::sanitize_file_name(id).unwrap_or_else(|_| "x".into());
        self.cfg.staging_dir.join(format!("action-{safe}"))
    }

    /// Forgets an action and its files.
    fn discard(&mut self, a: &ActionState) {
        let _ = std::fs::remove_dir_all(self.action_dir(&a.id));
        if let Err(e) = self.state.clear() {
            tracing::warn!("clearing the OTA state: {e}");
        }
        if self.current.as_ref().is_some_and(|c| c.id == a.id) {
            self.current = None;
        }
    }

    fn next_interval(&self) -> Duration {
        let base = self
            .cfg
            .poll_override
            .or(self.server_sleep)
            .unwrap_or(self.cfg.default_poll);
        if self.current.is_some() {
            base.min(self.cfg.action_poll)
        } else {
            base
        }
    }

    fn poll(&mut self) -> Result<Poll, OtaError> {
        let url = self.cfg.base_url();
        let mut req = self.http.get(&url);
        if let (Some(tag), Some(_)) = (&self.etag, &self.cached) {
            req = req.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        let resp = req.send().map_err(|e| OtaError::http("polling", &e))?;
        match resp.status().as_u16() {
            304 => {
                tracing::debug!("poll: not modified");
                Ok(self.cached.clone().unwrap_or_default())
            }
            200 => {
                let etag = resp
                    .headers()
                    .get(reqwest::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = resp.text().map_err(|e| OtaError::http("polling", &e))?;
                let poll: Poll = serde_json::from_str(&body).map_err(|e| OtaError::Parse {
                    what: "poll".into(),
                    message: e.to_string(),
                })?;
                self.etag = etag;
                self.cached = Some(poll.clone());
                Ok(poll)
            }
            status => Err(OtaError::Status {
                what: "polling".into(),
                status,
            }),
        }
    }

    /// GET with bounded retries on 409/429.
    fn get_json<T: serde::de::DeserializeOwned>(
        &mut self,
        url: &str,
        what: &str,
    ) -> Result<T, OtaError> {
        let mut busy = 0;
        loop {
            let resp = self
                .http
                .get(url)
                .send()
                .map_err(|e| OtaError::http(what, &e))?;
            let status = resp.status().as_u16();
            if matches!(status, 409 | 429) && busy < self.cfg.limits.busy_retries {
                busy += 1;
                std::thread::sleep(download::retry_after(&resp, self.cfg.limits.busy_wait));
                continue;
            }
            if status != 200 {
                return Err(OtaError::Status {
                    what: what.into(),
                    status,
                });
            }
            let body = resp.text().map_err(|e| OtaError::http(what, &e))?;
            return serde_json::from_str(&body).map_err(|e| OtaError::Parse {
                what: what.into(),
                message: e.to_string(),
            });
        }
    }

    fn put_config(
        &mut self,
        href: &str,
        versions: &BTreeMap<String, String>,
    ) -> Result<(), OtaError> {
        let mut data = self.cfg.attributes.clone();
        for (s, v) in versions {
            data.insert(format!("version.{s}"), v.clone());
        }
        if self.config_sent.as_ref() == Some(&data) {
            return Ok(());
        }
        let body = ConfigData {
            mode: "merge".into(),
            data: data.clone(),
        };
        let resp = self
            .http
            .put(href)
            .json(&body)
            .send()
            .map_err(|e| OtaError::http("sending configData", &e))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(OtaError::Status {
                what: "sending configData".into(),
                status,
            });
        }
        tracing::info!("OTA: configData sent ({} attributes)", data.len());
        self.config_sent = Some(data);
        Ok(())
    }

    fn action_feedback(&mut self, id: &str, fb: &Feedback) -> Result<Delivery, OtaError> {
        let url = format!("{}/deploymentBase/{id}/feedback", self.cfg.base_url());
        let d = post_feedback(&self.http, &url, fb, &self.cfg.limits)?;
        if d == Delivery::Gone && fb.status.execution != Execution::Closed {
            tracing::warn!(action = %id, "410 Gone: the server dropped the action");
            if let Some(a) = self.current.clone() {
                self.discard(&a);
            }
            self.parked = None;
            self.last_closed = Some(id.to_owned());
            self.emit(
                OtaState::Canceled,
                Some(id.to_owned()),
                "the server no longer knows the action (410)".into(),
                None,
            );
        }
        Ok(d)
    }

    /// Records the outcome, then delivers it.
    fn finish(&mut self, outcome: Outcome) -> Result<(), OtaError> {
        if let Some(a) = self.current.as_mut() {
            a.stage = Stage::Finished;
            a.outcome = Some(outcome);
        }
        self.save();
        self.deliver_outcome()
    }

    fn deliver_outcome(&mut self) -> Result<(), OtaError> {
        let Some(a) = self.current.clone() else {
            return Ok(());
        };
        let outcome = a.outcome.clone().unwrap_or(Outcome {
            success: false,
            details: vec!["outcome lost".into()],
        });
        let fb = Feedback::new(
            Execution::Closed,
            if outcome.success {
                Finished::Success
            } else {
                Finished::Failure
            },
            None,
            outcome.details.clone(),
        );
        self.action_feedback(&a.id, &fb)?;
        self.discard(&a);
        self.parked = None;
        self.last_closed = Some(a.id.clone());
        self.emit(
            if outcome.success {
                OtaState::Succeeded
            } else {
                OtaState::Failed
            },
            Some(a.id),
            outcome.details.join("; "),
            None,
        );
        Ok(())
    }

    fn handle_cancel(&mut self, href: &str, installing: bool) -> Result<(), OtaError> {
        let c: CancelBase = self.get_json(href, "cancelAction")?;
        let stop_id = c.cancel_action.stop_id;
        let url = format!("{}/cancelAction/{}/feedback", self.cfg.base_url(), c.id);
        let ours = self.current.as_ref().is_some_and(|a| a.id == stop_id);
        if installing && ours {
            if self.rejected_cancels.insert(c.id.clone()) {
                let fb = Feedback::new(
                    Execution::Rejected,
                    Finished::None,
                    None,
                    vec!["installation has already started; it cannot be canceled".into()],
                );
                post_feedback(&self.http, &url, &fb, &self.cfg.limits)?;
                tracing::info!(action = %stop_id, "cancel rejected: installation already started");
            }
            return Ok(());
        }
        let fb = Feedback::new(
            Execution::Closed,
            Finished::Success,
            None,
            vec![if ours {
                "canceled before installation; downloaded files removed".into()
            } else {
                "no such action running; nothing to cancel".into()
            }],
        );
        post_feedback(&self.http, &url, &fb, &self.cfg.limits)?;
        if let Some(a) = self.current.clone()
            && ours
        {
            self.discard(&a);
            self.parked = None;
        }
        self.last_closed = Some(stop_id.clone());
        self.emit(
            OtaState::Canceled,
            Some(stop_id),
            "canceled by the server".into(),
            None,
        );
        Ok(())
    }

    fn poll_during_install(&mut self) {
        let poll = match self.poll() {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!("poll during installation: {e}");
                return;
            }
        };
        if let Some(link) = &poll.links.cancel_action
            && let Err(e) = self.handle_cancel(&link.href, true)
        {
            tracing::warn!("OTA: answering a cancel during installation: {e}");
        }
    }

    /// Downloads every artifact of the deployment; returns the targets with
    /// their libraries (SWU bundles unpacked into theirs).
    fn download_all(
        &mut self,
        db: &DeploymentBase,
        stop: &AtomicBool,
    ) -> Result<Vec<Target>, DownloadError> {
        let id = db.id.clone();
        let total: u64 = db
            .deployment
            .chunks
            .iter()
            .map(|c| c.artifacts.len() as u64)
            .sum();
        let root = self.action_dir(&id);
        let mut done_files = 0u64;
        let mut targets = Vec::new();
        let feedback_url = format!("{}/deploymentBase/{id}/feedback", self.cfg.base_url());
        let stopped = || stop.load(Ordering::Relaxed);
        for chunk in &db.deployment.chunks {
            let sub = chunk.subsystem().unwrap_or("unnamed").to_owned();
            let dir = root.join(download::sanitize_file_name(&sub).map_err(DownloadError::Io)?);
            std::fs::create_dir_all(&dir)
                .map_err(|e| DownloadError::Io(format!("creating {}: {e}", dir.display())))?;
            let mut files = Vec::new();
            for art in &chunk.artifacts {
                let name =
                    download::sanitize_file_name(&art.filename).map_err(DownloadError::Io)?;
                let url = art.url().ok_or_else(|| {
                    DownloadError::Io(format!("{name}: the server gave no download link"))
                })?;
                let dest = dir.join(&name);
                let expected = Expected {
                    size: art.size,
                    hashes: art.hashes.clone(),
                };
                let mut last = Instant::now();
                let mut first = true;
                let (http, limits, every) = (
                    self.http.clone(),
                    self.cfg.limits.clone(),
                    self.cfg.progress_every,
                );
                let events = self.events.clone();
                let (action, fname) = (id.clone(), name.clone());
                let mut progress = |n: u64, of: Option<u64>| {
                    if !first && last.elapsed() < every {
                        return;
                    }
                    first = false;
                    last = Instant::now();
                    let pct = of.filter(|t| *t > 0).map(|t| n * 100 / t);
                    let detail = match pct {
                        Some(p) => format!("downloading {fname}: {p}% ({n} bytes)"),
                        None => format!("downloading {fname}: {n} bytes"),
                    };
                    let fb = Feedback::new(
                        Execution::Proceeding,
                        Finished::None,
                        Some((done_files, total)),
                        vec![detail.clone()],
                    );
                    if let Err(e) = post_feedback(&http, &feedback_url, &fb, &limits) {
                        tracing::debug!("progress feedback: {e}");
                    }
                    if let Some(tx) = &events {
                        let _ = tx.send(OtaEvent {
                            state: OtaState::Downloading,
                            action: Some(action.clone()),
                            detail,
                            progress: Some((n, of.unwrap_or(0))),
                        });
                    }
                };
                download::fetch(
                    &self.http,
                    url,
                    &dest,
                    &expected,
                    &self.cfg.limits,
                    &mut self.jitter,
                    &mut progress,
                    &stopped,
                )?;
                done_files += 1;
                files.push((name, dest));
            }
            let (swus, plain): (Vec<_>, Vec<_>) =
                files.into_iter().partition(|(n, _)| n.ends_with(".swu"));
            for (_, swu) in swus {
                let images = crate::swu::unpack(&swu, &dir, self.cfg.limits.max_size)
                    .map_err(|e| DownloadError::Io(format!("{}: {e}", swu.display())))?;
                for img in images {
                    targets.push(Target {
                        subsystem: img.name,
                        version: img.version,
                        library: Some(img.path),
                    });
                }
            }
            let libs: Vec<&(String, PathBuf)> =
                plain.iter().filter(|(n, _)| is_library_name(n)).collect();
            match libs.as_slice() {
                [] => {}
                [(_, p)] => targets.push(Target {
                    subsystem: sub.clone(),
                    version: chunk.version.clone(),
                    library: Some(p.clone()),
                }),
                more => {
                    return Err(DownloadError::Io(format!(
                        "chunk {sub} carries {} files that are not signatures; expected one library",
                        more.len()
                    )));
                }
            }
        }
        let mut seen = BTreeSet::new();
        for t in &targets {
            if !seen.insert(t.subsystem.clone()) {
                return Err(DownloadError::Io(format!(
                    "subsystem `{}` appears twice in the action",
                    t.subsystem
                )));
            }
        }
        if targets.is_empty() {
            return Err(DownloadError::Io("the action carries no library".into()));
        }
        Ok(targets)
    }
}

/// POSTs a feedback; bounded retries on 409/429; 410 is `Gone`.
fn post_feedback(
    http: &Http,
    url: &str,
    fb: &Feedback,
    limits: &Limits,
) -> Result<Delivery, OtaError> {
    let mut busy = 0;
    loop {
        let resp = http
            .post(url)
            .json(fb)
            .send()
            .map_err(|e| OtaError::http("sending feedback", &e))?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => return Ok(Delivery::Delivered),
            410 => return Ok(Delivery::Gone),
            409 | 429 if busy < limits.busy_retries => {
                busy += 1;
                std::thread::sleep(download::retry_after(&resp, limits.busy_wait));
            }
            _ => {
                return Err(OtaError::Status {
                    what: "sending feedback".into(),
                    status,
                });
            }
        }
    }
}

/// Where an action's files go (for tests and tools).
pub fn action_dir(staging: &Path, id: &str) -> PathBuf {
    let safe = download::sanitize_file_name(id).unwrap_or_else(|_| "x".into());
    staging.join(format!("action-{safe}"))
}
