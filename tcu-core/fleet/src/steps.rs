//! Steps of a fleet file: at a time after each vehicle's start, an action
//! for one VIN, a share of the fleet, or every vehicle.
//!
//! ```toml
//! [[steps]]
//! at = "60s"
//! share = 0.05          # or vin = "WTCUZ0000TF000001"; neither: every vehicle
//! crash = 100.0         # Sim.Crash.Trigger, percent of the speed taken away
//!
//! [[steps]]
//! at = "90s"
//! set = { "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature" = 26.0 }
//!
//! [[steps]]
//! at = "2m"
//! vin = "WTCUZ0000TF000001"
//! command = { subsystem = "battery", name = "fault.cell_overtemp", value = 1.0 }
//!
//! [[steps]]
//! at = "5m"
//! outage = "20s"        # the broker is out of reach for the vehicle this long
//! ```
//!
//! Which vehicles a share takes is drawn from the fleet seed, the step's
//! position and the VIN alone, so every shard of a fleet agrees on it and
//! the same file and seed take the same vehicles every time. A step runs
//! through the vehicle's control path (as an MQTT command would), at the
//! first tick at or after its time in the vehicle's own clock, and raises a
//! `fleet.step` event saying what it did. An outage goes to the vehicle's
//! link instead: it drops its connection (without DISCONNECT, so the broker
//! publishes the last will) and stays offline for that long while the
//! outbox keeps every message; it then reconnects through the fleet's
//! connection gate, so a fleet-wide outage ends without a storm.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tcu_engine::catalog::{Catalog, Value};
use tcu_engine::control::ControlMsg;
use tcu_sdk::rng::{SplitMix64, derive_seed};

/// The actuator a crash step writes.
const CRASH: &str = "Sim.Crash.Trigger";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    at: String,
    vin: Option<String>,
    share: Option<f64>,
    crash: Option<f64>,
    set: Option<BTreeMap<String, toml::Value>>,
    command: Option<RawCommand>,
    outage: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    subsystem: String,
    name: String,
    #[serde(default)]
    value: f64,
}

/// Who a step is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Every vehicle.
    All,
    /// This VIN.
    Vin(String),
    /// Each vehicle with this probability, drawn from seed, step and VIN.
    Share(f64),
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write actuators, all or nothing (a crash is `Sim.Crash.Trigger`).
    Set(Vec<(String, Value)>),
    /// Run a plugin command.
    Command {
        /// Subsystem.
        subsystem: String,
        /// Command.
        name: String,
        /// Argument.
        value: f64,
    },
    /// Take the vehicle's link offline this long.
    Outage(Duration),
}

impl Action {
    /// The control message that carries it out (none for an outage, which
    /// is the link's).
    pub fn message(&self) -> Option<ControlMsg> {
        match self {
            Action::Set(set) => Some(ControlMsg::Set {
                set: set.clone(),
                reply: None,
            }),
            Action::Command {
                subsystem,
                name,
                value,
            } => Some(ControlMsg::PluginCommand {
                subsystem: subsystem.clone(),
                name: name.clone(),
                value: *value,
                reply: None,
            }),
            Action::Outage(_) => None,
        }
    }

    /// What it does, for the `fleet.step` event.
    pub fn describe(&self) -> String {
        match self {
            Action::Set(set) => {
                let each: Vec<String> = set.iter().map(|(p, v)| format!("{p} = {v:?}")).collect();
                format!("set {}", each.join(", "))
            }
            Action::Command {
                subsystem,
                name,
                value,
            } => format!("command {subsystem} {name} {value}"),
            Action::Outage(d) => format!("link offline for {}", humantime::format_duration(*d)),
        }
    }
}

/// One checked step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Time after the vehicle's start.
    pub at: Duration,
    /// Who.
    pub target: Target,
    /// What.
    pub action: Action,
}

/// The steps of `vin` in the fleet of `seed`, in time order, with their
/// position in the file.
pub fn for_vehicle(steps: &[Step], seed: u64, vin: &str) -> Vec<(usize, Step)> {
    let mut mine: Vec<(usize, Step)> = steps
        .iter()
        .enumerate()
        .filter(|(k, s)| takes(s, *k, seed, vin))
        .map(|(k, s)| (k, s.clone()))
        .collect();
    mine.sort_by_key(|(k, s)| (s.at, *k));
    mine
}

/// Whether step `k` is for `vin`.
pub fn takes(step: &Step, k: usize, seed: u64, vin: &str) -> bool {
    match &step.target {
        Target::All => true,
        Target::Vin(v) => v == vin,
        Target::Share(p) => {
            SplitMix64::new(derive_seed(seed, &format!("step/{k}/{vin}"))).next_f64() < *p
        }
    }
}

