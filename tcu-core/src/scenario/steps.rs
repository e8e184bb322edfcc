//! The timeline: steps that fire at a time or when a condition first holds,
//! and what they do. Every change to the car goes through the control path
//! ([`control::apply`]), exactly as an MQTT command or a dashboard key would;
//! plugin error injection goes through [`Vehicle::inject_plugin_errors`].

use super::expect::Predicate;
use super::model::{RawEnvironment, RawStep};
use super::parse::{Resolver, only_one};
use super::source::{Pos, ScenarioError};
use crate::catalog::{DataType, SignalId, Value};
use crate::control::{self, ControlMsg};
use crate::sim::Vehicle;
use std::path::PathBuf;
use std::sync::mpsc;
use toml::Spanned;

/// Wheel names as scenarios write them, in fault-code order (1..4).
pub const WHEELS: [&str; 4] = ["Row1.Left", "Row1.Right", "Row2.Left", "Row2.Right"];

/// When a step fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// At this time, s.
    At(f64),
    /// The first tick, not before `not_before`, where the condition holds.
    When {
        /// Watched signal.
        signal: SignalId,
        /// Its path.
        path: String,
        /// The condition.
        predicate: Predicate,
        /// Earliest time, s.
        not_before: f64,
    },
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Set actuators, all or nothing.
    Set(Vec<(String, Value)>),
    /// Move an actuator linearly from its current value.
    Ramp {
        /// Actuator.
        signal: String,
        /// Integral datatype: values are rounded.
        integral: bool,
        /// Final value.
        to: f64,
        /// Duration, s.
        over: f64,
    },
    /// A crash pulse with this peak, g.
    Crash(f64),
    /// A command as if received over MQTT, with the outcome it must have.
    Command {
        /// The message (its reply is filled in at run time).
        command: Command,
        /// True if the command must be accepted.
        accept: bool,
    },
    /// Fault injection.
    Fault(Fault),
    /// Hot-swap a subsystem to a library (needs the hot-swap transaction).
    Swap {
        /// Subsystem.
        subsystem: String,
        /// Library file.
        library: PathBuf,
    },
}

/// The two kinds of command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// All-or-nothing actuator write.
    Set(Vec<(String, Value)>),
    /// A plugin's named command.
    Plugin {
        /// Subsystem.
        subsystem: String,
        /// Command name.
        name: String,
        /// Argument.
        value: f64,
    },
}

/// Injected faults.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// A dead wheel sensor (0: none, 1..4: [`WHEELS`]).
    WheelSensor(u8),
    /// A noisy wheel sensor (0: none) with this amplitude, km/h.
    NoisyWheel(u8, f64),
    /// A plugin's ticks fail for this many ticks (`None`: until cleared).
    PluginErrors(String, Option<u64>),
    /// End an injection.
    ClearPluginErrors(String),
}

/// One step of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// When.
    pub trigger: Trigger,
    /// What.
    pub action: Action,
    /// Where it is written.
    pub pos: Pos,
}

/// `[[environment]]` entries become steps on the `Sim.Environment.*`
/// actuators.
pub(super) fn environment(
    r: &Resolver<'_>,
    env: &Spanned<RawEnvironment>,
) -> Result<Vec<Step>, ScenarioError> {
    let e = env.get_ref();
    let at = r.time(&e.at)?;
    let pos = r.pos(env);
    let mut out = Vec::new();
    let over = match &e.over {
        Some(o) if !(o.get_ref().is_finite() && *o.get_ref() > 0.0) => {
            return Err(r.err(o, "`over` must be above zero seconds"));
        }
        Some(o) => Some(*o.get_ref()),
        None => None,
    };
    for (field, path) in [
        (&e.air_temperature, "Sim.Environment.AirTemperature"),
        (&e.road_friction, "Sim.Environment.RoadFriction"),
    ] {
        let Some(v) = field else { continue };
        let id = r.actuator(&Spanned::new(v.span(), path.to_owned()))?;
        let value = r.value(
            id,
            &Spanned::new(v.span(), toml::Value::Float(*v.get_ref())),
        )?;
        let action = match over {
            Some(over) => Action::Ramp {
                signal: path.to_owned(),
                integral: false,
                to: value.to_slot(),
                over,
            },
            None => Action::Set(vec![(path.to_owned(), value)]),
        };
        out.push(Step {
            trigger: Trigger::At(at),
            action,
            pos,
        });
    }
    if out.is_empty() {
        return Err(r.err(
            env,
            "an environment entry needs `air_temperature` or `road_friction`",
        ));
    }
    Ok(out)
}

