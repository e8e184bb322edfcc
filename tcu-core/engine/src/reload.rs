//! On-demand reload of a plugin directory (the dashboard's reload key, and
//! the baseline of `tcu run --watch`): every library whose content changed
//! since it was last seen is swapped, in one transaction, through the same
//! path as an OTA update.

use crate::catalog::Catalog;
use crate::control::{ControlHandle, ControlMsg};
use crate::swap::store::{Store, sha256_hex};
use crate::swap::{PreparedSwap, SwapPolicy, prepare_one};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whether `p` names a shared library of this platform.
pub fn is_library(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
}

/// Content hashes of the libraries in `dir` (the baseline a reload or a
/// watch compares against).
pub fn hashes(dir: &Path) -> std::io::Result<HashMap<PathBuf, String>> {
    let mut seen = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if is_library(&path)
            && let Ok(bytes) = std::fs::read(&path)
        {
            seen.insert(path, sha256_hex(&bytes));
        }
    }
    Ok(seen)
}

/// On demand (the dashboard's reload key): swaps, in one transaction, every
/// library of a directory whose content changed since the last reload (or
/// since the reloader was made).
#[derive(Debug)]
pub struct Reloader {
    dir: PathBuf,
    seen: HashMap<PathBuf, String>,
    policy: SwapPolicy,
    catalog: Arc<Catalog>,
    store: Store,
}

impl Reloader {
    /// A reloader for `dir`, with its current content as the baseline.
    pub fn new(
        dir: &Path,
        policy: SwapPolicy,
        catalog: Arc<Catalog>,
        store: Store,
    ) -> std::io::Result<Self> {
        Ok(Self {
            dir: dir.to_owned(),
            seen: hashes(dir)?,
            policy,
            catalog,
            store,
        })
    }

    /// Prepares the changed libraries and sends them as one swap; returns
    /// how many changed (0: nothing sent).
    pub fn reload(&mut self, control: &ControlHandle) -> std::io::Result<usize> {
        let now = hashes(&self.dir)?;
        let mut libs = Vec::new();
        let mut failure = None;
        for (path, hash) in &now {
            if self.seen.get(path) == Some(hash) {
                continue;
            }
            match prepare_one(None, path, &self.policy, &self.catalog, &self.store) {
                Ok(staged) => libs.push(staged),
                Err(e) => failure = Some(e),
            }
        }
        self.seen = now;
        let n = libs.len() + usize::from(failure.is_some());
        if n > 0 {
            let prepared = match failure {
                Some(e) => Err(e),
                None => Ok(PreparedSwap { libs }),
            };
            let _ = control.send(ControlMsg::Swap {
                prepared,
                reply: None,
            });
        }
        Ok(n)
    }
}
