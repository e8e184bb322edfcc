//! Injectable faults of the climate control and the DTCs they raise (rows
//! `hvac` of the SDK's `catalog/dtc.tsv`): `fault.compressor` (P0645, A/C
//! compressor control circuit) keeps the compressor off, so nothing cools;
//! heating and the fans still work.

use super::outputs;
use tcu_sdk::dtc::ActiveFaults;

/// The faults, in bit order.
pub const FAULTS: [&str; 1] = ["compressor"];
/// Bit of the compressor fault.
pub const COMPRESSOR: usize = 0;

/// Whether the compressor may run with `faults` active.
pub fn compressor_available(faults: ActiveFaults) -> bool {
    !faults.is_active(COMPRESSOR)
}

/// Publishes the mask.
pub fn write(faults: ActiveFaults, outputs: &mut [f64]) {
    outputs[outputs::ACTIVE_FAULTS] = faults.slot();
}

#[cfg(test)]
mod tests {
    use super::super::{Hvac, inputs, outputs};
    use super::*;
    use tcu_sdk::Subsystem;

    /// Cabin temperature after `secs` of full cooling towards 18 celsius on
    /// a 35 celsius day, and the last outputs.
    fn cool(h: &mut Hvac, secs: usize) -> [f64; 6] {
        let mut i = [0.0; 9];
        i[inputs::AMBIENT] = 35.0;
        for z in 0..3 {
            i[inputs::SETPOINT[z]] = 18.0;
            i[inputs::FAN_SPEED[z]] = 100.0;
        }
        i[inputs::AC_ACTIVE] = 1.0;
        let mut o = [0.0; 6];
        for _ in 0..secs * 10 {
            h.tick(0.1, &i, &mut o).expect("tick");
        }
        o
    }

    #[test]
    fn the_faults_are_the_hvac_rows_of_the_dtc_catalog() {
        tcu_sdk::testing::assert_faults_in_catalog::<Hvac>(
            "hvac",
            "Sim.Diagnostics.HVAC.ActiveFaults",
            &FAULTS,
        );
    }

    #[test]
    fn a_compressor_fault_raises_its_code_stops_cooling_and_heals() {
        let mut h = Hvac::create(0).expect("create");
        h.command("fault.compressor", 1.0).expect("inject");
        let o = cool(&mut h, 600);
        assert_eq!(o[outputs::ACTIVE_FAULTS], 1.0);
        assert!(o[outputs::CABIN_TEMPERATURE] >= 35.0 - 1e-9, "{o:?}");
        let mut g = Hvac::create(0).expect("create");
        g.restore(&h.snapshot()).expect("restore");
        assert_eq!(cool(&mut g, 1)[outputs::ACTIVE_FAULTS], 1.0);
        h.command("fault.compressor", 0.0).expect("heal");
        let o = cool(&mut h, 600);
        assert_eq!(o[outputs::ACTIVE_FAULTS], 0.0);
        assert!(o[outputs::CABIN_TEMPERATURE] < 25.0, "{o:?}");
    }
}
