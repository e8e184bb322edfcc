//! The poll loop and the life of an action.
//!
//! One cycle: deliver the outcome of an action left over from before a
//! restart, poll (with `If-None-Match`), send configData when the server
//! asks, then handle a cancel, a confirmation request or a deployment; when
//! the server offers none, compare its installedBase with the running
//! versions. The interval is the server's `sleep` (or the configured
//! override), shortened to `action_poll` while an action is open so that a
//! cancel is seen (and once after a confirmation, so the deployment follows
//! soon); failures back off exponentially with jitter. A [`Waker`] cuts the
//! wait short.
//!
//! The user's consent: a poll asked for with [`Waker::poll_now`] (the
//! dashboard's "poll OTA now" key) is the user's consent in the cycle it
//! starts. It is what [`SoftUpdates::Defer`] and [`Confirmation::User`] wait
//! for.
//!
//! Soft updates (`update: attempt`, where hawkBit leaves the decision to the
//! device): with [`SoftUpdates::Install`] (the default) they are installed
//! like forced ones; with [`SoftUpdates::Defer`] they are downloaded,
//! reported `downloaded` and `scheduled`, and installed when the user
//! consents or the server turns the action forced (its link changes). A
//! `download: attempt` is downloaded at once either way: fetching costs the
//! vehicle nothing. `update: skip` and a closed maintenance window hold any
//! update back, whatever the user says.
//!
//! Confirmation (`confirmationBase`, hawkBit's user-consent flow): see
//! [`Confirmation`]; the default confirms at once.
//!
//! An action goes `Downloading` → `Downloaded` → (waiting for the
//! maintenance window) → `Installing` → `Finished`, persisted at every step.
//! All chunks of an action are installed in one call of
//! [`Installer::install`], which the vehicle turns into one hot-swap
//! transaction; `closed`+`success` is sent only when it returns `Ok` (after
//! probation). While artifacts download, another thread polls for a
//! cancel, which stops the download and is accepted (`closed`+`success`,
//! partial files removed); while the installer runs, the client keeps
//! polling and answers a cancel with `rejected`.
//!
//! Chunk to subsystem: a chunk's `part` names the subsystem, unless it is a
//! generic hawkBit module type (`os`, `application`, ...), then its `name`.
//! An artifact that is an SWU bundle (`.swu`, as goosebit serves) is
//! unpacked instead, and each image of its `sw-description` names its
//! subsystem. A file `X.sig` beside `X` is its signature, checked by the
//! hot-swap step.
//!
//! The work is split by responsibility: this module holds the loop and the
//! types the vehicle sees; `action` the life of one action, `artifacts` the
//! downloads of a deployment, `cancel` the cancels, `server` the exchanges
//! with the server and the persisted state.

use crate::OtaError;
use crate::action::describe_running;
use crate::download::Limits;
use crate::http::{Auth, Http};
use crate::server::Core;
use crate::state::{ActionState, Outcome, Stage, StateFile};
use crate::wake::Waker;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;
use tcu_engine::backoff::{Backoff, Jitter};

/// Why an installation did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallError {
    /// Refused or rolled back; the old versions keep running.
    Failed(String),
    /// Failed, and rolling back failed too: the message says which new
    /// versions keep running.
    RollbackFailed(String),
    /// The installer could not finish (the vehicle stopped): the outcome is
    /// not known and is decided after the restart.
    Interrupted(String),
}

/// One verified library of an action, as the server announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallChunk {
    /// The subsystem the chunk (or SWU image) names.
    pub subsystem: String,
    /// The version the chunk (or SWU image) declares, if any.
    pub version: Option<String>,
    /// The downloaded, hash-verified library (its `.sig` beside it).
    pub library: PathBuf,
}

/// What installs verified artifacts: the vehicle's hot-swap.
pub trait Installer: Send {
    /// Installs the chunks all together; blocks until the new versions
    /// passed probation (`Ok` with `(subsystem, version)`) or the
    /// transaction failed. A chunk whose library disagrees with what the
    /// chunk declares fails the whole call before anything is installed.
    fn install(&mut self, chunks: Vec<InstallChunk>)
    -> Result<Vec<(String, String)>, InstallError>;
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
    /// The server's installedBase disagrees with the running versions.
    Diverged,
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

/// What to do with a soft update (`update: attempt`), where the server
/// leaves the decision to the device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SoftUpdates {
    /// Treat it like a forced update: install once downloaded.
    #[default]
    Install,
    /// Download it, report `downloaded` and `scheduled`, and install only
    /// when the user asks for a poll ([`crate::Waker::poll_now`]) or the
    /// server turns the action forced.
    Defer,
}

