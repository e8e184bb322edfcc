//! Reading a scenario file and resolving it into a runnable [`Scenario`]:
//! TOML syntax first (errors with the parser's position), then every signal
//! against the catalog, every value against its range, every time against
//! the duration. Nothing here touches plugins or the file system beyond
//! reading the file; plugin files are checked when the vehicle is built.

use super::expect::{self, Expectation, Predicate};
use super::model::{RawPredicate, RawScenario, SignalMap};
use super::source::{Pos, ScenarioError, Source};
use super::steps::{self, Step};
use crate::catalog::{Catalog, DataType, SignalId, SignalKind, Value};
use crate::config::validate_vin;
use crate::world::SEATS;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Default VIN of scenario vehicles.
pub const DEFAULT_VIN: &str = "WTCUZ000000000001";
/// The six subsystems, loaded when a scenario does not say which.
pub const DEFAULT_PLUGINS: [&str; 6] =
    ["battery", "abs", "engine", "airbag", "hvac", "heated-seats"];

/// A plugin to load: a subsystem name (found in the plugin directory) or a
/// library file.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRef {
    /// As written.
    pub spec: String,
    /// The file, when `spec` names one (resolved against the scenario file).
    pub file: Option<PathBuf>,
    /// Where it was written.
    pub pos: Pos,
}

/// What and how to trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSettings {
    /// Sampling interval, s.
    pub interval: f64,
    /// Every signal at every sample, not only changes.
    pub all: bool,
    /// Only these signals (`None`: every signal written during the run).
    pub signals: Option<Vec<SignalId>>,
}

/// A resolved, runnable scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file and its text.
    pub source: Source,
    /// Title.
    pub name: String,
    /// Story.
    pub description: String,
    /// Seed.
    pub seed: u64,
    /// Steps per second.
    pub tick_rate_hz: f64,
    /// Simulated seconds.
    pub duration: f64,
    /// VIN.
    pub vin: String,
    /// Plugin directory from the file (resolved against it).
    pub plugins_dir: Option<PathBuf>,
    /// Plugins to load.
    pub plugins: Vec<PluginRef>,
    /// Initial actuator values (occupants included), applied before the
    /// first tick.
    pub signals: Vec<(String, Value)>,
    /// The timeline: environment entries, then steps, in file order (the
    /// order in which steps due in the same tick fire).
    pub steps: Vec<Step>,
    /// Expectations.
    pub expectations: Vec<Expectation>,
    /// Trace settings.
    pub trace: TraceSettings,
}

/// Reads and resolves a scenario file.
pub fn load(path: &Path, catalog: &Catalog) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::whole(path, format!("cannot read the file: {e}")))?;
    parse(path, &text, catalog)
}

/// Resolves scenario text; `path` names it in errors and anchors relative
/// paths.
pub fn parse(path: &Path, text: &str, catalog: &Catalog) -> Result<Scenario, ScenarioError> {
    let src = Source {
        path: path.to_owned(),
        text: text.to_owned(),
    };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let message = format!("invalid scenario: {}", e.message().trim_end());
        match e.span() {
            Some(span) => src.error_at(span.start, message),
            None => ScenarioError::whole(path, message),
        }
    })?;
    Resolver {
        src: &src,
        catalog,
        duration: 0.0,
    }
    .scenario(raw)
}

/// Resolution context: the source for positions, the catalog for signals.
pub(super) struct Resolver<'a> {
    pub src: &'a Source,
    pub catalog: &'a Catalog,
    pub duration: f64,
}

