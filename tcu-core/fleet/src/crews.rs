//! The fleet's threads: each drives one single-threaded tokio runtime that
//! runs the links of its share of the vehicles and, as a task on the same
//! runtime, the worker stepping those same vehicles (a crew).
//!
//! Why a crew shares one thread: a telemetry frame crosses from the tick
//! that encodes it to the link that publishes it. On two threads that is a
//! cross-thread wake-up (an `eventfd` write, a parked thread scheduled) per
//! message; on one runtime the link's task is queued on the thread that is
//! already running, and it runs as soon as the worker waits for its next
//! deadline. Why not one multi-threaded runtime: a link's work comes in
//! small bursts, and a work-stealing scheduler wakes a second parked thread
//! to look for work it almost never finds.

use crate::worker::{self, Restart, Slot, TickCounters};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tcu_link::LinkTask;
use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// What a crew's worker is given to step.
pub(crate) struct Work {
    /// The crew's vehicles.
    pub slots: Vec<Slot>,
    /// The tick period.
    pub dt: Duration,
    /// Ticks of a vehicle per wake-up.
    pub ticks_per_wake: u32,
    /// Set when the fleet stops.
    pub halt: Arc<AtomicBool>,
    /// Where the worker counts.
    pub counters: Arc<TickCounters>,
    /// Starts a powered-off vehicle again.
    pub restart: Option<Arc<dyn Restart>>,
}

/// One running crew thread.
struct Crew {
    /// Hands the worker its vehicles (once).
    work: Option<oneshot::Sender<Work>>,
    /// Gives the vehicles back when the worker stops.
    done: Option<oneshot::Receiver<Vec<Slot>>>,
    /// Ends the thread (after its links have finished).
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// The running crews.
pub(crate) struct Crews {
    handles: Vec<Handle>,
    crews: Vec<Crew>,
}

/// A crew's worker ended without giving its vehicles back (it panicked).
#[derive(Debug)]
pub(crate) struct WorkerLost;

impl Crews {
    /// Starts `n` (at least one) crew threads. Their runtimes run links
    /// spawned on them at once; their workers start at [`Crews::work`].
    pub(crate) fn start(n: usize) -> std::io::Result<Self> {
        let mut handles = Vec::new();
        let mut crews = Vec::new();
        for i in 0..n.max(1) {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            handles.push(runtime.handle().clone());
            let (work_tx, work_rx) = oneshot::channel::<Work>();
            let (done_tx, done_rx) = oneshot::channel::<Vec<Slot>>();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("tcu-fleet-{i}"))
                .spawn(move || {
                    runtime.block_on(async {
                        // The links run from the start; the worker once
                        // the vehicles are handed over.
                        if let Ok(w) = work_rx.await {
                            let slots = worker::run(
                                w.slots,
                                (w.dt, w.ticks_per_wake),
                                &w.halt,
                                &w.counters,
                                w.restart.as_deref(),
                            )
                            .await;
                            let _ = done_tx.send(slots);
                        }
                        // Then every link, until they have finished.
                        let _ = stopped.await;
                    });
                    runtime.shutdown_timeout(Duration::from_secs(1));
                })?;
            crews.push(Crew {
                work: Some(work_tx),
                done: Some(done_rx),
                stop,
                thread,
            });
        }
        Ok(Self { handles, crews })
    }

    /// The runtime of the `i`-th vehicle's crew: vehicle `i` belongs to
    /// crew `i % len`, its link and its ticks alike.
    pub(crate) fn handle(&self, i: usize) -> &Handle {
        &self.handles[i % self.handles.len()]
    }

    /// Deals `slots` (in vehicle order) out to the crews' workers, vehicle
    /// `i` to crew `i % len`, and starts them.
    pub(crate) fn work(
        &mut self,
        slots: Vec<Slot>,
        (dt, ticks_per_wake): (Duration, u32),
        (halt, counters): (&Arc<AtomicBool>, &Arc<TickCounters>),
        restart: Option<Arc<dyn Restart>>,
    ) {
        let n = self.crews.len();
        let mut parts: Vec<Vec<Slot>> = (0..n).map(|_| Vec::new()).collect();
        for (i, s) in slots.into_iter().enumerate() {
            parts[i % n].push(s);
        }
        for (crew, slots) in self.crews.iter_mut().zip(parts) {
            if let Some(tx) = crew.work.take() {
                let _ = tx.send(Work {
                    slots,
                    dt,
                    ticks_per_wake,
                    halt: halt.clone(),
                    counters: counters.clone(),
                    restart: restart.clone(),
                });
            }
        }
    }

    /// Waits for every worker to stop (after the halt flag is set) and
    /// gives back their vehicles.
    pub(crate) fn vehicles(&mut self) -> Result<Vec<Slot>, WorkerLost> {
        let mut slots = Vec::new();
        for crew in &mut self.crews {
            if let Some(done) = crew.done.take() {
                slots.extend(done.blocking_recv().map_err(|_| WorkerLost)?);
            }
        }
        Ok(slots)
    }

    /// Stops every link and waits, at most `grace`, for them to deliver what
    /// they hold and publish `offline`; then ends the threads (a link still
    /// running then is dropped, which closes its connection).
    pub(crate) fn finish(self, links: Vec<LinkTask>, grace: Duration) {
        // Joining a task needs no particular runtime: a small one here waits.
        match Builder::new_current_thread().enable_time().build() {
            Ok(waiter) => waiter.block_on(async {
                let all: Vec<_> = links
                    .into_iter()
                    .map(|l| tokio::spawn(l.finished()))
                    .collect();
                let _ = tokio::time::timeout(grace, async {
                    for j in all {
                        let _ = j.await;
                    }
                })
                .await;
            }),
            Err(e) => {
                tracing::error!("waiting for the links to stop: {e}; stopping them at once");
            }
        }
        for crew in self.crews {
            // A crew never handed work stops waiting for it.
            drop(crew.work);
            let _ = crew.stop.send(());
            let _ = crew.thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ith_vehicles_link_runs_on_the_thread_of_crew_i_modulo_the_crews() {
        let crews = Crews::start(2).unwrap();
        let name_of = |i: usize| {
            let (tx, rx) = std::sync::mpsc::channel();
            crews.handle(i).spawn(async move {
                let _ = tx.send(std::thread::current().name().map(str::to_owned));
            });
            rx.recv_timeout(Duration::from_secs(5)).unwrap()
        };
        assert_eq!(name_of(0).as_deref(), Some("tcu-fleet-0"));
        assert_eq!(name_of(1).as_deref(), Some("tcu-fleet-1"));
        assert_eq!(name_of(4).as_deref(), Some("tcu-fleet-0"));
        assert_eq!(name_of(7).as_deref(), Some("tcu-fleet-1"));
        crews.finish(Vec::new(), Duration::from_secs(1));
    }

    #[test]
    fn crews_never_handed_work_end_their_threads_at_finish() {
        let crews = Crews::start(3).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            crews.finish(Vec::new(), Duration::from_secs(1));
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("finish returned: no crew thread kept waiting for work");
    }
}
