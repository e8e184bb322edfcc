//! The disk record of one message, and the pure functions that read records
//! from bytes (what a fuzz target calls: [`decode_record`],
//! [`scan_segment`]; they return faults and never panic).
//!
//! A record is a 16-byte prefix and a body:
//!
//! ```text
//! prefix: marker F5 'T' 'C' 'R' | body length u32 LE | checksum u64 LE
//! body:   payload | topic | serial u64 LE | seq u64 LE | topic length u16 LE | qos u8 | flags u8
//! ```
//!
//! The marker starts with 0xF5, a byte that never occurs in UTF-8 text, so
//! in a damaged segment the next record is found again by looking for the
//! marker (the JSON payloads cannot fake one) and checking that record's
//! checksum. The body length is checked against [`MAX_BODY`] and against
//! the bytes actually there before anything is allocated. The checksum is
//! XXH64 over the payload, seeded with XXH64 over the rest of the body
//! seeded with the body length; the fixed fields sit at the end so that a
//! reader can keep the payload's buffer as it was read. `serial` numbers
//! the records of a directory one after the other: a gap tells how many
//! records a damaged region held. Flags bit 0: `seq` is present.

use super::checksum::xxh64;
use crate::msg::Msg;
use std::io::{self, Read, Write};
use std::ops::Range;

/// First bytes of every record.
pub const MARKER: [u8; 4] = [0xF5, b'T', b'C', b'R'];
/// Marker, body length, checksum.
pub const PREFIX: usize = 16;
/// Fixed fields at the end of the body.
pub const TRAILER: usize = 20;
// Memory and disk count a message alike.
const _: () = assert!(PREFIX + TRAILER == crate::msg::OVERHEAD);

/// Longest body: the largest packet the client sends, a topic of the
/// longest length MQTT allows, and the fixed fields.
pub const MAX_BODY: usize = crate::options::MAX_PACKET_BYTES + u16::MAX as usize + TRAILER;

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Position in the directory's sequence of records.
    pub serial: u64,
    /// The message.
    pub msg: Msg,
}

/// The fields of a checked record, without its topic and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordInfo {
    /// Position in the directory's sequence of records.
    pub serial: u64,
    /// Telemetry seq.
    pub seq: Option<u64>,
}

/// Why bytes are not a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFault {
    /// Fewer bytes than the record needs (a write cut short).
    Truncated {
        /// Bytes the record needs.
        needed: usize,
        /// Bytes there.
        got: usize,
    },
    /// The marker is missing.
    NoMarker,
    /// The body length is over [`MAX_BODY`] or under [`TRAILER`].
    BadLength(u32),
    /// The checksum does not match.
    Checksum,
    /// A field is out of its range (qos, flags, topic length, topic not
    /// UTF-8).
    BadField(&'static str),
}

impl std::fmt::Display for RecordFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Truncated { needed, got } => {
                write!(f, "cut short: {got} of {needed} bytes")
            }
            Self::NoMarker => write!(f, "no record marker"),
            Self::BadLength(n) => write!(f, "body length {n} outside {TRAILER}..={MAX_BODY} bytes"),
            Self::Checksum => write!(f, "checksum mismatch"),
            Self::BadField(what) => write!(f, "bad {what}"),
        }
    }
}

/// What [`scan_segment`] found, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scanned {
    /// An intact record at `at`.
    Record {
        /// Its fields.
        info: RecordInfo,
        /// Its bytes in the segment.
        at: Range<usize>,
    },
    /// Bytes that hold no intact record, up to the next intact one (or the
    /// end).
    Damaged {
        /// The region.
        at: Range<usize>,
        /// What was wrong at its start.
        fault: RecordFault,
    },
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn checksum(len: u32, payload: &[u8], rest: &[u8]) -> u64 {
    xxh64(payload, xxh64(rest, u64::from(len)))
}

/// Checks the prefix: the body length, if the marker is there and the
/// length is possible.
fn prefix(bytes: &[u8]) -> Result<(u32, u64), RecordFault> {
    if bytes.len() < PREFIX {
        // A prefix cut short still has to start like one.
        let n = bytes.len().min(MARKER.len());
        if bytes[..n] != MARKER[..n] {
            return Err(RecordFault::NoMarker);
        }
        return Err(RecordFault::Truncated {
            needed: PREFIX,
            got: bytes.len(),
        });
    }
    if bytes[..4] != MARKER {
        return Err(RecordFault::NoMarker);
    }
    let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if (len as usize) < TRAILER || len as usize > MAX_BODY {
        return Err(RecordFault::BadLength(len));
    }
    Ok((len, u64_at(bytes, 8)))
}

