//! Fetching every artifact of a deployment into the action's directory
//! (one sub-directory per chunk), with throttled progress feedback, and
//! turning the files into targets: a chunk's library, or the images of an
//! SWU bundle. A file `X.sig` beside `X` travels with it as its signature.

use crate::client::{OtaEvent, OtaState};
use crate::ddi::{DeploymentBase, Execution, Feedback, Finished};
use crate::download::{self, DownloadError, Expected};
use crate::server::{Core, post_feedback};
use crate::state::Target;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

impl Core {
    /// Downloads every artifact of the deployment; returns the targets with
    /// their libraries (SWU bundles unpacked into theirs). `stopped()` ends
    /// the download between two reads.
    pub(crate) fn download_all(
        &mut self,
        db: &DeploymentBase,
        stopped: &dyn Fn() -> bool,
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
        let feedback_url = self
            .cfg
            .controller_url(&["deploymentBase", &id, "feedback"]);
        for chunk in &db.deployment.chunks {
            let sub = chunk.subsystem().unwrap_or("unnamed").to_owned();
            download::check_plain_name(&sub)
                .map_err(|e| DownloadError::Io(format!("chunk name {e}")))?;
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
                let (http, limits, jitter) = (&self.http, &self.cfg.limits, &mut self.jitter);
                let mut fetch = |to: &std::path::Path| {
                    download::fetch(
                        http,
                        url,
                        to,
                        &expected,
                        limits,
                        jitter,
                        &mut progress,
                        stopped,
                    )
                };
                match &self.cfg.cache {
                    Some(cache) => cache.provide(&expected.hashes, &dest, fetch)?,
                    None => {
                        fetch(&dest)?;
                    }
                }
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

fn is_library_name(name: &str) -> bool {
    !name.ends_with(".sig") && !name.ends_with(".swu")
}
