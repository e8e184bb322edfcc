//! Reading a scenario file and resolving it into a runnable [`Scenario`]:
//! TOML syntax first (errors with the parser's position), then every signal
//! against the catalog, every value against its range, every time against
//! the duration. Nothing here touches plugins or the file system beyond
//! reading the file; plugin files are checked when the vehicle is built.

use super::expect::{self, Expectation};
use super::model::RawScenario;
use super::resolve::Resolver;
use super::source::{Pos, ScenarioError, Source};
use super::steps::{self, Step};
use std::path::{Path, PathBuf};
use tcu_engine::catalog::{Catalog, SignalId, Value};
use tcu_engine::config::validate_vin;
use tcu_engine::world::SEATS;
use toml::Spanned;

/// Default VIN of scenario vehicles.
pub const DEFAULT_VIN: &str = "WTCUZ000000000001";
pub use crate::model::DEFAULT_PLUGINS;

/// A plugin to load: a subsystem name (found in the plugin directory) or a
/// library file, optionally pinned to a version with `@` (`battery@1.0.0`).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRef {
    /// As written, without the version.
    pub spec: String,
    /// The version the library must report, if pinned.
    pub version: Option<String>,
    /// The file, when `spec` names one (resolved against the scenario file).
    pub file: Option<PathBuf>,
    /// Where it was written (`None`: the default set, written nowhere).
    pub pos: Option<Pos>,
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
    /// The recorded drive replayed as the world, if any.
    pub replay: Option<ReplaySettings>,
}

/// `replay = "file"`: a recorded trace drives the world.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySettings {
    /// The trace, resolved against the scenario file.
    pub path: PathBuf,
    /// Largest difference allowed between a plugin output and the recording.
    pub tolerance: f64,
    /// Where `replay` is written.
    pub pos: Pos,
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

impl Resolver<'_> {
    fn scenario(mut self, raw: RawScenario) -> Result<Scenario, ScenarioError> {
        let duration = *raw.duration.get_ref();
        if !(duration.is_finite() && duration > 0.0) {
            return Err(self.err(&raw.duration, "duration must be above zero seconds"));
        }
        self.duration = duration;
        let base = self.src.path.parent().unwrap_or(Path::new("")).to_owned();
        let (replay, recorded) = self.replay(&raw, &base)?;
        let tick_rate_hz = match &raw.tick_rate_hz {
            Some(r) if recorded.is_some_and(|(hz, _)| hz != *r.get_ref()) => {
                return Err(self.err(
                    r,
                    format!(
                        "tick rate {} Hz differs from the replayed trace's {} Hz",
                        r.get_ref(),
                        recorded.map_or(0.0, |(hz, _)| hz)
                    ),
                ));
            }
            Some(r) if !(r.get_ref().is_finite() && (1.0..=10_000.0).contains(r.get_ref())) => {
                return Err(self.err(
                    r,
                    format!("tick rate {} is outside 1..=10000 Hz", r.get_ref()),
                ));
            }
            Some(r) => *r.get_ref(),
            None => recorded.map_or(100.0, |(hz, _)| hz),
        };
        let vin = match &raw.vehicle.vin {
            Some(v) => {
                validate_vin(v.get_ref()).map_err(|m| self.err(v, m))?;
                v.get_ref().clone()
            }
            None => DEFAULT_VIN.to_owned(),
        };
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
                    version: None,
                    pos: None,
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
            seed: raw.seed.or(recorded.map(|(_, seed)| seed)).unwrap_or(1),
            tick_rate_hz,
            duration,
            vin,
            plugins_dir,
            plugins,
            signals,
            steps,
            expectations,
            trace,
            replay,
        })
    }

    /// `replay` and `replay_tolerance`, with the trace's tick rate and seed.
    #[allow(clippy::type_complexity)]
    fn replay(
        &self,
        raw: &RawScenario,
        base: &Path,
    ) -> Result<(Option<ReplaySettings>, Option<(f64, u64)>), ScenarioError> {
        let Some(file) = &raw.replay else {
            if let Some(t) = &raw.replay_tolerance {
                return Err(self.err(t, "replay_tolerance needs `replay = \"file\"`"));
            }
            return Ok((None, None));
        };
        let path = base.join(file.get_ref());
        let reader = tcu_engine::record::TraceReader::open(&path)
            .map_err(|e| self.err(file, format!("replay: {e}")))?;
        let tolerance = match &raw.replay_tolerance {
            Some(t) if !(t.get_ref().is_finite() && *t.get_ref() >= 0.0) => {
                return Err(self.err(t, "replay_tolerance must be a finite number of at least 0"));
            }
            Some(t) => *t.get_ref(),
            None => 1e-9,
        };
        let h = reader.header();
        Ok((
            Some(ReplaySettings {
                path,
                tolerance,
                pos: self.pos(file),
            }),
            Some((h.tick_rate_hz, h.seed)),
        ))
    }

    fn plugin(&self, p: &Spanned<String>, base: &Path) -> Result<PluginRef, ScenarioError> {
        let (spec, version) = match p.get_ref().rsplit_once('@') {
            Some((spec, v)) if !v.is_empty() => (spec.to_owned(), Some(v.to_owned())),
            _ => (p.get_ref().clone(), None),
        };
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
            version,
            pos: Some(self.pos(p)),
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
