//! `replay = "file"`: a recorded drive as the world of a scenario. Before
//! every tick the next row of the trace is written to the bus for every
//! recorded signal no plugin of the scenario writes (the world's sensors,
//! the driver's and the control path's actuators), and the world model is
//! not stepped; the plugins run live on those inputs. After the tick every
//! recorded output of a plugin is compared with its recorded value, which
//! gives the case "replay reproduces the recording": the same libraries
//! must give the same outputs. Steps run after the row is written, so a
//! step's `set` of a recorded signal holds for that tick; plugin commands
//! (faults, `set_soc`) work as in any scenario. The run ends with the trace.

use super::parse::ReplaySettings;
use super::source::ScenarioError;
use std::path::Path;
use tcu_engine::bus::Writer;
use tcu_engine::catalog::SignalId;
use tcu_engine::record::TraceReader;
use tcu_engine::sim::Vehicle;

/// The largest deviation of a plugin output from the recording so far.
#[derive(Debug, Clone, PartialEq)]
struct Worst {
    signal: String,
    t: f64,
    recorded: f64,
    replayed: f64,
}

/// Feeds a trace into a vehicle and checks its plugins' outputs.
#[derive(Debug)]
pub struct ReplayFeed {
    reader: TraceReader,
    settings: ReplaySettings,
    /// (column, signal) written into the bus before each tick.
    feed: Vec<(usize, SignalId)>,
    /// (column, signal) of plugin outputs compared after each tick.
    check: Vec<(usize, SignalId)>,
    rows: u64,
    compared: u64,
    beyond: u64,
    worst: Option<Worst>,
    worst_diff: f64,
    ended: bool,
}

impl ReplayFeed {
    /// Opens the trace for `vehicle` (built with the scenario's plugins)
    /// and hands the world to it.
    pub fn new(
        settings: &ReplaySettings,
        vehicle: &mut Vehicle,
        file: &Path,
    ) -> Result<Self, ScenarioError> {
        let fail = |m: String| ScenarioError::at(file, settings.pos, format!("replay: {m}"));
        let mut reader = TraceReader::open(&settings.path).map_err(|e| fail(e.to_string()))?;
        let bus = vehicle.bus();
        let (mut feed, mut check) = (Vec::new(), Vec::new());
        for (col, path) in reader.header().columns.iter().enumerate() {
            let id = bus
                .id(path)
                .map_err(|e| fail(format!("{}: {e}", settings.path.display())))?;
            match bus.owner(id) {
                Some(Writer::Plugin(_)) => check.push((col, id)),
                _ => feed.push((col, id)),
            }
        }
        reader.select(|_| true);
        vehicle.set_external_world(true);
        Ok(Self {
            reader,
            settings: settings.clone(),
            feed,
            check,
            rows: 0,
            compared: 0,
            beyond: 0,
            worst: None,
            worst_diff: 0.0,
            ended: false,
        })
    }

    /// Writes the next row's inputs; false once the trace has ended.
    pub fn before_tick(&mut self, vehicle: &mut Vehicle) -> Result<bool, ScenarioError> {
        if self.ended {
            return Ok(false);
        }
        let fail = |m: String| ScenarioError::at(&self.settings.path, Default::default(), m);
        let row = self.reader.next_row().map_err(|e| fail(e.to_string()))?;
        if row.is_none() {
            self.ended = true;
            return Ok(false);
        }
        self.rows += 1;
        let values = self.reader.values();
        let bus = vehicle.bus_mut();
        for (col, id) in &self.feed {
            bus.write(*id, values[*col]).map_err(|e| {
                fail(format!(
                    "line {}: `{}`: {e}",
                    self.reader.line(),
                    bus.meta(*id).path
                ))
            })?;
        }
        Ok(true)
    }

    /// Compares the plugins' outputs of the tick with the row's.
    pub fn after_tick(&mut self, vehicle: &Vehicle) {
        if self.ended || self.rows == 0 {
            return;
        }
        let values = self.reader.values();
        let bus = vehicle.bus();
        let tol = self.settings.tolerance;
        for (col, id) in &self.check {
            let (recorded, replayed) = (values[*col], bus.get(*id));
            self.compared += 1;
            let d = (recorded - replayed).abs();
            if d <= tol || d <= tol * recorded.abs().max(replayed.abs()) {
                continue;
            }
            self.beyond += 1;
            let d = if d.is_nan() { f64::INFINITY } else { d };
            if self.worst.is_none() || d > self.worst_diff {
                self.worst_diff = d;
                self.worst = Some(Worst {
                    signal: bus.meta(*id).path.clone(),
                    t: vehicle.time(),
                    recorded,
                    replayed,
                });
            }
        }
    }

    /// The case's name.
    pub fn case_name(&self) -> String {
        format!(
            "replay reproduces the recorded outputs of {}",
            self.settings.path.display()
        )
    }

    /// Why the replay did not reproduce the recording, if it did not.
    pub fn verdict(&self) -> Result<(), String> {
        if self.rows == 0 {
            return Err("the trace has no rows".into());
        }
        match &self.worst {
            None => Ok(()),
            Some(w) => Err(format!(
                "{} of {} compared outputs beyond tolerance {}; worst `{}` at t={:.3} s: recorded {}, replayed {}",
                self.beyond,
                self.compared,
                self.settings.tolerance,
                w.signal,
                w.t,
                w.recorded,
                w.replayed
            )),
        }
    }
}
