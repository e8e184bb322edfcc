//! The link's task: owns the outbox and the rumqttc client; runs on a
//! thread of its own with a single-threaded tokio runtime (one vehicle) or
//! as one task among a fleet's on a shared runtime.
//!
//! The task has two halves, polled together: the *poll* half
//! ([`crate::poll`]) drives `EventLoop::poll` and forwards each event; the
//! *logic* half takes frames from the tick hook, command outcomes and the
//! forwarded events, and never awaits the client: it uses `try_publish`, so
//! it can not deadlock against a full request channel. Being one task, a
//! frame, its publish and its PUBACK wake one task, not two on possibly two
//! threads, and the halves never run at the same time.
//!
//! Delivery: the outbox owns every message until it is acknowledged. At most
//! [`WINDOW`] messages are handed to the client at once; rumqttc reports the
//! packet id of each publish it writes (in the order they were handed), and
//! a PUBACK with that id completes it (QoS 0: being written completes it).
//! When the link drops, whatever was handed and not completed goes back to
//! the front of the outbox. Sessions are clean, so rumqttc never replays on
//! its own; the poll half forgets what rumqttc held of a connection when it
//! ends (requests, queued events) and drains the request channel right
//! before reconnecting, and the logic hands nothing over between an error
//! and the next CONNACK.
//!
//! The retained status and the last will list the plugin versions the hook
//! last reported, so after a swap the next connection's will is current.
//! With the embedded broker (in this process) there is no will, since it
//! could never be delivered, and the link closes without DISCONNECT after
//! its `offline` status is acknowledged: rumqttd logs a clean DISCONNECT as
//! an error on its side.

use crate::command;
use crate::encode::{self, Topics};
use crate::gate::ConnectGate;
use crate::hook::Frame;
use crate::metrics::Metrics;
pub use crate::options::{REQUEST_CAP, WINDOW};
use crate::outbox::{Dropped, Msg, Outbox};
pub use crate::poll::MAX_BACKOFF;
use crate::poll::{PollInputs, PollResult, poll_loop};
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, Outgoing, Packet, QoS};
use serde_json::{Map, json};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};
use tcu_engine::bus::SetErrors;
use tcu_engine::control::{ControlHandle, ControlMsg};
use tokio::sync::{mpsc, oneshot, watch};
/// Frames (or client events) taken from their channel at once: under a
/// burst, one wake-up of each side and one pump per batch instead of per
/// message.
const FRAME_BATCH: usize = 256;
/// Messages the outbox keeps in memory while the link is up.
pub const MEM_CAP: usize = 4096;
/// How long a stop waits for the `offline` status to be acknowledged and
/// the connection to close.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// What the link needs besides the client.
#[derive(Debug)]
pub struct LinkParts {
    /// Topics.
    pub topics: Topics,
    /// The VIN, for the status payloads.
    pub vin: String,
    /// Name and version of every plugin, as the status lists them.
    pub plugins: Vec<(String, String)>,
    /// The outbox.
    pub outbox: Outbox,
    /// Where commands go (`None`: commands are refused).
    pub control: Option<ControlHandle>,
    /// Shared counters.
    pub metrics: Arc<Metrics>,
    /// The broker runs inside this process (the embedded one): no last
    /// will, no DISCONNECT (see the module docs).
    pub in_process_broker: bool,
    /// Shared by the links of a fleet: every connection attempt waits for
    /// its slot (see [`crate::gate`]).
    pub gate: Option<Arc<ConnectGate>>,
    /// Seed of the reconnection jitter: differs between vehicles.
    pub jitter_seed: u64,
    /// Log each connect and loss at info/warn (one vehicle); a fleet logs
    /// them at debug and reports counts in its summary instead.
    pub log_connections: bool,
    /// `[mqtt] commands` and the rate limit.
    pub policy: crate::policy::Gatekeeper,
    /// Where `capture_rules` requests go (see [`crate::capture`]).
    pub capture_rules: Option<std::sync::mpsc::Sender<tcu_engine::record::RulesRequest>>,
}

/// Something handed to the client.
#[derive(Debug)]
enum Sent {
    /// An outbox message: completing it counts as published.
    Msg(Msg),
    /// A retained status publish (not the outbox's).
    Status,
}

struct Link {
    client: AsyncClient,
    parts: LinkParts,
    /// Handed to the client, publish not yet reported written.
    handed: VecDeque<Sent>,
    /// Written with QoS 1, waiting for PUBACK, in order.
    inflight: VecDeque<(u16, Sent)>,
    connected: bool,
    replies: mpsc::UnboundedSender<(Option<String>, Result<(), SetErrors>)>,
    /// The last will for the next connection.
    will: watch::Sender<Option<LastWill>>,
    /// Until when the link stays offline (an outage step).
    outage: watch::Sender<Option<tokio::time::Instant>>,
    /// Losses not yet published.
    pending_drop: Dropped,
}

