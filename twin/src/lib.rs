//! The digital twin: mirrors every vehicle from its MQTT contract (telemetry,
//! events, retained status with its last will, command responses), keeps
//! each vehicle's history in an embedded store, serves documents, history
//! and live changes over HTTP, and turns desired state into commands.
//!
//! It consumes only what the vehicle publishes (README "MQTT"); the
//! catalog's rules come from the engine ([`tcu_engine::catalog`]), the same
//! rules the vehicle applies, so a desired value the car would refuse is
//! refused before it is sent.
//!
//! Modules, lowest first (each uses only those before it): [`error`],
//! [`clock`], [`loss`], [`rules`] (the catalog's rules for values),
//! [`ingest`] (topics and payload checks), [`doc`] (one
//! vehicle's document and its desired-state lifecycle), [`store`] (the
//! history behind the [`store::Store`] trait; SQLite, or PostgreSQL shared by
//! several twins), [`capture`] (chunks of captures joined and checked),
//! [`fleet`] (every
//! document, the effects of a message or a patch), [`config`], [`tls`],
//! [`hub`] (the shared state and where effects go), [`metrics`], [`mqtt`]
//! (the broker connection), [`nats`] (the JetStream ingest path for a NATS
//! cluster), [`vet`] (vetting jobs: candidate libraries against the stored
//! captures), [`http`] (the API), [`service`] (the
//! wiring of `tcu-twin serve`), [`client`] (the `get`/`set`/`export`
//! commands over the API).

pub mod capture;
pub mod client;
pub mod clock;
pub mod config;
pub mod doc;
pub mod error;
pub mod fleet;
pub mod http;
pub mod hub;
pub mod ingest;
pub mod loss;
pub mod metrics;
pub mod mqtt;
pub mod nats;
pub mod rules;
pub mod service;
pub mod store;
pub mod tls;
pub mod vet;

pub use error::TwinError;
