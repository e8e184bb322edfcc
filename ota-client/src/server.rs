//! The client's side of the conversation with the DDI server, without the
//! installer: the poll (with `If-None-Match`), JSON fetches and feedback
//! with bounded retries on 409/429, configData, the persisted action and
//! its closing feedback, and the events the vehicle sees. Every answer is
//! read bounded (`Limits::max_answer`). Kept apart from
//! [`crate::client::Client`] so that polling can go on while the installer
//! runs on another thread.

use crate::OtaError;
use crate::client::{ClientConfig, OtaEvent, OtaState};
use crate::ddi::{self, ConfigData, Execution, Feedback, Finished, Poll};
use crate::download::{self, Limits};
use crate::http::{Http, read_bounded};
use crate::state::{ActionState, Outcome, Stage, StateFile};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use tcu_engine::backoff::Jitter;

/// A feedback reached the server, or the action is gone there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Delivered,
    Gone,
}

/// Everything but the installer (so polling can go on while it installs).
pub(crate) struct Core {
    pub(crate) cfg: ClientConfig,
    pub(crate) http: Http,
    pub(crate) state: StateFile,
    pub(crate) current: Option<ActionState>,
    pub(crate) etag: Option<String>,
    pub(crate) cached: Option<Poll>,
    pub(crate) server_sleep: Option<Duration>,
    pub(crate) jitter: Jitter,
    pub(crate) events: Option<mpsc::Sender<OtaEvent>>,
    pub(crate) config_sent: Option<BTreeMap<String, String>>,
    pub(crate) parked: Option<String>,
    pub(crate) last_closed: Option<String>,
    pub(crate) rejected_cancels: BTreeSet<String>,
    /// The user asked for this cycle's poll (consent for a soft update or
    /// a confirmation).
    pub(crate) consent: bool,
    /// Poll again soon (a confirmation was just sent).
    pub(crate) hurry: bool,
    /// Actions whose confirmation was denied (answered once).
    pub(crate) denied: BTreeSet<String>,
    /// The action announced as waiting for the user's confirmation.
    pub(crate) awaiting_user: Option<String>,
    /// The installedBase link and the versions last compared with it.
    pub(crate) installed_checked: Option<(String, BTreeMap<String, String>)>,
}

impl Core {
    pub(crate) fn emit(
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

    pub(crate) fn save(&self) {
        if let Some(a) = &self.current
            && let Err(e) = self.state.save(a)
        {
            tracing::warn!(file = %self.state.path().display(), "saving the OTA state: {e}");
        }
    }

    pub(crate) fn action_dir(&self, id: &str) -> PathBuf {
        action_dir(&self.cfg.staging_dir, id)
    }

    /// Forgets an action and its files.
    pub(crate) fn discard(&mut self, a: &ActionState) {
        let _ = std::fs::remove_dir_all(self.action_dir(&a.id));
        if let Err(e) = self.state.clear() {
            tracing::warn!("clearing the OTA state: {e}");
        }
        if self.current.as_ref().is_some_and(|c| c.id == a.id) {
            self.current = None;
        }
    }

    pub(crate) fn next_interval(&self) -> Duration {
        let base = self
            .cfg
            .poll_override
            .or(self.server_sleep)
            .unwrap_or(self.cfg.default_poll);
        let open = self
            .current
            .as_ref()
            .is_some_and(|a| a.stage != Stage::ReportRefused);
        if open || self.hurry {
            base.min(self.cfg.action_poll)
        } else {
            base
        }
    }

    pub(crate) fn poll(&mut self) -> Result<Poll, OtaError> {
        let etag = self.cached.as_ref().and(self.etag.as_deref());
        match fetch_poll(
            &self.http,
            &self.cfg.base_url(),
            etag,
            self.cfg.limits.max_answer,
        )? {
            None => {
                tracing::debug!("poll: not modified");
                Ok(self.cached.clone().unwrap_or_default())
            }
            Some((poll, etag)) => {
                self.etag = etag;
                self.cached = Some(poll.clone());
                Ok(poll)
            }
        }
    }

    /// GET with bounded retries on 409/429.
    pub(crate) fn get_json<T: serde::de::DeserializeOwned>(
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
            let body = read_bounded(
                resp,
                &format!("the {what} answer"),
                self.cfg.limits.max_answer,
            )?;
            return ddi::parse(what, &body);
        }
    }

    pub(crate) fn put_config(
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
        read_bounded(resp, "the configData answer", self.cfg.limits.max_answer)?;
        tracing::info!("OTA: configData sent ({} attributes)", data.len());
        self.config_sent = Some(data);
        Ok(())
    }

