//! Checks a plugin's unit tests make against the signal catalog.
//!
//! The host builds its catalog from [`crate::catalog`] (VSS rows, then the
//! simulator's own `Sim.` rows); a plugin whose declarations disagree with
//! it is refused at load time. These functions read the same rows through
//! the same reader, so a plugin's tests catch a wrong path, datatype or
//! range without linking the host.
//!
//! Behind the `testing` feature: plugins enable it in their
//! `[dev-dependencies]`, so their libraries do not carry the catalog.

use crate::Subsystem;
use crate::abi::{TcuSignalDecl, datatype_name};
use crate::catalog;
use core::ffi::CStr;

/// The path a declaration names.
///
/// # Panics
/// If the path is null or not UTF-8. Declarations made with
/// [`TcuSignalDecl::new`] have neither problem.
pub fn path(decl: &TcuSignalDecl) -> &'static str {
    assert!(!decl.path.is_null(), "declaration without a path");
    // SAFETY: a declaration points at immutable, 'static NUL-terminated
    // data (the invariant `TcuSignalDecl`'s `Sync` rests on).
    unsafe { CStr::from_ptr(decl.path) }
        .to_str()
        .expect("declared paths are UTF-8")
}

/// What the catalog says about one signal, as far as a plugin's tests need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CatalogEntry {
    /// VSS datatype name (`float`, `boolean`, ...).
    pub datatype: &'static str,
    /// Lower limit, where the catalog has one.
    pub min: Option<f64>,
    /// Upper limit, where the catalog has one.
    pub max: Option<f64>,
}

/// The catalog row of `path` (columns: path, type, datatype, unit, min, max,
/// ...), or `None` when the catalog does not have the signal.
pub fn catalog_entry(path: &str) -> Option<CatalogEntry> {
    [catalog::VSS_TSV, catalog::OVERLAY_TSV]
        .into_iter()
        .flat_map(|text| catalog::rows(text).expect("the shipped catalog reads"))
        .find(|row| row.path == path)
        .map(|row| CatalogEntry {
            datatype: row.datatype,
            min: row.min,
            max: row.max,
        })
}

/// Asserts that every signal `T` reads or writes is in the catalog, with the
/// datatype it declares.
pub fn assert_declarations_in_catalog<T: Subsystem>() {
    for decl in T::READS.iter().chain(T::WRITES) {
        let path = path(decl);
        let entry = catalog_entry(path).unwrap_or_else(|| panic!("{path} not in catalog"));
        assert_eq!(Some(entry.datatype), datatype_name(decl.datatype), "{path}");
    }
}

/// Asserts that `faults` (a plugin's fault names in bit order) are exactly
/// the rows of `subsystem` in the DTC file, bit for bit, and that `signal`
/// is the one those rows name and the plugin writes.
pub fn assert_faults_in_catalog<T: Subsystem>(subsystem: &str, signal: &str, faults: &[&str]) {
    let rows: Vec<_> = catalog::dtcs(catalog::DTC_TSV)
        .expect("the shipped DTC file reads")
        .into_iter()
        .filter(|r| r.subsystem == subsystem)
        .collect();
    let listed: Vec<(u32, &str)> = rows.iter().map(|r| (r.bit, r.fault)).collect();
    let declared: Vec<(u32, &str)> = (0u32..).zip(faults.iter().copied()).collect();
    assert_eq!(
        listed, declared,
        "faults of `{subsystem}` in catalog/dtc.tsv"
    );
    assert!(
        rows.iter().all(|r| r.signal == signal),
        "`{subsystem}` rows name `{signal}`"
    );
    assert!(
        T::WRITES.iter().any(|d| path(d) == signal),
        "`{subsystem}` writes `{signal}`"
    );
}

/// Asserts that every output is finite and within the range `range` gives
/// for its slot (the catalog's, as a plugin's tests state it).
pub fn assert_outputs_in(outputs: &[f64], range: impl Fn(usize) -> (f64, f64)) {
    for (slot, v) in outputs.iter().enumerate() {
        let (lo, hi) = range(slot);
        assert!(
            v.is_finite() && (lo..=hi).contains(v),
            "output {slot} = {v}, outside {lo}..={hi}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PluginError;
    use crate::abi::{TCU_TYPE_BOOLEAN, TCU_TYPE_FLOAT};

    #[test]
    fn path_reads_back_the_declared_literal() {
        let decl = TcuSignalDecl::new(c"Vehicle.Speed", TCU_TYPE_FLOAT);
        assert_eq!(path(&decl), "Vehicle.Speed");
    }

    #[test]
    fn catalog_entry_finds_standard_and_overlay_signals() {
        let speed = catalog_entry("Vehicle.Speed").expect("VSS signal");
        assert_eq!(speed.datatype, "float");
        let pedal = catalog_entry("Sim.Driver.AcceleratorPedal").expect("overlay signal");
        assert_eq!((pedal.min, pedal.max), (Some(0.0), Some(100.0)));
    }

    #[test]
    fn catalog_entry_matches_whole_paths_only() {
        assert_eq!(catalog_entry("Vehicle"), None);
        assert_eq!(catalog_entry("Vehicle.Spee"), None);
        assert_eq!(catalog_entry("path"), None);
    }

    macro_rules! declaring {
        ($name:ident, $reads:expr) => {
            struct $name;
            impl Subsystem for $name {
                const NAME: &'static CStr = c"probe";
                const VERSION: &'static CStr = c"0.0.0";
                const READS: &'static [TcuSignalDecl] = $reads;
                const WRITES: &'static [TcuSignalDecl] = &[];
                fn create(_seed: u64) -> Result<Self, PluginError> {
                    Ok(Self)
                }
                fn tick(&mut self, _: f64, _: &[f64], _: &mut [f64]) -> Result<(), PluginError> {
                    Ok(())
                }
                fn snapshot(&self) -> Vec<u8> {
                    Vec::new()
                }
                fn restore(&mut self, _: &[u8]) -> Result<(), PluginError> {
                    Ok(())
                }
            }
        };
    }

    declaring!(
        Good,
        &[TcuSignalDecl::new(c"Vehicle.IsMoving", TCU_TYPE_BOOLEAN)]
    );
    declaring!(
        WrongType,
        &[TcuSignalDecl::new(c"Vehicle.IsMoving", TCU_TYPE_FLOAT)]
    );
    declaring!(
        Unknown,
        &[TcuSignalDecl::new(c"Vehicle.Nowhere", TCU_TYPE_FLOAT)]
    );

    #[test]
    fn declarations_matching_the_catalog_pass() {
        assert_declarations_in_catalog::<Good>();
    }

    #[test]
    #[should_panic(expected = "Vehicle.IsMoving")]
    fn a_declared_datatype_the_catalog_disagrees_with_fails() {
        assert_declarations_in_catalog::<WrongType>();
    }

    #[test]
    #[should_panic(expected = "Vehicle.Nowhere not in catalog")]
    fn a_declared_signal_missing_from_the_catalog_fails() {
        assert_declarations_in_catalog::<Unknown>();
    }
}
