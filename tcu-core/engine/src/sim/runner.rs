//! The tick loop: paces [`Vehicle::step`] against a [`Clock`], lets
//! [`TickHook`]s act around every tick (apply commands before it; publish
//! telemetry, render, log status after it) and stops at a duration or when
//! asked to.
//!
//! In real time a late tick is run at once; if the loop falls more than a
//! second behind it skips ahead instead of replaying the backlog in a burst,
//! and counts the skipped ticks, so an overloaded Pi degrades visibly
//! instead of silently.

use super::clock::Clock;
use super::{Event, Status, Vehicle};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Stop after this much simulated time (`None`: until stopped).
    pub duration: Option<Duration>,
}

/// Something that acts around every tick. Hooks run on the tick thread:
/// they must be quick and never block (hand work to another thread through a
/// channel instead).
pub trait TickHook {
    /// Before a tick: apply queued changes.
    fn before_tick(&mut self, _vehicle: &mut Vehicle) {}
    /// After a tick, with the events that tick raised.
    fn after_tick(&mut self, _vehicle: &Vehicle, _events: &[Event]) {}
}

/// Several hooks, run in order.
#[allow(missing_debug_implementations)]
pub struct Hooks<'a>(pub Vec<&'a mut dyn TickHook>);

impl TickHook for Hooks<'_> {
    fn before_tick(&mut self, vehicle: &mut Vehicle) {
        for h in self.0.iter_mut() {
            h.before_tick(vehicle);
        }
    }
    fn after_tick(&mut self, vehicle: &Vehicle, events: &[Event]) {
        for h in self.0.iter_mut() {
            h.after_tick(vehicle, events);
        }
    }
}

/// Calls a function with the vehicle's [`Status`] every `every` of simulated
/// time.
pub struct StatusEvery<F: FnMut(&Status)> {
    every_ticks: u64,
    on_status: F,
}

impl<F: FnMut(&Status)> StatusEvery<F> {
    /// A status hook for a vehicle stepping `dt` seconds per tick.
    pub fn new(every: Duration, dt: f64, on_status: F) -> Self {
        let every_ticks = ((every.as_secs_f64() / dt).round() as u64).max(1);
        Self {
            every_ticks,
            on_status,
        }
    }
}

impl<F: FnMut(&Status)> std::fmt::Debug for StatusEvery<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusEvery")
            .field("every_ticks", &self.every_ticks)
            .finish()
    }
}

impl<F: FnMut(&Status)> TickHook for StatusEvery<F> {
    fn after_tick(&mut self, vehicle: &Vehicle, _events: &[Event]) {
        if vehicle.ticks().is_multiple_of(self.every_ticks) {
            (self.on_status)(&vehicle.status());
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// Ticks executed.
    pub ticks: u64,
    /// Ticks that started late (real clock only).
    pub late_ticks: u64,
    /// Ticks skipped because the loop fell too far behind.
    pub skipped_ticks: u64,
    /// True when stopped by the flag rather than the duration.
    pub interrupted: bool,
}

/// Runs `vehicle` until `settings.duration` or until `stop` is set, with
/// `hook` around every tick. Events raised before the first tick (plugin
/// loads) are handed to the hook with the first tick's.
pub fn run(
    vehicle: &mut Vehicle,
    clock: &mut dyn Clock,
    settings: &RunSettings,
    stop: &Arc<AtomicBool>,
    hook: &mut dyn TickHook,
) -> RunOutcome {
    let dt = Duration::from_secs_f64(vehicle.dt());
    let total = settings
        .duration
        .map(|d| (d.as_secs_f64() / vehicle.dt()).round() as u64);
    let mut events = Vec::new();
    let mut outcome = RunOutcome {
        ticks: 0,
        late_ticks: 0,
        skipped_ticks: 0,
        interrupted: false,
    };
    // Deadlines count from the clock's start, offset by skipped ticks.
    let base = clock.now();
    let mut offset: u32 = 0;
    loop {
        if total.is_some_and(|t| outcome.ticks >= t) {
            break;
        }
        if stop.load(Ordering::Relaxed) {
            outcome.interrupted = true;
            break;
        }
        let n = u32::try_from(outcome.ticks)
            .unwrap_or(u32::MAX)
            .saturating_add(offset);
        let deadline = base + dt * n;
        let now = clock.now();
        if now > deadline + dt {
            outcome.late_ticks += 1;
            let behind = now - deadline;
            if behind > Duration::from_secs(1) {
                let skip = (behind.as_secs_f64() / dt.as_secs_f64()) as u32;
                offset = offset.saturating_add(skip);
                outcome.skipped_ticks += u64::from(skip);
                tracing::warn!(
                    skipped = skip,
                    "tick loop fell more than 1 s behind; skipping ahead"
                );
            }
        } else {
            clock.sleep_until(deadline);
        }
        hook.before_tick(vehicle);
        vehicle.step();
        outcome.ticks += 1;
        events.clear();
        vehicle.drain_events_into(&mut events);
        hook.after_tick(vehicle, &events);
    }
    outcome
}
