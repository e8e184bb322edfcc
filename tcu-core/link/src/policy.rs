//! Which remote commands the link passes on, and how many: `[mqtt]
//! commands` lists the paths a command may set (`*` every actuator, a
//! trailing `.*` a branch, a leading `!` an exclusion, which wins over any
//! inclusion), and `[mqtt] command_limit` per `command_window` bounds the
//! rate. A plugin's named command is matched as `command:<subsystem>.<name>`.
//! A `capture_rules` request is matched as `Sim.Record.CaptureRules`
//! ([`crate::capture::RULES_PATH`]).
//! A refused command is answered like any rejection, with the reason; the
//! vehicle never sees it.
//!
//! The limiter is a pure function of the times it is given, so tests drive
//! it without a clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tcu_engine::bus::SetErrors;

/// One `[mqtt] commands` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// `*`.
    All,
    /// `A.B.*`: the branch `A.B.` (kept with its dot).
    Branch(String),
    /// A path.
    Exact(String),
}

impl Pattern {
    fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t == "*" {
            Ok(Self::All)
        } else if let Some(branch) = t.strip_suffix('*') {
            if branch.is_empty() || !branch.ends_with('.') || branch.contains('*') {
                return Err(format!(
                    "`{text}`: a pattern is `*`, a path, or a branch ending in `.*`"
                ));
            }
            Ok(Self::Branch(branch.to_owned()))
        } else if t.is_empty() || t.contains('*') {
            Err(format!(
                "`{text}`: a pattern is `*`, a path, or a branch ending in `.*`"
            ))
        } else {
            Ok(Self::Exact(t.to_owned()))
        }
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            Self::All => true,
            Self::Branch(b) => path.starts_with(b.as_str()),
            Self::Exact(p) => p == path,
        }
    }
}

/// The paths remote commands may set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

impl Default for Allowed {
    /// Every path, as before the policy existed.
    fn default() -> Self {
        Self {
            include: vec![Pattern::All],
            exclude: Vec::new(),
        }
    }
}

impl Allowed {
    /// From the `[mqtt] commands` list; the error names the bad entry.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut allowed = Self {
            include: Vec::new(),
            exclude: Vec::new(),
        };
        for e in entries {
            match e.trim().strip_prefix('!') {
                Some(rest) => allowed.exclude.push(Pattern::parse(rest)?),
                None => allowed.include.push(Pattern::parse(e)?),
            }
        }
        Ok(allowed)
    }

    /// Whether a command may set `path`.
    pub fn allows(&self, path: &str) -> bool {
        self.include.iter().any(|p| p.matches(path))
            && !self.exclude.iter().any(|p| p.matches(path))
    }
}

/// The name a plugin command is matched by.
pub fn plugin_command_path(subsystem: &str, name: &str) -> String {
    format!("command:{subsystem}.{name}")
}

/// At most `limit` commands in any `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Commands per window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

/// The resolved policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandPolicy {
    /// Paths commands may set.
    pub allowed: Allowed,
    /// `None`: no limit.
    pub rate: Option<RateLimit>,
}

/// Applies a [`CommandPolicy`]: remembers when recent commands came.
#[derive(Debug)]
pub struct Gatekeeper {
    policy: CommandPolicy,
    recent: VecDeque<Instant>,
}

impl Gatekeeper {
    /// A gatekeeper for `policy`.
    pub fn new(policy: CommandPolicy) -> Self {
        Self {
            policy,
            recent: VecDeque::new(),
        }
    }

