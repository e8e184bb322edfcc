//! Configuration: the default TOML embedded in the binary, an optional file
//! on top, then `TCU_*` environment variables, then CLI flags.
//!
//! Parsing is separate from resolving: [`RawConfig`] is what a file says
//! (every field optional, unknown fields refused), [`Config`] is the complete
//! validated result. Errors name the file and the field or line.

pub mod mqtt;

pub use mqtt::{MqttConfig, Profile};

use crate::catalog::{Catalog, SignalKind, Value};
use crate::world::driver::DriverProfile;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default configuration, as shipped.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// A configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading config {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown/mistyped fields.
    #[error("config {source_name}: {message}")]
    Parse {
        /// File (or `<default>`).
        source_name: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A field has a value that cannot be used.
    #[error("config {source_name}: `{field}`: {message}")]
    Invalid {
        /// File, `<default>`, `environment` or `command line`.
        source_name: String,
        /// Field path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

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
    pub mqtt: mqtt::RawMqtt,
    /// `[ota]`
    #[serde(default)]
    pub ota: RawOta,
}

/// `[hotswap]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHotswap {
    /// Canary length in ticks.
    pub canary_ticks: Option<u32>,
    /// Probation period (`"10s"`).
    pub probation: Option<String>,
    /// Trusted public keys.
    pub trusted_keys: Option<Vec<String>>,
    /// Accept unsigned libraries.
    pub allow_unsigned: Option<bool>,
    /// Plugin store directory.
    pub store: Option<PathBuf>,
}

/// Resolved `[hotswap]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HotswapConfig {
    /// Canary length in ticks.
    pub canary_ticks: u32,
    /// Probation period, simulated time.
    pub probation: Duration,
    /// Trusted public keys (hex or `.pub` paths), checked when used.
    pub trusted_keys: Vec<String>,
    /// Accept libraries without a signature file.
    pub allow_unsigned: bool,
    /// Plugin store directory.
    pub store: Option<PathBuf>,
}

/// `[vehicle]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVehicle {
    /// VIN.
    pub vin: Option<String>,
    /// Tick rate.
    pub tick_rate_hz: Option<f64>,
    /// Seed.
    pub seed: Option<u64>,
    /// Plugin directory.
    pub plugins_dir: Option<PathBuf>,
}

/// `[run]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRun {
    /// Driver profile.
    pub driver: Option<DriverProfile>,
    /// Status interval (`"1s"`, `"250ms"`).
    pub status_interval: Option<String>,
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// VIN.
    pub vin: String,
    /// Steps per second.
    pub tick_rate_hz: f64,
    /// Seed of every random source.
    pub seed: u64,
    /// Plugin directory (`None`: next to the executable).
    pub plugins_dir: Option<PathBuf>,
    /// Driver profile.
    pub driver: DriverProfile,
    /// Status interval.
    pub status_interval: Duration,
    /// Initial actuator values, validated against the catalog.
    pub signals: BTreeMap<String, Value>,
    /// Hot-swap policy.
    pub hotswap: HotswapConfig,
    /// The MQTT link.
    pub mqtt: MqttConfig,
    /// OTA client (hawkBit DDI).
    pub ota: OtaConfig,
}

/// Overrides from the environment or the command line.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// VIN.
    pub vin: Option<String>,
    /// Seed.
    pub seed: Option<u64>,
    /// Plugin directory.
    pub plugins_dir: Option<PathBuf>,
    /// Tick rate.
    pub tick_rate_hz: Option<f64>,
    /// Driver profile.
    pub driver: Option<DriverProfile>,
    /// Accept unsigned plugin libraries.
    pub allow_unsigned: Option<bool>,
    /// Plugin store directory.
    pub store: Option<PathBuf>,
    /// MQTT broker URL (`TCU_BROKER`, `--broker`).
    pub broker: Option<String>,
    /// Telemetry profile (`TCU_PROFILE`, `--profile`).
    pub profile: Option<Profile>,
}

fn parse_layer(source_name: &str, text: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        source_name: source_name.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })
}

