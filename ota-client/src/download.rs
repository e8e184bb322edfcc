//! Artifact downloads: into `<file>.part`, resumed with `Range` after an
//! interruption, bounded by a size limit, verified against the strongest
//! hash the server gave (sha256, else sha1, else md5), then renamed into
//! place. Retries are bounded: transient failures (connection errors,
//! timeouts, 404, 5xx, a 416) use `retries` with exponential backoff; 409
//! and 429 ("busy") wait and use `busy_retries`. A complete download whose
//! hash does not match is fetched again from the start once; a second
//! mismatch fails the artifact at once, naming both digests: a server that
//! serves the wrong bytes (or announces the wrong hash) will not change its
//! mind on the next try.
//!
//! The bytes are written and hashed on a second thread (see
//! [`crate::hashing`]), so the socket is read at full speed.

use crate::ddi::Hashes;
use crate::hashing::{Hasher, Pumped, hash_reader, transfer};
use crate::http::Http;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tcu_engine::backoff::{Backoff, Jitter};

/// Why a download failed for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// The artifact is bigger than allowed.
    #[error("{file}: {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// File.
        file: String,
        /// Size (declared or seen so far).
        size: u64,
        /// Limit.
        limit: u64,
    },
    /// The server refused for good (401, 403, 400, ...).
    #[error("{file}: the server answered {status}")]
    Refused {
        /// File.
        file: String,
        /// HTTP status.
        status: u16,
    },
    /// Retries exhausted.
    #[error("{file}: giving up after {attempts} attempts: {last}")]
    GaveUp {
        /// File.
        file: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// Two complete downloads did not match the announced hash.
    #[error(
        "{file}: {hash} mismatch on {fetched} complete downloads: expected {expected}, got {actual}"
    )]
    HashMismatch {
        /// File.
        file: String,
        /// Hash algorithm (`sha256`, `sha1`, `md5`).
        hash: String,
        /// What the server announced.
        expected: String,
        /// What the last download hashed to.
        actual: String,
        /// Complete downloads made.
        fetched: u32,
    },
    /// The server gave no hash at all.
    #[error("{file}: the server gave no hash to verify the artifact with")]
    NoHash {
        /// File.
        file: String,
    },
    /// Local file trouble.
    #[error("{0}")]
    Io(String),
    /// Stopped from outside.
    #[error("stopped")]
    Stopped,
}

/// Retry and size settings.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest artifact accepted.
    pub max_size: u64,
    /// Transient failures tolerated per artifact.
    pub retries: u32,
    /// 409/429 answers tolerated per artifact.
    pub busy_retries: u32,
    /// Wait after a 409/429 (unless `Retry-After` says less).
    pub busy_wait: Duration,
    /// First backoff step.
    pub backoff_base: Duration,
    /// Largest backoff step.
    pub backoff_max: Duration,
    /// Largest answer body read from the DDI server (poll, deploymentBase,
    /// cancel, feedback answers).
    pub max_answer: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_answer: 1024 * 1024,
            max_size: 256 * 1024 * 1024,
            retries: 5,
            busy_retries: 10,
            busy_wait: Duration::from_secs(1),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// What the artifact must be.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// Declared size.
    pub size: Option<u64>,
    /// Declared hashes.
    pub hashes: Hashes,
}

pub use tcu_engine::fsutil::sanitize_file_name;

/// Refuses a name from outside that becomes a path component or is looked
/// up as one (a chunk's subsystem, an SWU member or image): empty, or
/// holding `/`, `\`, `..` or NUL. Nothing is made of such a name, rather
/// than guessing what was meant; what else a name may hold is replaced by
/// [`sanitize_file_name`] where it becomes a file name.
pub fn check_plain_name(name: &str) -> Result<(), String> {
    let why = if name.is_empty() {
        Some("it is empty")
    } else if name.contains('/') {
        Some("it contains `/`")
    } else if name.contains('\\') {
        Some("it contains `\\`")
    } else if name.contains("..") {
        Some("it contains `..`")
    } else if name.contains('\0') {
        Some("it contains NUL")
    } else {
        None
    };
    match why {
        Some(why) => Err(format!(
            "`{}` is refused as a name: {why}",
            name.escape_debug()
        )),
        None => Ok(()),
    }
}

/// The `.part` file beside `dest`.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// Hex digest of a whole file with the strongest hash of `h`; `None` when
/// `h` is empty.
pub fn file_matches(path: &Path, h: &Hashes) -> Option<bool> {
    let (mut hasher, _, want) = Hasher::strongest(h)?;
    let mut f = File::open(path).ok()?;
    if hash_reader(&mut f, &mut hasher).is_err() {
        return Some(false);
    }
    Some(hasher.finish() == want)
}

/// One attempt's failure.
enum Attempt {
    /// Counts against `retries`.
    Transient(String),
    /// Counts against `busy_retries`; wait this long.
    Busy(String, Duration),
    /// Complete, but its digest is not the announced one.
    Mismatch {
        hash: &'static str,
        expected: String,
        actual: String,
    },
    /// No retry.
    Fatal(DownloadError),
}

