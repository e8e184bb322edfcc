//! An opened, validated subsystem library (not yet instantiated).

use super::LoadError;
use super::descriptor::{self, PluginInfo};
use crate::catalog::{Catalog, SignalId};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
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

/// Writes `bytes` (the content of `path`) into an anonymous in-memory file
/// and returns it (kept open for the rest of the process) with the path the
/// loader can open it by.
///
/// Loading from a private copy makes a running plugin immune to its file
/// being overwritten in place (`cp new.so plugins/`), which would otherwise
/// change the code under the running process and kill it with SIGBUS, and
/// makes what runs exactly the bytes the caller read (and checked: see
/// [`PluginLibrary::open_bytes`]). Each copy is a distinct inode, so the
/// loader never confuses two versions.
fn private_copy(path: &Path, bytes: &[u8]) -> Result<(std::fs::File, PathBuf), LoadError> {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    let fail = |reason: String| LoadError::NotALibrary {
        path: path.to_owned(),
        reason,
    };
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
    file.write_all(bytes).map_err(|e| fail(e.to_string()))?;
    Ok((file, PathBuf::from(format!("/proc/self/fd/{fd}"))))
}

/// The loader's name of the private copy of every content mapped so far,
/// by its SHA-256 (copies are never closed, so the names stay valid).
fn mapped_copies() -> &'static Mutex<HashMap<[u8; 32], PathBuf>> {
    static COPIES: OnceLock<Mutex<HashMap<[u8; 32], PathBuf>>> = OnceLock::new();
    COPIES.get_or_init(Mutex::default)
}

