//! Digital twin service. Empty until the twin work lands; it consumes only
//! the vehicle's MQTT contract and uses the engine (catalog rules, plugin
//! host for vetting), never the reverse (see `docs/ARCHITECTURE.md`).
