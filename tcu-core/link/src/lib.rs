//! Telemetry, events, status and commands over MQTT (the contract is in
//! `docs/ARCHITECTURE.md` and the README's MQTT section).
//!
//! - [`options`]: broker URL, credentials, TLS (custom CA, client
//!   certificate), last will → rumqttc options;
//! - [`encode`]: topics and payloads (telemetry in both profiles, events,
//!   status);
//! - [`command`]: `cmd/req` parsing and the `cmd/res` answer;
//! - [`capture`]: captures published in chunks, capture rules set remotely;
//! - [`outbox`] + [`spill`]: the bounded, disk-backed queue every message
//!   waits in until the broker has it;
//! - [`gate`]: spacing of connection attempts across a fleet's links;
//! - [`hook`]: the tick hook feeding the link without blocking the tick;
//! - [`link`]: the task that owns the client, reconnects and delivers
//!   (its half driving the client's event loop is `poll`);
//! - [`broker`]: the embedded broker used when none is configured.
//!
//! [`start`] assembles them: it returns the hook for the tick loop and a
//! handle that reports metrics and stops the link.

pub mod broker;
pub mod capture;
pub mod command;
pub mod config;
pub mod encode;
mod error;
pub mod gate;
pub mod hook;
pub mod link;
mod metrics;
pub mod msg;
pub mod options;
pub mod outbox;
pub mod policy;
mod poll;
pub mod spill;
pub mod url;

pub use error::MqttError;
pub use hook::MqttHook;
pub use metrics::Metrics;
pub use url::BrokerUrl;

use crate::config::{MqttConfig, Profile};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tcu_engine::control::ControlHandle;
use tcu_engine::sim::Vehicle;

/// Frames the hook may queue before it counts them as lost.
const FRAME_CAP: usize = 1024;

/// A running link.
#[derive(Debug)]
pub struct MqttHandle {
    metrics: Arc<Metrics>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Where it publishes.
    pub broker: BrokerUrl,
    captures: Option<capture::CapturePort>,
}

impl MqttHandle {
    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The publisher of captures and the capture rules arriving as
    /// commands, for the vehicle's capturer (once; `None` after). Until
    /// it is taken, a `capture_rules` request waits unanswered.
    pub fn take_captures(&mut self) -> Option<capture::CapturePort> {
        self.captures.take()
    }

    /// Stops the link: delivers what it can within a couple of seconds,
    /// publishes `offline`, disconnects; the rest stays in the outbox dir.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MqttHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Starts the link for `vehicle` as configured (and the embedded broker if
/// no broker is set), on a thread of its own. Commands are applied through
/// `control`.
pub fn start(
    config: &MqttConfig,
    vin: &str,
    vehicle: &Vehicle,
    control: Option<ControlHandle>,
) -> Result<(MqttHook, MqttHandle), MqttError> {
    let in_process_broker = config.broker.is_none();
    let url = match &config.broker {
        Some(b) => BrokerUrl::parse(b)?,
        None => {
            let addr = broker::start(config.embedded_listen)?;
            tracing::info!(
                "embedded MQTT broker listening on {addr} (try: mosquitto_sub -h {} -p {} -t 'vehicle/#' -v)",
                addr.ip(),
                addr.port()
            );
            BrokerUrl {
                host: addr.ip().to_string(),
                port: addr.port(),
                tls: false,
            }
        }
    };
    let setup = LinkSetup {
        outbox: outbox::Outbox::new(
            Some(&config.outbox_dir),
            config.outbox_max_bytes,
            link::MEM_CAP,
        ),
        broker: url.clone(),
        in_process_broker,
        gate: None,
        // The spread only has to differ between cars, not be reproducible.
        jitter_seed: u64::from(std::process::id())
            ^ SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64),
        log_connections: true,
    };
    let (hook, mut link) = assemble(config, vin, vehicle, control, setup)?;
    let captures = link.captures.take();
    let metrics = link.parts.metrics.clone();
    let telemetry = link.parts.topics.telemetry.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| MqttError::Runtime(e.to_string()))?;
    let thread = std::thread::Builder::new()
        .name("tcu-mqtt".into())
        .spawn(move || runtime.block_on(link.run(stop_rx)))
        .map_err(|e| MqttError::Runtime(e.to_string()))?;
    tracing::info!(broker = %url, client_id = %config.client_id, %telemetry, "MQTT link started");
    Ok((
        hook,
        MqttHandle {
            metrics,
            stop: Some(stop_tx),
            thread: Some(thread),
            broker: url,
            captures,
        },
    ))
}

