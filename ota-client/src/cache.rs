//! A content-addressed artifact cache shared by many clients in one
//! process (a fleet): an artifact several vehicles need is downloaded and
//! verified once, under the strongest hash its deployment gives
//! (`<dir>/<algo>-<hex>`), and each vehicle's action directory gets a hard
//! link to it (a copy where linking fails).
//!
//! A download lands in the cache only through [`crate::download::fetch`],
//! which renames a file into place only after its hash matched: a corrupt
//! or truncated download is never cached, and the `.part` file of an
//! interrupted one is resumed by the next client that needs the artifact.
//! Clients that need one artifact at the same time wait for the first one's
//! download instead of starting their own. An entry found on disk from an
//! earlier process is verified once (by the same fetch, without
//! downloading) before this process hands it out.

use crate::ddi::Hashes;
use crate::download::DownloadError;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The shared cache.
#[derive(Debug)]
pub struct ArtifactCache {
    dir: PathBuf,
    /// One lock per key: the first client downloads, the others wait.
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Keys verified by this process.
    verified: Mutex<BTreeSet<String>>,
    fetches: AtomicU64,
    hits: AtomicU64,
}

/// The cache's key of an artifact: its strongest hash, as `algo-hex`;
/// `None` without a usable hash (anything but hex digits is refused, as the
/// key becomes a file name).
pub fn key(h: &Hashes) -> Option<String> {
    let (algo, hex) = if let Some(x) = &h.sha256 {
        ("sha256", x)
    } else if let Some(x) = &h.sha1 {
        ("sha1", x)
    } else {
        ("md5", h.md5.as_ref()?)
    };
    let hex = hex.to_ascii_lowercase();
    (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| format!("{algo}-{hex}"))
}

impl ArtifactCache {
    /// A cache in `dir` (created).
    pub fn open(dir: &Path) -> Result<Self, crate::OtaError> {
        std::fs::create_dir_all(dir).map_err(|e| crate::OtaError::Io {
            what: format!("creating the artifact cache {}", dir.display()),
            message: e.to_string(),
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            locks: Mutex::default(),
            verified: Mutex::default(),
            fetches: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Artifacts fetched (or verified from disk) by this process.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Artifacts handed out from the cache without a fetch.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Puts the artifact of `hashes` at `dest`: from the cache, or fetched
    /// into it first by `fetch(entry)` (which must verify, as
    /// [`crate::download::fetch`] does). Without a usable hash, `fetch`
    /// writes straight to `dest` (and refuses, as fetch does).
    pub fn provide(
        &self,
        hashes: &Hashes,
        dest: &Path,
        fetch: impl FnOnce(&Path) -> Result<u64, DownloadError>,
    ) -> Result<(), DownloadError> {
        let Some(key) = key(hashes) else {
            return fetch(dest).map(drop);
        };
        let lock = self
            .locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
        let entry = self.dir.join(&key);
        let known = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key);
        if known && entry.is_file() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.fetches.fetch_add(1, Ordering::Relaxed);
            fetch(&entry)?;
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key);
        }
        link(&entry, dest)
    }
}

/// `dest` becomes a hard link to `entry` (a copy where the file system
/// refuses links).
fn link(entry: &Path, dest: &Path) -> Result<(), DownloadError> {
    match std::fs::remove_file(dest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(DownloadError::Io(format!(
                "removing {}: {e}",
                dest.display()
            )));
        }
    }
    if std::fs::hard_link(entry, dest).is_err() {
        std::fs::copy(entry, dest).map_err(|e| {
            DownloadError::Io(format!(
                "copying {} to {}: {e}",
                entry.display(),
                dest.display()
            ))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(hex: &str) -> Hashes {
        Hashes {
            sha256: Some(hex.into()),
            ..Hashes::default()
        }
    }

    #[test]
    fn a_key_is_the_strongest_hash_and_only_hex_digits() {
        let all = Hashes {
            sha1: Some("AB".into()),
            md5: Some("cd".into()),
            sha256: Some("EF01".into()),
        };
        assert_eq!(key(&all).as_deref(), Some("sha256-ef01"));
        assert_eq!(key(&sha("../x")), None);
        assert_eq!(key(&Hashes::default()), None);
    }

    #[test]
    fn an_artifact_several_clients_need_is_fetched_once() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::open(&tmp.path().join("cache")).unwrap();
        for i in 0..3 {
            let dest = tmp.path().join(format!("v{i}.so"));
            cache
                .provide(&sha("aa"), &dest, |entry| {
                    std::fs::write(entry, b"lib").unwrap();
                    Ok(3)
                })
                .unwrap();
            assert_eq!(std::fs::read(&dest).unwrap(), b"lib");
        }
        assert_eq!((cache.fetches(), cache.hits()), (1, 2));
    }

    #[test]
    fn a_failed_download_is_not_cached_and_the_next_client_fetches_again() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::open(&tmp.path().join("cache")).unwrap();
        let dest = tmp.path().join("v.so");
        let e = cache
            .provide(&sha("bb"), &dest, |_| {
                Err(DownloadError::Io("link dropped".into()))
            })
            .unwrap_err();
        assert_eq!(e, DownloadError::Io("link dropped".into()));
        assert!(!dest.exists());
        cache
            .provide(&sha("bb"), &dest, |entry| {
                std::fs::write(entry, b"ok").unwrap();
                Ok(2)
            })
            .unwrap();
        assert_eq!(cache.fetches(), 2, "the failure cached nothing");
    }
}
