//! Loss accounting by sequence number: every telemetry message carries a
//! `seq` that steps by one, so a gap is a loss, a seq seen twice is a
//! duplicate and a seq that arrives after a higher one is a reordering.
//! A gap the vehicle itself reported (its outbox dropped the message and
//! said so in an `outbox.dropped` event) is reported loss; any other gap
//! is silent loss, until the missing message arrives late.
//!
//! A vehicle restart starts its seq again from 1; the tracker notices a
//! lower seq after the vehicle came back online (or a seq far below the
//! highest) and starts a new run, keeping the silent losses of the old one.
//!
//! In a shared subscription each twin sees only a share of every vehicle's
//! messages, so gaps say nothing there: with `gap_accounting` off the
//! tracker counts what it received and its duplicates only.

use serde::{Deserialize, Serialize};

/// How far below the highest seq duplicates are still recognised, and the
/// distance below which a lower seq means a restarted vehicle.
pub const WINDOW: u64 = 4096;

/// Disjoint, sorted, inclusive ranges of sequence numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeSet(Vec<(u64, u64)>);

impl RangeSet {
    /// Index of the first range whose end is at or above `x`.
    fn first_ending_at_or_after(&self, x: u64) -> usize {
        self.0.partition_point(|&(_, b)| b < x)
    }

    /// Whether `x` is in the set.
    pub fn contains(&self, x: u64) -> bool {
        let i = self.first_ending_at_or_after(x);
        self.0.get(i).is_some_and(|&(a, _)| a <= x)
    }

    /// Adds `[a, b]`; returns how many of its numbers were new.
    pub fn insert(&mut self, a: u64, b: u64) -> u64 {
        if a > b {
            return 0;
        }
        let before = self.len();
        // Ranges that overlap or touch [a, b] merge with it.
        let lo = self.0.partition_point(|&(_, e)| e.saturating_add(1) < a);
        let hi = self.0.partition_point(|&(s, _)| s <= b.saturating_add(1));
        let (mut na, mut nb) = (a, b);
        if lo < hi {
            na = na.min(self.0[lo].0);
            nb = nb.max(self.0[hi - 1].1);
        }
        self.0.splice(lo..hi, [(na, nb)]);
        self.len() - before
    }

    /// Removes `[a, b]`; returns how many numbers were removed.
    pub fn remove(&mut self, a: u64, b: u64) -> u64 {
        if a > b {
            return 0;
        }
        let before = self.len();
        let mut kept = Vec::with_capacity(self.0.len() + 1);
        for &(s, e) in &self.0 {
            if e < a || s > b {
                kept.push((s, e));
                continue;
            }
            if s < a {
                kept.push((s, a - 1));
            }
            if e > b {
                kept.push((b + 1, e));
            }
        }
        self.0 = kept;
        before - self.len()
    }

    /// How many numbers of `[a, b]` are in the set.
    pub fn count_in(&self, a: u64, b: u64) -> u64 {
        if a > b {
            return 0;
        }
        let i = self.first_ending_at_or_after(a);
        self.0[i..]
            .iter()
            .take_while(|&&(s, _)| s <= b)
            .map(|&(s, e)| e.min(b) - s.max(a) + 1)
            .sum()
    }

    /// Forgets every number below `x`.
    pub fn trim_below(&mut self, x: u64) {
        if x > 0 {
            self.remove(0, x - 1);
        }
    }

    /// How many numbers the set holds.
    pub fn len(&self) -> u64 {
        self.0.iter().map(|&(a, b)| b - a + 1).sum()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ranges.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.0
    }
}

/// What a telemetry message's seq turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The first seq of a vehicle (or of a new run after a restart).
    First,
    /// Higher than every seq before: the newest state.
    InOrder,
    /// Lower than one already received: older than the newest state.
    Late,
    /// Received before.
    Duplicate,
}

impl Arrival {
    /// Whether the message is the vehicle's newest state.
    pub fn is_newest(self) -> bool {
        matches!(self, Self::First | Self::InOrder)
    }
}

