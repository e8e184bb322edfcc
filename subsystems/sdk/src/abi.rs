//! The C ABI between the TCU core and a subsystem library.
//!
//! Everything here is `#[repr(C)]` and mirrored one to one by
//! `include/tcu_plugin.h`; a test compiles the header and compares sizes,
//! offsets and constants with these definitions.
//!
//! A library exports one *data* symbol, [`DESCRIPTOR_SYMBOL`], holding a
//! [`TcuPluginDescriptor`]. It is data rather than a function so that the host
//! (and `tcu plugin inspect`) can read the ABI version and the declared signals
//! without executing any code of the library. The first two fields
//! (`abi_version`, `descriptor_size`) never move: the host reads them first and
//! only then interprets the rest. Fields are only ever appended; removing or
//! changing one bumps [`TCU_ABI_VERSION`].
//!
//! Values cross the boundary as `f64`, one slot per declared signal, in the
//! order of the declaration: booleans are `0.0`/`1.0`, integers are exact
//! whole numbers. Tick passes borrowed arrays, so nothing is allocated on the
//! tick path on either side.

use core::ffi::{c_char, c_void};

/// ABI version implemented by this SDK. Bumped on any breaking change.
pub const TCU_ABI_VERSION: u32 = 1;

/// Name of the exported descriptor symbol, NUL-terminated.
pub const DESCRIPTOR_SYMBOL: &[u8] = b"tcu_plugin_descriptor\0";

/// Status code returned by every entry point.
pub type TcuStatus = i32;
/// The call succeeded.
pub const TCU_STATUS_OK: TcuStatus = 0;
/// The plugin reported an error; `last_error` has the message.
pub const TCU_STATUS_ERROR: TcuStatus = 1;
/// The plugin panicked; the panic was caught at the boundary.
pub const TCU_STATUS_PANIC: TcuStatus = 2;
/// An argument was invalid (null pointer, bad snapshot bytes, ...).
pub const TCU_STATUS_INVALID_ARGUMENT: TcuStatus = 3;
/// The snapshot buffer is too small; `out_len` holds the size needed.
pub const TCU_STATUS_BUFFER_TOO_SMALL: TcuStatus = 4;
/// The command is not known to this plugin.
pub const TCU_STATUS_UNSUPPORTED: TcuStatus = 5;

/// Datatype of a declared signal, matching the VSS `datatype` column.
pub type TcuDataType = u32;
/// VSS `boolean`.
pub const TCU_TYPE_BOOLEAN: TcuDataType = 1;
/// VSS `int8`.
pub const TCU_TYPE_INT8: TcuDataType = 2;
/// VSS `uint8`.
pub const TCU_TYPE_UINT8: TcuDataType = 3;
/// VSS `int16`.
pub const TCU_TYPE_INT16: TcuDataType = 4;
/// VSS `uint16`.
pub const TCU_TYPE_UINT16: TcuDataType = 5;
/// VSS `int32`.
pub const TCU_TYPE_INT32: TcuDataType = 6;
/// VSS `uint32`.
pub const TCU_TYPE_UINT32: TcuDataType = 7;
/// VSS `float`.
pub const TCU_TYPE_FLOAT: TcuDataType = 8;
/// VSS `double`.
pub const TCU_TYPE_DOUBLE: TcuDataType = 9;

/// One signal a plugin reads or writes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TcuSignalDecl {
    /// VSS path, NUL-terminated, e.g. `Vehicle.Speed`.
    pub path: *const c_char,
    /// One of the `TCU_TYPE_*` constants.
    pub datatype: TcuDataType,
}

// SAFETY: a declaration points at immutable, 'static string data.
unsafe impl Sync for TcuSignalDecl {}
// SAFETY: as above; nothing in it is tied to a thread.
unsafe impl Send for TcuSignalDecl {}

impl TcuSignalDecl {
    /// Declares a signal; usable in `const` items.
    pub const fn new(path: &'static core::ffi::CStr, datatype: TcuDataType) -> Self {
        Self {
            path: path.as_ptr(),
            datatype,
        }
    }
}

/// Creates an instance. `seed` feeds every random source of the plugin.
pub type TcuCreateFn = unsafe extern "C" fn(seed: u64, out_instance: *mut *mut c_void) -> TcuStatus;
/// Advances an instance by `dt_s` seconds. `inputs` has one value per
/// declared read, `outputs` one per declared write (pre-filled with the
/// current bus values).
pub type TcuTickFn = unsafe extern "C" fn(
    instance: *mut c_void,
    dt_s: f64,
    inputs: *const f64,
    outputs: *mut f64,
) -> TcuStatus;
/// A plugin-specific command (e.g. `reset`), with one numeric argument.
pub type TcuCommandFn =
    unsafe extern "C" fn(instance: *mut c_void, name: *const c_char, value: f64) -> TcuStatus;
