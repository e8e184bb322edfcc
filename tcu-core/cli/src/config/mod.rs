//! The `tcu` binary's configuration: the default TOML embedded in the
//! binary, an optional file on top, then `TCU_*` environment variables,
//! then CLI flags.
//!
//! Each section lives with the crate that uses it: `[vehicle]`, `[run]`,
//! `[hotswap]` and `[signals]` with the engine ([`tcu_engine::config`]),
//! `[mqtt]` with the link ([`tcu_link::config`]), `[ota]` here (the OTA
//! glue is the binary's). This module only layers them: it splits every
//! layer into its sections, hands each to its owner, and puts the results
//! together in [`Config`]. Errors name the file and the field or line.

mod ota;
mod record;
pub mod secrets;
mod service;

pub use ota::{DEFAULT_HW_REVISION, OtaConfig, RawOta};
pub use record::{RawRecord, RecordConfig};
pub use tcu_engine::config::{ConfigError, validate_vin};
pub use tcu_link::config::{MqttConfig, Profile};

use ota::resolve_ota;
use record::resolve_record;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use tcu_engine::catalog::Catalog;
use tcu_engine::config::{
    DEFAULT_LAYER, RawHotswap, RawRun, RawVehicle, RawVehicleLayer, VehicleConfig, VehicleLayers,
    VehicleOverrides, parse_layer,
};
use tcu_link::config::RawMqtt;

/// The default configuration, as shipped: every section's defaults in the
/// order `tcu config generate` prints them.
pub const DEFAULT_TOML: &str = concat!(
    include_str!("../../../engine/config/vehicle.toml"),
    include_str!("../../../link/config/mqtt.toml"),
    include_str!("../../config/ota.toml"),
    include_str!("../../config/record.toml"),
);

/// What one layer says; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[vehicle]`
    #[serde(default)]
    pub vehicle: RawVehicle,
    /// `[run]`
    #[serde(default)]
    pub run: RawRun,
    /// `[hotswap]`
    #[serde(default)]
    pub hotswap: RawHotswap,
    /// `[signals]`: initial actuator values.
    #[serde(default)]
    pub signals: BTreeMap<String, toml::Value>,
    /// `[mqtt]`
    #[serde(default)]
    pub mqtt: RawMqtt,
    /// `[ota]`
    #[serde(default)]
    pub ota: RawOta,
    /// `[record]`
    #[serde(default)]
    pub record: RawRecord,
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The vehicle: VIN, tick rate, seed, plugins, driver, initial values,
    /// hot-swap policy.
    pub vehicle: VehicleConfig,
    /// The MQTT link.
    pub mqtt: MqttConfig,
    /// OTA client (hawkBit DDI).
    pub ota: OtaConfig,
    /// Recording of the run.
    pub record: RecordConfig,
}

/// Overrides from the environment or the command line.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// The vehicle's fields (VIN, seed, plugins, tick rate, driver, store,
    /// unsigned libraries).
    pub vehicle: VehicleOverrides,
    /// MQTT broker URL (`TCU_BROKER`, `--broker`).
    pub broker: Option<String>,
    /// Telemetry profile (`TCU_PROFILE`, `--profile`).
    pub profile: Option<Profile>,
}

impl Overrides {
    /// Reads the engine's variables (see [`VehicleOverrides::from_env`]),
    /// `TCU_BROKER` and `TCU_PROFILE` through `get`.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            vehicle: VehicleOverrides::from_env(&get)?,
            broker: get("TCU_BROKER"),
            profile: get("TCU_PROFILE")
                .map(|s| {
                    s.parse()
                        .map_err(|e| ConfigError::invalid("environment", "TCU_PROFILE", e))
                })
                .transpose()?,
        })
    }
}

impl Config {
    /// Builds the configuration from the default, an optional file, the
    /// process environment and CLI overrides.
    pub fn load(
        file: Option<&Path>,
        cli: &Overrides,
        catalog: &Catalog,
    ) -> Result<Self, ConfigError> {
        let get = |k: &str| std::env::var(k).ok();
        let env = Overrides::from_env(get)?;
        let service = service::service_layer(get);
        let mut config = Self::build_as_service(file, service.as_deref(), &env, cli, catalog)?;
        secrets::apply_mqtt_secret(&mut config, get)?;
        Ok(config)
    }

    /// As [`Config::load`] with the environment layer given explicitly.
    pub fn build(
        file: Option<&Path>,
        env: &Overrides,
        cli: &Overrides,
        catalog: &Catalog,
    ) -> Result<Self, ConfigError> {
        Self::build_as_service(file, None, env, cli, catalog)
    }

    /// As [`Config::build`] with the service defaults (see
    /// [`service::service_layer`]) between the shipped defaults and the file.
    pub fn build_as_service(
        file: Option<&Path>,
        service: Option<&str>,
        env: &Overrides,
        cli: &Overrides,
        catalog: &Catalog,
    ) -> Result<Self, ConfigError> {
        let file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Some((path.display().to_string(), text))
            }
            None => None,
        };
        let file = file
            .as_ref()
            .map(|(name, text)| (name.as_str(), text.as_str()));
        Self::from_layer_list(file, service, env, cli, catalog)
    }

    /// As [`Config::build`] with the file's content given as `(name, text)`
    /// (the entry point of the configuration fuzz target).
    pub fn from_layers(
        file: Option<(&str, &str)>,
        env: &Overrides,
        cli: &Overrides,
        catalog: &Catalog,
    ) -> Result<Self, ConfigError> {
        Self::from_layer_list(file, None, env, cli, catalog)
    }

    fn from_layer_list(
        file: Option<(&str, &str)>,
        service: Option<&str>,
        env: &Overrides,
        cli: &Overrides,
        catalog: &Catalog,
    ) -> Result<Self, ConfigError> {
        let mut layers = vec![(
            DEFAULT_LAYER.to_owned(),
            parse_layer::<RawConfig>(DEFAULT_LAYER, DEFAULT_TOML)?,
        )];
        if let Some(text) = service {
            let name = service::SERVICE_LAYER;
            layers.push((name.to_owned(), parse_layer(name, text)?));
        }
        if let Some((name, text)) = file {
            layers.push((name.to_owned(), parse_layer(name, text)?));
        }
        let mut vehicle = VehicleLayers::default();
        let mut mqtt = tcu_link::config::Layered::default();
        let mut ota_layers = Vec::new();
        let mut record_layers = Vec::new();
        for (name, layer) in layers {
            ota_layers.push((name.clone(), layer.ota));
            record_layers.push((name.clone(), layer.record));
            mqtt.merge(&name, layer.mqtt);
            vehicle.merge(
                &name,
                RawVehicleLayer {
                    vehicle: layer.vehicle,
                    run: layer.run,
                    hotswap: layer.hotswap,
                    signals: layer.signals,
                },
            )?;
        }
        for (layer_name, o) in [("environment", env), ("command line", cli)] {
            vehicle.apply(layer_name, &o.vehicle);
            mqtt.apply(layer_name, o.broker.clone(), o.profile);
        }
        let vehicle = vehicle.resolve(catalog)?;
        let mqtt = mqtt.resolve(&vehicle.vin)?;
        let ota = resolve_ota(ota_layers, &vehicle.vin, vehicle.hotswap.store.as_deref())?;
        let record = resolve_record(record_layers, catalog)?;
        Ok(Self {
            vehicle,
            mqtt,
            ota,
            record,
        })
    }
}

#[cfg(test)]
mod tests;