/// Checks a body against its checksum and splits it: payload length, info,
/// topic range.
fn body(len: u32, check: u64, body: &[u8]) -> Result<(usize, RecordInfo), RecordFault> {
    let n = body.len();
    let t = n - TRAILER;
    let tlen = u16::from_le_bytes([body[t + 16], body[t + 17]]) as usize;
    if tlen > t {
        // Not even the checksum can be computed where the split is
        // impossible; damaged either way.
        return Err(RecordFault::Checksum);
    }
    let plen = t - tlen;
    if checksum(len, &body[..plen], &body[plen..]) != check {
        return Err(RecordFault::Checksum);
    }
    let (qos, flags) = (body[t + 18], body[t + 19]);
    if qos > 1 {
        return Err(RecordFault::BadField("qos"));
    }
    if flags > 1 {
        return Err(RecordFault::BadField("flags"));
    }
    if std::str::from_utf8(&body[plen..t]).is_err() {
        return Err(RecordFault::BadField("topic (not UTF-8)"));
    }
    let seq = u64_at(body, t + 8);
    Ok((
        plen,
        RecordInfo {
            serial: u64_at(body, t),
            seq: (flags & 1 == 1).then_some(seq),
        },
    ))
}

/// Checks the record at the start of `bytes`; returns its fields and size.
pub fn inspect_record(bytes: &[u8]) -> Result<(RecordInfo, usize), RecordFault> {
    let (len, check) = prefix(bytes)?;
    let end = PREFIX + len as usize;
    if bytes.len() < end {
        return Err(RecordFault::Truncated {
            needed: end,
            got: bytes.len(),
        });
    }
    let (_, info) = body(len, check, &bytes[PREFIX..end])?;
    Ok((info, end))
}

/// Decodes the record at the start of `bytes`; returns it and its size.
pub fn decode_record(bytes: &[u8]) -> Result<(Record, usize), RecordFault> {
    let (info, size) = inspect_record(bytes)?;
    let b = &bytes[PREFIX..size];
    let t = b.len() - TRAILER;
    let tlen = u16::from_le_bytes([b[t + 16], b[t + 17]]) as usize;
    let plen = t - tlen;
    Ok((
        Record {
            serial: info.serial,
            msg: Msg {
                topic: String::from_utf8_lossy(&b[plen..t]).into_owned(),
                payload: b[..plen].to_vec(),
                qos: b[t + 18],
                seq: info.seq,
            },
        },
        size,
    ))
}

/// Every intact record of a segment and every damaged region between them.
/// After a damaged region, reading resumes at the next marker that starts
/// an intact record, so damage costs only the records it touched.
pub fn scan_segment(bytes: &[u8]) -> Vec<Scanned> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        match inspect_record(&bytes[pos..]) {
            Ok((info, n)) => {
                out.push(Scanned::Record {
                    info,
                    at: pos..pos + n,
                });
                pos += n;
            }
            Err(fault) => {
                let next = next_intact(bytes, pos + 1).unwrap_or(bytes.len());
                out.push(Scanned::Damaged {
                    at: pos..next,
                    fault,
                });
                pos = next;
            }
        }
    }
    out
}

/// The first offset at or after `from` where an intact record starts.
fn next_intact(bytes: &[u8], mut from: usize) -> Option<usize> {
    while from < bytes.len() {
        let i = from + bytes[from..].iter().position(|&b| b == MARKER[0])?;
        if inspect_record(&bytes[i..]).is_ok() {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// Writes one record; the payload goes to the writer as it is. `tail` is
/// scratch space (kept by the caller so that no record allocates). Returns
/// the record's size.
pub(crate) fn write_record(
    serial: u64,
    m: &Msg,
    w: &mut impl Write,
    tail: &mut Vec<u8>,
) -> io::Result<u64> {
    let tlen = u16::try_from(m.topic.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "topic too long"))?;
    let len = m.payload.len() + m.topic.len() + TRAILER;
    if len > MAX_BODY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a record of {len} bytes is over {MAX_BODY}"),
        ));
    }
    let len32 = len as u32;
    tail.clear();
    tail.extend_from_slice(m.topic.as_bytes());
    tail.extend_from_slice(&serial.to_le_bytes());
    tail.extend_from_slice(&m.seq.unwrap_or(0).to_le_bytes());
    tail.extend_from_slice(&tlen.to_le_bytes());
    tail.push(m.qos.min(1));
    tail.push(u8::from(m.seq.is_some()));
    let mut head = [0u8; PREFIX];
    head[..4].copy_from_slice(&MARKER);
    head[4..8].copy_from_slice(&len32.to_le_bytes());
    head[8..].copy_from_slice(&checksum(len32, &m.payload, tail).to_le_bytes());
    w.write_all(&head)?;
    w.write_all(&m.payload)?;
    w.write_all(tail)?;
    Ok((PREFIX + len) as u64)
}

