//! Same seed, same trace: two vehicles built alike give identical signal
//! values at every tick; another seed gives another trace.

use tcu_engine::world::driver::DriverProfile;
use tcu_integration_tests::harness::vehicle;

fn trace(seed: u64, seconds: f64) -> Vec<Vec<u64>> {
    trace_with(seed, seconds, false)
}

/// The trace, with the cache hint a fleet worker gives before each tick
/// when `prefetch`.
fn trace_with(seed: u64, seconds: f64, prefetch: bool) -> Vec<Vec<u64>> {
    let mut v = vehicle(seed, DriverProfile::Demo, &[]);
    let ticks = (seconds / v.dt()) as usize;
    let mut out = Vec::with_capacity(ticks);
    for _ in 0..ticks {
        if prefetch {
            v.prefetch();
        }
        v.step();
        // Bit patterns: identical means identical, NaN included.
        out.push(v.bus().values().iter().map(|x| x.to_bits()).collect());
    }
    assert_eq!(v.faults(), 0);
    out
}

#[test]
fn the_same_seed_gives_an_identical_trace() {
    let a = trace(7, 90.0);
    let b = trace(7, 90.0);
    let first_diff = a.iter().zip(&b).position(|(x, y)| x != y);
    assert_eq!(first_diff, None, "traces diverge at tick {first_diff:?}");
}

#[test]
fn the_cache_hint_before_each_tick_leaves_the_trace_identical() {
    let plain = trace_with(7, 30.0, false);
    let hinted = trace_with(7, 30.0, true);
    let first_diff = plain.iter().zip(&hinted).position(|(x, y)| x != y);
    assert_eq!(first_diff, None, "traces diverge at tick {first_diff:?}");
    assert_eq!(plain.len(), hinted.len());
}

#[test]
fn another_seed_gives_another_trace() {
    assert_ne!(trace(7, 5.0), trace(8, 5.0));
}
