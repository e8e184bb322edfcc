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
//! row per tick whose cells give each value's bits XOR the row above's
//! ([`encode_xor`]; the first row of a file XORs zero), so an unchanged
//! value is an empty cell.

pub mod capture;
mod reader;
mod rule;
mod writer;

pub use capture::{
    CaptureRule, CaptureSink, Captured, Capturer, DEFAULT_AFTER_S, DEFAULT_BEFORE_S, RuleSpec,
    RulesRequest, Trigger,
};
pub use reader::{TraceReader, trace_files};
pub use writer::{BATCH_ROWS, RecordSettings, Recorder};

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

/// The 64 digits of a cell, lowest value first (URL-safe base64, so no
/// comma and nothing a shell or CSV tool would mangle).
const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Appends the cell for a value whose bits XOR the column's previous bits
/// give `x`: its base-64 digits, most significant first, leading zeros left
/// out (so `x == 0`, an unchanged value, is the empty cell).
///
/// Why XOR: a physical value moving a little from one tick to the next
/// keeps its sign, exponent and top mantissa bits, so the XOR has many
/// leading zeros; six to eight digits replace the seventeen a decimal needs
/// for the same exact value, and neither side formats or parses a float.
#[inline]
pub fn encode_xor(out: &mut Vec<u8>, x: u64) {
    if x == 0 {
        return;
    }
    let digits = (64 - x.leading_zeros() as usize).div_ceil(6);
    // Room for the longest cell appended at once (a copy of fixed length,
    // no call), the digits written in place from the last, the rest cut:
    // a copy of the cell's own length would be a `memmove` call a cell.
    let len = out.len();
    out.extend_from_slice(&[0; 11]);
    let mut rest = x;
    for d in out[len..len + digits].iter_mut().rev() {
        *d = DIGITS[(rest & 63) as usize];
        rest >>= 6;
    }
    out.truncate(len + digits);
}

/// The XOR a cell stands for; `None` when it is not one (a character
/// outside the digits, or more than 64 bits).
#[inline]
pub fn decode_xor(cell: &[u8]) -> Option<u64> {
    if cell.len() > 11 {
        return None;
    }
    let mut x: u64 = 0;
    for &c in cell {
        let d = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        if x >> 58 != 0 {
            return None;
        }
        x = (x << 6) | u64::from(d);
    }
    Some(x)
}

#[cfg(test)]
mod tests;
