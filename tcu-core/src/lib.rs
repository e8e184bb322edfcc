//! The simulated vehicle of the TCU simulator: signal catalog and bus, world
//! model, plugin host, tick loop, and the pieces the `tcu` binary is built
//! from.
//!
//! Data flow of one tick: control path (commands, driver) → bus actuators →
//! world model → bus sensors → plugins in dependency order → bus. See
//! `ARCHITECTURE.md` in the shared design notes for the whole system.

pub mod app;
pub mod bus;
pub mod catalog;
pub mod config;
pub mod control;
pub mod dashboard;
pub mod mqtt;
pub mod ota;
pub mod plugin;
pub mod scenario;
pub mod sim;
pub mod swap;
pub mod world;
