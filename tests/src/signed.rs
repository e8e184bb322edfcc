//! A plugin directory whose libraries are all signed: with trusted keys
//! configured, the TCU runs only libraries that verify, those it loads at
//! start included, so a test that configures keys starts the vehicle from
//! such a directory.

use crate::fixtures::{WORKSPACE_PLUGIN_FILES, workspace_plugins_dir};
use std::path::{Path, PathBuf};

/// Copies the six workspace plugins into `dir` (created) and signs each
/// with the secret key in `key` (`LIB.sig` beside it); returns `dir`.
/// Panics with the failing file on error (test helper).
pub fn signed_plugins_dir(key: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let from = workspace_plugins_dir();
    for file in WORKSPACE_PLUGIN_FILES {
        let lib = dir.join(file);
        std::fs::copy(from.join(file), &lib)
            .unwrap_or_else(|e| panic!("copying {file} to {}: {e}", dir.display()));
        tcu_engine::swap::sign::sign_file(key, &lib)
            .unwrap_or_else(|e| panic!("signing {}: {e}", lib.display()));
    }
    dir.to_owned()
}
