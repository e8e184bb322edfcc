//! Captures from `vehicle/{vin}/captures` (`docs/RECORDING.md`, "Captures
//! over MQTT"): a capture file arrives as chunks, each a JSON object naming
//! the capture (`id`, the SHA-256 of the whole file), its make-up (`rule`,
//! `trigger_tick`, `trigger_t`, `bytes`, `chunks`) and one piece of the
//! file (`chunk`, `data`).
//!
//! [`Assembler`] takes chunks in any order, ignores duplicates and keeps
//! each accepted chunk as a record for the store at once; the chunk that
//! completes a capture is checked with the others (the joined file is
//! `bytes` long and hashes to `id`) before it is kept, so a chunk that
//! spoils the file is refused without losing what came before. The pieces
//! of the captures still incomplete are held in memory (bounded by
//! [`MAX_PENDING_BYTES`]) to hash the joined file.

use crate::clock::Millis;
use crate::ingest::{Refusal, object, refuse, vin_matches};
pub use crate::store::CaptureMeta;
use crate::store::Record;
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// Most bytes of file data in one chunk (the contract's 32 KiB).
pub const MAX_CHUNK_DATA: usize = 32 * 1024;

/// The smallest payload limit that admits every chunk the contract allows:
/// 32 KiB of a file escaped to at most twice that in JSON (a newline is
/// `\n`), plus the other members.
pub const MIN_PAYLOAD_LIMIT: usize = 2 * MAX_CHUNK_DATA + 1024;

/// Largest capture file taken.
pub const MAX_CAPTURE_BYTES: u64 = 64 << 20;

/// Bytes of incomplete captures held in memory at most; beyond, the
/// oldest incomplete capture is forgotten (its stored chunks stay).
pub const MAX_PENDING_BYTES: u64 = 256 << 20;

/// Ids of complete captures remembered, so that a late duplicate of one of
/// their chunks does not start it over.
const DONE_KEPT: usize = 4096;

/// One checked chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// The capture.
    pub meta: CaptureMeta,
    /// This chunk's index, below `meta.chunks`.
    pub chunk: u32,
    /// Its piece of the file.
    pub data: String,
}

fn text(m: &Map<String, Json>, key: &str) -> Result<String, Refusal> {
    match m.get(key) {
        Some(Json::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(refuse(key, "missing or not a non-empty string")),
    }
}

fn whole(m: &Map<String, Json>, key: &str) -> Result<u64, Refusal> {
    m.get(key)
        .and_then(Json::as_u64)
        .ok_or_else(|| refuse(key, "missing or not a whole number"))
}

/// Checks a `captures` payload of `vin` on its own (how it fits the other
/// chunks of its capture is [`Assembler::offer`]'s business).
pub fn chunk(payload: &[u8], vin: &str, max: usize) -> Result<Chunk, Refusal> {
    let m = object(payload, max)?;
    vin_matches(&m, vin)?;
    let id = text(&m, "id")?;
    if id.len() != 64 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(refuse(
            "id",
            format!("`{id}` is not a SHA-256 in 64 lowercase hex digits"),
        ));
    }
    let rule = text(&m, "rule")?;
    let trigger_tick = whole(&m, "trigger_tick")?;
    let trigger_t = m
        .get("trigger_t")
        .and_then(Json::as_f64)
        .filter(|t| t.is_finite())
        .ok_or_else(|| refuse("trigger_t", "missing or not a number"))?;
    let bytes = whole(&m, "bytes")?;
    if bytes == 0 || bytes > MAX_CAPTURE_BYTES {
        return Err(refuse(
            "bytes",
            format!("{bytes} is not a capture size from 1 to {MAX_CAPTURE_BYTES}"),
        ));
    }
    let chunks = u32::try_from(whole(&m, "chunks")?)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| refuse("chunks", "must be from 1 to 2^32 - 1"))?;
    if bytes > u64::from(chunks) * MAX_CHUNK_DATA as u64 {
        return Err(refuse(
            "chunks",
            format!("{chunks} chunks of at most {MAX_CHUNK_DATA} bytes cannot hold {bytes} bytes"),
        ));
    }
    let index = whole(&m, "chunk")?;
    let chunk = u32::try_from(index)
        .ok()
        .filter(|&c| c < chunks)
        .ok_or_else(|| refuse("chunk", format!("{index} is not below chunks = {chunks}")))?;
    let data = match m.get("data") {
        Some(Json::String(s)) => s.clone(),
        _ => return Err(refuse("data", "missing or not a string")),
    };
    if data.is_empty() || data.len() > MAX_CHUNK_DATA || !data.is_ascii() {
        return Err(refuse(
            "data",
            format!(
                "{} bytes: a piece is 1 to {MAX_CHUNK_DATA} bytes of ASCII text",
                data.len()
            ),
        ));
    }
    Ok(Chunk {
        meta: CaptureMeta {
            id,
            rule,
            trigger_tick,
            trigger_t,
            bytes,
            chunks,
        },
        chunk,
        data,
    })
}

