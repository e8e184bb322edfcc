//! Resolving raw values against the catalog and the run: signals exist and
//! are actuators where they are set, values fit their signal, times lie
//! within the duration, predicates suit the signal's type. Every error points
//! at the offending value.

use super::model::{RawPredicate, SignalMap};
use super::source::{Pos, ScenarioError, Source};
use crate::predicate::Predicate;
use tcu_engine::catalog::{Catalog, DataType, SignalId, SignalKind, Value};
use toml::Spanned;

/// Resolution context: the source for positions, the catalog for signals.
pub struct Resolver<'a> {
    pub src: &'a Source,
    pub catalog: &'a Catalog,
    pub duration: f64,
}

impl Resolver<'_> {
    /// An error at a span's start.
    pub fn err<T>(&self, span: &Spanned<T>, message: impl Into<String>) -> ScenarioError {
        self.src.error_at(span.span().start, message)
    }

    /// Position of a span's start.
    pub fn pos<T>(&self, span: &Spanned<T>) -> Pos {
        self.src.pos(span.span().start)
    }

    /// A catalog signal.
    pub fn signal(&self, path: &Spanned<String>) -> Result<SignalId, ScenarioError> {
        self.catalog
            .id(path.get_ref())
            .ok_or_else(|| self.err(path, format!("unknown signal `{}`", path.get_ref())))
    }

    /// A catalog actuator (what the control path may set).
    pub fn actuator(&self, path: &Spanned<String>) -> Result<SignalId, ScenarioError> {
        let id = self.signal(path)?;
        let meta = self.catalog.meta(id);
        if meta.kind != SignalKind::Actuator {
            return Err(self.err(
                path,
                format!(
                    "`{}` is a {}; only actuators can be set",
                    meta.path,
                    meta.kind.as_str()
                ),
            ));
        }
        Ok(id)
    }

    /// A typed value for `id`, checked against its datatype and range.
    pub fn value(&self, id: SignalId, v: &Spanned<toml::Value>) -> Result<Value, ScenarioError> {
        let meta = self.catalog.meta(id);
        let value = match v.get_ref() {
            toml::Value::Boolean(b) => Value::Bool(*b),
            toml::Value::Integer(i) => Value::Int(*i),
            toml::Value::Float(x) => Value::Float(*x),
            other => {
                return Err(self.err(
                    v,
                    format!(
                        "`{}`: expected a number or a boolean, got {}",
                        meta.path,
                        other.type_str()
                    ),
                ));
            }
        };
        let slot = value
            .slot_for(meta.datatype)
            .map_err(|m| self.err(v, format!("`{}`: {m}", meta.path)))?;
        meta.check(slot)
            .map_err(|e| self.err(v, format!("`{}`: value {e}", meta.path)))?;
        Ok(value)
    }

    /// Actuator writes of a `set` table.
    pub fn set_map(&self, map: &SignalMap) -> Result<Vec<(String, Value)>, ScenarioError> {
        map.iter()
            .map(|(path, v)| {
                let id = self.actuator(path)?;
                Ok((path.get_ref().clone(), self.value(id, v)?))
            })
            .collect()
    }

    /// A time within the run.
    pub fn time(&self, t: &Spanned<f64>) -> Result<f64, ScenarioError> {
        let v = *t.get_ref();
        if !v.is_finite() || v < 0.0 {
            return Err(self.err(t, format!("time {v} s must be zero or positive")));
        }
        if v > self.duration + 1e-9 {
            return Err(self.err(
                t,
                format!(
                    "time {v} s is past the end of the scenario (duration {} s)",
                    self.duration
                ),
            ));
        }
        Ok(v)
    }

    /// A `[from, until]` window within the run.
    pub fn window(&self, w: &Spanned<[f64; 2]>) -> Result<(f64, f64), ScenarioError> {
        let [a, b] = *w.get_ref();
        for t in [a, b] {
            self.time(&Spanned::new(w.span(), t))?;
        }
        if a > b {
            return Err(self.err(w, format!("window [{a}, {b}] ends before it starts")));
        }
        Ok((a, b))
    }

    /// A value predicate on signal `id`; `at` locates the whole entry.
    pub fn predicate(
        &self,
        id: SignalId,
        p: RawPredicate<'_>,
        at: usize,
    ) -> Result<Option<Predicate>, ScenarioError> {
        let meta = self.catalog.meta(id);
        let given = [
            p.equals.is_some(),
            p.above.is_some(),
            p.below.is_some(),
            p.between.is_some(),
        ];
        match given.iter().filter(|g| **g).count() {
            0 => return Ok(None),
            1 => {}
            _ => {
                return Err(self
                    .src
                    .error_at(at, "give only one of `equals`, `above`, `below`, `between`"));
            }
        }
        if let Some(eq) = p.equals {
            let value = self.value(id, eq)?;
            let tolerance = match p.tolerance {
                Some(t) if !(t.get_ref().is_finite() && *t.get_ref() >= 0.0) => {
                    return Err(self.err(t, "tolerance must be zero or positive"));
                }
                Some(t) => *t.get_ref(),
                None => 0.0,
            };
            return Ok(Some(Predicate::Equals {
                value: value.to_slot(),
                tolerance,
                boolean: meta.datatype == DataType::Boolean,
            }));
        }
        if let Some(t) = p.tolerance {
            return Err(self.err(t, "`tolerance` only goes with `equals`"));
        }
        if meta.datatype == DataType::Boolean {
            return Err(self.src.error_at(
                at,
                format!("`{}` is a boolean: compare it with `equals`", meta.path),
            ));
        }
        Ok(Some(if let Some(a) = p.above {
            Predicate::Above(*a.get_ref())
        } else if let Some(b) = p.below {
            Predicate::Below(*b.get_ref())
        } else if let Some(w) = p.between {
            let [lo, hi] = *w.get_ref();
            if lo > hi {
                return Err(self.err(w, format!("between [{lo}, {hi}] is empty")));
            }
            Predicate::Between(lo, hi)
        } else {
            unreachable!("one predicate field was counted above")
        }))
    }
}

/// Checks that an action is not given twice in one step.
pub fn only_one(
    r: &Resolver<'_>,
    at: usize,
    present: &[(&str, bool)],
) -> Result<usize, ScenarioError> {
    let names: Vec<&str> = present
        .iter()
        .filter(|(_, p)| *p)
        .map(|(n, _)| *n)
        .collect();
    match names.len() {
        1 => Ok(present.iter().position(|(_, p)| *p).unwrap_or(0)),
        0 => Err(r.src.error_at(
            at,
            format!(
                "expected one of {}",
                present
                    .iter()
                    .map(|(n, _)| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        _ => Err(r
            .src
            .error_at(at, format!("give only one of {}", names.join(", ")))),
    }
}
