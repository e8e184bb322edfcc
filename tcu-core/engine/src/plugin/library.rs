//! An opened, validated subsystem library (not yet instantiated).

use super::LoadError;
use super::descriptor::{self, PluginInfo};
use crate::catalog::{Catalog, SignalId};
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use tcu_sdk::abi::{self, TcuPluginDescriptor};

/// A library whose descriptor passed every check. Its handle is never closed.
#[derive(Debug)]
pub struct PluginLibrary {
    path: PathBuf,
    info: PluginInfo,
    desc: &'static TcuPluginDescriptor,
    reads: Vec<SignalId>,
    writes: Vec<SignalId>,
    // Held, never dropped: closing a library that ran code is unsound.
    _handle: Option<ManuallyDrop<libloading::Library>>,
}

// SAFETY: the descriptor is immutable data of a library that stays mapped for
// the rest of the process; reading it from any thread is sound. Its function
// pointers are only called through a `PluginInstance`, one thread at a time.
unsafe impl Send for PluginLibrary {}
// SAFETY: as above; `PluginLibrary` has no interior mutability.
unsafe impl Sync for PluginLibrary {}

/// Copies `path` into an anonymous in-memory file and returns it (kept open
/// for the rest of the process) with the path the loader can open it by.
///
/// Loading from a private copy makes a running plugin immune to its file
/// being overwritten in place (`cp new.so plugins/`), which would otherwise
/// change the code under the running process and kill it with SIGBUS. Each
/// copy is a distinct inode, so the loader never confuses two versions.
fn private_copy(path: &Path) -> Result<(std::fs::File, PathBuf), LoadError> {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    let fail = |reason: String| LoadError::NotALibrary {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    // SAFETY: the name is a valid NUL-terminated string; flags are valid.
    let fd = unsafe { libc::memfd_create(c"tcu-plugin".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(fail(format!(
            "memfd_create: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: `fd` is a fresh descriptor owned by nobody else.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(&bytes).map_err(|e| fail(e.to_string()))?;
    Ok((file, PathBuf::from(format!("/proc/self/fd/{fd}"))))
}

fn open_raw(path: &Path) -> Result<(libloading::Library, *const TcuPluginDescriptor), LoadError> {
    open_at(path, path)
}

/// Opens the library at `load_from`, reporting errors against `path`.
fn open_at(
    path: &Path,
    load_from: &Path,
) -> Result<(libloading::Library, *const TcuPluginDescriptor), LoadError> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // RTLD_NOW: an unresolved symbol fails here, not in the middle of a tick.
    // SAFETY: opening runs the library's ELF initialisers; TCU plugins have
    // none beyond the C runtime's, which is the one piece of code we accept
    // running before the checks.
    let lib = unsafe { Library::open(Some(load_from), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
        LoadError::NotALibrary {
            path: path.to_owned(),
            reason: e.to_string().replace(
                &load_from.display().to_string(),
                &path.display().to_string(),
            ),
        }
    })?;
    let lib: libloading::Library = lib.into();
    // For a data symbol, the symbol's value is the address of the data.
    // SAFETY: we only take the address; nothing is called.
    let desc = unsafe { lib.get::<*const TcuPluginDescriptor>(abi::DESCRIPTOR_SYMBOL) }
        .map(|s| *s)
        .map_err(|_| LoadError::SymbolMissing {
            path: path.to_owned(),
        })?;
    Ok((lib, desc))
}

/// Reads a library's descriptor without running any of its code, then closes
/// it again (safe: none of its code ran).
pub fn inspect(path: &Path) -> Result<PluginInfo, LoadError> {
    let (lib, desc) = open_raw(path)?;
    // SAFETY: `desc` is the address of the exported descriptor, mapped while `lib` lives.
    let info = unsafe { descriptor::read(path, desc) };
    drop(lib);
    info
}

impl PluginLibrary {
    /// Opens a private in-memory copy of `path` and checks its descriptor
    /// against the ABI and `catalog`. No code of the library runs.
    pub fn open(path: &Path, catalog: &Catalog) -> Result<Self, LoadError> {
        let (copy, load_from) = private_copy(path)?;
        let (lib, desc) = open_at(path, &load_from)?;
        // The loader holds its own mapping; the descriptor stays open so the
        // `/proc/self/fd` name is never reused for another file.
        std::mem::forget(copy);
        // SAFETY: `desc` points into `lib`, which is kept mapped below.
        let info = unsafe { descriptor::read(path, desc) }?;
        let reads = descriptor::resolve(path, &info, catalog, &info.reads)?;
        let writes = descriptor::resolve(path, &info, catalog, &info.writes)?;
        // SAFETY: the library is never unloaded from here on, so the
        // descriptor lives for the rest of the process.
        let desc: &'static TcuPluginDescriptor = unsafe { &*desc };
        Ok(Self {
            path: path.to_owned(),
            info,
            desc,
            reads,
            writes,
            _handle: Some(ManuallyDrop::new(lib)),
        })
    }

    /// Wraps a descriptor linked into this process (benchmarks, tests of the
    /// host without a file), with the same checks as [`PluginLibrary::open`].
    pub fn from_static(
        desc: &'static TcuPluginDescriptor,
        catalog: &Catalog,
    ) -> Result<Self, LoadError> {
        let path = PathBuf::from("<static>");
        // SAFETY: a 'static descriptor is always mapped.
        let info = unsafe { descriptor::read(&path, desc) }?;
        let reads = descriptor::resolve(&path, &info, catalog, &info.reads)?;
        let writes = descriptor::resolve(&path, &info, catalog, &info.writes)?;
        Ok(Self {
            path,
            info,
            desc,
            reads,
            writes,
            _handle: None,
        })
    }

    /// Where it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What it declares.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Subsystem name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Resolved read signals, in input order.
    pub fn reads(&self) -> &[SignalId] {
        &self.reads
    }

    /// Resolved written signals, in output order.
    pub fn writes(&self) -> &[SignalId] {
        &self.writes
    }

    pub(crate) fn descriptor(&self) -> &'static TcuPluginDescriptor {
        self.desc
    }
}
