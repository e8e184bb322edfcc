//! Timeline steps as a scenario file resolves them: when each fires (a time,
//! or the first tick a condition holds) and what it does. Validation happens
//! here, with positions; [`super::timeline`] carries the steps out.

use super::model::{RawEnvironment, RawStep};
use super::resolve::{Resolver, only_one};
use super::source::{Pos, ScenarioError};
use crate::predicate::Predicate;
use std::path::PathBuf;
use tcu_engine::catalog::{DataType, SignalId, Value};
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
    if crate::model::DEFAULT_PLUGINS.contains(&p.get_ref().as_str()) {
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