fn wheel(r: &Resolver<'_>, w: &Spanned<String>) -> Result<u8, ScenarioError> {
    if w.get_ref() == "none" {
        return Ok(0);
    }
    WHEELS
        .iter()
        .position(|n| n == w.get_ref())
        .map(|i| i as u8 + 1)
        .ok_or_else(|| {
            r.err(
                w,
                format!(
                    "unknown wheel `{}` (none, {})",
                    w.get_ref(),
                    WHEELS.join(", ")
                ),
            )
        })
}

/// Resolves one `[[step]]`.
pub(super) fn resolve(r: &Resolver<'_>, step: &Spanned<RawStep>) -> Result<Step, ScenarioError> {
    let s = step.get_ref();
    let start = step.span().start;
    let at = s.at.as_ref().map(|t| r.time(t)).transpose()?;
    let trigger = match (&s.when, at) {
        (Some(w), at) => {
            let c = w.get_ref();
            let signal = r.signal(&c.signal)?;
            let predicate = r
                .predicate(signal, c.predicate(), w.span().start)?
                .ok_or_else(|| {
                    r.err(
                        w,
                        "a `when` condition needs `equals`, `above`, `below` or `between`",
                    )
                })?;
            Trigger::When {
                signal,
                path: c.signal.get_ref().clone(),
                predicate,
                not_before: at.unwrap_or(0.0),
            }
        }
        (None, Some(at)) => Trigger::At(at),
        (None, None) => return Err(r.src.error_at(start, "a step needs `at` or `when`")),
    };
    let which = only_one(
        r,
        start,
        &[
            ("set", s.set.is_some()),
            ("ramp", s.ramp.is_some()),
            ("crash", s.crash.is_some()),
            ("command", s.command.is_some()),
            ("fault", s.fault.is_some()),
            ("swap", s.swap.is_some()),
        ],
    )?;
    let action = match which {
        0 => Action::Set(
            r.set_map(
                s.set
                    .as_ref()
                    .map(Spanned::get_ref)
                    .ok_or_else(|| r.src.error_at(start, "set"))?,
            )?,
        ),
        1 => ramp(r, s)?,
        2 => crash(r, s)?,
        3 => command(r, s, start)?,
        4 => fault(r, s, start)?,
        _ => swap(r, s, start)?,
    };
    Ok(Step {
        trigger,
        action,
        pos: r.pos(step),
    })
}

fn ramp(r: &Resolver<'_>, s: &RawStep) -> Result<Action, ScenarioError> {
    let Some(ramp) = &s.ramp else {
        unreachable!("checked by only_one")
    };
    let ramp = ramp.get_ref();
    let id = r.actuator(&ramp.signal)?;
    let datatype = r.catalog.meta(id).datatype;
    if datatype == DataType::Boolean {
        return Err(r.err(&ramp.signal, "a boolean cannot be ramped; use `set`"));
    }
    r.value(
        id,
        &Spanned::new(ramp.to.span(), toml::Value::Float(*ramp.to.get_ref())),
    )?;
    let over = *ramp.over.get_ref();
    if !(over.is_finite() && over > 0.0) {
        return Err(r.err(&ramp.over, "`over` must be above zero seconds"));
    }
    Ok(Action::Ramp {
        signal: ramp.signal.get_ref().clone(),
        integral: datatype.is_integral(),
        to: *ramp.to.get_ref(),
        over,
    })
}

fn crash(r: &Resolver<'_>, s: &RawStep) -> Result<Action, ScenarioError> {
    let Some(g) = &s.crash else {
        unreachable!("checked by only_one")
    };
    let id = r.actuator(&Spanned::new(g.span(), "Sim.Crash.Trigger".to_owned()))?;
    let v = r.value(
        id,
        &Spanned::new(g.span(), toml::Value::Float(*g.get_ref())),
    )?;
    Ok(Action::Crash(v.to_slot()))
}