    /// Whether a command arriving at `now` that touches `paths` goes on;
    /// else the reasons, keyed like any rejection (by path, or `payload`
    /// for the rate). A refused command does not count against the rate.
    pub fn admit<'a>(
        &mut self,
        paths: impl IntoIterator<Item = &'a str>,
        now: Instant,
    ) -> Result<(), SetErrors> {
        let mut errors = SetErrors::new();
        if let Some(rate) = &self.policy.rate {
            while self
                .recent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= rate.window)
            {
                self.recent.pop_front();
            }
            if self.recent.len() >= rate.limit as usize {
                errors.insert(
                    "payload".into(),
                    format!(
                        "rate limit: at most {} commands per {} ([mqtt] command_limit, command_window)",
                        rate.limit,
                        humantime::format_duration(rate.window)
                    ),
                );
                return Err(errors);
            }
        }
        for p in paths {
            if !self.policy.allowed.allows(p) {
                errors.insert(
                    p.to_owned(),
                    "not allowed for remote commands ([mqtt] commands)".into(),
                );
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if self.policy.rate.is_some() {
            self.recent.push_back(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str], rate: Option<(u32, u64)>) -> Gatekeeper {
        let entries: Vec<String> = entries.iter().map(|s| (*s).to_owned()).collect();
        Gatekeeper::new(CommandPolicy {
            allowed: Allowed::parse(&entries).unwrap(),
            rate: rate.map(|(limit, secs)| RateLimit {
                limit,
                window: Duration::from_secs(secs),
            }),
        })
    }

    #[test]
    fn an_excluded_path_is_refused_with_its_reason_and_the_rest_pass() {
        let mut g = policy(&["*", "!Sim.Crash.*"], None);
        let now = Instant::now();
        let e = g.admit(["Sim.Crash.Trigger"], now).unwrap_err();
        assert!(e["Sim.Crash.Trigger"].contains("[mqtt] commands"), "{e:?}");
        assert!(
            g.admit(["Vehicle.Cabin.HVAC.IsAirConditioningActive"], now)
                .is_ok()
        );
        let e = g
            .admit(["Vehicle.Speed", "Sim.Crash.Trigger"], now)
            .unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
    }

    #[test]
    fn only_the_listed_branches_are_allowed() {
        let mut g = policy(&["Vehicle.Cabin.*", "command:abs.reset"], None);
        let now = Instant::now();
        assert!(
            g.admit(["Vehicle.Cabin.Seat.Row1.DriverSide.Heating"], now)
                .is_ok()
        );
        assert!(g.admit(["Vehicle.Speed"], now).is_err());
        assert!(
            g.admit([plugin_command_path("abs", "reset").as_str()], now)
                .is_ok()
        );
        assert!(
            g.admit(
                [plugin_command_path("abs", "fault.wheel_sensor").as_str()],
                now
            )
            .is_err()
        );
    }

    #[test]
    fn the_default_allows_every_path() {
        let mut g = Gatekeeper::new(CommandPolicy::default());
        assert!(g.admit(["Sim.Crash.Trigger"], Instant::now()).is_ok());
    }

    #[test]
    fn a_burst_over_the_rate_limit_is_refused_until_the_window_moves_on() {
        let mut g = policy(&["*"], Some((3, 10)));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(
                g.admit(["Vehicle.Speed"], t0 + Duration::from_secs(i))
                    .is_ok()
            );
        }
        let e = g
            .admit(["Vehicle.Speed"], t0 + Duration::from_secs(3))
            .unwrap_err();
        assert!(
            e["payload"].contains("rate limit: at most 3 commands per 10s"),
            "{e:?}"
        );
        // The first one leaves the window at t0 + 10 s.
        assert!(
            g.admit(["Vehicle.Speed"], t0 + Duration::from_secs(10))
                .is_ok()
        );
        assert!(
            g.admit(["Vehicle.Speed"], t0 + Duration::from_secs(10))
                .is_err()
        );
    }

    #[test]
    fn a_bad_pattern_is_named() {
        let e = Allowed::parse(&["Vehicle.*.Speed".to_owned()]).unwrap_err();
        assert!(e.contains("Vehicle.*.Speed"), "{e}");
        assert!(Allowed::parse(&["!".to_owned()]).is_err());
    }
}
