//! Digests of artifacts, and the pipeline a download streams through: the
//! thread reading the socket hands each buffer to a writer thread (the
//! `.part` file), which hands it on to a hasher thread, which gives it back
//! for reuse. Neither the disk nor the hash holds up reading the socket,
//! and writing and hashing overlap.
//!
//! The channels are bounded, so at most `2 * DEPTH + 3` buffers of
//! `BUFFER` bytes exist at once.
//!
//! A fourth thread syncs the file every `SYNC_EVERY` bytes while the
//! download goes on, without holding up the writer: the final fsync then
//! has only the tail to write, and the disk works while the socket is read
//! instead of after it (a 50 MiB fsync at the end cost as long as a third
//! of the transfer).

use crate::ddi::Hashes;
use sha1::Digest as _;
use std::fs::File;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bytes of one buffer between the socket, the writer and the hasher.
const BUFFER: usize = 512 * 1024;
/// Buffers queued for each of the writer and the hasher.
const DEPTH: usize = 8;
/// Bytes written between two syncs of the file.
const SYNC_EVERY: usize = 8 << 20;
/// A buffer that is not full goes to the writer after this long anyway, so
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

/// How pumping a body into the pipeline ended.
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

/// The outcome of a whole transfer.
pub(crate) struct Transfer {
    /// How reading ended.
    pub(crate) pumped: Pumped,
    /// Bytes read (and, unless `written` is an error, written and hashed).
    pub(crate) read: u64,
    /// The file, or why writing it failed.
    pub(crate) written: std::io::Result<File>,
    /// The hash of everything written (the resumed prefix included).
    pub(crate) hasher: Hasher,
}

/// Streams `body` into `out` (positioned where the new bytes go), hashing
/// them with `hasher` on another thread, until the body ends, fails,
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
    let synced = out.try_clone()?;
    std::thread::scope(|s| {
        let (to_writer, writer_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(DEPTH);
        let (to_hasher, hasher_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(DEPTH);
        let (spare_tx, spare_rx) = mpsc::channel::<Vec<u8>>();
        // One pending request is enough: a sync writes all that is there.
        let (to_syncer, syncer_rx) = mpsc::sync_channel::<()>(1);
        let spawn = |name: &str| std::thread::Builder::new().name(name.into());
        let syncer =
            spawn("ota-download-sync").spawn_scoped(s, move || sync(&synced, syncer_rx))?;
        let writer = spawn("ota-download-write")
            .spawn_scoped(s, move || write(out, writer_rx, to_hasher, to_syncer))?;
        let hashing = spawn("ota-download-hash")
            .spawn_scoped(s, move || hash(hasher, hasher_rx, spare_tx))?;
        let mut read = 0u64;
        let pumped = pump(
            body, &to_writer, &spare_rx, start, limit, &mut read, progress, stopped,
        );
        drop(to_writer);
        let panicked =
            |what: &str| std::io::Error::other(format!("the download's {what} thread panicked"));
        let written = writer.join().map_err(|_| panicked("writer"))?;
        let hasher = hashing.join().map_err(|_| panicked("hasher"))?;
        let synced = syncer.join().map_err(|_| panicked("sync"))?;
        Ok(Transfer {
            pumped,
            read,
            written: synced.and(written),
            hasher,
        })
    })
}

/// Writes every buffer to `out`, passes it on to the hasher, and asks for
/// a sync every `SYNC_EVERY` bytes (without waiting for it).
fn write(
    mut out: File,
    rx: mpsc::Receiver<(Vec<u8>, usize)>,
    to_hasher: mpsc::SyncSender<(Vec<u8>, usize)>,
    to_syncer: mpsc::SyncSender<()>,
) -> std::io::Result<File> {
    let mut unsynced = 0usize;
    for (buf, n) in rx {
        // On an error, dropping `rx` makes the reader stop at its next send.
        out.write_all(&buf[..n])?;
        if to_hasher.send((buf, n)).is_err() {
            break;
        }
        unsynced += n;
        if unsynced >= SYNC_EVERY {
            unsynced = 0;
            // Full: a sync is pending and will take these bytes too.
            let _ = to_syncer.try_send(());
        }
    }
    Ok(out)
}

/// Syncs the file's data whenever asked, until the writer is done.
fn sync(file: &File, rx: mpsc::Receiver<()>) -> std::io::Result<()> {
    for () in rx {
        file.sync_data()?;
    }
    Ok(())
}

/// Hashes every buffer and gives it back for reuse.
fn hash(
    mut hasher: Hasher,
    rx: mpsc::Receiver<(Vec<u8>, usize)>,
    spare: mpsc::Sender<Vec<u8>>,
) -> Hasher {
    for (buf, n) in rx {
        hasher.update(&buf[..n]);
        let _ = spare.send(buf);
    }
    hasher
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
            // The writer stopped on a write error, which it reports.
            return Pumped::Stopped;
        }
        if let Some(end) = end {
            return end;
        }
    }
}