impl Resolver<'_> {
    /// An error at a span's start.
    pub fn err<T>(&self, span: &Spanned<T>, message: impl Into<String>) -> ScenarioError {
        self.src.error_at(span.span().start, message)
    }

    /// Position of a span's start.
    pub fn pos<T>(&self, span: &Spanned<T>) -> Pos {
        self.src.pos(span.span().start)
    }

    /// A catalog signal.
    pub fn signal(&self, path: &Spanned<String>) -> Result<SignalId, ScenarioError> {
        self.catalog
            .id(path.get_ref())
            .ok_or_else(|| self.err(path, format!("unknown signal `{}`", path.get_ref())))
    }

    /// A catalog actuator (what the control path may set).
    pub fn actuator(&self, path: &Spanned<String>) -> Result<SignalId, ScenarioError> {
        let id = self.signal(path)?;
        let meta = self.catalog.meta(id);
        if meta.kind != SignalKind::Actuator {
            return Err(self.err(
                path,
                format!(
                    "`{}` is a {}; only actuators can be set",
                    meta.path,
                    meta.kind.as_str()
                ),
            ));
        }
        Ok(id)
    }

    /// A typed value for `id`, checked against its datatype and range.
    pub fn value(&self, id: SignalId, v: &Spanned<toml::Value>) -> Result<Value, ScenarioError> {
        let meta = self.catalog.meta(id);
        let value = match v.get_ref() {
            toml::Value::Boolean(b) => Value::Bool(*b),
            toml::Value::Integer(i) => Value::Int(*i),
            toml::Value::Float(x) => Value::Float(*x),
            other => {
                return Err(self.err(
                    v,
                    format!(
                        "`{}`: expected a number or a boolean, got {}",
                        meta.path,
                        other.type_str()
                    ),
                ));
            }
        };
        let slot = value
            .slot_for(meta.datatype)
            .map_err(|m| self.err(v, format!("`{}`: {m}", meta.path)))?;
        meta.check(slot)
            .map_err(|e| self.err(v, format!("`{}`: value {e}", meta.path)))?;
        Ok(value)
    }

    /// Actuator writes of a `set` table.
    pub fn set_map(&self, map: &SignalMap) -> Result<Vec<(String, Value)>, ScenarioError> {
        map.iter()
            .map(|(path, v)| {
                let id = self.actuator(path)?;
                Ok((path.get_ref().clone(), self.value(id, v)?))
            })
            .collect()
    }

    /// A time within the run.
    pub fn time(&self, t: &Spanned<f64>) -> Result<f64, ScenarioError> {
        let v = *t.get_ref();
        if !v.is_finite() || v < 0.0 {
            return Err(self.err(t, format!("time {v} s must be zero or positive")));
        }
        if v > self.duration + 1e-9 {
            return Err(self.err(
                t,
                format!(
                    "time {v} s is past the end of the scenario (duration {} s)",
                    self.duration
                ),
            ));
        }
        Ok(v)
    }

    /// A `[from, until]` window within the run.
    pub fn window(&self, w: &Spanned<[f64; 2]>) -> Result<(f64, f64), ScenarioError> {
        let [a, b] = *w.get_ref();
        for t in [a, b] {
            self.time(&Spanned::new(w.span(), t))?;
        }
        if a > b {
            return Err(self.err(w, format!("window [{a}, {b}] ends before it starts")));
        }
        Ok((a, b))
    }

    /// A value predicate on signal `id`; `at` locates the whole entry.
    pub fn predicate(
        &self,
        id: SignalId,
        p: RawPredicate<'_>,
        at: usize,
    ) -> Result<Option<Predicate>, ScenarioError> {
        let meta = self.catalog.meta(id);
        let given = [
            p.equals.is_some(),
            p.above.is_some(),
            p.below.is_some(),
            p.between.is_some(),
        ];
        match given.iter().filter(|g| **g).count() {
            0 => return Ok(None),
            1 => {}
            _ => {
                return Err(self
                    .src
                    .error_at(at, "give only one of `equals`, `above`, `below`, `between`"));
            }
        }
        if let Some(eq) = p.equals {
            let value = self.value(id, eq)?;
            let tolerance = match p.tolerance {
                Some(t) if !(t.get_ref().is_finite() && *t.get_ref() >= 0.0) => {
                    return Err(self.err(t, "tolerance must be zero or positive"));
                }
                Some(t) => *t.get_ref(),
                None => 0.0,
            };
            return Ok(Some(Predicate::Equals {
                value: value.to_slot(),
                tolerance,
                boolean: meta.datatype == DataType::Boolean,
            }));
        }
        if let Some(t) = p.tolerance {
            return Err(self.err(t, "`tolerance` only goes with `equals`"));
        }
        if meta.datatype == DataType::Boolean {
            return Err(self.src.error_at(
                at,
                format!("`{}` is a boolean: compare it with `equals`", meta.path),
            ));
        }
        Ok(Some(if let Some(a) = p.above {
            Predicate::Above(*a.get_ref())
        } else if let Some(b) = p.below {
            Predicate::Below(*b.get_ref())
        } else if let Some(w) = p.between {
            let [lo, hi] = *w.get_ref();
            if lo > hi {
                return Err(self.err(w, format!("between [{lo}, {hi}] is empty")));
            }
            Predicate::Between(lo, hi)
        } else {
            unreachable!("one predicate field was counted above")
        }))
    }

    fn scenario(mut self, raw: RawScenario) -> Result<Scenario, ScenarioError> {
        let duration = *raw.duration.get_ref();
        if !(duration.is_finite() && duration > 0.0) {
            return Err(self.err(&raw.duration, "duration must be above zero seconds"));
        }
        self.duration = duration;
        let tick_rate_hz = match &raw.tick_rate_hz {
            Some(r) if !(r.get_ref().is_finite() && (1.0..=10_000.0).contains(r.get_ref())) => {
                return Err(self.err(
                    r,
                    format!("tick rate {} is outside 1..=10000 Hz", r.get_ref()),
                ));
            }
            Some(r) => *r.get_ref(),
            None => 100.0,
        };
        let vin = match &raw.vehicle.vin {
            Some(v) => {
                validate_vin(v.get_ref()).map_err(|m| self.err(v, m))?;
                v.get_ref().clone()
            }
            None => DEFAULT_VIN.to_owned(),
        };
        let base = self.src.path.parent().unwrap_or(Path::new("")).to_owned();
        let plugins_dir = raw
            .vehicle
            .plugins_dir
            .as_ref()
            .map(|d| base.join(d.get_ref()));
        let plugins = match &raw.vehicle.plugins {
            Some(list) => list
                .iter()
                .map(|p| self.plugin(p, &base))
                .collect::<Result<_, _>>()?,
            None => DEFAULT_PLUGINS
                .iter()
                .map(|n| PluginRef {
                    spec: (*n).to_owned(),
                    file: None,
                    pos: Pos::default(),
                })
                .collect(),
        };
        let mut signals = Vec::new();
        if let Some(occupants) = &raw.occupants {
            for seat in SEATS {
                signals.push((format!("Sim.Cabin.Seat.{seat}.Occupant"), Value::Int(0)));
            }
            for (seat, who) in occupants {
                let i = SEATS
                    .iter()
                    .position(|s| s == seat.get_ref())
                    .ok_or_else(|| {
                        self.err(
                            seat,
                            format!(
                                "unknown seat `{}` (seats: {})",
                                seat.get_ref(),
                                SEATS.join(", ")
                            ),
                        )
                    })?;
                let code = match who.get_ref().as_str() {
                    "empty" => 0,
                    "unbelted" => 1,
                    "belted" => 2,
                    other => {
                        return Err(self.err(
                            who,
                            format!("unknown occupant `{other}` (empty, unbelted or belted)"),
                        ));
                    }
                };
                signals[i].1 = Value::Int(code);
            }
        }
        signals.extend(self.set_map(&raw.signals)?);
        let mut steps = Vec::new();
        for env in &raw.environment {
            steps.extend(steps::environment(&self, env)?);
        }
        for step in &raw.step {
            steps.push(steps::resolve(&self, step)?);
        }
        let expectations = raw
            .expect
            .iter()
            .map(|e| expect::resolve(&self, e))
            .collect::<Result<_, _>>()?;
        let trace = self.trace(&raw)?;
        Ok(Scenario {
            source: self.src.clone(),
            name: raw.name,
            description: raw.description,
            seed: raw.seed,
            tick_rate_hz,
            duration,
            vin,
            plugins_dir,
            plugins,
            signals,
            steps,
            expectations,
            trace,
        })
    }

    fn plugin(&self, p: &Spanned<String>, base: &Path) -> Result<PluginRef, ScenarioError> {
        let spec = p.get_ref().clone();
        let is_file = spec.contains('/') || spec.ends_with(std::env::consts::DLL_EXTENSION);
        if !is_file && !DEFAULT_PLUGINS.contains(&spec.as_str()) {
            return Err(self.err(
                p,
                format!(
                    "unknown plugin `{spec}` (subsystems: {}; or give a library path)",
                    DEFAULT_PLUGINS.join(", ")
                ),
            ));
        }
        Ok(PluginRef {
            file: is_file.then(|| base.join(&spec)),
            spec,
            pos: self.pos(p),
        })
    }

    fn trace(&self, raw: &RawScenario) -> Result<TraceSettings, ScenarioError> {
        let interval_ms = match &raw.trace.interval_ms {
            Some(ms) if *ms.get_ref() == 0 => {
                return Err(self.err(ms, "interval_ms must be above zero"));
            }
            Some(ms) => *ms.get_ref(),
            None => 100,
        };
        let signals = match &raw.trace.signals {
            Some(list) => Some(
                list.iter()
                    .map(|s| self.signal(s))
                    .collect::<Result<_, _>>()?,
            ),
            None => None,
        };
        Ok(TraceSettings {
            interval: interval_ms as f64 / 1000.0,
            all: raw.trace.all,
            signals,
        })
    }
}

/// Checks that an action is not given twice in one step.
pub(super) fn only_one(
    r: &Resolver<'_>,
    at: usize,
    present: &[(&str, bool)],
) -> Result<usize, ScenarioError> {
    let names: Vec<&str> = present
        .iter()
        .filter(|(_, p)| *p)
        .map(|(n, _)| *n)
        .collect();
    match names.len() {
        1 => Ok(present.iter().position(|(_, p)| *p).unwrap_or(0)),
        0 => Err(r.src.error_at(
            at,
            format!(
                "expected one of {}",
                present
                    .iter()
                    .map(|(n, _)| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        _ => Err(r
            .src
            .error_at(at, format!("give only one of {}", names.join(", ")))),
    }
}