impl Link {
    fn status(&self, online: bool) -> Vec<u8> {
        encode::status(
            online,
            &self.parts.vin,
            &self.parts.plugins,
            SystemTime::now(),
        )
    }

    fn publish_status(&mut self, online: bool) {
        let payload = self.status(online);
        if self
            .client
            .try_publish(
                self.parts.topics.status.clone(),
                QoS::AtLeastOnce,
                true,
                payload,
            )
            .is_ok()
        {
            self.handed.push_back(Sent::Status);
        }
    }

    fn pump(&mut self) {
        self.collect_dropped();
        if self.connected && self.pending_drop.count > 0 {
            self.publish_drop_report();
        }
        while self.connected && self.handed.len() + self.inflight.len() < WINDOW {
            let Some(msg) = self.parts.outbox.pop() else {
                break;
            };
            let qos = if msg.qos == 0 {
                QoS::AtMostOnce
            } else {
                QoS::AtLeastOnce
            };
            match self
                .client
                .try_publish(msg.topic.clone(), qos, false, msg.payload.clone())
            {
                Ok(()) => self.handed.push_back(Sent::Msg(msg)),
                Err(_) => {
                    self.parts.outbox.requeue([msg]);
                    break;
                }
            }
        }
        // Taking from the disk queue may have met damage.
        self.collect_dropped();
        self.parts.metrics.outbox.store(
            self.parts.outbox.len() + (self.handed.len() + self.inflight.len()) as u64,
            Ordering::Relaxed,
        );
    }

    fn push(&mut self, msg: Msg) {
        self.parts.outbox.push(msg);
        self.collect_dropped();
    }

    fn collect_dropped(&mut self) {
        if let Some(d) = self.parts.outbox.take_dropped() {
            self.report_dropped(d);
        }
    }

    /// Records a loss; the report is published once the link is up.
    fn report_dropped(&mut self, d: Dropped) {
        self.parts
            .metrics
            .dropped
            .fetch_add(d.count, Ordering::Relaxed);
        tracing::warn!(count = d.count, seqs = ?d.seqs, "messages dropped: {}", d.describe());
        self.pending_drop.merge(d);
    }

    /// Queues the pending loss report at the front of the outbox, where the
    /// size limit cannot drop it (a report that could itself be dropped
    /// would make the loss silent again).
    fn publish_drop_report(&mut self) {
        let d = std::mem::take(&mut self.pending_drop);
        let mut extra = Map::new();
        extra.insert("count".into(), json!(d.count));
        extra.insert("telemetry_seqs".into(), json!(d.seqs));
        let reasons: Map<String, serde_json::Value> = d
            .reasons
            .iter()
            .map(|(r, n)| (r.as_str().to_owned(), json!(n)))
            .collect();
        extra.insert("reasons".into(), serde_json::Value::Object(reasons));
        let detail = format!("{} message(s) dropped: {}", d.count, d.describe());
        let payload = encode::event("outbox.dropped", None, &detail, extra, SystemTime::now());
        let topic = self.parts.topics.events.clone();
        self.parts.outbox.requeue([Msg {
            topic,
            payload,
            qos: 1,
            seq: None,
        }]);
    }

    fn on_connack(&mut self) {
        self.connected = true;
        self.parts.metrics.connected.store(true, Ordering::Relaxed);
        if self.parts.log_connections {
            tracing::info!("MQTT connected");
        } else {
            tracing::debug!(vin = %self.parts.vin, "MQTT connected");
        }
        let _ = self
            .client
            .try_subscribe(self.parts.topics.cmd_req.clone(), QoS::AtLeastOnce);
        self.publish_status(true);
        self.parts.outbox.set_online(true);
    }

    fn on_disconnect(&mut self, why: &str) {
        if why.is_empty() {
            tracing::debug!("MQTT link closed");
        } else if self.connected && self.parts.log_connections {
            tracing::warn!("MQTT link lost: {why}; queueing to the outbox");
        } else if self.connected {
            tracing::debug!(vin = %self.parts.vin, "MQTT link lost: {why}; queueing to the outbox");
        } else {
            tracing::debug!("MQTT connect failed: {why}");
        }
        self.connected = false;
        let back: Vec<Msg> = self
            .inflight
            .drain(..)
            .map(|(_, s)| s)
            .chain(self.handed.drain(..))
            .filter_map(|s| match s {
                Sent::Msg(m) => Some(m),
                Sent::Status => None,
            })
            .collect();
        self.parts.outbox.requeue(back);
        self.parts.outbox.set_online(false);
    }

