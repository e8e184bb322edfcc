//! The `tcu` binary's library: configuration layering (each section comes
//! from the crate that uses it), the wiring of a real-time run (engine,
//! MQTT link, OTA client, `--watch`, dashboard), and the OTA installer glue
//! where the engine meets the OTA client. `main.rs` only parses the
//! command line and calls in here.

pub mod app;
pub mod config;
pub mod fleet_ota;
pub mod inspect;
pub mod log;
pub mod notify;
pub mod operator;
pub mod ota;
pub mod release;
pub mod rollout;
pub mod shutdown;
pub mod vet;
pub mod watch;
