//! Loading every plugin in a directory: each library is admitted or rejected
//! on its own, so one bad file never stops the others.

use super::{LoadError, PluginInstance, PluginLibrary};
use crate::bus::{Bus, Writer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tcu_sdk::rng::derive_seed;

/// A library that was not admitted, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub error: LoadError,
}

/// The outcome of loading a directory.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Admitted instances, in file-name order.
    pub plugins: Vec<PluginInstance>,
    /// Refused files.
    pub rejected: Vec<Rejection>,
}

/// Shared libraries in `dir` (by the platform's extension), sorted by name so
/// that loading, and thus who wins a contested signal, is reproducible.
pub fn find_libraries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file()
            && path
                .extension()
                .is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
        {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Admits one library: checks, writer conflicts, `create`, then claims its
/// signals on the bus.
pub fn admit(
    path: &Path,
    bus: &mut Bus,
    seed: u64,
    loaded: &[PluginInstance],
) -> Result<PluginInstance, LoadError> {
    let lib = PluginLibrary::open(path, bus.catalog())?;
    admit_library(lib, bus, seed, loaded)
}

/// As [`admit`], for a library already opened.
pub fn admit_library(
    lib: PluginLibrary,
    bus: &mut Bus,
    seed: u64,
    loaded: &[PluginInstance],
) -> Result<PluginInstance, LoadError> {
    admit_shared(&Arc::new(lib), bus, seed, loaded)
}

/// As [`admit`], for a library shared with other vehicles: a new instance
/// of its code (its own state) on `bus`, the library itself loaded once.
pub fn admit_shared(
    lib: &Arc<PluginLibrary>,
    bus: &mut Bus,
    seed: u64,
    loaded: &[PluginInstance],
) -> Result<PluginInstance, LoadError> {
    if let Some(other) = loaded.iter().find(|p| p.name() == lib.name()) {
        return Err(LoadError::DuplicateSubsystem {
            path: lib.path().to_owned(),
            plugin: lib.name().to_owned(),
            other: other.library().path().to_owned(),
        });
    }
    let me = Writer::Plugin(lib.name().to_owned());
    for id in lib.writes() {
        if let Some(owner) = bus.owner_conflict(*id, &me) {
            return Err(LoadError::SecondWriter {
                path: lib.path().to_owned(),
                plugin: lib.name().to_owned(),
                signal: bus.meta(*id).path.clone(),
                owner: owner.to_string(),
            });
        }
    }
    let writes = lib.writes().to_vec();
    let plugin_seed = derive_seed(seed, lib.name());
    let instance = PluginInstance::create(lib.clone(), plugin_seed)?;
    for id in writes {
        // Conflicts were ruled out above.
        let _ = bus.claim(id, me.clone());
    }
    Ok(instance)
}

/// Opens every library in `dir` once, for vehicles to share (see
/// [`admit_shared`]); each bad file is reported in the rejections. Fails
/// only when the directory itself cannot be read.
pub fn open_dir(
    dir: &Path,
    catalog: &crate::catalog::Catalog,
) -> std::io::Result<(Vec<Arc<PluginLibrary>>, Vec<Rejection>)> {
    let mut libs = Vec::new();
    let mut rejected = Vec::new();
    for path in find_libraries(dir)? {
        match PluginLibrary::open(&path, catalog) {
            Ok(lib) => libs.push(Arc::new(lib)),
            Err(error) => rejected.push(Rejection { path, error }),
        }
    }
    Ok((libs, rejected))
}

/// Loads every library in `dir`. Fails only when the directory itself cannot
/// be read; each bad library is reported in [`LoadReport::rejected`].
pub fn load_dir(dir: &Path, bus: &mut Bus, seed: u64) -> std::io::Result<LoadReport> {
    let mut report = LoadReport::default();
    for path in find_libraries(dir)? {
        match admit(&path, bus, seed, &report.plugins) {
            Ok(p) => report.plugins.push(p),
            Err(error) => report.rejected.push(Rejection { path, error }),
        }
    }
    Ok(report)
}

/// As [`load_dir`], with some subsystems taken from other files: a library of
/// `dir` whose subsystem is in `overrides` is skipped, and the override file
/// is loaded instead (the plugin store's active versions). Overrides whose
/// subsystem has no library in `dir` are loaded as well.
pub fn load_dir_with(
    dir: &Path,
    overrides: &std::collections::BTreeMap<String, PathBuf>,
    bus: &mut Bus,
    seed: u64,
) -> std::io::Result<LoadReport> {
    let mut report = LoadReport::default();
    let mut paths = Vec::new();
    for path in find_libraries(dir)? {
        // Reading the descriptor runs no plugin code; a file that cannot be
        // read is kept so that admit() reports why.
        let replaced = super::inspect(&path).is_ok_and(|info| overrides.contains_key(&info.name));
        if !replaced {
            paths.push(path);
        }
    }
    paths.extend(overrides.values().cloned());
    for path in paths {
        match admit(&path, bus, seed, &report.plugins) {
            Ok(p) => report.plugins.push(p),
            Err(error) => report.rejected.push(Rejection { path, error }),
        }
    }
    Ok(report)
}
