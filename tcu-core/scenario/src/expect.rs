//! Expectations as a scenario file resolves them: what must hold of a signal
//! at a time, throughout or at some point of a window, never, or how much it
//! must change; and which events must (or must not) be raised.
//! [`super::verdict`] evaluates them while the scenario runs.

pub use crate::predicate::Predicate;

use super::model::RawExpect;
use super::resolve::{Resolver, only_one};
use super::source::{Pos, ScenarioError};
use tcu_engine::catalog::SignalId;
use toml::Spanned;

/// How a signal predicate is applied over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Temporal {
    /// At one time.
    At(f64),
    /// At every sample of the window.
    Always,
    /// At some sample of the window.
    Eventually,
    /// At no sample of the window.
    Never,
}

/// What is checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// A predicate on a signal over time.
    Signal {
        /// The signal.
        id: SignalId,
        /// Its path.
        path: String,
        /// The predicate.
        predicate: Predicate,
        /// When.
        temporal: Temporal,
    },
    /// The change of a signal from the window's start to its end.
    Change {
        /// The signal.
        id: SignalId,
        /// Its path.
        path: String,
        /// At least this much (positive: a rise, negative: a fall).
        by: f64,
    },
    /// Events of a kind.
    Event {
        /// Kind.
        kind: String,
        /// Detail must contain this.
        detail: Option<String>,
        /// Exactly this many (`None`: at least one; `Some(0)`: none).
        count: Option<usize>,
    },
}

/// One resolved expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// Test case name.
    pub name: String,
    /// Where it is written.
    pub pos: Pos,
    /// What.
    pub check: Check,
    /// `[from, until]`, s.
    pub window: (f64, f64),
}

fn flag(b: &Option<Spanned<bool>>) -> bool {
    b.as_ref().is_some_and(|b| *b.get_ref())
}

/// Resolves one `[[expect]]`.
pub(super) fn resolve(
    r: &Resolver<'_>,
    e: &Spanned<RawExpect>,
) -> Result<Expectation, ScenarioError> {
    let start = e.span().start;
    let x = e.get_ref();
    let window = match &x.within {
        Some(w) => r.window(w)?,
        None => (0.0, r.duration),
    };
    let (check, default_name) = match (&x.signal, &x.event) {
        (Some(_), Some(ev)) => {
            return Err(r.err(
                ev,
                "an expectation is about a `signal` or an `event`, not both",
            ));
        }
        (None, None) => {
            return Err(r
                .src
                .error_at(start, "an expectation needs `signal` or `event`"));
        }
        (None, Some(kind)) => {
            if x.predicate().equals.is_some()
                || x.at.is_some()
                || x.increases_by.is_some()
                || x.decreases_by.is_some()
            {
                return Err(r.err(
                    kind,
                    "an event expectation takes `detail`, `count`, `never` and `within`",
                ));
            }
            let count = if flag(&x.never) { Some(0) } else { x.count };
            let name = format!(
                "event {}{}{}",
                kind.get_ref(),
                x.detail
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                if count == Some(0) {
                    " never raised"
                } else {
                    ""
                }
            );
            (
                Check::Event {
                    kind: kind.get_ref().clone(),
                    detail: x.detail.clone(),
                    count,
                },
                name,
            )
        }
        (Some(path), None) => {
            let id = r.signal(path)?;
            let p = path.get_ref().clone();
            let change = match (&x.increases_by, &x.decreases_by) {
                (Some(_), Some(d)) => {
                    return Err(r.err(d, "give only one of `increases_by`, `decreases_by`"));
                }
                (Some(by), None) => Some(*by.get_ref()),
                (None, Some(by)) => Some(-*by.get_ref()),
                (None, None) => None,
            };
            match (change, r.predicate(id, x.predicate(), start)?) {
                (Some(_), Some(_)) => {
                    return Err(r.src.error_at(
                        start,
                        "`increases_by`/`decreases_by` take no other predicate",
                    ));
                }
                (Some(by), None) => {
                    let verb = if by >= 0.0 { "rises" } else { "falls" };
                    let name = format!("{p} {verb} by at least {}", by.abs());
                    (Check::Change { id, path: p, by }, name)
                }
                (None, None) => {
                    return Err(r.src.error_at(
                        start,
                        "a signal expectation needs `equals`, `above`, `below`, `between`, `increases_by` or `decreases_by`",
                    ));
                }
                (None, Some(predicate)) => {
                    let modes = [
                        ("at", x.at.is_some()),
                        ("always", flag(&x.always)),
                        ("eventually", flag(&x.eventually)),
                        ("never", flag(&x.never)),
                    ];
                    let temporal = if modes.iter().all(|(_, m)| !m) && x.within.is_some() {
                        Temporal::Always
                    } else {
                        match only_one(r, start, &modes)? {
                            0 => {
                                let at =
                                    x.at.as_ref().map(|t| r.time(t)).transpose()?.unwrap_or(0.0);
                                if x.within.is_some() {
                                    return Err(r.src.error_at(start, "`at` takes no `within`"));
                                }
                                Temporal::At(at)
                            }
                            1 => Temporal::Always,
                            2 => Temporal::Eventually,
                            _ => Temporal::Never,
                        }
                    };
                    let when = match temporal {
                        Temporal::At(t) => format!("at {t} s"),
                        Temporal::Always => "always".to_owned(),
                        Temporal::Eventually => "eventually".to_owned(),
                        Temporal::Never => "never".to_owned(),
                    };
                    let name = format!("{p} {predicate} {when}");
                    (
                        Check::Signal {
                            id,
                            path: p,
                            predicate,
                            temporal,
                        },
                        name,
                    )
                }
            }
        }
    };
    let default_name = match (&check, x.within.is_some()) {
        (
            Check::Signal {
                temporal: Temporal::At(_),
                ..
            },
            _,
        )
        | (_, false) => default_name,
        _ => format!("{default_name} in [{}, {}] s", window.0, window.1),
    };
    Ok(Expectation {
        name: x.name.clone().unwrap_or(default_name),
        pos: r.pos(e),
        check,
        window,
    })
}
