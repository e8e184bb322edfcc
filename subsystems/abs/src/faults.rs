//! Injectable faults of the ABS ECU and the DTCs they raise (rows `abs` of
//! the SDK's `catalog/dtc.tsv`): `fault.wheel_sensor` (C0035, the left front
//! wheel speed sensor circuit) makes the Row1.Left sensor read 0 km/h, sets
//! `IsError` and turns ABS off, exactly as `Sim.Fault.ABS.WheelSensor = 1`
//! does: the brakes then apply the pedal pressure without modulation.
//!
// Self-contained like `model.rs` (a benchmark includes both by path).

use super::{inputs, outputs};
use tcu_sdk::dtc::ActiveFaults;

/// The faults, in bit order.
pub const FAULTS: [&str; 1] = ["wheel_sensor"];
/// Bit of the left front wheel speed sensor fault.
pub const WHEEL_SENSOR: usize = 0;

/// The inputs as the ECU sees them with `faults` active: a dead left front
/// sensor unless the bus already names a dead wheel.
pub fn inputs(faults: ActiveFaults, raw: &[f64]) -> [f64; inputs::COUNT] {
    let mut seen = [0.0; inputs::COUNT];
    seen.copy_from_slice(raw);
    let named = tcu_sdk::physics::finite_or(seen[inputs::WHEEL_SENSOR_FAULT], 0.0).round();
    if faults.is_active(WHEEL_SENSOR) && named < 1.0 {
        seen[inputs::WHEEL_SENSOR_FAULT] = 1.0;
    }
    seen
}

/// Publishes the mask.
pub fn write(faults: ActiveFaults, outputs: &mut [f64]) {
    outputs[outputs::ACTIVE_FAULTS] = faults.slot();
}

#[cfg(test)]
mod tests {
    use super::super::{Abs, inputs, outputs};
    use super::*;
    use tcu_sdk::Subsystem;

    const PEDAL: f64 = 80.0;

    /// Rolls at 60 km/h, brakes, then the left front wheel runs into lock
    /// (slowing at 40 m/s² while the others roll): ABS dumps its pressure
    /// when it regulates.
    fn braking_into_lock(a: &mut Abs) -> [f64; outputs::COUNT] {
        let mut i = [0.0; inputs::COUNT];
        for w in 0..4 {
            i[inputs::WHEEL_SPEED[w]] = 60.0;
        }
        i[inputs::ABS_ENABLED] = 1.0;
        i[inputs::AIR_TEMPERATURE] = 20.0;
        let mut o = [0.0; outputs::COUNT];
        for _ in 0..50 {
            a.tick(0.01, &i, &mut o).expect("tick");
        }
        i[inputs::BRAKE_PEDAL] = PEDAL;
        for _ in 0..10 {
            a.tick(0.01, &i, &mut o).expect("tick");
        }
        for _ in 0..3 {
            i[inputs::WHEEL_SPEED[0]] -= 40.0 * 0.01 * 3.6;
            a.tick(0.01, &i, &mut o).expect("tick");
        }
        o
    }

    #[test]
    fn the_faults_are_the_abs_rows_of_the_dtc_catalog() {
        tcu_sdk::testing::assert_faults_in_catalog::<Abs>(
            "abs",
            "Sim.Diagnostics.ABS.ActiveFaults",
            &FAULTS,
        );
    }

    #[test]
    fn a_wheel_sensor_fault_raises_its_code_turns_abs_off_and_heals() {
        let mut a = Abs::create(1).expect("create");
        let o = braking_into_lock(&mut a);
        assert_eq!(
            (o[outputs::IS_ENGAGED], o[outputs::ACTIVE_FAULTS]),
            (1.0, 0.0)
        );
        a.command("fault.wheel_sensor", 1.0).expect("inject");
        let o = braking_into_lock(&mut a);
        assert_eq!(o[outputs::ACTIVE_FAULTS], 1.0);
        assert_eq!((o[outputs::IS_ENGAGED], o[outputs::IS_ERROR]), (0.0, 1.0));
        assert_eq!(o[outputs::WHEEL_SPEED[0]], 0.0);
        // Without modulation the pedal's full pressure reaches every wheel.
        let full = PEDAL * super::super::PRESSURE_PER_PEDAL_PERCENT;
        assert_eq!(outputs::BRAKE_PRESSURE.map(|i| o[i]), [full; 4]);
        a.command("fault.wheel_sensor", 0.0).expect("heal");
        let o = braking_into_lock(&mut a);
        assert_eq!(o[outputs::ACTIVE_FAULTS], 0.0);
        assert_eq!((o[outputs::IS_ENGAGED], o[outputs::IS_ERROR]), (1.0, 0.0));
    }

    #[test]
    fn a_wheel_sensor_fault_survives_a_snapshot() {
        let mut a = Abs::create(1).expect("create");
        a.command("fault.wheel_sensor", 1.0).expect("inject");
        let mut b = Abs::create(2).expect("create");
        b.restore(&a.snapshot()).expect("restore");
        let o = braking_into_lock(&mut b);
        assert_eq!(
            (o[outputs::ACTIVE_FAULTS], o[outputs::IS_ENGAGED]),
            (1.0, 0.0)
        );
        assert!(b.command("fault.wheel_sensor", 0.5).is_err());
        assert!(b.command("fault.other", 1.0).is_err());
    }
}
