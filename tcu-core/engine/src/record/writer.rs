//! The recording tick hook and the thread that writes its rotating files.
//!
//! One row per tick, taken after the tick: world sensors and actuators are
//! then what the plugins of that tick read, and every plugin output is what
//! it wrote (a reader whose writer runs later in the order read the row
//! before; the header's plugin order lets a replay tell). On the tick
//! thread the hook only copies the row's bits into a batch (the columns are
//! a few contiguous runs of the bus, copied run by run); batches go
//! through a bounded channel to a writer thread that encodes them (a cell is
//! the XOR of the value's bits with the row above's, [`super::encode_xor`],
//! empty when unchanged), writes them and hands the emptied batch back, so
//! the tick never waits for the disk nor allocates a batch once running.
//! Should the writer fall a whole channel behind, a batch is dropped and
//! counted (the tick numbers of the file show the gap) rather than the tick
//! blocked.
//!
//! When the current file reaches `max_bytes` it is closed and renamed
//! `FILE.1` (older ones shift to `FILE.2`, ...; the oldest beyond `files` is
//! deleted) and a new `FILE` starts with the header and a row XORed against
//! zero, so every file replays on its own. A swap that changes the plugin
//! set also starts a new file, since the header names the versions.

use super::{Header, PluginEntry, RecordError, encode_xor};
use crate::catalog::SignalId;
use crate::sim::{Event, TickHook, Vehicle};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError, channel, sync_channel};
use std::thread::JoinHandle;

/// Rows per batch handed to the writer (0.64 s at 100 Hz).
pub const BATCH_ROWS: usize = 64;
/// Batches the channel holds before one is dropped.
const CHANNEL_BATCHES: usize = 64;

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

/// What the tick side sends the writer.
enum Msg {
    /// The plugin set changed: a new file under this header.
    Start(Header),
    /// Rows, each the tick then the bits of every column.
    Rows(Vec<u64>),
}

/// Records every tick of a vehicle (add it to the run's hooks). Dropping
/// it flushes what was recorded, as [`Recorder::finish`] does.
#[derive(Debug)]
pub struct Recorder {
    vin: String,
    seed: u64,
    /// Library identities of the plugins the header describes.
    libs: Vec<usize>,
    columns: Vec<SignalId>,
    /// The columns as runs of consecutive bus slots.
    runs: Vec<Range<usize>>,
    batch: Vec<u64>,
    tx: Option<SyncSender<Msg>>,
    /// Batches the writer has emptied, to be filled again.
    spare: Receiver<Vec<u64>>,
    /// Emptied batches taken back but not yet filled again.
    pool: Vec<Vec<u64>>,
    /// Batches handed to the writer and not yet back.
    in_flight: usize,
    worker: Option<JoinHandle<Result<(), RecordError>>>,
    dropped_rows: u64,
    stopped: bool,
    lossless: bool,
}

pub(super) fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> RecordError + 'a {
    move |source| RecordError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

