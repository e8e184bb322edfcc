//! The first half of a swap, off the tick thread: signature, opening with
//! the host's checks (from a private copy of the verified bytes), staging
//! into the store.

use super::sign::{self, SignError};
use super::store::{self, Store};
use super::{PreparedSwap, Staged, SwapError};
use crate::catalog::Catalog;
use crate::config::HotswapConfig;
use crate::plugin::PluginLibrary;
use ed25519_dalek::VerifyingKey;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Which libraries may go in.
#[derive(Debug, Clone, Default)]
pub struct SwapPolicy {
    /// Keys whose signatures are accepted.
    pub keys: Vec<VerifyingKey>,
    /// Accept a library without a `.sig` file.
    pub allow_unsigned: bool,
}

impl SwapPolicy {
    /// From the `[hotswap]` configuration.
    pub fn from_config(h: &HotswapConfig) -> Result<Self, SignError> {
        Ok(Self {
            keys: sign::trusted_keys(&h.trusted_keys)?,
            allow_unsigned: h.allow_unsigned,
        })
    }

    /// Whether `bytes`, the content of `lib`, may run: `Some` with the
    /// signature file's content when a trusted key signed them, `None` when
    /// they are unsigned (or signed while no key is trusted) and unsigned
    /// libraries are allowed; an error otherwise. A bad signature is never
    /// allowed.
    pub fn check(&self, lib: &Path, bytes: &[u8]) -> Result<Option<Vec<u8>>, SignError> {
        match sign::verify_bytes(lib, bytes, &self.keys) {
            Ok(()) => {
                let sig = sign::sig_path(lib);
                std::fs::read(&sig).map(Some).map_err(|e| SignError::Io {
                    path: sig,
                    message: e.to_string(),
                })
            }
            Err(SignError::Unsigned { .. } | SignError::NoTrustedKeys { .. })
                if self.allow_unsigned =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Prepares one library. `subsystem`: the subsystem it must provide (`None`:
/// whatever its descriptor says, as `--watch` does).
pub fn prepare_one(
    subsystem: Option<&str>,
    path: &Path,
    policy: &SwapPolicy,
    catalog: &Catalog,
    store: &Store,
) -> Result<Staged, SwapError> {
    let bytes = std::fs::read(path)
        .map_err(|e| SwapError::Io(format!("reading {}: {e}", path.display())))?;
    let sig = policy.check(path, &bytes)?;
    // Opened from a private copy of the bytes just checked, never from the
    // caller's path again: what runs is what was verified.
    let library = PluginLibrary::open_bytes(path, &bytes, catalog)?;
    let info = library.info();
    if let Some(expected) = subsystem
        && expected != info.name
    {
        return Err(SwapError::WrongSubsystem {
            path: path.to_owned(),
            expected: expected.to_owned(),
            found: info.name.clone(),
        });
    }
    // The name becomes part of a file name in the store: refused here
    // against the file it came from.
    store::check_name("subsystem name", &info.name, path)?;
    let entry = store.stage(&info.name, &info.version, &bytes, sig.as_deref())?;
    let library = library.relabel(&store.path_of(&entry));
    Ok(Staged {
        subsystem: library.name().to_owned(),
        library,
        entry,
    })
}

/// Prepares a whole transaction; the first failure refuses all of it.
pub fn prepare(
    requests: &[(String, PathBuf)],
    policy: &SwapPolicy,
    catalog: &Catalog,
    store: &Store,
) -> Result<PreparedSwap, SwapError> {
    if requests.is_empty() {
        return Err(SwapError::Empty);
    }
    let mut seen = BTreeSet::new();
    for (subsystem, _) in requests {
        if !seen.insert(subsystem) {
            return Err(SwapError::Duplicate(subsystem.clone()));
        }
    }
    let libs = requests
        .iter()
        .map(|(subsystem, path)| prepare_one(Some(subsystem), path, policy, catalog, store))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PreparedSwap { libs })
}
