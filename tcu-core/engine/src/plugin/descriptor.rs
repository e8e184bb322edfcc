//! Reading a [`TcuPluginDescriptor`] into owned Rust data, with every pointer
//! checked. Nothing here calls into the library.

use super::LoadError;
use crate::catalog::{Catalog, DataType, SignalId};
use serde::{Deserialize, Serialize};
use std::ffi::{CStr, c_char};
use std::path::Path;
use tcu_sdk::abi::{self, TcuPluginDescriptor, TcuSignalDecl};

/// One declared signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalDecl {
    /// VSS path.
    pub path: String,
    /// VSS datatype name, or `unknown(N)` for a code the host does not know.
    pub datatype: String,
    /// The raw `TCU_TYPE_*` code (not in the JSON form; 0 when read back
    /// from it).
    #[serde(skip)]
    pub code: u32,
}

/// What a library declares about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Subsystem name.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// ABI version.
    pub abi_version: u32,
    /// Signals read, in input order.
    pub reads: Vec<SignalDecl>,
    /// Signals written, in output order.
    pub writes: Vec<SignalDecl>,
}

fn invalid(path: &Path, reason: impl Into<String>) -> LoadError {
    LoadError::InvalidDescriptor {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// # Safety
/// `ptr` must be null or point at a NUL-terminated string that stays mapped.
unsafe fn c_string(path: &Path, ptr: *const c_char, what: &str) -> Result<String, LoadError> {
    if ptr.is_null() {
        return Err(invalid(path, format!("{what} is null")));
    }
    // SAFETY: non-null, NUL-terminated per the ABI contract.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str()
        .map(str::to_owned)
        .map_err(|_| invalid(path, format!("{what} is not UTF-8")))
}

/// # Safety
/// `ptr` must be null (with `n == 0`) or point at `n` declarations.
unsafe fn decls(
    path: &Path,
    ptr: *const TcuSignalDecl,
    n: usize,
    what: &str,
) -> Result<Vec<SignalDecl>, LoadError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if ptr.is_null() {
        return Err(invalid(path, format!("{what} is null with {n} entries")));
    }
    if n > 4096 {
        return Err(invalid(path, format!("{what} declares {n} signals")));
    }
    // SAFETY: the ABI promises `n` valid entries.
    let raw = unsafe { std::slice::from_raw_parts(ptr, n) };
    raw.iter()
        .enumerate()
        .map(|(i, d)| {
            Ok(SignalDecl {
                // SAFETY: as above, each path is a NUL-terminated string.
                path: unsafe { c_string(path, d.path, &format!("{what}[{i}]"))? },
                datatype: abi::datatype_name(d.datatype)
                    .map_or_else(|| format!("unknown({})", d.datatype), str::to_owned),
                code: d.datatype,
            })
        })
        .collect()
}

/// Reads a descriptor, checking the version fields before anything else.
///
/// # Safety
/// `desc` must point at readable memory of at least 8 bytes that stays mapped;
/// the rest is only read once the declared size says it exists.
pub(crate) unsafe fn read(
    path: &Path,
    desc: *const TcuPluginDescriptor,
) -> Result<PluginInfo, LoadError> {
    if desc.is_null() {
        return Err(invalid(path, "descriptor symbol is null"));
    }
    // The two leading u32 fields never move; read them alone first.
    let head = desc.cast::<u32>();
    // SAFETY: the symbol is at least as large as its first two fields.
    let (abi_version, size) = unsafe { (head.read_unaligned(), head.add(1).read_unaligned()) };
    if abi_version != abi::TCU_ABI_VERSION {
        return Err(LoadError::AbiMismatch {
            path: path.to_owned(),
            found: abi_version,
            expected: abi::TCU_ABI_VERSION,
        });
    }
    if size < abi::DESCRIPTOR_SIZE {
        return Err(LoadError::TruncatedDescriptor {
            path: path.to_owned(),
            found: size,
            expected: abi::DESCRIPTOR_SIZE,
        });
    }
    // SAFETY: the declared size covers our whole struct.
    let d = unsafe { &*desc };
    let missing = [
        ("create", d.create.is_none()),
        ("tick", d.tick.is_none()),
        ("command", d.command.is_none()),
        ("snapshot", d.snapshot.is_none()),
        ("restore", d.restore.is_none()),
        ("destroy", d.destroy.is_none()),
        ("last_error", d.last_error.is_none()),
    ];
    if let Some((f, _)) = missing.iter().find(|(_, m)| *m) {
        return Err(invalid(path, format!("function `{f}` is null")));
    }
    // SAFETY: pointers come from the descriptor, checked for null inside.
    unsafe {
        Ok(PluginInfo {
            name: c_string(path, d.name, "name")?,
            version: c_string(path, d.version, "version")?,
            abi_version,
            reads: decls(path, d.reads, d.n_reads, "reads")?,
            writes: decls(path, d.writes, d.n_writes, "writes")?,
        })
    }
}

/// Resolves declared signals against the catalog.
pub(crate) fn resolve(
    path: &Path,
    info: &PluginInfo,
    catalog: &Catalog,
    decls: &[SignalDecl],
) -> Result<Vec<SignalId>, LoadError> {
    decls
        .iter()
        .map(|d| {
            let id = catalog
                .id(&d.path)
                .ok_or_else(|| LoadError::UnknownSignal {
                    path: path.to_owned(),
                    plugin: info.name.clone(),
                    signal: d.path.clone(),
                })?;
            let meta = catalog.meta(id);
            if DataType::from_abi(d.code) != Some(meta.datatype) {
                return Err(LoadError::TypeMismatch {
                    path: path.to_owned(),
                    plugin: info.name.clone(),
                    signal: d.path.clone(),
                    declared: d.datatype.clone(),
                    catalog: meta.datatype.to_string(),
                });
            }
            Ok(id)
        })
        .collect()
}
