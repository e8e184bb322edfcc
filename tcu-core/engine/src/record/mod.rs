//! Full-rate recordings of what the plugins saw: every signal a plugin of
//! the vehicle reads or writes, after every tick, in the trace format of
//! `docs/RECORDING.md`, written to a rotating set of files bounded in size
//! ([`Recorder`], a tick hook) and read back row by row ([`TraceReader`],
//! for vetting a candidate library and for replaying a drive as a
//! scenario).
//!
//! The scenario engine's CSV trace (`time,signal,value`, sampled every
//! 100 ms, rounded to the millisecond) is made for diffing runs by eye; a
//! replay needs every tick, exact values and the vehicle's make-up (tick
//! rate, seed, plugin versions and their declared signals), hence a format
//! of its own: a header of `# key value` lines, a column line, then one
//! row per tick in which an empty cell repeats the row above.

mod reader;
mod writer;

pub use reader::{TraceReader, trace_files};
pub use writer::{RecordSettings, Recorder};

use std::path::PathBuf;

/// First line of every trace file; the number is the format's version.
pub const MAGIC: &str = "# tcu-trace 1";

/// Recording or reading a trace failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A file could not be created, written, renamed or read.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`creating`, `writing`, `reading`, ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A trace file is not in the format.
    #[error("{path}:{line}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Line number, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// One plugin of the recorded vehicle, as its header line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginEntry {
    /// Subsystem name.
    pub name: String,
    /// Its semantic version.
    pub version: String,
    /// Signals it reads, in input order.
    pub reads: Vec<String>,
    /// Signals it writes, in output order.
    pub writes: Vec<String>,
}

/// What a trace file says about the vehicle it was recorded on.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Ticks per second.
    pub tick_rate_hz: f64,
    /// The vehicle's seed (plugins were created with it).
    pub seed: u64,
    /// The vehicle's VIN.
    pub vin: String,
    /// Plugins in execution order.
    pub plugins: Vec<PluginEntry>,
    /// Signal paths of the columns after `tick`, in catalog order.
    pub columns: Vec<String>,
}

impl Header {
    /// The header's text: the magic line, `# key value` lines, the column
    /// line.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = format!(
            "{MAGIC}\n# tick_rate_hz {}\n# seed {}\n# vin {}\n",
            self.tick_rate_hz, self.seed, self.vin
        );
        for p in &self.plugins {
            let _ = writeln!(
                s,
                "# plugin {} {} reads={} writes={}",
                p.name,
                p.version,
                p.reads.join(";"),
                p.writes.join(";")
            );
        }
        s.push_str("tick");
        for c in &self.columns {
            s.push(',');
            s.push_str(c);
        }
        s.push('\n');
        s
    }

    /// The plugin called `name`, if the vehicle ran one.
    pub fn plugin(&self, name: &str) -> Option<&PluginEntry> {
        self.plugins.iter().find(|p| p.name == name)
    }
}

/// Writes `v` as the trace writes values: whole numbers without a
/// fraction, everything else as the shortest decimal that reads back as the
/// same `f64` (exponent notation for very large or small magnitudes).
pub fn write_value(out: &mut String, v: f64) {
    use std::fmt::Write;
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
        if v == 0.0 && v.is_sign_negative() {
            // -0.0 as an integer would lose its sign; keep the bits.
            out.truncate(out.len() - 1);
            out.push_str("-0.0");
        }
    } else {
        let _ = write!(out, "{v:?}");
    }
}

#[cfg(test)]
mod tests;
