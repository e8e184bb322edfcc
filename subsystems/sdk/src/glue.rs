//! The `extern "C"` entry points generated for a [`Subsystem`], each wrapped in
//! `catch_unwind`, and the descriptor that points at them.

use crate::abi::*;
use crate::{CommandError, Subsystem};
use core::ffi::{CStr, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

/// The message of the last failed `create`, for `last_error(NULL, ...)`.
/// A static (never dropped), not a thread-local: plugins own no TLS with
/// destructors.
static CREATE_ERROR: Mutex<String> = Mutex::new(String::new());

struct Instance<T> {
    inner: T,
    error: String,
}

/// Builds the descriptor of `T`; usable in a `static` initializer.
pub const fn descriptor<T: Subsystem>() -> TcuPluginDescriptor {
    TcuPluginDescriptor {
        abi_version: TCU_ABI_VERSION,
        descriptor_size: DESCRIPTOR_SIZE,
        name: T::NAME.as_ptr(),
        version: T::VERSION.as_ptr(),
        reads: T::READS.as_ptr(),
        n_reads: T::READS.len(),
        writes: T::WRITES.as_ptr(),
        n_writes: T::WRITES.len(),
        create: Some(create::<T>),
        tick: Some(tick::<T>),
        command: Some(command::<T>),
        snapshot: Some(snapshot::<T>),
        restore: Some(restore::<T>),
        destroy: Some(destroy::<T>),
        last_error: Some(last_error::<T>),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_owned()
    }
}

fn set_create_error(message: String) {
    if let Ok(mut slot) = CREATE_ERROR.lock() {
        *slot = message;
    }
}

unsafe extern "C" fn create<T: Subsystem>(seed: u64, out: *mut *mut c_void) -> TcuStatus {
    if out.is_null() {
        return TCU_STATUS_INVALID_ARGUMENT;
    }
    match catch_unwind(|| T::create(seed)) {
        Ok(Ok(inner)) => {
            let boxed = Box::new(Instance {
                inner,
                error: String::new(),
            });
            // SAFETY: `out` is non-null and points at writable storage (contract).
            unsafe { *out = Box::into_raw(boxed).cast() };
            TCU_STATUS_OK
        }
        Ok(Err(e)) => {
            set_create_error(e.0);
            TCU_STATUS_ERROR
        }
        Err(payload) => {
            set_create_error(panic_message(payload.as_ref()));
            TCU_STATUS_PANIC
        }
    }
}

/// Borrows a slice from the host; a null pointer is only valid for length 0.
///
/// # Safety
/// `ptr` must point at `len` valid values when `len > 0`.
unsafe fn host_slice<'a>(ptr: *const f64, len: usize) -> Option<&'a [f64]> {
    if len == 0 {
        Some(&[])
    } else if ptr.is_null() {
        None
    } else {
        // SAFETY: caller guarantees `len` readable values.
        Some(unsafe { std::slice::from_raw_parts(ptr, len) })
    }
}

unsafe extern "C" fn tick<T: Subsystem>(
    instance: *mut c_void,
    dt_s: f64,
    inputs: *const f64,
    outputs: *mut f64,
) -> TcuStatus {
    if instance.is_null() {
        return TCU_STATUS_INVALID_ARGUMENT;
    }
    // SAFETY: the host passes arrays of the declared lengths.
    let Some(ins) = (unsafe { host_slice(inputs, T::READS.len()) }) else {
        return TCU_STATUS_INVALID_ARGUMENT;
    };
    let outs: &mut [f64] = if T::WRITES.is_empty() {
        &mut []
    } else if outputs.is_null() {
        return TCU_STATUS_INVALID_ARGUMENT;
    } else {
        // SAFETY: the host passes `n_writes` writable values.
        unsafe { std::slice::from_raw_parts_mut(outputs, T::WRITES.len()) }
    };
    // SAFETY: `instance` came from `create::<T>`.
    let inst = unsafe { &mut *instance.cast::<Instance<T>>() };
    match catch_unwind(AssertUnwindSafe(|| inst.inner.tick(dt_s, ins, outs))) {
        Ok(Ok(())) => TCU_STATUS_OK,
        Ok(Err(e)) => {
            inst.error = e.0;
            TCU_STATUS_ERROR
        }
        Err(payload) => {
            inst.error = panic_message(payload.as_ref());
            TCU_STATUS_PANIC
        }
    }
}

unsafe extern "C" fn command<T: Subsystem>(
    instance: *mut c_void,
    name: *const c_char,
    value: f64,
) -> TcuStatus {
    if instance.is_null() || name.is_null() {
        return TCU_STATUS_INVALID_ARGUMENT;
    }
    // SAFETY: `instance` came from `create::<T>`; `name` is NUL-terminated.
    let inst = unsafe { &mut *instance.cast::<Instance<T>>() };
    let Ok(name) = (unsafe { CStr::from_ptr(name) }).to_str() else {
        inst.error = "command name is not UTF-8".to_owned();
        return TCU_STATUS_INVALID_ARGUMENT;
    };
    match catch_unwind(AssertUnwindSafe(|| inst.inner.command(name, value))) {
        Ok(Ok(())) => TCU_STATUS_OK,
        Ok(Err(CommandError::Unsupported(n))) => {
            inst.error = format!("unsupported command `{n}`");
            TCU_STATUS_UNSUPPORTED
        }
        Ok(Err(CommandError::Failed(e))) => {
            inst.error = e.0;
            TCU_STATUS_ERROR
        }
        Err(payload) => {
            inst.error = panic_message(payload.as_ref());
            TCU_STATUS_PANIC
        }
    }
}

unsafe extern "C" fn snapshot<T: Subsystem>(
    instance: *mut c_void,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> TcuStatus {
    if instance.is_null() || out_len.is_null() || (buf.is_null() && cap > 0) {
        return TCU_STATUS_INVALID_ARGUMENT;
    }
    // SAFETY: `instance` came from `create::<T>`.
    let inst = unsafe { &mut *instance.cast::<Instance<T>>() };
    match catch_unwind(AssertUnwindSafe(|| inst.inner.snapshot())) {
        Ok(bytes) => {
            // SAFETY: `out_len` is non-null and writable.
            unsafe { *out_len = bytes.len() };
            if bytes.len() > cap {
                return TCU_STATUS_BUFFER_TOO_SMALL;
            }
            if !bytes.is_empty() {
                // SAFETY: `buf` holds `cap >= bytes.len()` writable bytes.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
            }
            TCU_STATUS_OK
        }
        Err(payload) => {
            inst.error = panic_message(payload.as_ref());
            TCU_STATUS_PANIC
        }
    }
}

unsafe extern "C" fn restore<T: Subsystem>(
    instance: *mut c_void,
    data: *const u8,
    len: usize,
) -> TcuStatus {
    if instance.is_null() || (data.is_null() && len > 0) {
        return TCU_STATUS_INVALID_ARGUMENT;
    }
    // SAFETY: `instance` came from `create::<T>`; `data` holds `len` bytes.
    let inst = unsafe { &mut *instance.cast::<Instance<T>>() };
    let bytes: &[u8] = if len == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(data, len) }
    };
    match catch_unwind(AssertUnwindSafe(|| inst.inner.restore(bytes))) {
        Ok(Ok(())) => TCU_STATUS_OK,
        Ok(Err(e)) => {
            inst.error = e.0;
            TCU_STATUS_INVALID_ARGUMENT
        }
        Err(payload) => {
            inst.error = panic_message(payload.as_ref());
            TCU_STATUS_PANIC
        }
    }
}

unsafe extern "C" fn destroy<T: Subsystem>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // SAFETY: `instance` came from `create::<T>` and is destroyed once.
    let boxed = unsafe { Box::from_raw(instance.cast::<Instance<T>>()) };
    // A panicking Drop must not unwind into the host.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
}

unsafe extern "C" fn last_error<T: Subsystem>(
    instance: *mut c_void,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    let copy = |msg: &str| {
        if !buf.is_null() && cap > 0 {
            let n = msg.len().min(cap - 1);
            // SAFETY: `buf` holds `cap` writable bytes; we write n + 1 <= cap.
            unsafe {
                std::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), n);
                *buf.add(n) = 0;
            }
        }
        msg.len()
    };
    if instance.is_null() {
        match CREATE_ERROR.lock() {
            Ok(msg) => copy(&msg),
            Err(_) => 0,
        }
    } else {
        // SAFETY: `instance` came from `create::<T>`.
        let inst = unsafe { &*instance.cast::<Instance<T>>() };
        copy(&inst.error)
    }
}
