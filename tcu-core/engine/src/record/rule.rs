//! Capture rules: what starts a capture (an event kind or a signal
//! predicate) and the window kept around it, parsed from the text of the
//! configuration or of a remote `capture_rules` request.

use crate::catalog::Catalog;

/// Seconds kept before a trigger when a rule does not say.
pub const DEFAULT_BEFORE_S: f64 = 10.0;
/// Seconds kept after a trigger when a rule does not say.
pub const DEFAULT_AFTER_S: f64 = 5.0;

/// What starts a capture.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// An event of this kind.
    Event(String),
    /// A signal compared with a value.
    Signal {
        /// Signal path.
        path: String,
        /// `>`, `>=`, `<`, `<=`, `==` or `!=`.
        op: String,
        /// The value compared with.
        value: f64,
    },
}

/// A capture rule: its trigger and the window around it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureRule {
    /// The text it was parsed from (names its files).
    pub text: String,
    /// What starts it.
    pub trigger: Trigger,
    /// Seconds kept before the trigger.
    pub before_s: f64,
    /// Seconds kept after it.
    pub after_s: f64,
}

impl CaptureRule {
    /// Parses `abs.engaged` (an event kind) or `Vehicle.Speed > 130` (a
    /// catalog signal, an operator, a number); signals are checked against
    /// `catalog`.
    pub fn parse(
        text: &str,
        before_s: f64,
        after_s: f64,
        catalog: &Catalog,
    ) -> Result<Self, String> {
        for (name, v) in [("before", before_s), ("after", after_s)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!(
                    "capture `{text}`: {name} = {v} is not a number of seconds of at least 0"
                ));
            }
        }
        let parts: Vec<&str> = text.split_whitespace().collect();
        let trigger = match parts.as_slice() {
            [kind] if !kind.is_empty() => Trigger::Event((*kind).to_owned()),
            [path, op, value] => {
                if !matches!(*op, ">" | ">=" | "<" | "<=" | "==" | "!=") {
                    return Err(format!(
                        "capture `{text}`: `{op}` is not one of > >= < <= == !="
                    ));
                }
                if catalog.id(path).is_none() {
                    return Err(format!(
                        "capture `{text}`: `{path}` is not a signal of the catalog"
                    ));
                }
                let value = match *value {
                    "true" => 1.0,
                    "false" => 0.0,
                    v => v
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| format!("capture `{text}`: `{v}` is not a number"))?,
                };
                Trigger::Signal {
                    path: (*path).to_owned(),
                    op: (*op).to_owned(),
                    value,
                }
            }
            _ => {
                return Err(format!(
                    "capture `{text}`: expected an event kind (`abs.engaged`) or `SIGNAL OP VALUE` (`Vehicle.Speed > 130`)"
                ));
            }
        };
        Ok(Self {
            text: text.to_owned(),
            trigger,
            before_s,
            after_s,
        })
    }
}

/// One rule of a remote `capture_rules` request, not yet checked against
/// the catalog (the link parses the JSON; the capturer, which has the
/// catalog, checks it).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    /// The rule's text.
    pub rule: String,
    /// Seconds kept before the trigger.
    pub before_s: f64,
    /// Seconds kept after it.
    pub after_s: f64,
}

impl RuleSpec {
    /// The spec a parsed rule was made from.
    pub fn of(rule: &CaptureRule) -> Self {
        Self {
            rule: rule.text.clone(),
            before_s: rule.before_s,
            after_s: rule.after_s,
        }
    }
}