/// Gives back the pages of the private copy `file` (holding `bytes`) that
/// the loader has not mapped: the symbol and string tables, the section
/// headers and any gaps between segments, a fifth of a plugin's size or
/// more, which would otherwise stay in memory for the life of the process.
/// The mapped pages are untouched, so the copy's guarantee holds: nothing
/// but these bytes ever runs. Best effort: a file system without hole
/// punching keeps the whole copy.
///
/// A profiler or a symbolised backtrace reading the copy by its
/// `/proc/self/fd` name no longer finds the full symbol table there (the
/// dynamic symbols, which are mapped, remain).
fn release_unmapped(path: &Path, file: &std::fs::File, bytes: &[u8]) {
    use std::os::fd::AsRawFd;
    // SAFETY: sysconf has no preconditions.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0);
    let Some(kept) = super::elf::mapped_ranges(bytes, page) else {
        return;
    };
    for gap in super::elf::gaps(&kept, bytes.len() as u64) {
        let (Ok(offset), Ok(len)) = (
            libc::off_t::try_from(gap.start),
            libc::off_t::try_from(gap.end - gap.start),
        ) else {
            return;
        };
        // SAFETY: a valid descriptor and a range inside the file; keeping
        // the size leaves every mapping of the file valid.
        let r = unsafe {
            libc::fallocate(
                file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset,
                len,
            )
        };
        if r != 0 {
            tracing::debug!(
                path = %path.display(),
                "keeping the whole in-memory copy: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
    }
}

/// Reads the library file at `path`.
pub(super) fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|e| LoadError::NotALibrary {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// A library mapped from a private copy, its descriptor read, not yet
/// checked against the catalog. Its handle is never closed, even when the
/// library is not used after all: mapping it ran its initialisers.
pub(super) struct Mapped {
    desc: *const TcuPluginDescriptor,
    info: PluginInfo,
    handle: ManuallyDrop<libloading::Library>,
}

impl Mapped {
    /// What the descriptor declares.
    pub(super) fn info(&self) -> &PluginInfo {
        &self.info
    }
}

/// Maps `bytes` (the content of `path`) and reads its descriptor, errors
/// reported against `path`.
///
/// Mapping runs the library's ELF initialisers (the C runtime's, a Rust
/// library's standard-library set-up, and any constructor its author wrote)
/// the first time these bytes are mapped in this process; the same bytes
/// again map the same copy. No entry point of the descriptor is called.
pub(super) fn map(path: &Path, bytes: &[u8]) -> Result<Mapped, LoadError> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    let key: [u8; 32] = Sha256::digest(bytes).into();
    let known = mapped_copies()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .cloned();
    let (copy, load_from) = match known {
        // The same bytes again (a fleet's vehicles installing one
        // artifact): the loader knows that name and hands back the library
        // it mapped, with no second copy and no second run of its
        // initialisers. Each caller still gets its own `PluginLibrary`
        // (path, checks) and every vehicle its own instances.
        Some(p) => (None, p),
        None => {
            let (f, p) = private_copy(path, bytes)?;
            (Some(f), p)
        }
    };
    // RTLD_NOW: an unresolved symbol fails here, not in the middle of a tick.
    // SAFETY: opening runs the library's ELF initialisers; that is the one
    // piece of its code run before the checks (the module docs say so).
    let lib = unsafe { Library::open(Some(&load_from), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
        LoadError::NotALibrary {
            path: path.to_owned(),
            reason: e.to_string().replace(
                &load_from.display().to_string(),
                &path.display().to_string(),
            ),
        }
    })?;
    // A copy mapped for the first time: what no segment maps goes, and
    // what the loader touched (headers, symbol lookup, initialisers) need
    // not stay resident; the code the ticks run is mapped back on use.
    if let Some(copy) = &copy {
        release_unmapped(path, copy, bytes);
        if let Err(e) = copy
            .metadata()
            .and_then(|m| crate::resident::release_file(&m))
        {
            tracing::debug!(path = %path.display(), "keeping the loaded pages resident: {e}");
        }
    }
    // The loader holds its own mapping; the descriptor stays open so the
    // `/proc/self/fd` name is never reused for another file.
    if let Some(copy) = copy {
        std::mem::forget(copy);
        mapped_copies()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, load_from.clone());
    }
    // Never closed from here on, whatever happens below: code of it ran.
    let handle = ManuallyDrop::new(libloading::Library::from(lib));
    // For a data symbol, the symbol's value is the address of the data.
    // SAFETY: we only take the address; nothing is called.
    let desc = unsafe { handle.get::<*const TcuPluginDescriptor>(abi::DESCRIPTOR_SYMBOL) }
        .map(|s| *s)
        .map_err(|_| LoadError::SymbolMissing {
            path: path.to_owned(),
        })?;
    // SAFETY: `desc` points into the library, which stays mapped.
    let info = unsafe { descriptor::read(path, desc) }?;
    Ok(Mapped { desc, info, handle })
}

/// Reads a library's descriptor. The library is mapped from a private copy
/// (which runs its ELF initialisers, see [`map`]; none of its entry points
/// is called) and never unloaded again, because code of it ran: a caller
/// that must not run a library's code at all reads the descriptor in a
/// process of its own (`tcu plugin inspect` does).
pub fn inspect(path: &Path) -> Result<PluginInfo, LoadError> {
    Ok(map(path, &read(path)?)?.info)
}

impl PluginLibrary {
    /// Opens a private in-memory copy of `path` and checks its descriptor
    /// against the ABI and `catalog` (see [`PluginLibrary::open_bytes`]).
    pub fn open(path: &Path, catalog: &Catalog) -> Result<Self, LoadError> {
        Self::open_bytes(path, &read(path)?, catalog)
    }

    /// Opens `bytes`, the content of `path` as the caller read it (and
    /// perhaps verified it), from a private in-memory copy, and checks its
    /// descriptor against the ABI and `catalog`. Only the library's ELF
    /// initialisers run; no entry point is called.
    pub fn open_bytes(path: &Path, bytes: &[u8], catalog: &Catalog) -> Result<Self, LoadError> {
        Self::from_mapped(path, map(path, bytes)?, catalog)
    }

    /// Checks a mapped library against `catalog`.
    pub(super) fn from_mapped(
        path: &Path,
        m: Mapped,
        catalog: &Catalog,
    ) -> Result<Self, LoadError> {
        let reads = descriptor::resolve(path, &m.info, catalog, &m.info.reads)?;
        let writes = descriptor::resolve(path, &m.info, catalog, &m.info.writes)?;
        // SAFETY: the library is never unloaded, so the descriptor lives
        // for the rest of the process.
        let desc: &'static TcuPluginDescriptor = unsafe { &*m.desc };
        Ok(Self {
            path: path.to_owned(),
            info: m.info,
            desc,
            reads,
            writes,
            _handle: Some(m.handle),
        })
    }

    /// The same library reported under another path (a library opened from
    /// the bytes of one file and then staged under another name).
    pub fn relabel(mut self, path: &Path) -> Self {
        path.clone_into(&mut self.path);
        self
    }

    /// Runs the checks [`PluginLibrary::open`] makes of a descriptor (ABI
    /// version and size first, every pointer, the declared signals against
    /// `catalog`) on one in memory, calling none of its functions; the entry
    /// point of the descriptor fuzz target.
    ///
    /// # Safety
    /// The descriptor's string and declaration pointers must each be null or
    /// valid for what the ABI says they point at (NUL-terminated strings,
    /// `n_reads` / `n_writes` declarations).
    pub unsafe fn check_descriptor(
        desc: &TcuPluginDescriptor,
        catalog: &Catalog,
    ) -> Result<PluginInfo, LoadError> {
        let path = PathBuf::from("<memory>");
        // SAFETY: the caller vouches for the pointers inside.
        let info = unsafe { descriptor::read(&path, desc) }?;
        descriptor::resolve(&path, &info, catalog, &info.reads)?;
        descriptor::resolve(&path, &info, catalog, &info.writes)?;
        Ok(info)
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
