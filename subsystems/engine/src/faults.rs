//! Injectable faults of the traction drive ECU and the DTCs they raise
//! (rows `engine` of the SDK's `catalog/dtc.tsv`): `fault.motor_overtemp`
//! (P0A2F) and `fault.inverter` (P0A78) put the drive in limp mode, its
//! torque request capped at [`LIMP_TORQUE_FRACTION`] of the maximum, enough
//! to leave the road at reduced speed. Regeneration is not limited.
//!
// Self-contained like `model.rs` (a benchmark includes both by path).

use super::{inputs, outputs};
use tcu_sdk::dtc::ActiveFaults;

/// The faults, in bit order.
pub const FAULTS: [&str; 2] = ["motor_overtemp", "inverter"];
/// Share of the drive torque left in limp mode; torque follows the
/// accelerator linearly, so it caps the pedal the drive sees, percent.
pub const LIMP_TORQUE_FRACTION: f64 = 0.3;

/// The inputs as the drive ECU serves them with `faults` active.
pub fn inputs(faults: ActiveFaults, raw: &[f64]) -> [f64; inputs::COUNT] {
    let mut seen = [0.0; inputs::COUNT];
    seen.copy_from_slice(raw);
    if faults.any() {
        let pedal = &mut seen[inputs::ACCELERATOR_PEDAL];
        if pedal.is_finite() {
            *pedal = pedal.min(LIMP_TORQUE_FRACTION * 100.0);
        }
    }
    seen
}

/// Publishes the mask.
pub fn write(faults: ActiveFaults, outputs: &mut [f64]) {
    outputs[outputs::ACTIVE_FAULTS] = faults.slot();
}

#[cfg(test)]
mod tests {
    use super::super::{Engine, MAX_DRIVE_TORQUE_NM, inputs, outputs};
    use super::*;
    use tcu_sdk::Subsystem;

    fn flat_out(e: &mut Engine) -> [f64; outputs::COUNT] {
        let mut i = [0.0; inputs::COUNT];
        i[inputs::ACCELERATOR_PEDAL] = 100.0;
        for w in inputs::WHEEL_SPEED {
            i[w] = 20.0;
        }
        i[inputs::AIR_TEMPERATURE] = 20.0;
        // A battery that can give the drive all it asks for.
        i[inputs::AVAILABLE_DISCHARGE] = 250_000.0;
        i[inputs::AVAILABLE_CHARGE] = 250_000.0;
        let mut o = [0.0; outputs::COUNT];
        for _ in 0..300 {
            e.tick(0.01, &i, &mut o).expect("tick");
        }
        o
    }

    #[test]
    fn the_faults_are_the_engine_rows_of_the_dtc_catalog() {
        tcu_sdk::testing::assert_faults_in_catalog::<Engine>(
            "engine",
            "Sim.Diagnostics.Engine.ActiveFaults",
            &FAULTS,
        );
    }

    #[test]
    fn each_drive_fault_raises_its_bit_limits_torque_and_heals() {
        for (bit, name) in FAULTS.iter().enumerate() {
            let mut e = Engine::create(0).expect("create");
            let full = flat_out(&mut e)[outputs::MOTOR_TORQUE];
            assert!(full > 0.9 * MAX_DRIVE_TORQUE_NM, "{full}");
            e.command(&format!("fault.{name}"), 1.0).expect("inject");
            let o = flat_out(&mut e);
            assert_eq!(o[outputs::ACTIVE_FAULTS], f64::from(1u32 << bit));
            let limp = o[outputs::MOTOR_TORQUE];
            assert!(limp <= (LIMP_TORQUE_FRACTION * MAX_DRIVE_TORQUE_NM).round() + 1.0);
            assert!(limp > 0.25 * MAX_DRIVE_TORQUE_NM, "{limp}");
            let mut f = Engine::create(0).expect("create");
            f.restore(&e.snapshot()).expect("restore");
            assert_eq!(
                flat_out(&mut f)[outputs::ACTIVE_FAULTS],
                f64::from(1u32 << bit)
            );
            e.command(&format!("fault.{name}"), 0.0).expect("heal");
            let o = flat_out(&mut e);
            assert_eq!(o[outputs::ACTIVE_FAULTS], 0.0);
            assert!(o[outputs::MOTOR_TORQUE] > 0.9 * MAX_DRIVE_TORQUE_NM);
        }
    }
}
