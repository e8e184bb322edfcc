//! Events derived from signal edges, so every consumer of vehicle events
//! (MQTT, dashboard, scenarios) sees the same ones: `airbag.deployed` when a
//! seat's `Airbag.IsDeployed` rises, `abs.engaged` / `abs.released` when
//! `Vehicle.ADAS.ABS.IsEngaged` rises / falls. Checked once per tick, after
//! the plugins ran.

use crate::bus::Bus;
use crate::catalog::SignalId;

#[derive(Debug, Clone)]
struct Watch {
    id: SignalId,
    /// Event on a rising edge, and on a falling edge if any.
    rise: &'static str,
    fall: Option<&'static str>,
    detail: String,
    last: bool,
}

/// The edge detector of one vehicle.
#[derive(Debug, Clone, Default)]
pub(crate) struct Edges(Vec<Watch>);

impl Edges {
    /// Watches the airbags and ABS of `bus`'s catalog.
    pub(crate) fn new(bus: &Bus) -> Self {
        let mut w = Vec::new();
        for (id, meta) in bus.catalog().iter() {
            let p = meta.path.as_str();
            if let Some(seat) = p
                .strip_prefix("Vehicle.Cabin.Seat.")
                .and_then(|s| s.strip_suffix(".Airbag.IsDeployed"))
            {
                w.push(Watch {
                    id,
                    rise: "airbag.deployed",
                    fall: None,
                    detail: format!("airbag of seat {seat} deployed"),
                    last: false,
                });
            } else if p == "Vehicle.ADAS.ABS.IsEngaged" {
                w.push(Watch {
                    id,
                    rise: "abs.engaged",
                    fall: Some("abs.released"),
                    detail: "ABS".to_owned(),
                    last: false,
                });
            }
        }
        Self(w)
    }

    /// Calls `event(kind, detail)` for every edge since the last check.
    pub(crate) fn check(&mut self, bus: &Bus, mut event: impl FnMut(&'static str, String)) {
        for w in &mut self.0 {
            let now = bus.get(w.id) != 0.0;
            if now != w.last {
                w.last = now;
                match (now, w.fall) {
                    (true, _) => event(w.rise, w.detail.clone()),
                    (false, Some(kind)) => event(kind, w.detail.clone()),
                    (false, None) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use std::sync::Arc;

    #[test]
    fn abs_edges_and_airbag_deployment_become_events_once() {
        let mut bus = Bus::new(Arc::new(Catalog::builtin()));
        let mut edges = Edges::new(&bus);
        let abs = bus.id("Vehicle.ADAS.ABS.IsEngaged").unwrap();
        let bag = bus
            .id("Vehicle.Cabin.Seat.Row1.DriverSide.Airbag.IsDeployed")
            .unwrap();
        let mut seen = Vec::new();
        let mut step = |bus: &Bus, edges: &mut Edges| {
            let mut out = Vec::new();
            edges.check(bus, |k, d| out.push(format!("{k}: {d}")));
            out
        };
        seen.extend(step(&bus, &mut edges));
        bus.write(abs, 1.0).unwrap();
        seen.extend(step(&bus, &mut edges));
        seen.extend(step(&bus, &mut edges));
        bus.write(abs, 0.0).unwrap();
        bus.write(bag, 1.0).unwrap();
        seen.extend(step(&bus, &mut edges));
        seen.extend(step(&bus, &mut edges));
        assert_eq!(
            seen,
            vec![
                "abs.engaged: ABS",
                "abs.released: ABS",
                "airbag.deployed: airbag of seat Row1.DriverSide deployed"
            ]
        );
    }
}
