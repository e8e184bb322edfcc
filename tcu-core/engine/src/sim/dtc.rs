//! Diagnostic trouble codes on the host side: watches every plugin's
//! `ActiveFaults` mask (see [`DtcTable`]) and turns each bit that rises or
//! falls into a `dtc.raised` / `dtc.cleared` event (fields `code`,
//! `subsystem`, `description`), and keeps `Vehicle.Diagnostics.DTCCount` at
//! the number of active codes.
//!
//! Runs after the plugins of every tick. A tick without an edge reads one
//! slot per plugin and allocates nothing. The count is written on the first
//! tick and on every change, so telemetry carries it from the start.

use crate::bus::{Bus, Writer};
use crate::catalog::{DTC_COUNT, DTC_LIST, DtcTable, SignalId, dtc_mask};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An event the monitor raises: kind, detail, fields.
pub type DtcEvent = (&'static str, String, BTreeMap<String, String>);

/// Remembers each mask as last seen.
#[derive(Debug, Clone)]
pub struct Monitor {
    table: Arc<DtcTable>,
    masks: Vec<(SignalId, u32)>,
    count: Option<SignalId>,
    written: bool,
}

impl Monitor {
    /// Hints that a scan is about to read the masks.
    pub fn prefetch(&self) {
        crate::cache::prefetch_slice(&self.masks);
    }

    /// Watches the masks of `bus`'s catalog and claims the VSS DTC signals
    /// for the host. Returns a warning when a plugin claimed them first
    /// (the host then leaves the count alone).
    pub fn new(bus: &mut Bus) -> (Self, Option<String>) {
        let table = Arc::new(DtcTable::builtin(bus.catalog()));
        let masks = table.signals().map(|id| (id, 0)).collect();
        let mut warning = None;
        let mut claim = |path: &str| {
            let id = bus.id(path).ok()?;
            match bus.claim(id, Writer::World) {
                Ok(()) => Some(id),
                Err(e) => {
                    warning = Some(format!("{e}; the host does not write it"));
                    None
                }
            }
        };
        let count = claim(DTC_COUNT);
        let _ = claim(DTC_LIST);
        let monitor = Self {
            table,
            masks,
            count,
            written: false,
        };
        (monitor, warning)
    }

    /// The table behind the monitor (codes and descriptions).
    pub fn table(&self) -> &Arc<DtcTable> {
        &self.table
    }

    /// Events for every fault raised or cleared since the last scan.
    pub fn scan(&mut self, bus: &mut Bus) -> Vec<DtcEvent> {
        let mut out = Vec::new();
        let mut changed = !self.written;
        for (id, last) in &mut self.masks {
            let now = dtc_mask(bus.get(*id));
            if now == *last {
                continue;
            }
            changed = true;
            let (raised, cleared) = (now & !*last, *last & !now);
            *last = now;
            for (kind, bits) in [("dtc.raised", raised), ("dtc.cleared", cleared)] {
                for f in self.table.in_mask(*id, bits) {
                    let fields = BTreeMap::from([
                        ("code".to_owned(), f.code.clone()),
                        ("subsystem".to_owned(), f.subsystem.clone()),
                        ("description".to_owned(), f.description.clone()),
                    ]);
                    let detail = format!("{} {}: {}", f.code, f.subsystem, f.description);
                    out.push((kind, detail, fields));
                }
            }
        }
        if changed && let Some(count) = self.count {
            let n = self
                .masks
                .iter()
                .map(|(id, m)| self.table.in_mask(*id, *m).count())
                .sum::<usize>();
            bus.write_clamped(count, n as f64);
        }
        self.written = true;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn fields(e: &DtcEvent) -> (&str, &str, &str, &str) {
        (e.0, &e.2["code"], &e.2["subsystem"], &e.2["description"])
    }

    #[test]
    fn mask_edges_raise_and_clear_each_code_once_and_the_count_follows() {
        let mut bus = Bus::new(Arc::new(Catalog::builtin()));
        let (mut m, warning) = Monitor::new(&mut bus);
        assert_eq!(warning, None);
        let count = bus.id(DTC_COUNT).unwrap();
        let seats = bus.id("Sim.Diagnostics.HeatedSeats.ActiveFaults").unwrap();
        let abs = bus.id("Sim.Diagnostics.ABS.ActiveFaults").unwrap();
        assert!(m.scan(&mut bus).is_empty());
        assert!(bus.is_written(count) && bus.get(count) == 0.0);
        bus.write(seats, 3.0).unwrap();
        bus.write(abs, 1.0).unwrap();
        let raised = m.scan(&mut bus);
        let got: Vec<_> = raised.iter().map(fields).collect();
        assert_eq!(
            got,
            [
                (
                    "dtc.raised",
                    "C0035",
                    "abs",
                    "Left front wheel speed sensor circuit"
                ),
                (
                    "dtc.raised",
                    "B1A10",
                    "heated-seats",
                    "Row 1 driver seat heater circuit open"
                ),
                (
                    "dtc.raised",
                    "B1A11",
                    "heated-seats",
                    "Row 1 passenger seat heater circuit open"
                ),
            ]
        );
        assert_eq!(
            raised[0].1,
            "C0035 abs: Left front wheel speed sensor circuit"
        );
        assert_eq!(bus.get(count), 3.0);
        assert!(m.scan(&mut bus).is_empty(), "an edge is reported once");
        bus.write(seats, 6.0).unwrap();
        let got: Vec<_> = m
            .scan(&mut bus)
            .iter()
            .map(|e| (e.0, e.2["code"].clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("dtc.raised", "B1A12".into()),
                ("dtc.cleared", "B1A10".into())
            ]
        );
        assert_eq!(bus.get(count), 3.0);
        bus.write(seats, 0.0).unwrap();
        bus.write(abs, 0.0).unwrap();
        assert_eq!(m.scan(&mut bus).len(), 3);
        assert_eq!(bus.get(count), 0.0);
    }

    #[test]
    fn bits_without_a_code_raise_nothing_and_are_not_counted() {
        let mut bus = Bus::new(Arc::new(Catalog::builtin()));
        let (mut m, _) = Monitor::new(&mut bus);
        let abs = bus.id("Sim.Diagnostics.ABS.ActiveFaults").unwrap();
        bus.write(abs, 16.0).unwrap();
        assert!(m.scan(&mut bus).is_empty());
        assert_eq!(bus.get(bus.id(DTC_COUNT).unwrap()), 0.0);
    }
}
