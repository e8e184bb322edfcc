//! Loading every plugin in a directory: each library is admitted or rejected
//! on its own, so one bad file never stops the others.

use super::library::{Mapped, map, read};
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

/// A check of a library's bytes before it is opened (opening runs its
/// initialisers): called with the file and its content; an error, usually
/// [`LoadError::Refused`], refuses the library. The bytes that pass are the
/// bytes that are loaded.
pub type CheckBytes<'a> = &'a dyn Fn(&Path, &[u8]) -> Result<(), LoadError>;

fn no_check(_: &Path, _: &[u8]) -> Result<(), LoadError> {
    Ok(())
}

/// Reads `path`, checks its bytes and maps it.
fn map_checked(path: &Path, check: CheckBytes<'_>) -> Result<Mapped, LoadError> {
    let bytes = read(path)?;
    check(path, &bytes)?;
    map(path, &bytes)
}

/// Opens every library in `dir` once, for vehicles to share (see
/// [`admit_shared`]); each bad file is reported in the rejections. Fails
/// only when the directory itself cannot be read.
pub fn open_dir(
    dir: &Path,
    catalog: &crate::catalog::Catalog,
) -> std::io::Result<(Vec<Arc<PluginLibrary>>, Vec<Rejection>)> {
    open_dir_checked(dir, catalog, &no_check)
}

/// As [`open_dir`], each file's bytes passing `check` before it is opened.
pub fn open_dir_checked(
    dir: &Path,
    catalog: &crate::catalog::Catalog,
    check: CheckBytes<'_>,
) -> std::io::Result<(Vec<Arc<PluginLibrary>>, Vec<Rejection>)> {
    let mut libs = Vec::new();
    let mut rejected = Vec::new();
    for path in find_libraries(dir)? {
        match map_checked(&path, check).and_then(|m| PluginLibrary::from_mapped(&path, m, catalog))
        {
            Ok(lib) => libs.push(Arc::new(lib)),
            Err(error) => rejected.push(Rejection { path, error }),
        }
    }
    Ok((libs, rejected))
}

/// Loads every library in `dir`. Fails only when the directory itself cannot
/// be read; each bad library is reported in [`LoadReport::rejected`].
pub fn load_dir(dir: &Path, bus: &mut Bus, seed: u64) -> std::io::Result<LoadReport> {
    load_dir_checked(dir, &Default::default(), bus, seed, &no_check)
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
    load_dir_checked(dir, overrides, bus, seed, &no_check)
}

/// As [`load_dir_with`], every file's bytes (the directory's and the
/// overrides') passing `check` before the file is opened. A library of
/// `dir` is opened once: to learn its subsystem, then, unless overridden,
/// to run it.
pub fn load_dir_checked(
    dir: &Path,
    overrides: &std::collections::BTreeMap<String, PathBuf>,
    bus: &mut Bus,
    seed: u64,
    check: CheckBytes<'_>,
) -> std::io::Result<LoadReport> {
    let mut report = LoadReport::default();
    let mut admit_one =
        |path: &Path, mapped: Result<Mapped, LoadError>, report: &mut LoadReport| {
            let admitted = mapped
                .and_then(|m| PluginLibrary::from_mapped(path, m, bus.catalog()))
                .and_then(|lib| admit_library(lib, bus, seed, &report.plugins));
            match admitted {
                Ok(p) => report.plugins.push(p),
                Err(error) => report.rejected.push(Rejection {
                    path: path.to_owned(),
                    error,
                }),
            }
        };
    for path in find_libraries(dir)? {
        let mapped = map_checked(&path, check);
        if mapped
            .as_ref()
            .is_ok_and(|m| overrides.contains_key(&m.info().name))
        {
            continue;
        }
        admit_one(&path, mapped, &mut report);
    }
    for path in overrides.values() {
        admit_one(path, map_checked(path, check), &mut report);
    }
    Ok(report)
}