impl Recorder {
    /// Creates (truncates) `settings.path`, writes the header of
    /// `vehicle`'s plugins and starts the writer thread; `vin` and `seed`
    /// are the vehicle's.
    pub fn new(
        settings: RecordSettings,
        vehicle: &Vehicle,
        vin: &str,
        seed: u64,
    ) -> Result<Self, RecordError> {
        let header = Self::header_of(vehicle, vin, seed);
        let (spare_tx, spare) = channel();
        let mut sink = Sink {
            settings,
            header: header.clone(),
            file: None,
            bytes: 0,
            last: Vec::new(),
            pending: Vec::with_capacity(64 << 10),
            spare: spare_tx,
        };
        sink.start_file(header)?;
        let (tx, rx) = sync_channel(CHANNEL_BATCHES);
        let worker = std::thread::Builder::new()
            .name("tcu-record".into())
            .spawn(move || sink.run(&rx))
            .map_err(io("starting the writer of", Path::new("the recording")))?;
        let columns = column_ids(vehicle);
        Ok(Self {
            vin: vin.to_owned(),
            seed,
            libs: lib_ids(vehicle),
            batch: Vec::with_capacity(BATCH_ROWS * (columns.len() + 1)),
            runs: runs_of(&columns),
            columns,
            tx: Some(tx),
            spare,
            pool: Vec::new(),
            in_flight: 0,
            worker: Some(worker),
            dropped_rows: 0,
            stopped: false,
            lossless: false,
        })
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

    /// Makes the tick wait for the writer instead of dropping rows when it
    /// falls behind: for recordings stepped faster than real time (tests,
    /// benchmarks, offline runs), where a wait costs nothing real.
    pub fn wait_when_behind(mut self) -> Self {
        self.lossless = true;
        self
    }

    /// Waits until the writer has encoded and written every batch handed
    /// to it (the batch being filled, up to [`BATCH_ROWS`] rows, stays with
    /// the tick). A drive paced in real time gives the writer that time
    /// between two batches; a benchmark stepping faster calls this between
    /// batches to measure the tick as it runs then.
    pub fn settle(&mut self) {
        while self.in_flight > 0 {
            match self.spare.recv() {
                Ok(back) => {
                    self.in_flight -= 1;
                    self.pool.push(back);
                }
                // The writer stopped: nothing more comes back.
                Err(_) => self.in_flight = 0,
            }
        }
    }

    /// Rows dropped because the writer fell behind.
    pub fn dropped_rows(&self) -> u64 {
        self.dropped_rows
    }

    fn send(&mut self, msg: Msg) {
        let Some(tx) = &self.tx else { return };
        let is_rows = matches!(msg, Msg::Rows(_));
        let sent = if self.lossless {
            tx.send(msg).map_err(|e| TrySendError::Disconnected(e.0))
        } else {
            tx.try_send(msg)
        };
        match sent {
            Ok(()) if is_rows => self.in_flight += 1,
            Ok(()) => {}
            Err(TrySendError::Full(Msg::Rows(rows))) => {
                self.dropped_rows += (rows.len() / (self.columns.len() + 1)) as u64;
            }
            Err(TrySendError::Full(Msg::Start(h))) => {
                // A new file must start: this one may wait.
                let _ = tx.send(Msg::Start(h));
            }
            Err(TrySendError::Disconnected(_)) => {
                // The writer stopped on an error (it logged it, finish()
                // returns it); the drive goes on without a recording.
                self.stopped = true;
                self.tx = None;
            }
        }
    }

    fn flush_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        if let Ok(back) = self.spare.try_recv() {
            self.in_flight -= 1;
            self.pool.push(back);
        }
        let next = match self.pool.pop() {
            Some(mut spare) => {
                spare.clear();
                spare
            }
            None => Vec::with_capacity(BATCH_ROWS * (self.columns.len() + 1)),
        };
        let rows = std::mem::replace(&mut self.batch, next);
        self.send(Msg::Rows(rows));
    }

    fn record(&mut self, vehicle: &Vehicle) {
        let same = vehicle.plugins().len() == self.libs.len()
            && vehicle
                .plugins()
                .iter()
                .zip(&self.libs)
                .all(|(p, id)| Arc::as_ptr(p.library()) as usize == *id);
        if !same {
            self.flush_batch();
            self.columns = column_ids(vehicle);
            self.runs = runs_of(&self.columns);
            self.libs = lib_ids(vehicle);
            let header = Self::header_of(vehicle, &self.vin, self.seed);
            self.send(Msg::Start(header));
        }
        let values = vehicle.bus().values();
        self.batch.push(vehicle.ticks());
        for run in &self.runs {
            self.batch
                .extend(values[run.clone()].iter().map(|v| v.to_bits()));
        }
        if self.batch.len() >= BATCH_ROWS * (self.columns.len() + 1) {
            self.flush_batch();
        }
    }

    fn close(&mut self) -> Result<(), RecordError> {
        self.flush_batch();
        self.tx = None;
        match self.worker.take() {
            Some(w) => w.join().unwrap_or(Ok(())),
            None => Ok(()),
        }
    }

    /// Hands the last rows to the writer and waits until it has written
    /// and flushed them; returns the error recording stopped on, if any.
    pub fn finish(mut self) -> Result<(), RecordError> {
        self.close()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!("recording: {e}");
        }
    }
}