/// What [`spawn_on`] needs besides the configuration: the many links of a
/// fleet share a broker address, a connection gate and a runtime, and each
/// has its own outbox and jitter seed.
#[derive(Debug)]
pub struct LinkSetup {
    /// This vehicle's outbox.
    pub outbox: outbox::Outbox,
    /// Where to connect.
    pub broker: BrokerUrl,
    /// The broker runs in this process (no last will).
    pub in_process_broker: bool,
    /// Spaces connection attempts across links.
    pub gate: Option<Arc<gate::ConnectGate>>,
    /// Seed of the reconnection jitter.
    pub jitter_seed: u64,
    /// Log each connect and loss at info/warn (false: at debug).
    pub log_connections: bool,
}

/// A link running as a task on a runtime its owner keeps (see [`spawn_on`]).
#[derive(Debug)]
pub struct LinkTask {
    metrics: Arc<Metrics>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    join: tokio::task::JoinHandle<()>,
}

impl LinkTask {
    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Asks the link to stop (deliver what it can, publish `offline`,
    /// disconnect); [`LinkTask::finished`] waits for it.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits until the link's task has ended.
    pub async fn finished(mut self) {
        self.stop();
        let _ = (&mut self.join).await;
    }
}

/// Starts the link for `vehicle` as a task on `runtime` instead of a thread
/// of its own: how a fleet runs thousands of links on a few threads.
pub fn spawn_on(
    runtime: &tokio::runtime::Handle,
    config: &MqttConfig,
    vin: &str,
    vehicle: &Vehicle,
    control: Option<ControlHandle>,
    setup: LinkSetup,
) -> Result<(MqttHook, LinkTask), MqttError> {
    let _entered = runtime.enter();
    let (hook, link) = assemble(config, vin, vehicle, control, setup)?;
    let metrics = link.parts.metrics.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let join = runtime.spawn(link.run(stop_rx));
    Ok((
        hook,
        LinkTask {
            metrics,
            stop: Some(stop_tx),
            join,
        },
    ))
}

/// A link put together and not yet running.
struct Assembled {
    client: rumqttc::AsyncClient,
    eventloop: rumqttc::EventLoop,
    parts: link::LinkParts,
    frames: tokio::sync::mpsc::Receiver<hook::Frame>,
    /// For the capturer (a fleet's links have none: their rules requests
    /// are refused).
    captures: Option<capture::CapturePort>,
}

impl Assembled {
    async fn run(self, stop: tokio::sync::oneshot::Receiver<()>) {
        link::run(
            self.client,
            self.eventloop,
            self.parts,
            self.frames,
            stop,
            Duration::from_secs(2),
        )
        .await;
    }
}

fn assemble(
    config: &MqttConfig,
    vin: &str,
    vehicle: &Vehicle,
    control: Option<ControlHandle>,
    setup: LinkSetup,
) -> Result<(MqttHook, Assembled), MqttError> {
    let topics = encode::Topics::for_config(config, vin);
    let plugins = encode::plugin_versions(vehicle);
    // A broker inside this process dies with it: a will could never be
    // delivered.
    let will = (!setup.in_process_broker).then(|| {
        let offline = encode::status(false, vin, &plugins, SystemTime::now());
        options::status_will(&topics.status, offline)
    });
    let options = options::mqtt_options(config, &setup.broker, will)?;
    let (client, eventloop) = rumqttc::AsyncClient::new(options, options::REQUEST_CAP);
    let metrics = Arc::new(Metrics::default());
    let (rules_tx, rules_rx) = std::sync::mpsc::channel();
    let parts = link::LinkParts {
        topics: topics.clone(),
        vin: vin.to_owned(),
        plugins: plugins.clone(),
        outbox: setup.outbox,
        control,
        metrics,
        in_process_broker: setup.in_process_broker,
        gate: setup.gate,
        jitter_seed: setup.jitter_seed,
        log_connections: setup.log_connections,
        policy: crate::policy::Gatekeeper::new(config.commands.clone()),
        capture_rules: Some(rules_tx),
    };
    let (frame_tx, frames) = tokio::sync::mpsc::channel(FRAME_CAP);
    let captures = Some(capture::CapturePort {
        publisher: capture::CapturePublisher::new(
            frame_tx.clone(),
            format!("{}/captures", config.topic_root),
        ),
        rules: rules_rx,
    });
    let hook = MqttHook::new(
        frame_tx,
        topics,
        vin,
        config.profile == Profile::Legacy,
        config.qos,
        config.publish_period,
        plugins,
    );
    Ok((
        hook,
        Assembled {
            client,
            eventloop,
            parts,
            frames,
            captures,
        },
    ))
}
