//! The signal bus: one typed slot per catalog signal, one writer per signal.
//!
//! Slots hold `f64` (the ABI representation); [`SignalMeta`] gives them their
//! type at the edges. Ownership is claimed once, before the first tick:
//! actuators belong to the control path (commands, scenario steps, the
//! dashboard, the demo driver), sensors to whichever component claims them
//! first (the world model or one plugin); a second claim is refused. Writes on
//! the tick path are range-checked but not owner-checked, because ownership
//! was settled when the writer was admitted.

use crate::catalog::{Catalog, RangeError, SignalId, SignalKind, SignalMeta, Value};
use std::fmt;
use std::sync::Arc;

/// Who may write a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writer {
    /// The world model inside the core.
    World,
    /// The control path: commands, scenarios, dashboard, demo driver.
    Control,
    /// A subsystem plugin, by subsystem name.
    Plugin(String),
}

impl fmt::Display for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::World => f.write_str("the world model"),
            Self::Control => f.write_str("the control path"),
            Self::Plugin(name) => write!(f, "plugin `{name}`"),
        }
    }
}

/// A bus operation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BusError {
    /// The path is not in the catalog.
    #[error("unknown signal `{0}`")]
    UnknownSignal(String),
    /// The signal already has a writer.
    #[error("`{path}` is already written by {owner}")]
    SecondWriter {
        /// The signal.
        path: String,
        /// Its current writer.
        owner: Writer,
    },
    /// Only actuators are set through the control path.
    #[error("`{path}` is a {kind}, not an actuator")]
    NotAnActuator {
        /// The signal.
        path: String,
        /// Its kind.
        kind: &'static str,
    },
    /// Wrong value shape (a boolean for a number, ...).
    #[error("`{path}`: {message}")]
    WrongType {
        /// The signal.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Outside the signal's range.
    #[error("`{path}`: {source}")]
    Range {
        /// The signal.
        path: String,
        /// Why.
        source: RangeError,
    },
}

/// Why each path of a refused multi-signal write was refused, by path.
pub type SetErrors = std::collections::BTreeMap<String, String>;

impl BusError {
    /// The reason without the path (for replies keyed by path).
    pub fn reason(&self) -> String {
        match self {
            Self::UnknownSignal(_) => "unknown signal".to_owned(),
            Self::SecondWriter { owner, .. } => format!("already written by {owner}"),
            Self::NotAnActuator { kind, .. } => format!("is a {kind}, not an actuator"),
            Self::WrongType { message, .. } => message.clone(),
            Self::Range { source, .. } => source.to_string(),
        }
    }
}

/// The bus.
#[derive(Debug, Clone)]
pub struct Bus {
    catalog: Arc<Catalog>,
    values: Vec<f64>,
    /// Each signal's write count, wrapping from `u32::MAX` to 1: 0 only
    /// while it was never written. One array of 4 bytes a signal where a
    /// written flag and a 64-bit count were two (9 bytes a signal): every
    /// write on the tick path touches it, and a fleet's ticks find it cold.
    versions: Vec<u32>,
    writers: Vec<Option<Writer>>,
}

impl Bus {
    /// A bus with a slot per catalog signal, every value at its type's
    /// neutral value clamped into range, and every actuator owned by the
    /// control path.
    pub fn new(catalog: Arc<Catalog>) -> Self {
        let n = catalog.len();
        let mut values = Vec::with_capacity(n);
        let mut writers = Vec::with_capacity(n);
        for (_, meta) in catalog.iter() {
            values.push(meta.clamp(0.0));
            writers.push((meta.kind == SignalKind::Actuator).then_some(Writer::Control));
        }
        Self {
            catalog,
            values,
            versions: vec![0; n],
            writers,
        }
    }

    /// The catalog behind the bus.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Resolves a path.
    pub fn id(&self, path: &str) -> Result<SignalId, BusError> {
        self.catalog
            .id(path)
            .ok_or_else(|| BusError::UnknownSignal(path.to_owned()))
    }

    /// Metadata of a signal.
    pub fn meta(&self, id: SignalId) -> &SignalMeta {
        self.catalog.meta(id)
    }

    /// Claims the single writer slot of a signal.
    pub fn claim(&mut self, id: SignalId, writer: Writer) -> Result<(), BusError> {
        match &self.writers[id.index()] {
            Some(owner) if *owner != writer => Err(BusError::SecondWriter {
                path: self.meta(id).path.clone(),
                owner: owner.clone(),
            }),
            _ => {
                self.writers[id.index()] = Some(writer);
                Ok(())
            }
        }
    }

    /// Would `writer` be refused for `id`? Returns the current owner if so.
    pub fn owner_conflict(&self, id: SignalId, writer: &Writer) -> Option<&Writer> {
        self.writers[id.index()]
            .as_ref()
            .filter(|owner| *owner != writer)
    }