impl TickHook for Recorder {
    fn after_tick(&mut self, vehicle: &Vehicle, _events: &[Event]) {
        if !self.stopped {
            self.record(vehicle);
        }
    }
}

/// The writer thread's side: the current file and its rotation.
struct Sink {
    settings: RecordSettings,
    header: Header,
    file: Option<BufWriter<File>>,
    bytes: u64,
    last: Vec<u64>,
    /// Rows encoded and not yet handed to the file: a batch is written at
    /// once, not a row at a time.
    pending: Vec<u8>,
    /// Where emptied batches go back to the tick side.
    spare: Sender<Vec<u64>>,
}

impl Sink {
    fn run(mut self, rx: &Receiver<Msg>) -> Result<(), RecordError> {
        let result = self.drain(rx);
        if let Err(e) = &result {
            // The tick side sees the channel close; say why once, here.
            tracing::error!("recording stopped: {e}");
        }
        result
    }

    fn drain(&mut self, rx: &Receiver<Msg>) -> Result<(), RecordError> {
        for msg in rx {
            match msg {
                Msg::Start(h) => self.start_file(h)?,
                Msg::Rows(rows) => {
                    let width = self.last.len() + 1;
                    for row in rows.chunks_exact(width) {
                        self.encode(row)?;
                    }
                    self.write_pending()?;
                    // The tick side may have stopped; then it is freed.
                    let _ = self.spare.send(rows);
                }
            }
        }
        if let Some(mut f) = self.file.take() {
            f.flush().map_err(io("writing", &self.settings.path))?;
        }
        Ok(())
    }

    fn start_file(&mut self, header: Header) -> Result<(), RecordError> {
        if let Some(mut f) = self.file.take() {
            f.flush().map_err(io("writing", &self.settings.path))?;
            drop(f);
            self.rotate()?;
        }
        // The first row of a file XORs zero: every file replays on its own.
        self.last = vec![0; header.columns.len()];
        let path = &self.settings.path;
        let mut f =
            BufWriter::with_capacity(64 << 10, File::create(path).map_err(io("creating", path))?);
        let text = header.render();
        f.write_all(text.as_bytes()).map_err(io("writing", path))?;
        self.bytes = text.len() as u64;
        self.file = Some(f);
        self.header = header;
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

    /// Encodes one row (`row[0]` the tick, then the bits of every column)
    /// after the pending ones, starting a new file once the current one is
    /// full with it.
    fn encode(&mut self, row: &[u64]) -> Result<(), RecordError> {
        let before = self.pending.len();
        encode_row(&mut self.pending, row, &mut self.last);
        self.bytes += (self.pending.len() - before) as u64;
        if self.bytes >= self.settings.max_bytes {
            self.write_pending()?;
            self.start_file(self.header.clone())?;
        }
        Ok(())
    }

    /// Hands the pending rows to the current file.
    fn write_pending(&mut self) -> Result<(), RecordError> {
        if let Some(f) = self.file.as_mut() {
            f.write_all(&self.pending)
                .map_err(io("writing", &self.settings.path))?;
        }
        self.pending.clear();
        Ok(())
    }
}

/// Appends the text of `row` (the tick, then the bits of every column),
/// each cell XORed against `last`, which then holds the row's bits.
pub(super) fn encode_row(out: &mut Vec<u8>, row: &[u64], last: &mut [u64]) {
    push_decimal(out, row[0]);
    for (bits, last) in row[1..].iter().zip(last.iter_mut()) {
        out.push(b',');
        encode_xor(out, bits ^ *last);
        *last = *bits;
    }
    out.push(b'\n');
}

/// Appends `n` in decimal (without the formatting machinery: once a row).
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
pub(super) fn column_ids(vehicle: &Vehicle) -> Vec<SignalId> {
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

/// `columns` (sorted bus slots) as runs of consecutive slots.
fn runs_of(columns: &[SignalId]) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    for id in columns {
        let i = id.index();
        match runs.last_mut() {
            Some(run) if run.end == i => run.end = i + 1,
            _ => runs.push(i..i + 1),
        }
    }
    runs
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
