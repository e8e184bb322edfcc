//! Injectable faults of the airbag unit and the DTCs they raise (rows
//! `airbag` of the SDK's `catalog/dtc.tsv`): a deployment control circuit
//! fault of the driver's bag (`fault.driver_circuit`, B0001) or of the front
//! passenger's (`fault.passenger_circuit`, B0010). As a real unit does, it
//! lights the airbag warning lamp (`Sim.Airbag.WarningLamp`) and disables
//! that bag: it does not fire in a crash. The other bags still do.
//!
//! `crash_recorded` (B0052, deployment commanded) is active from the first
//! deployment until the unit's `reset`, as a real unit stores its crash
//! record until the workshop replaces the modules; injected, it is a stored
//! record without a crash. Either way the lamp is on and the unit is spent:
//! it fires nothing until reset (or, injected, until healed).

use super::outputs;
use tcu_sdk::dtc::ActiveFaults;

/// The faults, in bit order.
pub const FAULTS: [&str; 3] = ["driver_circuit", "passenger_circuit", "crash_recorded"];
/// The seat (index into `SEATS`) whose bag each circuit fault disables.
pub const SEAT_OF_FAULT: [usize; 2] = [0, 1];
/// Bit of the crash record.
pub const CRASH_RECORDED: usize = 2;

/// Whether the bag of `seat` is disabled by an active fault.
pub fn bag_disabled(faults: ActiveFaults, seat: usize) -> bool {
    SEAT_OF_FAULT
        .iter()
        .enumerate()
        .any(|(bit, s)| *s == seat && faults.is_active(bit))
}

/// Whether a crash record (real or injected) leaves the unit spent.
pub fn spent(faults: ActiveFaults, deployed: bool) -> bool {
    deployed || faults.is_active(CRASH_RECORDED)
}

/// The faults with the crash record cleared, as the unit's reset leaves them.
pub fn after_reset(faults: ActiveFaults) -> ActiveFaults {
    let mut kept = faults;
    kept.set(CRASH_RECORDED, false);
    kept
}

/// Publishes the mask (the crash record set while a deployment is
/// recorded) and the warning lamp.
pub fn write(faults: ActiveFaults, deployed: bool, outputs: &mut [f64]) {
    let mut mask = faults;
    mask.set(CRASH_RECORDED, spent(faults, deployed));
    outputs[outputs::ACTIVE_FAULTS] = mask.slot();
    outputs[outputs::WARNING_LAMP] = tcu_sdk::physics::from_bool(mask.any());
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

    /// An occupied, unbelted driver's seat and a pulse of `g` for a tick.
    fn pulse(a: &mut Airbag, g: f64) -> [f64; 8] {
        let mut i = [0.0; 11];
        i[super::super::inputs::CRASH_PULSE] = g;
        i[super::super::inputs::IS_OCCUPIED[0]] = 1.0;
        let mut o = [0.0; 8];
        a.tick(0.001, &i, &mut o).expect("tick");
        o
    }

    /// 80 ms of a pulse strong enough to fire an unbelted driver's bag.
    fn crash(a: &mut Airbag) -> [f64; 8] {
        let mut o = [0.0; 8];
        for _ in 0..80 {
            o = pulse(a, 25.0);
        }
        for _ in 0..20 {
            o = pulse(a, 0.0);
        }
        o
    }

    #[test]
    fn a_deployment_raises_the_crash_record_dtc_until_the_reset_clears_it() {
        let mut a = Airbag::create(0).expect("create");
        let o = crash(&mut a);
        assert_eq!(o[outputs::IS_DEPLOYED[0]], 1.0);
        assert_eq!(
            (o[outputs::ACTIVE_FAULTS], o[outputs::WARNING_LAMP]),
            (4.0, 1.0)
        );
        let mut b = Airbag::create(0).expect("create");
        b.restore(&a.snapshot()).expect("restore");
        assert_eq!(idle(&mut b)[outputs::ACTIVE_FAULTS], 4.0);
        a.command("reset", 0.0).expect("reset");
        let o = idle(&mut a);
        assert_eq!(
            (o[outputs::ACTIVE_FAULTS], o[outputs::WARNING_LAMP]),
            (0.0, 0.0)
        );
    }

    #[test]
    fn an_injected_crash_record_leaves_the_unit_spent_until_healed_or_reset() {
        let mut a = Airbag::create(0).expect("create");
        a.command("fault.crash_recorded", 1.0).expect("inject");
        let o = crash(&mut a);
        assert_eq!(
            o[outputs::IS_DEPLOYED[0]],
            0.0,
            "a spent unit fires nothing"
        );
        assert_eq!(
            (o[outputs::ACTIVE_FAULTS], o[outputs::CRASH_SIGNAL]),
            (4.0, 0.0)
        );
        a.command("fault.crash_recorded", 0.0).expect("heal");
        assert_eq!(crash(&mut a)[outputs::IS_DEPLOYED[0]], 1.0);
        let mut r = Airbag::create(0).expect("create");
        r.command("fault.crash_recorded", 1.0).expect("inject");
        r.command("reset", 0.0).expect("reset");
        assert_eq!(idle(&mut r)[outputs::ACTIVE_FAULTS], 0.0);
    }
}
