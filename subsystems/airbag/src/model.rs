//! The airbag control unit: crash detection, firing and latching.

use serde::{Deserialize, Serialize};
use std::ffi::CStr;
use tcu_sdk::abi::{TCU_TYPE_BOOLEAN, TCU_TYPE_FLOAT, TcuSignalDecl};
use tcu_sdk::physics::{as_bool, finite_or, from_bool};
use tcu_sdk::{CommandError, PluginError, Subsystem};

/// Deceleration above which the unit fires, in g.
pub const DEPLOY_THRESHOLD_G: f64 = 20.0;
/// Cumulative time the pulse must spend above the threshold within one event
/// before the unit fires, in seconds.
pub const DWELL_S: f64 = 0.001;
/// Below this deceleration (g) an event is over and the dwell accumulator
/// starts from zero again.
pub const WAKE_G: f64 = 3.0;
/// Number of seats with an airbag.
pub const SEAT_COUNT: usize = 5;
/// Seat names in the order of the declared signals.
pub const SEATS: [&str; SEAT_COUNT] = [
    "Row1.DriverSide",
    "Row1.PassengerSide",
    "Row2.DriverSide",
    "Row2.Middle",
    "Row2.PassengerSide",
];

/// Slack on the dwell comparison: ten ticks of 0.1 ms add up to slightly
/// less than 1 ms in binary floating point.
const DWELL_SLACK_S: f64 = 1e-12;

/// Input slots, in the order of [`Airbag::READS`].
pub mod inputs {
    /// `Sim.Crash.Pulse`, g.
    pub const CRASH_PULSE: usize = 0;
    /// `Vehicle.Cabin.Seat.<seat>.IsOccupied`, per seat in `SEATS` order.
    pub const IS_OCCUPIED: [usize; 5] = [1, 2, 3, 4, 5];
    /// `Vehicle.Cabin.Seat.<seat>.IsBelted`, per seat in `SEATS` order.
    pub const IS_BELTED: [usize; 5] = [6, 7, 8, 9, 10];
}

/// Output slots, in the order of [`Airbag::WRITES`].
pub mod outputs {
    /// `Vehicle.Cabin.Seat.<seat>.Airbag.IsDeployed`, per seat in `SEATS` order.
    pub const IS_DEPLOYED: [usize; 5] = [0, 1, 2, 3, 4];
}

/// How far a seat's airbag inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Stage {
    /// Not deployed.
    #[default]
    None,
    /// First stage only: the occupant was belted, the belt takes part of the load.
    First,
    /// Both stages: the occupant was not belted.
    Full,
}

/// Everything that survives a hot swap. Every field is required, so that
/// the state of another plugin (or `{}`) is refused; fields added by later
/// versions must carry `#[serde(default)]` to read this version's snapshots.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    /// Simulated time since `create`, at the end of the last tick, s.
    time_s: f64,
    /// Cumulative time above the threshold in the current event, s.
    above_threshold_s: f64,
    /// When the pulse first exceeded the threshold in the current event.
    first_above_s: Option<f64>,
    /// When the unit fired (also recorded when no seat was occupied).
    deployed_at_s: Option<f64>,
    /// Highest pulse seen since creation or the last reset, g.
    peak_g: f64,
    /// Stage per seat, in `SEATS` order.
    stages: [Stage; SEAT_COUNT],
}

/// The airbag control unit of one vehicle.
#[derive(Debug, Clone, Default)]
pub struct Airbag {
    state: State,
}

impl Airbag {
    /// When the unit fired, in simulated seconds since creation.
    pub fn deployed_at_s(&self) -> Option<f64> {
        self.state.deployed_at_s
    }

    /// When the pulse first exceeded the threshold in the current (or the
    /// firing) event, in simulated seconds since creation.
    pub fn first_above_threshold_s(&self) -> Option<f64> {
        self.state.first_above_s
    }

    /// Stage of the airbag of seat `seat` (index into [`SEATS`]).
    pub fn stage(&self, seat: usize) -> Stage {
        self.state.stages.get(seat).copied().unwrap_or_default()
    }