/// Downloads `url` to `dest` (resuming `dest.part`), verifying it. Returns
/// the size. `progress(done, total)` is called as bytes arrive; `stopped()`
/// is checked between reads and before waits.
// Each argument is a separate seam (client, target, limits, randomness,
// observers); bundling them in a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub fn fetch(
    http: &Http,
    url: &str,
    dest: &Path,
    expected: &Expected,
    limits: &Limits,
    jitter: &mut Jitter,
    progress: &mut dyn FnMut(u64, Option<u64>),
    stopped: &dyn Fn() -> bool,
) -> Result<u64, DownloadError> {
    let file = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if Hasher::strongest(&expected.hashes).is_none() {
        return Err(DownloadError::NoHash { file });
    }
    if let Some(size) = expected.size
        && size > limits.max_size
    {
        return Err(DownloadError::TooLarge {
            file,
            size,
            limit: limits.max_size,
        });
    }
    // Verified on an earlier run (e.g. before a restart): done.
    if dest.is_file() && file_matches(dest, &expected.hashes) == Some(true) {
        let n = std::fs::metadata(dest).map_or(0, |m| m.len());
        progress(n, expected.size);
        return Ok(n);
    }
    let part = part_path(dest);
    let mut backoff = Backoff::new(limits.backoff_base, limits.backoff_max);
    let (mut transient, mut busy, mut mismatched) = (0u32, 0u32, 0u32);
    loop {
        if stopped() {
            return Err(DownloadError::Stopped);
        }
        let failure = match attempt(
            http, url, dest, &part, &file, expected, limits, progress, stopped,
        ) {
            Ok(n) => return Ok(n),
            Err(f) => f,
        };
        let wait = match failure {
            Attempt::Fatal(e) => return Err(e),
            Attempt::Mismatch {
                hash,
                expected,
                actual,
            } => {
                mismatched += 1;
                tracing::warn!(
                    file,
                    "{hash} mismatch: expected {expected}, got {actual}; complete download {mismatched}"
                );
                if mismatched >= 2 {
                    return Err(DownloadError::HashMismatch {
                        file,
                        hash: hash.into(),
                        expected,
                        actual,
                        fetched: mismatched,
                    });
                }
                backoff.next_delay(jitter)
            }
            Attempt::Transient(why) => {
                transient += 1;
                tracing::warn!(file, attempt = transient, "download failed: {why}");
                if transient > limits.retries {
                    return Err(DownloadError::GaveUp {
                        file,
                        attempts: transient + busy,
                        last: why,
                    });
                }
                backoff.next_delay(jitter)
            }
            Attempt::Busy(why, wait) => {
                busy += 1;
                tracing::info!(file, attempt = busy, "server busy: {why}");
                if busy > limits.busy_retries {
                    return Err(DownloadError::GaveUp {
                        file,
                        attempts: transient + busy,
                        last: why,
                    });
                }
                wait
            }
        };
        if crate::sleep_unless(wait, stopped) {
            return Err(DownloadError::Stopped);
        }
    }
}

/// Parses `Retry-After` in seconds, bounded by `cap`.
pub(crate) fn retry_after(resp: &reqwest::blocking::Response, cap: Duration) -> Duration {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(cap, |s| Duration::from_secs(s).min(cap))
}

