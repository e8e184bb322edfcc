//! The vehicle's part of the configuration: `[vehicle]`, `[run]`,
//! `[hotswap]` and `[signals]`, with their shipped defaults
//! ([`DEFAULT_TOML`]).
//!
//! Each front end layers its own sections on top (the `tcu` binary adds
//! `[mqtt]` from the link crate and `[ota]` of its own); this module owns
//! the rules every section follows: every layer may set any field, the last
//! one wins, and an error names the layer (file, `<default>`,
//! `environment`, `command line`) and the field. Parsing is separate from
//! resolving: the `Raw*` types are what a layer says (every field optional,
//! unknown fields refused), [`VehicleConfig`] is the validated result.

use crate::catalog::{Catalog, SignalKind, Value};
use crate::world::driver::DriverProfile;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The vehicle's sections of the default configuration, as shipped.
pub const DEFAULT_TOML: &str = include_str!("../config/vehicle.toml");

/// Name of the default layer in error messages.
pub const DEFAULT_LAYER: &str = "<default>";

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

impl ConfigError {
    /// An [`ConfigError::Invalid`] for `field` of layer `source_name`.
    pub fn invalid(source_name: &str, field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            source_name: source_name.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Parses one layer's TOML text into `T`, naming the layer in errors.
pub fn parse_layer<T: DeserializeOwned>(source_name: &str, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        source_name: source_name.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })
}

/// A duration field (`"250ms"`, `"5s"`) set by layer `src`; `None` gives
/// `default`. With `nonzero`, zero is refused.
pub fn duration_field(
    value: Option<(String, String)>,
    field: &str,
    default: Duration,
    nonzero: bool,
) -> Result<Duration, ConfigError> {
    let Some((src, text)) = value else {
        return Ok(default);
    };
    let d = humantime::parse_duration(&text)
        .map_err(|e| ConfigError::invalid(&src, field, format!("`{text}`: {e}")))?;
    if nonzero && d.is_zero() {
        return Err(ConfigError::invalid(&src, field, "must be above zero"));
    }
    Ok(d)
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
    /// Start without a library whose signature check failed.
    pub run_without_refused: Option<bool>,
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
    /// With trusted keys: start without a library that fails its signature
    /// check at start (it is reported and left out) instead of refusing to
    /// start.
    pub run_without_refused: bool,
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

/// The vehicle's sections of one layer, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVehicleLayer {
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
}

/// The resolved vehicle configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleConfig {
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
}

/// Overrides of the vehicle's fields from the environment or the command
/// line.
#[derive(Debug, Default, Clone)]
pub struct VehicleOverrides {
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
}

impl VehicleOverrides {
    /// Reads `TCU_VIN`, `TCU_SEED`, `TCU_PLUGINS_DIR`, `TCU_TICK_RATE_HZ`,
    /// `TCU_DRIVER` and `TCU_STORE` through `get`.
    pub fn from_env(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let bad =
            |field: &str, message: String| ConfigError::invalid("environment", field, message);
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
        })
    }
}

fn toml_to_value(v: &toml::Value) -> Option<Value> {
    match v {
        toml::Value::Boolean(b) => Some(Value::Bool(*b)),
        toml::Value::Integer(i) => Some(Value::Int(*i)),
        toml::Value::Float(x) => Some(Value::Float(*x)),
        _ => None,
    }
}

/// The vehicle's fields as the layers set them so far, each with the name
/// of the layer that set it.
#[derive(Debug, Default)]
pub struct VehicleLayers {
    vin: Option<(String, String)>,
    tick_rate: Option<(String, f64)>,
    seed: Option<u64>,
    plugins_dir: Option<PathBuf>,
    driver: Option<DriverProfile>,
    status: Option<(String, String)>,
    signals: BTreeMap<String, (String, Value)>,
    canary_ticks: Option<u32>,
    probation: Option<(String, String)>,
    trusted_keys: Option<Vec<String>>,
    allow_unsigned: Option<bool>,
    run_without_refused: Option<bool>,
    store: Option<PathBuf>,
}

impl VehicleLayers {
    /// Puts layer `name` over the layers merged so far.
    pub fn merge(&mut self, name: &str, layer: RawVehicleLayer) -> Result<(), ConfigError> {
        let src = |v| Some((name.to_owned(), v));
        let h = layer.hotswap;
        self.canary_ticks = h.canary_ticks.or(self.canary_ticks);
        self.probation = h.probation.map_or(self.probation.take(), src);
        self.trusted_keys = h.trusted_keys.or(self.trusted_keys.take());
        self.allow_unsigned = h.allow_unsigned.or(self.allow_unsigned);
        self.run_without_refused = h.run_without_refused.or(self.run_without_refused);
        self.store = h.store.or(self.store.take());
        self.vin = layer.vehicle.vin.map_or(self.vin.take(), src);
        self.tick_rate = layer
            .vehicle
            .tick_rate_hz
            .map_or(self.tick_rate.take(), |v| Some((name.to_owned(), v)));
        self.seed = layer.vehicle.seed.or(self.seed);
        self.plugins_dir = layer.vehicle.plugins_dir.or(self.plugins_dir.take());
        self.driver = layer.run.driver.or(self.driver);
        self.status = layer.run.status_interval.map_or(self.status.take(), src);
        for (path, value) in layer.signals {
            let v = toml_to_value(&value).ok_or_else(|| {
                ConfigError::invalid(
                    name,
                    &format!("signals.\"{path}\""),
                    format!("expected a number or a boolean, got {}", value.type_str()),
                )
            })?;
            self.signals.insert(path, (name.to_owned(), v));
        }
        Ok(())
    }

