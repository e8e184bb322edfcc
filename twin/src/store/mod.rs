//! The history: samples (vehicle, signal, time, value), events, command
//! outcomes, captures (their chunks, and whether they are complete) and
//! document checkpoints, behind the small [`Store`] trait:
//! the embedded SQLite store ([`sqlite::SqliteStore`]) for one twin, or
//! PostgreSQL ([`postgres::PostgresStore`]) shared by several twins, each
//! of which then also reads the others' document checkpoints
//! ([`Store::peer_documents`]) to serve the whole fleet.
//!
//! Writes leave the ingest path through [`writer::Writer`]: a thread that
//! batches records into one transaction each. Reads of long ranges are
//! downsampled into buckets (min, max, avg and last per bucket) by
//! [`downsample`], whatever the backend.

pub mod postgres;
pub mod sqlite;
pub mod writer;

use crate::TwinError;
use crate::clock::Millis;
use crate::doc::Outcome;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use tcu_engine::catalog::SignalId;

/// Something to keep.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// The values of one telemetry message at the vehicle's time `t`.
    Samples {
        /// VIN.
        vin: Arc<str>,
        /// The vehicle's timestamp.
        t: Millis,
        /// The message's seq (a shared store logs every message ingested
        /// by it, so that "exactly once" across twins can be counted).
        seq: u64,
        /// Signals and slot values.
        values: Vec<(SignalId, f64)>,
    },
    /// An event at the vehicle's time `t`.
    Event {
        /// VIN.
        vin: Arc<str>,
        /// The vehicle's timestamp.
        t: Millis,
        /// `type`.
        kind: String,
        /// The event's JSON.
        body: String,
    },
    /// A desired value changed state.
    Command {
        /// VIN.
        vin: Arc<str>,
        /// What happened.
        outcome: Outcome,
    },
    /// The whole document (checkpoint for a restart).
    Document {
        /// VIN.
        vin: Arc<str>,
        /// Its JSON.
        body: String,
    },
    /// One chunk of a capture, received at `t` (the first chunk of a
    /// capture also records the capture; a chunk stored before is kept).
    CaptureChunk {
        /// VIN.
        vin: Arc<str>,
        /// The capture.
        meta: Arc<CaptureMeta>,
        /// When this twin received it.
        t: Millis,
        /// Index.
        chunk: u32,
        /// Its piece of the file.
        data: String,
    },
    /// Every chunk of capture `id` is in and the file hashes to `id`.
    CaptureComplete {
        /// VIN.
        vin: Arc<str>,
        /// The capture.
        id: String,
        /// When.
        t: Millis,
        /// The header's plugins as a JSON object of name: version.
        plugins: String,
    },
}

impl Record {
    /// The vehicle it belongs to.
    pub fn vin(&self) -> &Arc<str> {
        match self {
            Self::Samples { vin, .. }
            | Self::Event { vin, .. }
            | Self::Command { vin, .. }
            | Self::Document { vin, .. }
            | Self::CaptureChunk { vin, .. }
            | Self::CaptureComplete { vin, .. } => vin,
        }
    }
}

/// What a capture is, as each of its chunks repeats it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureMeta {
    /// SHA-256 of the file, 64 lowercase hex digits.
    pub id: String,
    /// The rule that triggered it.
    pub rule: String,
    /// The vehicle's tick at the trigger.
    pub trigger_tick: u64,
    /// The simulated time at the trigger, seconds.
    pub trigger_t: f64,
    /// Length of the file.
    pub bytes: u64,
    /// Chunks it is sent in.
    pub chunks: u32,
}

/// A stored capture, as the API lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureInfo {
    /// VIN.
    pub vin: String,
    /// What the vehicle said about it.
    pub meta: CaptureMeta,
    /// Chunks stored.
    pub received_chunks: u32,
    /// Every chunk is in and the file hashes to its id.
    pub complete: bool,
    /// When it completed (else when its first chunk came).
    pub received: Millis,
    /// Plugins and versions of the trace header (complete captures).
    pub plugins: BTreeMap<String, String>,
}

impl CaptureInfo {
    /// The API's JSON.
    pub fn to_json(&self) -> Json {
        let m = &self.meta;
        serde_json::json!({
            "vin": self.vin,
            "id": m.id,
            "rule": m.rule,
            "trigger_tick": m.trigger_tick,
            "trigger_t": m.trigger_t,
            "bytes": m.bytes,
            "chunks": m.chunks,
            "chunks_received": self.received_chunks,
            "complete": self.complete,
            "received": crate::clock::rfc3339(self.received),
            "plugins": self.plugins,
        })
    }

    /// Reads the stored plugins object (an unreadable one is empty).
    pub fn parse_plugins(text: &str) -> BTreeMap<String, String> {
        serde_json::from_str(text).unwrap_or_default()
    }
}

/// A capture still missing chunks, with the chunks stored (to take up
/// joining it again after a restart).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingCapture {
    /// VIN.
    pub vin: String,
    /// The capture.
    pub meta: CaptureMeta,
    /// Stored chunks: index, piece.
    pub parts: Vec<(u32, String)>,
}

/// Which captures to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureQuery {
    /// Of this vehicle only.
    pub vin: Option<String>,
    /// Only those whose trace header lists this plugin.
    pub subsystem: Option<String>,
    /// Only complete ones.
    pub complete: bool,
}

impl CaptureQuery {
    /// Whether `c` (already of the right vehicle) is one asked for.
    pub fn admits(&self, c: &CaptureInfo) -> bool {
        (!self.complete || c.complete)
            && self
                .subsystem
                .as_ref()
                .is_none_or(|s| c.plugins.contains_key(s))
    }
}

