//! The outbox's disk part: an append-only queue of records in numbered
//! segment files (`seg-<n>.log`, at most [`SEGMENT_BYTES`] each), read from
//! the oldest. A fully read segment is deleted. A record is
//! `[len u32 LE][qos u8][has_seq u8][seq u64 LE][topic_len u16 LE][topic][payload]`.
//!
//! On open, existing segments are scanned and queued again (what was spilled
//! before a restart is sent after it); a torn record at the end of a segment
//! (a crash mid-write) ends that segment. One process uses a directory at a
//! time (`lock` holds its pid); the caller falls back to memory when the
//! directory is taken.

use crate::msg::Msg;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Size at which a new segment is started.
pub const SEGMENT_BYTES: u64 = 1 << 20;
/// Bytes of a record after its length: qos, has_seq, seq, topic length.
const HEADER: usize = 12;
/// Buffer of the segment writer and reader: a burst that spills thousands
/// of telemetry snapshots costs a few system calls per segment, not one or
/// two per record.
const IO_BUFFER: usize = 256 << 10;

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    /// Unread records.
    records: u64,
    /// Unread bytes (record bytes, as counted against the limit).
    bytes: u64,
    /// Bytes written (for rolling over).
    size: u64,
}

/// The disk queue.
#[derive(Debug)]
pub struct Spill {
    dir: PathBuf,
    segments: VecDeque<Segment>,
    next: u64,
    writer: Option<BufWriter<File>>,
    reader: Option<BufReader<File>>,
    /// Unread records in all segments.
    records: u64,
    /// Unread bytes in all segments.
    bytes: u64,
}

fn seg_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("seg-{n:010}.log"))
}

fn read_record(r: &mut impl Read) -> io::Result<Option<(Msg, u64)>> {
    let mut head = [0u8; 4 + HEADER];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "corrupt outbox record");
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len < HEADER {
        return Err(bad());
    }
    let qos = head[4];
    let seq = (head[5] == 1).then(|| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&head[6..14]);
        u64::from_le_bytes(b)
    });
    let tlen = u16::from_le_bytes([head[14], head[15]]) as usize;
    if HEADER + tlen > len {
        return Err(bad());
    }
    // Topic and payload are read straight into their own buffers: one copy
    // out of the reader, none afterwards.
    let mut topic = vec![0u8; tlen];
    let mut payload = vec![0u8; len - HEADER - tlen];
    for part in [&mut topic, &mut payload] {
        match r.read_exact(part) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let topic = String::from_utf8(topic).map_err(|_| bad())?;
    Ok(Some((
        Msg {
            topic,
            payload,
            qos,
            seq,
        },
        4 + len as u64,
    )))
}

