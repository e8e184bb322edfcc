//! The tick-thread side of the link: a [`TickHook`] that turns the bus into
//! a telemetry snapshot every publish period (in simulated time) and the
//! tick's events into event messages, and hands them to the link's task
//! through a bounded channel without ever waiting.
//!
//! If the channel is full (the link's task is stalled), the message is
//! counted as lost, and the count and the lost telemetry sequence numbers
//! are handed over with the next message that fits, so the link publishes
//! them as an `outbox.dropped` event: a loss is never silent.

use crate::encode::{self, TelemetryEncoder, Topics};
use crate::outbox::{DropReason, Dropped, Msg};
use serde_json::Map;
use std::time::{Duration, SystemTime};
use tcu_engine::sim::{Event, TickHook, Vehicle};
use tokio::sync::mpsc;

/// What the tick thread hands to the link.
#[derive(Debug)]
pub enum Frame {
    /// A message for the outbox.
    Publish(Msg),
    /// Messages the hook could not hand over.
    Lost(Dropped),
    /// The plugin versions changed (a swap or a rollback): name, version.
    /// The link rebuilds its statuses and its last will from them.
    Plugins(Vec<(String, String)>),
    /// Take the connection down and keep it down this long (a fleet step).
    Outage(Duration),
}

/// The hook. Build it with [`crate::start`].
#[derive(Debug)]
pub struct MqttHook {
    tx: mpsc::Sender<Frame>,
    topics: Topics,
    vin: String,
    legacy: bool,
    telemetry_qos: u8,
    period: Duration,
    every_ticks: u64,
    encoder: Option<TelemetryEncoder>,
    seq: u64,
    lost: Dropped,
    /// The plugin versions the link was last told.
    versions: Vec<(String, String)>,
}

impl MqttHook {
    pub(super) fn new(
        tx: mpsc::Sender<Frame>,
        topics: Topics,
        vin: &str,
        legacy: bool,
        telemetry_qos: u8,
        period: Duration,
        versions: Vec<(String, String)>,
    ) -> Self {
        Self {
            tx,
            topics,
            vin: vin.to_owned(),
            legacy,
            telemetry_qos,
            period,
            every_ticks: 0,
            encoder: None,
            seq: 0,
            lost: Dropped::default(),
            versions,
        }
    }

    /// The vehicle this hook publishes for.
    pub fn vin(&self) -> &str {
        &self.vin
    }

    /// Telemetry messages produced so far (the last seq).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Frames handed over that the link has not taken yet.
    pub fn pending_frames(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    fn send(&mut self, msg: Msg) {
        if self.lost.count > 0 {
            let lost = std::mem::take(&mut self.lost);
            if let Err(e) = self.tx.try_send(Frame::Lost(lost))
                && let Frame::Lost(l) = e.into_inner()
            {
                self.lost = l;
            }
        }
        if let Err(e) = self.tx.try_send(Frame::Publish(msg))
            && let Frame::Publish(m) = e.into_inner()
        {
            self.lost.add(&m, DropReason::LinkStalled);
        }
    }

    /// Takes the link offline for `d` (see [`crate::poll`]); false if its
    /// channel is full (the caller tries again on a later tick).
    pub fn outage(&mut self, d: Duration) -> bool {
        self.tx.try_send(Frame::Outage(d)).is_ok()
    }

    /// Publishes events raised outside the tick loop (the plugin loads
    /// logged before the run starts).
    pub fn publish_events(&mut self, events: &[Event]) {
        for e in events {
            // Structured fields (subsystem, from, to, reason, ...) go in as
            // top-level keys beside `type` and `detail`.
            let fields: Map<String, serde_json::Value> = e
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            let payload = encode::event(&e.kind, Some(e.t), &e.detail, fields, SystemTime::now());
            let msg = Msg {
                topic: self.topics.events.clone(),
                payload,
                qos: 1,
                seq: None,
            };
            self.send(msg);
        }
    }
}

impl TickHook for MqttHook {
    fn after_tick(&mut self, vehicle: &Vehicle, events: &[Event]) {
        if !events.is_empty() {
            self.publish_events(events);
            // Whatever the event (swap, rollback, a failed rollback), the
            // link learns the versions that run now.
            if events.iter().any(|e| e.kind.starts_with("plugin.")) {
                let now = encode::plugin_versions(vehicle);
                // Should the channel be full, the next plugin event retries.
                if now != self.versions && self.tx.try_send(Frame::Plugins(now.clone())).is_ok() {
                    self.versions = now;
                }
            }
        }
        if self.every_ticks == 0 {
            self.every_ticks = ((self.period.as_secs_f64() / vehicle.dt()).round() as u64).max(1);
        }
        if !vehicle.ticks().is_multiple_of(self.every_ticks) {
            return;
        }
        let (vin, legacy) = (&self.vin, self.legacy);
        let encoder = self
            .encoder
            .get_or_insert_with(|| TelemetryEncoder::new(vehicle, vin, legacy));
        self.seq += 1;
        let payload = encoder.encode(vehicle.bus(), self.seq, SystemTime::now());
        let msg = Msg {
            topic: self.topics.telemetry.clone(),
            payload,
            qos: self.telemetry_qos,
            seq: Some(self.seq),
        };
        self.send(msg);
    }
}
