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
use crate::bus::SetErrors;
use crate::catalog::SignalId;
use crate::reply::Reply;
use crate::sim::{Event, TickHook, Vehicle};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

pub use super::rule::{CaptureRule, DEFAULT_AFTER_S, DEFAULT_BEFORE_S, RuleSpec, Trigger};

/// A finished capture, as a [`CaptureSink`] gets it.
#[derive(Debug, Clone, Copy)]
pub struct Captured<'a> {
    /// The rule's text.
    pub rule: &'a str,
    /// The vehicle's tick at the trigger.
    pub trigger_tick: u64,
    /// Simulated seconds at the trigger.
    pub trigger_t: f64,
    /// The whole trace file.
    pub text: &'a str,
}

/// Where captures go besides their directory (the MQTT link). Called on the
/// capture's writer thread, never on the tick thread, so it may take its
/// time; it must not panic.
pub trait CaptureSink: Send + Sync + std::fmt::Debug {
    /// Hands a finished capture on.
    fn publish(&self, capture: &Captured<'_>);
}

/// A request to replace the rules of a running [`Capturer`] (a remote
/// `capture_rules` command). Applied between two ticks; the reply gets
/// `Ok` or the reason for each refused rule, keyed `capture_rules[i]`.
pub struct RulesRequest {
    /// The new rules, in order (empty: no captures).
    pub rules: Vec<RuleSpec>,
    /// Receives the outcome, on the tick thread.
    pub reply: Option<Reply<Result<(), SetErrors>>>,
}

impl std::fmt::Debug for RulesRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulesRequest")
            .field("rules", &self.rules)
            .finish()
    }
}

/// A capture collecting its "after" rows.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pending {
    /// Rows still to collect.
    left: usize,
    /// The trigger's tick.
    tick: u64,
    /// The trigger's simulated time.
    t: f64,
}

/// One rule's state.
#[derive(Debug)]
struct Armed {
    rule: CaptureRule,
    signal: Option<SignalId>,
    was_true: bool,
    before_rows: usize,
    after_rows: usize,
    pending: Option<Pending>,
}

/// Keeps a ring buffer of full-rate rows and writes captures into a
/// directory (add it to the run's hooks). With a [`CaptureSink`] each
/// capture is also handed to it; with a rules channel
/// ([`Capturer::with_remote`]) its rules can be replaced while it runs.
#[derive(Debug)]
pub struct Capturer {
    dir: PathBuf,
    header: Header,
    columns: Vec<SignalId>,
    ring: VecDeque<Vec<u64>>,
    /// Rows the ring keeps: the longest window of a rule, 0 without rules
    /// (then no row is copied at all).
    keep: usize,
    hz: f64,
    rules: Vec<Armed>,
    sink: Option<Arc<dyn CaptureSink>>,
    remote: Option<mpsc::Receiver<RulesRequest>>,
    writers: Vec<JoinHandle<Result<PathBuf, RecordError>>>,
    written: Vec<Result<PathBuf, RecordError>>,
}

impl Capturer {
    /// Captures of `rules` on `vehicle` into `dir` (created now if there
    /// are rules, so a bad directory is an error at start; else when a
    /// capture is first written).
    pub fn new(
        dir: &Path,
        rules: Vec<CaptureRule>,
        vehicle: &Vehicle,
        vin: &str,
        seed: u64,
    ) -> Result<Self, RecordError> {
        if !rules.is_empty() {
            std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        }
        let mut c = Self {
            dir: dir.to_owned(),
            header: super::Recorder::header_of(vehicle, vin, seed),
            columns: column_ids(vehicle),
            ring: VecDeque::new(),
            keep: 0,
            hz: 1.0 / vehicle.dt(),
            rules: Vec::new(),
            sink: None,
            remote: None,
            writers: Vec::new(),
            written: Vec::new(),
        };
        c.set_rules(rules, vehicle);
        Ok(c)
    }

