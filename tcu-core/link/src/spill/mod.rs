//! The outbox's disk part: an append-only queue of records (the format is
//! in [`record`]) in numbered segment files (`seg-<n>.log`, about
//! [`SEGMENT_BYTES`] each), read from the oldest. A fully read segment is
//! deleted.
//!
//! Nothing is lost without being counted. On open, existing segments are
//! scanned and queued again (what was spilled before a restart is sent
//! after it); a damaged record costs only itself: the scan resynchronises
//! on the next intact record, the segment is rewritten without the damage,
//! and the records lost are counted from the gap in the record serials
//! (their telemetry seqs are inferred from the intact neighbours when the
//! gap allows no other reading). A segment that cannot be read later costs
//! its unread records, counted with their seqs, and the queue goes on with
//! the next segment. A failed append leaves the queue as it was before it.
//! Losses wait in [`Spill::take_lost`] for the outbox to report.
//!
//! One process uses a directory at a time: `lock` is held with an OS file
//! lock (`flock`), which the kernel drops when the holder exits, so a stale
//! lock file (a crash, a reboot, a reused PID) never keeps the directory.

mod checksum;
mod open;
mod record;

pub use record::{
    MARKER, MAX_BODY, PREFIX, Record, RecordFault, RecordInfo, Scanned, TRAILER, decode_record,
    inspect_record, scan_segment,
};

use crate::msg::{DropReason, Dropped, Msg};
use open::Found;
use record::{ReadError, read_record, write_record};
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Size at which a new segment is started.
pub const SEGMENT_BYTES: u64 = 1 << 20;
/// Buffer of the segment writer and reader: a burst that spills thousands
/// of telemetry snapshots costs a few system calls per segment, not one or
/// two per record.
const IO_BUFFER: usize = 256 << 10;
/// The most of a segment file that is read: a segment this queue wrote is
/// never longer (it rolls over before a record that starts past
/// [`SEGMENT_BYTES`]); anything beyond is damage.
const MAX_SEGMENT_FILE: u64 = SEGMENT_BYTES + (PREFIX + MAX_BODY) as u64;

#[derive(Debug, Clone)]
struct Segment {
    path: PathBuf,
    /// Unread records.
    records: u64,
    /// Unread bytes (record bytes, as counted against the limit).
    bytes: u64,
    /// Bytes written (for rolling over).
    size: u64,
    /// Telemetry seqs of the unread records, as ranges in file order.
    seqs: VecDeque<(u64, u64)>,
}

impl Segment {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            records: 0,
            bytes: 0,
            size: 0,
            seqs: VecDeque::new(),
        }
    }

    fn add_seq(&mut self, s: u64) {
        match self.seqs.back_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(s) => *hi = s,
            _ => self.seqs.push_back((s, s)),
        }
    }
}

/// Removes `s` from sorted inclusive ranges.
fn remove_seq(seqs: &mut VecDeque<(u64, u64)>, s: u64) {
    let Some(i) = seqs.iter().position(|&(lo, hi)| lo <= s && s <= hi) else {
        return;
    };
    let (lo, hi) = seqs[i];
    match (lo == s, hi == s) {
        (true, true) => {
            seqs.remove(i);
        }
        (true, false) => seqs[i].0 = s + 1,
        (false, true) => seqs[i].1 = s - 1,
        (false, false) => {
            seqs[i].1 = s - 1;
            seqs.insert(i + 1, (s + 1, hi));
        }
    }
}

/// The disk queue.
#[derive(Debug)]
pub struct Spill {
    dir: PathBuf,
    segments: VecDeque<Segment>,
    next: u64,
    next_serial: u64,
    writer: Option<BufWriter<File>>,
    reader: Option<BufReader<File>>,
    /// The head segment's remaining records, read back whole after its
    /// reader met damage.
    recovered: VecDeque<(Msg, u64)>,
    /// Unread records in all segments.
    records: u64,
    /// Unread bytes in all segments.
    bytes: u64,
    /// Losses not yet taken by the outbox.
    lost: Dropped,
    /// Scratch space of the record writer.
    tail: Vec<u8>,
    /// Held for as long as the queue is open (see the module docs).
    _lock: File,
}

fn seg_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("seg-{n:010}.log"))
}

fn read_capped(path: &Path) -> io::Result<(Vec<u8>, bool)> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut data = Vec::with_capacity(len.min(MAX_SEGMENT_FILE) as usize);
    f.take(MAX_SEGMENT_FILE).read_to_end(&mut data)?;
    Ok((data, len > MAX_SEGMENT_FILE))
}