fn command(r: &Resolver<'_>, s: &RawStep, start: usize) -> Result<Action, ScenarioError> {
    let Some(c) = &s.command else {
        unreachable!("checked by only_one")
    };
    let accept = match &c.get_ref().expect {
        None => true,
        Some(e) if e.get_ref() == "accepted" => true,
        Some(e) if e.get_ref() == "rejected" => false,
        Some(e) => {
            return Err(r.err(
                e,
                format!(
                    "`expect` is `accepted` or `rejected`, not `{}`",
                    e.get_ref()
                ),
            ));
        }
    };
    let c = c.get_ref();
    let command = match (&c.set, &c.subsystem, &c.name, &c.value) {
        (Some(set), None, None, None) if accept => Command::Set(r.set_map(set)?),
        // A command meant to be refused is kept as written: refusing it is
        // the control path's job, and what the scenario checks.
        (Some(set), None, None, None) => Command::Set(
            set.iter()
                .map(|(k, v)| {
                    let value = match v.get_ref() {
                        toml::Value::Boolean(b) => Value::Bool(*b),
                        toml::Value::Integer(i) => Value::Int(*i),
                        toml::Value::Float(x) => Value::Float(*x),
                        other => {
                            return Err(r.err(
                                v,
                                format!("expected a number or a boolean, got {}", other.type_str()),
                            ));
                        }
                    };
                    Ok((k.get_ref().clone(), value))
                })
                .collect::<Result<_, _>>()?,
        ),
        (None, Some(sub), Some(name), value) => Command::Plugin {
            subsystem: sub.get_ref().clone(),
            name: name.get_ref().clone(),
            value: value.as_ref().map_or(0.0, |v| *v.get_ref()),
        },
        _ => {
            return Err(r.src.error_at(
                start,
                "a command is either `{ set = {...} }` or `{ subsystem = ..., name = ..., value = ... }`",
            ));
        }
    };
    Ok(Action::Command { command, accept })
}

fn fault(r: &Resolver<'_>, s: &RawStep, start: usize) -> Result<Action, ScenarioError> {
    let Some(f) = &s.fault else {
        unreachable!("checked by only_one")
    };
    let f = f.get_ref();
    let which = only_one(
        r,
        start,
        &[
            ("wheel_sensor", f.wheel_sensor.is_some()),
            ("noisy_wheel", f.noisy_wheel.is_some()),
            ("plugin_errors", f.plugin_errors.is_some()),
            ("clear_plugin_errors", f.clear_plugin_errors.is_some()),
        ],
    )?;
    let fault = match (
        which,
        &f.wheel_sensor,
        &f.noisy_wheel,
        &f.plugin_errors,
        &f.clear_plugin_errors,
    ) {
        (0, Some(w), ..) => Fault::WheelSensor(wheel(r, w)?),
        (1, _, Some(w), ..) => {
            let amplitude = f
                .amplitude
                .as_ref()
                .ok_or_else(|| r.err(w, "a noisy wheel needs `amplitude` (km/h)"))?;
            let id = r.actuator(&Spanned::new(
                amplitude.span(),
                "Sim.Fault.ABS.WheelSensorNoise".to_owned(),
            ))?;
            r.value(
                id,
                &Spanned::new(amplitude.span(), toml::Value::Float(*amplitude.get_ref())),
            )?;
            Fault::NoisyWheel(wheel(r, w)?, *amplitude.get_ref())
        }
        (2, _, _, Some(p), _) => {
            plugin_name(r, p)?;
            Fault::PluginErrors(p.get_ref().clone(), f.ticks.as_ref().map(|t| *t.get_ref()))
        }
        (_, _, _, _, Some(p)) => {
            plugin_name(r, p)?;
            Fault::ClearPluginErrors(p.get_ref().clone())
        }
        _ => unreachable!("checked by only_one"),
    };
    Ok(Action::Fault(fault))
}

