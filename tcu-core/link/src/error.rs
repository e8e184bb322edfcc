//! The link's error type.

use std::path::PathBuf;

/// The MQTT link could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The broker URL is unusable.
    #[error(transparent)]
    BrokerUrl(#[from] tcu_engine::broker_url::BrokerUrlError),
    /// A TLS file could not be used.
    #[error("{what} {path}: {reason}")]
    Tls {
        /// File.
        path: PathBuf,
        /// Which one (`CA certificate`, `client key`, ...).
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// `mqtts://` without `mqtt.ca_file`.
    #[error(
        "an mqtts:// broker needs `mqtt.ca_file` (the CA that signed the broker's certificate)"
    )]
    NoCa,
    /// The embedded broker did not start.
    #[error("embedded MQTT broker: {0}")]
    Embedded(String),
    /// The link's thread or runtime did not start.
    #[error("starting the MQTT link: {0}")]
    Runtime(String),
}
