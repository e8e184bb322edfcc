//! What a vetting found: per trace, per output signal and per version; the
//! verdicts, and the report as a terminal table (worst first), JSON and
//! JUnit XML. Everything is in a fixed order (traces as given, signals
//! worst first then by name, findings by version, kind and signal), so the
//! same inputs give byte-identical reports.

use crate::tolerance::Tolerance;
use crate::{Pair, VetError};
use serde::Serialize;
use std::fmt::Write;
use std::path::Path;

/// How one output signal of the two versions compared over a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalDiff {
    /// Signal path.
    pub signal: String,
    /// Largest |current - candidate|.
    pub max_abs: f64,
    /// Largest |current - candidate| / max(|current|, |candidate|).
    pub max_rel: f64,
    /// Trace time of the first tick beyond tolerance, s.
    pub first_divergence_s: Option<f64>,
    /// Ticks beyond tolerance.
    pub divergent_ticks: u64,
    /// The tolerance applied.
    pub tolerance: Tolerance,
    /// No tick beyond tolerance.
    pub within: bool,
}

impl SignalDiff {
    pub(crate) fn new(tolerance: Tolerance, signal: String) -> Self {
        Self {
            signal,
            max_abs: 0.0,
            max_rel: 0.0,
            first_divergence_s: None,
            divergent_ticks: 0,
            tolerance,
            within: true,
        }
    }

    /// Counts one tick where the outputs `a` and `b` differ.
    #[inline]
    pub(crate) fn add(&mut self, a: f64, b: f64, t: f64, admitted: bool) {
        let d = (a - b).abs();
        let d = if d.is_nan() { f64::INFINITY } else { d };
        let scale = a.abs().max(b.abs());
        let rel = if scale > 0.0 {
            d / scale
        } else {
            f64::INFINITY
        };
        self.max_abs = self.max_abs.max(d);
        self.max_rel = self.max_rel.max(rel.min(f64::MAX));
        if !admitted {
            self.divergent_ticks += 1;
            self.within = false;
            self.first_divergence_s.get_or_insert(t);
        }
    }

    /// How far past its tolerance the largest difference went (for
    /// ordering worst first).
    fn severity(&self) -> f64 {
        if self.tolerance.abs > 0.0 {
            self.max_abs / self.tolerance.abs
        } else if self.max_abs > 0.0 {
            f64::MAX
        } else {
            0.0
        }
    }
}

/// Something one version did wrong on a trace: an output outside the
/// catalog's range (`out_of_range`), NaN or infinity (`nan`), an error
/// status (`error`), a panic (`panic`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// `current` or `candidate`.
    pub version: &'static str,
    /// `nan`, `out_of_range`, `error` or `panic`.
    pub kind: String,
    /// The output concerned, if one.
    pub signal: Option<String>,
    /// Ticks it happened on.
    pub ticks: u64,
    /// Trace time of the first, s.
    pub first_s: f64,
    /// The first message.
    pub message: String,
}

/// Mean wall time of one tick of each version, ns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SideCost {
    /// The current version.
    pub current_ns: f64,
    /// The candidate.
    pub candidate_ns: f64,
}

/// One trace's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceReport {
    /// The trace file.
    pub file: String,
    /// Ticks replayed.
    pub ticks: u64,
    /// Trace time of the first tick, s.
    pub start_s: f64,
    /// Simulated time replayed, s.
    pub simulated_s: f64,
    /// Within tolerance on every signal, and no finding of the candidate.
    pub passed: bool,
    /// Compared outputs, worst first.
    pub signals: Vec<SignalDiff>,
    /// What either version did wrong.
    pub findings: Vec<Finding>,
    /// Tick cost of each version.
    pub tick_cost: SideCost,
}

