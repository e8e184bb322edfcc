//! Crash pulses: the deceleration a crash sensor sees in a frontal impact,
//! modelled as a half-sine of fixed duration (a common idealisation of
//! barrier-test pulses).

/// Duration of a pulse, seconds.
pub const PULSE_DURATION: f64 = 0.1;

/// A pulse in progress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrashPulse {
    /// Peak deceleration, g.
    pub peak_g: f64,
    /// Time since the pulse started, s.
    pub elapsed: f64,
}

impl CrashPulse {
    /// Starts a pulse.
    pub fn new(peak_g: f64) -> Self {
        Self {
            peak_g,
            elapsed: 0.0,
        }
    }

    /// Deceleration at the current instant, g (0 once the pulse is over).
    pub fn sample(&self) -> f64 {
        if self.elapsed >= PULSE_DURATION {
            0.0
        } else {
            self.peak_g * (std::f64::consts::PI * self.elapsed / PULSE_DURATION).sin()
        }
    }

    /// Advances by `dt`; false once the pulse is over.
    pub fn advance(&mut self, dt: f64) -> bool {
        self.elapsed += dt;
        self.elapsed < PULSE_DURATION
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulse_peaks_mid_way_and_ends() {
        let mut p = CrashPulse::new(40.0);
        let mut max: f64 = 0.0;
        let mut steps = 0;
        loop {
            let s = p.sample();
            assert!((0.0..=40.0).contains(&s));
            max = max.max(s);
            steps += 1;
            if !p.advance(0.001) {
                break;
            }
        }
        assert!(max > 39.9);
        assert!((99..=101).contains(&steps));
        assert_eq!(p.sample(), 0.0);
    }
}
