//! The open action, persisted: a restart in the middle of an action resumes
//! its downloads, or reports its outcome before a new action is taken.
//! Written atomically (a temporary file renamed over the old one), so a
//! crash leaves either the old or the new state, never half of one.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How far the action got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Artifacts being fetched.
    Downloading,
    /// All artifacts verified; waiting for installation.
    Downloaded,
    /// Handed to the installer; its outcome is not known yet.
    Installing,
    /// Outcome known; the closing feedback still has to reach the server.
    Finished,
    /// Outcome known, but the server refused its closing feedback (a 4xx
    /// other than 410) on every one of a few tries, so the client stopped
    /// sending it. Kept so that neither this run nor one after a restart
    /// sends it again or takes the action a second time while the server
    /// still offers it; dropped once the server offers something else.
    ReportRefused,
}

/// A subsystem the action installs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Subsystem.
    pub subsystem: String,
    /// Version the server announced, if any.
    pub version: Option<String>,
    /// The verified library, once downloaded.
    pub library: Option<PathBuf>,
}

/// The closing feedback to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// `closed` + `success` (else `failure`).
    pub success: bool,
    /// Why / what.
    pub details: Vec<String>,
}

/// The open action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionState {
    /// Action id.
    pub id: String,
    /// Stage.
    pub stage: Stage,
    /// Subsystems, versions and staged files.
    pub targets: Vec<Target>,
    /// Set when `stage` is `Finished`.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// Times the server refused the closing feedback.
    #[serde(default)]
    pub feedback_refusals: u32,
}

/// The state file.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// At `path`.
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved action; a missing file is none, an unreadable one (or one
    /// whose id is not a plain id) is reported and treated as none (the
    /// server still knows the action).
    pub fn load(&self) -> Option<ActionState> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let state = serde_json::from_str::<ActionState>(&text)
            .map_err(|e| e.to_string())
            .and_then(|s| crate::ddi::check_id(&s.id).map(|()| s));
        match state {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(file = %self.path.display(), "ignoring unreadable OTA state: {e}");
                None
            }
        }
    }

    /// Saves `state` atomically.
    pub fn save(&self, state: &ActionState) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
        tcu_engine::fsutil::write_atomic(&self.path, &text)
    }

    /// Forgets the action.
    pub fn clear(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_clears() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = StateFile::new(dir.path().join("sub/ota-state.json"));
        assert_eq!(f.load(), None);
        let s = ActionState {
            id: "7".into(),
            stage: Stage::Installing,
            targets: vec![Target {
                subsystem: "battery".into(),
                version: Some("2.0.0".into()),
                library: Some("/x/libbattery.so".into()),
            }],
            outcome: None,
            feedback_refusals: 0,
        };
        f.save(&s).expect("save");
        assert_eq!(f.load(), Some(s));
        f.clear().expect("clear");
        assert_eq!(f.load(), None);
        f.clear().expect("clearing twice is fine");
    }

    #[test]
    fn garbage_state_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("s.json");
        std::fs::write(&p, "{not json").expect("write");
        assert_eq!(StateFile::new(p.clone()).load(), None);
        std::fs::write(&p, r#"{"id":"../x","stage":"finished","targets":[]}"#).expect("write");
        assert_eq!(StateFile::new(p).load(), None, "an id that is not plain");
    }
}