/// The plugins (name, version) a trace's header lists, in its order.
pub fn header_plugins(file: &str) -> Vec<(String, String)> {
    file.lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| {
            let mut words = l.strip_prefix("# plugin ")?.split(' ');
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect()
}

/// SHA-256 in lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    use std::fmt::Write;
    Sha256::digest(data)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// What an accepted chunk did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// Already had it (or the whole capture): nothing to keep.
    Duplicate,
    /// Kept; the capture still misses chunks.
    Stored,
    /// Kept, and the capture is complete.
    Complete,
}

#[derive(Debug)]
struct Pending {
    meta: Arc<CaptureMeta>,
    parts: BTreeMap<u32, String>,
    held: u64,
}

type Key = (Arc<str>, String);

/// Chunks in, records out (see the module's documentation).
#[derive(Debug, Default)]
pub struct Assembler {
    pending: HashMap<Key, Pending>,
    /// Incomplete captures, oldest first (for forgetting under pressure).
    order: VecDeque<Key>,
    held: u64,
    done: HashSet<Key>,
    done_order: VecDeque<Key>,
}

impl Assembler {
    /// Takes one chunk of `vin` received at `now`; the records to keep go
    /// to `records`. A refusal keeps nothing and changes nothing.
    pub fn offer(
        &mut self,
        vin: &Arc<str>,
        c: Chunk,
        now: Millis,
        records: &mut Vec<Record>,
    ) -> Result<Offer, Refusal> {
        let key: Key = (vin.clone(), c.meta.id.clone());
        if self.done.contains(&key) {
            return Ok(Offer::Duplicate);
        }
        if let Some(p) = self.pending.get(&key) {
            for (field, mine, theirs) in [
                ("chunks", u64::from(c.meta.chunks), u64::from(p.meta.chunks)),
                ("bytes", c.meta.bytes, p.meta.bytes),
            ] {
                if mine != theirs {
                    return Err(refuse(
                        field,
                        format!(
                            "{mine} differs from the {theirs} of earlier chunks of capture {}",
                            c.meta.id
                        ),
                    ));
                }
            }
            if p.parts.contains_key(&c.chunk) {
                return Ok(Offer::Duplicate);
            }
        }
        let held = self.pending.get(&key).map_or(0, |p| p.held);
        let after = held + c.data.len() as u64;
        if after > c.meta.bytes {
            return Err(refuse(
                "data",
                format!(
                    "chunk {} brings capture {} to {after} bytes, over its {}",
                    c.chunk, c.meta.id, c.meta.bytes
                ),
            ));
        }
        let have = self.pending.get(&key).map_or(0, |p| p.parts.len());
        if have + 1 == c.meta.chunks as usize {
            return self.complete(key, c, now, records);
        }
        let p = match self.pending.entry(key.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                self.order.push_back(key);
                e.insert(Pending {
                    meta: Arc::new(c.meta.clone()),
                    parts: BTreeMap::new(),
                    held: 0,
                })
            }
        };
        records.push(Record::CaptureChunk {
            vin: vin.clone(),
            meta: p.meta.clone(),
            t: now,
            chunk: c.chunk,
            data: c.data.clone(),
        });
        p.held += c.data.len() as u64;
        self.held += c.data.len() as u64;
        p.parts.insert(c.chunk, c.data);
        self.relieve();
        Ok(Offer::Stored)
    }

    /// The last missing chunk: kept only when the joined file is the one
    /// `id` names.
    fn complete(
        &mut self,
        key: Key,
        c: Chunk,
        now: Millis,
        records: &mut Vec<Record>,
    ) -> Result<Offer, Refusal> {
        let mut file = String::with_capacity(usize::try_from(c.meta.bytes).unwrap_or(0));
        let mut joined = false;
        if let Some(p) = self.pending.get(&key) {
            for (&i, part) in &p.parts {
                if i == c.chunk {
                    continue;
                }
                if !joined && i > c.chunk {
                    file.push_str(&c.data);
                    joined = true;
                }
                file.push_str(part);
            }
        }
        if !joined {
            file.push_str(&c.data);
        }
        if file.len() as u64 != c.meta.bytes {
            return Err(refuse(
                "bytes",
                format!(
                    "the joined capture {} is {} bytes, not {}",
                    c.meta.id,
                    file.len(),
                    c.meta.bytes
                ),
            ));
        }
        let hash = sha256_hex(file.as_bytes());
        if hash != c.meta.id {
            return Err(refuse(
                "id",
                format!(
                    "the joined capture hashes to {hash}, not its id {}",
                    c.meta.id
                ),
            ));
        }
        let meta = match self.pending.remove(&key) {
            Some(p) => {
                self.held -= p.held;
                self.order.retain(|k| k != &key);
                p.meta
            }
            None => Arc::new(c.meta.clone()),
        };
        let plugins: Map<String, Json> = header_plugins(&file)
            .into_iter()
            .map(|(n, v)| (n, Json::String(v)))
            .collect();
        records.push(Record::CaptureChunk {
            vin: key.0.clone(),
            meta,
            t: now,
            chunk: c.chunk,
            data: c.data,
        });
        records.push(Record::CaptureComplete {
            vin: key.0.clone(),
            id: key.1.clone(),
            t: now,
            plugins: Json::Object(plugins).to_string(),
        });
        tracing::info!(vin = %key.0, id = %key.1, rule = %c.meta.rule, bytes = c.meta.bytes, "capture complete");
        self.done.insert(key.clone());
        self.done_order.push_back(key);
        while self.done_order.len() > DONE_KEPT {
            if let Some(k) = self.done_order.pop_front() {
                self.done.remove(&k);
            }
        }
        Ok(Offer::Complete)
    }

    /// Forgets the oldest incomplete captures while too much is held.
    fn relieve(&mut self) {
        while self.held > MAX_PENDING_BYTES {
            let Some(k) = self.order.pop_front() else {
                break;
            };
            if let Some(p) = self.pending.remove(&k) {
                self.held -= p.held;
                tracing::warn!(vin = %k.0, id = %k.1, "an incomplete capture is forgotten: too many bytes of incomplete captures held");
            }
        }
    }

    /// Takes up an incomplete capture of `vin` whose chunks `parts` the
    /// store kept (after a restart): its next chunks join them. Parts that
    /// do not fit its make-up are left out.
    pub fn restore(&mut self, vin: Arc<str>, meta: CaptureMeta, parts: Vec<(u32, String)>) {
        let key: Key = (vin, meta.id.clone());
        if self.done.contains(&key) || self.pending.contains_key(&key) {
            return;
        }
        let mut p = Pending {
            meta: Arc::new(meta),
            parts: BTreeMap::new(),
            held: 0,
        };
        for (i, data) in parts {
            let fits = i < p.meta.chunks && p.held + data.len() as u64 <= p.meta.bytes;
            if fits && !p.parts.contains_key(&i) {
                p.held += data.len() as u64;
                p.parts.insert(i, data);
            }
        }
        self.held += p.held;
        self.pending.insert(key.clone(), p);
        self.order.push_back(key);
        self.relieve();
    }

    /// Captures waiting for chunks.
    pub fn incomplete(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
pub(crate) mod tests;
