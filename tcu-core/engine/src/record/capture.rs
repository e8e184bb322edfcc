//! Condition-based captures: a rule (an event kind such as `abs.engaged`,
//! or a signal predicate such as `Vehicle.Speed > 130`) keeps the seconds
//! before its trigger from a ring buffer of full-rate rows and the seconds
//! after it, and writes them as a trace file of their own (the format of
//! `docs/RECORDING.md`, so `tcu vet` and `replay` take a capture as they
//! take any recording).
//!
//! A predicate triggers on its rising edge (false, then true), an event on
//! every occurrence; a trigger while a capture of the same rule is still
//! collecting its "after" rows is part of that capture. The file is written
//! on a thread of its own, so the tick never waits for it; the tick only
//! copies each row's bits into the ring.

use super::writer::{column_ids, encode_row, io};
use super::{Header, RecordError};
use crate::catalog::{Catalog, SignalId};
use crate::sim::{Event, TickHook, Vehicle};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// What starts a capture.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// An event of this kind.
    Event(String),
    /// A signal compared with a value.
    Signal {
        /// Signal path.
        path: String,
        /// `>`, `>=`, `<`, `<=`, `==` or `!=`.
        op: String,
        /// The value compared with.
        value: f64,
    },
}

/// A capture rule: its trigger and the window around it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureRule {
    /// The text it was parsed from (names its files).
    pub text: String,
    /// What starts it.
    pub trigger: Trigger,
    /// Seconds kept before the trigger.
    pub before_s: f64,
    /// Seconds kept after it.
    pub after_s: f64,
}

impl CaptureRule {
    /// Parses `abs.engaged` (an event kind) or `Vehicle.Speed > 130` (a
    /// catalog signal, an operator, a number); signals are checked against
    /// `catalog`.
    pub fn parse(
        text: &str,
        before_s: f64,
        after_s: f64,
        catalog: &Catalog,
    ) -> Result<Self, String> {
        for (name, v) in [("before", before_s), ("after", after_s)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!(
                    "capture `{text}`: {name} = {v} is not a number of seconds of at least 0"
                ));
            }
        }
        let parts: Vec<&str> = text.split_whitespace().collect();
        let trigger = match parts.as_slice() {
            [kind] if !kind.is_empty() => Trigger::Event((*kind).to_owned()),
            [path, op, value] => {
                if !matches!(*op, ">" | ">=" | "<" | "<=" | "==" | "!=") {
                    return Err(format!(
                        "capture `{text}`: `{op}` is not one of > >= < <= == !="
                    ));
                }
                if catalog.id(path).is_none() {
                    return Err(format!(
                        "capture `{text}`: `{path}` is not a signal of the catalog"
                    ));
                }
                let value = match *value {
                    "true" => 1.0,
                    "false" => 0.0,
                    v => v
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| format!("capture `{text}`: `{v}` is not a number"))?,
                };
                Trigger::Signal {
                    path: (*path).to_owned(),
                    op: (*op).to_owned(),
                    value,
                }
            }
            _ => {
                return Err(format!(
                    "capture `{text}`: expected an event kind (`abs.engaged`) or `SIGNAL OP VALUE` (`Vehicle.Speed > 130`)"
                ));
            }
        };
        Ok(Self {
            text: text.to_owned(),
            trigger,
            before_s,
            after_s,
        })
    }
}

/// One rule's state.
#[derive(Debug)]
struct Armed {
    rule: CaptureRule,
    signal: Option<SignalId>,
    was_true: bool,
    /// Rows still to collect after a trigger, and the trigger's tick.
    pending: Option<(usize, u64)>,
}

/// Keeps a ring buffer of full-rate rows and writes captures into a
/// directory (add it to the run's hooks).
#[derive(Debug)]
pub struct Capturer {
    dir: PathBuf,
    header: Header,
    columns: Vec<SignalId>,
    ring: VecDeque<Vec<u64>>,
    keep: usize,
    before_rows: Vec<usize>,
    after_rows: Vec<usize>,
    rules: Vec<Armed>,
    writers: Vec<JoinHandle<Result<PathBuf, RecordError>>>,
    written: Vec<Result<PathBuf, RecordError>>,
}

