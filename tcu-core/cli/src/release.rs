//! Giving back the resident memory only the start-up used
//! (`tcu_engine::resident`) in headless runs: what parsing used before the
//! plugins load, what the loading used once built, and the rest by a tick
//! hook once the start-up is over.

use tcu_engine::resident::{StartupFiles, release_after_start, unpool_large_buffers};
use tcu_engine::sim::{Event, TickHook, Vehicle};

/// Prepares the plugin loading of a run: releases what argument and
/// configuration parsing touched (a few MiB of the executable's pages:
/// released only after the loading, they stood beside the loading's own
/// and made the start-up's peak), and keeps the plugins' bytes from
/// growing the heap ([`unpool_large_buffers`]). Call it while no other
/// thread loads a library (see `StartupFiles`).
pub fn before_loading() {
    unpool_large_buffers();
    if let Err(e) = release_after_start(&StartupFiles::now()) {
        tracing::debug!("parsing pages kept: {e}");
    }
}

/// A tick hook that calls [`release_after_start`] once, after the tick
/// that ends the first `after` of simulated time: by then the start-up is
/// over (configuration, plugin loading, the first connection of the link)
/// and the ticks have mapped what they use.
#[derive(Debug)]
pub struct ReleaseAfterStart {
    after: std::time::Duration,
    files: StartupFiles,
    done: bool,
}

impl ReleaseAfterStart {
    /// Releases what the start-up touched so far at once (the peak is the
    /// start-up's), and again after `after` of simulated time. Build it
    /// while no other thread loads a library (see `StartupFiles`).
    pub fn new(after: std::time::Duration) -> Self {
        let files = StartupFiles::now();
        if let Err(e) = release_after_start(&files) {
            tracing::debug!("start-up pages kept: {e}");
        }
        Self {
            after,
            files,
            done: false,
        }
    }
}

impl TickHook for ReleaseAfterStart {
    fn after_tick(&mut self, vehicle: &Vehicle, _events: &[Event]) {
        if self.done || (vehicle.ticks() as f64) * vehicle.dt() < self.after.as_secs_f64() {
            return;
        }
        self.done = true;
        match release_after_start(&self.files) {
            Ok(r) => tracing::debug!(
                mappings = r.mappings,
                kib = r.kib,
                "start-up pages released"
            ),
            Err(e) => tracing::debug!("start-up pages kept: {e}"),
        }
    }
}
