//! One trace through both versions: the recorded inputs of the subsystem
//! written into each version's own bus before every tick, the outputs of
//! the two compared after it.
//!
//! Each version gets a bus of its own, so each sees its own previous
//! outputs (as it would on the vehicle) and neither sees the other's. An
//! input whose writer ran after this subsystem on the recorded vehicle (the
//! header lists plugins in execution order) was read there with the value
//! of the tick before, so it is replayed from the row before.

use crate::report::{Finding, SideCost, SignalDiff, TraceReport};
use crate::{Pair, Tolerances, VetError};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tcu_engine::bus::Bus;
use tcu_engine::catalog::{Catalog, RangeError, SignalId};
use tcu_engine::plugin::{PluginInstance, PluginLibrary, TickError};
use tcu_engine::record::TraceReader;

/// An input of either version and where it comes from in the trace.
struct Input {
    id: SignalId,
    column: usize,
    /// Written after this subsystem on the recorded vehicle: the row before.
    lagged: bool,
}

/// One version being replayed.
struct Side {
    which: &'static str,
    bus: Bus,
    instance: Option<PluginInstance>,
    cost: Duration,
    findings: BTreeMap<(String, String), Finding>,
}

impl Side {
    fn new(
        which: &'static str,
        lib: &Arc<PluginLibrary>,
        catalog: &Arc<Catalog>,
        seed: u64,
    ) -> Self {
        let mut side = Self {
            which,
            bus: Bus::new(catalog.clone()),
            instance: None,
            cost: Duration::ZERO,
            findings: BTreeMap::new(),
        };
        match PluginInstance::create(lib.clone(), seed) {
            Ok(i) => side.instance = Some(i),
            Err(e) => {
                let kind = if e.kind() == "panic" {
                    "panic"
                } else {
                    "error"
                };
                side.note(kind, "", 0.0, format!("create: {e}"));
            }
        }
        side
    }

    fn note(&mut self, kind: &str, signal: &str, t: f64, message: String) {
        let f = self
            .findings
            .entry((kind.to_owned(), signal.to_owned()))
            .or_insert_with(|| Finding {
                version: self.which,
                kind: kind.to_owned(),
                signal: (!signal.is_empty()).then(|| signal.to_owned()),
                ticks: 0,
                first_s: t,
                message,
            });
        f.ticks += 1;
    }

    fn tick(&mut self, dt: f64, t: f64, timer: &mut dyn FnMut() -> Duration) {
        let Some(instance) = self.instance.as_mut() else {
            return;
        };
        if instance.is_poisoned() {
            return;
        }
        let start = timer();
        let result = instance.tick(dt, &mut self.bus);
        self.cost += timer().saturating_sub(start);
        if let Err(e) = result {
            let (kind, signal) = match &e {
                TickError::Output { signal, source, .. } => (
                    match source {
                        RangeError::NotFinite { .. } => "nan",
                        RangeError::NotWhole { .. } | RangeError::OutOfRange { .. } => {
                            "out_of_range"
                        }
                    },
                    signal.as_str(),
                ),
                TickError::Panic { .. } => ("panic", ""),
                TickError::Status { .. } | TickError::Disabled { .. } => ("error", ""),
            };
            let signal = signal.to_owned();
            self.note(kind, &signal, t, e.to_string());
        }
    }
}

fn inputs_of(pair: &Pair, reader: &TraceReader, catalog: &Catalog) -> Result<Vec<Input>, VetError> {
    let header = reader.header();
    let name = pair.current.name();
    // Signals written by plugins that ran after this one.
    let later: Vec<&str> = header
        .plugins
        .iter()
        .skip_while(|p| p.name != name)
        .skip(1)
        .flat_map(|p| p.writes.iter().map(String::as_str))
        .collect();
    let mut inputs: Vec<Input> = Vec::new();
    for (which, lib) in [("current", &pair.current), ("candidate", &pair.candidate)] {
        for id in lib.reads() {
            if inputs.iter().any(|i| i.id == *id) {
                continue;
            }
            let path = &catalog.meta(*id).path;
            let column = reader.column(path).ok_or_else(|| VetError::MissingInput {
                path: reader.path().to_owned(),
                signal: path.clone(),
                which,
            })?;
            inputs.push(Input {
                id: *id,
                column,
                lagged: later.contains(&path.as_str()),
            });
        }
    }
    Ok(inputs)
}