#[allow(clippy::too_many_arguments)]
fn attempt(
    http: &Http,
    url: &str,
    dest: &Path,
    part: &Path,
    file: &str,
    expected: &Expected,
    limits: &Limits,
    progress: &mut dyn FnMut(u64, Option<u64>),
    stopped: &dyn Fn() -> bool,
) -> Result<u64, Attempt> {
    let io = |what: &str, e: std::io::Error| {
        Attempt::Fatal(DownloadError::Io(format!("{what} {}: {e}", part.display())))
    };
    let mut offset = std::fs::metadata(part).map_or(0, |m| m.len());
    if expected.size.is_some_and(|s| offset > s) {
        std::fs::remove_file(part).map_err(|e| io("removing", e))?;
        offset = 0;
    }
    let limit = expected
        .size
        .unwrap_or(limits.max_size)
        .min(limits.max_size);
    let mut req = http.get(url);
    if offset > 0 {
        req = req.header(reqwest::header::RANGE, format!("bytes={offset}-"));
    }
    let mut resp = req
        .send()
        .map_err(|e| Attempt::Transient(format!("requesting {url}: {e}")))?;
    let status = resp.status().as_u16();
    let resumed = match status {
        206 if offset > 0 => true,
        200 => false,
        416 => {
            // Our part does not fit the file any more: start over.
            let _ = std::fs::remove_file(part);
            return Err(Attempt::Transient(
                "416: the partial download does not fit; starting over".into(),
            ));
        }
        409 | 429 => {
            let wait = retry_after(&resp, limits.busy_wait);
            return Err(Attempt::Busy(format!("answered {status}"), wait));
        }
        404 | 408 | 500..=599 => return Err(Attempt::Transient(format!("answered {status}"))),
        _ => {
            return Err(Attempt::Fatal(DownloadError::Refused {
                file: file.to_owned(),
                status,
            }));
        }
    };
    let (mut hasher, hash_name, want) = Hasher::strongest(&expected.hashes).ok_or_else(|| {
        Attempt::Fatal(DownloadError::NoHash {
            file: file.to_owned(),
        })
    })?;
    let mut out = OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .open(part)
        .map_err(|e| io("opening", e))?;
    let start = if resumed {
        // The bytes we already have go into the hash first.
        let mut prefix = std::io::Read::take(&mut out, offset);
        let n = hash_reader(&mut prefix, &mut hasher).map_err(|e| io("reading", e))?;
        if n != offset {
            return Err(Attempt::Transient("partial file changed under us".into()));
        }
        offset
    } else {
        out.set_len(0).map_err(|e| io("truncating", e))?;
        0
    };
    out.seek(SeekFrom::Start(start))
        .map_err(|e| io("seeking", e))?;
    let total = expected.size.or_else(|| {
        resp.content_length()
            .map(|l| if resumed { l + offset } else { l })
    });
    if let Some(t) = total
        && t > limits.max_size
    {
        let _ = std::fs::remove_file(part);
        return Err(Attempt::Fatal(DownloadError::TooLarge {
            file: file.to_owned(),
            size: t,
            limit: limits.max_size,
        }));
    }
    let t = transfer(
        &mut resp,
        out,
        hasher,
        start,
        limit,
        &mut |n| progress(n, total),
        stopped,
    )
    .map_err(|e| io("downloading into", e))?;
    let out = t.written.map_err(|e| io("writing", e))?;
    let done = start + t.read;
    match t.pumped {
        Pumped::Complete => {}
        Pumped::Stopped => return Err(Attempt::Fatal(DownloadError::Stopped)),
        Pumped::TooLarge => {
            drop(out);
            let _ = std::fs::remove_file(part);
            return Err(Attempt::Fatal(DownloadError::TooLarge {
                file: file.to_owned(),
                size: done,
                limit,
            }));
        }
        Pumped::Lost(e) => {
            return Err(Attempt::Transient(format!(
                "connection lost after {done} bytes: {e}"
            )));
        }
    }
    out.sync_all().map_err(|e| io("syncing", e))?;
    drop(out);
    if let Some(size) = expected.size
        && done < size
    {
        return Err(Attempt::Transient(format!(
            "connection closed after {done} of {size} bytes"
        )));
    }
    let got = t.hasher.finish();
    if got != want {
        // Start from nothing next time: the bytes kept could be the bad ones.
        let _ = std::fs::remove_file(part);
        return Err(Attempt::Mismatch {
            hash: hash_name,
            expected: want,
            actual: got,
        });
    }
    tcu_engine::fsutil::rename_durable(part, dest)
        .map_err(|e| Attempt::Fatal(DownloadError::Io(e.to_string())))?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_cannot_escape_the_staging_directory() {
        assert_eq!(
            sanitize_file_name("../../etc/passwd").as_deref(),
            Ok("passwd")
        );
        assert_eq!(sanitize_file_name("..\\..\\x.so").as_deref(), Ok("x.so"));
        assert_eq!(
            sanitize_file_name("libbattery v2.so").as_deref(),
            Ok("libbattery_v2.so")
        );
        assert_eq!(sanitize_file_name(".hidden").as_deref(), Ok("hidden"));
        assert!(sanitize_file_name("..").is_err());
        assert!(sanitize_file_name("dir/").is_err());
    }

    #[test]
    fn names_that_could_leave_a_directory_are_refused() {
        for bad in [
            "", "a/b", "/abs", "..", "../x", "x/..", "a\\b", "lib..so", "a\0b",
        ] {
            let e = check_plain_name(bad).expect_err(bad);
            assert!(e.contains("refused"), "{bad}: {e}");
        }
        for ok in [
            "battery",
            "heated-seats",
            "libbattery.so",
            "lib battery.so",
            "TRAILER!!!",
        ] {
            assert_eq!(check_plain_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn strongest_hash_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").expect("write");
        let sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let sha1 = "a9993e364706816aba3e25717850c26c9cd0d89d";
        let md5 = "900150983cd24fb0d6963f7d28e17f72";
        let h = |a: Option<&str>, b: Option<&str>, c: Option<&str>| Hashes {
            sha256: a.map(Into::into),
            sha1: b.map(Into::into),
            md5: c.map(Into::into),
        };
        assert_eq!(file_matches(&p, &h(Some(sha256), None, None)), Some(true));
        assert_eq!(file_matches(&p, &h(None, Some(sha1), None)), Some(true));
        assert_eq!(file_matches(&p, &h(None, None, Some(md5))), Some(true));
        // A wrong weaker hash is ignored when a stronger one is present...
        assert_eq!(
            file_matches(&p, &h(Some(sha256), Some("00"), Some("00"))),
            Some(true)
        );
        // ...and a wrong strongest one fails.
        assert_eq!(
            file_matches(&p, &h(Some("00"), Some(sha1), Some(md5))),
            Some(false)
        );
        assert_eq!(file_matches(&p, &Hashes::default()), None);
    }
}
