//! `tcu run --watch DIR`: the development loop. A rebuilt plugin library
//! written into the directory is hot-swapped through the same transaction as
//! an OTA update.
//!
//! Events are debounced (a library is considered written once it has been
//! quiet for [`DEBOUNCE`]), and a file whose content hash did not change
//! since it was last seen (a `touch`, or a rebuild that produced identical
//! bytes) does nothing. Files present when watching starts are taken as the
//! baseline, not swapped.

use notify::{RecursiveMode, Watcher};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tcu_engine::catalog::Catalog;
use tcu_engine::control::{ControlHandle, ControlMsg};
use tcu_engine::reload::{hashes, is_library};
use tcu_engine::swap::store::{Store, sha256_hex};
use tcu_engine::swap::{PreparedSwap, SwapPolicy, prepare_one};

/// Quiet time after the last write before a file is taken.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// The watch could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("watching {path}: {message}")]
pub struct WatchError {
    /// The directory.
    pub path: PathBuf,
    /// Why.
    pub message: String,
}

/// Starts watching `dir` on a thread of its own; swaps go to `control`.
/// Returns the watcher, which stops when dropped.
pub fn start(
    dir: &Path,
    policy: SwapPolicy,
    catalog: Arc<Catalog>,
    store: Store,
    control: ControlHandle,
) -> Result<notify::RecommendedWatcher, WatchError> {
    let werr = |e: &dyn std::fmt::Display| WatchError {
        path: dir.to_owned(),
        message: e.to_string(),
    };
    let seen = hashes(dir).map_err(|e| werr(&e))?;
    let (tx, rx) = mpsc::channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            for p in event.paths {
                if is_library(&p) {
                    let _ = tx.send(p);
                }
            }
        }
    })
    .map_err(|e| werr(&e))?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(|e| werr(&e))?;
    tracing::info!(dir = %dir.display(), "watching for rebuilt plugin libraries");
    std::thread::Builder::new()
        .name("tcu-watch".into())
        .spawn(move || debounce_loop(&rx, seen, &policy, &catalog, &store, &control))
        .map_err(|e| werr(&e))?;
    Ok(watcher)
}

fn debounce_loop(
    rx: &mpsc::Receiver<PathBuf>,
    mut seen: HashMap<PathBuf, String>,
    policy: &SwapPolicy,
    catalog: &Catalog,
    store: &Store,
    control: &ControlHandle,
) {
    let mut pending: HashMap<PathBuf, Instant> = HashMap::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(p) => {
                pending.insert(p, Instant::now());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let ready: Vec<PathBuf> = pending
            .iter()
            .filter(|(_, t)| t.elapsed() >= DEBOUNCE)
            .map(|(p, _)| p.clone())
            .collect();
        for path in ready {
            pending.remove(&path);
            let Ok(bytes) = std::fs::read(&path) else {
                continue; // removed again
            };
            let hash = sha256_hex(&bytes);
            if seen.get(&path) == Some(&hash) {
                tracing::debug!(file = %path.display(), "unchanged content; no swap");
                continue;
            }
            seen.insert(path.clone(), hash);
            tracing::info!(file = %path.display(), "plugin library changed; swapping");
            let prepared = prepare_one(None, &path, policy, catalog, store)
                .map(|staged| PreparedSwap { libs: vec![staged] });
            if control
                .send(ControlMsg::Swap {
                    prepared,
                    reply: None,
                })
                .is_err()
            {
                return;
            }
        }
    }
}
