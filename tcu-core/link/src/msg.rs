//! A message on its way to the broker, as the outbox and its disk spill
//! keep it, and the record of messages lost on the way ([`Dropped`]), which
//! the link publishes as an `outbox.dropped` event so that no loss is
//! silent.

use std::collections::BTreeMap;

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// 0 or 1.
    pub qos: u8,
    /// Telemetry sequence number, for loss reports.
    pub seq: Option<u64>,
}

/// Bytes a message counts beyond its topic and payload, in memory as on
/// disk (where they are its record's prefix and trailer).
pub(crate) const OVERHEAD: usize = 36;

impl Msg {
    /// Bytes counted against the outbox's limit.
    pub(crate) fn bytes(&self) -> u64 {
        (self.topic.len() + self.payload.len() + OVERHEAD) as u64
    }
}

/// Why messages were lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// The outbox was over its size limit: the oldest messages went.
    OutboxFull,
    /// The tick hook could not hand the message to the link (its channel was
    /// full: the link's task was stalled).
    LinkStalled,
    /// A record of the disk queue was damaged (checksum, marker or length
    /// wrong, or cut short by a crash).
    CorruptRecord,
    /// A segment of the disk queue could no longer be read.
    DiskRead,
    /// The message is larger than a disk record may be.
    TooLarge,
}

impl DropReason {
    /// The key used in the `outbox.dropped` event.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutboxFull => "outbox_full",
            Self::LinkStalled => "link_stalled",
            Self::CorruptRecord => "corrupt_record",
            Self::DiskRead => "disk_read_failed",
            Self::TooLarge => "too_large",
        }
    }

    /// A phrase for logs and the event's `detail`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::OutboxFull => "outbox full",
            Self::LinkStalled => "link stalled",
            Self::CorruptRecord => "damaged on disk",
            Self::DiskRead => "unreadable on disk",
            Self::TooLarge => "too large for the outbox",
        }
    }
}

/// What was dropped since the last report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Messages dropped.
    pub count: u64,
    /// Telemetry seq numbers among them, as sorted inclusive ranges.
    pub seqs: Vec<(u64, u64)>,
    /// How many for each reason (the counts add up to `count`).
    pub reasons: BTreeMap<DropReason, u64>,
}

impl Dropped {
    /// True when nothing was dropped.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds another report to this one.
    pub fn merge(&mut self, other: Dropped) {
        self.count += other.count;
        for (r, n) in other.reasons {
            *self.reasons.entry(r).or_default() += n;
        }
        self.seqs.extend(other.seqs);
        self.normalise_seqs();
    }

    fn normalise_seqs(&mut self) {
        self.seqs.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.seqs.len());
        for (lo, hi) in self.seqs.drain(..) {
            match merged.last_mut() {
                Some((_, h)) if lo <= h.saturating_add(1) => *h = (*h).max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        self.seqs = merged;
    }

    /// Records one lost message.
    pub fn add(&mut self, m: &Msg, reason: DropReason) {
        self.add_count(reason, 1);
        if let Some(s) = m.seq {
            self.add_seqs(s, s);
        }
    }

    /// Records `n` lost messages whose seqs are added separately (or
    /// unknown).
    pub fn add_count(&mut self, reason: DropReason, n: u64) {
        if n == 0 {
            return;
        }
        self.count += n;
        *self.reasons.entry(reason).or_default() += n;
    }

    /// Records the telemetry seqs `lo..=hi` among the lost messages.
    pub fn add_seqs(&mut self, lo: u64, hi: u64) {
        // Seqs mostly come in order: extend or append without sorting.
        match self.seqs.last_mut() {
            None => self.seqs.push((lo, hi)),
            Some((_, h)) if lo == h.saturating_add(1) => *h = (*h).max(hi),
            Some((_, h)) if lo > h.saturating_add(1) => self.seqs.push((lo, hi)),
            Some(_) => {
                self.seqs.push((lo, hi));
                self.normalise_seqs();
            }
        }
    }

    /// "3 outbox full, 1 damaged on disk".
    pub fn describe(&self) -> String {
        self.reasons
            .iter()
            .map(|(r, n)| format!("{n} {}", r.describe()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_reports_merge_into_ranges_and_add_up_their_reasons() {
        let mut a = Dropped::default();
        a.add_count(DropReason::OutboxFull, 2);
        a.add_seqs(5, 6);
        let mut b = Dropped::default();
        b.add_count(DropReason::OutboxFull, 3);
        b.add_count(DropReason::CorruptRecord, 1);
        b.add_seqs(1, 3);
        b.add_seqs(7, 7);
        a.merge(b);
        assert_eq!(a.count, 6);
        assert_eq!(a.seqs, vec![(1, 3), (5, 7)]);
        assert_eq!(a.reasons[&DropReason::OutboxFull], 5);
        assert_eq!(a.reasons[&DropReason::CorruptRecord], 1);
        assert_eq!(a.describe(), "5 outbox full, 1 damaged on disk");
    }

    #[test]
    fn seqs_added_out_of_order_stay_sorted_and_merged() {
        let mut d = Dropped::default();
        for s in [4, 5, 1, 2, 9, 3] {
            d.add_seqs(s, s);
        }
        assert_eq!(d.seqs, vec![(1, 5), (9, 9)]);
    }
}
