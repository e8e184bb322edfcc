//! A worker: steps the vehicles it owns, each on its own tick deadlines,
//! earliest first. No thread per vehicle: a few workers keep thousands of
//! vehicles. A tick that starts more than one tick period after its
//! deadline is counted late; a vehicle more than a second behind skips
//! ahead and the skipped ticks are counted too, never hidden. With
//! `ticks_per_wake` above one, a vehicle due runs that many ticks back to
//! back, the first at its deadline and the rest early (its state is then
//! in the caches), and is due again that many periods later. While one
//! vehicle ticks, the next one due in the same wake-up is hinted to the
//! cache ([`tcu_engine::cache`]): its state is cold, since every other
//! vehicle and link ran since its last tick.
//!
//! A worker is a task on the single-threaded runtime that also drives its
//! vehicles' links (see [`crate::crews`]): the frame a tick hands its link
//! wakes a task on the same thread, and the links run while the worker
//! waits for the next deadline.

use std::collections::VecDeque;
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

/// Steps `slots` every `dt` until `stop` is set, `ticks_per_wake` ticks of
/// a vehicle per wake-up (at least one); gives them back. Runs on a tokio
/// runtime (it sleeps on the runtime's timer).
pub async fn run(
    mut slots: Vec<Slot>,
    (dt, ticks_per_wake): (Duration, u32),
    stop: &AtomicBool,
    counters: &TickCounters,
    restart: Option<&dyn Restart>,
) -> Vec<Slot> {
    let mut due = Due::new(slots.iter().map(|s| s.deadline));
    let mut events: Vec<Event> = Vec::new();
    let (mut ticks, mut late) = (0u64, 0u64);
    let mut yielded = Instant::now();
    let early = early(dt);
    let ticks_per_wake = ticks_per_wake.max(1);
    while let Some((deadline, i)) = due.pop() {
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
                due.push_front((deadline, i));
                continue;
            }
        } else if now > yielded + EARLY_MIN {
            // Behind: let the links run between ticks all the same.
            tokio::task::yield_now().await;
            yielded = Instant::now();
        }
        // The next vehicle due in this wake-up starts loading while this
        // one ticks: its state is cold (the other vehicles and the links
        // ran since its last tick).
        if let Some(&(next, j)) = due.peek()
            && next <= now + early
        {
            // The slot holds the vehicle's struct; then what it owns.
            tcu_engine::cache::prefetch_value(&slots[j]);
            slots[j].vehicle.prefetch_owned();
        }
        let slot = &mut slots[i];
        let wake = plan_wake(deadline, now, dt, ticks_per_wake);
        late += u64::from(wake.late);
        if wake.skipped > 0 {
            counters
                .skipped
                .fetch_add(u64::from(wake.skipped), Ordering::Relaxed);
        }
        for _ in 0..ticks_per_wake {
            tick(slot, &mut events, counters, restart);
        }
        ticks += u64::from(ticks_per_wake);
        slot.deadline = wake.next;
        due.push((wake.next, i));
    }
    counters.ticks.fetch_add(ticks, Ordering::Relaxed);
    counters.late.fetch_add(late, Ordering::Relaxed);
    slots
}

/// The vehicles by deadline, earliest first. Every vehicle of a worker has
/// the same period and ticks per wake-up, so a vehicle's next deadline
/// (its last plus that many periods, or later when it skips) is never
/// before that of any vehicle still waiting: each of those was scheduled
/// from a deadline no later than its own. So the order is a ring: take at
/// the front, put at the back, in constant time and in memory order (a
/// heap's log-many scattered reads missed the cache on every tick). A
/// deadline that would break the order is put in its place all the same.
#[derive(Debug)]
struct Due(VecDeque<(Instant, usize)>);

impl Due {
    /// The vehicles of these deadlines, by index.
    fn new(deadlines: impl Iterator<Item = Instant>) -> Self {
        let mut v: Vec<(Instant, usize)> = deadlines.zip(0..).collect();
        v.sort_unstable();
        Self(v.into())
    }

    fn peek(&self) -> Option<&(Instant, usize)> {
        self.0.front()
    }

    fn pop(&mut self) -> Option<(Instant, usize)> {
        self.0.pop_front()
    }

    /// Gives back what [`Self::pop`] took (it is still the earliest).
    fn push_front(&mut self, due: (Instant, usize)) {
        self.0.push_front(due);
    }

    fn push(&mut self, due: (Instant, usize)) {
        if self.0.back().is_none_or(|last| *last <= due) {
            self.0.push_back(due);
        } else {
            let at = self.0.partition_point(|d| *d <= due);
            self.0.insert(at, due);
        }
    }
}

