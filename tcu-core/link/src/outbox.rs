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
//! telemetry sequence numbers they carried, so no loss is silent. If the
//! disk fails, the outbox keeps working in memory and says so once.

pub use crate::msg::Msg;

use crate::spill::Spill;
use std::collections::VecDeque;
use std::path::Path;

/// What was dropped since the last report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Messages dropped.
    pub count: u64,
    /// Telemetry seq numbers among them, as inclusive ranges.
    pub seqs: Vec<(u64, u64)>,
}

impl Dropped {
    /// Adds another report to this one.
    pub fn merge(&mut self, other: Dropped) {
        self.count += other.count;
        self.seqs.extend(other.seqs);
        self.seqs.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.seqs.len());
        for (lo, hi) in self.seqs.drain(..) {
            match merged.last_mut() {
                Some((_, h)) if lo <= *h + 1 => *h = (*h).max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        self.seqs = merged;
    }

    fn add(&mut self, m: &Msg) {
        self.count += 1;
        if let Some(s) = m.seq {
            match self.seqs.last_mut() {
                Some((_, hi)) if *hi + 1 == s => *hi = s,
                _ => self.seqs.push((s, s)),
            }
        }
    }
}

/// The outbox.
#[derive(Debug)]
pub struct Outbox {
    retry: VecDeque<Msg>,
    spill: Option<Spill>,
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
    /// in [`Outbox::disk_error`]).
    pub fn new(dir: Option<&Path>, max_bytes: u64, mem_cap: usize) -> Self {
        let (spill, disk_error) = match dir.map(Spill::open) {
            None => (None, None),
            Some(Ok(Some(s))) => (Some(s), None),
            Some(Ok(None)) => (
                None,
                Some("the directory is used by another running TCU".to_owned()),
            ),
            Some(Err(e)) => (None, Some(e.to_string())),
        };
        Self {
            retry: VecDeque::new(),
            spill,
            mem: VecDeque::new(),
            mem_bytes: 0,
            retry_bytes: 0,
            mem_cap: mem_cap.max(1),
            max_bytes,
            online: false,
            dropped: Dropped::default(),
            dropped_total: 0,
            disk_error,
        }
    }

    /// Why the disk is not used, if it is not.
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

    /// Queues a message, dropping the oldest ones if over the limit.
    pub fn push(&mut self, msg: Msg) {
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
            self.dropped.add(&m);
            self.dropped_total += 1;
        }
    }

    fn spill_mem(&mut self) {
        if self.mem.is_empty() {
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
                // Keep the messages in memory; the limit still applies.
                self.disk_error = Some(format!("writing the outbox: {e}"));
                self.spill = None;
            }
        }
    }

    /// The oldest message not already handed out once (retries are few
    /// and were sent before: they stay).
    fn pop_oldest_queued(&mut self) -> Option<Msg> {
        if let Some(m) = self.pop_spill() {
            return Some(m);
        }
        let m = self.mem.pop_front()?;
        self.mem_bytes -= m.bytes();
        Some(m)
    }

    fn pop_spill(&mut self) -> Option<Msg> {
        let spill = self.spill.as_mut()?;
        match spill.pop() {
            Ok(m) => m,
            Err(e) => {
                self.disk_error = Some(format!("reading the outbox: {e}"));
                self.spill = None;
                None
            }
        }
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

    /// Takes the record of drops since the last call, if any.
    pub fn take_dropped(&mut self) -> Option<Dropped> {
        (self.dropped.count > 0).then(|| std::mem::take(&mut self.dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: u64, size: usize) -> Msg {
        Msg {
            topic: "v/telemetry".into(),
            payload: vec![b'x'; size],
            qos: 1,
            seq: Some(seq),
        }
    }

    fn drain(o: &mut Outbox) -> Vec<u64> {
        std::iter::from_fn(|| o.pop())
            .filter_map(|m| m.seq)
            .collect()
    }

    #[test]
    fn order_is_kept_across_memory_disk_and_retries() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::new(Some(dir.path()), 1 << 30, 4);
        o.set_online(true);
        for i in 0..3 {
            o.push(msg(i, 10));
        }
        o.set_online(false);
        for i in 3..10 {
            o.push(msg(i, 10));
        }
        assert!(o.mem.is_empty(), "offline messages go to disk");
        o.set_online(true);
        let first = o.pop().unwrap();
        let second = o.pop().unwrap();
        o.requeue([first, second]);
        for i in 10..20 {
            o.push(msg(i, 10));
        }
        assert_eq!(drain(&mut o), (0..20).collect::<Vec<_>>());
        assert!(o.is_empty());
    }

    #[test]
    fn when_full_the_oldest_are_dropped_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::new(Some(dir.path()), 10 * 1000, 4);
        for i in 0..30 {
            o.push(msg(i, 1000 - 16 - 11));
        }
        let d = o.take_dropped().unwrap();
        assert_eq!(d.count, 20);
        assert_eq!(d.seqs, vec![(0, 19)]);
        assert_eq!(o.take_dropped(), None);
        assert_eq!(drain(&mut o), (20..30).collect::<Vec<_>>());
        assert_eq!(o.dropped_total(), 20);
    }

    #[test]
    fn drop_reports_merge_into_ranges() {
        let mut a = Dropped {
            count: 2,
            seqs: vec![(5, 6)],
        };
        a.merge(Dropped {
            count: 4,
            seqs: vec![(1, 3), (7, 7)],
        });
        assert_eq!(
            a,
            Dropped {
                count: 6,
                seqs: vec![(1, 3), (5, 7)]
            }
        );
    }

    #[test]
    fn memory_only_outbox_works_without_a_directory() {
        let mut o = Outbox::new(None, 1 << 20, 2);
        for i in 0..5 {
            o.push(msg(i, 1));
        }
        assert_eq!(o.len(), 5);
        assert_eq!(drain(&mut o), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_restart_replays_what_was_spilled() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut o = Outbox::new(Some(dir.path()), 1 << 20, 2);
            for i in 0..5 {
                o.push(msg(i, 3));
            }
        }
        let mut o = Outbox::new(Some(dir.path()), 1 << 20, 2);
        assert_eq!(drain(&mut o), vec![0, 1, 2, 3, 4]);
    }
}
