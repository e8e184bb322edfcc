//! Evaluating expectations while a scenario runs: one sample per tick, so
//! nothing is kept but what the verdict needs. A failure message always names
//! the expectation's check, the time, the expected and the actual value.

use super::expect::{Check, Expectation, Temporal};
use tcu_engine::bus::Bus;
use tcu_engine::sim::Event;

/// Slack on time comparisons: tick times are sums of binary fractions.
const T_EPS: f64 = 1e-6;

/// The verdict of one expectation.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// It held.
    Passed,
    /// It did not: what was expected, when, and what was seen.
    Failed(String),
}

/// Evaluates one expectation sample by sample.
#[derive(Debug, Clone)]
pub struct Tracker {
    /// The expectation.
    pub exp: Expectation,
    verdict: Option<Verdict>,
    first: Option<f64>,
    last: Option<(f64, f64)>,
    range: Option<(f64, f64)>,
}

impl Tracker {
    /// Starts tracking.
    pub fn new(exp: Expectation) -> Self {
        Self {
            exp,
            verdict: None,
            first: None,
            last: None,
            range: None,
        }
    }

    /// Looks at the bus at time `t`.
    pub fn sample(&mut self, t: f64, bus: &Bus) {
        if self.verdict.is_some() {
            return;
        }
        let (from, until) = self.exp.window;
        let inside = t >= from - T_EPS && t <= until + T_EPS;
        match &self.exp.check {
            Check::Signal {
                id,
                path,
                predicate,
                temporal,
            } => {
                let x = bus.get(*id);
                let fail = |what: &str| {
                    Some(Verdict::Failed(format!(
                        "at t={t:.3} s: expected {path} {predicate}{what}, actual {}",
                        predicate.show(x)
                    )))
                };
                match temporal {
                    Temporal::At(at) if t >= at - T_EPS => {
                        self.verdict = if predicate.holds(x) {
                            Some(Verdict::Passed)
                        } else {
                            fail("")
                        };
                    }
                    Temporal::Always if inside && !predicate.holds(x) => {
                        self.verdict = fail(" throughout")
                    }
                    Temporal::Eventually if inside => {
                        if predicate.holds(x) {
                            self.verdict = Some(Verdict::Passed);
                        }
                        self.range =
                            Some(self.range.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))));
                        self.last = Some((t, x));
                    }
                    Temporal::Never if inside && predicate.holds(x) => {
                        self.verdict = fail(" never, but it was")
                    }
                    _ => {}
                }
            }
            Check::Change { id, .. } if inside => {
                let x = bus.get(*id);
                self.first.get_or_insert(x);
                self.last = Some((t, x));
            }
            _ => {}
        }
    }

    /// The verdict once the run is over, given every event it raised.
    pub fn finish(&self, events: &[Event]) -> Verdict {
        if let Some(v) = &self.verdict {
            return v.clone();
        }
        let (from, until) = self.exp.window;
        match &self.exp.check {
            Check::Signal {
                path,
                predicate,
                temporal,
                ..
            } => match temporal {
                Temporal::Eventually => {
                    let seen = match (self.range, self.last) {
                        (Some((lo, hi)), Some((t, x))) => format!(
                            "actual values ranged over [{}, {}], last {} at t={t:.3} s",
                            predicate.show(lo),
                            predicate.show(hi),
                            predicate.show(x)
                        ),
                        _ => "no sample fell in the window".to_owned(),
                    };
                    Verdict::Failed(format!(
                        "expected {path} {predicate} at some time in [{from}, {until}] s; {seen}"
                    ))
                }
                Temporal::At(at) => Verdict::Failed(format!("the run ended before t={at} s")),
                _ => Verdict::Passed,
            },
            Check::Change { path, by, .. } => match (self.first, self.last) {
                (Some(a), Some((t, b)))
                    if (*by >= 0.0 && b - a >= *by) || (*by < 0.0 && b - a <= *by) =>
                {
                    let _ = t;
                    Verdict::Passed
                }
                (Some(a), Some((t, b))) => Verdict::Failed(format!(
                    "expected {path} to {} by at least {} over [{from}, {until}] s; actual {a} -> {b} (change {}) at t={t:.3} s",
                    if *by >= 0.0 { "rise" } else { "fall" },
                    by.abs(),
                    b - a
                )),
                _ => Verdict::Failed(format!("no sample of {path} fell in [{from}, {until}] s")),
            },
            Check::Event {
                kind,
                detail,
                count,
            } => {
                let matching: Vec<&Event> = events
                    .iter()
                    .filter(|e| {
                        e.kind == *kind
                            && e.t >= from - T_EPS
                            && e.t <= until + T_EPS
                            && detail
                                .as_ref()
                                .is_none_or(|d| e.detail.contains(d.as_str()))
                    })
                    .collect();
                let ok = match count {
                    None => !matching.is_empty(),
                    Some(n) => matching.len() == *n,
                };
                if ok {
                    return Verdict::Passed;
                }
                let what = detail
                    .as_ref()
                    .map(|d| format!(" with detail containing `{d}`"))
                    .unwrap_or_default();
                let wanted = match count {
                    None => "at least one".to_owned(),
                    Some(n) => format!("exactly {n}"),
                };
                let seen: Vec<String> = events
                    .iter()
                    .filter(|e| e.kind == *kind)
                    .map(|e| format!("t={:.3} s `{}`", e.t, e.detail))
                    .collect();
                Verdict::Failed(format!(
                    "expected {wanted} `{kind}` event{what} in [{from}, {until}] s, actual {} matching; all `{kind}` events: {}",
                    matching.len(),
                    if seen.is_empty() {
                        "none".to_owned()
                    } else {
                        seen.join(", ")
                    }
                ))
            }
        }
    }
}
