//! The diagnostic trouble codes the plugins can raise, resolved against a
//! catalog: for every `Sim.Diagnostics.<Subsystem>.ActiveFaults` signal,
//! which code and description each bit of its mask stands for.
//!
//! The rows come from the SDK's `catalog/dtc.tsv` (see `tcu_sdk::dtc` for
//! why a plugin reports faults as a mask rather than as text). The vehicle
//! turns mask edges into `dtc.raised` / `dtc.cleared` events and writes
//! [`DTC_COUNT`]; the telemetry encoder lists the active codes as
//! [`DTC_LIST`]. A row whose signal the catalog lacks is left out.

use super::{Catalog, CatalogError, SignalId};

/// VSS: number of active DTCs, written by the host every tick.
pub const DTC_COUNT: &str = "Vehicle.Diagnostics.DTCCount";
/// VSS: the active DTCs as strings, derived from the masks at the edge.
pub const DTC_LIST: &str = "Vehicle.Diagnostics.DTCList";

/// One fault a plugin can raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtcFault {
    /// Subsystem that raises it (`abs`, `battery`, ...).
    pub subsystem: String,
    /// Fault name; the plugin command `fault.<name>` injects or heals it.
    pub fault: String,
    /// SAE J2012-style code, e.g. `C0035`.
    pub code: String,
    /// What the code means.
    pub description: String,
    /// How the car degrades while it is active.
    pub effect: String,
    /// Its bit in the subsystem's mask.
    pub bit: u32,
}

/// One `ActiveFaults` signal and its faults.
#[derive(Debug, Clone)]
struct Source {
    id: SignalId,
    faults: Vec<DtcFault>,
}

/// Every fault of the DTC file whose signal is in the catalog.
#[derive(Debug, Clone, Default)]
pub struct DtcTable {
    sources: Vec<Source>,
}

impl DtcTable {
    /// The table of the shipped DTC file.
    pub fn builtin(catalog: &Catalog) -> Self {
        // The embedded file is validated by tests; failing here is a build defect.
        #[allow(clippy::expect_used)]
        Self::from_tsv(catalog, "catalog/dtc.tsv", tcu_sdk::catalog::DTC_TSV)
            .expect("embedded DTC file is valid")
    }

    /// Reads a DTC file; rows of signals missing from `catalog` are skipped,
    /// a row of a signal that is not an integer sensor is an error.
    pub fn from_tsv(catalog: &Catalog, file: &str, text: &str) -> Result<Self, CatalogError> {
        let err = |line: usize, message: String| CatalogError {
            file: file.to_owned(),
            line,
            message,
        };
        let mut sources: Vec<Source> = Vec::new();
        for row in tcu_sdk::catalog::dtcs(text).map_err(|e| err(e.line, e.message))? {
            let Some(id) = catalog.id(row.signal) else {
                continue;
            };
            let meta = catalog.meta(id);
            if meta.kind != super::SignalKind::Sensor || meta.datatype != super::DataType::UInt32 {
                return Err(err(
                    row.line,
                    format!("`{}`: a fault mask must be a uint32 sensor", row.signal),
                ));
            }
            let fault = DtcFault {
                subsystem: row.subsystem.to_owned(),
                fault: row.fault.to_owned(),
                code: row.code.to_owned(),
                description: row.description.to_owned(),
                effect: row.effect.to_owned(),
                bit: row.bit,
            };
            match sources.iter_mut().find(|s| s.id == id) {
                Some(s) => s.faults.push(fault),
                None => sources.push(Source {
                    id,
                    faults: vec![fault],
                }),
            }
        }
        Ok(Self { sources })
    }

    /// The mask signals, in file order.
    pub fn signals(&self) -> impl Iterator<Item = SignalId> + '_ {
        self.sources.iter().map(|s| s.id)
    }

    /// Every fault, in file order.
    pub fn faults(&self) -> impl Iterator<Item = &DtcFault> {
        self.sources.iter().flat_map(|s| &s.faults)
    }

    /// The faults of mask signal `id` whose bits are set in `mask`.
    pub fn in_mask(&self, id: SignalId, mask: u32) -> impl Iterator<Item = &DtcFault> {
        self.sources
            .iter()
            .filter(move |s| s.id == id)
            .flat_map(|s| &s.faults)
            .filter(move |f| mask & (1 << f.bit) != 0)
    }

    /// The active faults, reading each mask through `slot` (a bus's `get`).
    pub fn active(&self, slot: impl Fn(SignalId) -> f64) -> impl Iterator<Item = &DtcFault> {
        self.sources
            .iter()
            .flat_map(move |s| self.in_mask(s.id, mask(slot(s.id))))
    }
}

/// The mask a slot holds (a range-checked whole uint32 on the bus).
pub fn mask(slot: f64) -> u32 {
    slot as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_has_every_row_of_the_file_by_signal_and_bit() {
        let catalog = Catalog::builtin();
        let table = DtcTable::builtin(&catalog);
        let rows = tcu_sdk::catalog::dtcs(tcu_sdk::catalog::DTC_TSV).unwrap();
        assert_eq!(table.faults().count(), rows.len());
        let abs = catalog.id("Sim.Diagnostics.ABS.ActiveFaults").unwrap();
        let codes: Vec<&str> = table.in_mask(abs, 1).map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["C0035"]);
        let seats = catalog
            .id("Sim.Diagnostics.HeatedSeats.ActiveFaults")
            .unwrap();
        let codes: Vec<&str> = table
            .in_mask(seats, 0b101)
            .map(|f| f.code.as_str())
            .collect();
        assert_eq!(codes, ["B1A10", "B1A12"]);
        assert_eq!(table.active(|_| 0.0).count(), 0);
    }

    #[test]
    fn a_fault_mask_that_is_not_a_uint32_sensor_is_refused_with_its_line() {
        let catalog = Catalog::builtin();
        let text = format!(
            "{}\nVehicle.Speed\t0\tabs\tx\tC0035\td\te\n",
            tcu_sdk::catalog::DTC_HEADER
        );
        let e = DtcTable::from_tsv(&catalog, "d.tsv", &text).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("d.tsv", 2));
        assert!(e.message.contains("uint32 sensor"), "{e}");
    }
}
