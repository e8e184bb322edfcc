//! Per-signal tolerances (`--tolerances FILE`): how far the candidate's
//! output may be from the current version's before it counts as a
//! divergence.
//!
//! ```toml
//! [default]            # every signal not listed below
//! abs = 1e-9
//! rel = 1e-9
//! [signals."Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"]
//! abs = 0.05           # a field left out is the default's
//! ```
//!
//! A difference is within tolerance when it is at most `abs`, or at most
//! `rel` times the larger magnitude of the two values.

use crate::VetError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use tcu_engine::catalog::Catalog;

/// One signal's tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tolerance {
    /// Largest absolute difference allowed.
    pub abs: f64,
    /// Largest difference relative to the larger magnitude allowed.
    pub rel: f64,
}

impl Tolerance {
    /// True when `a` and `b` are within this tolerance of each other.
    #[inline]
    pub fn admits(self, a: f64, b: f64) -> bool {
        let d = (a - b).abs();
        // NaN on either side is never within tolerance.
        d <= self.abs || d <= self.rel * a.abs().max(b.abs())
    }
}

/// Tolerances of every signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Tolerances {
    default: Tolerance,
    signals: BTreeMap<String, Tolerance>,
}

impl Default for Tolerances {
    /// Nothing but rounding noise allowed.
    fn default() -> Self {
        Self {
            default: Tolerance {
                abs: 1e-9,
                rel: 1e-9,
            },
            signals: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTolerance {
    abs: Option<f64>,
    rel: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    default: RawTolerance,
    #[serde(default)]
    signals: BTreeMap<String, RawTolerance>,
}

impl Tolerances {
    /// Reads a tolerance file; every signal it names must be in `catalog`.
    pub fn load(path: &Path, catalog: &Catalog) -> Result<Self, VetError> {
        let text = std::fs::read_to_string(path).map_err(|source| VetError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text, catalog)
    }

    /// Parses the text of a tolerance file (`path` for messages).
    pub fn parse(path: &Path, text: &str, catalog: &Catalog) -> Result<Self, VetError> {
        let bad = |message: String| VetError::Tolerances {
            path: path.to_owned(),
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let base = Self::default().default;
        let resolve =
            |field: &str, r: &RawTolerance, base: Tolerance| -> Result<Tolerance, VetError> {
                let t = Tolerance {
                    abs: r.abs.unwrap_or(base.abs),
                    rel: r.rel.unwrap_or(base.rel),
                };
                for (name, v) in [("abs", t.abs), ("rel", t.rel)] {
                    if !(v.is_finite() && v >= 0.0) {
                        return Err(bad(format!(
                            "{field}.{name}: {v} is not a finite number of at least 0"
                        )));
                    }
                }
                Ok(t)
            };
        let default = resolve("default", &raw.default, base)?;
        let mut signals = BTreeMap::new();
        for (signal, r) in &raw.signals {
            if catalog.id(signal).is_none() {
                return Err(bad(format!(
                    "signals.\"{signal}\": not a signal of the catalog"
                )));
            }
            signals.insert(
                signal.clone(),
                resolve(&format!("signals.\"{signal}\""), r, default)?,
            );
        }
        Ok(Self { default, signals })
    }

    /// The tolerance of `signal`.
    pub fn of(&self, signal: &str) -> Tolerance {
        self.signals.get(signal).copied().unwrap_or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_is_within_tolerance_by_abs_or_by_rel() {
        let t = Tolerance {
            abs: 0.1,
            rel: 0.01,
        };
        assert!(t.admits(1.0, 1.05));
        assert!(t.admits(100.0, 100.9));
        assert!(!t.admits(100.0, 101.5));
        assert!(!t.admits(f64::NAN, 1.0));
    }

    #[test]
    fn signals_inherit_the_default_and_unknown_ones_are_refused_with_the_file() {
        let catalog = Catalog::builtin();
        let path = Path::new("tol.toml");
        let text = "[default]\nabs = 0.5\n[signals.\"Vehicle.Speed\"]\nrel = 0.2\n";
        let t = Tolerances::parse(path, text, &catalog).expect("parses");
        assert_eq!(t.of("Vehicle.Speed"), Tolerance { abs: 0.5, rel: 0.2 });
        assert_eq!(
            t.of("Vehicle.TraveledDistance"),
            Tolerance {
                abs: 0.5,
                rel: 1e-9
            }
        );
        let e = Tolerances::parse(path, "[signals.\"Vehicle.Sped\"]\nabs = 1\n", &catalog)
            .expect_err("unknown signal")
            .to_string();
        assert_eq!(
            e,
            "tol.toml: signals.\"Vehicle.Sped\": not a signal of the catalog"
        );
        let e = Tolerances::parse(path, "[default]\nabs = -1.0\n", &catalog)
            .expect_err("negative")
            .to_string();
        assert!(e.contains("default.abs: -1"), "{e}");
    }
}
