//! Edge detection on the bus: turns signal transitions that matter outside
//! the car into [`Event`](super::Event)s, once per transition.
//!
//! - `airbag.deployed` (detail: the seat, e.g. `Row1.DriverSide`) when a
//!   `Vehicle.Cabin.Seat.<seat>.Airbag.IsDeployed` turns true;
//! - `abs.engaged` / `abs.released` on `Vehicle.ADAS.ABS.IsEngaged` edges;
//! - `abs.error` / `abs.error_cleared` on `Vehicle.ADAS.ABS.IsError` edges.
//!
//! Run after the plugins of every tick; a signal missing from the catalog is
//! simply not watched. Nothing is allocated on a tick without an edge.

use crate::bus::Bus;
use crate::catalog::SignalId;
use crate::world::SEATS;

/// What a watched signal's edges are called.
#[derive(Debug, Clone)]
struct Edges {
    rise: &'static str,
    fall: Option<&'static str>,
    detail: &'static str,
}

/// Remembers the last value of each watched signal. The signals and their
/// last values (8 bytes each, read every tick) are kept apart from the
/// names of their edges (read only on an edge): a scan reads 8 bytes a
/// signal where it read 56, which a fleet's ticks found cold.
#[derive(Debug, Clone, Default)]
pub struct Detector {
    watches: Vec<(SignalId, bool)>,
    edges: Vec<Edges>,
}

impl Detector {
    /// Hints that a scan is about to read the watches.
    pub fn prefetch(&self) {
        crate::cache::prefetch_slice(&self.watches);
    }

    /// Watches the signals of the bus's catalog listed in the module docs.
    pub fn new(bus: &Bus) -> Self {
        let (mut watches, mut edges) = (Vec::new(), Vec::new());
        let mut add = |path: &str, rise, fall, detail| {
            if let Ok(id) = bus.id(path) {
                watches.push((id, bus.get(id) != 0.0));
                edges.push(Edges { rise, fall, detail });
            }
        };
        for seat in SEATS {
            add(
                &format!("Vehicle.Cabin.Seat.{seat}.Airbag.IsDeployed"),
                "airbag.deployed",
                None,
                seat,
            );
        }
        add(
            "Vehicle.ADAS.ABS.IsEngaged",
            "abs.engaged",
            Some("abs.released"),
            "",
        );
        add(
            "Vehicle.ADAS.ABS.IsError",
            "abs.error",
            Some("abs.error_cleared"),
            "",
        );
        Self { watches, edges }
    }

    /// Events (kind, detail) for every edge since the last scan.
    pub fn scan(&mut self, bus: &Bus) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (i, (id, was)) in self.watches.iter_mut().enumerate() {
            let now = bus.get(*id) != 0.0;
            if now != *was {
                *was = now;
                let e = &self.edges[i];
                let kind = if now { Some(e.rise) } else { e.fall };
                if let Some(kind) = kind {
                    out.push((kind, e.detail.to_owned()));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use std::sync::Arc;

    #[test]
    fn an_edge_is_reported_once_and_falls_only_where_named() {
        let mut bus = Bus::new(Arc::new(Catalog::builtin()));
        let mut d = Detector::new(&bus);
        let engaged = bus.id("Vehicle.ADAS.ABS.IsEngaged").unwrap();
        let bag = bus
            .id("Vehicle.Cabin.Seat.Row1.PassengerSide.Airbag.IsDeployed")
            .unwrap();
        assert!(d.scan(&bus).is_empty());
        bus.write(engaged, 1.0).unwrap();
        bus.write(bag, 1.0).unwrap();
        assert_eq!(
            d.scan(&bus),
            vec![
                ("airbag.deployed", "Row1.PassengerSide".to_owned()),
                ("abs.engaged", String::new())
            ]
        );
        assert!(d.scan(&bus).is_empty());
        bus.write(engaged, 0.0).unwrap();
        bus.write(bag, 0.0).unwrap();
        assert_eq!(d.scan(&bus), vec![("abs.released", String::new())]);
    }
}
