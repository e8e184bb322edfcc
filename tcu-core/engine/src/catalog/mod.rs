//! The signal catalog: which signals exist, their kind, datatype, unit and
//! range.
//!
//! The project ships the VSS 5.0 rows it uses (`catalog/vss.tsv` of the
//! SDK, copied verbatim from the COVESA catalog) and a small overlay of its
//! own (`catalog/overlay.tsv`, everything under the separate `Sim.` branch) for
//! what VSS lacks: driver demands, environment, crash pulse, per-wheel brake
//! pressure, zone temperatures, power draws. Both files use the VSS TSV
//! columns. On top of both, `catalog/limits.tsv` gives the vehicle's own
//! min and max to signals VSS leaves open (a cabin setpoint has no range in
//! VSS), each with a note of where it comes from; a limit only ever narrows.
//! After it every actuator has finite limits, so whatever sets one (a
//! command, a scenario step, `[signals]`, the dashboard, the twin) is held to
//! the same bounds by this one catalog. Values outside a signal's min/max (or
//! its datatype's range) are rejected wherever they enter the bus.

mod datatype;
mod dtc;

pub use datatype::{DataType, Value};
pub use dtc::{DTC_COUNT, DTC_LIST, DtcFault, DtcTable, mask as dtc_mask};

use std::collections::HashMap;
use std::fmt;

/// Index of a signal in a [`Catalog`]; also its slot on the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignalId(pub u32);

impl SignalId {
    /// The slot index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// VSS node type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// Measured by the vehicle; written by exactly one producer.
    Sensor,
    /// Settable from outside (commands, scenarios, the dashboard).
    Actuator,
    /// A fixed property of the vehicle.
    Attribute,
}

impl SignalKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sensor" => Self::Sensor,
            "actuator" => Self::Actuator,
            "attribute" => Self::Attribute,
            _ => return None,
        })
    }

    /// The VSS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sensor => "sensor",
            Self::Actuator => "actuator",
            Self::Attribute => "attribute",
        }
    }
}

/// One row of the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalMeta {
    /// Dotted path, e.g. `Vehicle.Speed`.
    pub path: String,
    /// Sensor, actuator or attribute.
    pub kind: SignalKind,
    /// Datatype.
    pub datatype: DataType,
    /// Unit as VSS spells it, if any.
    pub unit: Option<String>,
    /// Lower bound from the catalog, if any.
    pub min: Option<f64>,
    /// Upper bound from the catalog, if any.
    pub max: Option<f64>,
    /// Where min and max come from when the vehicle's limits set them
    /// (`catalog/limits.tsv`); `None` when they are the VSS or overlay row's.
    pub limit_note: Option<String>,
    /// Description.
    pub description: String,
    /// True for the project's own overlay signals.
    pub overlay: bool,
}

/// Why a value was refused for a signal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RangeError {
    /// NaN or infinite.
    #[error("{value} is not a finite number")]
    NotFinite {
        /// The value.
        value: f64,
    },
    /// Fractional value for an integer or boolean signal.
    #[error("{value} is not a whole number, and the signal is {datatype}")]
    NotWhole {
        /// The value.
        value: f64,
        /// The signal's datatype.
        datatype: DataType,
    },
    /// Outside min/max.
    #[error("{value} is outside [{min}, {max}]")]
    OutOfRange {
        /// The value.
        value: f64,
        /// Effective lower bound.
        min: f64,
        /// Effective upper bound.
        max: f64,
    },
}

/// True for a whole number. Every finite `f64` of magnitude 2^53 or more is
/// whole; below that a round trip through `i64` truncates exactly. This runs
/// for every integral output of every plugin on every tick, and `fract()`
/// compiles to a libm call on baseline x86-64 while the casts are single
/// instructions.
#[inline]
pub(crate) fn is_whole(value: f64) -> bool {
    value.abs() >= 9_007_199_254_740_992.0 || (value as i64) as f64 == value
}

impl SignalMeta {
    /// Effective bounds: the catalog's, narrowed by the datatype's.
    pub fn bounds(&self) -> (f64, f64) {
        let (tmin, tmax) = self.datatype.limits();
        (
            self.min.map_or(tmin, |m| m.max(tmin)),
            self.max.map_or(tmax, |m| m.min(tmax)),
        )
    }