/// Which events to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// From (inclusive).
    pub from: Millis,
    /// To (exclusive).
    pub to: Millis,
    /// Only this type.
    pub kind: Option<String>,
    /// At most this many (the newest when more match).
    pub limit: usize,
}

/// A stored command outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCommand {
    /// When.
    pub t: Millis,
    /// Command id.
    pub id: String,
    /// Path.
    pub path: String,
    /// Desired value.
    pub value: Json,
    /// State it moved to.
    pub state: String,
    /// Why (rejected, expired).
    pub reason: Option<String>,
}

/// One bucket of a downsampled series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Start of the bucket.
    pub t: Millis,
    /// Samples in it.
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub avg: f64,
    /// The value of the latest sample.
    pub last: f64,
}

/// How buckets are reduced to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Agg {
    /// Mean.
    #[default]
    Avg,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
    /// Latest.
    Last,
}

impl Agg {
    /// Parses `avg`, `min`, `max`, `last`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "avg" => Self::Avg,
            "min" => Self::Min,
            "max" => Self::Max,
            "last" => Self::Last,
            _ => return None,
        })
    }

    /// The spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Avg => "avg",
            Self::Min => "min",
            Self::Max => "max",
            Self::Last => "last",
        }
    }

    /// The bucket's value.
    pub fn of(self, b: &Bucket) -> f64 {
        match self {
            Self::Avg => b.avg,
            Self::Min => b.min,
            Self::Max => b.max,
            Self::Last => b.last,
        }
    }
}

/// Folds time-ordered samples into buckets of `step` starting at `from`
/// (empty buckets are left out).
pub fn downsample(
    samples: impl IntoIterator<Item = (Millis, f64)>,
    from: Millis,
    step: Millis,
) -> Vec<Bucket> {
    let step = step.max(1);
    let mut out: Vec<Bucket> = Vec::new();
    let mut sum = 0.0;
    for (t, v) in samples {
        let start = from + (t - from).div_euclid(step) * step;
        match out.last_mut() {
            Some(b) if b.t == start => {
                b.count += 1;
                b.min = b.min.min(v);
                b.max = b.max.max(v);
                b.last = v;
                sum += v;
                b.avg = sum / b.count as f64;
            }
            _ => {
                sum = v;
                out.push(Bucket {
                    t: start,
                    count: 1,
                    min: v,
                    max: v,
                    avg: v,
                    last: v,
                });
            }
        }
    }
    out
}

/// Where the history lives.
pub trait Store: Send + Sync + fmt::Debug {
    /// Writes a batch in one transaction.
    fn write(&self, batch: &[Record]) -> Result<(), TwinError>;

    /// Every document checkpoint (JSON) this twin wrote, for a restart.
    fn documents(&self) -> Result<Vec<String>, TwinError>;

    /// Document checkpoints other twins on the same store wrote since the
    /// last call (all of them at the first), for merging into this twin's
    /// documents; none for a store only one twin uses.
    fn peer_documents(&self) -> Result<Vec<String>, TwinError> {
        Ok(Vec::new())
    }

    /// Calls `f` with every sample of `vin`'s `path` in `[from, to)`, in
    /// time order, until it returns false.
    fn scan(
        &self,
        vin: &str,
        path: &str,
        from: Millis,
        to: Millis,
        f: &mut dyn FnMut(Millis, f64) -> bool,
    ) -> Result<(), TwinError>;

    /// Paths with samples of `vin`.
    fn signals(&self, vin: &str) -> Result<Vec<String>, TwinError>;

    /// Events of `vin`, oldest first.
    fn events(&self, vin: &str, q: &EventQuery) -> Result<Vec<Json>, TwinError>;

    /// Command outcomes of `vin` in `[from, to)`, oldest first.
    fn commands(
        &self,
        vin: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<StoredCommand>, TwinError>;

    /// Captures matching `q`, oldest first.
    fn captures(&self, q: &CaptureQuery) -> Result<Vec<CaptureInfo>, TwinError>;

    /// Every capture still missing chunks, with the chunks stored.
    fn incomplete_captures(&self) -> Result<Vec<PendingCapture>, TwinError>;

    /// Capture `id` of `vin`, with its file when complete.
    fn capture_file(
        &self,
        vin: &str,
        id: &str,
    ) -> Result<Option<(CaptureInfo, Option<String>)>, TwinError>;

    /// Deletes samples, events, outcomes and captures older than `before`
    /// (a capture by the time its first chunk came); returns how many of
    /// those rows went.
    fn prune(&self, before: Millis) -> Result<u64, TwinError>;

    /// Bytes the store takes on disk.
    fn size_bytes(&self) -> u64;

    /// Samples of `path` in `[from, to)`, at most `limit`.
    fn samples(
        &self,
        vin: &str,
        path: &str,
        from: Millis,
        to: Millis,
        limit: usize,
    ) -> Result<Vec<(Millis, f64)>, TwinError> {
        let mut out = Vec::new();
        self.scan(vin, path, from, to, &mut |t, v| {
            out.push((t, v));
            out.len() < limit
        })?;
        Ok(out)
    }

    /// `path` in `[from, to)` downsampled to buckets of `step`.
    fn buckets(
        &self,
        vin: &str,
        path: &str,
        from: Millis,
        to: Millis,
        step: Millis,
    ) -> Result<Vec<Bucket>, TwinError> {
        let mut rows = Vec::new();
        self.scan(vin, path, from, to, &mut |t, v| {
            rows.push((t, v));
            true
        })?;
        Ok(downsample(rows, from, step))
    }
}

#[cfg(test)]
mod tests;