/// The counters of one vehicle, as the document shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossCounters {
    /// Telemetry messages received (duplicates included).
    pub received: u64,
    /// Gaps seen: runs of missing seqs (each counted once).
    pub gaps: u64,
    /// Messages whose seq had been received before.
    pub duplicates: u64,
    /// Messages that arrived after a higher seq.
    pub reordered: u64,
    /// Seqs the vehicle reported its outbox dropped.
    pub reported_dropped: u64,
    /// Seqs missing without a report (and not arrived late).
    pub silent_lost: u64,
    /// Payloads or values refused (malformed, unknown path, wrong type,
    /// out of range, oversized).
    pub invalid: u64,
}

/// Sequence tracking of one vehicle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeqTracker {
    highest: Option<u64>,
    /// Seqs received, down to `highest - WINDOW`.
    seen: RangeSet,
    /// Seqs of gaps that neither arrived nor were reported.
    missing: RangeSet,
    /// Seqs the vehicle reported dropped, down to `highest - WINDOW` (and
    /// any above `highest`, reported before their gap shows).
    dropped: RangeSet,
    /// Silent losses of earlier runs.
    settled_silent: u64,
    /// The vehicle came (back) online: a lower seq starts a new run.
    expect_restart: bool,
    counters: LossCounters,
    #[serde(default = "yes")]
    gap_accounting: bool,
}

fn yes() -> bool {
    true
}

impl SeqTracker {
    /// A tracker; `gap_accounting` off for a shared subscription.
    pub fn new(gap_accounting: bool) -> Self {
        Self {
            gap_accounting,
            ..Self::default()
        }
    }

    /// Turns gap accounting on or off (a restored document keeps the
    /// counters it had).
    pub fn set_gap_accounting(&mut self, on: bool) {
        self.gap_accounting = on;
    }

    /// The counters.
    pub fn counters(&self) -> LossCounters {
        self.counters
    }

    /// The highest seq of the current run.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    /// Seqs missing without a report, as ranges.
    pub fn missing(&self) -> &[(u64, u64)] {
        self.missing.ranges()
    }

    /// Counts a refused payload or value.
    pub fn count_invalid(&mut self) {
        self.counters.invalid += 1;
    }

    /// The vehicle announced itself online: its next lower seq is a new
    /// run rather than a late message.
    pub fn vehicle_online(&mut self) {
        self.expect_restart = true;
    }

    /// Classifies and records a telemetry seq.
    pub fn observe(&mut self, seq: u64) -> Arrival {
        self.counters.received += 1;
        let Some(high) = self.highest else {
            self.start_run(seq);
            return Arrival::First;
        };
        // Vehicles count from 1: seq 1 below a higher one is a new run,
        // even though the old run's seq 1 was seen.
        if seq == 1 && high > 1 {
            self.restart(seq);
            return Arrival::First;
        }
        if self.seen.contains(seq) {
            self.counters.duplicates += 1;
            return Arrival::Duplicate;
        }
        if self.missing.remove(seq, seq) == 1 {
            self.counters.reordered += 1;
            self.seen.insert(seq, seq);
            self.update_silent();
            return Arrival::Late;
        }
        if seq > high {
            if self.gap_accounting && seq > high + 1 {
                self.counters.gaps += 1;
                let (a, b) = (high + 1, seq - 1);
                // What the vehicle reported is reported loss; the rest is
                // silent until it arrives or is reported.
                self.missing.insert(a, b);
                for &(s, e) in self.dropped.clone().ranges() {
                    if e >= a && s <= b {
                        self.missing.remove(s.max(a), e.min(b));
                    }
                }
            }
            self.highest = Some(seq);
            self.expect_restart = false;
            self.seen.insert(seq, seq);
            let floor = seq.saturating_sub(WINDOW);
            self.seen.trim_below(floor);
            self.dropped.trim_below(floor);
            self.update_silent();
            return Arrival::InOrder;
        }
        // A seq never seen below the highest, right after the vehicle came
        // back online (the twin missed the new run's first messages) or far
        // below, is a new run too.
        if self.expect_restart || high - seq > WINDOW {
            self.restart(seq);
            return Arrival::First;
        }
        if self.gap_accounting {
            self.counters.reordered += 1;
        }
        self.seen.insert(seq, seq);
        Arrival::Late
    }

