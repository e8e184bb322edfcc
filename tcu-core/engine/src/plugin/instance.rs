//! A live plugin instance and the calls into it.
//!
//! The tick path reuses two preallocated buffers and does not allocate unless
//! something fails. A tick's outputs are checked as a whole before any is
//! written, so a bad tick leaves the bus as it was.

use super::{LoadError, PluginLibrary};
use crate::bus::Bus;
use crate::catalog::RangeError;
use std::ffi::{CString, c_void};
use std::sync::Arc;
use tcu_sdk::abi;

/// A call into a plugin failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TickError {
    /// The plugin returned an error status.
    #[error("plugin `{plugin}` returned {status}: {message}")]
    Status {
        /// Subsystem.
        plugin: String,
        /// Status name.
        status: &'static str,
        /// The plugin's message.
        message: String,
    },
    /// The plugin panicked (caught at the boundary).
    #[error("plugin `{plugin}` panicked: {message}")]
    Panic {
        /// Subsystem.
        plugin: String,
        /// The panic message.
        message: String,
    },
    /// An output was out of range or not finite.
    #[error("plugin `{plugin}` wrote an invalid `{signal}`: {source}")]
    Output {
        /// Subsystem.
        plugin: String,
        /// Signal path.
        signal: String,
        /// Why.
        source: RangeError,
    },
    /// The instance is disabled after an earlier panic.
    #[error("plugin `{plugin}` is disabled after a panic")]
    Disabled {
        /// Subsystem.
        plugin: String,
    },
}

/// Bytes of a plugin's own state hinted before its tick: the plugin's size
/// is not known to the host, so only its start.
const PLUGIN_STATE_HINT: usize = 256;

/// An instance created by a plugin library.
#[derive(Debug)]
pub struct PluginInstance {
    lib: Arc<PluginLibrary>,
    ptr: *mut c_void,
    /// The tick's inputs, then its outputs, in one allocation: a fleet's
    /// ticks find every vehicle's buffers cold, and one block of a few
    /// lines costs fewer misses than two.
    io: Box<[f64]>,
    /// How many of `io` are inputs.
    n_inputs: u32,
    poisoned: bool,
}

// SAFETY: plugins own no threads and no thread-locals (ABI contract), so an
// instance may move between threads; it is never used from two at once.
unsafe impl Send for PluginInstance {}

impl PluginInstance {
    /// Calls `create` with `seed`.
    pub fn create(lib: Arc<PluginLibrary>, seed: u64) -> Result<Self, LoadError> {
        let d = lib.descriptor();
        let mut ptr: *mut c_void = std::ptr::null_mut();
        let create = d.create.ok_or_else(|| LoadError::InvalidDescriptor {
            path: lib.path().to_owned(),
            reason: "function `create` is null".into(),
        })?;
        // SAFETY: `create` comes from a validated descriptor; `ptr` is writable.
        let status = unsafe { create(seed, &mut ptr) };
        if status != abi::TCU_STATUS_OK || ptr.is_null() {
            let message = last_error(&lib, std::ptr::null_mut());
            let plugin = lib.name().to_owned();
            let path = lib.path().to_owned();
            return Err(if status == abi::TCU_STATUS_PANIC {
                LoadError::Panic {
                    path,
                    plugin,
                    message,
                }
            } else {
                LoadError::CreateFailed {
                    path,
                    plugin,
                    status: if status == abi::TCU_STATUS_OK {
                        "ok with a null instance".into()
                    } else {
                        abi::status_name(status).into()
                    },
                    message,
                }
            });
        }
        Ok(Self {
            io: vec![0.0; lib.reads().len() + lib.writes().len()].into(),
            // A library declares at most as many reads as the catalog has
            // signals (its descriptor is checked against it).
            n_inputs: u32::try_from(lib.reads().len()).unwrap_or(u32::MAX),
            lib,
            ptr,
            poisoned: false,
        })
    }

    /// Hints that a tick is about to run this instance: its buffers and
    /// the start of the plugin's state (see [`crate::cache`]).
    pub fn prefetch(&self) {
        crate::cache::prefetch_slice(&self.io);
        crate::cache::prefetch_bytes(self.ptr.cast(), PLUGIN_STATE_HINT);
    }

    /// The library behind the instance.
    pub fn library(&self) -> &Arc<PluginLibrary> {
        &self.lib
    }

    /// Subsystem name.
    pub fn name(&self) -> &str {
        self.lib.name()
    }