impl Capturer {
    /// Captures of `rules` on `vehicle` into `dir` (created if missing).
    pub fn new(
        dir: &Path,
        rules: Vec<CaptureRule>,
        vehicle: &Vehicle,
        vin: &str,
        seed: u64,
    ) -> Result<Self, RecordError> {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        let hz = 1.0 / vehicle.dt();
        let rows = |s: f64| (s * hz).round() as usize;
        let before_rows: Vec<usize> = rules.iter().map(|r| rows(r.before_s)).collect();
        let after_rows: Vec<usize> = rules.iter().map(|r| rows(r.after_s)).collect();
        let keep = before_rows
            .iter()
            .zip(&after_rows)
            .map(|(b, a)| b + a + 1)
            .max()
            .unwrap_or(1);
        let bus = vehicle.bus();
        let armed = rules
            .into_iter()
            .map(|rule| Armed {
                signal: match &rule.trigger {
                    Trigger::Signal { path, .. } => bus.id(path).ok(),
                    Trigger::Event(_) => None,
                },
                rule,
                was_true: false,
                pending: None,
            })
            .collect();
        Ok(Self {
            dir: dir.to_owned(),
            header: super::Recorder::header_of(vehicle, vin, seed),
            columns: column_ids(vehicle),
            ring: VecDeque::with_capacity(keep + 1),
            keep,
            before_rows,
            after_rows,
            rules: armed,
            writers: Vec::new(),
            written: Vec::new(),
        })
    }

    fn triggered(a: &mut Armed, vehicle: &Vehicle, events: &[Event]) -> bool {
        match &a.rule.trigger {
            Trigger::Event(kind) => events.iter().any(|e| &e.kind == kind),
            Trigger::Signal { op, value, .. } => {
                let v = a.signal.map_or(f64::NAN, |id| vehicle.bus().get(id));
                let now = match op.as_str() {
                    ">" => v > *value,
                    ">=" => v >= *value,
                    "<" => v < *value,
                    "<=" => v <= *value,
                    "==" => v == *value,
                    _ => v != *value,
                };
                let rising = now && !a.was_true;
                a.was_true = now;
                rising
            }
        }
    }

    fn write(&mut self, i: usize, trigger_tick: u64) {
        // Collect the writers that are done, so a long run keeps no handles.
        let (done, running): (Vec<_>, Vec<_>) =
            self.writers.drain(..).partition(JoinHandle::is_finished);
        self.writers = running;
        for w in done {
            if let Ok(result) = w.join() {
                if let Err(e) = &result {
                    tracing::error!("capture: {e}");
                }
                self.written.push(result);
            }
        }
        let rows = (self.before_rows[i] + self.after_rows[i] + 1).min(self.ring.len());
        let start = self.ring.len() - rows;
        let flat: Vec<u64> = self.ring.range(start..).flatten().copied().collect();
        let name = crate::fsutil::sanitize_file_name(&self.rules[i].rule.text)
            .unwrap_or_else(|_| format!("rule{i}"));
        let path = self
            .dir
            .join(format!("capture-{trigger_tick:010}-{name}.trace"));
        let header = self.header.clone();
        let width = self.columns.len() + 1;
        self.writers.push(std::thread::spawn(move || {
            let mut text = header.render().into_bytes();
            let mut last = vec![0; width - 1];
            for row in flat.chunks_exact(width) {
                encode_row(&mut text, row, &mut last);
            }
            crate::fsutil::write_atomic(&path, &text).map_err(io("writing", &path))?;
            Ok(path)
        }));
    }

    /// Waits for the captures still being written; the files written (or
    /// why not), in trigger order.
    pub fn finish(mut self) -> Vec<Result<PathBuf, RecordError>> {
        self.join();
        std::mem::take(&mut self.written)
    }

    fn join(&mut self) {
        for w in self.writers.drain(..) {
            self.written.push(w.join().unwrap_or_else(|_| {
                Err(RecordError::Format {
                    path: self.dir.clone(),
                    line: 0,
                    message: "the capture writer panicked".into(),
                })
            }));
        }
    }
}

impl Drop for Capturer {
    /// Waits for captures still being written (a run that ends right after
    /// a trigger still gets its file).
    fn drop(&mut self) {
        self.join();
        for w in &self.written {
            if let Err(e) = w {
                tracing::error!("capture: {e}");
            }
        }
    }
}

impl TickHook for Capturer {
    fn after_tick(&mut self, vehicle: &Vehicle, events: &[Event]) {
        let bus = vehicle.bus();
        let mut row = if self.ring.len() >= self.keep {
            self.ring.pop_front().unwrap_or_default()
        } else {
            Vec::with_capacity(self.columns.len() + 1)
        };
        row.clear();
        row.push(vehicle.ticks());
        row.extend(self.columns.iter().map(|id| bus.get(*id).to_bits()));
        self.ring.push_back(row);
        for i in 0..self.rules.len() {
            let fired = Self::triggered(&mut self.rules[i], vehicle, events);
            let a = &mut self.rules[i];
            match a.pending {
                Some((0, t)) => {
                    a.pending = None;
                    self.write(i, t);
                }
                Some((n, t)) => a.pending = Some((n - 1, t)),
                None if fired => {
                    let after = self.after_rows[i];
                    if after == 0 {
                        self.write(i, vehicle.ticks());
                    } else {
                        a.pending = Some((after - 1, vehicle.ticks()));
                    }
                }
                None => {}
            }
        }
    }
}
