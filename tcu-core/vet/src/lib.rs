//! Vetting a candidate version of a subsystem library before it ships:
//! the inputs a vehicle recorded (`tcu_engine::record` traces) are replayed
//! through the running ("current") and the candidate library side by side,
//! two instances in this one host, each from its own file, both created with
//! the recorded seed and stepped at the recorded tick rate. The report says,
//! per trace and per output signal, the largest absolute and relative
//! difference and when the outputs first diverged beyond tolerance, and per
//! version every output outside the catalog's range, NaN, error status or
//! panic (caught at the ABI boundary: a panicking candidate is reported,
//! never brings the vetting down), and each version's tick cost.
//!
//! - [`tolerance`]: the per-signal tolerance file;
//! - [`replay`]: one trace through both versions;
//! - [`report`]: the verdicts, the terminal table, JSON and JUnit.
//!
//! Depends on the engine only, so the `tcu` binary and the twin can both
//! vet. Wall-clock tick costs come from a timer the caller passes in, so a
//! vetting with a fixed timer gives byte-identical reports.

pub mod replay;
pub mod report;
pub mod tolerance;

pub use report::{Report, TraceReport};
pub use tolerance::{Tolerance, Tolerances};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tcu_engine::catalog::Catalog;
use tcu_engine::plugin::{LoadError, PluginLibrary};
use tcu_engine::record::{RecordError, trace_files};

/// The vetting could not be run (exit code 2): as opposed to a candidate
/// that ran and failed.
#[derive(Debug, thiserror::Error)]
pub enum VetError {
    /// A library could not be loaded.
    #[error("{which} library: {source}")]
    Load {
        /// `current` or `candidate`.
        which: &'static str,
        /// Why (boxed: a load error is large, and rare).
        source: Box<LoadError>,
    },
    /// The two libraries are different subsystems.
    #[error(
        "the current library {current_path} is subsystem `{current}`, the candidate {candidate_path} is `{candidate}`"
    )]
    Subsystems {
        /// Current subsystem.
        current: String,
        /// Its file.
        current_path: PathBuf,
        /// Candidate subsystem.
        candidate: String,
        /// Its file.
        candidate_path: PathBuf,
    },
    /// A trace could not be read.
    #[error(transparent)]
    Trace(#[from] RecordError),
    /// A trace lacks a signal a version reads.
    #[error("{path}: the trace has no column `{signal}`, which the {which} version reads")]
    MissingInput {
        /// The trace.
        path: PathBuf,
        /// Signal.
        signal: String,
        /// `current` or `candidate`.
        which: &'static str,
    },
    /// A recorded input is not a value the signal can take.
    #[error("{path}:{line}: `{signal}`: {message}")]
    BadInput {
        /// The trace.
        path: PathBuf,
        /// Line.
        line: usize,
        /// Signal.
        signal: String,
        /// Why.
        message: String,
    },
    /// No trace files were given or found.
    #[error("no trace files in {0}")]
    NoTraces(String),
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The tolerance file is not valid.
    #[error("{path}: {message}")]
    Tolerances {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The two versions under comparison.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The version vehicles run now.
    pub current: Arc<PluginLibrary>,
    /// The version that would replace it.
    pub candidate: Arc<PluginLibrary>,
}

impl Pair {
    /// Opens both libraries (each from its own file) and checks that they
    /// provide the same subsystem.
    pub fn open(current: &Path, candidate: &Path, catalog: &Catalog) -> Result<Self, VetError> {
        let open = |which, path: &Path| {
            PluginLibrary::open(path, catalog)
                .map(Arc::new)
                .map_err(|source| VetError::Load {
                    which,
                    source: Box::new(source),
                })
        };
        Self::new(open("current", current)?, open("candidate", candidate)?)
    }

    /// Two libraries already opened; they must provide the same subsystem.
    pub fn new(
        current: Arc<PluginLibrary>,
        candidate: Arc<PluginLibrary>,
    ) -> Result<Self, VetError> {
        if current.name() != candidate.name() {
            return Err(VetError::Subsystems {
                current: current.name().to_owned(),
                current_path: current.path().to_owned(),
                candidate: candidate.name().to_owned(),
                candidate_path: candidate.path().to_owned(),
            });
        }
        Ok(Self { current, candidate })
    }
}

/// Every trace file named by `paths` (files, or directories of them).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, VetError> {
    let mut files = Vec::new();
    for p in paths {
        let found = trace_files(p)?;
        if found.is_empty() {
            return Err(VetError::NoTraces(p.display().to_string()));
        }
        files.extend(found);
    }
    if files.is_empty() {
        return Err(VetError::NoTraces("the command line".into()));
    }
    Ok(files)
}

/// Vets `pair` on every trace of `traces` (files or directories); `timer`
/// gives the time elapsed since any fixed instant (for tick costs).
pub fn vet(
    pair: &Pair,
    traces: &[PathBuf],
    tolerances: &Tolerances,
    catalog: &Arc<Catalog>,
    timer: &mut dyn FnMut() -> Duration,
) -> Result<Report, VetError> {
    let files = expand(traces)?;
    let mut reports = Vec::with_capacity(files.len());
    for file in &files {
        reports.push(replay::replay(pair, file, tolerances, catalog, timer)?);
    }
    Ok(Report::new(pair, reports))
}