fn plugin_name(r: &Resolver<'_>, p: &Spanned<String>) -> Result<(), ScenarioError> {
    if super::parse::DEFAULT_PLUGINS.contains(&p.get_ref().as_str()) {
        Ok(())
    } else {
        Err(r.err(p, format!("unknown subsystem `{}`", p.get_ref())))
    }
}

fn swap(r: &Resolver<'_>, s: &RawStep, start: usize) -> Result<Action, ScenarioError> {
    let Some(w) = &s.swap else {
        unreachable!("checked by only_one")
    };
    let w = w.get_ref();
    plugin_name(r, &w.subsystem)?;
    if w.library.get_ref().is_empty() {
        return Err(r.src.error_at(start, "`library` must name a file"));
    }
    let base = r.src.path.parent().map(PathBuf::from).unwrap_or_default();
    Ok(Action::Swap {
        subsystem: w.subsystem.get_ref().clone(),
        library: base.join(w.library.get_ref()),
    })
}

/// A ramp in progress.
#[derive(Debug, Clone)]
struct ActiveRamp {
    signal: String,
    integral: bool,
    from: f64,
    to: f64,
    start: f64,
    over: f64,
}

/// Outcome of a command step, checked like an expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome {
    /// Where the step is written.
    pub pos: Pos,
    /// When it ran, s.
    pub t: f64,
    /// What it was.
    pub what: String,
    /// Whether it had to be accepted.
    pub accept: bool,
    /// What happened (`Err`: the reason it was refused).
    pub result: Result<(), String>,
}

/// Runs the steps of a scenario against a vehicle.
///
/// Timed steps wait in a queue sorted by time, so a tick looks at the next
/// one only; condition steps are checked every tick. Steps due in the same
/// tick fire in file order.
#[derive(Debug)]
pub struct Timeline {
    steps: Vec<Step>,
    /// Unfired timed steps, latest first (popped from the end).
    timed: Vec<usize>,
    /// Unfired condition steps.
    conditions: Vec<usize>,
    /// Steps due this tick (kept to reuse its allocation).
    due: Vec<usize>,
    ramps: Vec<ActiveRamp>,
    /// Outcomes of command steps so far.
    pub commands: Vec<CommandOutcome>,
}

impl Timeline {
    /// A timeline with nothing fired yet.
    pub fn new(steps: Vec<Step>) -> Self {
        let time = |i: usize| match steps[i].trigger {
            Trigger::At(t) => t,
            Trigger::When { .. } => f64::INFINITY,
        };
        let (mut timed, conditions): (Vec<usize>, Vec<usize>) =
            (0..steps.len()).partition(|&i| matches!(steps[i].trigger, Trigger::At(_)));
        timed.sort_by(|&a, &b| time(b).total_cmp(&time(a)).then(b.cmp(&a)));
        Self {
            steps,
            timed,
            conditions,
            due: Vec::new(),
            ramps: Vec::new(),
            commands: Vec::new(),
        }
    }

    /// Fires the steps due at the vehicle's current time and advances the
    /// ramps. An `Err` stops the scenario (a step that cannot be carried out).
    pub fn before_tick(
        &mut self,
        v: &mut Vehicle,
        file: &std::path::Path,
    ) -> Result<(), ScenarioError> {
        let t = v.time();
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        while let Some(&i) = self.timed.last() {
            match self.steps[i].trigger {
                Trigger::At(at) if at <= t + 1e-9 => {
                    due.push(i);
                    self.timed.pop();
                }
                _ => break,
            }
        }
        let steps = &self.steps;
        self.conditions.retain(|&i| match &steps[i].trigger {
            Trigger::When {
                signal,
                predicate,
                not_before,
                ..
            } if *not_before <= t + 1e-9 && predicate.holds(v.bus().get(*signal)) => {
                due.push(i);
                false
            }
            _ => true,
        });
        due.sort_unstable();
        for &i in &due {
            let step = self.steps[i].clone();
            if let Err(m) = self.fire(v, &step, t) {
                self.due = due;
                return Err(ScenarioError::at(file, step.pos, m));
            }
        }
        self.due = due;
        if self.ramps.is_empty() {
            return Ok(());
        }
        let mut result = Ok(());
        self.ramps.retain(|r| {
            let f = ((t - r.start) / r.over).clamp(0.0, 1.0);
            let mut x = r.from + (r.to - r.from) * f;
            let value = if r.integral {
                x = x.round();
                Value::Int(x as i64)
            } else {
                Value::Float(x)
            };
            if let Err(e) = set(v, vec![(r.signal.clone(), value)]) {
                result = Err(ScenarioError::whole(
                    file,
                    format!("ramp of {}: {e}", r.signal),
                ));
            }
            f < 1.0
        });
        result
    }

