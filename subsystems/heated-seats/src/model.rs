//! The seat heating mats, their thermostat and the seat surfaces.

use serde::{Deserialize, Serialize};
use std::ffi::CStr;
use tcu_sdk::abi::{TCU_TYPE_FLOAT, TCU_TYPE_INT8, TCU_TYPE_UINT32, TcuSignalDecl};
use tcu_sdk::physics::{approach, finite_or};
use tcu_sdk::{CommandError, PluginError, Subsystem};
#[path = "faults.rs"]
pub mod faults;
#[path = "params.rs"]
pub mod params;
pub use params::*;

/// Number of heated seats.
pub const SEAT_COUNT: usize = 3;
/// Seat names in the order of the declared signals.
pub const SEATS: [&str; SEAT_COUNT] = ["Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide"];

/// Passive time constant of a seat, s.
const TAU_S: f64 = HEAT_CAPACITY_J_PER_K / LOSS_W_PER_K;
/// Cabin temperature assumed until the first finite reading.
const DEFAULT_CABIN_C: f64 = 20.0;

/// Input slots, in the order of [`HeatedSeats::READS`].
pub mod inputs {
    /// `Vehicle.Cabin.Seat.<seat>.HeatingCooling`, percent, per seat.
    pub const HEATING_COOLING: [usize; 3] = [0, 1, 2];
    /// `Vehicle.Cabin.HVAC.AmbientAirTemperature` (the cabin), Celsius.
    pub const CABIN_TEMPERATURE: usize = 3;
}

/// Output slots, in the order of [`HeatedSeats::WRITES`].
pub mod outputs {
    /// `Sim.Cabin.Seat.<seat>.Temperature`, Celsius, per seat.
    pub const SEAT_TEMPERATURE: [usize; 3] = [0, 1, 2];
    /// `Sim.Cabin.Seat.Heating.Power`, W, all seats together.
    pub const POWER: usize = 3;
    /// `Sim.Diagnostics.HeatedSeats.ActiveFaults`: the DTC mask.
    pub const ACTIVE_FAULTS: usize = 4;
}

/// Everything that survives a hot swap. Every field is required, so that
/// another plugin's state (or `{}`) is refused; fields added by later
/// versions must carry `#[serde(default)]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct State {
    /// Whether the seats have been set from a first cabin reading.
    initialised: bool,
    /// Surface temperature per seat, Celsius.
    seats_c: [f64; SEAT_COUNT],
    /// Last finite cabin reading, Celsius.
    cabin_c: f64,
    /// Active faults (none in snapshots that predate them).
    #[serde(default)]
    faults: tcu_sdk::dtc::ActiveFaults,
}

/// The seat heating of one vehicle.
#[derive(Debug, Clone)]
pub struct HeatedSeats {
    state: State,
}

/// Power of a mat over a step whose lag covers the fraction `reach` of the
/// way to its equilibrium (`1 - exp(-dt/tau)`): what lands the seat exactly
/// on `target`, within 0..=`limit`. With `reach` 0 (no time passes) it is
/// the limit below the target, nothing above it and the maintenance power on it.
fn mat_power(temp_c: f64, target_c: f64, cabin_c: f64, limit: f64, reach: f64) -> f64 {
    let gap = target_c - temp_c;
    let drive = if gap == 0.0 {
        0.0
    } else if reach > 0.0 {
        gap / reach
    } else {
        gap.signum() * f64::INFINITY
    };
    (LOSS_W_PER_K * (drive + temp_c - cabin_c)).clamp(0.0, limit)
}

impl HeatedSeats {
    /// Surface temperature of seat `seat` (index into [`SEATS`]), Celsius.
    pub fn seat_temperature(&self, seat: usize) -> f64 {
        self.state.seats_c.get(seat).copied().unwrap_or(f64::NAN)
    }
}