impl TraceReport {
    pub(crate) fn new(
        file: &Path,
        ticks: u64,
        start_s: f64,
        simulated_s: f64,
        mut signals: Vec<SignalDiff>,
        findings: Vec<Finding>,
        tick_cost: SideCost,
    ) -> Self {
        signals.sort_by(|a, b| {
            a.within
                .cmp(&b.within)
                .then(b.severity().total_cmp(&a.severity()))
                .then(b.max_rel.total_cmp(&a.max_rel))
                .then(a.signal.cmp(&b.signal))
        });
        let passed =
            signals.iter().all(|s| s.within) && !findings.iter().any(|f| f.version == "candidate");
        Self {
            file: file.display().to_string(),
            ticks,
            start_s,
            simulated_s,
            passed,
            signals,
            findings,
            tick_cost,
        }
    }

    /// Why it failed, one line per reason (empty when it passed).
    pub fn reasons(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .findings
            .iter()
            .filter(|f| f.version == "candidate")
            .map(|f| {
                format!(
                    "{} at {:.3} s ({} ticks): {}",
                    f.kind, f.first_s, f.ticks, f.message
                )
            })
            .collect();
        for s in self.signals.iter().filter(|s| !s.within) {
            out.push(format!(
                "`{}` diverges from {:.3} s: max abs {}, max rel {} (tolerance abs {}, rel {})",
                s.signal,
                s.first_divergence_s.unwrap_or_default(),
                s.max_abs,
                s.max_rel,
                s.tolerance.abs,
                s.tolerance.rel
            ));
        }
        out
    }
}

/// A library under vetting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Version {
    /// File.
    pub path: String,
    /// Semantic version it declares.
    pub version: String,
}

/// The whole vetting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Subsystem.
    pub subsystem: String,
    /// The version running now.
    pub current: Version,
    /// The candidate.
    pub candidate: Version,
    /// Every trace passed and the interfaces match.
    pub passed: bool,
    /// Differences between what the two versions declare (a signal written
    /// by one only); any one fails the vetting.
    pub interface: Vec<String>,
    /// Per trace, in the order given.
    pub traces: Vec<TraceReport>,
}

impl Report {
    pub(crate) fn new(pair: &Pair, traces: Vec<TraceReport>) -> Self {
        let version = |lib: &tcu_engine::plugin::PluginLibrary| Version {
            path: lib.path().display().to_string(),
            version: lib.info().version.clone(),
        };
        let interface = interface_differences(pair);
        let passed = interface.is_empty() && traces.iter().all(|t| t.passed);
        Self {
            subsystem: pair.current.name().to_owned(),
            current: version(&pair.current),
            candidate: version(&pair.candidate),
            passed,
            interface,
            traces,
        }
    }

