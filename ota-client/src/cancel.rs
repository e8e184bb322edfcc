//! Cancels: answering `cancelAction` (accepted with `closed`+`success` and
//! the staged files removed before installation started, `rejected` after),
//! and watching for one while the action is busy.
//!
//! While artifacts download, a second thread polls the root every
//! `action_poll`; a `cancelAction` link stops the download between two
//! reads (or during a retry wait), and the cancel is then answered as one
//! that came before installation. While the installer runs, the installing
//! thread polls instead and rejects a cancel for the action.

use crate::client::OtaState;
use crate::ddi::{CancelBase, DeploymentBase, Execution, Feedback, Finished};
use crate::download::DownloadError;
use crate::server::{Core, get_poll, post_feedback};
use crate::state::{Stage, Target};
use crate::{OtaError, sleep_unless};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a download watched for cancels ended with.
pub(crate) struct Watched {
    /// The download's result (`Stopped` when a cancel or `stop` ended it).
    pub(crate) result: Result<Vec<Target>, DownloadError>,
    /// The `cancelAction` link seen while downloading.
    pub(crate) cancel: Option<String>,
}

impl Core {
    pub(crate) fn handle_cancel(&mut self, href: &str, installing: bool) -> Result<(), OtaError> {
        let c: CancelBase = self.get_json(href, "cancelAction")?;
        let stop_id = c.cancel_action.stop_id;
        let url = self
            .cfg
            .controller_url(&["cancelAction", &c.id, "feedback"]);
        let ours = self.current.as_ref().filter(|a| a.id == stop_id);
        let finished = ours.is_some_and(|a| a.stage == Stage::ReportRefused);
        let ours = ours.is_some();
        if (installing || finished) && ours {
            if self.rejected_cancels.insert(c.id.clone()) {
                let why = if finished {
                    "the action has already finished; it cannot be canceled"
                } else {
                    "installation has already started; it cannot be canceled"
                };
                let fb = Feedback::new(Execution::Rejected, Finished::None, None, vec![why.into()]);
                post_feedback(&self.http, &url, &fb, &self.cfg.limits)?;
                tracing::info!(action = %stop_id, "cancel rejected: {why}");
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

    pub(crate) fn poll_during_install(&mut self) {
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

    /// Downloads the deployment's artifacts while another thread polls the
    /// root for a cancel; a cancel stops the download.
    pub(crate) fn download_watching_cancel(
        &mut self,
        db: &DeploymentBase,
        stop: &AtomicBool,
    ) -> Watched {
        let http = self.http.clone();
        let url = self.cfg.base_url();
        let limit = self.cfg.limits.max_answer;
        let every = self.cfg.action_poll;
        let done = AtomicBool::new(false);
        let canceled = AtomicBool::new(false);
        let seen: Mutex<Option<String>> = Mutex::new(None);
        let result = std::thread::scope(|s| {
            let watch = || {
                let quiet = || done.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed);
                while !sleep_unless(every, &quiet) {
                    match get_poll(&http, &url, limit) {
                        Ok(p) => {
                            if let Some(link) = p.links.cancel_action {
                                tracing::info!("OTA: cancel requested while downloading");
                                *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(link.href);
                                canceled.store(true, Ordering::Relaxed);
                                return;
                            }
                        }
                        Err(e) => tracing::debug!("poll during the download: {e}"),
                    }
                }
            };
            if let Err(e) = std::thread::Builder::new()
                .name("ota-cancel-watch".into())
                .spawn_scoped(s, watch)
            {
                tracing::warn!("OTA: cannot watch for cancels during the download: {e}");
            }
            let stopped = || stop.load(Ordering::Relaxed) || canceled.load(Ordering::Relaxed);
            let result = self.download_all(db, &stopped);
            done.store(true, Ordering::Relaxed);
            result
        });
        Watched {
            result,
            cancel: seen.into_inner().unwrap_or_else(|p| p.into_inner()),
        }
    }
}
