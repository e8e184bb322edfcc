//! Digests of artifacts, and the sink a download streams into: the bytes
//! read from the socket are written to the `.part` file and hashed on a
//! second thread, so that neither the disk nor the hash holds up reading
//! the socket.
//!
//! Buffers travel to the sink through a bounded channel and come back for
//! reuse, so at most `DEPTH + 2` buffers of `BUFFER` bytes exist at once
//! (one being filled, one being written and hashed, the rest queued).

use crate::ddi::Hashes;
use sha1::Digest as _;
use std::fs::File;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bytes of one buffer between the socket and the sink.
const BUFFER: usize = 1 << 20;
/// Buffers queued for the sink.
const DEPTH: usize = 4;
/// A buffer that is not full goes to the sink after this long anyway, so
/// that a slow link still reaches the `.part` file (and can be resumed
/// after a kill) in small steps.
const FLUSH_AFTER: Duration = Duration::from_millis(20);

/// One of the supported digests.
pub(crate) enum Hasher {
    Sha256(sha2::Sha256),
    Sha1(sha1::Sha1),
    Md5(md5::Md5),
}

impl Hasher {
    /// The strongest hash present: its hasher, name and expected hex value.
    pub(crate) fn strongest(h: &Hashes) -> Option<(Self, &'static str, String)> {
        if let Some(x) = &h.sha256 {
            Some((
                Self::Sha256(sha2::Sha256::new()),
                "sha256",
                x.to_lowercase(),
            ))
        } else if let Some(x) = &h.sha1 {
            Some((Self::Sha1(sha1::Sha1::new()), "sha1", x.to_lowercase()))
        } else {
            h.md5
                .as_ref()
                .map(|x| (Self::Md5(md5::Md5::new()), "md5", x.to_lowercase()))
        }
    }

    pub(crate) fn update(&mut self, b: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(b),
            Self::Sha1(h) => h.update(b),
            Self::Md5(h) => h.update(b),
        }
    }

    pub(crate) fn finish(self) -> String {
        match self {
            Self::Sha256(h) => hex::encode(h.finalize()),
            Self::Sha1(h) => hex::encode(h.finalize()),
            Self::Md5(h) => hex::encode(h.finalize()),
        }
    }
}

/// Hashes everything `r` yields; returns the byte count.
pub(crate) fn hash_reader(r: &mut impl Read, h: &mut Hasher) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
}

/// How pumping a body into the sink ended.
pub(crate) enum Pumped {
    /// The body ended.
    Complete,
    /// Reading failed (what arrived before is written).
    Lost(std::io::Error),
    /// The body passed `limit`; nothing more was read.
    TooLarge,
    /// `stopped()` said so.
    Stopped,
}

/// The outcome of a whole transfer into the sink.
pub(crate) struct Transfer {
    /// How reading ended.
    pub(crate) pumped: Pumped,
    /// Bytes read (and, unless `written` is an error, written).
    pub(crate) read: u64,
    /// The file, or why writing it failed.
    pub(crate) written: std::io::Result<File>,
    /// The hash of everything written (the resumed prefix included).
    pub(crate) hasher: Hasher,
}

/// Streams `body` into `out` (positioned where the new bytes go), hashing
/// them with `hasher` on a second thread, until the body ends, fails,
/// passes `limit` bytes in all (`start` counted), or `stopped()`.
/// `progress(total so far)` is called as bytes arrive.
pub(crate) fn transfer(
    body: &mut impl Read,
    out: File,
    hasher: Hasher,
    start: u64,
    limit: u64,
    progress: &mut dyn FnMut(u64),
    stopped: &dyn Fn() -> bool,
) -> std::io::Result<Transfer> {
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(DEPTH);
        let (spare_tx, spare_rx) = mpsc::channel::<Vec<u8>>();
        let sink = std::thread::Builder::new()
            .name("ota-download-sink".into())
            .spawn_scoped(s, move || sink(out, hasher, rx, spare_tx))?;
        let mut read = 0u64;
        let pumped = pump(
            body, &tx, &spare_rx, start, limit, &mut read, progress, stopped,
        );
        drop(tx);
        let (written, hasher) = sink
            .join()
            .map_err(|_| std::io::Error::other("the download's writer thread panicked"))?;
        Ok(Transfer {
            pumped,
            read,
            written,
            hasher,
        })
    })
}

fn sink(
    mut out: File,
    mut hasher: Hasher,
    rx: mpsc::Receiver<(Vec<u8>, usize)>,
    spare: mpsc::Sender<Vec<u8>>,
) -> (std::io::Result<File>, Hasher) {
    for (buf, n) in rx {
        if let Err(e) = out.write_all(&buf[..n]) {
            // Dropping `rx` makes the reader stop at its next send.
            return (Err(e), hasher);
        }
        hasher.update(&buf[..n]);
        let _ = spare.send(buf);
    }
    (Ok(out), hasher)
}

// Each argument is a separate seam of the one loop; see `transfer`.
#[allow(clippy::too_many_arguments)]
fn pump(
    body: &mut impl Read,
    tx: &mpsc::SyncSender<(Vec<u8>, usize)>,
    spare: &mpsc::Receiver<Vec<u8>>,
    start: u64,
    limit: u64,
    read: &mut u64,
    progress: &mut dyn FnMut(u64),
    stopped: &dyn Fn() -> bool,
) -> Pumped {
    loop {
        let mut buf = spare.try_recv().unwrap_or_else(|_| vec![0u8; BUFFER]);
        let mut filled = 0;
        let began = Instant::now();
        let end = loop {
            if stopped() {
                break Some(Pumped::Stopped);
            }
            match body.read(&mut buf[filled..]) {
                Ok(0) => break Some(Pumped::Complete),
                Ok(k) => {
                    filled += k;
                    *read += k as u64;
                    if start + *read > limit {
                        break Some(Pumped::TooLarge);
                    }
                    progress(start + *read);
                    if filled == buf.len() || began.elapsed() >= FLUSH_AFTER {
                        break None;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Some(Pumped::Lost(e)),
            }
        };
        // Bytes past the limit are not written; the file goes anyway.
        if filled > 0 && !matches!(end, Some(Pumped::TooLarge)) && tx.send((buf, filled)).is_err() {
            // The sink stopped on a write error, which it reports.
            return Pumped::Stopped;
        }
        if let Some(end) = end {
            return end;
        }
    }
}