    /// Process exit code: 0 passed, 1 not.
    pub fn exit_code(&self) -> i32 {
        if self.passed { 0 } else { 1 }
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// The report as a terminal table, worst first.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "vet {}: current {} ({}) vs candidate {} ({}): {}",
            self.subsystem,
            self.current.version,
            self.current.path,
            self.candidate.version,
            self.candidate.path,
            if self.passed { "PASSED" } else { "FAILED" }
        );
        for i in &self.interface {
            let _ = writeln!(s, "interface: {i}");
        }
        let mut rows: Vec<(&TraceReport, &SignalDiff)> = self
            .traces
            .iter()
            .flat_map(|t| t.signals.iter().map(move |d| (t, d)))
            .collect();
        rows.sort_by(|(ta, a), (tb, b)| {
            a.within
                .cmp(&b.within)
                .then(b.severity().total_cmp(&a.severity()))
                .then(ta.file.cmp(&tb.file))
                .then(a.signal.cmp(&b.signal))
        });
        let fw = rows
            .iter()
            .map(|(t, _)| short(&t.file).len())
            .max()
            .unwrap_or(5)
            .max(5);
        let sw = rows
            .iter()
            .map(|(_, d)| d.signal.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(
            s,
            "{:<fw$}  {:<sw$}  {:>12}  {:>12}  {:>16}  verdict",
            "trace", "signal", "max abs", "max rel", "first diverges"
        );
        for (t, d) in rows {
            let first = d
                .first_divergence_s
                .map_or_else(|| "-".to_owned(), |f| format!("{f:.3} s"));
            let _ = writeln!(
                s,
                "{:<fw$}  {:<sw$}  {:>12.6e}  {:>12.6e}  {:>16}  {}",
                short(&t.file),
                d.signal,
                d.max_abs,
                d.max_rel,
                first,
                if d.within { "ok" } else { "FAIL" }
            );
        }
        for t in &self.traces {
            for f in &t.findings {
                let _ = writeln!(
                    s,
                    "{}: {} {}{} on {} ticks from {:.3} s: {}",
                    short(&t.file),
                    f.version,
                    f.kind,
                    f.signal
                        .as_ref()
                        .map(|x| format!(" `{x}`"))
                        .unwrap_or_default(),
                    f.ticks,
                    f.first_s,
                    f.message
                );
            }
            let ratio = if t.tick_cost.current_ns > 0.0 {
                format!(
                    " ({:.2}x)",
                    t.tick_cost.candidate_ns / t.tick_cost.current_ns
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "{}: {} ticks, {:.1} s simulated, {}; tick cost current {:.0} ns, candidate {:.0} ns{ratio}",
                short(&t.file),
                t.ticks,
                t.simulated_s,
                if t.passed { "passed" } else { "FAILED" },
                t.tick_cost.current_ns,
                t.tick_cost.candidate_ns
            );
        }
        s
    }

    /// The report as JUnit XML: one suite, one case per trace (and one for
    /// the interface).
    pub fn to_junit(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let failures = self.traces.iter().filter(|t| !t.passed).count()
            + usize::from(!self.interface.is_empty());
        let _ = writeln!(
            s,
            "<testsuite name=\"vet {} {} -> {}\" tests=\"{}\" failures=\"{failures}\">",
            xml(&self.subsystem),
            xml(&self.current.version),
            xml(&self.candidate.version),
            self.traces.len() + 1
        );
        let case = |s: &mut String, name: &str, time: f64, reasons: &[String]| {
            let _ = write!(s, "  <testcase name=\"{}\" time=\"{time:.3}\"", xml(name));
            if reasons.is_empty() {
                s.push_str("/>\n");
            } else {
                let _ = writeln!(
                    s,
                    ">\n    <failure message=\"{}\">{}</failure>\n  </testcase>",
                    xml(&reasons[0]),
                    xml(&reasons.join("\n"))
                );
            }
        };
        case(&mut s, "interface", 0.0, &self.interface);
        for t in &self.traces {
            case(&mut s, &t.file, t.simulated_s, &t.reasons());
        }
        s.push_str("</testsuite>\n");
        s
    }

    /// Writes the JUnit XML to `path`.
    pub fn write_junit(&self, path: &Path) -> Result<(), VetError> {
        std::fs::write(path, self.to_junit()).map_err(|source| VetError::Write {
            path: path.to_owned(),
            source,
        })
    }
}

/// Signals written by one version only.
fn interface_differences(pair: &Pair) -> Vec<String> {
    let cat = |lib: &tcu_engine::plugin::PluginLibrary| -> Vec<String> {
        lib.info().writes.iter().map(|w| w.path.clone()).collect()
    };
    let (cur, cand) = (cat(&pair.current), cat(&pair.candidate));
    let mut out = Vec::new();
    for w in cand.iter().filter(|w| !cur.contains(w)) {
        out.push(format!(
            "the candidate writes `{w}`, which the current version does not write"
        ));
    }
    for w in cur.iter().filter(|w| !cand.contains(w)) {
        out.push(format!(
            "the candidate does not write `{w}`, which the current version writes"
        ));
    }
    out
}

/// The file name of a trace path, for the table.
fn short(file: &str) -> &str {
    Path::new(file)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(file)
}

/// `text` escaped for XML attributes and text.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}
