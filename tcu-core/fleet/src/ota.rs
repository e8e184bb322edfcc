//! OTA at fleet scale: every vehicle its own DDI controller, with its own
//! OTA state and plugin store under the fleet's state directory
//! (`<state>/<VIN>/store`, `<state>/<VIN>/ota`).
//!
//! The fleet knows no OTA client: the binary hands it an [`OtaAttach`]
//! that makes one vehicle's client (a [`Poller`]) and its tick hook (which
//! raises the client's states as `ota.state` events and carries its swaps
//! into the vehicle). The clients are blocking, so a small pool of threads
//! polls them, each when it is due, instead of one thread per vehicle; an
//! installation holds its pool thread until probation has ended, which
//! bounds how many vehicles install at once to the pool's size.
//!
//! The states the fleet's summary counts are those of the `ota.state`
//! events ([`STATES`]); a vehicle is counted in the last state it raised.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tcu_engine::control::ControlHandle;
use tcu_engine::sim::{TickHook, Vehicle};
use tcu_engine::swap::store::Store;

/// The client states an `ota.state` event names, in the summary's order.
pub const STATES: [&str; 10] = [
    "idle",
    "downloading",
    "downloaded",
    "waiting",
    "installing",
    "succeeded",
    "failed",
    "canceled",
    "diverged",
    "error",
];

/// Longest wait of a pool thread between two looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);

/// One vehicle's OTA client, polled by the pool.
pub trait Poller: Send {
    /// One poll cycle (failures handled inside); the time until the next.
    fn poll(&mut self, stop: &AtomicBool) -> Duration;
}

/// What a vehicle's client is made from.
#[derive(Debug)]
pub struct OtaMember<'a> {
    /// Its VIN (the controller id).
    pub vin: &'a str,
    /// Its seed.
    pub seed: u64,
    /// The vehicle as built.
    pub vehicle: &'a Vehicle,
    /// Where its swaps go.
    pub control: ControlHandle,
    /// Its plugin store.
    pub store: Store,
    /// Its state directory (`<state>/<VIN>`): the client's staging
    /// directory goes in `ota` there.
    pub dir: &'a Path,
    /// A server URL of its own (its misbehaving link, see
    /// [`crate::shaper`]): then it downloads through it, not the shared
    /// cache.
    pub link: Option<&'a str>,
}

/// A vehicle's client and the hook that runs in its ticks.
pub struct Attached {
    /// Polled by the pool.
    pub poller: Box<dyn Poller>,
    /// Run before and after each of the vehicle's ticks.
    pub hook: Box<dyn TickHook + Send>,
}

impl std::fmt::Debug for Attached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attached").finish_non_exhaustive()
    }
}

/// Makes vehicles DDI controllers (implemented by the binary, which holds
/// the OTA client and the installer).
pub trait OtaAttach: Send + Sync {
    /// The client and hook of one vehicle; the error says what failed.
    fn attach(&self, member: OtaMember<'_>) -> Result<Attached, String>;
    /// Artifacts downloaded into the process's shared cache so far (for
    /// the summary).
    fn downloads(&self) -> u64;
}

/// OTA for a fleet.
#[derive(Clone)]
pub struct FleetOta {
    /// Makes each vehicle's client.
    pub attach: Arc<dyn OtaAttach>,
    /// The server (a misbehaving vehicle's link relays to it).
    pub server: String,
    /// Threads polling the clients.
    pub threads: usize,
    /// Every vehicle's OTA state and store go in `state_dir/<VIN>`.
    pub state_dir: PathBuf,
}

impl std::fmt::Debug for FleetOta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetOta")
            .field("threads", &self.threads)
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

/// How many vehicles are in each of [`STATES`].
#[derive(Debug, Default)]
pub struct OtaCounters {
    counts: [AtomicU64; STATES.len()],
}

impl OtaCounters {
    /// A vehicle moved from `from` (its last state, if any) to the state
    /// named `to`; returns its state now (`from` when `to` is unknown).
    pub fn moved(&self, from: Option<usize>, to: &str) -> Option<usize> {
        let Some(i) = STATES.iter().position(|s| *s == to) else {
            return from;
        };
        if from == Some(i) {
            return from;
        }
        if let Some(f) = from {
            self.counts[f].fetch_sub(1, Ordering::Relaxed);
        }
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        Some(i)
    }

    /// The counts, in the order of [`STATES`].
    pub fn counts(&self) -> [u64; STATES.len()] {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }
}

struct Queue {
    due: BinaryHeap<Reverse<(Instant, usize)>>,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    slots: Vec<Mutex<Box<dyn Poller>>>,
    /// A client that replaces a slot's before its next poll (a vehicle
    /// started again).
    pending: Vec<Mutex<Option<Box<dyn Poller>>>>,
}

/// The clients to poll, shared by the pool's threads; cloning gives
/// another handle to the same pool.
#[derive(Clone)]
pub struct Pool(Arc<Shared>);

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("clients", &self.0.slots.len())
            .finish()
    }
}

