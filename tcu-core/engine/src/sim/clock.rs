//! Clocks: the tick loop asks a clock to wait until a tick's deadline. The
//! real clock sleeps; the virtual one jumps, so scenarios run as fast as the
//! CPU allows. Simulated time is always `tick * dt`, whatever the clock, so a
//! trace does not depend on how fast the machine is.

use std::time::{Duration, Instant};

/// Source of time for the tick loop.
pub trait Clock: Send {
    /// Time since the clock started.
    fn now(&self) -> Duration;
    /// Waits until `deadline` (since start); returns at once if it passed.
    fn sleep_until(&mut self, deadline: Duration);
}

/// Wall-clock time.
#[derive(Debug, Clone)]
pub struct RealClock {
    start: Instant,
}

impl RealClock {
    /// Starts now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }
}

impl Default for RealClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for RealClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn sleep_until(&mut self, deadline: Duration) {
        let now = self.now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
    }
}

/// Virtual time: sleeping advances the clock instantly.
#[derive(Debug, Clone, Default)]
pub struct VirtualClock {
    now: Duration,
}

impl Clock for VirtualClock {
    fn now(&self) -> Duration {
        self.now
    }

    fn sleep_until(&mut self, deadline: Duration) {
        self.now = self.now.max(deadline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_jumps_and_never_goes_back() {
        let mut c = VirtualClock::default();
        c.sleep_until(Duration::from_secs(5));
        c.sleep_until(Duration::from_secs(1));
        assert_eq!(c.now(), Duration::from_secs(5));
    }

    #[test]
    fn real_clock_sleeps_until_the_deadline() {
        let mut c = RealClock::new();
        c.sleep_until(Duration::from_millis(20));
        assert!(c.now() >= Duration::from_millis(20));
    }
}