    fn restart(&mut self, seq: u64) {
        self.settled_silent += self.missing.len();
        self.missing = RangeSet::default();
        self.start_run(seq);
    }

    fn start_run(&mut self, seq: u64) {
        self.highest = Some(seq);
        self.expect_restart = false;
        self.seen = RangeSet::default();
        self.seen.insert(seq, seq);
        self.dropped = RangeSet::default();
        self.update_silent();
    }

    /// Records an `outbox.dropped` report of the seq ranges `[a, b]`.
    /// Returns how many seqs were newly reported (a report delivered
    /// twice counts once).
    pub fn reported_dropped(&mut self, ranges: &[(u64, u64)]) -> u64 {
        let mut new = 0;
        for &(a, b) in ranges {
            let (a, b) = (a.min(b), a.max(b));
            // Bounded: a report names at most what a vehicle's outbox held.
            let b = b.min(a.saturating_add(100 * WINDOW));
            new += self.dropped.insert(a, b);
            self.missing.remove(a, b);
        }
        self.counters.reported_dropped += new;
        self.update_silent();
        new
    }

    fn update_silent(&mut self) {
        self.counters.silent_lost = self.settled_silent + self.missing.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(t: &mut SeqTracker, seqs: &[u64]) -> Vec<Arrival> {
        seqs.iter().map(|&s| t.observe(s)).collect()
    }

    #[test]
    fn range_sets_merge_split_and_count() {
        let mut r = RangeSet::default();
        assert_eq!(r.insert(5, 7), 3);
        assert_eq!(r.insert(9, 9), 1);
        assert_eq!(r.insert(8, 8), 1);
        assert_eq!(r.ranges(), &[(5, 9)]);
        assert_eq!(r.insert(1, 6), 4);
        assert_eq!(r.ranges(), &[(1, 9)]);
        assert_eq!(r.remove(4, 5), 2);
        assert_eq!(r.ranges(), &[(1, 3), (6, 9)]);
        assert!(r.contains(3) && !r.contains(4) && r.contains(9) && !r.contains(10));
        assert_eq!(r.count_in(2, 7), 4);
        r.trim_below(7);
        assert_eq!(r.ranges(), &[(7, 9)]);
        assert_eq!(r.len(), 3);
        assert_eq!(r.insert(20, 22), 3);
        assert_eq!(r.ranges(), &[(7, 9), (20, 22)]);
        assert_eq!(r.insert(3, 30), 28 - 6);
        assert_eq!(r.ranges(), &[(3, 30)]);
    }

    #[test]
    fn an_unbroken_sequence_loses_nothing() {
        let mut t = SeqTracker::new(true);
        let a = feed(&mut t, &[1, 2, 3, 4]);
        assert_eq!(a[0], Arrival::First);
        assert!(a[1..].iter().all(|&x| x == Arrival::InOrder));
        let c = t.counters();
        assert_eq!(
            (c.received, c.gaps, c.silent_lost, c.duplicates),
            (4, 0, 0, 0)
        );
    }

    #[test]
    fn a_gap_is_silent_loss_until_the_missing_messages_arrive_late() {
        let mut t = SeqTracker::new(true);
        feed(&mut t, &[1, 2, 6]);
        let c = t.counters();
        assert_eq!((c.gaps, c.silent_lost), (1, 3));
        assert_eq!(t.missing(), &[(3, 5)]);
        assert_eq!(t.observe(4), Arrival::Late);
        let c = t.counters();
        assert_eq!((c.reordered, c.silent_lost), (1, 2));
        assert_eq!(t.missing(), &[(3, 3), (5, 5)]);
        feed(&mut t, &[3, 5]);
        assert_eq!(t.counters().silent_lost, 0);
        assert_eq!(t.counters().reordered, 3);
    }

    #[test]
    fn duplicates_are_counted_and_not_newest() {
        let mut t = SeqTracker::new(true);
        feed(&mut t, &[1, 2, 3]);
        assert_eq!(t.observe(2), Arrival::Duplicate);
        assert_eq!(t.observe(3), Arrival::Duplicate);
        assert!(!Arrival::Duplicate.is_newest());
        let c = t.counters();
        assert_eq!((c.received, c.duplicates, c.silent_lost), (5, 2, 0));
    }

    #[test]
    fn a_gap_the_vehicle_reported_before_it_shows_is_reported_not_silent() {
        let mut t = SeqTracker::new(true);
        feed(&mut t, &[1, 2]);
        // The outbox dropped 3..=10 and says so before replaying 11...
        assert_eq!(t.reported_dropped(&[(3, 10)]), 8);
        feed(&mut t, &[11, 12]);
        let c = t.counters();
        assert_eq!((c.gaps, c.reported_dropped, c.silent_lost), (1, 8, 0));
        // ... and the same report delivered twice counts once.
        assert_eq!(t.reported_dropped(&[(3, 10)]), 0);
        assert_eq!(t.counters().reported_dropped, 8);
    }

    #[test]
    fn a_report_after_the_gap_turns_silent_loss_into_reported_loss() {
        let mut t = SeqTracker::new(true);
        feed(&mut t, &[1, 2, 9]);
        assert_eq!(t.counters().silent_lost, 6);
        t.reported_dropped(&[(3, 5)]);
        let c = t.counters();
        assert_eq!((c.reported_dropped, c.silent_lost), (3, 3));
        assert_eq!(t.missing(), &[(6, 8)]);
    }

    #[test]
    fn a_restarted_vehicle_starts_a_new_run_and_keeps_old_silent_losses() {
        let mut t = SeqTracker::new(true);
        feed(&mut t, &[1, 2, 3, 5]);
        assert_eq!(t.counters().silent_lost, 1);
        // Seq 1 is always a new run: vehicles count from 1.
        assert_eq!(t.observe(1), Arrival::First);
        assert_eq!(t.observe(2), Arrival::InOrder);
        assert_eq!(t.highest(), Some(2));
        let c = t.counters();
        assert_eq!((c.silent_lost, c.duplicates, c.reordered), (1, 0, 0));
        // A twin that came in at seq 5 and missed a new run's first
        // messages: a lower unseen seq after the vehicle came online.
        let mut t = SeqTracker::new(true);
        feed(&mut t, &[5, 6, 7]);
        t.vehicle_online();
        assert_eq!(t.observe(3), Arrival::First, "a lower seq after online");
        assert_eq!(t.observe(4), Arrival::InOrder);
    }

    #[test]
    fn a_replayed_message_after_a_reconnection_is_a_duplicate_not_a_restart() {
        let mut t = SeqTracker::new(true);
        feed(&mut t, &[1, 2, 3]);
        t.vehicle_online();
        assert_eq!(t.observe(3), Arrival::Duplicate);
        assert_eq!(t.observe(4), Arrival::InOrder);
        assert_eq!(t.counters().duplicates, 1);
    }

    #[test]
    fn coming_online_without_a_restart_keeps_the_run() {
        let mut t = SeqTracker::new(true);
        feed(&mut t, &[1, 2, 3]);
        t.vehicle_online();
        assert_eq!(t.observe(4), Arrival::InOrder);
        assert_eq!(t.observe(3), Arrival::Duplicate);
    }

    #[test]
    fn without_gap_accounting_a_share_of_the_messages_is_no_loss() {
        let mut t = SeqTracker::new(false);
        feed(&mut t, &[1, 3, 5, 8]);
        assert_eq!(t.observe(5), Arrival::Duplicate);
        assert_eq!(t.observe(6), Arrival::Late);
        let c = t.counters();
        assert_eq!(
            (c.received, c.gaps, c.silent_lost, c.duplicates, c.reordered),
            (6, 0, 0, 1, 0)
        );
    }

    #[test]
    fn the_tracker_survives_a_round_trip_through_json() {
        let mut t = SeqTracker::new(true);
        feed(&mut t, &[1, 2, 5]);
        t.reported_dropped(&[(3, 3)]);
        let back: SeqTracker = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.missing(), &[(4, 4)]);
    }
}
