//! The NATS ingest path, for a twin on a NATS cluster (`ingest.nats`).
//!
//! NATS's MQTT listener grants `$share/...` subscriptions but delivers
//! nothing to them, so twins of a group cannot split the fleet over MQTT
//! there. Instead, a JetStream stream captures the subjects NATS gives the
//! vehicles' MQTT topics (`vehicle/<vin>/telemetry` is subject
//! `vehicle.<vin>.telemetry`), and every twin of the group pulls from one
//! durable consumer named after the group: each message goes to one twin,
//! is acknowledged after the hub took it, and is redelivered to another
//! twin when its first one died before acknowledging. The stream is a work
//! queue, so what every twin has acknowledged is gone from it; while no
//! twin runs it keeps the vehicles' messages (bounded by [`MAX_BYTES`]).
//!
//! Status (retained, last wills), command responses and captures stay on
//! MQTT, which NATS serves across the cluster, so every twin still sees
//! every vehicle's connectivity and the answer to every command it sent,
//! and every chunk of a capture (a work queue would deal a capture's
//! chunks out to different twins, none of which could join it); commands
//! are still published over MQTT.

use crate::config::{IngestConfig, nats_address as server_address};
use crate::hub::Hub;
use crate::ingest::Kind;
use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tcu_engine::backoff::{Backoff, Jitter};

/// What the NATS consumer carries instead of MQTT subscriptions.
pub const CARRIED: [Kind; 2] = [Kind::Telemetry, Kind::Events];

/// The durable consumer's name when no share group is set.
pub const DEFAULT_GROUP: &str = "tcu-twin";

/// Bytes the stream keeps at most while no twin consumes (oldest dropped).
pub const MAX_BYTES: i64 = 1 << 30;

/// A redelivery happens when a twin took a message and did not acknowledge
/// it within this long.
pub const ACK_WAIT: Duration = Duration::from_secs(30);

/// The NATS subject of an MQTT topic filter or topic: levels become
/// tokens, `+` is `*`, `#` is `>`, and a `.` inside a level is `//` (as
/// NATS's MQTT listener maps it).
pub fn subject_of(topic: &str) -> String {
    topic
        .split('/')
        .map(|level| match level {
            "+" => "*".to_owned(),
            "#" => ">".to_owned(),
            l => l.replace('.', "//"),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The MQTT topic of a NATS subject, the inverse of [`subject_of`].
pub fn topic_of(subject: &str) -> String {
    subject
        .replace("//", "\u{0}")
        .replace('.', "/")
        .replace('\u{0}', ".")
}

/// The stream's name for a group: JetStream names may not hold `.`, `*`,
/// `>`, whitespace or path separators.
pub fn stream_name(group: &str) -> String {
    let clean: String = group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("TCU_TWIN_{clean}")
}

/// The subjects the stream captures.
pub fn subjects(cfg: &IngestConfig) -> Vec<String> {
    CARRIED
        .iter()
        .map(|&k| subject_of(&cfg.topics.filter(k)))
        .collect()
}

async fn consumer(
    cfg: &IngestConfig,
    server: &str,
) -> Result<consumer::Consumer<consumer::pull::Config>, String> {
    let fail =
        |what: &'static str| move |e: &dyn std::fmt::Display| format!("NATS {server}: {what}: {e}");
    let client = async_nats::connect(server)
        .await
        .map_err(|e| fail("connecting")(&e))?;
    let js = jetstream::new(client);
    let group = cfg.share_group.as_deref().unwrap_or(DEFAULT_GROUP);
    let stream = js
        .get_or_create_stream(stream::Config {
            name: stream_name(group),
            subjects: subjects(cfg),
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            max_bytes: MAX_BYTES,
            discard: stream::DiscardPolicy::Old,
            ..Default::default()
        })
        .await
        .map_err(|e| fail("creating the stream")(&e))?;
    stream
        .get_or_create_consumer(
            group,
            consumer::pull::Config {
                durable_name: Some(group.to_owned()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: 10_000,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| fail("creating the durable consumer")(&e))
}

/// Pulls from the group's consumer until the hub shuts down, reconnecting
/// with backoff; every message goes to [`Hub::ingest`] under its MQTT topic
/// and is acknowledged after.
pub async fn run(hub: Arc<Hub>, cfg: IngestConfig, seed: u64) {
    let Some(url) = cfg.nats.clone() else { return };
    let server = match server_address(&url) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("ingest.nats: {e}");
            return;
        }
    };
    let mut shutdown = hub.shutdown_signal();
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let mut jitter = Jitter::new(seed);
    loop {
        let pulled = tokio::select! {
            r = pull(&hub, &cfg, &server) => r,
            _ = shutdown.changed() => return,
        };
        match pulled {
            Ok(()) => tracing::warn!(server = %server, "NATS consumer ended; reconnecting"),
            Err(e) => tracing::warn!("{e}"),
        }
        let wait = backoff.next_delay(&mut jitter);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn pull(hub: &Hub, cfg: &IngestConfig, server: &str) -> Result<(), String> {
    let consumer = consumer(cfg, server).await?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| format!("NATS {server}: pulling: {e}"))?;
    tracing::info!(server = %server, subjects = ?subjects(cfg), "NATS consumer pulling");
    while let Some(m) = messages.next().await {
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("NATS pull: {e}");
                continue;
            }
        };
        hub.ingest(&topic_of(m.subject.as_str()), &m.payload);
        if let Err(e) = m.ack().await {
            tracing::debug!("NATS ack: {e}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_and_its_subject_map_both_ways_as_the_nats_mqtt_listener_maps_them() {
        assert_eq!(
            subject_of("vehicle/+/telemetry"),
            "vehicle.*.telemetry".to_owned()
        );
        assert_eq!(subject_of("fleet/#"), "fleet.>".to_owned());
        assert_eq!(subject_of("a.b/c"), "a//b.c".to_owned());
        for t in ["vehicle/WVW1/cmd/res", "a.b/c", "x/y.z/w"] {
            assert_eq!(topic_of(&subject_of(t)), t);
        }
    }

    #[test]
    fn a_nats_url_names_host_and_port_and_a_bad_one_is_explained() {
        assert_eq!(
            server_address("nats://127.0.0.1:4333").unwrap(),
            "127.0.0.1:4333"
        );
        assert_eq!(server_address("nats://broker").unwrap(), "broker:4222");
        for bad in [
            "mqtt://x:1",
            "nats://",
            "nats://x:port",
            "nats://u@x:1",
            "nats://:1",
        ] {
            let e = server_address(bad).unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn a_stream_name_keeps_only_characters_jetstream_allows() {
        assert_eq!(stream_name("twins.eu 1/a"), "TCU_TWIN_twins_eu_1_a");
    }
}