impl Subsystem for HeatedSeats {
    const NAME: &'static CStr = c"heated-seats";
    const VERSION: &'static CStr = c"1.0.0";
    const READS: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row1.DriverSide.HeatingCooling",
            TCU_TYPE_INT8,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row1.PassengerSide.HeatingCooling",
            TCU_TYPE_INT8,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.DriverSide.HeatingCooling",
            TCU_TYPE_INT8,
        ),
        TcuSignalDecl::new(c"Vehicle.Cabin.HVAC.AmbientAirTemperature", TCU_TYPE_FLOAT),
    ];
    const WRITES: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(
            c"Sim.Cabin.Seat.Row1.DriverSide.Temperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Cabin.Seat.Row1.PassengerSide.Temperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Cabin.Seat.Row2.DriverSide.Temperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(c"Sim.Cabin.Seat.Heating.Power", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Diagnostics.HeatedSeats.ActiveFaults", TCU_TYPE_UINT32),
    ];

    fn create(_seed: u64) -> Result<Self, PluginError> {
        Ok(Self {
            state: State {
                initialised: false,
                seats_c: [DEFAULT_CABIN_C; SEAT_COUNT],
                cabin_c: DEFAULT_CABIN_C,
                faults: Default::default(),
            },
        })
    }

    fn tick(&mut self, dt: f64, inputs: &[f64], outputs: &mut [f64]) -> Result<(), PluginError> {
        tcu_sdk::check_tick::<Self>(dt, inputs, outputs)?;

        let cabin = finite_or(inputs[inputs::CABIN_TEMPERATURE], self.state.cabin_c)
            .clamp(TEMP_MIN_C, TEMP_MAX_C);
        self.state.cabin_c = cabin;
        if !self.state.initialised {
            self.state.seats_c = [cabin; SEAT_COUNT];
            self.state.initialised = true;
        }

        let reach = -(-dt / TAU_S).exp_m1();
        let mut total = 0.0;
        let faults = self.state.faults;
        for (seat, temp) in self.state.seats_c.iter_mut().enumerate() {
            // No cooling hardware: a cooling request switches the mat off.
            let level = finite_or(inputs[inputs::HEATING_COOLING[seat]], 0.0)
                .round()
                .clamp(0.0, 100.0);
            // An open heater circuit draws nothing, whatever is asked.
            let level = if faults::open_circuit(faults, seat) {
                0.0
            } else {
                level
            };
            let target = target_temperature(cabin, level);
            // The level sets the target; the thermostat switches the whole mat.
            let limit = if level > 0.0 { MAX_POWER_W } else { 0.0 };
            let power = mat_power(*temp, target, cabin, limit, reach);
            if dt > 0.0 {
                let unclamped = power > 0.0 && power < limit;
                // The thermostat chose exactly the power that lands on the
                // target; landing there exactly keeps it from dithering.
                *temp = if unclamped {
                    target
                } else {
                    approach(*temp, cabin + power / LOSS_W_PER_K, dt, TAU_S)
                };
            }
            total += power;
        }

        for (seat, temp) in self.state.seats_c.iter().enumerate() {
            outputs[outputs::SEAT_TEMPERATURE[seat]] = temp.clamp(TEMP_MIN_C, TEMP_MAX_C);
        }
        outputs[outputs::POWER] = total.clamp(0.0, POWER_MAX_W);
        faults::write(self.state.faults, outputs);
        Ok(())
    }

    fn command(&mut self, name: &str, value: f64) -> Result<(), CommandError> {
        self.state.faults.only_command(&faults::FAULTS, name, value)
    }

    fn snapshot(&self) -> Vec<u8> {
        tcu_sdk::snapshot::encode(&self.state)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        let in_range = |t: f64| (TEMP_MIN_C..=TEMP_MAX_C).contains(&t);
        let check = |state: &State| {
            let ok = state.seats_c.iter().all(|&t| in_range(t)) && in_range(state.cabin_c);
            tcu_sdk::snapshot::require(
                ok,
                "heated-seats: invalid snapshot: temperature out of range",
            )
        };
        tcu_sdk::snapshot::restore(
            &mut self.state,
            "heated-seats: invalid snapshot",
            bytes,
            check,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcu_sdk::CommandError;
    use tcu_sdk::testing::{self, path};

    const DT: f64 = 0.01;
    const MINUTE: f64 = 60.0;

    /// Allowed range of each output (all from the catalog).
    fn output_range(slot: usize) -> (f64, f64) {
        match slot {
            outputs::POWER => (0.0, POWER_MAX_W),
            _ => (TEMP_MIN_C, TEMP_MAX_C),
        }
    }

    fn assert_outputs_valid(out: &[f64; 5]) {
        testing::assert_outputs_in(out, output_range);
    }

    fn seat_inputs(levels: [f64; 3], cabin: f64) -> [f64; 4] {
        let mut inp = [0.0; 4];
        for (seat, level) in levels.iter().enumerate() {
            inp[inputs::HEATING_COOLING[seat]] = *level;
        }
        inp[inputs::CABIN_TEMPERATURE] = cabin;
        inp
    }

    fn temps(out: &[f64; 5]) -> [f64; 3] {
        std::array::from_fn(|s| out[outputs::SEAT_TEMPERATURE[s]])
    }

    /// Runs `seconds` of constant inputs, calling `each` after every tick
    /// with the time at the end of the tick.
    fn run(
        seats: &mut HeatedSeats,
        dt: f64,
        seconds: f64,
        inp: &[f64; 4],
        out: &mut [f64; 5],
        mut each: impl FnMut(f64, &[f64; 5]),
    ) {
        let ticks = (seconds / dt).round() as usize;
        for k in 0..ticks {
            seats.tick(dt, inp, out).expect("tick");
            assert_outputs_valid(out);
            each((k + 1) as f64 * dt, out);
        }
    }

    fn cabins() -> impl Iterator<Item = f64> {
        (0..=10).map(|i| -20.0 + 5.0 * f64::from(i))
    }

    #[test]
    fn index_constants_match_the_declared_paths_and_types() {
        assert_eq!(HeatedSeats::READS.len(), 4);
        assert_eq!(HeatedSeats::WRITES.len(), 5);
        let read = |i: usize| (path(&HeatedSeats::READS[i]), HeatedSeats::READS[i].datatype);
        let write = |i: usize| {
            (
                path(&HeatedSeats::WRITES[i]),
                HeatedSeats::WRITES[i].datatype,
            )
        };
        for (s, name) in SEATS.iter().enumerate() {
            assert_eq!(
                read(inputs::HEATING_COOLING[s]),
                (
                    format!("Vehicle.Cabin.Seat.{name}.HeatingCooling").as_str(),
                    TCU_TYPE_INT8
                )
            );
            assert_eq!(
                write(outputs::SEAT_TEMPERATURE[s]),
                (
                    format!("Sim.Cabin.Seat.{name}.Temperature").as_str(),
                    TCU_TYPE_FLOAT
                )
            );
        }
        assert_eq!(
            read(inputs::CABIN_TEMPERATURE),
            ("Vehicle.Cabin.HVAC.AmbientAirTemperature", TCU_TYPE_FLOAT)
        );
        assert_eq!(
            write(outputs::POWER),
            ("Sim.Cabin.Seat.Heating.Power", TCU_TYPE_FLOAT)
        );
    }

    #[test]
    fn every_declared_signal_exists_in_the_catalog_with_its_datatype_and_range() {
        testing::assert_declarations_in_catalog::<HeatedSeats>();
        // The last slot is the DTC mask, checked by the faults' tests.
        for (slot, decl) in HeatedSeats::WRITES[..outputs::ACTIVE_FAULTS]
            .iter()
            .enumerate()
        {
            let entry = testing::catalog_entry(path(decl)).expect("in catalog");
            assert_eq!((entry.min, entry.max), {
                let (lo, hi) = output_range(slot);
                (Some(lo), Some(hi))
            });
        }
        let request = testing::catalog_entry("Vehicle.Cabin.Seat.Row1.DriverSide.HeatingCooling")
            .expect("request in catalog");
        assert_eq!((request.min, request.max), (Some(-100.0), Some(100.0)));
    }

    #[test]
    fn the_target_grows_with_level_and_stays_between_cabin_and_42() {
        for cabin in cabins() {
            let mut last = target_temperature(cabin, 0.0);
            assert_eq!(last, cabin);
            for level in 1..=100 {
                let target = target_temperature(cabin, f64::from(level));
                assert!(target > last, "cabin {cabin} level {level}");
                assert!(target <= FULL_LEVEL_TARGET_C);
                last = target;
            }
            assert_eq!(last, FULL_LEVEL_TARGET_C);
        }
        // A cabin hotter than 42 C is never heated further.
        for level in [1.0, 50.0, 100.0] {
            assert_eq!(target_temperature(55.0, level), 55.0);
        }
    }

    #[test]
    fn seats_warm_monotonically_to_within_two_degrees_of_target_in_ten_minutes() {
        // Three levels per run, one per seat: 0, 5, ..., 100.
        let level_sets: Vec<[f64; 3]> = (0..7)
            .map(|i| std::array::from_fn(|s| f64::from(5 * (3 * i + s as u32))))
            .collect();
        for cabin in cabins() {
            let mut finals = Vec::new();
            for levels in &level_sets {
                let mut seats = HeatedSeats::create(0).expect("create");
                let mut out = [0.0; 5];
                let inp = seat_inputs(*levels, cabin);
                let targets = levels.map(|l| target_temperature(cabin, l));
                let mut last = [cabin; 3];
                run(&mut seats, DT, 10.0 * MINUTE, &inp, &mut out, |t, out| {
                    for (s, temp) in temps(out).iter().enumerate() {
                        assert!(*temp >= last[s] - 1e-9, "cooled at {t} s");
                        assert!(*temp <= targets[s] + 1e-9, "overshoot at {t} s");
                        assert!(*temp <= 45.0);
                        last[s] = *temp;
                    }
                });
                for (s, temp) in temps(&out).iter().enumerate() {
                    assert!(
                        (targets[s] - temp).abs() <= 2.0,
                        "cabin {cabin} level {}: {temp} vs {}",
                        levels[s],
                        targets[s]
                    );
                    finals.push(*temp);
                }
            }
            // Higher level, warmer seat (level 0 stays at the cabin).
            assert_eq!(finals[0], cabin);
            assert!(finals.windows(2).all(|w| w[1] > w[0]), "{finals:?}");
        }
    }

    #[test]
    fn off_or_negative_levels_draw_nothing_and_leave_the_seat_at_cabin_temperature() {
        for cabin in cabins() {
            for level in (-100..=0).step_by(10) {
                let level = f64::from(level);
                let mut seats = HeatedSeats::create(0).expect("create");
                let mut out = [0.0; 5];
                let inp = seat_inputs([level, level / 2.0, -1.0], cabin);
                run(&mut seats, DT, 2.0 * MINUTE, &inp, &mut out, |_, out| {
                    assert_eq!(out[outputs::POWER], 0.0);
                    assert_eq!(temps(out), [cabin; 3]);
                });
            }
        }
    }

    #[test]
    fn a_cold_seat_draws_the_full_mat_at_any_level_and_higher_levels_draw_more_on_average() {
        for cabin in cabins() {
            let mut mean = Vec::new();
            let mut last = Vec::new();
            for level in (5..=100).step_by(5) {
                let level = f64::from(level);
                let mut seats = HeatedSeats::create(0).expect("create");
                let mut out = [0.0; 5];
                let inp = seat_inputs([level; 3], cabin);
                let mut sum = 0.0;
                let mut first_power = None;
                run(&mut seats, DT, 10.0 * MINUTE, &inp, &mut out, |_, out| {
                    assert!(out[outputs::POWER] > 0.0);
                    first_power.get_or_insert(out[outputs::POWER]);
                    sum += out[outputs::POWER];
                });
                // The level sets the target: a cold mat runs at full power.
                let p0 = first_power.expect("ran");
                assert!(
                    (p0 - 3.0 * MAX_POWER_W).abs() < 1e-9,
                    "{cabin} {level}: {p0}"
                );
                mean.push(sum * DT / (10.0 * MINUTE));
                last.push(out[outputs::POWER]);
            }
            for series in [&mean, &last] {
                assert!(
                    series.windows(2).all(|w| w[1] > w[0]),
                    "{cabin}: {series:?}"
                );
            }
        }
    }

    #[test]
    fn level_fifty_in_a_minus_ten_cabin_aims_above_thirty_not_at_sixteen() {
        assert_eq!(target_temperature(-10.0, 50.0), 36.0);
        // Every level aims at the same surface temperature in any cabin
        // colder than it.
        for level in [1.0, 33.0, 50.0, 66.0, 100.0] {
            let aim = target_temperature(-20.0, level);
            assert!((LOWEST_LEVEL_TARGET_C..=FULL_LEVEL_TARGET_C).contains(&aim));
            for cabin in cabins() {
                assert_eq!(target_temperature(cabin, level), aim.max(cabin));
            }
        }
        let mut seats = HeatedSeats::create(0).expect("create");
        let mut out = [0.0; 5];
        let inp = seat_inputs([50.0, 0.0, 0.0], -10.0);
        run(&mut seats, 0.1, 30.0 * MINUTE, &inp, &mut out, |_, _| {});
        assert!((temps(&out)[0] - 36.0).abs() < 1e-6, "{:?}", temps(&out));
    }

    #[test]
    fn full_level_reaches_within_two_degrees_in_three_to_six_minutes_from_a_cold_cabin() {
        for cabin in [-5.0, 0.0, 5.0] {
            let mut seats = HeatedSeats::create(0).expect("create");
            let mut out = [0.0; 5];
            let inp = seat_inputs([100.0; 3], cabin);
            let mut reached = None;
            run(&mut seats, DT, 10.0 * MINUTE, &inp, &mut out, |t, out| {
                if temps(out).iter().all(|&t| t >= FULL_LEVEL_TARGET_C - 2.0) {
                    reached.get_or_insert(t);
                }
            });
            let t = reached.expect("never reached");
            assert!((180.0..=360.0).contains(&t), "cabin {cabin}: {t} s");
        }
    }

    #[test]
    fn on_target_a_seat_draws_only_the_power_that_holds_it_there() {
        for cabin in cabins() {
            for level in [10.0, 50.0, 100.0] {
                let mut seats = HeatedSeats::create(0).expect("create");
                let mut out = [0.0; 5];
                let inp = seat_inputs([level, 0.0, 0.0], cabin);
                run(&mut seats, 0.1, 30.0 * MINUTE, &inp, &mut out, |_, _| {});
                let target = target_temperature(cabin, level);
                assert!((temps(&out)[0] - target).abs() < 1e-9);
                let hold = LOSS_W_PER_K * (target - cabin);
                assert!((out[outputs::POWER] - hold).abs() < 1e-6 * hold.max(1.0));
                assert!(hold < MAX_POWER_W);
            }
        }
    }

    #[test]
    fn switched_off_a_seat_follows_the_cabin_with_a_ten_minute_time_constant() {
        for (from, to) in [(20.0, 0.0), (-10.0, 25.0), (42.0, 20.0)] {
            let mut seats = HeatedSeats::create(0).expect("create");
            let mut out = [0.0; 5];
            seats
                .tick(DT, &seat_inputs([0.0; 3], from), &mut out)
                .expect("tick");
            let gap0 = (to - from).abs();
            let mut last_gap = gap0;
            let mut gap_10 = 0.0;
            run(
                &mut seats,
                DT,
                60.0 * MINUTE,
                &seat_inputs([0.0; 3], to),
                &mut out,
                |t, out| {
                    assert_eq!(out[outputs::POWER], 0.0);
                    let gap = (temps(out)[0] - to).abs();
                    assert!(gap <= last_gap);
                    last_gap = gap;
                    if (t - 10.0 * MINUTE).abs() < DT / 2.0 {
                        gap_10 = gap;
                    }
                },
            );
            let tau_min = -10.0 / (gap_10 / gap0).ln();
            assert!((8.0..=12.0).contains(&tau_min), "tau {tau_min} min");
            assert!(last_gap < 0.01 * gap0);
        }
    }

    #[test]
    fn turning_the_level_down_cools_the_seat_to_the_new_target_without_power() {
        for cabin in [-10.0, 5.0, 20.0] {
            let mut seats = HeatedSeats::create(0).expect("create");
            let mut out = [0.0; 5];
            run(
                &mut seats,
                DT,
                20.0 * MINUTE,
                &seat_inputs([100.0; 3], cabin),
                &mut out,
                |_, _| {},
            );
            let low = target_temperature(cabin, 30.0);
            let mut last = temps(&out)[0];
            run(
                &mut seats,
                DT,
                30.0 * MINUTE,
                &seat_inputs([30.0; 3], cabin),
                &mut out,
                |_, out| {
                    let temp = temps(out)[0];
                    assert!(temp <= last && temp >= low - 1e-9);
                    if temp > low {
                        assert_eq!(out[outputs::POWER], 0.0);
                    }
                    last = temp;
                },
            );
            assert!((last - low).abs() < 1e-9);
        }
    }

    #[test]
    fn a_seat_never_gets_hotter_than_45_degrees() {
        // Level 100 in every cabin up to 42 C, and a cabin warming meanwhile.
        for cabin in (-20..=42).step_by(2) {
            let mut seats = HeatedSeats::create(0).expect("create");
            let mut out = [0.0; 5];
            let inp = seat_inputs([100.0; 3], f64::from(cabin));
            run(&mut seats, 0.1, 30.0 * MINUTE, &inp, &mut out, |_, out| {
                assert!(temps(out).iter().all(|&t| t <= 42.0 + 1e-9));
            });
        }
        let mut seats = HeatedSeats::create(0).expect("create");
        let mut out = [0.0; 5];
        for k in 0..360_000 {
            let cabin = -20.0 + 62.0 * f64::from(k) / 360_000.0;
            seats
                .tick(DT, &seat_inputs([100.0; 3], cabin), &mut out)
                .expect("tick");
            assert!(temps(&out).iter().all(|&t| t <= 42.0 + 1e-9));
        }
    }

    #[test]
    fn long_ticks_stay_bounded_and_end_on_target() {
        for dt in [0.5, 1.0, 10.0, 60.0, 600.0] {
            for cabin in [-20.0, 0.0, 25.0] {
                let mut seats = HeatedSeats::create(0).expect("create");
                let mut out = [0.0; 5];
                let levels = [100.0, 60.0, 20.0];
                let inp = seat_inputs(levels, cabin);
                run(&mut seats, dt, 40.0 * MINUTE, &inp, &mut out, |_, out| {
                    for (temp, level) in temps(out).iter().zip(levels) {
                        assert!(*temp <= target_temperature(cabin, level) + 1e-9);
                    }
                });
                for (temp, level) in temps(&out).iter().zip(levels) {
                    assert!((temp - target_temperature(cabin, level)).abs() < 1e-6);
                }
            }
        }
    }

    #[test]
    fn the_first_tick_sets_the_seats_to_the_cabin_temperature() {
        for cabin in [-40.0, -3.5, 0.0, 21.0, 60.0] {
            let mut seats = HeatedSeats::create(0).expect("create");
            let mut out = [0.0; 5];
            seats
                .tick(DT, &seat_inputs([0.0; 3], cabin), &mut out)
                .expect("tick");
            assert_eq!(temps(&out), [cabin; 3]);
        }
    }

    #[test]
    fn non_finite_inputs_keep_every_output_finite_and_in_range() {
        let mut seats = HeatedSeats::create(0).expect("create");
        let mut out = [0.0; 5];
        let good = seat_inputs([70.0, 30.0, 100.0], 5.0);
        run(&mut seats, DT, 10.0, &good, &mut out, |_, _| {});
        for slot in 0..4 {
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1e300, 1e300] {
                let mut inp = good;
                inp[slot] = bad;
                run(&mut seats, DT, 1.0, &inp, &mut out, |_, _| {});
            }
        }
        // A NaN cabin on the very first tick falls back to 20 C.
        let mut fresh = HeatedSeats::create(0).expect("create");
        fresh
            .tick(DT, &seat_inputs([0.0; 3], f64::NAN), &mut out)
            .expect("tick");
        assert_eq!(temps(&out), [DEFAULT_CABIN_C; 3]);
    }

    #[test]
    fn every_seed_behaves_identically() {
        let inp = seat_inputs([80.0, -20.0, 35.0], -4.0);
        let mut reference = HeatedSeats::create(0).expect("create");
        let mut ref_out = [0.0; 5];
        run(&mut reference, DT, 100.0, &inp, &mut ref_out, |_, _| {});
        for seed in [1, 42, u64::MAX, 0xDEAD_BEEF] {
            let mut seats = HeatedSeats::create(seed).expect("create");
            let mut out = [0.0; 5];
            run(&mut seats, DT, 100.0, &inp, &mut out, |_, _| {});
            assert_eq!(out, ref_out);
            assert_eq!(seats.snapshot(), reference.snapshot());
        }
    }

    #[test]
    fn snapshot_restore_mid_warm_up_continues_identically() {
        let schedule = |k: usize| {
            let t = k as f64 * DT;
            let level = if t < 300.0 { 100.0 } else { 40.0 };
            seat_inputs(
                [level, 60.0, if t < 100.0 { 0.0 } else { 90.0 }],
                -5.0 + t / 60.0,
            )
        };
        for cut in [0usize, 1, 3_000, 20_000, 40_000] {
            let mut a = HeatedSeats::create(5).expect("create");
            let mut oa = [0.0; 5];
            for k in 0..cut {
                a.tick(DT, &schedule(k), &mut oa).expect("tick");
            }
            let mut b = HeatedSeats::create(6).expect("create");
            b.restore(&a.snapshot()).expect("restore");
            let mut ob = oa;
            for k in cut..cut + 60_000 {
                let inp = schedule(k);
                a.tick(DT, &inp, &mut oa).expect("tick");
                b.tick(DT, &inp, &mut ob).expect("tick");
                assert_eq!(oa, ob, "diverged at tick {k} after a cut at {cut}");
            }
            assert_eq!(a.snapshot(), b.snapshot());
            assert_eq!(a.seat_temperature(0), b.seat_temperature(0));
        }
    }

    #[test]
    fn restore_rejects_bad_bytes_with_a_message() {
        let mut seats = HeatedSeats::create(0).expect("create");
        let bad_snapshots: [&[u8]; 6] = [
            b"",
            b"not json",
            b"{}",
            b"[true]",
            br#"{"initialised":true,"seats_c":[20.0,20.0],"cabin_c":20.0}"#,
            br#"{"initialised":true,"seats_c":[20.0,20.0,20.0],"cabin_c":-300.0}"#,
        ];
        for bad in bad_snapshots {
            let err = seats.restore(bad).expect_err("bad snapshot accepted");
            assert!(err.0.contains("heated-seats: invalid snapshot"), "{err}");
        }
        assert_eq!(
            seats.snapshot(),
            HeatedSeats::create(0).expect("create").snapshot()
        );
    }

    #[test]
    fn invalid_calls_are_errors_not_panics_and_no_command_is_known() {
        let mut seats = HeatedSeats::create(0).expect("create");
        let mut out = [0.0; 5];
        let inp = seat_inputs([100.0, 0.0, 0.0], 0.0);
        for dt in [f64::NAN, -0.01, f64::INFINITY] {
            assert!(seats.tick(dt, &inp, &mut out).is_err());
        }
        assert!(seats.tick(DT, &inp[..3], &mut out).is_err());
        assert!(seats.tick(DT, &inp, &mut out[..3]).is_err());
        // A zero step changes nothing but reports the power being drawn.
        seats
            .tick(0.0, &inp, &mut out)
            .expect("a zero step is fine");
        assert_eq!(temps(&out), [0.0; 3]);
        assert_eq!(out[outputs::POWER], MAX_POWER_W);
        assert_eq!(
            seats.command("reset", 0.0),
            Err(CommandError::Unsupported("reset".to_owned()))
        );
    }
}
