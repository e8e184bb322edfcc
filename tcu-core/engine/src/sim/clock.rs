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

/// A clock that wakes once for every `burst` ticks: the first tick of a
/// burst waits for its deadline, the next `burst - 1` run at once, ahead of
/// their deadlines by at most `(burst - 1) * dt`. Simulated time and the
/// order of ticks are unchanged (a trace is the same); what changes is
/// that the process wakes up `burst` times less often, and the ticks after
/// the first of a burst find the caches warm. A wake-up costs more than a
/// tick of the simulation (see `BENCHMARKS.md`, footprint): on a board that
/// idles, that is most of the CPU the TCU uses. Commands wait for the next
/// burst, up to `burst * dt`.
#[derive(Debug, Clone)]
pub struct BurstClock<C> {
    inner: C,
    /// The deadlines up to here belong to the burst in progress.
    awake_until: Option<Duration>,
    ahead: Duration,
}

impl<C: Clock> BurstClock<C> {
    /// Wraps `inner` for ticks of `dt`, `burst` ticks a wake-up (0 and 1:
    /// every tick waits for its own deadline).
    pub fn new(inner: C, dt: Duration, burst: u32) -> Self {
        Self {
            inner,
            awake_until: None,
            ahead: dt * burst.saturating_sub(1),
        }
    }
}

impl<C: Clock> Clock for BurstClock<C> {
    fn now(&self) -> Duration {
        self.inner.now()
    }

    fn sleep_until(&mut self, deadline: Duration) {
        if self.awake_until.is_some_and(|end| deadline <= end) {
            return;
        }
        self.inner.sleep_until(deadline);
        self.awake_until = Some(deadline + self.ahead);
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

    /// Counts the sleeps that reach the clock underneath.
    #[derive(Debug, Default)]
    struct Counting {
        clock: VirtualClock,
        sleeps: Vec<Duration>,
    }

    impl Clock for Counting {
        fn now(&self) -> Duration {
            self.clock.now()
        }
        fn sleep_until(&mut self, deadline: Duration) {
            self.sleeps.push(deadline);
            self.clock.sleep_until(deadline);
        }
    }

    #[test]
    fn a_burst_clock_waits_for_the_first_deadline_of_each_burst_only() {
        let dt = Duration::from_millis(10);
        let mut c = BurstClock::new(Counting::default(), dt, 5);
        for n in 0..12 {
            c.sleep_until(dt * n);
        }
        assert_eq!(c.inner.sleeps, vec![Duration::ZERO, dt * 5, dt * 10]);
    }

    #[test]
    fn a_burst_of_one_waits_for_every_deadline() {
        let dt = Duration::from_millis(10);
        let mut c = BurstClock::new(Counting::default(), dt, 1);
        for n in 0..3 {
            c.sleep_until(dt * n);
        }
        assert_eq!(c.inner.sleeps, vec![Duration::ZERO, dt, dt * 2]);
    }

    #[test]
    fn real_clock_sleeps_until_the_deadline() {
        let mut c = RealClock::new();
        c.sleep_until(Duration::from_millis(20));
        assert!(c.now() >= Duration::from_millis(20));
    }
}