    /// Also hands every capture to `sink` (on the capture's writer thread).
    pub fn with_sink(mut self, sink: Arc<dyn CaptureSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Takes rule changes from `requests` between two ticks.
    pub fn with_remote(mut self, requests: mpsc::Receiver<RulesRequest>) -> Self {
        self.remote = Some(requests);
        self
    }

    /// The rules in force, in order.
    pub fn rules(&self) -> Vec<CaptureRule> {
        self.rules.iter().map(|a| a.rule.clone()).collect()
    }

    /// Rows the ring buffer keeps (the longest window of a rule).
    pub fn ring_rows(&self) -> usize {
        self.keep
    }

    /// Replaces the rules. A rule that stays as it was (same text and
    /// window) keeps its state, so a capture it is collecting goes on; the
    /// state of the others is dropped. The ring is resized to the longest
    /// window (its oldest rows go when it shrinks).
    pub fn set_rules(&mut self, rules: Vec<CaptureRule>, vehicle: &Vehicle) {
        let hz = self.hz;
        let rows = |s: f64| (s * hz).round() as usize;
        let bus = vehicle.bus();
        let old = std::mem::take(&mut self.rules);
        self.rules = rules
            .into_iter()
            .map(|rule| {
                let kept = old.iter().find(|a| a.rule == rule);
                Armed {
                    signal: match &rule.trigger {
                        Trigger::Signal { path, .. } => bus.id(path).ok(),
                        Trigger::Event(_) => None,
                    },
                    was_true: kept.is_some_and(|a| a.was_true),
                    pending: kept.and_then(|a| a.pending),
                    before_rows: rows(rule.before_s),
                    after_rows: rows(rule.after_s),
                    rule,
                }
            })
            .collect();
        self.keep = self
            .rules
            .iter()
            .map(|a| a.before_rows + a.after_rows + 1)
            .max()
            .unwrap_or(0);
        while self.ring.len() > self.keep {
            self.ring.pop_front();
        }
        self.ring.shrink_to(self.keep + 1);
    }

    /// Applies a remote rules request: every rule is parsed against the
    /// vehicle's catalog first, and only if all pass do the rules change
    /// (and a `capture.rules` event lists them).
    fn apply(&mut self, vehicle: &mut Vehicle, request: RulesRequest) {
        let catalog = vehicle.bus().catalog().clone();
        let mut errors = SetErrors::new();
        let mut rules = Vec::with_capacity(request.rules.len());
        for (i, s) in request.rules.iter().enumerate() {
            match CaptureRule::parse(&s.rule, s.before_s, s.after_s, &catalog) {
                Ok(r) => rules.push(r),
                Err(e) => {
                    errors.insert(format!("capture_rules[{i}]"), e);
                }
            }
        }
        let outcome = if errors.is_empty() {
            self.set_rules(rules, vehicle);
            let (detail, fields) = self.rules_event();
            tracing::info!("{detail}");
            vehicle.raise_with("capture.rules", detail, fields);
            Ok(())
        } else {
            tracing::info!(?errors, "capture rules refused");
            Err(errors)
        };
        if let Some(reply) = request.reply {
            reply(outcome);
        }
    }

    /// The `capture.rules` event: a readable list, and the rules as the JSON
    /// array a `capture_rules` request takes (field `rules`).
    fn rules_event(&self) -> (String, BTreeMap<String, String>) {
        let listed: Vec<String> = self
            .rules
            .iter()
            .map(|a| {
                format!(
                    "`{}` ({} s before, {} s after)",
                    a.rule.text, a.rule.before_s, a.rule.after_s
                )
            })
            .collect();
        let detail = if listed.is_empty() {
            "capture rules: none".to_owned()
        } else {
            format!("capture rules: {}", listed.join(", "))
        };
        let json: Vec<serde_json::Value> = self
            .rules
            .iter()
            .map(|a| {
                serde_json::json!({
                    "rule": a.rule.text, "before": a.rule.before_s, "after": a.rule.after_s
                })
            })
            .collect();
        let fields = BTreeMap::from([
            ("count".to_owned(), self.rules.len().to_string()),
            (
                "rules".to_owned(),
                serde_json::Value::Array(json).to_string(),
            ),
        ]);
        (detail, fields)
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

    fn write(&mut self, i: usize, trigger: Pending) {
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
        let a = &self.rules[i];
        let rows = (a.before_rows + a.after_rows + 1).min(self.ring.len());
        let start = self.ring.len() - rows;
        let flat: Vec<u64> = self.ring.range(start..).flatten().copied().collect();
        let rule = a.rule.text.clone();
        let name = crate::fsutil::sanitize_file_name(&rule).unwrap_or_else(|_| format!("rule{i}"));
        let path = self
            .dir
            .join(format!("capture-{:010}-{name}.trace", trigger.tick));
        let header = self.header.clone();
        let width = self.columns.len() + 1;
        let sink = self.sink.clone();
        let dir = self.dir.clone();
        self.writers.push(std::thread::spawn(move || {
            let mut text = header.render().into_bytes();
            let mut last = vec![0; width - 1];
            for row in flat.chunks_exact(width) {
                encode_row(&mut text, row, &mut last);
            }
            let written = std::fs::create_dir_all(&dir)
                .map_err(io("creating", &dir))
                .and_then(|()| {
                    crate::fsutil::write_atomic(&path, &text).map_err(io("writing", &path))
                });
            // The file failing to be written does not keep the capture
            // from leaving the vehicle.
            if let Some(sink) = sink {
                match std::str::from_utf8(&text) {
                    Ok(text) => sink.publish(&Captured {
                        rule: &rule,
                        trigger_tick: trigger.tick,
                        trigger_t: trigger.t,
                        text,
                    }),
                    Err(e) => tracing::error!("capture {}: not text: {e}", path.display()),
                }
            }
            written.map(|()| path)
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
    fn before_tick(&mut self, vehicle: &mut Vehicle) {
        let Some(remote) = &self.remote else {
            return;
        };
        // Empty most ticks: collecting nothing allocates nothing.
        let requests: Vec<RulesRequest> = remote.try_iter().collect();
        for r in requests {
            self.apply(vehicle, r);
        }
    }

    fn after_tick(&mut self, vehicle: &Vehicle, events: &[Event]) {
        if self.keep == 0 {
            return;
        }
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
                Some(p) if p.left == 0 => {
                    a.pending = None;
                    self.write(i, p);
                }
                Some(p) => {
                    a.pending = Some(Pending {
                        left: p.left - 1,
                        ..p
                    })
                }
                None if fired => {
                    let p = Pending {
                        left: a.after_rows.saturating_sub(1),
                        tick: vehicle.ticks(),
                        t: vehicle.time(),
                    };
                    if a.after_rows == 0 {
                        self.write(i, p);
                    } else {
                        a.pending = Some(p);
                    }
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
#[path = "capture_tests.rs"]
mod tests;
