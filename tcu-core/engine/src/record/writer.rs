//! The recording tick hook and its rotating files.
//!
//! One row per tick, taken after the tick: world sensors and actuators are
//! then what the plugins of that tick read, and every plugin output is what
//! it wrote (a reader whose writer runs later in the order read the row
//! before; the header's plugin order lets a replay tell). A cell is the
//! XOR of the value's bits with the row above's ([`super::encode_xor`]),
//! empty when unchanged, so a parked car costs a few bytes a tick. When the current file reaches
//! `max_bytes` it is closed and renamed `FILE.1` (older ones shift to
//! `FILE.2`, ...; the oldest beyond `files` is deleted) and a new `FILE`
//! starts with the header and a row XORed against zero, so every file
//! replays on its own.
//! A swap that changes the plugin set also starts a new file, since the
//! header names the versions.

use super::{Header, PluginEntry, RecordError, encode_xor};
use crate::bus::Bus;
use crate::catalog::SignalId;
use crate::sim::{Event, TickHook, Vehicle};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where and how much to record (`[record]`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSettings {
    /// The current file; rotated ones get `.1`, `.2`, ... appended.
    pub path: PathBuf,
    /// A file is rotated once it holds this many bytes (at least one row).
    pub max_bytes: u64,
    /// Files kept, the current one included (at least 1).
    pub files: u32,
}

/// Records every tick of a vehicle (add it to the run's hooks).
#[derive(Debug)]
pub struct Recorder {
    settings: RecordSettings,
    vin: String,
    seed: u64,
    tick_rate_hz: f64,
    /// Library identities of the plugins the header describes.
    libs: Vec<usize>,
    columns: Vec<SignalId>,
    last: Vec<u64>,
    file: Option<BufWriter<File>>,
    bytes: u64,
    row: Vec<u8>,
    failed: Option<RecordError>,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> RecordError + 'a {
    move |source| RecordError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

impl Recorder {
    /// Creates (truncates) `settings.path` and writes the header of
    /// `vehicle`'s plugins; `vin` and `seed` are the vehicle's.
    pub fn new(
        settings: RecordSettings,
        vehicle: &Vehicle,
        vin: &str,
        seed: u64,
    ) -> Result<Self, RecordError> {
        let mut r = Self {
            settings,
            vin: vin.to_owned(),
            seed,
            tick_rate_hz: 1.0 / vehicle.dt(),
            libs: Vec::new(),
            columns: Vec::new(),
            last: Vec::new(),
            file: None,
            bytes: 0,
            row: Vec::with_capacity(4096),
            failed: None,
        };
        r.start_file(vehicle)?;
        Ok(r)
    }

    /// The header `vehicle` would be recorded under.
    pub fn header_of(vehicle: &Vehicle, vin: &str, seed: u64) -> Header {
        let bus = vehicle.bus();
        let plugins: Vec<PluginEntry> = vehicle
            .plugins()
            .iter()
            .map(|p| {
                let lib = p.library();
                let names =
                    |ids: &[SignalId]| ids.iter().map(|id| bus.meta(*id).path.clone()).collect();
                PluginEntry {
                    name: lib.name().to_owned(),
                    version: lib.info().version.clone(),
                    reads: names(lib.reads()),
                    writes: names(lib.writes()),
                }
            })
            .collect();
        Header {
            tick_rate_hz: 1.0 / vehicle.dt(),
            seed,
            vin: vin.to_owned(),
            plugins,
            columns: column_ids(vehicle)
                .into_iter()
                .map(|id| bus.meta(id).path.clone())
                .collect(),
        }
    }

    fn start_file(&mut self, vehicle: &Vehicle) -> Result<(), RecordError> {
        if let Some(mut f) = self.file.take() {
            f.flush().map_err(io("writing", &self.settings.path))?;
            drop(f);
            self.rotate()?;
        }
        let header = Self::header_of(vehicle, &self.vin, self.seed);
        self.tick_rate_hz = header.tick_rate_hz;
        self.columns = column_ids(vehicle);
        self.libs = lib_ids(vehicle);
        // The first row of a file XORs zero: every file replays on its own.
        self.last = vec![0; self.columns.len()];
        let path = &self.settings.path;
        let mut f =
            BufWriter::with_capacity(64 << 10, File::create(path).map_err(io("creating", path))?);
        let text = header.render();
        f.write_all(text.as_bytes()).map_err(io("writing", path))?;
        self.bytes = text.len() as u64;
        self.file = Some(f);
        Ok(())
    }

    /// Shifts `FILE.(n)` to `FILE.(n+1)` and `FILE` to `FILE.1`, deleting
    /// what falls beyond `files`.
    fn rotate(&self) -> Result<(), RecordError> {
        let keep = self.settings.files.max(1);
        let name = |n: u32| -> PathBuf {
            if n == 0 {
                self.settings.path.clone()
            } else {
                let mut s = self.settings.path.clone().into_os_string();
                s.push(format!(".{n}"));
                PathBuf::from(s)
            }
        };
        let oldest = name(keep - 1);
        if keep == 1 || oldest.exists() {
            std::fs::remove_file(&oldest).map_err(io("removing", &oldest))?;
        }
        for n in (0..keep.saturating_sub(1)).rev() {
            let from = name(n);
            if from.exists() {
                let to = name(n + 1);
                std::fs::rename(&from, &to).map_err(io("renaming", &from))?;
            }
        }
        Ok(())
    }

    fn write_row(&mut self, vehicle: &Vehicle) -> Result<(), RecordError> {
        let same = vehicle.plugins().len() == self.libs.len()
            && vehicle
                .plugins()
                .iter()
                .zip(&self.libs)
                .all(|(p, id)| Arc::as_ptr(p.library()) as usize == *id);
        if !same {
            self.start_file(vehicle)?;
        }
        let bus: &Bus = vehicle.bus();
        self.row.clear();
        push_decimal(&mut self.row, vehicle.ticks());
        for (id, last) in self.columns.iter().zip(self.last.iter_mut()) {
            self.row.push(b',');
            let bits = bus.get(*id).to_bits();
            encode_xor(&mut self.row, bits ^ *last);
            *last = bits;
        }
        self.row.push(b'\n');
        let path = &self.settings.path;
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        f.write_all(&self.row).map_err(io("writing", path))?;
        self.bytes += self.row.len() as u64;
        if self.bytes >= self.settings.max_bytes {
            self.start_file(vehicle)?;
        }
        Ok(())
    }

    /// The first error, if recording stopped on one.
    pub fn error(&self) -> Option<&RecordError> {
        self.failed.as_ref()
    }

    /// Flushes the current file; returns the error recording stopped on,
    /// if any.
    pub fn finish(mut self) -> Result<(), RecordError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if let Some(mut f) = self.file.take() {
            f.flush().map_err(io("writing", &self.settings.path))?;
        }
        Ok(())
    }
}

impl TickHook for Recorder {
    fn after_tick(&mut self, vehicle: &Vehicle, _events: &[Event]) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = self.write_row(vehicle) {
            // The drive goes on without its recording; say so once.
            tracing::error!("recording stopped: {e}");
            self.file = None;
            self.failed = Some(e);
        }
    }
}

/// Appends `n` in decimal (without the formatting machinery: once a tick).
fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut rest = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Every signal a plugin of `vehicle` reads or writes, in catalog order.
fn column_ids(vehicle: &Vehicle) -> Vec<SignalId> {
    let mut ids: Vec<SignalId> = vehicle
        .plugins()
        .iter()
        .flat_map(|p| {
            let lib = p.library();
            lib.reads().iter().chain(lib.writes()).copied()
        })
        .collect();
    ids.sort_by_key(|id| id.0);
    ids.dedup();
    ids
}

/// Identities of the plugin libraries, in execution order (a swap changes
/// them).
fn lib_ids(vehicle: &Vehicle) -> Vec<usize> {
    vehicle
        .plugins()
        .iter()
        .map(|p| Arc::as_ptr(p.library()) as usize)
        .collect()
}