/// Replays the trace at `path` through both versions of `pair`.
pub fn replay(
    pair: &Pair,
    path: &Path,
    tolerances: &Tolerances,
    catalog: &Arc<Catalog>,
    timer: &mut dyn FnMut() -> Duration,
) -> Result<TraceReport, VetError> {
    let mut reader = TraceReader::open(path)?;
    let inputs = inputs_of(pair, &reader, catalog)?;
    let wanted: Vec<usize> = inputs.iter().map(|i| i.column).collect();
    let columns = reader.header().columns.clone();
    reader.select(|c| {
        columns
            .iter()
            .position(|x| x == c)
            .is_some_and(|i| wanted.contains(&i))
    });
    let header = reader.header().clone();
    let dt = 1.0 / header.tick_rate_hz;
    let mut current = Side::new("current", &pair.current, catalog, header.seed);
    let mut candidate = Side::new("candidate", &pair.candidate, catalog, header.seed);
    // Outputs both versions write, compared every tick.
    let compared: Vec<SignalId> = pair
        .current
        .writes()
        .iter()
        .filter(|id| pair.candidate.writes().contains(id))
        .copied()
        .collect();
    let mut diffs: Vec<SignalDiff> = compared
        .iter()
        .map(|id| {
            let signal = catalog.meta(*id).path.clone();
            SignalDiff::new(tolerances.of(&signal), signal)
        })
        .collect();
    let tols: Vec<_> = diffs.iter().map(|d| d.tolerance).collect();
    let mut prev: Vec<f64> = Vec::new();
    let mut ticks = 0u64;
    let mut first_tick = None;
    while let Some(tick) = reader.next_row()? {
        let values = reader.values();
        if prev.is_empty() {
            prev = inputs.iter().map(|i| values[i.column]).collect();
        }
        for (k, input) in inputs.iter().enumerate() {
            let v = if input.lagged {
                prev[k]
            } else {
                values[input.column]
            };
            for side in [&mut current, &mut candidate] {
                side.bus
                    .write(input.id, v)
                    .map_err(|e| VetError::BadInput {
                        path: path.to_owned(),
                        line: reader.line(),
                        signal: catalog.meta(input.id).path.clone(),
                        message: e.to_string(),
                    })?;
            }
        }
        for (k, input) in inputs.iter().enumerate() {
            prev[k] = values[input.column];
        }
        let t = tick as f64 * dt;
        first_tick.get_or_insert(tick);
        current.tick(dt, t, timer);
        candidate.tick(dt, t, timer);
        for ((id, d), tol) in compared.iter().zip(diffs.iter_mut()).zip(&tols) {
            let (a, b) = (current.bus.get(*id), candidate.bus.get(*id));
            if a.to_bits() == b.to_bits() {
                continue;
            }
            d.add(a, b, t, tol.admits(a, b));
        }
        ticks += 1;
    }
    let per_tick = |d: Duration| {
        if ticks == 0 {
            0.0
        } else {
            d.as_nanos() as f64 / ticks as f64
        }
    };
    let cost = SideCost {
        current_ns: per_tick(current.cost),
        candidate_ns: per_tick(candidate.cost),
    };
    let findings = current
        .findings
        .into_values()
        .chain(candidate.findings.into_values())
        .collect();
    Ok(TraceReport::new(
        path,
        ticks,
        first_tick.unwrap_or(0) as f64 * dt,
        ticks as f64 * dt,
        diffs,
        findings,
        cost,
    ))
}
