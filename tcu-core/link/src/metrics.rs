//! The link's counters, shared with the status line and the dashboard.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counters shown in the status line.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Connected to the broker.
    pub connected: AtomicBool,
    /// Messages the broker acknowledged (QoS 1) or that were written (QoS 0).
    pub published: AtomicU64,
    /// Messages waiting (outbox plus in flight).
    pub outbox: AtomicU64,
    /// Messages lost, whatever the reason (the `outbox.dropped` events say
    /// which).
    pub dropped: AtomicU64,
}

impl std::fmt::Display for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let up = if self.connected.load(Ordering::Relaxed) {
            "up"
        } else {
            "down"
        };
        write!(
            f,
            "mqtt={up} published={} outbox={} dropped={}",
            self.published.load(Ordering::Relaxed),
            self.outbox.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed)
        )
    }
}
