//! The CSV trace of a run: `time,signal,value`, one row per signal per
//! sample, for replaying and diffing runs.
//!
//! A sample is taken at t = 0 (the initial state) and then every
//! `[trace] interval_ms` of simulated time (default 100 ms, rounded to whole
//! ticks). By default a row is written only when the signal's value differs
//! from the previous sample (the first sample writes every traced signal);
//! `all = true` writes every traced signal at every sample. Traced signals
//! are `[trace] signals`, or every signal that has been written at least
//! once, in catalog order. Time is printed with three decimals (ms), values
//! as their type prints them (`true`/`false`, integers, the shortest decimal
//! that reads back as the same `f64`), so the same scenario and seed give a
//! byte-identical file.

use super::parse::TraceSettings;
use std::fmt::Write;
use tcu_engine::bus::Bus;
use tcu_engine::catalog::SignalId;

/// The CSV header line.
pub const HEADER: &str = "time,signal,value\n";

/// Records a trace while a scenario runs.
#[derive(Debug, Clone)]
pub struct TraceRecorder {
    every_ticks: u64,
    all: bool,
    signals: Option<Vec<SignalId>>,
    last: Vec<Option<u64>>,
    out: String,
}

impl TraceRecorder {
    /// A recorder for a vehicle stepping `dt` seconds per tick.
    pub fn new(settings: &TraceSettings, dt: f64, bus: &Bus) -> Self {
        Self {
            every_ticks: ((settings.interval / dt).round() as u64).max(1),
            all: settings.all,
            signals: settings.signals.clone(),
            last: vec![None; bus.catalog().len()],
            out: HEADER.to_owned(),
        }
    }

    /// Called after every tick (and once before the first, with tick 0).
    pub fn after_tick(&mut self, ticks: u64, t: f64, bus: &Bus) {
        if !ticks.is_multiple_of(self.every_ticks) {
            return;
        }
        match self.signals.take() {
            Some(ids) => {
                for &id in &ids {
                    self.row(t, id, bus);
                }
                self.signals = Some(ids);
            }
            None => {
                for i in 0..bus.catalog().len() {
                    let id = SignalId(u32::try_from(i).unwrap_or(u32::MAX));
                    if bus.is_written(id) {
                        self.row(t, id, bus);
                    }
                }
            }
        }
    }

    fn row(&mut self, t: f64, id: SignalId, bus: &Bus) {
        let bits = bus.get(id).to_bits();
        let slot = &mut self.last[id.index()];
        if !self.all && *slot == Some(bits) {
            return;
        }
        *slot = Some(bits);
        let _ = writeln!(self.out, "{t:.3},{},{}", bus.meta(id).path, bus.value(id));
    }

    /// The CSV text.
    pub fn finish(self) -> String {
        self.out
    }
}