    /// True after a panic: the instance's state is not trusted any more and
    /// it is not called again.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    fn fail(&mut self, status: abi::TcuStatus) -> TickError {
        let message = last_error(&self.lib, self.ptr);
        let plugin = self.name().to_owned();
        if status == abi::TCU_STATUS_PANIC {
            self.poisoned = true;
            TickError::Panic { plugin, message }
        } else {
            TickError::Status {
                plugin,
                status: abi::status_name(status),
                message,
            }
        }
    }

    /// Runs one tick: inputs from the bus, outputs checked, then written.
    pub fn tick(&mut self, dt: f64, bus: &mut Bus) -> Result<(), TickError> {
        self.compute(dt, bus)?;
        for (v, id) in self.outputs().iter().zip(self.lib.writes()) {
            // Range-checked by compute().
            bus.store(*id, *v);
        }
        Ok(())
    }

    /// Runs one tick in shadow: the same inputs a live tick would read, the
    /// same checks of the outputs, but nothing is written to the bus (the
    /// canary of a hot-swap). The outputs are kept in [`Self::outputs`].
    pub fn tick_shadow(&mut self, dt: f64, bus: &Bus) -> Result<(), TickError> {
        self.compute(dt, bus)
    }

    /// Outputs of the last tick, in declaration order.
    pub fn outputs(&self) -> &[f64] {
        &self.io[self.n_inputs as usize..]
    }

    fn compute(&mut self, dt: f64, bus: &Bus) -> Result<(), TickError> {
        if self.poisoned {
            return Err(TickError::Disabled {
                plugin: self.name().to_owned(),
            });
        }
        let Some(tick) = self.lib.descriptor().tick else {
            return Err(self.fail(abi::TCU_STATUS_ERROR));
        };
        let (inputs, outputs) = self.io.split_at_mut(self.n_inputs as usize);
        for (slot, id) in inputs.iter_mut().zip(self.lib.reads()) {
            *slot = bus.get(*id);
        }
        for (slot, id) in outputs.iter_mut().zip(self.lib.writes()) {
            *slot = bus.get(*id);
        }
        // SAFETY: the two halves of `io` have exactly the declared lengths
        // and do not overlap; `ptr` came from `create`.
        let status = unsafe { tick(self.ptr, dt, inputs.as_ptr(), outputs.as_mut_ptr()) };
        if status != abi::TCU_STATUS_OK {
            return Err(self.fail(status));
        }
        for (v, id) in self.outputs().iter().zip(self.lib.writes()) {
            if let Err(source) = bus.check(*id, *v) {
                return Err(TickError::Output {
                    plugin: self.name().to_owned(),
                    signal: bus.meta(*id).path.clone(),
                    source,
                });
            }
        }
        Ok(())
    }

    /// The state bytes the plugin wants to carry across a swap.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, TickError> {
        let Some(snap) = self.lib.descriptor().snapshot else {
            return Err(self.fail(abi::TCU_STATUS_ERROR));
        };
        let mut buf = vec![0u8; 4096];
        loop {
            let mut len = 0usize;
            // SAFETY: `buf` has `buf.len()` writable bytes; `len` is writable.
            let status = unsafe { snap(self.ptr, buf.as_mut_ptr(), buf.len(), &mut len) };
            match status {
                abi::TCU_STATUS_OK if len <= buf.len() => {
                    buf.truncate(len);
                    return Ok(buf);
                }
                abi::TCU_STATUS_BUFFER_TOO_SMALL if len > buf.len() && len <= 64 << 20 => {
                    buf.resize(len, 0);
                }
                s => {
                    return Err(self.fail(if s == abi::TCU_STATUS_OK {
                        abi::TCU_STATUS_ERROR
                    } else {
                        s
                    }));
                }
            }
        }
    }

    /// Restores a snapshot.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), TickError> {
        let Some(restore) = self.lib.descriptor().restore else {
            return Err(self.fail(abi::TCU_STATUS_ERROR));
        };
        // SAFETY: `bytes` is valid for its length.
        let status = unsafe { restore(self.ptr, bytes.as_ptr(), bytes.len()) };
        if status == abi::TCU_STATUS_OK {
            Ok(())
        } else {
            Err(self.fail(status))
        }
    }

    /// Sends a plugin-specific command.
    pub fn command(&mut self, name: &str, value: f64) -> Result<(), TickError> {
        let Ok(cname) = CString::new(name) else {
            return Err(TickError::Status {
                plugin: self.name().to_owned(),
                status: abi::status_name(abi::TCU_STATUS_INVALID_ARGUMENT),
                message: format!("command name {name:?} contains a NUL byte"),
            });
        };
        let Some(command) = self.lib.descriptor().command else {
            return Err(self.fail(abi::TCU_STATUS_ERROR));
        };
        // SAFETY: `cname` is NUL-terminated and outlives the call.
        let status = unsafe { command(self.ptr, cname.as_ptr(), value) };
        if status == abi::TCU_STATUS_OK {
            Ok(())
        } else {
            Err(self.fail(status))
        }
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        if let Some(destroy) = self.lib.descriptor().destroy {
            // SAFETY: `ptr` came from `create` and is destroyed exactly once.
            unsafe { destroy(self.ptr) };
        }
    }
}

/// Reads the plugin's last error message (for `instance`, or for `create`
/// when null).
fn last_error(lib: &PluginLibrary, instance: *mut c_void) -> String {
    let Some(f) = lib.descriptor().last_error else {
        return String::new();
    };
    let mut buf = vec![0u8; 512];
    // SAFETY: `buf` has `buf.len()` writable bytes.
    let n = unsafe { f(instance, buf.as_mut_ptr().cast(), buf.len()) };
    if n >= buf.len() && n < 1 << 20 {
        buf.resize(n + 1, 0);
        // SAFETY: as above with the larger buffer.
        unsafe { f(instance, buf.as_mut_ptr().cast(), buf.len()) };
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