    /// Releases every signal claimed by `writer` (a plugin that was removed).
    pub fn release(&mut self, writer: &Writer) {
        for w in &mut self.writers {
            if w.as_ref() == Some(writer) {
                *w = None;
            }
        }
    }

    /// The owner of a signal, if any.
    pub fn owner(&self, id: SignalId) -> Option<&Writer> {
        self.writers[id.index()].as_ref()
    }

    /// Raw slot value.
    #[inline]
    pub fn get(&self, id: SignalId) -> f64 {
        self.values[id.index()]
    }

    /// Typed value.
    pub fn value(&self, id: SignalId) -> Value {
        self.meta(id).datatype.value(self.get(id))
    }

    /// True once anything wrote the signal.
    pub fn is_written(&self, id: SignalId) -> bool {
        self.versions[id.index()] != 0
    }

    /// Changes on every write; lets a reader see a new command even when
    /// the value did not change (a second crash trigger of the same size).
    /// A 32-bit count that skips 0 when it wraps: a reader comparing it
    /// once a tick cannot miss a write.
    pub fn version(&self, id: SignalId) -> u32 {
        self.versions[id.index()]
    }

    /// Checks a value against the signal's datatype and bounds, as
    /// [`SignalMeta::check`] does, from the packed limits (the tick path runs
    /// this for every plugin output).
    #[inline]
    pub fn check(&self, id: SignalId, value: f64) -> Result<f64, RangeError> {
        if self.catalog.limits(id).admits(value) {
            Ok(value)
        } else {
            self.meta(id).check(value)
        }
    }

    /// Range-checked write on the tick path (ownership settled beforehand).
    #[inline]
    pub fn write(&mut self, id: SignalId, value: f64) -> Result<(), RangeError> {
        let v = self.check(id, value)?;
        self.store(id, v);
        Ok(())
    }

    /// Writes a value computed inside the core, made admissible first as
    /// [`SignalMeta::clamp`] does (non-finite becomes 0, integral types are
    /// rounded, then clamped into bounds): the world's own arithmetic never
    /// puts a bad value on the bus.
    #[inline]
    pub fn write_clamped(&mut self, id: SignalId, value: f64) {
        let l = self.catalog.limits(id);
        let v = if value.is_finite() { value } else { 0.0 };
        let v = if l.integral { v.round() } else { v };
        self.store(id, v.clamp(l.min, l.max));
    }

    /// Stores a value that [`Self::check`] already accepted.
    #[inline]
    pub(crate) fn store(&mut self, id: SignalId, value: f64) {
        let i = id.index();
        self.values[i] = value;
        self.versions[i] = self.versions[i].wrapping_add(1).max(1);
    }

    /// Validates a control-path write without doing it: the path exists, is an
    /// actuator, and the value has the right shape and is in range. Returns
    /// the slot and the value to store.
    pub fn check_actuator(&self, path: &str, value: Value) -> Result<(SignalId, f64), BusError> {
        let id = self.id(path)?;
        let meta = self.meta(id);
        if meta.kind != SignalKind::Actuator {
            return Err(BusError::NotAnActuator {
                path: path.to_owned(),
                kind: meta.kind.as_str(),
            });
        }
        let slot = value
            .slot_for(meta.datatype)
            .map_err(|message| BusError::WrongType {
                path: path.to_owned(),
                message,
            })?;
        let slot = meta.check(slot).map_err(|source| BusError::Range {
            path: path.to_owned(),
            source,
        })?;
        Ok((id, slot))
    }

    /// Sets an actuator through the control path, fully validated.
    pub fn set_actuator(&mut self, path: &str, value: Value) -> Result<SignalId, BusError> {
        let (id, slot) = self.check_actuator(path, value)?;
        self.write(id, slot).map_err(|source| BusError::Range {
            path: path.to_owned(),
            source,
        })?;
        Ok(id)
    }

