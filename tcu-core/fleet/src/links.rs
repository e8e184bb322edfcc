//! The threads a fleet's links run on: one single-threaded tokio runtime
//! per link thread, each driven by a thread of its own, the links dealt
//! out over them in turn.
//!
//! Why not one multi-threaded runtime: a link's work comes in small bursts
//! (a frame from a tick worker, a PUBACK), and a work-stealing scheduler
//! wakes a second parked thread to look for work it almost never finds;
//! with runtimes of one thread each, a burst wakes the one thread that owns
//! the link and nothing else.

use std::time::Duration;
use tcu_link::LinkTask;
use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// The running link threads.
pub(crate) struct LinkRuntimes {
    handles: Vec<Handle>,
    threads: Vec<(oneshot::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl LinkRuntimes {
    /// Starts `n` (at least one) link threads.
    pub(crate) fn start(n: usize) -> std::io::Result<Self> {
        let mut handles = Vec::new();
        let mut threads = Vec::new();
        for i in 0..n.max(1) {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            handles.push(runtime.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("tcu-fleet-link-{i}"))
                .spawn(move || {
                    // Drives every link spawned on it until the stop.
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                    runtime.shutdown_timeout(Duration::from_secs(1));
                })?;
            threads.push((stop, thread));
        }
        Ok(Self { handles, threads })
    }

    /// The runtime of the `i`-th link.
    pub(crate) fn handle(&self, i: usize) -> &Handle {
        &self.handles[i % self.handles.len()]
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
        for (stop, thread) in self.threads {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}