/// Checks the steps of fleet file `file`; errors name the step and field.
pub(crate) fn parse(file: &str, raw: Vec<RawStep>) -> Result<Vec<Step>, String> {
    let catalog = Catalog::builtin();
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let field = |f: &str| format!("{file}: `steps[{i}].{f}`");
            let at = humantime::parse_duration(&r.at)
                .map_err(|e| format!("{} = `{}`: {e}", field("at"), r.at))?;
            let target = match (r.vin, r.share) {
                (None, None) => Target::All,
                (Some(v), None) => Target::Vin(v),
                (None, Some(p)) if p.is_finite() && (0.0..=1.0).contains(&p) => Target::Share(p),
                (None, Some(p)) => {
                    return Err(format!("{} = {p}: a share is 0 to 1", field("share")));
                }
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "{file}: `steps[{i}]`: give `vin` or `share`, not both"
                    ));
                }
            };
            let action = match (r.crash, r.set, r.command, r.outage) {
                (Some(pct), None, None, None) => {
                    Action::Set(vec![(CRASH.to_owned(), Value::Float(pct))])
                }
                (None, None, None, Some(d)) => {
                    let d = humantime::parse_duration(&d)
                        .map_err(|e| format!("{} = `{d}`: {e}", field("outage")))?;
                    if d.is_zero() {
                        return Err(format!(
                            "{}: an outage lasts longer than 0 s",
                            field("outage")
                        ));
                    }
                    Action::Outage(d)
                }
                (None, Some(set), None, None) => {
                    let mut out = Vec::new();
                    for (path, v) in set {
                        let value = match v {
                            toml::Value::Float(x) => Value::Float(x),
                            toml::Value::Integer(x) => Value::Int(x),
                            toml::Value::Boolean(x) => Value::Bool(x),
                            other => {
                                return Err(format!(
                                    "{}: {other} is not a number or boolean",
                                    field(&format!("set.{path}"))
                                ));
                            }
                        };
                        out.push((path, value));
                    }
                    Action::Set(out)
                }
                (None, None, Some(c), None) => Action::Command {
                    subsystem: c.subsystem,
                    name: c.name,
                    value: c.value,
                },
                _ => {
                    return Err(format!(
                        "{file}: `steps[{i}]`: give one of `crash`, `set`, `command`, `outage`"
                    ));
                }
            };
            if let Action::Set(set) = &action {
                for (path, _) in set {
                    if catalog.id(path).is_none() {
                        return Err(format!(
                            "{}: no such signal in the catalog",
                            field(&format!("set.{path}"))
                        ));
                    }
                }
            }
            Ok(Step { at, target, action })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(text: &str) -> Result<Vec<Step>, String> {
        #[derive(Deserialize)]
        struct F {
            steps: Vec<RawStep>,
        }
        let f: F = toml::from_str(text).map_err(|e| e.to_string())?;
        parse("fleet.toml", f.steps)
    }

    #[test]
    fn a_share_takes_that_share_of_the_fleet_the_same_vehicles_for_the_same_seed() {
        let s = steps("[[steps]]\nat = \"60s\"\nshare = 0.05\ncrash = 100.0\n").unwrap();
        assert_eq!(s[0].at, Duration::from_secs(60));
        let vins: Vec<String> = (0..4000).map(|i| crate::vin::derive("WTCUZ", i)).collect();
        let taken = |seed| -> Vec<&String> {
            vins.iter()
                .filter(|v| !for_vehicle(&s, seed, v).is_empty())
                .collect()
        };
        let a = taken(3);
        let share = a.len() as f64 / vins.len() as f64;
        assert!((share - 0.05).abs() < 0.01, "{share}");
        assert_eq!(a, taken(3));
        assert_ne!(a, taken(4), "another seed, other vehicles");
    }

    #[test]
    fn a_vin_step_is_for_that_vehicle_only_and_a_step_without_target_for_all() {
        let s = steps(
            "[[steps]]\nat = \"2s\"\nvin = \"WTCUZ0000TF000001\"\n\
             command = { subsystem = \"battery\", name = \"set_soc\", value = 50.0 }\n\
             [[steps]]\nat = \"1s\"\nset = { \"Sim.Crash.Trigger\" = 30.0 }\n",
        )
        .unwrap();
        let mine = for_vehicle(&s, 1, "WTCUZ0000TF000001");
        assert_eq!(mine.len(), 2);
        assert_eq!(mine[0].0, 1, "in time order");
        assert_eq!(for_vehicle(&s, 1, "WTCUZ0000TF000002").len(), 1);
    }

    #[test]
    fn an_outage_step_is_the_links_and_lasts_as_long_as_it_says() {
        let s = steps("[[steps]]\nat = \"5s\"\noutage = \"20s\"\n").unwrap();
        assert_eq!(s[0].target, Target::All);
        assert_eq!(s[0].action, Action::Outage(Duration::from_secs(20)));
        assert!(s[0].action.message().is_none(), "no control message");
        assert_eq!(s[0].action.describe(), "link offline for 20s");
    }

    #[test]
    fn bad_steps_name_the_step_and_the_field() {
        for (text, want) in [
            ("[[steps]]\nat = \"soon\"\ncrash = 1.0\n", "`steps[0].at`"),
            (
                "[[steps]]\nat = \"1s\"\nshare = 2.0\ncrash = 1.0\n",
                "`steps[0].share`",
            ),
            (
                "[[steps]]\nat = \"1s\"\nshare = 0.5\nvin = \"X\"\ncrash = 1.0\n",
                "not both",
            ),
            (
                "[[steps]]\nat = \"1s\"\n",
                "one of `crash`, `set`, `command`, `outage`",
            ),
            (
                "[[steps]]\nat = \"1s\"\noutage = \"a while\"\n",
                "`steps[0].outage`",
            ),
            (
                "[[steps]]\nat = \"1s\"\noutage = \"0s\"\n",
                "`steps[0].outage`",
            ),
            (
                "[[steps]]\nat = \"1s\"\nset = { \"No.Such\" = 1.0 }\n",
                "`steps[0].set.No.Such`",
            ),
        ] {
            let e = steps(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
