//! The outbox: every telemetry snapshot, event and command response waits
//! here until the broker has acknowledged it (QoS 1) or it has been written
//! to the connection (QoS 0).
//!
//! One FIFO in three parts, taken in this order: `retry` (messages handed to
//! the client when the link dropped, so sent again first), the disk
//! [`Spill`] (older), memory (newest). While the link is up, memory holds up
//! to `mem_cap` messages before they spill; while it is down, every message
//! goes to disk at once so that a crash loses nothing. Appending all of
//! memory to the end of the disk queue keeps the order.
//!
//! The size limit counts the bytes of queued messages. When a push goes over
//! it, the oldest messages are dropped and remembered: the link logs them
//! and publishes an `outbox.dropped` event with their count and the
//! telemetry sequence numbers they carried, so no loss is silent. The same
//! goes for what the disk queue loses (damaged or unreadable records): each
//! drop carries its [`DropReason`]. If writing to the disk fails, the
//! outbox logs it at once, keeps reading what the disk holds and keeps new
//! messages in memory.

pub use crate::msg::{DropReason, Dropped, Msg};

use crate::spill::{self, Spill};
use std::collections::VecDeque;
use std::path::Path;

/// The outbox.
#[derive(Debug)]
pub struct Outbox {
    retry: VecDeque<Msg>,
    spill: Option<Spill>,
    /// False after a write to the disk queue failed: it is still read,
    /// but no longer written.
    spill_writable: bool,
    mem: VecDeque<Msg>,
    mem_bytes: u64,
    retry_bytes: u64,
    mem_cap: usize,
    max_bytes: u64,
    online: bool,
    dropped: Dropped,
    dropped_total: u64,
    disk_error: Option<String>,
}

impl Outbox {
    /// An outbox spilling to `dir` (memory only with `None`, or when the
    /// directory is held by another process or cannot be used: the reason is
    /// logged and kept in [`Outbox::disk_error`]). What the directory held
    /// is queued again; what of it was damaged is reported as dropped.
    pub fn new(dir: Option<&Path>, max_bytes: u64, mem_cap: usize) -> Self {
        let mut disk_error = None;
        let spill = match dir.map(|d| (d, Spill::open(d))) {
            None => None,
            Some((_, Ok(Some(s)))) => Some(s),
            Some((d, Ok(None))) => {
                tracing::warn!(dir = %d.display(), "outbox in memory only: the directory is used by another running TCU");
                disk_error = Some("the directory is used by another running TCU".to_owned());
                None
            }
            Some((d, Err(e))) => {
                tracing::error!(dir = %d.display(), "outbox in memory only: opening its directory failed: {e}");
                disk_error = Some(format!("opening {}: {e}", d.display()));
                None
            }
        };
        let mut o = Self {
            retry: VecDeque::new(),
            spill,
            spill_writable: true,
            mem: VecDeque::new(),
            mem_bytes: 0,
            retry_bytes: 0,
            mem_cap: mem_cap.max(1),
            max_bytes,
            online: false,
            dropped: Dropped::default(),
            dropped_total: 0,
            disk_error,
        };
        o.collect_spill_losses();
        o
    }

    /// Why the disk is not used (or no longer written), if so.
    pub fn disk_error(&self) -> Option<&str> {
        self.disk_error.as_deref()
    }