/// What one wake-up of a vehicle does to its schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wake {
    /// The first of its ticks started more than a period after its deadline.
    late: bool,
    /// Ticks skipped because the vehicle fell more than a second behind.
    skipped: u32,
    /// When its next wake-up is due.
    next: Instant,
}

/// The schedule of a vehicle due at `deadline`, woken at `now`, that runs
/// `n` ticks: the first is the one due, the others are the next `n - 1`
/// run at once (early, never late), so the next wake-up is due `n` periods
/// after this one's. Only the first can be late; a vehicle more than a
/// second behind skips the ticks it cannot catch up, and says how many.
fn plan_wake(deadline: Instant, now: Instant, dt: Duration, n: u32) -> Wake {
    let mut wake = Wake {
        late: now > deadline + dt,
        skipped: 0,
        next: deadline + dt * n,
    };
    let behind = now.saturating_duration_since(deadline);
    if wake.late && behind > SKIP_AFTER {
        wake.skipped = (behind.as_secs_f64() / dt.as_secs_f64()) as u32;
        wake.next += dt * wake.skipped;
    }
    wake
}

/// One tick of one vehicle: its power-off restart when due, its commands,
/// its fleet-file steps and its OTA client before the step; its link and
/// OTA client after it, with the tick's events.
fn tick(
    slot: &mut Slot,
    events: &mut Vec<Event>,
    counters: &TickCounters,
    restart: Option<&dyn Restart>,
) {
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
    slot.vehicle.drain_events_into(events);
    slot.mqtt.after_tick(&slot.vehicle, events);
    if let Some(ota) = slot.ota.as_mut() {
        ota.after_tick(&slot.vehicle, events);
    }
    for e in events.iter() {
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
    fn the_deadline_ring_gives_vehicles_earliest_first_even_when_a_deadline_comes_out_of_order() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut due = Due::new([t0 + ms(30), t0 + ms(10), t0 + ms(20)].into_iter());
        assert_eq!(due.pop(), Some((t0 + ms(10), 1)));
        // The usual case: the next deadline is the latest.
        due.push((t0 + ms(110), 1));
        // One that would break the order goes in its place.
        due.push((t0 + ms(25), 7));
        // What was taken and is not due yet goes back to the front.
        let first = due.pop();
        assert_eq!(first, Some((t0 + ms(20), 2)));
        due.push_front((t0 + ms(20), 2));
        let order: Vec<usize> = std::iter::from_fn(|| due.pop()).map(|d| d.1).collect();
        assert_eq!(order, [2, 7, 0, 1]);
    }

    #[test]
    fn a_tick_is_stepped_at_most_a_tenth_of_its_period_early_within_2_to_10_ms() {
        assert_eq!(early(Duration::from_millis(100)), Duration::from_millis(10));
        assert_eq!(early(Duration::from_millis(50)), Duration::from_millis(5));
        // 100 Hz: a tenth would be 1 ms; the floor keeps one wake-up per 2 ms.
        assert_eq!(early(Duration::from_millis(10)), Duration::from_millis(2));
        // 1 Hz: a tenth would be 100 ms; the cap keeps ticks near their deadline.
        assert_eq!(early(Duration::from_secs(1)), Duration::from_millis(10));
    }

    #[test]
    fn a_wake_up_of_n_ticks_is_due_again_n_periods_after_its_deadline_and_only_its_first_tick_can_be_late()
     {
        let t0 = Instant::now();
        let dt = Duration::from_millis(100);
        // On time (even a little early): five ticks now, next due 500 ms on.
        let w = plan_wake(t0, t0 - Duration::from_millis(5), dt, 5);
        assert_eq!((w.late, w.skipped, w.next), (false, 0, t0 + dt * 5));
        // 90 ms after its deadline: within a period, not late.
        let w = plan_wake(t0, t0 + Duration::from_millis(90), dt, 5);
        assert!(!w.late);
        // 150 ms after: the first tick is late, the rest follow it at once.
        let w = plan_wake(t0, t0 + Duration::from_millis(150), dt, 5);
        assert_eq!((w.late, w.skipped, w.next), (true, 0, t0 + dt * 5));
        // Two seconds behind: late, and the 20 periods it cannot catch up
        // are skipped and counted.
        let w = plan_wake(t0, t0 + Duration::from_secs(2), dt, 5);
        assert_eq!((w.late, w.skipped, w.next), (true, 20, t0 + dt * 25));
        // One tick per wake-up is the schedule of before.
        let w = plan_wake(t0, t0, dt, 1);
        assert_eq!(w.next, t0 + dt);
    }
}
