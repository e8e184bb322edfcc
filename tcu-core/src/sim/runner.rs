//! The tick loop: paces [`Vehicle::step`] against a [`Clock`], reports a
//! status line at a fixed simulated interval and stops at a duration or when
//! asked to.
//!
//! In real time a late tick is run at once; if the loop falls more than a
//! second behind it skips ahead instead of replaying the backlog in a burst,
//! and counts the skipped ticks, so an overloaded Pi degrades visibly
//! instead of silently.

use super::clock::Clock;
use super::{Status, Vehicle};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Stop after this much simulated time (`None`: until stopped).
    pub duration: Option<Duration>,
    /// Status period in simulated time.
    pub status_every: Duration,
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

/// Runs `vehicle` until `settings.duration` or until `stop` is set, calling
/// `on_status` every status period.
pub fn run(
    vehicle: &mut Vehicle,
    clock: &mut dyn Clock,
    settings: &RunSettings,
    stop: &Arc<AtomicBool>,
    on_status: &mut dyn FnMut(&Status),
) -> RunOutcome {
    let dt = Duration::from_secs_f64(vehicle.dt());
    let total = settings
        .duration
        .map(|d| (d.as_secs_f64() / vehicle.dt()).round() as u64);
    let status_ticks = ((settings.status_every.as_secs_f64() / vehicle.dt()).round() as u64).max(1);
    let start_tick = vehicle.ticks();
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
        vehicle.step();
        outcome.ticks += 1;
        if (vehicle.ticks() - start_tick) % status_ticks == 0 {
            on_status(&vehicle.status());
        }
    }
    outcome
}
