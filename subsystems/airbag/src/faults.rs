//! Injectable faults of the airbag unit and the DTCs they raise (rows
//! `airbag` of the SDK's `catalog/dtc.tsv`): a deployment control circuit
//! fault of the driver's bag (`fault.driver_circuit`, B0001) or of the front
//! passenger's (`fault.passenger_circuit`, B0010). As a real unit does, it
//! lights the airbag warning lamp (`Sim.Airbag.WarningLamp`) and disables
//! that bag: it does not fire in a crash. The other bags still do.

use super::outputs;
use tcu_sdk::dtc::ActiveFaults;

/// The faults, in bit order.
pub const FAULTS: [&str; 2] = ["driver_circuit", "passenger_circuit"];
/// The seat (index into `SEATS`) whose bag each fault disables.
pub const SEAT_OF_FAULT: [usize; 2] = [0, 1];

/// Whether the bag of `seat` is disabled by an active fault.
pub fn bag_disabled(faults: ActiveFaults, seat: usize) -> bool {
    SEAT_OF_FAULT
        .iter()
        .enumerate()
        .any(|(bit, s)| *s == seat && faults.is_active(bit))
}

/// Publishes the mask and the warning lamp.
pub fn write(faults: ActiveFaults, outputs: &mut [f64]) {
    outputs[outputs::ACTIVE_FAULTS] = faults.slot();
    outputs[outputs::WARNING_LAMP] = tcu_sdk::physics::from_bool(faults.any());
}

#[cfg(test)]
mod tests {
    use super::super::{Airbag, outputs};
    use super::*;
    use tcu_sdk::Subsystem;

    fn idle(a: &mut Airbag) -> [f64; 8] {
        let mut o = [0.0; 8];
        a.tick(0.001, &[0.0; 11], &mut o).expect("tick");
        o
    }

    #[test]
    fn the_faults_are_the_airbag_rows_of_the_dtc_catalog() {
        tcu_sdk::testing::assert_faults_in_catalog::<Airbag>(
            "airbag",
            "Sim.Diagnostics.Airbag.ActiveFaults",
            &FAULTS,
        );
    }

    #[test]
    fn a_circuit_fault_lights_the_lamp_disables_that_bag_survives_reset_and_heals() {
        let mut a = Airbag::create(0).expect("create");
        assert_eq!(idle(&mut a)[outputs::WARNING_LAMP], 0.0);
        a.command("fault.passenger_circuit", 1.0).expect("inject");
        a.command("reset", 0.0).expect("reset");
        let o = idle(&mut a);
        assert_eq!(
            (o[outputs::ACTIVE_FAULTS], o[outputs::WARNING_LAMP]),
            (2.0, 1.0)
        );
        assert!(bag_disabled(a.state.faults, 1) && !bag_disabled(a.state.faults, 0));
        let mut b = Airbag::create(0).expect("create");
        b.restore(&a.snapshot()).expect("restore");
        assert_eq!(idle(&mut b)[outputs::ACTIVE_FAULTS], 2.0);
        a.command("fault.passenger_circuit", 0.0).expect("heal");
        let o = idle(&mut a);
        assert_eq!(
            (o[outputs::ACTIVE_FAULTS], o[outputs::WARNING_LAMP]),
            (0.0, 0.0)
        );
    }
}