    fn fire(&mut self, v: &mut Vehicle, step: &Step, t: f64) -> Result<(), String> {
        match &step.action {
            Action::Set(values) => set(v, values.clone()),
            Action::Ramp {
                signal,
                integral,
                to,
                over,
            } => {
                let id = v.bus().id(signal).map_err(|e| e.to_string())?;
                self.ramps.retain(|r| r.signal != *signal);
                self.ramps.push(ActiveRamp {
                    signal: signal.clone(),
                    integral: *integral,
                    from: v.bus().get(id),
                    to: *to,
                    start: t,
                    over: *over,
                });
                Ok(())
            }
            Action::Crash(g) => set(v, vec![("Sim.Crash.Trigger".to_owned(), Value::Float(*g))]),
            Action::Command { command, accept } => {
                let (what, result) = run_command(v, command);
                self.commands.push(CommandOutcome {
                    pos: step.pos,
                    t,
                    what,
                    accept: *accept,
                    result,
                });
                Ok(())
            }
            Action::Fault(f) => match f {
                Fault::WheelSensor(w) => set(
                    v,
                    vec![(
                        "Sim.Fault.ABS.WheelSensor".to_owned(),
                        Value::Int(i64::from(*w)),
                    )],
                ),
                Fault::NoisyWheel(w, a) => set(
                    v,
                    vec![
                        (
                            "Sim.Fault.ABS.NoisyWheel".to_owned(),
                            Value::Int(i64::from(*w)),
                        ),
                        (
                            "Sim.Fault.ABS.WheelSensorNoise".to_owned(),
                            Value::Float(if *w == 0 { 0.0 } else { *a }),
                        ),
                    ],
                ),
                Fault::PluginErrors(p, ticks) => v.inject_plugin_errors(p, *ticks),
                Fault::ClearPluginErrors(p) => {
                    v.clear_plugin_errors(p);
                    Ok(())
                }
            },
            Action::Swap { subsystem, library } => Err(format!(
                "hot-swap is not available in this build (step swaps `{subsystem}` to {})",
                library.display()
            )),
        }
    }
}

/// An all-or-nothing write through the control path.
fn set(v: &mut Vehicle, values: Vec<(String, Value)>) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    control::apply(
        v,
        ControlMsg::Set {
            set: values,
            reply: Some(Box::new(move |r| {
                let _ = tx.send(r);
            })),
        },
    );
    match rx.try_recv() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(errors)) => Err(errors
            .iter()
            .map(|(p, why)| format!("{p}: {why}"))
            .collect::<Vec<_>>()
            .join("; ")),
        Err(_) => Err("the control path gave no answer".to_owned()),
    }
}

fn run_command(v: &mut Vehicle, command: &Command) -> (String, Result<(), String>) {
    match command {
        Command::Set(values) => {
            let what = values
                .iter()
                .map(|(p, x)| format!("{p} = {x}"))
                .collect::<Vec<_>>()
                .join(", ");
            (format!("set {what}"), set(v, values.clone()))
        }
        Command::Plugin {
            subsystem,
            name,
            value,
        } => {
            let (tx, rx) = mpsc::channel();
            control::apply(
                v,
                ControlMsg::PluginCommand {
                    subsystem: subsystem.clone(),
                    name: name.clone(),
                    value: *value,
                    reply: Some(Box::new(move |r| {
                        let _ = tx.send(r);
                    })),
                },
            );
            let result = rx
                .try_recv()
                .unwrap_or_else(|_| Err("the control path gave no answer".to_owned()));
            (format!("{subsystem}.{name}({value})"), result)
        }
    }
}
