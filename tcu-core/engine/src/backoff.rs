//! Exponential backoff with jitter, from a seeded random source so that a
//! run is reproducible and tests can bound the waits.

use std::time::Duration;

/// splitmix64: small, seedable, good enough for jitter.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Doubling delays from `base` up to `max`, each drawn from the upper half
/// of its step ("equal jitter"): never shorter than half the step, so a
/// struggling server is not hammered, and devices do not retry in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Delays from `base` up to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The next delay.
    pub fn next_delay(&mut self, jitter: &mut Jitter) -> Duration {
        let step = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        step.mul_f64(0.5 + 0.5 * jitter.next_f64())
    }

    /// Back to the first step (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Delays handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_jitter_and_stop_at_max() {
        let mut j = Jitter::new(42);
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        let d: Vec<f64> = (0..6).map(|_| b.next_delay(&mut j).as_secs_f64()).collect();
        for (i, step) in [1.0, 2.0, 4.0, 8.0, 8.0, 8.0].iter().enumerate() {
            assert!(
                d[i] >= step / 2.0 && d[i] <= *step,
                "{i}: {} vs {step}",
                d[i]
            );
        }
        b.reset();
        assert!(b.next_delay(&mut j) <= Duration::from_secs(1));
    }

    #[test]
    fn same_seed_same_delays() {
        let run = |seed| {
            let mut j = Jitter::new(seed);
            let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(60));
            (0..10).map(|_| b.next_delay(&mut j)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }
}
