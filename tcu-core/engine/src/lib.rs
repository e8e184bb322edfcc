//! The simulated vehicle: signal catalog and bus, world model, plugin host,
//! vehicle step and tick pacing, hot-swap engine, plugin store and
//! signatures, control messages, and the vehicle's configuration sections.
//!
//! No async runtime, network, terminal or command-line crates: a
//! [`sim::Vehicle`] is a value that can be built many times in one process
//! ([`build`]) and stepped by whoever owns it; loaded libraries
//! ([`plugin::PluginLibrary`]) are shared between the vehicles that run them.
//! Front ends (the MQTT link, the scenario runner, the dashboard, the `tcu`
//! binary, the twin's vetting) are crates above this one.
//!
//! Data flow of one tick: control path (commands, driver) → bus actuators →
//! world model → bus sensors → plugins in dependency order → bus. The
//! project's `docs/ARCHITECTURE.md` describes the whole system.
//!
//! Module layering, lowest first (each uses only those before it):
//! [`catalog`], [`bus`], [`fsutil`], [`backoff`], [`broker_url`], [`world`], [`config`],
//! [`plugin`], [`reply`], [`swap`], [`sim`], [`record`], [`control`], [`reload`], [`build`].

pub mod backoff;
pub mod broker_url;
pub mod build;
pub mod bus;
pub mod cache;
pub mod catalog;
pub mod config;
pub mod control;
pub mod fsutil;
pub mod plugin;
pub mod record;
pub mod reload;
pub mod reply;
pub mod resident;
pub mod sim;
pub mod swap;
pub mod world;
