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
