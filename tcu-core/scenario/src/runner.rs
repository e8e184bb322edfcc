//! Running scenarios: build the vehicle the file describes, drive it through
//! the tick loop ([`sim::run`]) with a hook that fires the timeline before
//! each tick and samples expectations and the trace after it, then turn the
//! verdicts into a report.
//!
//! Virtual time by default (a [`VirtualClock`]: as fast as the CPU allows,
//! no wall clock involved, so runs are reproducible); `realtime` paces the
//! same loop on the wall clock, for testing a back end against a live car
//! (telemetry publishing is attached by the MQTT part of the binary).
//!
//! An error (the file cannot be parsed, a plugin is missing, a step cannot
//! be carried out) is kept apart from a failed expectation: exit code 2
//! versus 1.

use super::parse::{self, PluginRef, Scenario};
use super::replay::ReplayFeed;
use super::source::{Pos, ScenarioError};
use super::timeline::Timeline;
use super::trace::TraceRecorder;
use super::verdict::{Tracker, Verdict};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tcu_engine::build::{BuildError, build_vehicle_with};
use tcu_engine::catalog::Catalog;
use tcu_engine::config::{VehicleConfig, VehicleOverrides};
use tcu_engine::plugin::{LoadReport, admit};
use tcu_engine::sim::clock::{Clock, RealClock, VirtualClock};
use tcu_engine::sim::{Event, RunSettings, TickHook, Vehicle};
use tcu_engine::swap::store::Store;
use tcu_engine::swap::{SwapEngine, SwapSettings};
use tcu_engine::world::driver::DriverProfile;

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Plugin directory when the scenario names none (default: next to the
    /// executable).
    pub plugins_dir: Option<PathBuf>,
    /// Pace ticks on the wall clock.
    pub realtime: bool,
    /// Record a CSV trace.
    pub trace: bool,
}

/// Outcome of one test case.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseStatus {
    /// Held.
    Passed,
    /// Did not hold (why, when, expected, actual).
    Failed(String),
    /// Could not be evaluated.
    Error(String),
}

/// One expectation (or command step) and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// Name.
    pub name: String,
    /// Where it is written.
    pub pos: Pos,
    /// Outcome.
    pub status: CaseStatus,
}

/// Everything about one scenario run.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// The file.
    pub file: PathBuf,
    /// Scenario name (the file name when it did not parse).
    pub name: String,
    /// Test cases.
    pub cases: Vec<CaseResult>,
    /// Why the scenario could not be run, if it could not.
    pub error: Option<ScenarioError>,
    /// The CSV trace, when asked for and the run happened.
    pub trace: Option<String>,
    /// Simulated seconds run.
    pub simulated: f64,
    /// Wall time taken.
    pub wall: Duration,
}

impl ScenarioReport {
    /// The report of a scenario that could not be run.
    pub(crate) fn errored(file: &Path, name: String, error: ScenarioError, wall: Duration) -> Self {
        Self {
            file: file.to_owned(),
            name,
            cases: vec![CaseResult {
                name: "scenario".to_owned(),
                pos: error.pos.unwrap_or_default(),
                status: CaseStatus::Error(error.to_string()),
            }],
            error: Some(error),
            trace: None,
            simulated: 0.0,
            wall,
        }
    }

    /// Failed cases.
    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.cases
            .iter()
            .filter(|c| matches!(c.status, CaseStatus::Failed(_)))
    }
}

/// Process exit code for a set of reports: 0 all passed, 1 an expectation
/// failed, 2 a scenario could not be run.
pub fn exit_code(reports: &[ScenarioReport]) -> i32 {
    if reports.iter().any(|r| r.error.is_some()) {
        2
    } else if reports.iter().any(|r| r.failures().next().is_some()) {
        1
    } else {
        0
    }
}

/// Loads and runs one scenario file.
pub fn run_file(path: &Path, opts: &RunOptions) -> ScenarioReport {
    let started = Instant::now();
    let catalog = Arc::new(Catalog::builtin());
    match parse::load(path, &catalog) {
        Ok(sc) => run_scenario(&sc, catalog, opts),
        Err(e) => {
            let name = path
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            ScenarioReport::errored(path, name, e, started.elapsed())
        }
    }
}

/// File name of a subsystem's library, as cargo names it.
pub fn library_file(subsystem: &str) -> String {
    format!(
        "{}tcu_plugin_{}.{}",
        std::env::consts::DLL_PREFIX,
        subsystem.replace('-', "_"),
        std::env::consts::DLL_EXTENSION
    )
}

