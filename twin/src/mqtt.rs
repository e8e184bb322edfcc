//! The broker connection: options from `[ingest]` (URL, credentials, TLS,
//! keepalive), the subscriptions, and the loop that hands every message to
//! the hub and reconnects with backoff.
//!
//! The session is persistent (`clean_session = false` under a fixed client
//! id): while the twin reconnects, or while the broker restarts with its
//! persistence on, the broker keeps queueing the vehicles' messages for it,
//! so an outage on the twin's side is not a loss on the vehicles' side.
//! With a share group, telemetry and events are subscribed as
//! `$share/<group>/...`; status, command responses and captures never are,
//! so every twin sees every vehicle's retained status and last will, the
//! twin that sent a command always gets its answer, and the chunks of a
//! capture are never split between twins (each twin joins every capture;
//! on a shared store the second write of a chunk is ignored).

use crate::TwinError;
use crate::config::IngestConfig;
use crate::hub::{Hub, Publisher};
use crate::ingest::Kind;
use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, TlsConfiguration, Transport,
};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tcu_engine::backoff::{Backoff, Jitter};

/// Largest incoming packet: far above the payload limit, so that an
/// oversized payload is counted and dropped by the twin instead of
/// closing the connection (and being redelivered forever).
pub const MAX_INCOMING_PACKET: usize = 64 << 20;

/// rumqttc options for `cfg`.
pub fn options(cfg: &IngestConfig) -> Result<MqttOptions, TwinError> {
    let mut o = MqttOptions::new(
        cfg.client_id.clone(),
        cfg.broker.host.clone(),
        cfg.broker.port,
    );
    o.set_keep_alive(cfg.keepalive);
    o.set_clean_session(false);
    o.set_max_packet_size(MAX_INCOMING_PACKET, 1 << 20);
    o.set_inflight(100);
    if let Some(user) = &cfg.username {
        o.set_credentials(user.clone(), cfg.password.clone().unwrap_or_default());
    }
    if cfg.broker.tls {
        let ca = cfg.ca_file.as_deref().ok_or_else(|| TwinError::Tls {
            path: Default::default(),
            what: "CA certificate",
            reason: "mqtts:// needs ingest.ca_file".into(),
        })?;
        let identity = cfg.cert_file.as_deref().zip(cfg.key_file.as_deref());
        let tls = crate::tls::client_config(ca, identity)?;
        o.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(tls))));
    }
    Ok(o)
}

/// The subscription filters. With `ingest.nats` only status is read over
/// MQTT: the rest comes from the NATS consumer ([`crate::nats`]).
pub fn subscriptions(cfg: &IngestConfig) -> Vec<String> {
    Kind::SUBSCRIBED
        .iter()
        .filter(|&&k| cfg.nats.is_none() || !crate::nats::CARRIED.contains(&k))
        .map(|&k| {
            let f = cfg.topics.filter(k);
            match (&cfg.share_group, k) {
                (Some(g), Kind::Telemetry | Kind::Events) => {
                    format!("$share/{g}/{f}")
                }
                _ => f,
            }
        })
        .collect()
}

/// Commands go out through the client's request queue.
#[derive(Debug, Clone)]
pub struct MqttPublisher(pub AsyncClient);

impl Publisher for MqttPublisher {
    fn publish(&self, topic: String, payload: Vec<u8>) -> bool {
        self.0
            .try_publish(topic, QoS::AtLeastOnce, false, payload)
            .is_ok()
    }
}

/// Connects and runs until the hub shuts down; every message goes to
/// [`Hub::ingest`].
pub async fn run(
    hub: Arc<Hub>,
    client: AsyncClient,
    mut events: EventLoop,
    subscriptions: Vec<String>,
    seed: u64,
) {
    let mut shutdown = hub.shutdown_signal();
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let mut jitter = Jitter::new(seed);
    loop {
        let ev = tokio::select! {
            ev = events.poll() => ev,
            _ = shutdown.changed() => break,
        };
        match ev {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                hub.mqtt_up.store(true, Ordering::Relaxed);
                backoff.reset();
                tracing::info!(session_present = ack.session_present, "MQTT connected");
                for f in &subscriptions {
                    if let Err(e) = client.try_subscribe(f.clone(), QoS::AtLeastOnce) {
                        tracing::error!("subscribing to {f}: {e}");
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                tracing::debug!(codes = ?ack.return_codes, "subscribed");
            }
            Ok(Event::Incoming(Packet::Publish(p))) => hub.ingest(&p.topic, &p.payload),
            Ok(_) => {}
            Err(e) => {
                if hub.mqtt_up.swap(false, Ordering::Relaxed) {
                    tracing::warn!("MQTT link lost: {e}");
                } else {
                    tracing::debug!("MQTT connect failed: {e}");
                }
                let wait = backoff.next_delay(&mut jitter);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => break,
                }
            }
        }
    }
    // A clean disconnect keeps the session (and its queue) on the broker.
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(ev) = events.poll().await {
            if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                break;
            }
        }
    })
    .await;
    hub.mqtt_up.store(false, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, TwinConfig};

    #[test]
    fn status_and_command_responses_escape_the_share_group() {
        let env = Overrides {
            share_group: Some("g".into()),
            ..Default::default()
        };
        let c = TwinConfig::build(None, &env, &Overrides::default()).unwrap();
        assert_eq!(
            subscriptions(&c.ingest),
            [
                "$share/g/vehicle/+/telemetry",
                "$share/g/vehicle/+/events",
                "vehicle/+/status",
                "vehicle/+/cmd/res",
                "vehicle/+/captures"
            ]
        );
        let c = TwinConfig::build(None, &Overrides::default(), &Overrides::default()).unwrap();
        assert!(subscriptions(&c.ingest).iter().all(|s| !s.starts_with('$')));
        // On NATS, captures stay on MQTT: a work queue would split them.
        let nats = Overrides {
            nats: Some("nats://127.0.0.1:4222".into()),
            ..Default::default()
        };
        let n = TwinConfig::build(None, &nats, &Overrides::default()).unwrap();
        assert_eq!(
            subscriptions(&n.ingest),
            [
                "vehicle/+/status",
                "vehicle/+/cmd/res",
                "vehicle/+/captures"
            ]
        );
        let o = options(&c.ingest).unwrap();
        assert!(!o.clean_session());
    }
}