    /// Checks a wire value (f64 slot) against datatype and bounds.
    pub fn check(&self, value: f64) -> Result<f64, RangeError> {
        if !value.is_finite() {
            return Err(RangeError::NotFinite { value });
        }
        if self.datatype.is_integral() && !is_whole(value) {
            return Err(RangeError::NotWhole {
                value,
                datatype: self.datatype,
            });
        }
        let (min, max) = self.bounds();
        if value < min || value > max {
            return Err(RangeError::OutOfRange { value, min, max });
        }
        Ok(value)
    }

    /// Clamps a value into bounds, rounding for integral types; used for
    /// initial values, never for data that arrives from outside.
    pub fn clamp(&self, value: f64) -> f64 {
        let (min, max) = self.bounds();
        let v = if self.datatype.is_integral() {
            value.round()
        } else {
            value
        };
        v.clamp(min, max)
    }
}

/// A catalog file could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct CatalogError {
    /// File name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A signal's effective bounds and whether it holds whole numbers, packed
/// next to each other so the per-tick range check reads one small row
/// instead of the whole catalog entry. The bounds are always finite (the
/// datatype's own limits at most), so `min <= v <= max` also refuses NaN and
/// infinities. The catalog keeps them, so every bus built from one
/// catalog (a fleet's thousands) reads the same rows, warm in the cache.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) integral: bool,
}

impl Limits {
    fn of(meta: &SignalMeta) -> Self {
        let (min, max) = meta.bounds();
        Self {
            min,
            max,
            integral: meta.datatype.is_integral(),
        }
    }

    #[inline]
    pub(crate) fn admits(self, v: f64) -> bool {
        v >= self.min && v <= self.max && (!self.integral || is_whole(v))
    }
}

/// All signals the simulator knows.
#[derive(Debug, Clone)]
pub struct Catalog {
    signals: Vec<SignalMeta>,
    index: HashMap<String, SignalId>,
    /// Each signal's packed limits, in catalog order.
    limits: Vec<Limits>,
}

use tcu_sdk::catalog::{LIMITS_TSV, OVERLAY_TSV, VSS_TSV};

impl Catalog {
    /// The catalog shipped with the project (VSS subset + overlay), with the
    /// vehicle's limits applied.
    pub fn builtin() -> Self {
        // The embedded files are validated by tests; failing here is a build defect.
        #[allow(clippy::expect_used)]
        Self::from_sources(&[
            ("catalog/vss.tsv", VSS_TSV, false),
            ("catalog/overlay.tsv", OVERLAY_TSV, true),
        ])
        .and_then(|mut c| c.apply_limits("catalog/limits.tsv", LIMITS_TSV).map(|()| c))
        .expect("embedded catalog is valid")
    }

    /// Applies a limits file (path, min, max, note): each row sets the min
    /// and max of a signal of the catalog. A limit may only narrow what the
    /// signal's row and datatype allow, must hold whole numbers for an
    /// integer or boolean signal, and may be given once per signal.
    pub fn apply_limits(&mut self, file: &str, text: &str) -> Result<(), CatalogError> {
        let err = |line: usize, message: String| CatalogError {
            file: file.to_owned(),
            line,
            message,
        };
        let limits = tcu_sdk::catalog::limits(text).map_err(|e| err(e.line, e.message))?;
        let mut seen = std::collections::HashSet::new();
        for l in limits {
            let (n, path) = (l.line, l.path);
            let id = self
                .id(path)
                .ok_or_else(|| err(n, format!("`{path}`: no such signal in the catalog")))?;
            if !seen.insert(id) {
                return Err(err(n, format!("`{path}`: limited twice")));
            }
            let meta = &mut self.signals[id.index()];
            let (lo, hi) = meta.bounds();
            if l.min < lo || l.max > hi {
                return Err(err(
                    n,
                    format!(
                        "`{path}`: [{}, {}] is wider than the signal's [{lo}, {hi}]; a limit only narrows",
                        l.min, l.max
                    ),
                ));
            }
            if meta.datatype.is_integral() && !(is_whole(l.min) && is_whole(l.max)) {
                return Err(err(
                    n,
                    format!(
                        "`{path}`: [{}, {}] are not whole numbers, and the signal is {}",
                        l.min, l.max, meta.datatype
                    ),
                ));
            }
            meta.min = Some(l.min);
            meta.max = Some(l.max);
            meta.limit_note = Some(l.note.to_owned());
            self.limits[id.index()] = Limits::of(meta);
        }
        Ok(())
    }

