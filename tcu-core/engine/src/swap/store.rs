//! The plugin store: installed library versions and the manifest saying
//! which are active, in one directory that survives restarts.
//!
//! ```text
//! <store>/libs/<subsystem>-<version>-<sha256[..12]>.so   (+ .sig when signed)
//! <store>/manifest.json
//! ```
//!
//! The manifest lists only subsystems that were swapped away from the
//! library in the plugin directory; the rest come from there. It is always
//! replaced whole (temp file, fsync, rename, fsync of the directory), so a
//! reader sees the old or the new one, never half of either. Its `state`
//! tells a restart what is known to be good: `good` (use `active`),
//! `probation` (a swap was committed but had not proved itself when the
//! process stopped: use `previous`) or `rollback_failed` (a swap failed
//! probation and its previous versions could not be restored, so `active`
//! is what ran: use `previous`). Library files are staged before the
//! manifest names them, so a process killed in the middle of a swap restarts
//! with the set the manifest names, whole.

use crate::fsutil;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// One installed library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its semantic version.
    pub version: String,
    /// File name under `libs/`.
    pub file: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// Subsystem name → installed library.
pub type PluginSet = BTreeMap<String, Entry>;

/// Whether the active set has proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestState {
    /// `active` passed probation (or was restored to a good set).
    Good,
    /// `active` was committed and is on probation; `previous` is the last good set.
    Probation,
    /// `active` failed probation and could not be rolled back (at least in
    /// part), so it is what runs; `previous` is the last good set.
    RollbackFailed,
}

/// The active-set record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version of this file.
    pub format: u32,
    /// See [`ManifestState`].
    pub state: ManifestState,
    /// The set in use.
    pub active: PluginSet,
    /// The set before the last swap.
    pub previous: PluginSet,
}

impl Default for Manifest {
    fn default() -> Self {
        Self {
            format: 1,
            state: ManifestState::Good,
            active: PluginSet::new(),
            previous: PluginSet::new(),
        }
    }
}

/// A store operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// A file or directory could not be read or written.
    #[error("plugin store {path}: {message}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A name from outside (a library's subsystem name, a manifest's file
    /// name) would not stay one plain file name inside the store.
    #[error(
        "{file}: {what} `{name}` cannot name a file in the plugin store \
         (one plain name: letters, digits and `.-_+`, no `/`, `\\`, `..` or leading dot)"
    )]
    UnsafeName {
        /// What the name is (`subsystem name`, `file name of battery`).
        what: String,
        /// The name as found.
        name: String,
        /// Where it was found (the library, the manifest).
        file: PathBuf,
    },
}

fn err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Refuses `name` (found in `file`) unless it is one plain file name that
/// cannot leave the directory it is joined to: exactly what
/// [`fsutil::sanitize_file_name`] keeps unchanged.
pub fn check_name(what: &str, name: &str, file: &Path) -> Result<(), StoreError> {
    if fsutil::sanitize_file_name(name).is_ok_and(|clean| clean == name) {
        Ok(())
    } else {
        Err(StoreError::UnsafeName {
            what: what.to_owned(),
            name: name.to_owned(),
            file: file.to_owned(),
        })
    }
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// [`fsutil::write_atomic`] with the store's error.
fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    fsutil::write_atomic(dest, bytes).map_err(|e| err(dest, e))
}

/// A store directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    persistent: bool,
}