/// Writes the instance state into `buf` (capacity `cap`); `out_len` receives
/// the length written, or the length needed with `TCU_STATUS_BUFFER_TOO_SMALL`.
pub type TcuSnapshotFn = unsafe extern "C" fn(
    instance: *mut c_void,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> TcuStatus;
/// Replaces the instance state with a snapshot taken by this or an earlier
/// version of the plugin.
pub type TcuRestoreFn =
    unsafe extern "C" fn(instance: *mut c_void, data: *const u8, len: usize) -> TcuStatus;
/// Destroys an instance created by `create`.
pub type TcuDestroyFn = unsafe extern "C" fn(instance: *mut c_void);
/// Copies the last error message (UTF-8, NUL-terminated, truncated to `cap`)
/// and returns its full length. `instance` may be null for an error of
/// `create`.
pub type TcuLastErrorFn =
    unsafe extern "C" fn(instance: *mut c_void, buf: *mut c_char, cap: usize) -> usize;

/// What a subsystem library exports under [`DESCRIPTOR_SYMBOL`].
#[repr(C)]
#[derive(Debug)]
pub struct TcuPluginDescriptor {
    /// Must equal [`TCU_ABI_VERSION`]; read before anything else.
    pub abi_version: u32,
    /// `size_of::<TcuPluginDescriptor>()` as the plugin was built.
    pub descriptor_size: u32,
    /// Subsystem name, NUL-terminated (`battery`, `abs`, ...).
    pub name: *const c_char,
    /// Semantic version of the library, NUL-terminated.
    pub version: *const c_char,
    /// Signals read, in input order.
    pub reads: *const TcuSignalDecl,
    /// Number of entries in `reads`.
    pub n_reads: usize,
    /// Signals written, in output order.
    pub writes: *const TcuSignalDecl,
    /// Number of entries in `writes`.
    pub n_writes: usize,
    /// See [`TcuCreateFn`].
    pub create: Option<TcuCreateFn>,
    /// See [`TcuTickFn`].
    pub tick: Option<TcuTickFn>,
    /// See [`TcuCommandFn`].
    pub command: Option<TcuCommandFn>,
    /// See [`TcuSnapshotFn`].
    pub snapshot: Option<TcuSnapshotFn>,
    /// See [`TcuRestoreFn`].
    pub restore: Option<TcuRestoreFn>,
    /// See [`TcuDestroyFn`].
    pub destroy: Option<TcuDestroyFn>,
    /// See [`TcuLastErrorFn`].
    pub last_error: Option<TcuLastErrorFn>,
}

// SAFETY: the descriptor is immutable static data and plain function pointers.
unsafe impl Sync for TcuPluginDescriptor {}
// SAFETY: as above.
unsafe impl Send for TcuPluginDescriptor {}

/// Size of the descriptor this SDK builds, as stored in `descriptor_size`.
pub const DESCRIPTOR_SIZE: u32 = core::mem::size_of::<TcuPluginDescriptor>() as u32;

/// Human-readable name of a `TCU_STATUS_*` code.
pub fn status_name(status: TcuStatus) -> &'static str {
    match status {
        TCU_STATUS_OK => "ok",
        TCU_STATUS_ERROR => "error",
        TCU_STATUS_PANIC => "panic",
        TCU_STATUS_INVALID_ARGUMENT => "invalid argument",
        TCU_STATUS_BUFFER_TOO_SMALL => "buffer too small",
        TCU_STATUS_UNSUPPORTED => "unsupported",
        _ => "unknown status",
    }
}

/// VSS name of a `TCU_TYPE_*` code, or `None` for an unknown code.
pub fn datatype_name(datatype: TcuDataType) -> Option<&'static str> {
    Some(match datatype {
        TCU_TYPE_BOOLEAN => "boolean",
        TCU_TYPE_INT8 => "int8",
        TCU_TYPE_UINT8 => "uint8",
        TCU_TYPE_INT16 => "int16",
        TCU_TYPE_UINT16 => "uint16",
        TCU_TYPE_INT32 => "int32",
        TCU_TYPE_UINT32 => "uint32",
        TCU_TYPE_FLOAT => "float",
        TCU_TYPE_DOUBLE => "double",
        _ => return None,
    })
}

/// `TCU_TYPE_*` code of a VSS datatype name, or `None` when the ABI cannot
/// carry it (strings, arrays).
pub fn datatype_from_name(name: &str) -> Option<TcuDataType> {
    Some(match name {
        "boolean" => TCU_TYPE_BOOLEAN,
        "int8" => TCU_TYPE_INT8,
        "uint8" => TCU_TYPE_UINT8,
        "int16" => TCU_TYPE_INT16,
        "uint16" => TCU_TYPE_UINT16,
        "int32" => TCU_TYPE_INT32,
        "uint32" => TCU_TYPE_UINT32,
        "float" => TCU_TYPE_FLOAT,
        "double" => TCU_TYPE_DOUBLE,
        _ => return None,
    })
}