    fn complete(&mut self) {
        self.parts.metrics.published.fetch_add(1, Ordering::Relaxed);
    }

    fn on_event(&mut self, ev: PollResult) {
        match ev {
            Err(e) => self.on_disconnect(&e),
            Ok(Event::Incoming(Packet::ConnAck(_))) => self.on_connack(),
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => match self.handed.pop_front() {
                Some(Sent::Msg(m)) if m.qos == 0 => self.complete(),
                Some(sent) => self.inflight.push_back((pkid, sent)),
                None => {}
            },
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                if let Some(i) = self.inflight.iter().position(|(p, _)| *p == ack.pkid)
                    && let Some((_, Sent::Msg(_))) = self.inflight.remove(i)
                {
                    self.complete();
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.topic == self.parts.topics.cmd_req => {
                self.on_command(&p.payload)
            }
            Ok(_) => {}
        }
    }

    fn on_command(&mut self, payload: &[u8]) {
        match command::parse(payload) {
            Err(refusal) => {
                tracing::info!(id = ?refusal.id, errors = ?refusal.errors, "command refused");
                self.respond(refusal.id.as_deref(), &Err(refusal.errors));
            }
            Ok(cmd) => {
                let Some(control) = &self.parts.control else {
                    let mut e = SetErrors::new();
                    e.insert("payload".into(), "this TCU takes no commands".into());
                    return self.respond(Some(&cmd.id), &Err(e));
                };
                let plugin_path = cmd
                    .plugin
                    .as_ref()
                    .map(|c| crate::policy::plugin_command_path(&c.subsystem, &c.name));
                let rules_path = cmd
                    .capture_rules
                    .is_some()
                    .then_some(crate::capture::RULES_PATH);
                let paths = cmd
                    .set
                    .iter()
                    .map(|(p, _)| p.as_str())
                    .chain(plugin_path.as_deref())
                    .chain(rules_path);
                if let Err(e) = self
                    .parts
                    .policy
                    .admit(paths, tokio::time::Instant::now().into_std())
                {
                    tracing::info!(id = %cmd.id, errors = ?e, "command refused by the policy");
                    return self.respond(Some(&cmd.id), &Err(e));
                }
                let tx = self.replies.clone();
                let id = cmd.id.clone();
                if let Some(rules) = cmd.capture_rules {
                    let to = self.parts.capture_rules.as_ref();
                    let reply = Box::new(move |r| {
                        let _ = tx.send((Some(id), r));
                    });
                    if let Err(e) = crate::capture::request_rules(to, rules, reply) {
                        self.respond(Some(&cmd.id), &Err(e));
                    }
                    return;
                }
                let msg = match cmd.plugin {
                    None => ControlMsg::Set {
                        set: cmd.set,
                        reply: Some(Box::new(move |r| {
                            let _ = tx.send((Some(id), r));
                        })),
                    },
                    // A plugin's refusal is one reason, keyed `command`.
                    Some(call) => ControlMsg::PluginCommand {
                        subsystem: call.subsystem,
                        name: call.name,
                        value: call.value,
                        reply: Some(Box::new(move |r| {
                            let r = r.map_err(|e| SetErrors::from([("command".to_owned(), e)]));
                            let _ = tx.send((Some(id), r));
                        })),
                    },
                };
                if control.send(msg).is_err() {
                    let mut e = SetErrors::new();
                    e.insert("payload".into(), "the vehicle is not running".into());
                    self.respond(Some(&cmd.id), &Err(e));
                }
            }
        }
    }

    fn respond(&mut self, id: Option<&str>, outcome: &Result<(), SetErrors>) {
        let payload = command::response(id, outcome);
        let topic = self.parts.topics.cmd_res.clone();
        self.push(Msg {
            topic,
            payload,
            qos: 1,
            seq: None,
        });
    }

    /// New plugin versions: the retained status says so at once, and the
    /// next connection's last will lists them.
    fn on_plugins(&mut self, plugins: Vec<(String, String)>) {
        self.parts.plugins = plugins;
        if !self.parts.in_process_broker {
            let will = crate::options::status_will(&self.parts.topics.status, self.status(false));
            self.will.send_replace(Some(will));
        }
        if self.connected {
            self.publish_status(true);
        }
    }

    fn on_frame(&mut self, frame: Frame) {
        match frame {
            Frame::Publish(m) => self.push(m),
            Frame::Lost(d) => self.report_dropped(d),
            Frame::Plugins(p) => self.on_plugins(p),
            Frame::Outage(d) => {
                tracing::debug!(vin = %self.parts.vin, "link offline for {d:?} (outage)");
                self.outage
                    .send_replace(Some(tokio::time::Instant::now() + d));
            }
        }
    }

    fn idle(&self) -> bool {
        self.parts.outbox.is_empty() && self.handed.is_empty() && self.inflight.is_empty()
    }

    /// Waits (until `deadline`) for events while `more` holds.
    async fn drive_until(
        &mut self,
        events: &mut mpsc::Receiver<PollResult>,
        deadline: tokio::time::Instant,
        more: impl Fn(&Self) -> bool,
    ) {
        while self.connected && more(self) {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(ev)) => self.on_event(ev),
                _ => break,
            }
            self.pump();
        }
    }
}

