use super::*;
use tcu_sdk::testing::{self, path};

const DT: f64 = 0.01;
/// Duration of the world model's half-sine barrier pulse.
const PULSE_S: f64 = 0.08;
/// Tick lengths the model must work for: 0.1 ms to 20 ms.
const DTS: [f64; 7] = [0.0001, 0.0003, 0.001, 0.002, 0.005, 0.01, 0.02];
const ALL: u32 = 0b11111;

fn assert_outputs_valid(out: &[f64]) {
    for (i, v) in out.iter().enumerate() {
        if i == outputs::ACTIVE_FAULTS {
            // The DTC mask: a whole number of the unit's fault bits.
            assert!(v.fract() == 0.0 && (0.0..8.0).contains(v), "mask {v}");
        } else {
            assert!(*v == 0.0 || *v == 1.0, "output {i} is not a boolean: {v}");
        }
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

/// Share of the speed change of a half-sine pulse taken by `t` after impact.
fn progress(t: f64) -> f64 {
    let t = t.clamp(0.0, PULSE_S);
    0.5 * (1.0 - (std::f64::consts::PI * t / PULSE_S).cos())
}

/// What the world's crash sensor reads over the tick `[t, t + dt]` of a
/// barrier crash at `kmh` starting at `start`: the mean deceleration, g.
fn barrier_sample(kmh: f64, start: f64, t: f64, dt: f64) -> f64 {
    let dv = kmh / 3.6 * (progress(t + dt - start) - progress(t - start));
    dv / dt / GRAVITY
}

struct CrashRun {
    /// Deployed seats after the pulse.
    deployed: u32,
    /// Time (end of tick) the outputs first showed a deployment.
    first_output_s: Option<f64>,
    /// The crash signal after the pulse.
    crash_signal: bool,
    airbag: Airbag,
}

/// Runs one barrier crash at `kmh`, the impact at `start`.
///
/// The world starts a pulse at the start of a tick, so the tests put the
/// impact on a tick boundary.
fn run_crash(kmh: f64, start: f64, dt: f64, occupied: u32, belted: u32) -> CrashRun {
    let mut bag = Airbag::create(0).expect("create");
    let mut out = [0.0; 8];
    let mut first_output_s = None;
    let ticks = ((start + PULSE_S + 0.05) / dt).ceil() as usize;
    for k in 0..ticks {
        let t = k as f64 * dt;
        let g = barrier_sample(kmh, start, t, dt);
        bag.tick(dt, &occupancy_inputs(g, occupied, belted), &mut out)
            .expect("tick");
        assert_outputs_valid(&out);
        if deployed_mask(&out) != 0 {
            first_output_s.get_or_insert(t + dt);
        }
    }
    CrashRun {
        deployed: deployed_mask(&out),
        first_output_s,
        crash_signal: as_bool(out[outputs::CRASH_SIGNAL]),
        airbag: bag,
    }
}

#[test]
fn index_constants_match_the_declared_paths_and_types() {
    assert_eq!(Airbag::READS.len(), 11);
    assert_eq!(Airbag::WRITES.len(), 8);
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
    let signal = &Airbag::WRITES[outputs::CRASH_SIGNAL];
    assert_eq!(path(signal), "Sim.Airbag.CrashSignal");
    assert_eq!(signal.datatype, TCU_TYPE_BOOLEAN);
}

#[test]
fn every_declared_signal_exists_in_the_catalog_with_its_datatype() {
    testing::assert_declarations_in_catalog::<Airbag>();
    // The pulses the model is tested with lie inside the catalog's range.
    let pulse = testing::catalog_entry("Sim.Crash.Pulse").expect("pulse in catalog");
    assert!(pulse.min.expect("pulse min") <= 0.0 && pulse.max.expect("pulse max") >= 100.0);
}

#[test]
fn no_bag_fires_below_the_no_fire_level_belted_or_not_at_any_tick_length() {
    for &dt in &DTS {
        for step in 0..=12 {
            let kmh = levels::NO_FIRE_KMH * f64::from(step) / 12.0;
            for ticks in [1.0, 5.0, 8.0] {
                let run = run_crash(kmh, ticks * dt, dt, ALL, 0b00101);
                assert_eq!(run.deployed, 0, "{kmh} km/h dt {dt}");
                assert!(!run.crash_signal);
            }
        }
    }
}

#[test]
fn unbelted_occupants_get_their_bag_at_the_unbelted_must_fire_level_belted_ones_do_not() {
    for &dt in &DTS {
        for ticks in [1.0, 5.0, 8.0] {
            let start = ticks * dt;
            // Seats 0 and 3 unbelted, 1 and 4 belted, 2 empty.
            let run = run_crash(levels::MUST_FIRE_UNBELTED_KMH, start, dt, 0b11011, 0b10010);
            assert_eq!(run.deployed, 0b01001, "dt {dt}");
            assert!(run.crash_signal);
            assert_eq!(run.airbag.stage(0), Stage::Full);
            assert_eq!(run.airbag.stage(1), Stage::None);
            // Belted, the same crash is below the belted no-fire level.
            let run = run_crash(levels::NO_FIRE_BELTED_KMH, start, dt, ALL, ALL);
            assert_eq!(run.deployed, 0, "belted at the unbelted level, dt {dt}");
        }
    }
}

#[test]
fn belted_occupants_get_their_bag_at_the_belted_must_fire_level() {
    for &dt in &DTS {
        for ticks in [1.0, 5.0, 8.0] {
            let run = run_crash(levels::MUST_FIRE_BELTED_KMH, ticks * dt, dt, 0b10111, ALL);
            assert_eq!(run.deployed, 0b10111, "dt {dt}");
            for seat in [0, 1, 2, 4] {
                assert_eq!(run.airbag.stage(seat), Stage::First);
            }
            assert_eq!(run.airbag.stage(3), Stage::None, "an empty seat fired");
        }
    }
}

#[test]
fn the_firing_level_grows_with_the_speed_not_against_it() {
    // Once a speed fires a seat, every higher speed fires it too.
    for &dt in &DTS {
        for belted in [0, ALL] {
            let mut fired = false;
            for step in 0..=120 {
                let kmh = 10.0 + f64::from(step) * 0.25;
                let now = run_crash(kmh, 5.0 * dt, dt, ALL, belted).deployed == ALL;
                assert!(!fired || now, "{kmh} km/h dt {dt} belted {belted}");
                fired |= now;
            }
            assert!(fired);
        }
    }
}

#[test]
fn decisions_fall_15_to_30_ms_after_the_impact() {
    for &dt in &DTS {
        for kmh in [
            levels::MUST_FIRE_UNBELTED_KMH,
            levels::MUST_FIRE_BELTED_KMH,
            40.0,
            56.0,
            90.0,
            150.0,
        ] {
            for ticks in [1.0, 5.0, 8.0] {
                let start = ticks * dt;
                // Seat 0 unbelted, seat 1 belted.
                let run = run_crash(kmh, start, dt, 0b00011, 0b00010);
                for seat in 0..2 {
                    if kmh < levels::MUST_FIRE_BELTED_KMH && seat == 1 {
                        continue;
                    }
                    let decided = run.airbag.decided_at_s(seat).expect("decided");
                    let latency = decided - start;
                    assert!(
                        (0.015 - 1e-9..=0.030 + 1e-9).contains(&latency),
                        "{kmh} km/h dt {dt} seat {seat}: {:.1} ms",
                        latency * 1e3
                    );
                }
                // The outputs show it by the end of the tick of the decision.
                let first = run.airbag.deployed_at_s().expect("fired");
                let shown = run.first_output_s.expect("shown");
                assert!(shown >= first - 1e-9 && shown <= first + dt + 1e-9);
                // At 10 ms ticks and finer, the output itself is in time.
                if dt <= 0.01 {
                    assert!(shown - start <= 0.030 + dt.min(0.001), "{kmh} dt {dt}");
                }
            }
        }
    }
}

#[test]
fn the_integrated_speed_change_is_the_pulse_s() {
    for &dt in &DTS {
        let mut bag = Airbag::create(0).expect("create");
        let mut out = [0.0; 8];
        let mut seen = 0.0f64;
        for k in 0..((0.06 / dt) as usize) {
            let g = barrier_sample(30.0, 0.0, k as f64 * dt, dt);
            bag.tick(dt, &occupancy_inputs(g, 0, 0), &mut out)
                .expect("tick");
            seen = seen.max(bag.event_delta_v_kmh());
        }
        // 60 ms into an 80 ms pulse, from the first tick above wake-up.
        let expected = 30.0 * progress(0.06);
        assert!((seen - expected).abs() < 0.02 * expected, "dt {dt}: {seen}");
    }
}

#[test]
fn deployment_latches_with_the_crash_signal_until_reset_and_reset_rearms_the_unit() {
    for occupied in 1..32u32 {
        let mut bag = run_crash(60.0, 5.0 * DT, DT, occupied, 0).airbag;
        let mut out = [0.0; 8];
        let fired = bag.deployed_at_s().expect("fired");
        // Occupants get out, others get in, more crashes: nothing changes.
        for k in 0..2000u32 {
            let pulse = if k % 100 < 8 { 35.0 } else { 0.0 };
            let inp = occupancy_inputs(pulse, k % 32, !k % 32);
            bag.tick(DT, &inp, &mut out).expect("tick");
            assert_outputs_valid(&out);
            assert_eq!(deployed_mask(&out), occupied);
            assert!(as_bool(out[outputs::CRASH_SIGNAL]));
        }
        assert_eq!(bag.deployed_at_s(), Some(fired));

        bag.command("reset", 0.0).expect("reset");
        assert_eq!(bag.deployed_at_s(), None);
        bag.tick(DT, &occupancy_inputs(0.0, ALL, 0), &mut out)
            .expect("tick");
        assert_eq!(deployed_mask(&out), 0);
        assert!(!as_bool(out[outputs::CRASH_SIGNAL]));
        // A second crash fires again, for the seats occupied then.
        let second = occupied ^ 0b10101;
        for k in 0..20 {
            let g = barrier_sample(60.0, 0.0, f64::from(k) * DT, DT);
            bag.tick(DT, &occupancy_inputs(g, second, 0), &mut out)
                .expect("tick");
        }
        assert_eq!(deployed_mask(&out), second);
        assert_eq!(as_bool(out[outputs::CRASH_SIGNAL]), second != 0);
    }
}

#[test]
fn a_crash_with_every_seat_empty_fires_nothing_and_sends_no_crash_signal() {
    let run = run_crash(80.0, 0.005, 0.001, 0, 0);
    assert_eq!(run.deployed, 0);
    assert!(!run.crash_signal);
    assert_eq!(run.airbag.deployed_at_s(), None);
}

#[test]
fn a_hammer_blow_shorter_than_the_decision_hold_off_never_fires() {
    // 100 g for up to 10 ms: far more than the thresholds' speed change, but
    // over before the earliest decision.
    for &dt in &[0.0001, 0.001] {
        for len_ms in [1u32, 3, 6, 10] {
            let mut bag = Airbag::create(1).expect("create");
            let mut out = [0.0; 8];
            let len = (f64::from(len_ms) * 1e-3 / dt).round() as usize;
            for k in 0..(0.2 / dt) as usize {
                let pulse = if (100..100 + len).contains(&k) {
                    100.0
                } else {
                    0.0
                };
                bag.tick(dt, &occupancy_inputs(pulse, ALL, 0), &mut out)
                    .expect("tick");
                assert_eq!(deployed_mask(&out), 0, "{len_ms} ms at dt {dt}");
            }
            assert_eq!(bag.peak_g(), 100.0);
        }
    }
}

#[test]
fn broken_sensors_never_fire_a_bag() {
    let mut bag = Airbag::create(2).expect("create");
    let mut out = [0.0; 8];
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -50.0] {
        for _ in 0..100 {
            bag.tick(DT, &occupancy_inputs(bad, ALL, ALL), &mut out)
                .expect("tick");
            assert_eq!(deployed_mask(&out), 0);
        }
    }
    // A crash with garbage occupancy: those seats count as empty.
    for k in 0..10 {
        let mut inp =
            occupancy_inputs(barrier_sample(60.0, 0.0, f64::from(k) * DT, DT), 0b00011, 0);
        inp[inputs::IS_OCCUPIED[0]] = f64::NAN;
        bag.tick(DT, &inp, &mut out).expect("tick");
    }
    assert_eq!(deployed_mask(&out), 0b00010);
}

#[test]
fn every_seed_behaves_identically() {
    for seed in [0, 1, 42, u64::MAX, 0xDEAD_BEEF] {
        let mut a = Airbag::create(seed).expect("create");
        let mut b = Airbag::create(seed.wrapping_mul(31).wrapping_add(7)).expect("create");
        let (mut oa, mut ob) = ([0.0; 8], [0.0; 8]);
        for k in 0..50 {
            let g = barrier_sample(45.0, 0.1, f64::from(k) * DT, DT);
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
    for cut in [0usize, 500, 560, 600, 640, 700, 900] {
        let mut a = Airbag::create(3).expect("create");
        let mut oa = [0.0; 8];
        let pulse_at = |k: usize| barrier_sample(30.0, 0.05, k as f64 * dt, dt);
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
        // 30 km/h fires the unbelted seats, and the belted one too.
        assert_eq!(deployed_mask(&oa), 0b10110);
        assert_eq!(a.snapshot(), b.snapshot());
        assert_eq!(a.deployed_at_s(), b.deployed_at_s());
    }
}

#[test]
fn a_snapshot_of_version_1_restores_with_its_deployments() {
    let old = br#"{"time_s":12.5,"above_threshold_s":0.0,"first_above_s":null,
        "deployed_at_s":10.02,"peak_g":45.0,"stages":["First","None","Full","None","None"]}"#;
    let mut bag = Airbag::create(0).expect("create");
    bag.restore(old).expect("restore");
    let mut out = [0.0; 8];
    bag.tick(DT, &occupancy_inputs(0.0, 0, 0), &mut out)
        .expect("tick");
    assert_eq!(deployed_mask(&out), 0b00101);
    assert!(as_bool(out[outputs::CRASH_SIGNAL]));
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
    let mut out = [0.0; 8];
    let inp = occupancy_inputs(0.0, 0, 0);
    for dt in [f64::NAN, -0.01, f64::INFINITY] {
        assert!(bag.tick(dt, &inp, &mut out).is_err());
    }
    assert!(bag.tick(DT, &inp[..10], &mut out).is_err());
    assert!(bag.tick(DT, &inp, &mut out[..5]).is_err());
    assert!(bag.tick(0.0, &inp, &mut out).is_ok());
}
