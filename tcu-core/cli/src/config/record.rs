//! `[record]`: the full-rate trace of a run (`tcu_engine::record`), off
//! unless a path is set (in the file or with `tcu run --record FILE`), and
//! condition-based captures (`[[record.capture]]`), off unless a rule is
//! listed.

use serde::Deserialize;
use std::path::PathBuf;
use tcu_engine::catalog::Catalog;
use tcu_engine::config::ConfigError;
use tcu_engine::record::{CaptureRule, RecordSettings};

/// Smallest `max_bytes` accepted: below it every few rows would start a
/// file with a header of its own.
const MIN_BYTES: u64 = 4096;

/// `[record]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecord {
    /// The current file.
    pub path: Option<PathBuf>,
    /// Bytes per file before it is rotated.
    pub max_bytes: Option<u64>,
    /// Files kept.
    pub files: Option<u32>,
    /// Directory of condition-based captures.
    pub capture_dir: Option<PathBuf>,
    /// `[[record.capture]]`: capture rules.
    pub capture: Option<Vec<RawCapture>>,
}

/// One `[[record.capture]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapture {
    /// An event kind (`abs.engaged`) or `SIGNAL OP VALUE` (`Vehicle.Speed > 130`).
    pub rule: String,
    /// Seconds kept before the trigger.
    #[serde(default = "ten")]
    pub before: f64,
    /// Seconds kept after it.
    #[serde(default = "five")]
    pub after: f64,
}

/// The window a rule gets when it does not say: the same as a remote
/// `capture_rules` request's.
fn ten() -> f64 {
    tcu_engine::record::DEFAULT_BEFORE_S
}

fn five() -> f64 {
    tcu_engine::record::DEFAULT_AFTER_S
}

/// Resolved `[record]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordConfig {
    /// The current file; `None`: no recording.
    pub path: Option<PathBuf>,
    /// Bytes per file before it is rotated.
    pub max_bytes: u64,
    /// Files kept, the current one included.
    pub files: u32,
    /// Where captures are written.
    pub capture_dir: PathBuf,
    /// Capture rules (none: no captures).
    pub captures: Vec<CaptureRule>,
}

impl RecordConfig {
    /// The recorder's settings, when recording is on.
    pub fn settings(&self) -> Option<RecordSettings> {
        self.path.as_ref().map(|path| RecordSettings {
            path: path.clone(),
            max_bytes: self.max_bytes,
            files: self.files,
        })
    }
}

pub(super) fn resolve_record(
    layers: Vec<(String, RawRecord)>,
    catalog: &Catalog,
) -> Result<RecordConfig, ConfigError> {
    let mut path = None;
    let mut max_bytes = None;
    let mut files = None;
    let mut capture_dir = None;
    let mut captures = Vec::new();
    for (name, l) in layers {
        path = l.path.or(path);
        capture_dir = l.capture_dir.or(capture_dir);
        if let Some(list) = l.capture {
            // A layer that lists rules replaces the rules below it.
            captures.clear();
            for c in list {
                let rule = CaptureRule::parse(&c.rule, c.before, c.after, catalog)
                    .map_err(|m| ConfigError::invalid(&name, "record.capture", m))?;
                captures.push(rule);
            }
        }
        max_bytes = l.max_bytes.map(|v| (name.clone(), v)).or(max_bytes);
        files = l.files.map(|v| (name.clone(), v)).or(files);
    }
    if let Some((src, b)) = &max_bytes
        && *b < MIN_BYTES
    {
        return Err(ConfigError::invalid(
            src,
            "record.max_bytes",
            format!("{b} is below the smallest file of {MIN_BYTES} bytes"),
        ));
    }
    if let Some((src, 0)) = &files {
        return Err(ConfigError::invalid(
            src,
            "record.files",
            "must be at least 1",
        ));
    }
    Ok(RecordConfig {
        path,
        max_bytes: max_bytes.map_or(64 << 20, |(_, b)| b),
        files: files.map_or(4, |(_, f)| f),
        capture_dir: capture_dir.unwrap_or_else(|| PathBuf::from("captures")),
        captures,
    })
}