/// Runs the link until `stop` fires; then, within about `grace`, sends what
/// the outbox holds if connected, publishes the retained `offline` status,
/// closes the connection, and leaves the rest on disk.
pub async fn run(
    client: AsyncClient,
    eventloop: EventLoop,
    parts: LinkParts,
    frames: mpsc::Receiver<Frame>,
    stop: oneshot::Receiver<()>,
    grace: Duration,
) {
    let (ev_tx, events) = mpsc::channel::<PollResult>(1024);
    let (reply_tx, replies) = mpsc::unbounded_channel();
    let (will_tx, will_rx) = watch::channel(None);
    let (outage_tx, outage_rx) = watch::channel(None);
    let inputs = PollInputs {
        will: will_rx,
        outage: outage_rx,
        gate: parts.gate.clone(),
        jitter_seed: parts.jitter_seed,
    };
    let poller = poll_loop(eventloop, ev_tx, parts.metrics.clone(), inputs);
    let link = Link {
        client,
        parts,
        handed: VecDeque::new(),
        inflight: VecDeque::new(),
        connected: false,
        replies: reply_tx,
        will: will_tx,
        outage: outage_tx,
        pending_drop: Dropped::default(),
    };
    let logic = link.serve(Channels {
        frames,
        events,
        replies,
        stop,
        grace,
    });
    // One task: the poll half runs as long as the logic does and is
    // dropped with it, which closes the connection.
    tokio::select! {
        biased;
        () = logic => {}
        () = async {
            poller.await;
            std::future::pending::<()>().await
        } => {}
    }
}

/// What the logic half listens to.
struct Channels {
    frames: mpsc::Receiver<Frame>,
    events: mpsc::Receiver<PollResult>,
    replies: mpsc::UnboundedReceiver<(Option<String>, Result<(), SetErrors>)>,
    stop: oneshot::Receiver<()>,
    grace: Duration,
}

impl Link {
    /// The logic half: runs until `stop` fires, then delivers, publishes
    /// `offline` and closes.
    async fn serve(mut self, ch: Channels) {
        let Channels {
            mut frames,
            mut events,
            mut replies,
            mut stop,
            grace,
        } = ch;
        let link = &mut self;
        // What the outbox directory lost before this start (damaged
        // records) is reported like any other loss.
        link.collect_dropped();
        let (mut frames_open, mut events_open) = (true, true);
        let mut batch = Vec::with_capacity(FRAME_BATCH);
        let mut evs = Vec::with_capacity(FRAME_BATCH);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                n = frames.recv_many(&mut batch, FRAME_BATCH), if frames_open => {
                    if n == 0 {
                        frames_open = false;
                    }
                    for f in batch.drain(..) {
                        link.on_frame(f);
                    }
                }
                n = events.recv_many(&mut evs, FRAME_BATCH), if events_open => {
                    if n == 0 {
                        events_open = false;
                    }
                    for ev in evs.drain(..) {
                        link.on_event(ev);
                    }
                }
                Some((id, r)) = replies.recv() => link.respond(id.as_deref(), &r),
            }
            link.pump();
        }
        // Stop: take what the hook still had, try to deliver for a while.
        while let Ok(f) = frames.try_recv() {
            link.on_frame(f);
        }
        link.pump();
        let deadline = tokio::time::Instant::now() + grace;
        link.drive_until(&mut events, deadline, |l| !l.idle()).await;
        if link.connected {
            link.publish_status(false);
            let until = tokio::time::Instant::now() + CLOSE_WAIT;
            // The offline status is acknowledged before the connection closes.
            link.drive_until(&mut events, until, |l| {
                !(l.handed.is_empty() && l.inflight.is_empty())
            })
            .await;
            if !link.parts.in_process_broker {
                let _ = link.client.try_disconnect();
                while let Ok(Some(ev)) = tokio::time::timeout_at(until, events.recv()).await {
                    if matches!(ev, Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_)) {
                        break;
                    }
                }
            }
        }
        link.on_disconnect("");
        link.parts.outbox.persist();
        link.parts
            .metrics
            .outbox
            .store(link.parts.outbox.len(), Ordering::Relaxed);
    }
}
