//! Broker addresses, parsed by the engine's one parser (shared with the twin).

pub use tcu_engine::broker_url::{BrokerUrl, BrokerUrlError};
