//! Injectable faults of the seat heating and the DTCs they raise (rows
//! `heated-seats` of the SDK's `catalog/dtc.tsv`): an open heater circuit
//! per seat (`fault.heater_row1_driver` B1A10, `fault.heater_row1_passenger`
//! B1A11, `fault.heater_row2_driver` B1A12). That seat's mat draws no
//! current, so it stops heating and cools to the cabin; the others go on.

use super::{SEAT_COUNT, outputs};
use tcu_sdk::dtc::ActiveFaults;

/// The faults, in bit order: one per seat, in `SEATS` order.
pub const FAULTS: [&str; SEAT_COUNT] = [
    "heater_row1_driver",
    "heater_row1_passenger",
    "heater_row2_driver",
];

/// Whether the heater of `seat` (index into `SEATS`) has an open circuit.
pub fn open_circuit(faults: ActiveFaults, seat: usize) -> bool {
    faults.is_active(seat)
}

/// Publishes the mask.
pub fn write(faults: ActiveFaults, outputs: &mut [f64]) {
    outputs[outputs::ACTIVE_FAULTS] = faults.slot();
}

#[cfg(test)]
mod tests {
    use super::super::{HeatedSeats, inputs, outputs};
    use super::*;
    use tcu_sdk::Subsystem;

    fn heat(s: &mut HeatedSeats, secs: usize) -> [f64; 5] {
        let mut i = [0.0; 4];
        i[inputs::HEATING_COOLING[0]] = 100.0;
        i[inputs::HEATING_COOLING[1]] = 100.0;
        i[inputs::HEATING_COOLING[2]] = 100.0;
        i[inputs::CABIN_TEMPERATURE] = 0.0;
        let mut o = [0.0; 5];
        for _ in 0..secs * 10 {
            s.tick(0.1, &i, &mut o).expect("tick");
        }
        o
    }

    #[test]
    fn the_faults_are_the_heated_seat_rows_of_the_dtc_catalog() {
        tcu_sdk::testing::assert_faults_in_catalog::<HeatedSeats>(
            "heated-seats",
            "Sim.Diagnostics.HeatedSeats.ActiveFaults",
            &FAULTS,
        );
    }

    #[test]
    fn an_open_heater_circuit_stops_that_seat_only_and_heals() {
        for (seat, name) in FAULTS.iter().enumerate() {
            let mut s = HeatedSeats::create(0).expect("create");
            let warm = heat(&mut s, 1800);
            assert!(warm[outputs::SEAT_TEMPERATURE[seat]] > 30.0);
            s.command(&format!("fault.{name}"), 1.0).expect("inject");
            let o = heat(&mut s, 1800);
            assert_eq!(o[outputs::ACTIVE_FAULTS], f64::from(1u32 << seat));
            for other in 0..SEAT_COUNT {
                let t = o[outputs::SEAT_TEMPERATURE[other]];
                if other == seat {
                    // Back near the 0 celsius cabin, from above 30.
                    assert!(t < 5.0, "seat {other} at {t}");
                } else {
                    assert!((t - warm[outputs::SEAT_TEMPERATURE[other]]).abs() < 1.0);
                }
            }
            assert!(o[outputs::POWER] < warm[outputs::POWER]);
            let mut r = HeatedSeats::create(0).expect("create");
            r.restore(&s.snapshot()).expect("restore");
            assert_eq!(
                heat(&mut r, 1)[outputs::ACTIVE_FAULTS],
                f64::from(1u32 << seat)
            );
            s.command(&format!("fault.{name}"), 0.0).expect("heal");
            let o = heat(&mut s, 1800);
            assert_eq!(o[outputs::ACTIVE_FAULTS], 0.0);
            assert!(o[outputs::SEAT_TEMPERATURE[seat]] > 20.0);
        }
    }
}
