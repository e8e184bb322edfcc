//! Numeric helpers shared by the subsystem models.
//!
//! First-order lags appear in every thermal model here; left alone they decay
//! toward their target through denormal floats, which slows a step twenty-fold
//! on x86. [`approach`] snaps to the target once the gap is negligible.

/// Gap below which a first-order lag snaps to its target.
pub const SNAP: f64 = 1e-9;

/// Moves `current` toward `target` as a first-order lag with time constant
/// `tau` seconds over a step of `dt` seconds (exact discretisation, stable
/// for any `dt`). Snaps to `target` when the remaining gap is below [`SNAP`].
pub fn approach(current: f64, target: f64, dt: f64, tau: f64) -> f64 {
    // At rest (most lags are, most of the time: an idle heater, a disc at
    // ambient) the answer is `target` without the exponential, which is the
    // costliest part of a model's step.
    if tau <= 0.0 || current == target {
        return target;
    }
    let next = target + (current - target) * (-dt / tau).exp();
    if (next - target).abs() < SNAP {
        target
    } else {
        next
    }
}

/// Reads a boolean slot (`0.0`/`1.0` on the wire).
pub fn as_bool(v: f64) -> bool {
    v >= 0.5
}

/// Writes a boolean slot.
pub fn from_bool(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Replaces a non-finite input by `fallback`, so one bad sensor value cannot
/// poison a model's state.
pub fn finite_or(v: f64, fallback: f64) -> f64 {
    if v.is_finite() { v } else { fallback }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approach_converges_monotonically_and_snaps() {
        let mut x = 0.0;
        let mut last_gap = f64::INFINITY;
        for _ in 0..100_000 {
            x = approach(x, 10.0, 0.01, 5.0);
            let gap = (10.0 - x).abs();
            assert!(gap <= last_gap);
            last_gap = gap;
        }
        assert_eq!(x, 10.0);
    }

    #[test]
    fn approach_is_stable_for_large_steps() {
        let x = approach(0.0, 1.0, 1000.0, 0.1);
        assert!((0.0..=1.0).contains(&x));
    }
}
