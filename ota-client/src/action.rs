//! The life of one action: fetch its deploymentBase, download (watching for
//! a cancel), wait while the server or the soft-update policy says so, then
//! install every chunk in one call of [`Installer::install`] and close the
//! action with its outcome. Each step is persisted before it is announced.

use crate::OtaError;
use crate::client::{Client, InstallChunk, InstallError, Installer, OtaState, SoftUpdates};
use crate::ddi::{DeploymentBase, Execution, Feedback, Finished, Handling, Window};
use crate::download::{DownloadError, check_plain_name};
use crate::server::Delivery;
use crate::state::{ActionState, Outcome, Stage, Target};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

impl<I: Installer> Client<I> {
    pub(crate) fn deployment(&mut self, href: &str, stop: &AtomicBool) -> Result<(), OtaError> {
        if self.core.parked.as_deref() == Some(href) && !self.core.consent {
            return Ok(()); // nothing changed since we decided to wait
        }
        let db: DeploymentBase = self.core.get_json(href, "deploymentBase")?;
        let id = db.id.clone();
        let refused = self
            .core
            .current
            .as_ref()
            .is_some_and(|a| a.id == id && a.stage == Stage::ReportRefused);
        if refused || self.core.last_closed.as_deref() == Some(id.as_str()) {
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
                        feedback_refusals: 0,
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
                feedback_refusals: 0,
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
            let watched = self.core.download_watching_cancel(&db, stop);
            if let Some(cancel) = watched.cancel {
                // Installation has not started: the cancel is accepted and
                // the partial files go with the action.
                return self.core.handle_cancel(&cancel, false);
            }
            match watched.result {
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
        let hold =
            if d.update == Handling::Skip || d.maintenance_window == Some(Window::Unavailable) {
                Some("downloaded; waiting for the maintenance window")
            } else if d.update == Handling::Attempt
                && self.core.cfg.soft_updates == SoftUpdates::Defer
                && !self.core.consent
            {
                Some("downloaded; soft update waiting for the user or for the server to force it")
            } else {
                None
            };
        if let Some(reason) = hold {
            if self.core.parked.is_none() {
                let fb = Feedback::new(
                    Execution::Scheduled,
                    Finished::None,
                    None,
                    vec![reason.into()],
                );
                if self.core.action_feedback(&id, &fb)? == Delivery::Gone {
                    return Ok(());
                }
            }
            self.core.parked = Some(href.to_owned());
            self.core
                .emit(OtaState::Waiting, Some(id), reason.into(), None);
            return Ok(());
        }
        if d.update == Handling::Attempt && self.core.cfg.soft_updates == SoftUpdates::Defer {
            tracing::info!(action = %id, "OTA: the user approved the soft update");
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
                Some(p) => chunks.push(InstallChunk {
                    subsystem: t.subsystem.clone(),
                    version: t.version.clone(),
                    library: p.clone(),
                }),
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
            Err(InstallError::RollbackFailed(reason)) => self.core.finish(Outcome {
                success: false,
                details: vec![reason],
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

pub(crate) fn describe_running(t: &[Target], installed: &BTreeMap<String, String>) -> String {
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
        // The name becomes a directory of the action: nothing is made of
        // one that could lead elsewhere.
        check_plain_name(&sub).map_err(|e| format!("chunk name {e}"))?;
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
