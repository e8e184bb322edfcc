//! Pause, single step and speed-up of the simulation clock, as a [`Clock`]
//! wrapper: [`sim::run`](tcu_engine::sim::run) is unchanged and still just waits
//! for each tick's deadline; this clock decides how long that wait is.
//!
//! The controls live in a [`ClockControl`] shared with the dashboard (atomics,
//! no lock on the tick path). A change takes effect at the next deadline: the
//! wrapper rebases its own time on the inner clock then, so resuming or
//! changing speed never makes the loop think it is late.
//!
//! While paused, each wait blocks (in short slices, watching the stop flag)
//! until resumed or until a single step is requested, which lets exactly one
//! tick through. A loop that was already more than one tick behind when paused
//! runs its late ticks first (the runner does not wait for late ticks); with
//! the real clock that is at most a tick or two.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tcu_engine::sim::clock::Clock;

/// Speed factors offered by the dashboard, slowest first.
pub const SPEEDS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// Longest slice the clock sleeps before looking at the controls again.
const SLICE: Duration = Duration::from_millis(10);

/// The controls of a [`ControlledClock`].
#[derive(Debug)]
pub struct ClockControl {
    paused: AtomicBool,
    speed_bits: AtomicU64,
    steps: AtomicU32,
    stop: Arc<AtomicBool>,
}

impl ClockControl {
    /// Running at real time; waits end when `stop` is set.
    pub fn new(stop: Arc<AtomicBool>) -> Self {
        Self {
            paused: AtomicBool::new(false),
            speed_bits: AtomicU64::new(1.0f64.to_bits()),
            steps: AtomicU32::new(0),
            stop,
        }
    }

    /// Pauses or resumes.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    /// Paused now.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Lets one tick through while paused.
    pub fn step(&self) {
        self.steps.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the speed factor (simulated seconds per real second), clamped to
    /// the range of [`SPEEDS`].
    pub fn set_speed(&self, factor: f64) {
        let f = factor.clamp(SPEEDS[0], SPEEDS[SPEEDS.len() - 1]);
        self.speed_bits.store(f.to_bits(), Ordering::Relaxed);
    }

    /// The speed factor.
    pub fn speed(&self) -> f64 {
        f64::from_bits(self.speed_bits.load(Ordering::Relaxed))
    }

    /// The next faster (`up`) or slower speed of [`SPEEDS`].
    pub fn shift_speed(&self, up: bool) {
        let now = self.speed();
        let next = if up {
            SPEEDS.iter().find(|&&s| s > now + 1e-9)
        } else {
            SPEEDS.iter().rev().find(|&&s| s < now - 1e-9)
        };
        if let Some(&s) = next {
            self.set_speed(s);
        }
    }

    fn take_step(&self) -> bool {
        self.steps
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// A clock whose time runs at a controllable speed and can be paused.
#[derive(Debug)]
pub struct ControlledClock<C: Clock> {
    inner: C,
    ctl: Arc<ClockControl>,
    /// Own time at the last rebase.
    base: Duration,
    /// Inner time at the last rebase.
    inner_base: Duration,
    speed: f64,
    paused: bool,
}

impl<C: Clock> ControlledClock<C> {
    /// Wraps `inner`, starting at zero.
    pub fn new(inner: C, ctl: Arc<ClockControl>) -> Self {
        let inner_base = inner.now();
        let (speed, paused) = (ctl.speed(), ctl.is_paused());
        Self {
            inner,
            ctl,
            base: Duration::ZERO,
            inner_base,
            speed,
            paused,
        }
    }

    /// Picks up control changes, rebasing so that time stays continuous.
    fn sync(&mut self) {
        let (speed, paused) = (self.ctl.speed(), self.ctl.is_paused());
        if speed != self.speed || paused != self.paused {
            self.base = self.now();
            self.inner_base = self.inner.now();
            self.speed = speed;
            self.paused = paused;
        }
    }
}

impl<C: Clock> Clock for ControlledClock<C> {
    fn now(&self) -> Duration {
        if self.paused {
            self.base
        } else {
            let real = self.inner.now().saturating_sub(self.inner_base);
            self.base + real.mul_f64(self.speed)
        }
    }

    fn sleep_until(&mut self, deadline: Duration) {
        loop {
            self.sync();
            if self.ctl.stop.load(Ordering::Relaxed) {
                return;
            }
            if self.paused {
                if self.ctl.take_step() {
                    self.base = self.base.max(deadline);
                    return;
                }
                let until = self.inner.now() + SLICE;
                self.inner.sleep_until(until);
                continue;
            }
            let now = self.now();
            if deadline <= now {
                return;
            }
            let wait = (deadline - now).div_f64(self.speed).min(SLICE);
            let until = self.inner.now() + wait;
            self.inner.sleep_until(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcu_engine::sim::clock::VirtualClock;

    fn clock() -> (ControlledClock<VirtualClock>, Arc<ClockControl>) {
        let ctl = Arc::new(ClockControl::new(Arc::new(AtomicBool::new(false))));
        (
            ControlledClock::new(VirtualClock::default(), ctl.clone()),
            ctl,
        )
    }

    #[test]
    fn at_speed_four_a_simulated_second_takes_a_quarter_second() {
        let (mut c, ctl) = clock();
        ctl.set_speed(4.0);
        c.sleep_until(Duration::from_secs(4));
        assert!(c.now() >= Duration::from_secs(4));
        assert!(
            c.inner.now() <= Duration::from_millis(1010),
            "{:?}",
            c.inner.now()
        );
    }

    #[test]
    fn a_paused_clock_lets_exactly_one_step_through_and_stays_put() {
        let (mut c, ctl) = clock();
        c.sleep_until(Duration::from_millis(100));
        ctl.set_paused(true);
        ctl.step();
        c.sleep_until(Duration::from_millis(110));
        assert_eq!(c.now(), Duration::from_millis(110));
        // No step left: a wait would block; the stop flag releases it.
        ctl.stop.store(true, Ordering::Relaxed);
        c.sleep_until(Duration::from_millis(120));
        assert_eq!(c.now(), Duration::from_millis(110));
    }

    #[test]
    fn resuming_continues_from_the_paused_time() {
        let (mut c, ctl) = clock();
        c.sleep_until(Duration::from_secs(1));
        ctl.set_paused(true);
        ctl.step();
        c.sleep_until(Duration::from_millis(1010));
        ctl.set_paused(false);
        c.sleep_until(Duration::from_millis(1020));
        let now = c.now();
        assert!(
            now >= Duration::from_millis(1020) && now < Duration::from_millis(1100),
            "{now:?}"
        );
    }

    #[test]
    fn speed_shifts_through_the_offered_factors_and_stops_at_the_ends() {
        let ctl = ClockControl::new(Arc::new(AtomicBool::new(false)));
        ctl.shift_speed(true);
        assert_eq!(ctl.speed(), 2.0);
        for _ in 0..10 {
            ctl.shift_speed(false);
        }
        assert_eq!(ctl.speed(), 0.25);
    }
}