impl Pool {
    /// A pool of `pollers`, each first due at its instant.
    pub fn new(pollers: Vec<(Instant, Box<dyn Poller>)>) -> Self {
        let mut due = BinaryHeap::new();
        let mut slots = Vec::with_capacity(pollers.len());
        for (i, (at, p)) in pollers.into_iter().enumerate() {
            due.push(Reverse((at, i)));
            slots.push(Mutex::new(p));
        }
        let pending = slots.iter().map(|_| Mutex::new(None)).collect();
        Self(Arc::new(Shared {
            queue: Mutex::new(Queue { due }),
            ready: Condvar::new(),
            slots,
            pending,
        }))
    }

    /// Client `i` is replaced by `p` before its next poll.
    pub fn replace(&self, i: usize, p: Box<dyn Poller>) {
        if let Some(slot) = self.0.pending.get(i) {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(p);
        }
    }

    /// Polls every client when due on `threads` threads until `stop` is
    /// set. A client is polled by one thread at a time.
    pub fn spawn(
        &self,
        threads: usize,
        stop: &Arc<AtomicBool>,
    ) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
        (0..threads.max(1))
            .map(|t| {
                let (shared, stop) = (self.0.clone(), stop.clone());
                std::thread::Builder::new()
                    .name(format!("tcu-fleet-ota-{t}"))
                    .spawn(move || {
                        while let Some(i) = next_due(&shared.queue, &shared.ready, &stop) {
                            let mut client =
                                shared.slots[i].lock().unwrap_or_else(|p| p.into_inner());
                            if let Some(new) = shared.pending[i]
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .take()
                            {
                                *client = new;
                            }
                            let wait = client.poll(&stop);
                            drop(client);
                            let mut q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
                            q.due.push(Reverse((Instant::now() + wait, i)));
                            shared.ready.notify_one();
                        }
                    })
            })
            .collect()
    }
}

/// Takes the earliest poller once it is due; `None` once `stop` is set.
fn next_due(queue: &Mutex<Queue>, ready: &Condvar, stop: &AtomicBool) -> Option<usize> {
    let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let now = Instant::now();
        let wait = match q.due.peek() {
            Some(Reverse((at, _))) if *at <= now => {
                let Reverse((_, i)) = q.due.pop()?;
                return Some(i);
            }
            Some(Reverse((at, _))) => (*at - now).min(STOP_POLL),
            None => STOP_POLL,
        };
        q = ready
            .wait_timeout(q, wait)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting {
        polls: Arc<AtomicU64>,
        busy: Arc<AtomicU64>,
        most: Arc<AtomicU64>,
    }

    impl Poller for Counting {
        fn poll(&mut self, _: &AtomicBool) -> Duration {
            let now = self.busy.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
            self.busy.fetch_sub(1, Ordering::SeqCst);
            self.polls.fetch_add(1, Ordering::SeqCst);
            Duration::from_millis(20)
        }
    }

    #[test]
    fn a_small_pool_polls_every_client_again_and_never_more_at_once_than_its_threads() {
        let (busy, most) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let counters: Vec<Arc<AtomicU64>> = (0..30).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let now = Instant::now();
        let pollers: Vec<(Instant, Box<dyn Poller>)> = counters
            .iter()
            .map(|c| {
                let p: Box<dyn Poller> = Box::new(Counting {
                    polls: c.clone(),
                    busy: busy.clone(),
                    most: most.clone(),
                });
                (now, p)
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = Pool::new(pollers).spawn(3, &stop).unwrap();
        let end = Instant::now() + Duration::from_secs(20);
        while counters.iter().any(|c| c.load(Ordering::SeqCst) < 3) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        assert!(
            counters.iter().all(|c| c.load(Ordering::SeqCst) >= 3),
            "every client polled again and again"
        );
        assert!(
            most.load(Ordering::SeqCst) <= 3,
            "at most one poll per thread"
        );
    }

    #[test]
    fn a_vehicle_is_counted_in_its_last_state_only() {
        let c = OtaCounters::default();
        let s = c.moved(None, "idle");
        let s = c.moved(s, "downloading");
        let s = c.moved(s, "no-such-state");
        assert_eq!(s, Some(1));
        let other = c.moved(None, "idle");
        let _ = c.moved(s, "succeeded");
        let _ = c.moved(other, "succeeded");
        assert_eq!(c.counts()[..6], [0, 0, 0, 0, 0, 2]);
    }
}