    /// Puts the overrides of layer `name` (`environment`, `command line`)
    /// over the layers merged so far.
    pub fn apply(&mut self, name: &str, o: &VehicleOverrides) {
        self.vin = o
            .vin
            .clone()
            .map_or(self.vin.take(), |v| Some((name.to_owned(), v)));
        self.tick_rate = o
            .tick_rate_hz
            .map_or(self.tick_rate.take(), |v| Some((name.to_owned(), v)));
        self.seed = o.seed.or(self.seed);
        self.plugins_dir = o.plugins_dir.clone().or(self.plugins_dir.take());
        self.driver = o.driver.or(self.driver);
        self.allow_unsigned = o.allow_unsigned.or(self.allow_unsigned);
        self.store = o.store.clone().or(self.store.take());
    }

    /// Validates the merged layers against `catalog` and fills in defaults.
    pub fn resolve(self, catalog: &Catalog) -> Result<VehicleConfig, ConfigError> {
        let (vin_src, vin) = self.vin.unwrap_or_default();
        validate_vin(&vin).map_err(|m| ConfigError::invalid(&vin_src, "vehicle.vin", m))?;
        let (rate_src, tick_rate_hz) = self.tick_rate.unwrap_or((DEFAULT_LAYER.into(), 100.0));
        if !(tick_rate_hz.is_finite() && (1.0..=10_000.0).contains(&tick_rate_hz)) {
            return Err(ConfigError::invalid(
                &rate_src,
                "vehicle.tick_rate_hz",
                format!("{tick_rate_hz} is outside 1..=10000 Hz"),
            ));
        }
        let status_interval = duration_field(
            self.status,
            "run.status_interval",
            Duration::from_secs(1),
            true,
        )?;
        let probation = duration_field(
            self.probation,
            "hotswap.probation",
            Duration::from_secs(10),
            false,
        )?;
        let hotswap = HotswapConfig {
            canary_ticks: self.canary_ticks.unwrap_or(50),
            probation,
            trusted_keys: self.trusted_keys.unwrap_or_default(),
            allow_unsigned: self.allow_unsigned.unwrap_or(false),
            run_without_refused: self.run_without_refused.unwrap_or(false),
            store: self.store,
        };
        let mut checked = BTreeMap::new();
        for (path, (src, value)) in self.signals {
            checked.insert(path.clone(), check_initial(catalog, &src, &path, value)?);
        }
        Ok(VehicleConfig {
            vin,
            tick_rate_hz,
            seed: self.seed.unwrap_or(1),
            plugins_dir: self.plugins_dir,
            driver: self.driver.unwrap_or_default(),
            status_interval,
            signals: checked,
            hotswap,
        })
    }
}

/// Checks an initial value of `[signals]`: a signal of the catalog, an
/// actuator, of its datatype and within its range.
fn check_initial(
    catalog: &Catalog,
    src: &str,
    path: &str,
    value: Value,
) -> Result<Value, ConfigError> {
    let field = format!("signals.\"{path}\"");
    let meta = catalog
        .get(path)
        .ok_or_else(|| ConfigError::invalid(src, &field, "not a signal of the catalog"))?;
    if meta.kind != SignalKind::Actuator {
        return Err(ConfigError::invalid(
            src,
            &field,
            format!("is a {}, only actuators can be set", meta.kind.as_str()),
        ));
    }
    let slot = value
        .slot_for(meta.datatype)
        .map_err(|m| ConfigError::invalid(src, &field, m))?;
    meta.check(slot)
        .map_err(|e| ConfigError::invalid(src, &field, e.to_string()))?;
    Ok(value)
}

impl VehicleConfig {
    /// The shipped defaults with `cli` on top (what a scenario or a test
    /// builds its vehicle from).
    pub fn defaults_with(cli: &VehicleOverrides, catalog: &Catalog) -> Result<Self, ConfigError> {
        let mut layers = VehicleLayers::default();
        layers.merge(DEFAULT_LAYER, parse_layer(DEFAULT_LAYER, DEFAULT_TOML)?)?;
        layers.apply("command line", cli);
        layers.resolve(catalog)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_900_degree_setpoint_in_signals_is_refused_naming_the_signal_and_its_limits() {
        let mut layers = VehicleLayers::default();
        let defaults = parse_layer(DEFAULT_LAYER, DEFAULT_TOML).expect("defaults parse");
        layers
            .merge(DEFAULT_LAYER, defaults)
            .expect("defaults merge");
        let path = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";
        let file = parse_layer("car.toml", &format!("[signals]\n\"{path}\" = 900.0\n"))
            .expect("the file parses");
        layers.merge("car.toml", file).expect("the file merges");
        let e = layers
            .resolve(&Catalog::builtin())
            .expect_err("900 °C must be refused");
        assert_eq!(
            e.to_string(),
            format!("config car.toml: `signals.\"{path}\"`: 900 is outside [16, 28]")
        );
    }
}