    /// Sets several actuators, all or nothing: every entry is validated
    /// first, and on any failure nothing is written and every failing path is
    /// returned with its reason.
    pub fn set_actuators(&mut self, set: &[(String, Value)]) -> Result<(), SetErrors> {
        let mut checked = Vec::with_capacity(set.len());
        let mut errors = SetErrors::new();
        for (path, value) in set {
            match self.check_actuator(path, *value) {
                Ok(ok) => checked.push(ok),
                Err(e) => {
                    errors.insert(path.clone(), e.reason());
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        for (id, slot) in checked {
            // Checked above; write() re-checks the same range.
            let _ = self.write(id, slot);
        }
        Ok(())
    }

    /// Hints that a tick is about to read this bus (see [`crate::cache`]).
    pub fn prefetch(&self) {
        crate::cache::prefetch_slice(&self.values);
        crate::cache::prefetch_slice(&self.versions);
    }

    /// Every slot value in catalog order (for traces and comparisons).
    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bus() -> Bus {
        Bus::new(Arc::new(Catalog::builtin()))
    }

    /// The packed limits must decide exactly as the catalog entry does, for
    /// every signal and the values at and around its edges.
    #[test]
    fn packed_check_agrees_with_the_catalog() {
        let b = bus();
        for (id, meta) in b.catalog().iter() {
            let (min, max) = meta.bounds();
            let probes = [
                min,
                max,
                min - 1.0,
                max + 1.0,
                min - 0.5,
                max + 0.5,
                (min + max) / 2.0,
                0.5,
                -0.0,
                1e-310,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::MAX,
                f64::MIN,
            ];
            for v in probes {
                let packed = b.check(id, v);
                let full = meta.check(v);
                assert_eq!(
                    packed.is_ok(),
                    full.is_ok(),
                    "{} with {v}: packed {packed:?}, catalog {full:?}",
                    meta.path
                );
                if let (Err(a), Err(c)) = (packed, full) {
                    assert_eq!(a.to_string(), c.to_string());
                }
            }
        }
    }

    #[test]
    fn clamped_writes_agree_with_the_catalog_clamp() {
        let mut b = bus();
        let ids: Vec<_> = b.catalog().iter().map(|(id, _)| id).collect();
        for id in ids {
            for v in [-1e12, -0.6, 0.4, 0.6, 1e12, f64::NAN, f64::INFINITY] {
                b.write_clamped(id, v);
                let meta = b.meta(id);
                let want = meta.clamp(if v.is_finite() { v } else { 0.0 });
                assert_eq!(
                    b.get(id).to_bits(),
                    want.to_bits(),
                    "{} with {v}",
                    meta.path
                );
                assert!(meta.check(b.get(id)).is_ok());
            }
        }
    }

    #[test]
    fn actuators_belong_to_the_control_path() {
        let mut b = bus();
        let id = b.id("Vehicle.ADAS.ABS.IsEnabled").unwrap();
        let e = b.claim(id, Writer::Plugin("abs".into())).unwrap_err();
        assert!(matches!(
            e,
            BusError::SecondWriter {
                owner: Writer::Control,
                ..
            }
        ));
    }

    #[test]
    fn a_sensor_accepts_exactly_one_writer() {
        let mut b = bus();
        let id = b.id("Vehicle.Speed").unwrap();
        b.claim(id, Writer::World).unwrap();
        b.claim(id, Writer::World).unwrap();
        let e = b.claim(id, Writer::Plugin("x".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`Vehicle.Speed` is already written by the world model"
        );
        b.release(&Writer::World);
        b.claim(id, Writer::Plugin("x".into())).unwrap();
    }

    #[test]
    fn set_actuator_validates_kind_type_and_range() {
        let mut b = bus();
        assert!(matches!(
            b.set_actuator("Vehicle.Speed", Value::Float(3.0)),
            Err(BusError::NotAnActuator { .. })
        ));
        assert!(matches!(
            b.set_actuator("Vehicle.Nope", Value::Float(3.0)),
            Err(BusError::UnknownSignal(_))
        ));
        assert!(matches!(
            b.set_actuator("Vehicle.ADAS.ABS.IsEnabled", Value::Int(1)),
            Err(BusError::WrongType { .. })
        ));
        let e = b
            .set_actuator(
                "Vehicle.Cabin.Seat.Row1.DriverSide.HeatingCooling",
                Value::Int(120),
            )
            .unwrap_err();
        assert!(e.to_string().contains("outside [-100, 100]"), "{e}");
        let id = b
            .set_actuator(
                "Vehicle.Cabin.Seat.Row1.DriverSide.HeatingCooling",
                Value::Int(60),
            )
            .unwrap();
        assert_eq!(b.value(id), Value::Int(60));
        assert_eq!(b.version(id), 1);
    }

    #[test]
    fn a_write_count_that_wraps_skips_zero_so_the_signal_stays_written_and_the_write_is_seen() {
        let mut b = bus();
        let id = b.id("Vehicle.Speed").unwrap();
        assert!(!b.is_written(id));
        b.versions[id.index()] = u32::MAX;
        let before = b.version(id);
        b.write(id, 1.0).unwrap();
        assert!(b.is_written(id));
        assert_ne!(b.version(id), before);
        assert_eq!(b.version(id), 1);
    }

    #[test]
    fn initial_values_respect_bounds() {
        let b = bus();
        for (id, meta) in b.catalog().clone().iter() {
            assert!(meta.check(b.get(id)).is_ok(), "{}", meta.path);
        }
    }
}