/// Writes one record; the payload goes to the writer as it is, without
/// an intermediate buffer. Returns the record's size.
fn write_record(m: &Msg, w: &mut impl Write) -> io::Result<u64> {
    let len = HEADER + m.topic.len() + m.payload.len();
    let mut head = [0u8; 4 + HEADER];
    head[0..4].copy_from_slice(&(len as u32).to_le_bytes());
    head[4] = m.qos;
    head[5] = u8::from(m.seq.is_some());
    head[6..14].copy_from_slice(&m.seq.unwrap_or(0).to_le_bytes());
    head[14..16].copy_from_slice(&(m.topic.len() as u16).to_le_bytes());
    w.write_all(&head)?;
    w.write_all(m.topic.as_bytes())?;
    w.write_all(&m.payload)?;
    Ok(4 + len as u64)
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl Spill {
    /// Opens (creating) `dir`, takes its lock and queues what is there.
    /// `Ok(None)`: another live process holds the directory.
    pub fn open(dir: &Path) -> io::Result<Option<Self>> {
        fs::create_dir_all(dir)?;
        let lock = dir.join("lock");
        if let Ok(text) = fs::read_to_string(&lock)
            && let Ok(pid) = text.trim().parse::<u32>()
            && pid != std::process::id()
            && pid_alive(pid)
        {
            return Ok(None);
        }
        fs::write(&lock, std::process::id().to_string())?;
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
        let mut segments = VecDeque::new();
        for n in &numbers {
            let path = seg_path(dir, *n);
            let mut r = BufReader::new(File::open(&path)?);
            let (mut records, mut bytes) = (0, 0);
            while let Ok(Some((_, b))) = read_record(&mut r) {
                records += 1;
                bytes += b;
            }
            // Cut a torn or corrupt tail so that appends stay readable.
            OpenOptions::new().write(true).open(&path)?.set_len(bytes)?;
            if records == 0 {
                fs::remove_file(&path)?;
                continue;
            }
            segments.push_back(Segment {
                path,
                records,
                bytes,
                size: bytes,
            });
        }
        Ok(Some(Self {
            dir: dir.to_owned(),
            records: segments.iter().map(|s| s.records).sum(),
            bytes: segments.iter().map(|s| s.bytes).sum(),
            segments,
            next: numbers.last().map_or(0, |n| n + 1),
            writer: None,
            reader: None,
        }))
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

    /// Appends messages, in order, and flushes.
    pub fn append<'a>(&mut self, msgs: impl IntoIterator<Item = &'a Msg>) -> io::Result<()> {
        for m in msgs {
            let full = self.segments.back().is_none_or(|s| s.size >= SEGMENT_BYTES)
                || self.writer.is_none();
            if full {
                let path = seg_path(&self.dir, self.next);
                self.next += 1;
                let f = OpenOptions::new().create(true).append(true).open(&path)?;
                if let Some(mut w) = self.writer.take() {
                    w.flush()?;
                }
                self.writer = Some(BufWriter::with_capacity(IO_BUFFER, f));
                self.segments.push_back(Segment {
                    path,
                    records: 0,
                    bytes: 0,
                    size: 0,
                });
            }
            if let (Some(w), Some(s)) = (self.writer.as_mut(), self.segments.back_mut()) {
                let n = write_record(m, w)?;
                s.records += 1;
                s.bytes += n;
                s.size += n;
                self.records += 1;
                self.bytes += n;
            }
        }
        if let Some(w) = self.writer.as_mut() {
            w.flush()?;
        }
        Ok(())
    }

    /// Takes the oldest record.
    pub fn pop(&mut self) -> io::Result<Option<Msg>> {
        loop {
            let Some(head) = self.segments.front_mut() else {
                return Ok(None);
            };
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
                let mut f = File::open(&head.path)?;
                // Resume after what was read already (size - unread bytes).
                f.seek(SeekFrom::Start(head.size - head.bytes))?;
                self.reader = Some(BufReader::with_capacity(IO_BUFFER, f));
            }
            let r = self
                .reader
                .as_mut()
                .ok_or_else(|| io::Error::other("no reader"))?;
            match read_record(r)? {
                Some((m, b)) => {
                    head.records -= 1;
                    head.bytes -= b;
                    self.records -= 1;
                    self.bytes -= b;
                    return Ok(Some(m));
                }
                None => {
                    // Shorter than counted: the file changed under us.
                    self.records -= head.records;
                    self.bytes -= head.bytes;
                    head.records = 0;
                    head.bytes = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: u64) -> Msg {
        Msg {
            topic: "t/x".into(),
            payload: format!("payload {i}").into_bytes(),
            qos: 1,
            seq: Some(i),
        }
    }

    #[test]
    fn records_come_back_in_order_across_segments_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<Msg> = (0..3000)
            .map(|i| Msg {
                payload: vec![b'x'; 1000],
                ..msg(i)
            })
            .collect();
        {
            let mut s = Spill::open(dir.path()).unwrap().unwrap();
            s.append(&big[..10]).unwrap();
            assert_eq!(s.pop().unwrap().unwrap().seq, Some(0));
            s.append(&big[10..]).unwrap();
            assert!(s.segments.len() >= 3, "{}", s.segments.len());
            assert_eq!(s.len(), 2999);
            for i in 1..100 {
                assert_eq!(s.pop().unwrap().unwrap().seq, Some(i));
            }
        }
        let mut s = Spill::open(dir.path()).unwrap().unwrap();
        // The first segment was reopened from its start: records already
        // taken before the restart come again (at least once, never lost).
        let first = s.pop().unwrap().unwrap().seq.unwrap();
        assert!(first <= 100, "{first}");
        let mut last = first;
        while let Some(m) = s.pop().unwrap() {
            assert_eq!(m.seq, Some(last + 1));
            last += 1;
        }
        assert_eq!(last, 2999);
        assert!(s.is_empty());
    }

    #[test]
    fn a_torn_record_ends_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = Spill::open(dir.path()).unwrap().unwrap();
            s.append(&[msg(1), msg(2)]).unwrap();
        }
        let seg = seg_path(dir.path(), 0);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        let mut s = Spill::open(dir.path()).unwrap().unwrap();
        assert_eq!(s.len(), 2);
        s.append(&[msg(3)]).unwrap();
        let seqs: Vec<_> = std::iter::from_fn(|| s.pop().unwrap())
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, vec![Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn a_directory_held_by_a_live_process_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // pid 1 is always alive.
        fs::write(dir.path().join("lock"), "1").unwrap();
        assert!(Spill::open(dir.path()).unwrap().is_none());
    }
}