/// How to answer a server that asks for consent (`confirmationBase`)
/// before it offers an action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confirmation {
    /// Confirm at once.
    #[default]
    Auto,
    /// Confirm when the user asks for a poll ([`crate::Waker::poll_now`]);
    /// until then the action waits on the server.
    User,
    /// Deny (once per action; the server keeps it waiting).
    Deny,
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
    /// Soft updates: install at once or wait for the user.
    pub soft_updates: SoftUpdates,
    /// Answer to a confirmation request.
    pub confirmation: Confirmation,
    /// Tries of a closing feedback the server refuses (a 4xx other than
    /// 410) before the client gives up reporting that action.
    pub closing_feedback_tries: u32,
    /// A cache shared with other clients of this process (a fleet): an
    /// artifact is downloaded and verified once for all of them.
    pub cache: Option<std::sync::Arc<crate::cache::ArtifactCache>>,
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
            soft_updates: SoftUpdates::Install,
            confirmation: Confirmation::Auto,
            closing_feedback_tries: 3,
            cache: None,
        }
    }

    /// `{server}/{tenant}/controller/v1/{controller}`.
    pub fn base_url(&self) -> String {
        self.controller_url(&[])
    }

    /// `{server}/{tenant}/controller/v1/{controller}/{segments...}`, each
    /// of tenant, controller and `segments` escaped as one path segment
    /// (a `/`, `?` or `#` in one cannot change the URL's shape).
    pub fn controller_url(&self, segments: &[&str]) -> String {
        let mut all = vec![self.tenant.as_str(), "controller", "v1"];
        all.push(&self.controller_id);
        all.extend_from_slice(segments);
        match reqwest::Url::parse(&self.server) {
            Ok(mut url) if !url.cannot_be_a_base() => {
                if let Ok(mut path) = url.path_segments_mut() {
                    path.pop_if_empty().extend(all);
                }
                url.to_string()
            }
            // Not a URL: the client refuses such a server before it sends
            // anything; this only names it in messages.
            _ => format!("{}/{}", self.server, all.join("/")),
        }
    }

    /// The state file inside the staging directory.
    pub fn state_path(&self) -> PathBuf {
        self.staging_dir.join("ota-state.json")
    }
}

/// The DDI client.
pub struct Client<I: Installer> {
    pub(crate) core: Core,
    pub(crate) installer: I,
    backoff: Backoff,
    waker: Waker,
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
        let http = Http::new(&cfg.server, &cfg.auth, cfg.ca_file.as_deref(), cfg.timeout)?;
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
                consent: false,
                hurry: false,
                denied: BTreeSet::new(),
                awaiting_user: None,
                installed_checked: None,
            },
            installer,
            backoff,
            waker: Waker::new(),
        })
    }

    /// Sends every state change to `tx` as well as to the log.
    pub fn with_events(mut self, tx: mpsc::Sender<OtaEvent>) -> Self {
        self.core.events = Some(tx);
        self
    }

    /// A handle that makes the client poll at once, on the user's behalf.
    pub fn waker(&self) -> Waker {
        self.waker.clone()
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
            let wait = self.step(stop);
            if self.waker.sleep(wait, &|| stop.load(Ordering::Relaxed)) {
                break;
            }
        }
    }

    /// One cycle with its failure handling (backoff, an `Error` state);
    /// returns the time until the next. [`Client::run`] is this in a loop;
    /// a caller that polls many clients from a few threads calls it when
    /// each is due.
    pub fn step(&mut self, stop: &AtomicBool) -> Duration {
        match self.cycle(stop) {
            Ok(d) => {
                self.backoff.reset();
                d
            }
            Err(e) => {
                let d = self.backoff.next_delay(&mut self.core.jitter);
                tracing::warn!(retry_in = ?d, controller = %self.core.cfg.controller_id, "OTA: {e}");
                let action = self.core.current.as_ref().map(|a| a.id.clone());
                self.core.emit(OtaState::Error, action, e.to_string(), None);
                d
            }
        }
    }

    /// One poll cycle; returns the time until the next. A poll asked for
    /// with [`Waker::poll_now`] since the last cycle is the user's consent
    /// in this one.
    pub fn cycle(&mut self, stop: &AtomicBool) -> Result<Duration, OtaError> {
        self.core.consent = self.waker.take_user_request();
        self.core.hurry = false;
        if self.core.consent {
            tracing::info!("OTA: polling now, as the user asked");
        }
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
        } else if let Some(link) = &poll.links.confirmation_base {
            self.core.handle_confirmation(&link.href)?;
        } else if let Some(link) = &poll.links.deployment_base {
            self.deployment(&link.href, stop)?;
        } else {
            if let Some(a) = self.core.current.take() {
                tracing::info!(action = %a.id, "the server no longer offers the action; discarding it");
                self.core.discard(&a);
                self.core.parked = None;
            }
            if let Some(link) = &poll.links.installed_base {
                self.check_installed(&link.href);
            }
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
            Stage::Downloading | Stage::Downloaded | Stage::ReportRefused => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_urls_escape_each_segment() {
        let mut c = ClientConfig::new("http://h:8080/", "DEFAULT", "VIN1", PathBuf::from("/x"));
        assert_eq!(c.base_url(), "http://h:8080/DEFAULT/controller/v1/VIN1");
        assert_eq!(
            c.controller_url(&["deploymentBase", "7", "feedback"]),
            "http://h:8080/DEFAULT/controller/v1/VIN1/deploymentBase/7/feedback"
        );
        c.tenant = "a/b".into();
        c.controller_id = "x?y#z".into();
        assert_eq!(
            c.controller_url(&["cancelAction", "1 2"]),
            "http://h:8080/a%2Fb/controller/v1/x%3Fy%23z/cancelAction/1%202"
        );
        let prefixed = ClientConfig::new("https://h/hawkbit", "T", "C", PathBuf::from("/x"));
        assert_eq!(prefixed.base_url(), "https://h/hawkbit/T/controller/v1/C");
    }
}
