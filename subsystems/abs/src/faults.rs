//! Injectable faults of the ABS ECU and the DTCs they raise (rows `abs` of
//! the SDK's `catalog/dtc.tsv`): a wheel speed sensor circuit per wheel,
//! `fault.wheel_sensor` (C0035, left front), `fault.wheel_sensor_row1_right`
//! (C0040), `fault.wheel_sensor_row2_left` (C0045) and
//! `fault.wheel_sensor_row2_right` (C0050). A dead sensor reads 0 km/h,
//! sets `IsError` and turns ABS off: the brakes then apply the pedal
//! pressure without modulation.
//!
//! The older way in, the `Sim.Fault.ABS.WheelSensor` actuator (1..4 name
//! the dead wheel), kills the same sensor and raises the same code, so no
//! dead sensor goes unreported: the published mask is the injected faults
//! and the wheel the actuator names.
//!
// Self-contained like `model.rs` (a benchmark includes both by path).

use super::inputs;
use tcu_sdk::dtc::ActiveFaults;

/// The faults, in bit order: one per wheel, in `WHEEL_SPEED` order.
pub const FAULTS: [&str; 4] = [
    "wheel_sensor",
    "wheel_sensor_row1_right",
    "wheel_sensor_row2_left",
    "wheel_sensor_row2_right",
];
/// Bit of the left front wheel speed sensor fault.
pub const WHEEL_SENSOR: usize = 0;

/// The dead wheel sensors, bit `w` for wheel `w`: the injected faults and
/// the wheel `Sim.Fault.ABS.WheelSensor` names (any value from 1 up is a
/// fault, 1..4 the wheel, more than 4 the last one; as the model reads it).
pub fn dead_sensors(faults: ActiveFaults, raw: &[f64]) -> ActiveFaults {
    let named = tcu_sdk::physics::finite_or(raw[inputs::WHEEL_SENSOR_FAULT], 0.0).round();
    let mut dead = faults;
    if named >= 1.0 {
        dead.set(named.min(4.0) as usize - 1, true);
    }
    dead
}

/// Publishes the mask of the dead sensors.
pub fn write(dead: ActiveFaults, outputs: &mut [f64]) {
    outputs[super::outputs::ACTIVE_FAULTS] = dead.slot();
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

    /// One tick rolling at 50 km/h with `hook` on `Sim.Fault.ABS.WheelSensor`.
    fn rolling(a: &mut Abs, hook: f64) -> [f64; outputs::COUNT] {
        let mut i = [0.0; inputs::COUNT];
        for w in 0..4 {
            i[inputs::WHEEL_SPEED[w]] = 50.0;
        }
        i[inputs::ABS_ENABLED] = 1.0;
        i[inputs::AIR_TEMPERATURE] = 20.0;
        i[inputs::WHEEL_SENSOR_FAULT] = hook;
        let mut o = [0.0; outputs::COUNT];
        a.tick(0.01, &i, &mut o).expect("tick");
        o
    }

    #[test]
    fn the_wheel_sensor_hook_raises_the_code_of_the_wheel_it_names_and_clears_it() {
        for wheel in 0..4 {
            let mut a = Abs::create(1).expect("create");
            let o = rolling(&mut a, (wheel + 1) as f64);
            assert_eq!(o[outputs::ACTIVE_FAULTS], f64::from(1u32 << wheel));
            assert_eq!(
                (o[outputs::IS_ERROR], o[outputs::WHEEL_SPEED[wheel]]),
                (1.0, 0.0)
            );
            assert_eq!(rolling(&mut a, 0.0)[outputs::ACTIVE_FAULTS], 0.0);
        }
        // Beyond 4 is the last wheel, as the model reads it.
        let mut a = Abs::create(1).expect("create");
        assert_eq!(rolling(&mut a, 9.0)[outputs::ACTIVE_FAULTS], 8.0);
    }

    #[test]
    fn each_wheel_sensor_fault_kills_its_own_wheel_and_several_add_up() {
        let mut a = Abs::create(1).expect("create");
        for (wheel, name) in FAULTS.iter().enumerate() {
            a.command(&format!("fault.{name}"), 1.0).expect("inject");
            let o = rolling(&mut a, 0.0);
            assert_eq!(o[outputs::WHEEL_SPEED[wheel]], 0.0, "{name}");
            assert_eq!(o[outputs::ACTIVE_FAULTS], f64::from((2u32 << wheel) - 1));
        }
        // The hook naming an injected wheel adds no second code.
        assert_eq!(rolling(&mut a, 2.0)[outputs::ACTIVE_FAULTS], 15.0);
        for name in FAULTS {
            a.command(&format!("fault.{name}"), 0.0).expect("heal");
        }
        let o = rolling(&mut a, 0.0);
        assert_eq!(
            (o[outputs::ACTIVE_FAULTS], o[outputs::IS_ERROR]),
            (0.0, 0.0)
        );
    }
}