    /// Builds a catalog from TSV sources `(file name, text, is_overlay)`.
    pub fn from_sources(sources: &[(&str, &str, bool)]) -> Result<Self, CatalogError> {
        let mut signals = Vec::new();
        let mut index = HashMap::new();
        for (file, text, overlay) in sources {
            for meta in parse_tsv(file, text, *overlay)? {
                let id = SignalId(signals.len() as u32);
                if index.insert(meta.path.clone(), id).is_some() {
                    return Err(CatalogError {
                        file: (*file).to_owned(),
                        line: 0,
                        message: format!("signal `{}` is defined twice", meta.path),
                    });
                }
                signals.push(meta);
            }
        }
        let limits = signals.iter().map(Limits::of).collect();
        Ok(Self {
            signals,
            index,
            limits,
        })
    }

    /// A signal's packed limits (what [`crate::bus::Bus`] checks against).
    #[inline]
    pub(crate) fn limits(&self, id: SignalId) -> Limits {
        self.limits[id.index()]
    }

    /// Looks a signal up by path.
    pub fn id(&self, path: &str) -> Option<SignalId> {
        self.index.get(path).copied()
    }

    /// Metadata of a signal.
    pub fn meta(&self, id: SignalId) -> &SignalMeta {
        &self.signals[id.index()]
    }

    /// Looks a signal up by path and returns its metadata.
    pub fn get(&self, path: &str) -> Option<&SignalMeta> {
        self.id(path).map(|id| self.meta(id))
    }

    /// Number of signals.
    pub fn len(&self) -> usize {
        self.signals.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.signals.is_empty()
    }

    /// All signals with their ids, in catalog order.
    pub fn iter(&self) -> impl Iterator<Item = (SignalId, &SignalMeta)> {
        self.signals
            .iter()
            .enumerate()
            .map(|(i, m)| (SignalId(i as u32), m))
    }
}

impl fmt::Display for SignalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Parses one TSV file in the VSS column layout (read by
/// [`tcu_sdk::catalog::rows`]) and checks what the bus needs: overlay rows
/// under `Sim.` and only there, known types and supported datatypes.
pub fn parse_tsv(file: &str, text: &str, overlay: bool) -> Result<Vec<SignalMeta>, CatalogError> {
    let err = |line: usize, message: String| CatalogError {
        file: file.to_owned(),
        line,
        message,
    };
    let rows = tcu_sdk::catalog::rows(text).map_err(|e| err(e.line, e.message))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let (n, path) = (row.line, row.path);
        if overlay != path.starts_with("Sim.") {
            return Err(err(
                n,
                format!("`{path}`: overlay signals live under `Sim.`, VSS signals never do"),
            ));
        }
        let kind = SignalKind::parse(row.kind)
            .ok_or_else(|| err(n, format!("`{path}`: unknown type `{}`", row.kind)))?;
        let datatype = DataType::parse(row.datatype).ok_or_else(|| {
            err(
                n,
                format!(
                    "`{path}`: datatype `{}` is not supported by the bus",
                    row.datatype
                ),
            )
        })?;
        if datatype == DataType::StringArray && kind != SignalKind::Sensor {
            return Err(err(
                n,
                format!("`{path}`: a string[] signal can only be a sensor the host derives"),
            ));
        }
        out.push(SignalMeta {
            path: path.to_owned(),
            kind,
            datatype,
            unit: (!row.unit.is_empty()).then(|| row.unit.to_owned()),
            min: row.min,
            max: row.max,
            limit_note: None,
            description: row.description.to_owned(),
            overlay,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
