//! A worker: steps the vehicles it owns, each on its own tick deadlines,
//! earliest first. No thread per vehicle: a few workers keep thousands of
//! vehicles. A tick that starts more than one tick period after its
//! deadline is counted late; a vehicle more than a second behind skips
//! ahead and the skipped ticks are counted too, never hidden.
//!
//! A worker is a task on the single-threaded runtime that also drives its
//! vehicles' links (see [`crate::crews`]): the frame a tick hands its link
//! wakes a task on the same thread, and the links run while the worker
//! waits for the next deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tcu_engine::control::ControlInbox;
use tcu_engine::sim::{Event, TickHook, Vehicle};
use tcu_link::MqttHook;

use crate::ota::OtaCounters;
use crate::steps::{Action, Step};

/// Longest sleep between two looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);
/// A vehicle due within a tenth of the tick period (between these bounds)
/// is stepped now rather than after one more sleep: with thousands of
/// vehicles on spread deadlines, waking for each would cost a context
/// switch per tick; this bounds the wake-ups to one per slack and moves no
/// tick by more than the slack. At 10 Hz, a 10 ms slack rather than 2 ms
/// cut a 1,000-vehicle fleet's CPU by about a seventh (BENCHMARKS.md,
/// "CPU per vehicle").
const EARLY_MIN: Duration = Duration::from_millis(2);
const EARLY_MAX: Duration = Duration::from_millis(10);

/// How early a tick of period `dt` may be stepped.
fn early(dt: Duration) -> Duration {
    (dt / 10).clamp(EARLY_MIN, EARLY_MAX)
}
/// How far behind a vehicle may fall before it skips ahead.
const SKIP_AFTER: Duration = Duration::from_secs(1);

/// One vehicle as a worker holds it.
pub struct Slot {
    /// The vehicle.
    pub vehicle: Vehicle,
    /// Its commands (applied before each tick).
    pub inbox: ControlInbox,
    /// Its link's tick side.
    pub mqtt: MqttHook,
    /// When its next tick is due.
    pub deadline: Instant,
    /// Its OTA client's tick side, when the fleet takes rollouts.
    pub ota: Option<Box<dyn TickHook + Send>>,
    /// The OTA state it last raised (an index into [`crate::ota::STATES`]).
    pub ota_state: Option<usize>,
    /// Its fleet-file steps still to run, by tick, earliest last.
    pub steps: Vec<(u64, Step)>,
    /// Its position among this process's vehicles.
    pub index: usize,
    /// Whether the fleet file powers it off during a probation.
    pub power_off: PowerOff,
}

/// A vehicle the fleet file powers off during its first probation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerOff {
    /// Not this vehicle, or done.
    No,
    /// At its next swap's commit.
    Armed,
    /// At this tick.
    At(u64),
}

/// Ticks into probation at which a vehicle is powered off: well past the
/// commit, well before any probation ends.
const POWER_OFF_AFTER: u64 = 20;

