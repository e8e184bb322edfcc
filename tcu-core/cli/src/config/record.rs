//! `[record]`: the full-rate trace of a run (`tcu_engine::record`). Off
//! unless a path is set (in the file or with `tcu run --record FILE`).

use serde::Deserialize;
use std::path::PathBuf;
use tcu_engine::config::ConfigError;
use tcu_engine::record::RecordSettings;

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
) -> Result<RecordConfig, ConfigError> {
    let mut path = None;
    let mut max_bytes = None;
    let mut files = None;
    for (name, l) in layers {
        path = l.path.or(path);
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
    })
}