impl Spill {
    /// Opens (creating) `dir`, takes its lock and queues what is there.
    /// `Ok(None)`: another open queue (of this or another process) holds
    /// the directory.
    pub fn open(dir: &Path) -> io::Result<Option<Self>> {
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        let mut numbers: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("seg-")?
                    .strip_suffix(".log")?
                    .parse()
                    .ok()
            })
            .collect();
        numbers.sort_unstable();
        let mut found = Vec::new();
        for &number in &numbers {
            let path = seg_path(dir, number);
            if !fs::metadata(&path)?.is_file() {
                tracing::warn!(path = %path.display(), "outbox: not a regular file; left alone");
                continue;
            }
            let (data, oversized) = match read_capped(&path) {
                Ok(read) => read,
                Err(e) => {
                    // Its records show as a gap in the serials (counted
                    // below); moved aside so that no later start sends
                    // what was reported lost.
                    tracing::error!(segment = %path.display(), "outbox: segment unreadable ({e}); its messages are lost");
                    let _ = fs::rename(&path, path.with_extension("log.unreadable"));
                    continue;
                }
            };
            let mut scan = scan_segment(&data);
            if oversized {
                scan.push(Scanned::Damaged {
                    at: data.len()..data.len(),
                    fault: RecordFault::BadLength(u32::MAX),
                });
            }
            let damaged = scan.iter().any(|s| matches!(s, Scanned::Damaged { .. }));
            found.push(Found {
                path,
                data,
                scan,
                damaged,
            });
        }
        let mut spill = Self {
            dir: dir.to_owned(),
            segments: VecDeque::new(),
            next: numbers.last().map_or(0, |n| n + 1),
            next_serial: 0,
            writer: None,
            reader: None,
            recovered: VecDeque::new(),
            records: 0,
            bytes: 0,
            lost: Dropped::default(),
            tail: Vec::new(),
            _lock: lock,
        };
        spill.count_open_losses(&found);
        for f in found {
            spill.queue_found(f)?;
        }
        Ok(Some(spill))
    }

    /// Unread records.
    pub fn len(&self) -> u64 {
        self.records
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Unread bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Losses since the last call (damage found at open, segments that
    /// could not be read), if any.
    pub fn take_lost(&mut self) -> Option<Dropped> {
        (!self.lost.is_empty()).then(|| std::mem::take(&mut self.lost))
    }

    /// Appends messages, in order, and flushes. On an error the queue is as
    /// it was before the call (the caller still has the messages).
    pub fn append<'a>(&mut self, msgs: impl IntoIterator<Item = &'a Msg>) -> io::Result<()> {
        let before = (
            self.segments.len(),
            self.segments.back().cloned(),
            self.records,
            self.bytes,
            self.next_serial,
        );
        let result = self.append_all(msgs);
        if result.is_err() {
            self.roll_back(before);
        }
        result
    }

    fn append_all<'a>(&mut self, msgs: impl IntoIterator<Item = &'a Msg>) -> io::Result<()> {
        for m in msgs {
            let full = self.segments.back().is_none_or(|s| s.size >= SEGMENT_BYTES)
                || self.writer.is_none();
            if full {
                let path = seg_path(&self.dir, self.next);
                self.next += 1;
                if let Some(mut w) = self.writer.take() {
                    w.flush()?;
                }
                let f = OpenOptions::new().create(true).append(true).open(&path)?;
                self.writer = Some(BufWriter::with_capacity(IO_BUFFER, f));
                self.segments.push_back(Segment::new(path));
            }
            if let (Some(w), Some(s)) = (self.writer.as_mut(), self.segments.back_mut()) {
                let n = write_record(self.next_serial, m, w, &mut self.tail)?;
                self.next_serial += 1;
                s.records += 1;
                s.bytes += n;
                s.size += n;
                if let Some(q) = m.seq {
                    s.add_seq(q);
                }
                self.records += 1;
                self.bytes += n;
            }
        }
        if let Some(w) = self.writer.as_mut() {
            w.flush()?;
        }
        Ok(())
    }

    /// Undoes a failed append: drops what the writer still buffers (without
    /// writing it), cuts the segment it was appending to back to its old
    /// size, removes the segments it started.
    fn roll_back(&mut self, before: (usize, Option<Segment>, u64, u64, u64)) {
        let (count, back, records, bytes, serial) = before;
        if let Some(w) = self.writer.take() {
            let (_file, _unwritten) = w.into_parts();
        }
        while self.segments.len() > count {
            if let Some(s) = self.segments.pop_back() {
                let _ = fs::remove_file(&s.path);
            }
        }
        if let (Some(old), Some(cur)) = (back, self.segments.back_mut()) {
            // Best effort: should the cut fail, the extra bytes are records
            // this queue no longer counts; a restart reads them again (sent
            // twice, never lost).
            let _ = OpenOptions::new()
                .write(true)
                .open(&old.path)
                .and_then(|f| f.set_len(old.size));
            *cur = old;
        }
        self.records = records;
        self.bytes = bytes;
        self.next_serial = serial;
    }

    /// Takes the oldest record. A segment that cannot be read any more
    /// costs its unread records (counted in [`Spill::take_lost`]); the
    /// queue then goes on with the next segment.
    pub fn pop(&mut self) -> Option<Msg> {
        loop {
            if let Some((m, b)) = self.recovered.pop_front() {
                self.account(&m, b);
                return Some(m);
            }
            let head = self.segments.front()?;
            if head.records == 0 {
                let is_tail = self.segments.len() == 1;
                if let Some(s) = self.segments.pop_front() {
                    let _ = fs::remove_file(&s.path);
                }
                self.reader = None;
                if is_tail {
                    self.writer = None;
                }
                continue;
            }
            if self.reader.is_none() {
                // Resume after what was read already (size - unread bytes).
                let offset = head.size - head.bytes;
                match File::open(&head.path).and_then(|mut f| {
                    f.seek(SeekFrom::Start(offset))?;
                    Ok(f)
                }) {
                    Ok(f) => self.reader = Some(BufReader::with_capacity(IO_BUFFER, f)),
                    Err(e) => {
                        self.recover_head(&ReadError::Io(e));
                        continue;
                    }
                }
            }
            let read = match self.reader.as_mut() {
                Some(r) => read_record(r),
                None => continue,
            };
            match read {
                Ok(Some((rec, b))) => {
                    self.account(&rec.msg, b);
                    return Some(rec.msg);
                }
                // Shorter than counted: the file changed under us.
                Ok(None) => self.recover_head(&ReadError::Fault(RecordFault::Truncated {
                    needed: PREFIX,
                    got: 0,
                })),
                Err(e) => self.recover_head(&e),
            }
        }
    }

    /// Counts a record taken from the head segment.
    fn account(&mut self, m: &Msg, b: u64) {
        if let Some(head) = self.segments.front_mut() {
            head.records = head.records.saturating_sub(1);
            head.bytes = head.bytes.saturating_sub(b);
            if let Some(s) = m.seq {
                remove_seq(&mut head.seqs, s);
            }
        }
        self.records = self.records.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(b);
    }

    /// The head segment's reader failed: read what is left of the file
    /// whole, keep its intact records, count the rest as lost.
    fn recover_head(&mut self, why: &ReadError) {
        self.reader = None;
        let is_tail = self.segments.len() == 1;
        let Some(head) = self.segments.front_mut() else {
            return;
        };
        if is_tail {
            // Later appends go to a new segment, not behind the damage.
            self.writer = None;
        }
        let from = (head.size - head.bytes) as usize;
        let (kept, reason, detail) = match read_capped(&head.path) {
            Ok((data, _)) => {
                let rest = data.get(from..).unwrap_or_default();
                let kept: Vec<(Msg, u64)> = scan_segment(rest)
                    .iter()
                    .filter_map(|s| match s {
                        Scanned::Record { at, .. } => decode_record(&rest[at.clone()])
                            .ok()
                            .map(|(r, n)| (r.msg, n as u64)),
                        Scanned::Damaged { .. } => None,
                    })
                    .take(head.records as usize)
                    .collect();
                let why = match why {
                    ReadError::Io(e) => e.to_string(),
                    ReadError::Fault(f) => f.to_string(),
                };
                (kept, DropReason::CorruptRecord, why)
            }
            Err(e) => (Vec::new(), DropReason::DiskRead, e.to_string()),
        };
        let lost = head.records.saturating_sub(kept.len() as u64);
        let mut d = Dropped::default();
        d.add_count(reason, lost);
        // The seqs not among the kept records are the lost ones.
        let mut gone = head.seqs.clone();
        let mut left = Segment::new(PathBuf::new());
        for (m, _) in &kept {
            if let Some(s) = m.seq {
                remove_seq(&mut gone, s);
                left.add_seq(s);
            }
        }
        for (lo, hi) in gone {
            d.add_seqs(lo, hi);
        }
        if lost > 0 {
            tracing::error!(
                segment = %head.path.display(),
                "outbox: segment unreadable ({detail}): {lost} message(s) lost"
            );
        }
        // The kept records leave the counts as they are taken; the rest
        // leaves them now.
        let kept_bytes: u64 = kept.iter().map(|(_, b)| b).sum();
        self.records = self.records.saturating_sub(head.records) + kept.len() as u64;
        self.bytes = self.bytes.saturating_sub(head.bytes) + kept_bytes;
        head.records = kept.len() as u64;
        head.bytes = kept_bytes;
        head.seqs = left.seqs;
        self.lost.merge(d);
        self.recovered = kept.into();
    }
}

#[cfg(test)]
mod tests;
