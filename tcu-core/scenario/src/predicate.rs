//! Value predicates (`= v ± tol`, `> v`, `< v`, `in [lo, hi]`): what an
//! expectation or a trigger checks a signal's value against.

use std::fmt;

/// A value predicate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Predicate {
    /// Within `tolerance` of `value`.
    Equals {
        /// Slot value.
        value: f64,
        /// Absolute tolerance.
        tolerance: f64,
        /// Print as a boolean.
        boolean: bool,
    },
    /// Strictly above.
    Above(f64),
    /// Strictly below.
    Below(f64),
    /// Inclusive range.
    Between(f64, f64),
}

impl Predicate {
    /// Whether `x` satisfies it.
    pub fn holds(&self, x: f64) -> bool {
        match *self {
            Self::Equals {
                value, tolerance, ..
            } => (x - value).abs() <= tolerance + 1e-12,
            Self::Above(v) => x > v,
            Self::Below(v) => x < v,
            Self::Between(lo, hi) => (lo..=hi).contains(&x),
        }
    }

    /// How a value of this predicate's signal is printed.
    pub fn show(&self, x: f64) -> String {
        match self {
            Self::Equals { boolean: true, .. } => (x != 0.0).to_string(),
            _ => format!("{x}"),
        }
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Equals {
                value,
                boolean: true,
                ..
            } => write!(f, "= {}", *value != 0.0),
            Self::Equals {
                value, tolerance, ..
            } if *tolerance > 0.0 => write!(f, "= {value} ± {tolerance}"),
            Self::Equals { value, .. } => write!(f, "= {value}"),
            Self::Above(v) => write!(f, "> {v}"),
            Self::Below(v) => write!(f, "< {v}"),
            Self::Between(lo, hi) => write!(f, "in [{lo}, {hi}]"),
        }
    }
}
