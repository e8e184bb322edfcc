//! The first half of a swap, off the tick thread: signature, descriptor,
//! staging into the store, opening with the host's checks.

use super::sign::{self, SignError};
use super::store::{self, Store, sha256_hex};
use super::{PreparedSwap, Staged, SwapError};
use crate::catalog::Catalog;
use crate::config::HotswapConfig;
use crate::plugin::{self, PluginLibrary};
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
    let sig = match sign::verify_bytes(path, &bytes, &policy.keys) {
        Ok(()) => Some(std::fs::read(sign::sig_path(path)).map_err(|e| {
            SwapError::Io(format!("reading the signature of {}: {e}", path.display()))
        })?),
        Err(SignError::Unsigned { .. }) if policy.allow_unsigned => None,
        Err(SignError::NoTrustedKeys { .. }) if policy.allow_unsigned => None,
        Err(e) => return Err(e.into()),
    };
    // The descriptor is read from a copy named by content, never from the
    // caller's path: a file rewritten in place must not hit the loader's
    // cache of an older version.
    let sha = sha256_hex(&bytes);
    let incoming_dir = store.dir().join("incoming");
    std::fs::create_dir_all(&incoming_dir)
        .map_err(|e| SwapError::Io(format!("creating {}: {e}", incoming_dir.display())))?;
    let incoming = incoming_dir.join(format!(
        "{}.{}",
        &sha[..16],
        std::env::consts::DLL_EXTENSION
    ));
    crate::fsutil::write_atomic(&incoming, &bytes).map_err(|e| SwapError::Io(e.to_string()))?;
    let inspected = plugin::inspect(&incoming).map_err(|e| SwapError::Load(e.with_path(path)));
    let _ = std::fs::remove_file(&incoming);
    let info = inspected?;
    if let Some(expected) = subsystem
        && expected != info.name
    {
        return Err(SwapError::WrongSubsystem {
            path: path.to_owned(),
            expected: expected.to_owned(),
            found: info.name,
        });
    }
    // The name becomes part of a file name in the store: refused here
    // against the file it came from.
    store::check_name("subsystem name", &info.name, path)?;
    let entry = store.stage(&info.name, &info.version, &bytes, sig.as_deref())?;
    let staged_path = store.path_of(&entry);
    let library = PluginLibrary::open(&staged_path, catalog)
        .map_err(|e| SwapError::Load(e.with_path(path)))?;
    Ok(Staged {
        subsystem: info.name,
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