    pub(crate) fn action_feedback(
        &mut self,
        id: &str,
        fb: &Feedback,
    ) -> Result<Delivery, OtaError> {
        let url = self.cfg.controller_url(&["deploymentBase", id, "feedback"]);
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
    pub(crate) fn finish(&mut self, outcome: Outcome) -> Result<(), OtaError> {
        if let Some(a) = self.current.as_mut() {
            a.stage = Stage::Finished;
            a.outcome = Some(outcome);
        }
        self.save();
        self.deliver_outcome()
    }

    /// Sends the closing feedback of the current action. A refusal for
    /// good (a 4xx other than 410, or an answer too large to read) is
    /// counted in the persisted state and returned as an error, so the
    /// poll loop backs off before the next try; after
    /// `closing_feedback_tries` refusals the client gives up: the action is
    /// kept as `ReportRefused` (not sent again, not taken again, also after
    /// a restart) and polling goes on.
    pub(crate) fn deliver_outcome(&mut self) -> Result<(), OtaError> {
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
        let state = if outcome.success {
            OtaState::Succeeded
        } else {
            OtaState::Failed
        };
        match self.action_feedback(&a.id, &fb) {
            Ok(_) => {}
            Err(e) if refused_for_good(&e) => {
                let tries = a.feedback_refusals.saturating_add(1);
                let max = self.cfg.closing_feedback_tries.max(1);
                let gave_up = tries >= max;
                if let Some(c) = self.current.as_mut() {
                    c.feedback_refusals = tries;
                    if gave_up {
                        c.stage = Stage::ReportRefused;
                    }
                }
                self.save();
                if !gave_up {
                    tracing::warn!(action = %a.id, "OTA: closing feedback refused (try {tries} of {max}): {e}");
                    return Err(e);
                }
                self.parked = None;
                self.last_closed = Some(a.id.clone());
                let detail = format!(
                    "{}; the server refused this report {tries} times ({e}); it is not sent again",
                    outcome.details.join("; ")
                );
                tracing::warn!(action = %a.id, "OTA: giving up the closing feedback: {e}");
                self.emit(state, Some(a.id), detail, None);
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        self.discard(&a);
        self.parked = None;
        self.last_closed = Some(a.id.clone());
        self.emit(state, Some(a.id), outcome.details.join("; "), None);
        Ok(())
    }
}

/// Whether a feedback error will not go away by sending the same again
/// soon: a 4xx other than the busy (409, 429), timeout (408) and gone (410)
/// answers, or an answer too large to read.
fn refused_for_good(e: &OtaError) -> bool {
    match e {
        OtaError::Status { status, .. } => {
            (400..500).contains(status) && !matches!(status, 408 | 409 | 410 | 429)
        }
        OtaError::TooLarge { .. } => true,
        _ => false,
    }
}

/// GETs the root; `None` when the server answers 304 to `etag`, else the
/// poll with its ETag.
fn fetch_poll(
    http: &Http,
    url: &str,
    etag: Option<&str>,
    limit: u64,
) -> Result<Option<(Poll, Option<String>)>, OtaError> {
    let mut req = http.get(url);
    if let Some(tag) = etag {
        req = req.header(reqwest::header::IF_NONE_MATCH, tag);
    }
    let resp = req.send().map_err(|e| OtaError::http("polling", &e))?;
    match resp.status().as_u16() {
        304 if etag.is_some() => Ok(None),
        200 => {
            let etag = resp
                .headers()
                .get(reqwest::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = read_bounded(resp, "the poll answer", limit)?;
            Ok(Some((ddi::parse_poll(&body)?, etag)))
        }
        status => Err(OtaError::Status {
            what: "polling".into(),
            status,
        }),
    }
}

/// A poll without `If-None-Match`, for a thread beside the main loop (it
/// must not disturb the loop's ETag).
pub(crate) fn get_poll(http: &Http, url: &str, limit: u64) -> Result<Poll, OtaError> {
    Ok(fetch_poll(http, url, None, limit)?
        .map(|(p, _)| p)
        .unwrap_or_default())
}

/// POSTs a feedback; bounded retries on 409/429; 410 is `Gone`.
pub(crate) fn post_feedback(
    http: &Http,
    url: &str,
    fb: &impl serde::Serialize,
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
            200..=299 => {
                read_bounded(resp, "the feedback answer", limits.max_answer)?;
                return Ok(Delivery::Delivered);
            }
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

/// Where an action's files go (for tests and tools): `action-<id>` for a
/// plain id (every id the client accepts from a server is one), else
/// `action.<hex of the id>` (a `.` is in no plain id), so that two ids
/// never share a directory and none leaves the staging directory.
pub fn action_dir(staging: &Path, id: &str) -> PathBuf {
    match ddi::check_id(id) {
        Ok(()) => staging.join(format!("action-{id}")),
        Err(_) => staging.join(format!("action.{}", hex::encode(id.as_bytes()))),
    }
}
