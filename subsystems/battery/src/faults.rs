//! Injectable faults of the battery ECU and the DTCs they raise (rows
//! `battery` of the SDK's `catalog/dtc.tsv`): `fault.cell_overtemp` (P0A7E,
//! pack over temperature) puts the pack in limp mode, as a BMS derates an
//! overheating pack: at most [`LIMP_DISCHARGE_W`] to the traction drive and
//! [`LIMP_CHARGE_W`] of regeneration. `hv_disconnect` (P0A0A, high voltage
//! system interlock) is active whenever the main contactors are open: after
//! a crash opened them (until `reset_contactors`), or while the fault is
//! injected, which opens the interlock and so the contactors.
//!
// Self-contained like `model.rs` (a benchmark includes both by path).

use super::contactor::Contactor;
use super::{inputs, outputs};
use tcu_sdk::dtc::ActiveFaults;

/// The faults, in bit order.
pub const FAULTS: [&str; 2] = ["cell_overtemp", "hv_disconnect"];
/// Bit of the cell over-temperature fault.
pub const CELL_OVERTEMP: usize = 0;
/// Bit of the open high-voltage circuit.
pub const HV_DISCONNECT: usize = 1;
/// Traction power the pack gives in limp mode, W (roughly 0.25 C of a
/// 75 kWh pack, what derating tables of NMC packs allow near 60 celsius).
pub const LIMP_DISCHARGE_W: f64 = 20_000.0;
/// Regeneration the pack takes in limp mode, W.
pub const LIMP_CHARGE_W: f64 = 10_000.0;

/// The inputs as the BMS serves them with `faults` active.
pub fn inputs(faults: ActiveFaults, raw: &[f64]) -> [f64; inputs::COUNT] {
    let mut seen = [0.0; inputs::COUNT];
    seen.copy_from_slice(raw);
    if faults.is_active(CELL_OVERTEMP) {
        let p = &mut seen[inputs::TRACTION_POWER];
        if p.is_finite() {
            *p = p.clamp(-LIMP_CHARGE_W, LIMP_DISCHARGE_W);
        }
    }
    seen
}

/// Whether an injected fault holds the high-voltage interlock open.
pub fn interlock_open(faults: ActiveFaults) -> bool {
    faults.is_active(HV_DISCONNECT)
}

/// Publishes the mask: the injected faults, and the disconnect while the
/// contactors are open for any reason.
pub fn write(faults: ActiveFaults, contactor: &Contactor, outputs: &mut [f64]) {
    let mut mask = faults;
    mask.set(HV_DISCONNECT, contactor.is_open());
    outputs[outputs::ACTIVE_FAULTS] = mask.slot();
}

#[cfg(test)]
mod tests {
    use super::super::{Battery, inputs, outputs};
    use super::*;
    use tcu_sdk::Subsystem;

    fn drawing(b: &mut Battery, traction_w: f64) -> [f64; outputs::COUNT] {
        let mut i = [0.0; inputs::COUNT];
        i[inputs::TRACTION_POWER] = traction_w;
        i[inputs::AIR_TEMPERATURE] = 20.0;
        let mut o = [0.0; outputs::COUNT];
        b.tick(0.01, &i, &mut o).expect("tick");
        o
    }

    #[test]
    fn the_faults_are_the_battery_rows_of_the_dtc_catalog() {
        tcu_sdk::testing::assert_faults_in_catalog::<Battery>(
            "battery",
            "Sim.Diagnostics.Battery.ActiveFaults",
            &FAULTS,
        );
    }

    #[test]
    fn a_cell_overtemperature_raises_its_code_limits_power_and_heals() {
        let mut b = Battery::create(0).expect("create");
        let o = drawing(&mut b, 100_000.0);
        assert_eq!(o[outputs::ACTIVE_FAULTS], 0.0);
        assert!(o[outputs::POWER] < -100_000.0, "{}", o[outputs::POWER]);
        b.command("fault.cell_overtemp", 1.0).expect("inject");
        let o = drawing(&mut b, 100_000.0);
        assert_eq!(o[outputs::ACTIVE_FAULTS], 1.0);
        // Traction limited to 20 kW; the 250 W of 12 V load still flows.
        assert!((o[outputs::POWER] + LIMP_DISCHARGE_W + 250.0).abs() < 1e-6);
        let o = drawing(&mut b, -60_000.0);
        assert!((o[outputs::POWER] - (LIMP_CHARGE_W - 250.0)).abs() < 1e-6);
        let mut c = Battery::create(0).expect("create");
        c.restore(&b.snapshot()).expect("restore");
        assert_eq!(drawing(&mut c, 0.0)[outputs::ACTIVE_FAULTS], 1.0);
        b.command("fault.cell_overtemp", 0.0).expect("heal");
        let o = drawing(&mut b, 100_000.0);
        assert_eq!(o[outputs::ACTIVE_FAULTS], 0.0);
        assert!(o[outputs::POWER] < -100_000.0);
    }
}