/// Starts a powered-off vehicle again (from its store).
pub trait Restart: Send + Sync {
    /// Replaces the slot's vehicle and OTA client with new ones.
    fn restart(&self, slot: &mut Slot);
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("vin", &self.mqtt.vin())
            .field("ticks", &self.vehicle.ticks())
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// Counters every worker adds to.
#[derive(Debug, Default)]
pub struct TickCounters {
    /// Ticks run.
    pub ticks: AtomicU64,
    /// Ticks that started more than one period after their deadline.
    pub late: AtomicU64,
    /// Ticks skipped by vehicles that fell more than a second behind.
    pub skipped: AtomicU64,
    /// Vehicles in each OTA state.
    pub ota: OtaCounters,
}

/// Steps `slots` every `dt` until `stop` is set; gives them back. Runs on
/// a tokio runtime (it sleeps on the runtime's timer).
pub async fn run(
    mut slots: Vec<Slot>,
    dt: Duration,
    stop: &AtomicBool,
    counters: &TickCounters,
    restart: Option<&dyn Restart>,
) -> Vec<Slot> {
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> = slots
        .iter()
        .enumerate()
        .map(|(i, s)| Reverse((s.deadline, i)))
        .collect();
    let mut events: Vec<Event> = Vec::new();
    let (mut ticks, mut late) = (0u64, 0u64);
    let mut yielded = Instant::now();
    let early = early(dt);
    while let Some(Reverse((deadline, i))) = due.pop() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let mut now = Instant::now();
        if deadline > now + early {
            // Publish the counts before sleeping, not on every tick.
            counters.ticks.fetch_add(ticks, Ordering::Relaxed);
            counters.late.fetch_add(late, Ordering::Relaxed);
            (ticks, late) = (0, 0);
            let wake = deadline.min(now + STOP_POLL);
            tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
            now = Instant::now();
            yielded = now;
            if now + early < deadline {
                due.push(Reverse((deadline, i)));
                continue;
            }
        } else if now > yielded + EARLY_MIN {
            // Behind: let the links run between ticks all the same.
            tokio::task::yield_now().await;
            yielded = Instant::now();
        }
        let slot = &mut slots[i];
        let mut next = deadline + dt;
        if now > deadline + dt {
            late += 1;
            let behind = now - deadline;
            if behind > SKIP_AFTER {
                let skip = (behind.as_secs_f64() / dt.as_secs_f64()) as u32;
                next += dt * skip;
                counters
                    .skipped
                    .fetch_add(u64::from(skip), Ordering::Relaxed);
            }
        }
        if let (PowerOff::At(t), Some(r)) = (slot.power_off, restart)
            && slot.vehicle.ticks() >= t
        {
            slot.power_off = PowerOff::No;
            // Starting a vehicle again builds blocking HTTP clients, which
            // must not happen on a runtime's thread.
            // A panic there is this worker's, as it was on its own thread.
            if let Err(panic) = std::thread::scope(|s| s.spawn(|| r.restart(slot)).join()) {
                std::panic::resume_unwind(panic);
            }
        }
        slot.inbox.before_tick(&mut slot.vehicle);
        while slot
            .steps
            .last()
            .is_some_and(|(t, _)| *t <= slot.vehicle.ticks())
        {
            if let Some((_, step)) = slot.steps.pop() {
                run_step(slot, &step);
            }
        }
        if let Some(ota) = slot.ota.as_mut() {
            ota.before_tick(&mut slot.vehicle);
        }
        slot.vehicle.step();
        events.clear();
        slot.vehicle.drain_events_into(&mut events);
        slot.mqtt.after_tick(&slot.vehicle, &events);
        if let Some(ota) = slot.ota.as_mut() {
            ota.after_tick(&slot.vehicle, &events);
        }
        for e in &events {
            if e.kind == "plugin.swapped" && slot.power_off == PowerOff::Armed {
                slot.power_off = PowerOff::At(slot.vehicle.ticks() + POWER_OFF_AFTER);
            }
            if e.kind == "ota.state"
                && let Some(state) = e.fields.get("state")
            {
                slot.ota_state = counters.ota.moved(slot.ota_state, state);
            }
            if matches!(
                e.kind.as_str(),
                "fault" | "plugin.rollback" | "plugin.rollback_failed"
            ) {
                tracing::warn!(vin = %slot.mqtt.vin(), kind = %e.kind, "{}", e.detail);
            }
        }
        ticks += 1;
        slot.deadline = next;
        due.push(Reverse((next, i)));
    }
    counters.ticks.fetch_add(ticks, Ordering::Relaxed);
    counters.late.fetch_add(late, Ordering::Relaxed);
    slots
}

/// Carries out a fleet-file step through the vehicle's control path (an
/// outage through its link) and says so in a `fleet.step` event.
fn run_step(slot: &mut Slot, step: &Step) {
    match (&step.action, step.action.message()) {
        (Action::Outage(d), _) => {
            if !slot.mqtt.outage(*d) {
                // The link's channel is full: it is stalled, so try again
                // at the next tick rather than lose the step.
                let tick = slot.vehicle.ticks() + 1;
                slot.steps.push((tick, step.clone()));
                return;
            }
        }
        (_, Some(msg)) => tcu_engine::control::apply(&mut slot.vehicle, msg),
        (_, None) => {}
    }
    slot.vehicle.raise_with(
        "fleet.step",
        format!("fleet step at {:?}: {}", step.at, step.action.describe()),
        std::collections::BTreeMap::from([("action".to_owned(), step.action.describe())]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_is_stepped_at_most_a_tenth_of_its_period_early_within_2_to_10_ms() {
        assert_eq!(early(Duration::from_millis(100)), Duration::from_millis(10));
        assert_eq!(early(Duration::from_millis(50)), Duration::from_millis(5));
        // 100 Hz: a tenth would be 1 ms; the floor keeps one wake-up per 2 ms.
        assert_eq!(early(Duration::from_millis(10)), Duration::from_millis(2));
        // 1 Hz: a tenth would be 100 ms; the cap keeps ticks near their deadline.
        assert_eq!(early(Duration::from_secs(1)), Duration::from_millis(10));
    }
}
