//! Carrying out the timeline while the vehicle runs. Every change to the car
//! goes through the control path ([`control::apply`]), exactly as an MQTT
//! command or a dashboard key would; plugin error injection goes through
//! [`Vehicle::inject_plugin_errors`].

use super::source::{Pos, ScenarioError};
use super::steps::{Action, Command, Fault, Step, Trigger};
use std::sync::mpsc;
use tcu_engine::catalog::Value;
use tcu_engine::control::{self, ControlMsg};
use tcu_engine::sim::Vehicle;

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
            Action::Swap { subsystem, library } => {
                // Prepared right here: in virtual time the tick waits for it.
                let policy = tcu_engine::swap::SwapPolicy {
                    keys: Vec::new(),
                    allow_unsigned: true,
                };
                let catalog = v.bus().catalog().clone();
                let prepared = tcu_engine::swap::prepare(
                    &[(subsystem.clone(), library.clone())],
                    &policy,
                    &catalog,
                    &tcu_engine::swap::store::Store::scratch(),
                );
                v.request_swap(prepared, None);
                Ok(())
            }
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