/// Builds the vehicle of a scenario: the default configuration with the
/// scenario's VIN, seed, tick rate and initial signals, nobody driving but
/// the timeline, and exactly the plugins it names.
pub fn build(
    sc: &Scenario,
    catalog: Arc<Catalog>,
    opts: &RunOptions,
) -> Result<Vehicle, ScenarioError> {
    let file = &sc.source.path;
    let cli = VehicleOverrides {
        vin: Some(sc.vin.clone()),
        seed: Some(sc.seed),
        plugins_dir: None,
        tick_rate_hz: Some(sc.tick_rate_hz),
        driver: Some(DriverProfile::Idle),
        allow_unsigned: Some(true),
        ..Default::default()
    };
    let mut config = VehicleConfig::defaults_with(&cli, &catalog)
        .map_err(|e| ScenarioError::whole(file, e.to_string()))?;
    config.signals.extend(sc.signals.iter().cloned());
    let dir = sc
        .plugins_dir
        .clone()
        .or_else(|| opts.plugins_dir.clone())
        .unwrap_or_else(tcu_engine::build::default_plugins_dir);
    let mut failure = None;
    let built = build_vehicle_with(&config, catalog, |bus| {
        let mut report = LoadReport::default();
        for p in &sc.plugins {
            let path = p
                .file
                .clone()
                .unwrap_or_else(|| dir.join(library_file(&p.spec)));
            if !path.is_file() {
                failure = Some(plugin_error(
                    file,
                    p,
                    format!("missing plugin file {}", path.display()),
                ));
                break;
            }
            match admit(&path, bus, sc.seed, &report.plugins) {
                Ok(instance) => {
                    let found = &instance.library().info().version;
                    if let Some(wanted) = p.version.as_ref().filter(|w| *w != found) {
                        failure = Some(plugin_error(
                            file,
                            p,
                            format!(
                                "{} is version {found}, the scenario asks for {wanted}",
                                path.display()
                            ),
                        ));
                        break;
                    }
                    report.plugins.push(instance);
                }
                Err(e) => {
                    failure = Some(plugin_error(file, p, e.to_string()));
                    break;
                }
            }
        }
        Ok::<_, BuildError>(report)
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let (mut vehicle, _) = built.map_err(|e| ScenarioError::whole(file, e.to_string()))?;
    // Swap steps go through the real transaction with the default canary
    // and probation, staged in a scratch store. A scenario file is trusted
    // test input, so its libraries need no signature.
    vehicle.set_swap_engine(SwapEngine::new(
        SwapSettings {
            canary_ticks: config.hotswap.canary_ticks,
            probation_ticks: (config.hotswap.probation.as_secs_f64() * sc.tick_rate_hz).round()
                as u64,
            seed: sc.seed,
        },
        Some(Store::scratch()),
        Default::default(),
    ));
    Ok(vehicle)
}

/// A plugin could not be loaded: at the entry that names it, or about the
/// file as a whole for the default set (with a hint where to look).
fn plugin_error(file: &Path, p: &PluginRef, what: String) -> ScenarioError {
    match p.pos {
        Some(pos) => ScenarioError::at(file, pos, format!("plugin `{}`: {what}", p.spec)),
        None => ScenarioError::whole(
            file,
            format!(
                "plugin `{}` (default set): {what}; set `[vehicle] plugins_dir` or pass --plugins",
                p.spec
            ),
        ),
    }
}

/// The tick hook of a scenario run.
struct Hook {
    timeline: Timeline,
    trackers: Vec<Tracker>,
    events: Vec<Event>,
    trace: Option<TraceRecorder>,
    stop: Arc<AtomicBool>,
    error: Option<ScenarioError>,
    file: PathBuf,
    replay: Option<ReplayFeed>,
}

impl TickHook for Hook {
    fn before_tick(&mut self, vehicle: &mut Vehicle) {
        if let Some(r) = &mut self.replay {
            match r.before_tick(vehicle) {
                Ok(true) => {}
                Ok(false) => {
                    // The recording is over: so is the drive.
                    self.stop.store(true, Ordering::Relaxed);
                    return;
                }
                Err(e) => {
                    self.error.get_or_insert(e);
                    self.stop.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
        if let Err(e) = self.timeline.before_tick(vehicle, &self.file) {
            self.error.get_or_insert(e);
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    fn after_tick(&mut self, vehicle: &Vehicle, events: &[Event]) {
        if let Some(r) = &mut self.replay {
            r.after_tick(vehicle);
        }
        self.events.extend_from_slice(events);
        let t = vehicle.time();
        for tr in &mut self.trackers {
            tr.sample(t, vehicle.bus());
        }
        if let Some(trace) = &mut self.trace {
            trace.after_tick(vehicle.ticks(), t, vehicle.bus());
        }
    }
}

/// Runs a resolved scenario.
pub fn run_scenario(sc: &Scenario, catalog: Arc<Catalog>, opts: &RunOptions) -> ScenarioReport {
    let started = Instant::now();
    let file = sc.source.path.clone();
    let mut vehicle = match build(sc, catalog, opts) {
        Ok(v) => v,
        Err(e) => return ScenarioReport::errored(&file, sc.name.clone(), e, started.elapsed()),
    };
    let replay = match sc
        .replay
        .as_ref()
        .map(|r| ReplayFeed::new(r, &mut vehicle, &file))
    {
        None => None,
        Some(Ok(feed)) => Some(feed),
        Some(Err(e)) => {
            return ScenarioReport::errored(&file, sc.name.clone(), e, started.elapsed());
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut hook = Hook {
        timeline: Timeline::new(sc.steps.clone()),
        trackers: sc.expectations.iter().cloned().map(Tracker::new).collect(),
        events: vehicle.drain_events(),
        trace: opts
            .trace
            .then(|| TraceRecorder::new(&sc.trace, vehicle.dt(), vehicle.bus())),
        stop: stop.clone(),
        error: None,
        file: file.clone(),
        replay,
    };
    // The trace starts with the initial state; expectations are sampled
    // after every tick (the first at t = dt), once the plugins have written
    // their outputs.
    if let Some(trace) = &mut hook.trace {
        trace.after_tick(0, 0.0, vehicle.bus());
    }
    let settings = RunSettings {
        duration: Some(Duration::from_secs_f64(sc.duration)),
    };
    let mut clock: Box<dyn Clock> = if opts.realtime {
        Box::new(RealClock::new())
    } else {
        Box::new(VirtualClock::default())
    };
    tcu_engine::sim::run(&mut vehicle, clock.as_mut(), &settings, &stop, &mut hook);
    let mut cases: Vec<CaseResult> = hook
        .trackers
        .iter()
        .map(|tr| CaseResult {
            name: tr.exp.name.clone(),
            pos: tr.exp.pos,
            status: match (&hook.error, tr.finish(&hook.events)) {
                (Some(e), _) => CaseStatus::Error(format!("not evaluated: {e}")),
                (None, Verdict::Passed) => CaseStatus::Passed,
                (None, Verdict::Failed(m)) => CaseStatus::Failed(format!("{}: {m}", tr.exp.name)),
            },
        })
        .collect();
    for c in &hook.timeline.commands {
        let want = if c.accept { "accepted" } else { "rejected" };
        let name = format!("command at t={:.3} s {want}: {}", c.t, c.what);
        let status = match (&c.result, c.accept) {
            (Ok(()), true) | (Err(_), false) => CaseStatus::Passed,
            (Ok(()), false) => CaseStatus::Failed(format!(
                "{name}: expected it to be rejected, actual accepted"
            )),
            (Err(why), true) => CaseStatus::Failed(format!(
                "{name}: expected it to be accepted, actual rejected: {why}"
            )),
        };
        cases.push(CaseResult {
            name,
            pos: c.pos,
            status,
        });
    }
    if let Some(r) = &hook.replay {
        cases.push(CaseResult {
            name: r.case_name(),
            pos: sc.replay.as_ref().map(|s| s.pos).unwrap_or_default(),
            status: match r.verdict() {
                Ok(()) => CaseStatus::Passed,
                Err(m) => CaseStatus::Failed(format!("{}: {m}", r.case_name())),
            },
        });
    }
    if let Some(e) = &hook.error {
        cases.push(CaseResult {
            name: "scenario".to_owned(),
            pos: e.pos.unwrap_or_default(),
            status: CaseStatus::Error(e.to_string()),
        });
    }
    ScenarioReport {
        file,
        name: sc.name.clone(),
        cases,
        error: hook.error,
        trace: hook.trace.map(TraceRecorder::finish),
        simulated: vehicle.time(),
        wall: started.elapsed(),
    }
}