fn toml_to_value(v: &toml::Value) -> Option<Value> {
    match v {
        toml::Value::Boolean(b) => Some(Value::Bool(*b)),
        toml::Value::Integer(i) => Some(Value::Int(*i)),
        toml::Value::Float(x) => Some(Value::Float(*x)),
        _ => None,
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
        let env = Overrides::from_env(|k| std::env::var(k).ok())?;
        Self::build(file, &env, cli, catalog)
    }

    /// As [`Config::load`] with the environment layer given explicitly.
    pub fn build(
        file: Option<&Path>,
        env: &Overrides,
        cli: &Overrides,
        catalog: &Catalog,
    ) -> Result<Self, ConfigError> {
        let mut layers = vec![(
            "<default>".to_owned(),
            parse_layer("<default>", DEFAULT_TOML)?,
        )];
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let name = path.display().to_string();
            layers.push((name.clone(), parse_layer(&name, &text)?));
        }
        let mut vin = None;
        let mut tick_rate = None;
        let mut seed = None;
        let mut plugins_dir = None;
        let mut driver = None;
        let mut status = None;
        let mut signals = BTreeMap::new();
        let mut canary_ticks = None;
        let mut probation = None;
        let mut trusted_keys = None;
        let mut allow_unsigned = None;
        let mut store = None;
        let mut mqtt = mqtt::Layered::default();
        let mut ota_layers = Vec::new();
        for (name, layer) in layers {
            ota_layers.push((name.clone(), layer.ota));
            let h = layer.hotswap;
            canary_ticks = h.canary_ticks.or(canary_ticks);
            probation = h.probation.map_or(probation, |v| Some((name.clone(), v)));
            trusted_keys = h.trusted_keys.or(trusted_keys);
            allow_unsigned = h.allow_unsigned.or(allow_unsigned);
            store = h.store.or(store);
            mqtt::merge(&mut mqtt, &name, layer.mqtt);
            let src = |v| Some((name.clone(), v));
            vin = layer.vehicle.vin.map_or(vin, src);
            tick_rate = layer
                .vehicle
                .tick_rate_hz
                .map_or(tick_rate, |v| Some((name.clone(), v)));
            seed = layer.vehicle.seed.or(seed);
            plugins_dir = layer.vehicle.plugins_dir.or(plugins_dir);
            driver = layer.run.driver.or(driver);
            status = layer
                .run
                .status_interval
                .map_or(status, |v| Some((name.clone(), v)));
            for (path, value) in layer.signals {
                let v = toml_to_value(&value).ok_or_else(|| ConfigError::Invalid {
                    source_name: name.clone(),
                    field: format!("signals.\"{path}\""),
                    message: format!("expected a number or a boolean, got {}", value.type_str()),
                })?;
                signals.insert(path, (name.clone(), v));
            }
        }
        for (layer_name, o) in [("environment", env), ("command line", cli)] {
            vin = o
                .vin
                .clone()
                .map_or(vin, |v| Some((layer_name.to_owned(), v)));
            tick_rate = o
                .tick_rate_hz
                .map_or(tick_rate, |v| Some((layer_name.to_owned(), v)));
            seed = o.seed.or(seed);
            plugins_dir = o.plugins_dir.clone().or(plugins_dir);
            driver = o.driver.or(driver);
            allow_unsigned = o.allow_unsigned.or(allow_unsigned);
            store = o.store.clone().or(store);
            if let Some(b) = &o.broker {
                mqtt.broker = Some((layer_name.to_owned(), b.clone()));
            }
            if let Some(p) = o.profile {
                mqtt.profile = Some((layer_name.to_owned(), p));
            }
        }
        let invalid = |source_name: &str, field: &str, message: String| ConfigError::Invalid {
            source_name: source_name.to_owned(),
            field: field.to_owned(),
            message,
        };
        let (vin_src, vin) = vin.unwrap_or_default();
        validate_vin(&vin).map_err(|m| invalid(&vin_src, "vehicle.vin", m))?;
        let (rate_src, tick_rate_hz) = tick_rate.unwrap_or(("<default>".into(), 100.0));
        if !(tick_rate_hz.is_finite() && (1.0..=10_000.0).contains(&tick_rate_hz)) {
            return Err(invalid(
                &rate_src,
                "vehicle.tick_rate_hz",
                format!("{tick_rate_hz} is outside 1..=10000 Hz"),
            ));
        }
        let status_interval = match status {
            Some((src, text)) => {
                let d = humantime::parse_duration(&text)
                    .map_err(|e| invalid(&src, "run.status_interval", format!("`{text}`: {e}")))?;
                if d.is_zero() {
                    return Err(invalid(
                        &src,
                        "run.status_interval",
                        "must be above zero".into(),
                    ));
                }
                d
            }
            None => Duration::from_secs(1),
        };
        let probation = match probation {
            Some((src, text)) => humantime::parse_duration(&text)
                .map_err(|e| invalid(&src, "hotswap.probation", format!("`{text}`: {e}")))?,
            None => Duration::from_secs(10),
        };
        let hotswap = HotswapConfig {
            canary_ticks: canary_ticks.unwrap_or(50),
            probation,
            trusted_keys: trusted_keys.unwrap_or_default(),
            allow_unsigned: allow_unsigned.unwrap_or(false),
            store,
        };
        let mut checked = BTreeMap::new();
        for (path, (src, value)) in signals {
            let field = format!("signals.\"{path}\"");
            let meta = catalog
                .get(&path)
                .ok_or_else(|| invalid(&src, &field, "not a signal of the catalog".into()))?;
            if meta.kind != SignalKind::Actuator {
                return Err(invalid(
                    &src,
                    &field,
                    format!("is a {}, only actuators can be set", meta.kind.as_str()),
                ));
            }
            let slot = value
                .slot_for(meta.datatype)
                .map_err(|m| invalid(&src, &field, m))?;
            meta.check(slot)
                .map_err(|e| invalid(&src, &field, e.to_string()))?;
            checked.insert(path, value);
        }
        let mqtt = mqtt.resolve(&vin)?;
        let ota = resolve_ota(ota_layers, &vin, hotswap.store.as_deref())?;
        Ok(Self {
            mqtt,
            ota,
            vin,
            tick_rate_hz,
            seed: seed.unwrap_or(1),
            plugins_dir,
            driver: driver.unwrap_or_default(),
            status_interval,
            signals: checked,
            hotswap,
        })
    }
}

