//! The state the broker connection and the API share: the fleet behind its
//! lock, the store and its writer, the way out to the broker, and the
//! broadcast of document changes that the event streams follow. Every
//! change goes through here, so its effects (commands out, records to the
//! store, change notices) are applied the same way wherever it came from,
//! and always after the fleet's lock is released.

use crate::clock::{Clock, Millis};
use crate::fleet::{Effects, Fleet, PatchError};
use crate::ingest::Kind;
use crate::store::Store;
use crate::store::writer::Writer;
use serde_json::Value as Json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use tokio::sync::{broadcast, watch};

/// Prefix of the ids of the plugin commands the API sends.
pub const COMMAND_ID_PREFIX: &str = "twin-cmd-";

/// Where commands go (the MQTT client; a recorder in tests).
pub trait Publisher: Send + Sync + std::fmt::Debug {
    /// Queues a QoS 1 publish; false when it could not be queued.
    fn publish(&self, topic: String, payload: Vec<u8>) -> bool;
}

/// The shared state.
#[derive(Debug)]
pub struct Hub {
    fleet: Mutex<Fleet>,
    /// The history.
    pub store: Arc<dyn Store>,
    /// The history's writer thread.
    pub writer: Writer,
    publisher: RwLock<Option<Arc<dyn Publisher>>>,
    /// VINs of changed documents.
    pub changes: broadcast::Sender<Arc<str>>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Whether the broker connection is up.
    pub mqtt_up: AtomicBool,
    /// Commands that could not be queued for the broker.
    pub publish_failures: AtomicU64,
    /// Open event streams.
    pub streams: AtomicU64,
    /// When the service started.
    pub started: Millis,
    shutdown: watch::Sender<bool>,
    /// Outcomes of the plugin commands the API sent, from `cmd/res`.
    pub command_results: broadcast::Sender<Arc<CommandResult>>,
    next_command: AtomicU64,
}

/// The `cmd/res` answer to a command of the API.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandResult {
    /// The vehicle that answered.
    pub vin: String,
    /// The correlation id.
    pub id: String,
    /// Accepted, or rejected with reasons by key.
    pub outcome: Result<(), std::collections::BTreeMap<String, String>>,
}

impl Hub {
    /// A hub over `fleet` and `store`.
    pub fn new(fleet: Fleet, store: Arc<dyn Store>, writer: Writer, clock: Arc<dyn Clock>) -> Self {
        let (changes, _) = broadcast::channel(4096);
        let (shutdown, _) = watch::channel(false);
        Self {
            fleet: Mutex::new(fleet),
            store,
            writer,
            publisher: RwLock::new(None),
            changes,
            started: clock.now_ms(),
            clock,
            mqtt_up: AtomicBool::new(false),
            publish_failures: AtomicU64::new(0),
            streams: AtomicU64::new(0),
            shutdown,
            command_results: broadcast::channel(1024).0,
            next_command: AtomicU64::new(0),
        }
    }

    /// Sets where commands go.
    pub fn set_publisher(&self, p: Arc<dyn Publisher>) {
        *self.publisher.write().unwrap_or_else(|e| e.into_inner()) = Some(p);
    }

    /// The fleet, locked (keep it short: ingest waits).
    pub fn fleet(&self) -> MutexGuard<'_, Fleet> {
        self.fleet.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Now, by the hub's clock.
    pub fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    fn apply(&self, fx: Effects) {
        self.writer.send(fx.records);
        if !fx.commands.is_empty() {
            let p = self
                .publisher
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            for (topic, payload) in fx.commands {
                let ok = p
                    .as_ref()
                    .is_some_and(|p| p.publish(topic.clone(), payload));
                if !ok {
                    // The command's timeout will expire it.
                    self.publish_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(topic, "command could not be queued for the broker");
                }
            }
        }
        for vin in fx.changed {
            let _ = self.changes.send(vin);
        }
    }

    /// One message from the broker.
    pub fn ingest(&self, topic: &str, payload: &[u8]) {
        let mut fx = Effects::default();
        let now = self.now();
        let answered = {
            let mut fleet = self.fleet();
            fleet.ingest(topic, payload, now, &mut fx);
            match fleet.scheme().parse(topic) {
                Some((vin, Kind::CmdRes)) => Some(vin.to_owned()),
                _ => None,
            }
        };
        self.apply(fx);
        if let Some(vin) = answered {
            self.command_answered(vin, payload);
        }
    }

    /// Hands a `cmd/res` to whoever waits for an API command's outcome
    /// (only answers to the API's own ids; the fleet checked the payload).
    fn command_answered(&self, vin: String, payload: &[u8]) {
        if let Ok(crate::ingest::CmdRes {
            id: Some(id),
            outcome,
        }) = crate::ingest::cmd_res(payload, usize::MAX)
            && id.starts_with(COMMAND_ID_PREFIX)
        {
            let _ = self
                .command_results
                .send(Arc::new(CommandResult { vin, id, outcome }));
        }
    }

    /// Publishes `command` (a plugin command, `{subsystem, name, value}`)
    /// to `vin`'s `cmd/req` under a fresh id; the id, or `None` when it
    /// could not be queued for the broker.
    pub fn send_command(&self, vin: &str, command: &Json) -> Option<String> {
        self.send_request(vin, "command", command)
    }

    /// Publishes `{"id": <fresh id>, key: body}` to `vin`'s `cmd/req` (a
    /// plugin `command`, or the `capture_rules` of `docs/RECORDING.md`);
    /// the id, or `None` when it could not be queued for the broker.
    pub fn send_request(&self, vin: &str, key: &str, body: &Json) -> Option<String> {
        let n = self.next_command.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("{COMMAND_ID_PREFIX}{}-{n}", self.started);
        let topic = self.fleet().scheme().topic(vin, Kind::CmdReq);
        let mut payload = serde_json::Map::new();
        payload.insert("id".into(), Json::String(id.clone()));
        payload.insert(key.to_owned(), body.clone());
        let payload = Json::Object(payload).to_string();
        let p = self
            .publisher
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if p.is_some_and(|p| p.publish(topic, payload.into_bytes())) {
            Some(id)
        } else {
            self.publish_failures.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// A desired-state patch from the API.
    pub fn patch(
        &self,
        vin: &str,
        patch: &Json,
        if_match: Option<u64>,
    ) -> Result<Json, PatchError> {
        let mut fx = Effects::default();
        let now = self.now();
        let r = self.fleet().patch(vin, patch, if_match, now, &mut fx);
        self.apply(fx);
        r
    }

    /// Time passing.
    pub fn tick(&self) {
        let mut fx = Effects::default();
        let now = self.now();
        self.fleet().tick(now, &mut fx);
        self.apply(fx);
    }

    /// Saves the documents that changed.
    pub fn checkpoint(&self) {
        let mut fx = Effects::default();
        self.fleet().checkpoint(&mut fx);
        self.writer.send(fx.records);
    }

    /// Tells streams and loops to stop.
    pub fn shut_down(&self) {
        let _ = self.shutdown.send(true);
    }

    /// A receiver that turns true at shutdown.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}