impl Store {
    /// Opens (creating if needed) a persistent store.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir.join("libs")).map_err(|e| err(dir, e))?;
        Ok(Self {
            dir: dir.to_owned(),
            persistent: true,
        })
    }

    /// A staging area that keeps no manifest (no store configured): library
    /// files still get their own names, which the loader needs.
    /// The directory is created when the first library is staged.
    pub fn scratch() -> Self {
        Self {
            dir: std::env::temp_dir().join(format!("tcu-staging-{}", std::process::id())),
            persistent: false,
        }
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when the manifest is kept.
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// Full path of an entry's library.
    pub fn path_of(&self, entry: &Entry) -> PathBuf {
        self.dir.join("libs").join(&entry.file)
    }

    fn manifest_path(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }

    /// Copies a library (and its signature, when given) into `libs/` under a
    /// name made of subsystem, version and hash. Identical content already
    /// there is reused.
    pub fn stage(
        &self,
        subsystem: &str,
        version: &str,
        bytes: &[u8],
        sig: Option<&[u8]>,
    ) -> Result<Entry, StoreError> {
        let libs = self.dir.join("libs");
        check_name("subsystem name", subsystem, &libs)?;
        let sha256 = sha256_hex(bytes);
        let clean = fsutil::sanitize_file_name(version).map_err(|m| err(&self.dir, m))?;
        let file = format!(
            "{subsystem}-{clean}-{}.{}",
            &sha256[..12],
            std::env::consts::DLL_EXTENSION
        );
        let entry = Entry {
            version: version.to_owned(),
            file,
            sha256,
        };
        let dest = self.path_of(&entry);
        std::fs::create_dir_all(&libs).map_err(|e| err(&libs, e))?;
        let present = std::fs::read(&dest).is_ok_and(|b| sha256_hex(&b) == entry.sha256);
        if !present {
            write_atomic(&dest, bytes)?;
        }
        if let Some(sig) = sig {
            write_atomic(&crate::swap::sign::sig_path(&dest), sig)?;
        }
        Ok(entry)
    }

    /// Reads the manifest; `None` when there is none yet. Every file name
    /// in it must be a plain name inside `libs/` ([`check_name`]).
    pub fn manifest(&self) -> Result<Option<Manifest>, StoreError> {
        let path = self.manifest_path();
        let m: Manifest = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| err(&path, format!("unreadable manifest: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(&path, e)),
        };
        for (name, entry) in m.active.iter().chain(&m.previous) {
            check_name(&format!("file name of {name}"), &entry.file, &path)?;
        }
        Ok(Some(m))
    }

    /// Replaces the manifest atomically (no-op for a scratch store).
    pub fn write_manifest(&self, m: &Manifest) -> Result<(), StoreError> {
        if !self.persistent {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(m).map_err(|e| err(&self.manifest_path(), e))?;
        write_atomic(&self.manifest_path(), &bytes)
    }

    /// The set to start with: `active` of a good manifest, `previous` of one
    /// left on probation (which is then written back as good). Entries whose
    /// file is missing or altered are dropped with a warning each, so the
    /// plugin directory's library is used for them.
    pub fn known_good(&self) -> Result<(PluginSet, Vec<String>), StoreError> {
        let Some(mut m) = self.manifest()? else {
            return Ok((PluginSet::new(), Vec::new()));
        };
        let mut warnings = Vec::new();
        if m.state != ManifestState::Good {
            let why = if m.state == ManifestState::Probation {
                "had not passed probation when the TCU stopped"
            } else {
                "failed probation and could not be rolled back"
            };
            warnings.push(format!(
                "the last swap {why}; going back to the previous set ({})",
                describe(&m.previous)
            ));
            m.active = m.previous.clone();
            m.state = ManifestState::Good;
            self.write_manifest(&m)?;
        }
        let mut set = PluginSet::new();
        for (name, entry) in m.active {
            let path = self.path_of(&entry);
            match std::fs::read(&path) {
                Ok(b) if sha256_hex(&b) == entry.sha256 => {
                    set.insert(name, entry);
                }
                Ok(_) => warnings.push(format!(
                    "{}: content does not match the manifest's sha256; using the plugin directory's {name}",
                    path.display()
                )),
                Err(e) => warnings.push(format!(
                    "{}: {e}; using the plugin directory's {name}",
                    path.display()
                )),
            }
        }
        Ok((set, warnings))
    }
}

/// `battery 2.0.0, abs 1.1.0` (or `the plugin directory's` when empty).
pub fn describe(set: &PluginSet) -> String {
    if set.is_empty() {
        return "the plugin directory's libraries".into();
    }
    set.iter()
        .map(|(n, e)| format!("{n} {}", e.version))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes manifests on a background thread, in order, so the tick thread
/// never waits for an fsync.
#[derive(Debug)]
pub struct ManifestWriter {
    tx: mpsc::Sender<WriterMsg>,
}

enum WriterMsg {
    Write(Manifest),
    Flush(mpsc::Sender<()>),
}

impl ManifestWriter {
    /// Starts the writer for `store`.
    pub fn start(store: Store) -> Self {
        let (tx, rx) = mpsc::channel::<WriterMsg>();
        let spawned = std::thread::Builder::new()
            .name("tcu-store".into())
            .spawn(move || {
                for msg in rx {
                    match msg {
                        WriterMsg::Write(m) => {
                            if let Err(e) = store.write_manifest(&m) {
                                tracing::error!("{e}");
                            }
                        }
                        WriterMsg::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the plugin store writer: {e}");
        }
        Self { tx }
    }

    /// Queues a manifest.
    pub fn submit(&self, m: Manifest) {
        let _ = self.tx.send(WriterMsg::Write(m));
    }

    /// Waits until every queued manifest is on disk.
    pub fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(WriterMsg::Flush(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probation_left_behind_falls_back_to_previous_and_tampering_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let v1 = store.stage("battery", "1.0.0", b"one", None).unwrap();
        let v2 = store
            .stage("battery", "2.0.0", b"two", Some(b"sig"))
            .unwrap();
        assert!(store.path_of(&v2).with_extension("so.sig").is_file());
        assert_eq!(store.known_good().unwrap().0, PluginSet::new());
        let m = Manifest {
            format: 1,
            state: ManifestState::Probation,
            active: [("battery".to_owned(), v2.clone())].into(),
            previous: [("battery".to_owned(), v1.clone())].into(),
        };
        store.write_manifest(&m).unwrap();
        let (set, warnings) = store.known_good().unwrap();
        assert_eq!(set["battery"], v1);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(
            store.manifest().unwrap().unwrap().state,
            ManifestState::Good
        );

        std::fs::write(store.path_of(&v1), b"tampered").unwrap();
        let (set, warnings) = store.known_good().unwrap();
        assert!(set.is_empty());
        assert!(warnings[0].contains("does not match"), "{warnings:?}");
    }

    #[test]
    fn a_subsystem_name_that_would_leave_the_store_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        for name in ["../../escaped", "a/b", "..", ".hidden", "", "nul\0byte"] {
            let e = store.stage(name, "1.0.0", b"bytes", None).unwrap_err();
            assert!(e.to_string().contains(&format!("`{name}`")), "{e}");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["store"], "nothing written beside the store");
        assert_eq!(
            std::fs::read_dir(dir.path().join("store/libs"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn a_manifest_file_name_that_would_leave_the_store_is_refused_naming_it_and_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let good = store.stage("battery", "1.0.0", b"one", None).unwrap();
        for file in ["../../../etc/passwd", "/etc/passwd", "..", "sub/lib.so"] {
            let evil = Entry {
                file: file.into(),
                ..good.clone()
            };
            let m = Manifest {
                active: [("battery".to_owned(), evil.clone())].into(),
                ..Manifest::default()
            };
            store.write_manifest(&m).unwrap();
            let e = store.known_good().unwrap_err().to_string();
            assert!(
                e.contains(&format!("`{file}`")) && e.contains("manifest.json"),
                "{e}"
            );
            // Also in `previous`, which a restart after probation uses.
            let m = Manifest {
                state: ManifestState::Probation,
                previous: [("battery".to_owned(), evil)].into(),
                ..Manifest::default()
            };
            store.write_manifest(&m).unwrap();
            let e = store.manifest().unwrap_err().to_string();
            assert!(e.contains(&format!("`{file}`")), "{e}");
        }
    }

    #[test]
    fn a_corrupt_manifest_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("manifest.json"), b"{ half").unwrap();
        let e = store.known_good().unwrap_err();
        assert!(e.to_string().contains("manifest.json"), "{e}");
    }
}