/// What went wrong reading a record from a stream.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The file could not be read.
    Io(io::Error),
    /// The bytes are not a record.
    Fault(RecordFault),
}

fn fill(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, io::Error> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads the next record from a stream: `None` at a clean end. The body
/// is read into one buffer that becomes the payload.
pub(crate) fn read_record(r: &mut impl Read) -> Result<Option<(Record, u64)>, ReadError> {
    let mut head = [0u8; PREFIX];
    let got = fill(r, &mut head).map_err(ReadError::Io)?;
    if got == 0 {
        return Ok(None);
    }
    let (len, check) = prefix(&head[..got]).map_err(ReadError::Fault)?;
    let mut b = vec![0u8; len as usize];
    let got = fill(r, &mut b).map_err(ReadError::Io)?;
    if got < b.len() {
        return Err(ReadError::Fault(RecordFault::Truncated {
            needed: PREFIX + b.len(),
            got: PREFIX + got,
        }));
    }
    let (plen, info) = body(len, check, &b).map_err(ReadError::Fault)?;
    let t = b.len() - TRAILER;
    let topic = String::from_utf8_lossy(&b[plen..t]).into_owned();
    let qos = b[t + 18];
    b.truncate(plen);
    Ok(Some((
        Record {
            serial: info.serial,
            msg: Msg {
                topic,
                payload: b,
                qos,
                seq: info.seq,
            },
        },
        (PREFIX + len as usize) as u64,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: u64) -> Msg {
        Msg {
            topic: "vehicle/V/telemetry".into(),
            payload: format!("{{\"seq\":{i}}}").into_bytes(),
            qos: 1,
            seq: Some(i),
        }
    }

    fn encoded(msgs: &[Msg]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut tail = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            write_record(i as u64, m, &mut out, &mut tail).unwrap();
        }
        out
    }

    #[test]
    fn a_record_decodes_to_what_was_written_from_bytes_and_from_a_stream() {
        let m = Msg {
            seq: None,
            qos: 0,
            ..msg(7)
        };
        let bytes = encoded(std::slice::from_ref(&m));
        let (r, n) = decode_record(&bytes).unwrap();
        assert_eq!((r.serial, &r.msg, n), (0, &m, bytes.len()));
        let (s, n2) = read_record(&mut &bytes[..]).unwrap().unwrap();
        assert_eq!((s, n2), (r, n as u64));
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_a_fault_not_a_panic() {
        let bytes = encoded(&[msg(1)]);
        for cut in 0..bytes.len() {
            assert!(decode_record(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(decode_record(&b).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn a_length_beyond_the_limit_is_refused_before_reading_the_body() {
        let mut bytes = encoded(&[msg(1)]);
        bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decode_record(&bytes).unwrap_err(),
            RecordFault::BadLength(u32::MAX)
        );
        assert!(matches!(
            read_record(&mut &bytes[..]),
            Err(ReadError::Fault(RecordFault::BadLength(_)))
        ));
    }

    #[test]
    fn scanning_resynchronises_on_the_record_after_a_damaged_one() {
        let msgs: Vec<Msg> = (0..5).map(msg).collect();
        let mut bytes = encoded(&msgs);
        let second = inspect_record(&bytes).unwrap().1;
        bytes[second + PREFIX + 2] ^= 0xFF;
        let scan = scan_segment(&bytes);
        let serials: Vec<u64> = scan
            .iter()
            .filter_map(|s| match s {
                Scanned::Record { info, .. } => Some(info.serial),
                Scanned::Damaged { .. } => None,
            })
            .collect();
        assert_eq!(serials, vec![0, 2, 3, 4]);
        assert!(matches!(
            &scan[1],
            Scanned::Damaged { fault: RecordFault::Checksum, at } if at.start == second
        ));
    }

    #[test]
    fn scanning_arbitrary_bytes_never_panics() {
        // A small deterministic generator: the same inputs on every run.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let valid = encoded(&[msg(1), msg(2), msg(3)]);
        for _ in 0..2000 {
            let len = (next() % 200) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if next() % 2 == 0 {
                // Splice valid records in, so the scanner meets real
                // markers among the noise.
                let at = (next() as usize) % (b.len() + 1);
                b.splice(at..at, valid.iter().copied());
                let flip = (next() as usize) % b.len();
                b[flip] = next() as u8;
            }
            let _ = scan_segment(&b);
            let _ = decode_record(&b);
            let _ = read_record(&mut &b[..]);
        }
    }
}