    /// Messages queued.
    pub fn len(&self) -> u64 {
        self.retry.len() as u64 + self.mem.len() as u64 + self.spill.as_ref().map_or(0, Spill::len)
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes queued.
    pub fn bytes(&self) -> u64 {
        self.retry_bytes + self.mem_bytes + self.spill.as_ref().map_or(0, Spill::bytes)
    }

    /// Messages dropped since the start.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// Link state: offline spills everything to disk.
    pub fn set_online(&mut self, online: bool) {
        self.online = online;
        if !online {
            self.spill_mem();
        }
    }

    fn drop_msg(&mut self, m: &Msg, reason: DropReason) {
        self.dropped.add(m, reason);
        self.dropped_total += 1;
    }

    /// Queues a message, dropping the oldest ones if over the limit.
    pub fn push(&mut self, msg: Msg) {
        if msg.payload.len() + msg.topic.len() + spill::TRAILER > spill::MAX_BODY
            || msg.topic.len() > usize::from(u16::MAX)
        {
            // It could neither be spilled nor sent (the client refuses a
            // packet that large).
            return self.drop_msg(&msg, DropReason::TooLarge);
        }
        self.mem_bytes += msg.bytes();
        self.mem.push_back(msg);
        let threshold = if self.online { self.mem_cap } else { 0 };
        if self.mem.len() > threshold {
            self.spill_mem();
        }
        while self.bytes() > self.max_bytes {
            let Some(m) = self.pop_oldest_queued() else {
                break;
            };
            self.drop_msg(&m, DropReason::OutboxFull);
        }
    }

    fn spill_mem(&mut self) {
        if self.mem.is_empty() || !self.spill_writable {
            return;
        }
        let Some(spill) = self.spill.as_mut() else {
            return;
        };
        match spill.append(self.mem.iter()) {
            Ok(()) => {
                self.mem.clear();
                self.mem_bytes = 0;
            }
            Err(e) => {
                // The disk queue is as it was before the append: it is
                // still read (it holds the older messages), the messages
                // stay in memory, the size limit still applies.
                tracing::error!(
                    "outbox: writing its disk queue failed ({e}); from now on it keeps new messages in memory only"
                );
                self.disk_error = Some(format!("writing the outbox: {e}"));
                self.spill_writable = false;
            }
        }
    }

    /// Moves the disk queue's losses into the report.
    fn collect_spill_losses(&mut self) {
        if let Some(d) = self.spill.as_mut().and_then(Spill::take_lost) {
            self.dropped_total += d.count;
            self.dropped.merge(d);
        }
    }

    /// The oldest message not already handed out once (retries are few
    /// and were sent before: they stay).
    fn pop_oldest_queued(&mut self) -> Option<Msg> {
        let from_disk = self.spill.as_mut().and_then(Spill::pop);
        self.collect_spill_losses();
        if from_disk.is_some() {
            return from_disk;
        }
        let m = self.mem.pop_front()?;
        self.mem_bytes -= m.bytes();
        Some(m)
    }

    /// Takes the next message to send.
    pub fn pop(&mut self) -> Option<Msg> {
        if let Some(m) = self.retry.pop_front() {
            self.retry_bytes -= m.bytes();
            return Some(m);
        }
        self.pop_oldest_queued()
    }

    /// Puts messages handed out but not acknowledged back at the front, in
    /// their original order.
    pub fn requeue(&mut self, msgs: impl IntoIterator<Item = Msg>) {
        let mut msgs: Vec<Msg> = msgs.into_iter().collect();
        for m in msgs.drain(..).rev() {
            self.retry_bytes += m.bytes();
            self.retry.push_front(m);
        }
    }

    /// Writes everything still in memory (retries first, then the newest)
    /// to the disk queue, for a stop: the next start sends it. What cannot
    /// be written is logged as lost, with its telemetry seqs.
    pub fn persist(&mut self) {
        let mut all: VecDeque<Msg> = std::mem::take(&mut self.retry);
        all.append(&mut self.mem);
        self.retry_bytes = 0;
        self.mem_bytes = all.iter().map(Msg::bytes).sum();
        self.mem = all;
        self.spill_mem();
        if !self.mem.is_empty() {
            let seqs: Vec<u64> = self.mem.iter().filter_map(|m| m.seq).collect();
            tracing::warn!(
                count = self.mem.len(),
                first_seq = seqs.first(),
                last_seq = seqs.last(),
                "outbox: messages neither delivered before the stop nor on disk are lost"
            );
        }
    }

    /// Takes the record of drops since the last call, if any.
    pub fn take_dropped(&mut self) -> Option<Dropped> {
        (!self.dropped.is_empty()).then(|| std::mem::take(&mut self.dropped))
    }
}

#[cfg(test)]
mod tests;
