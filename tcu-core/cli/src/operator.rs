//! What an operator expects of the `tcu` command besides running: the long
//! `--version` text, the environment variables listed in `--help`, the
//! possible values of `--driver` and `--profile` taken from the lists their
//! parsers use, `tcu config check`, and secrets read from a file or the
//! environment instead of the command line.

pub use crate::config::secrets::{apply_mqtt_secret, read_secret_file, secret};

use crate::config::{Config, ConfigError, Overrides};
use clap::builder::{PossibleValue, TypedValueParser};
use std::path::Path;
use std::sync::OnceLock;
use tcu_engine::catalog::Catalog;

/// Every `TCU_*` variable the `tcu` binary reads, with what it sets; shown
/// at the end of `tcu --help` and `tcu run --help`.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("TCU_VIN", "vehicle identification number ([vehicle] vin)"),
    ("TCU_SEED", "seed of every random source ([vehicle] seed)"),
    ("TCU_PLUGINS_DIR", "directory of subsystem libraries"),
    ("TCU_TICK_RATE_HZ", "physics ticks per second"),
    ("TCU_DRIVER", "driver profile (as --driver)"),
    ("TCU_STORE", "plugin store directory (as --store)"),
    ("TCU_BROKER", "MQTT broker URL (as --broker)"),
    ("TCU_PROFILE", "telemetry layout (as --profile)"),
    ("TCU_MQTT_PASSWORD", "MQTT password ([mqtt] password)"),
    (
        "TCU_MQTT_PASSWORD_FILE",
        "file holding the MQTT password (e.g. a systemd credential)",
    ),
    ("TCU_OTA_SERVER", "hawkBit DDI server (as --ota-server)"),
    ("TCU_OTA_USER", "`tcu ota publish` management user"),
    ("TCU_OTA_PASSWORD", "`tcu ota publish` management password"),
    (
        "TCU_OTA_PASSWORD_FILE",
        "file holding the `tcu ota publish` password",
    ),
    ("TCU_LOG_FORMAT", "log line format (as --log-format)"),
    ("TCU_LOG_LEVEL", "log level or filter (as --log-level)"),
    ("TCU_LOG_FILE", "also write the log here (as --log-file)"),
    (
        "TCU_DASHBOARD_PANIC_AFTER_FRAMES",
        "make the dashboard panic after N frames (tests)",
    ),
    (
        "TCU_DASHBOARD_STALL_AFTER_FRAMES",
        "make the dashboard's render thread stall after N frames (tests)",
    ),
    (
        "TCU_STALL_TICK_LOOP_AFTER",
        "stall the tick loop after N ticks (tests of the watchdog)",
    ),
];

/// The `--help` epilogue listing [`ENVIRONMENT`].
pub fn environment_help() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let width = ENVIRONMENT.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut text = String::from("Environment:\n");
        for (name, what) in ENVIRONMENT {
            text.push_str(&format!("  {name:width$}  {what}\n"));
        }
        text.push_str("  RUST_LOG  log filter when --log-level is not given");
        text
    })
}

/// The `--version` text: version, git revision, plugin ABI, features.
pub fn long_version() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let features = match env!("TCU_CARGO_FEATURES") {
            "" => "none",
            list => list,
        };
        format!(
            "{} (git {})\nplugin ABI version {}\nfeatures: {features}\ntarget: {}-{}",
            env!("CARGO_PKG_VERSION"),
            env!("TCU_GIT_REV"),
            tcu_sdk::abi::TCU_ABI_VERSION,
            std::env::consts::ARCH,
            std::env::consts::OS,
        )
    })
}

/// A value parser for a type parsed from its name whose names are listed
/// (comma-separated) in one constant next to the parser: `--help` shows
/// them and completions offer them, with no second list to keep in step.
#[derive(Debug, Clone, Copy)]
pub struct Listed<T> {
    names: &'static str,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T> Listed<T> {
    /// The names in `names` (`"a, b, c"`).
    pub const fn new(names: &'static str) -> Self {
        Self {
            names,
            _type: std::marker::PhantomData,
        }
    }
}

impl<T> TypedValueParser for Listed<T>
where
    T: std::str::FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let text = value.to_string_lossy();
        text.parse::<T>().map_err(|message| {
            clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{message}\n"))
                .with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            self.names.split(',').map(|n| PossibleValue::new(n.trim())),
        ))
    }
}

/// `--driver`'s parser: the engine's driver profiles.
pub fn driver_parser() -> Listed<tcu_engine::world::driver::DriverProfile> {
    Listed::new(tcu_engine::world::driver::PROFILES)
}

/// `--profile`'s parser: the link's telemetry layouts.
pub fn profile_parser() -> Listed<tcu_link::config::Profile> {
    Listed::new(tcu_link::config::PROFILE_NAMES)
}

/// Validates the configuration file at `path` as `tcu run --config` would
/// read it (without the environment or flags, and without starting
/// anything): its syntax, every field, and that its trusted keys can be
/// read. Errors name the file and the field.
pub fn check_config(path: &Path) -> Result<Config, CheckError> {
    let none = Overrides::default();
    let config = Config::build(Some(path), &none, &none, &Catalog::builtin())?;
    tcu_engine::swap::SwapPolicy::from_config(&config.vehicle.hotswap).map_err(|e| {
        CheckError::Keys {
            path: path.to_owned(),
            message: e.to_string(),
        }
    })?;
    Ok(config)
}

/// A configuration or a secret could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A trusted key named by the configuration cannot be read.
    #[error("{path}: [hotswap] trusted_keys: {message}")]
    Keys {
        /// The configuration file.
        path: std::path::PathBuf,
        /// Why.
        message: String,
    },
    /// Neither the option, nor its variable, nor its file gave the secret.
    #[error("{what}: not given (set {variable}, or {variable}_FILE to a file holding it)")]
    SecretMissing {
        /// What the secret is for.
        what: String,
        /// The variable.
        variable: String,
    },
}

#[cfg(test)]
mod tests;
