//! The half of the link that drives rumqttc's `EventLoop::poll` (rumqttc
//! makes progress nowhere else) and forwards each event to the link's
//! logic. It runs in the same task as the logic (see [`crate::link`]), so a
//! message costs no wake-up of another task or thread between the two.
//!
//! On an error it waits a backoff with jitter (0.25 s doubling to 5 s, each
//! wait drawn from the upper half of its step) before polling again, which
//! reconnects, and puts the latest last will into the options of that
//! connection first. Every connection attempt waits for its slot at the
//! fleet's [`ConnectGate`].
//!
//! An *outage* (a fleet step taking the vehicle's link offline for a while)
//! drops the connection without DISCONNECT, as a lost network would, and
//! connects again only once it is over, through the gate like any other
//! reconnect.

use crate::gate::ConnectGate;
use crate::metrics::Metrics;
use rumqttc::{Event, EventLoop, LastWill, Outgoing, Packet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tcu_engine::backoff::{Backoff, Jitter};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Longest wait between reconnection attempts (before jitter).
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// An event, or why the connection is gone.
pub(crate) type PollResult = Result<Event, String>;

/// What the poll half listens to besides the connection.
pub(crate) struct PollInputs {
    /// The last will for the next connection.
    pub will: watch::Receiver<Option<LastWill>>,
    /// Until when the link must stay offline (`None`: no outage).
    pub outage: watch::Receiver<Option<Instant>>,
    /// Spaces connection attempts across a fleet's links.
    pub gate: Option<Arc<ConnectGate>>,
    /// Seed of the reconnection jitter.
    pub jitter_seed: u64,
}

/// Forgets the connection and everything rumqttc still holds of it.
///
/// Clean sessions: rumqttc must not replay requests of the old session (the
/// outbox has them back), and events it had read or queued for the old
/// connection (a PUBACK read together with the close, the `Publish` event
/// of a write that then failed) must not reach the logic after the next
/// CONNACK, where they would be paired with the new session's messages.
fn forget_connection(eventloop: &mut EventLoop) {
    eventloop.clean();
    eventloop.pending.clear();
    eventloop.state.events.clear();
}

/// Drives `eventloop` and sends its events on `tx` until the logic stops
/// listening or the connection was closed with DISCONNECT.
pub(crate) async fn poll_loop(
    mut eventloop: EventLoop,
    tx: mpsc::Sender<PollResult>,
    metrics: Arc<Metrics>,
    mut inputs: PollInputs,
) {
    let mut backoff = Backoff::new(Duration::from_millis(250), MAX_BACKOFF);
    let mut jitter = Jitter::new(inputs.jitter_seed);
    let mut connect_next = true;
    loop {
        if connect_next {
            connect_next = false;
            wait_out_outage(&mut inputs.outage).await;
            if let Some(g) = &inputs.gate {
                g.wait().await;
            }
            // Whatever was handed over while waiting belongs to no session.
            forget_connection(&mut eventloop);
            if inputs.will.has_changed().unwrap_or(false)
                && let Some(w) = inputs.will.borrow_and_update().clone()
            {
                eventloop.mqtt_options.set_last_will(w);
            }
        }
        let polled = tokio::select! {
            r = eventloop.poll() => Some(r),
            Ok(()) = inputs.outage.changed() => None,
        };
        match polled {
            None => {
                if outage_end(&mut inputs.outage).is_some() {
                    metrics.connected.store(false, Ordering::Relaxed);
                    forget_connection(&mut eventloop);
                    if tx.send(Err("outage".to_owned())).await.is_err() {
                        return;
                    }
                    connect_next = true;
                }
            }
            Some(Ok(ev)) => {
                if matches!(ev, Event::Incoming(Packet::ConnAck(_))) {
                    backoff.reset();
                }
                let disconnect = matches!(ev, Event::Outgoing(Outgoing::Disconnect));
                if tx.send(Ok(ev)).await.is_err() || disconnect {
                    return;
                }
            }
            Some(Err(e)) => {
                metrics.connected.store(false, Ordering::Relaxed);
                forget_connection(&mut eventloop);
                if tx.send(Err(e.to_string())).await.is_err() {
                    return;
                }
                tokio::time::sleep(backoff.next_delay(&mut jitter)).await;
                connect_next = true;
            }
        }
    }
}

/// The end of the outage in effect, if one is.
fn outage_end(outage: &mut watch::Receiver<Option<Instant>>) -> Option<Instant> {
    outage
        .borrow_and_update()
        .filter(|until| *until > Instant::now())
}

/// Sleeps until no outage is in effect (an outage may be extended while
/// it lasts).
async fn wait_out_outage(outage: &mut watch::Receiver<Option<Instant>>) {
    while let Some(until) = outage_end(outage) {
        tokio::select! {
            () = tokio::time::sleep_until(until) => {}
            changed = outage.changed() => {
                if changed.is_err() {
                    // Nobody can change it any more: it ends when it ends.
                    tokio::time::sleep_until(until).await;
                }
            }
        }
    }
}