    /// Highest pulse seen since creation or the last reset, in g.
    pub fn peak_g(&self) -> f64 {
        self.state.peak_g
    }

    fn fire(&mut self, inputs: &[f64]) {
        self.state.deployed_at_s = Some(self.state.time_s);
        for (seat, stage) in self.state.stages.iter_mut().enumerate() {
            // A sensor that reads garbage counts as "empty": an airbag fired
            // into an empty seat is a needless repair bill, and into a child
            // seat it is dangerous.
            let occupied = as_bool(finite_or(inputs[inputs::IS_OCCUPIED[seat]], 0.0));
            let belted = as_bool(finite_or(inputs[inputs::IS_BELTED[seat]], 0.0));
            *stage = match (occupied, belted) {
                (false, _) => Stage::None,
                (true, true) => Stage::First,
                (true, false) => Stage::Full,
            };
        }
    }
}

impl Subsystem for Airbag {
    const NAME: &'static CStr = c"airbag";
    const VERSION: &'static CStr = c"1.0.0";
    const READS: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(c"Sim.Crash.Pulse", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row1.DriverSide.IsOccupied",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row1.PassengerSide.IsOccupied",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.DriverSide.IsOccupied",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.Middle.IsOccupied",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.PassengerSide.IsOccupied",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row1.DriverSide.IsBelted",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row1.PassengerSide.IsBelted",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.DriverSide.IsBelted",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(c"Vehicle.Cabin.Seat.Row2.Middle.IsBelted", TCU_TYPE_BOOLEAN),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.PassengerSide.IsBelted",
            TCU_TYPE_BOOLEAN,
        ),
    ];
    const WRITES: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row1.DriverSide.Airbag.IsDeployed",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row1.PassengerSide.Airbag.IsDeployed",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.DriverSide.Airbag.IsDeployed",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.Middle.Airbag.IsDeployed",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.Seat.Row2.PassengerSide.Airbag.IsDeployed",
            TCU_TYPE_BOOLEAN,
        ),
    ];

    fn create(_seed: u64) -> Result<Self, PluginError> {
        Ok(Self::default())
    }

    fn tick(&mut self, dt: f64, inputs: &[f64], outputs: &mut [f64]) -> Result<(), PluginError> {
        tcu_sdk::check_tick::<Self>(dt, inputs, outputs)?;

        let s = &mut self.state;
        s.time_s += dt;
        let pulse = finite_or(inputs[inputs::CRASH_PULSE], 0.0).max(0.0);
        s.peak_g = s.peak_g.max(pulse);

        if s.deployed_at_s.is_none() {
            if pulse > DEPLOY_THRESHOLD_G {
                if s.first_above_s.is_none() {
                    s.first_above_s = Some(s.time_s);
                }
                s.above_threshold_s += dt;
                if s.above_threshold_s + DWELL_SLACK_S >= DWELL_S {
                    self.fire(inputs);
                }
            } else if pulse < WAKE_G {
                s.above_threshold_s = 0.0;
                s.first_above_s = None;
            }
        }

        for (seat, stage) in self.state.stages.iter().enumerate() {
            outputs[outputs::IS_DEPLOYED[seat]] = from_bool(*stage != Stage::None);
        }
        Ok(())
    }

    fn command(&mut self, name: &str, _value: f64) -> Result<(), CommandError> {
        match name {
            "reset" => {
                // The clock keeps running: it is simulated time, not event time.
                self.state = State {
                    time_s: self.state.time_s,
                    ..State::default()
                };
                Ok(())
            }
            _ => Err(CommandError::Unsupported(name.to_owned())),
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        tcu_sdk::snapshot::encode(&self.state)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        let state: State = tcu_sdk::snapshot::decode("airbag: invalid snapshot", bytes)?;
        if !(state.time_s.is_finite()
            && state.above_threshold_s.is_finite()
            && state.peak_g.is_finite())
        {
            return Err(PluginError(
                "airbag: invalid snapshot: non-finite value".to_owned(),
            ));
        }
        self.state = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcu_sdk::testing::{self, path};

    const DT: f64 = 0.01;
    /// Duration of the world model's half-sine crash pulse.
    const PULSE_S: f64 = 0.1;
    /// Tick lengths the model must work for: 0.1 ms to 20 ms.
    const DTS: [f64; 7] = [0.0001, 0.0003, 0.001, 0.002, 0.005, 0.01, 0.02];

    fn assert_outputs_valid(out: &[f64]) {
        for (i, v) in out.iter().enumerate() {
            assert!(*v == 0.0 || *v == 1.0, "output {i} is not a boolean: {v}");
        }
    }

    fn occupancy_inputs(pulse: f64, occupied: u32, belted: u32) -> [f64; 11] {
        let mut inp = [0.0; 11];
        inp[inputs::CRASH_PULSE] = pulse;
        for seat in 0..SEAT_COUNT {
            inp[inputs::IS_OCCUPIED[seat]] = from_bool(occupied & (1 << seat) != 0);
            inp[inputs::IS_BELTED[seat]] = from_bool(belted & (1 << seat) != 0);
        }
        inp
    }

    fn deployed_mask(out: &[f64]) -> u32 {
        (0..SEAT_COUNT)
            .filter(|&s| as_bool(out[outputs::IS_DEPLOYED[s]]))
            .fold(0, |m, s| m | (1 << s))
    }

    /// The world model's half-sine pulse, starting at `start`.
    fn half_sine(peak: f64, start: f64, t: f64) -> f64 {
        if t < start || t > start + PULSE_S {
            0.0
        } else {
            (peak * (std::f64::consts::PI * (t - start) / PULSE_S).sin()).max(0.0)
        }
    }

    struct CrashRun {
        /// Deployed seats after the pulse.
        deployed: u32,
        /// Cumulative sampled time above the threshold, as the test sees it.
        sampled_dwell_s: f64,
        /// Time of the first sample above the threshold.
        first_sample_above_s: Option<f64>,
        /// Time (end of tick) the outputs first showed a deployment.
        first_output_s: Option<f64>,
        airbag: Airbag,
    }

    /// Runs one crash pulse; the input of tick `k` is the pulse sampled at the
    /// end of that tick, `(k + 1) * dt`.
    fn run_crash(peak: f64, start: f64, dt: f64, occupied: u32, belted: u32) -> CrashRun {
        let mut bag = Airbag::create(0).expect("create");
        let mut out = [0.0; 5];
        let mut run = CrashRun {
            deployed: 0,
            sampled_dwell_s: 0.0,
            first_sample_above_s: None,
            first_output_s: None,
            airbag: Airbag::default(),
        };
        let ticks = ((start + PULSE_S + 0.05) / dt).ceil() as usize;
        for k in 0..ticks {
            let t = (k + 1) as f64 * dt;
            let g = half_sine(peak, start, t);
            if g > DEPLOY_THRESHOLD_G {
                run.sampled_dwell_s += dt;
                run.first_sample_above_s.get_or_insert(t);
            }
            bag.tick(dt, &occupancy_inputs(g, occupied, belted), &mut out)
                .expect("tick");
            assert_outputs_valid(&out);
            if out.iter().any(|v| as_bool(*v)) {
                run.first_output_s.get_or_insert(t);
            }
        }
        run.deployed = deployed_mask(&out);
        run.airbag = bag;
        run
    }

    #[test]
    fn index_constants_match_the_declared_paths_and_types() {
        assert_eq!(Airbag::READS.len(), 11);
        assert_eq!(Airbag::WRITES.len(), 5);
        assert_eq!(path(&Airbag::READS[inputs::CRASH_PULSE]), "Sim.Crash.Pulse");
        assert_eq!(Airbag::READS[inputs::CRASH_PULSE].datatype, TCU_TYPE_FLOAT);
        for (seat, name) in SEATS.iter().enumerate() {
            let occ = &Airbag::READS[inputs::IS_OCCUPIED[seat]];
            assert_eq!(path(occ), format!("Vehicle.Cabin.Seat.{name}.IsOccupied"));
            assert_eq!(occ.datatype, TCU_TYPE_BOOLEAN);
            let belt = &Airbag::READS[inputs::IS_BELTED[seat]];
            assert_eq!(path(belt), format!("Vehicle.Cabin.Seat.{name}.IsBelted"));
            assert_eq!(belt.datatype, TCU_TYPE_BOOLEAN);
            let bag = &Airbag::WRITES[outputs::IS_DEPLOYED[seat]];
            assert_eq!(
                path(bag),
                format!("Vehicle.Cabin.Seat.{name}.Airbag.IsDeployed")
            );
            assert_eq!(bag.datatype, TCU_TYPE_BOOLEAN);
        }
    }

    #[test]
    fn every_declared_signal_exists_in_the_catalog_with_its_datatype() {
        testing::assert_declarations_in_catalog::<Airbag>();
        // The pulse range the model is tested over lies inside the catalog's.
        let pulse = testing::catalog_entry("Sim.Crash.Pulse").expect("pulse in catalog");
        assert!(pulse.min.expect("pulse min") <= 0.0 && pulse.max.expect("pulse max") >= 80.0);
    }

    #[test]
    fn exactly_the_occupied_seats_deploy_iff_the_sampled_pulse_dwells_above_threshold() {
        let mut deployed_runs = 0;
        let mut quiet_runs = 0;
        for &dt in &DTS {
            for step in 0..=160 {
                let peak = f64::from(step) * 0.5;
                for phase in [0.0, 0.37, 0.81] {
                    let start = 0.005 + phase * dt;
                    // The decision does not depend on who sits where, so the
                    // expensive fine-dt runs cycle through the 32 patterns
                    // instead of repeating the pulse for each.
                    for occupied in (0..32u32).filter(|o| dt >= 0.001 || o % 7 == step % 7) {
                        let belted = occupied.rotate_left(step) & 0b11111;
                        let run = run_crash(peak, start, dt, occupied, belted);
                        let should = run.sampled_dwell_s + 1e-12 >= DWELL_S;
                        let expected = if should { occupied } else { 0 };
                        assert_eq!(
                            run.deployed, expected,
                            "peak {peak} g dt {dt} phase {phase} occupied {occupied:05b}"
                        );
                        assert_eq!(run.deployed & !occupied, 0, "an empty seat deployed");
                        if should {
                            deployed_runs += 1;
                        } else {
                            quiet_runs += 1;
                        }
                        // In continuous terms: nothing at or below the
                        // threshold, everything comfortably above it.
                        if peak <= DEPLOY_THRESHOLD_G {
                            assert!(!should, "peak {peak} fired");
                        }
                        let always = if dt <= 0.001 { 20.5 } else { 22.0 };
                        if peak >= always {
                            assert!(should, "peak {peak} g at dt {dt} did not fire");
                        }
                    }
                }
            }
        }
        assert!(deployed_runs > 1000 && quiet_runs > 1000);
    }

    #[test]
    fn deployment_follows_the_threshold_crossing_within_one_tick_plus_the_dwell() {
        for &dt in &DTS {
            for step in 41..=160 {
                let peak = f64::from(step) * 0.5;
                for phase in [0.0, 0.23, 0.5, 0.97] {
                    let start = 0.005 + phase * dt;
                    let run = run_crash(peak, start, dt, 0b11111, 0);
                    let Some(fired) = run.airbag.deployed_at_s() else {
                        continue;
                    };
                    let crossing =
                        start + PULSE_S * (DEPLOY_THRESHOLD_G / peak).asin() / std::f64::consts::PI;
                    let latency = fired - crossing;
                    assert!(
                        latency > 0.0 && latency <= dt + DWELL_S + 1e-9,
                        "peak {peak} dt {dt}: latency {latency}"
                    );
                    let first = run.first_sample_above_s.expect("fired without a sample");
                    assert!(fired - first <= DWELL_S + 1e-9);
                    // The plugin's clock sums the ticks, the test multiplies.
                    let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
                    assert!(close(run.airbag.first_above_threshold_s(), first));
                    // The outputs show it on the very tick the unit fires.
                    assert!(close(run.first_output_s, fired));
                }
            }
        }
    }

    #[test]
    fn belted_occupants_get_the_first_stage_and_unbelted_ones_both() {
        for occupied in 0..32u32 {
            for belted in 0..32u32 {
                let run = run_crash(40.0, 0.005, DT, occupied, belted);
                for seat in 0..SEAT_COUNT {
                    let expected = match (occupied >> seat & 1, belted >> seat & 1) {
                        (0, _) => Stage::None,
                        (_, 1) => Stage::First,
                        _ => Stage::Full,
                    };
                    assert_eq!(run.airbag.stage(seat), expected);
                }
                assert_eq!(run.deployed, occupied);
            }
        }
    }

    #[test]
    fn deployment_latches_until_reset_and_reset_rearms_the_unit() {
        for occupied in 0..32u32 {
            let mut bag = run_crash(50.0, 0.005, DT, occupied, 0).airbag;
            let mut out = [0.0; 5];
            let fired = bag.deployed_at_s().expect("fired");
            // Occupants get out, others get in, more bumps: nothing changes.
            for k in 0..2000u32 {
                let pulse = if k % 100 < 10 { 35.0 } else { 0.0 };
                let inp = occupancy_inputs(pulse, k % 32, !k % 32);
                bag.tick(DT, &inp, &mut out).expect("tick");
                assert_outputs_valid(&out);
                assert_eq!(deployed_mask(&out), occupied);
            }
            assert_eq!(bag.deployed_at_s(), Some(fired));

            bag.command("reset", 0.0).expect("reset");
            assert_eq!(bag.deployed_at_s(), None);
            bag.tick(DT, &occupancy_inputs(0.0, 0b11111, 0), &mut out)
                .expect("tick");
            assert_eq!(deployed_mask(&out), 0);
            // Sub-threshold driving after the reset deploys nothing.
            for k in 0..1000u32 {
                let pulse = f64::from(k % 20);
                bag.tick(DT, &occupancy_inputs(pulse, 0b11111, 0), &mut out)
                    .expect("tick");
                assert_eq!(deployed_mask(&out), 0);
            }
            // A second crash fires again, for the seats occupied then.
            let second = occupied ^ 0b10101;
            bag.tick(DT, &occupancy_inputs(30.0, second, 0), &mut out)
                .expect("tick");
            assert_eq!(deployed_mask(&out), second);
        }
    }

    #[test]
    fn a_short_spike_above_threshold_does_not_fire() {
        // 0.9 ms of 100 g at 0.1 ms ticks, then quiet: below the dwell.
        let mut bag = Airbag::create(1).expect("create");
        let mut out = [0.0; 5];
        for k in 0..1000 {
            let pulse = if (100..109).contains(&k) { 100.0 } else { 0.0 };
            bag.tick(0.0001, &occupancy_inputs(pulse, 0b11111, 0), &mut out)
                .expect("tick");
            assert_eq!(deployed_mask(&out), 0);
        }
        // The event ended below the wake level, so the next spike starts
        // from zero and does not add up with the first.
        for k in 0..1000 {
            let pulse = if (100..109).contains(&k) { 100.0 } else { 0.0 };
            bag.tick(0.0001, &occupancy_inputs(pulse, 0b11111, 0), &mut out)
                .expect("tick");
            assert_eq!(deployed_mask(&out), 0);
        }
        assert_eq!(bag.peak_g(), 100.0);
    }

    #[test]
    fn broken_sensors_never_fire_a_bag() {
        let mut bag = Airbag::create(2).expect("create");
        let mut out = [0.0; 5];
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -50.0] {
            for _ in 0..100 {
                bag.tick(DT, &occupancy_inputs(bad, 0b11111, 0b11111), &mut out)
                    .expect("tick");
                assert_eq!(deployed_mask(&out), 0);
            }
        }
        // A crash with garbage occupancy: those seats count as empty.
        let mut inp = occupancy_inputs(60.0, 0b00011, 0);
        inp[inputs::IS_OCCUPIED[0]] = f64::NAN;
        bag.tick(DT, &inp, &mut out).expect("tick");
        assert_eq!(deployed_mask(&out), 0b00010);
    }

    #[test]
    fn every_seed_behaves_identically() {
        for seed in [0, 1, 42, u64::MAX, 0xDEAD_BEEF] {
            let mut a = Airbag::create(seed).expect("create");
            let mut b = Airbag::create(seed.wrapping_mul(31).wrapping_add(7)).expect("create");
            let (mut oa, mut ob) = ([0.0; 5], [0.0; 5]);
            for k in 0..50 {
                let g = half_sine(45.0, 0.1, f64::from(k + 1) * DT);
                let inp = occupancy_inputs(g, 0b01101, 0b00100);
                a.tick(DT, &inp, &mut oa).expect("tick");
                b.tick(DT, &inp, &mut ob).expect("tick");
                assert_eq!(oa, ob);
            }
            assert_eq!(a.snapshot(), b.snapshot());
        }
    }

    #[test]
    fn snapshot_restore_mid_pulse_continues_identically() {
        let dt = 0.0001;
        for cut in [0usize, 600, 733, 737, 740, 900] {
            let mut a = Airbag::create(3).expect("create");
            let mut oa = [0.0; 5];
            let pulse_at = |k: usize| half_sine(30.0, 0.05, (k + 1) as f64 * dt);
            for k in 0..cut {
                a.tick(
                    dt,
                    &occupancy_inputs(pulse_at(k), 0b10110, 0b00010),
                    &mut oa,
                )
                .expect("tick");
            }
            let mut b = Airbag::create(99).expect("create");
            b.restore(&a.snapshot()).expect("restore");
            let mut ob = oa;
            for k in cut..2000 {
                let inp = occupancy_inputs(pulse_at(k), 0b10110, 0b00010);
                a.tick(dt, &inp, &mut oa).expect("tick");
                b.tick(dt, &inp, &mut ob).expect("tick");
                assert_eq!(oa, ob, "diverged at tick {k} after a cut at {cut}");
            }
            assert_eq!(deployed_mask(&oa), 0b10110);
            assert_eq!(a.snapshot(), b.snapshot());
            assert_eq!(a.deployed_at_s(), b.deployed_at_s());
        }
    }

    #[test]
    fn restore_rejects_bad_bytes_with_a_message() {
        let mut bag = Airbag::create(0).expect("create");
        for bad in [
            &b""[..],
            b"not json",
            b"{\"time_s\": \"soon\"}",
            b"[1,2,3]",
            b"{}",
        ] {
            let err = bag.restore(bad).expect_err("bad snapshot accepted");
            assert!(err.0.contains("airbag: invalid snapshot"), "{err}");
        }
        // The state is untouched by a failed restore.
        assert_eq!(
            bag.snapshot(),
            Airbag::create(0).expect("create").snapshot()
        );
    }

    #[test]
    fn only_reset_is_a_known_command() {
        let mut bag = Airbag::create(0).expect("create");
        assert_eq!(bag.command("reset", 1.0), Ok(()));
        for name in ["deploy", "Reset", "", "reset "] {
            assert_eq!(
                bag.command(name, 0.0),
                Err(CommandError::Unsupported(name.to_owned()))
            );
        }
    }

    #[test]
    fn invalid_calls_are_errors_not_panics() {
        let mut bag = Airbag::create(0).expect("create");
        let mut out = [0.0; 5];
        let inp = occupancy_inputs(0.0, 0, 0);
        for dt in [f64::NAN, -0.01, f64::INFINITY] {
            assert!(bag.tick(dt, &inp, &mut out).is_err());
        }
        assert!(bag.tick(DT, &inp[..10], &mut out).is_err());
        assert!(bag.tick(DT, &inp, &mut out[..4]).is_err());
        assert!(bag.tick(0.0, &inp, &mut out).is_ok());
    }
}