impl Overrides {
    /// Reads `TCU_VIN`, `TCU_SEED`, `TCU_PLUGINS_DIR`, `TCU_TICK_RATE_HZ`,
    /// `TCU_DRIVER`, `TCU_STORE`, `TCU_BROKER` and `TCU_PROFILE` through `get`.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let bad = |field: &str, message: String| ConfigError::Invalid {
            source_name: "environment".into(),
            field: field.into(),
            message,
        };
        Ok(Self {
            vin: get("TCU_VIN"),
            seed: get("TCU_SEED")
                .map(|s| {
                    s.parse()
                        .map_err(|e| bad("TCU_SEED", format!("`{s}`: {e}")))
                })
                .transpose()?,
            plugins_dir: get("TCU_PLUGINS_DIR").map(PathBuf::from),
            tick_rate_hz: get("TCU_TICK_RATE_HZ")
                .map(|s| {
                    s.parse()
                        .map_err(|e| bad("TCU_TICK_RATE_HZ", format!("`{s}`: {e}")))
                })
                .transpose()?,
            driver: get("TCU_DRIVER")
                .map(|s| s.parse().map_err(|e| bad("TCU_DRIVER", e)))
                .transpose()?,
            allow_unsigned: None,
            store: get("TCU_STORE").map(PathBuf::from),
            broker: get("TCU_BROKER"),
            profile: get("TCU_PROFILE")
                .map(|s| s.parse().map_err(|e| bad("TCU_PROFILE", e)))
                .transpose()?,
        })
    }
}

/// A VIN is 17 characters of digits and capitals, without I, O or Q.
pub fn validate_vin(vin: &str) -> Result<(), String> {
    if vin.len() != 17 {
        return Err(format!(
            "`{vin}` has {} characters, a VIN has 17",
            vin.chars().count()
        ));
    }
    if let Some(c) = vin
        .chars()
        .find(|c| !(c.is_ascii_digit() || c.is_ascii_uppercase()) || matches!(c, 'I' | 'O' | 'Q'))
    {
        return Err(format!(
            "`{vin}` contains `{c}`; a VIN uses digits and capitals except I, O, Q"
        ));
    }
    Ok(())
}

mod ota;
use ota::resolve_ota;
pub use ota::{DEFAULT_HW_REVISION, OtaConfig, RawOta};

#[cfg(test)]
mod tests;
