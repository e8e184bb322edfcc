//! What opening a disk queue does with the segments it finds: counting the
//! losses their damage and serial gaps stand for, and queueing (after
//! rewriting a damaged segment clean) their intact records.

use super::{RecordFault, RecordInfo, Scanned, Segment, Spill};
use crate::msg::{DropReason, Dropped};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What the scan at open found in one segment.
pub(super) struct Found {
    pub(super) path: PathBuf,
    pub(super) data: Vec<u8>,
    pub(super) scan: Vec<Scanned>,
    pub(super) damaged: bool,
}

/// Counts the records lost between two intact neighbours (`None`: no
/// neighbour on that side), and their seqs when the gap tells them.
fn gap_loss(
    before: Option<RecordInfo>,
    before_seq: Option<u64>,
    after: Option<RecordInfo>,
    after_seq: Option<u64>,
    reason: DropReason,
    into: &mut Dropped,
) -> u64 {
    let lost = match (before, after) {
        (Some(a), Some(b)) if b.serial > a.serial => b.serial - a.serial - 1,
        // No serial on one side (or a serial that went backwards, which
        // only a rollback that could not truncate leaves): at least one.
        _ => 1,
    };
    into.add_count(reason, lost);
    // Telemetry seqs rise by one per snapshot within a run: when the gap
    // holds at least as many records as the seqs missing between the
    // neighbours, those seqs were in it.
    if let (Some(s1), Some(s2)) = (before_seq, after_seq)
        && s2 > s1 + 1
        && s2 - s1 - 1 <= lost
    {
        into.add_seqs(s1 + 1, s2 - 1);
    }
    lost
}

/// Counts and logs one gap found at open: damaged bytes (`damage`: where
/// they start and what was wrong) or, without damage, a jump in the serials.
fn report_gap(
    lost: &mut Dropped,
    damage: Option<(&Path, usize, RecordFault)>,
    prev: Option<RecordInfo>,
    prev_seq: Option<u64>,
    next: Option<RecordInfo>,
) {
    let reason = if damage.is_some() {
        DropReason::CorruptRecord
    } else {
        DropReason::DiskRead
    };
    let next_seq = next.and_then(|n| n.seq);
    let n = gap_loss(prev, prev_seq, next, next_seq, reason, lost);
    match damage {
        Some((path, at, fault)) => tracing::warn!(
            segment = %path.display(),
            offset = at,
            "outbox: damaged record ({fault}): {n} message(s) lost, reading on from the next intact record"
        ),
        None => tracing::warn!("outbox: {n} message(s) missing from the disk queue"),
    }
}

impl Spill {
    /// Counts what the damaged regions and the serial gaps of the segments
    /// found at open cost, and logs each loss.
    pub(super) fn count_open_losses(&mut self, found: &[Found]) {
        let mut prev: Option<RecordInfo> = None;
        let mut prev_seq: Option<u64> = None;
        // The first damage since `prev`: where, and what it was.
        let mut damage: Option<(&Path, usize, RecordFault)> = None;
        for f in found {
            for s in &f.scan {
                match s {
                    Scanned::Damaged { at, fault } => {
                        damage.get_or_insert((&f.path, at.start, *fault));
                    }
                    Scanned::Record { info, .. } => {
                        let gap = prev.is_some_and(|p| info.serial > p.serial + 1);
                        if damage.is_some() || gap {
                            report_gap(&mut self.lost, damage.take(), prev, prev_seq, Some(*info));
                        }
                        prev = Some(*info);
                        prev_seq = info.seq.or(prev_seq);
                        self.next_serial = self.next_serial.max(info.serial + 1);
                    }
                }
            }
        }
        if damage.is_some() {
            report_gap(&mut self.lost, damage, prev, prev_seq, None);
        }
    }

    /// Queues the intact records of a segment found at open; a damaged
    /// segment is rewritten with them alone, so that it reads cleanly.
    pub(super) fn queue_found(&mut self, f: Found) -> io::Result<()> {
        let mut seg = Segment::new(f.path.clone());
        let mut kept = Vec::new();
        for s in &f.scan {
            if let Scanned::Record { info, at } = s {
                seg.records += 1;
                seg.bytes += at.len() as u64;
                if let Some(q) = info.seq {
                    seg.add_seq(q);
                }
                if f.damaged {
                    kept.extend_from_slice(&f.data[at.clone()]);
                }
            }
        }
        seg.size = seg.bytes;
        if seg.records == 0 {
            fs::remove_file(&f.path)?;
            return Ok(());
        }
        if f.damaged {
            tcu_engine::fsutil::write_atomic(&f.path, &kept)?;
        }
        self.records += seg.records;
        self.bytes += seg.bytes;
        self.segments.push_back(seg);
        Ok(())
    }
}
