//! Secrets kept off the command line: a password from its variable, or
//! from the file `<VARIABLE>_FILE` names (a systemd credential, a file only
//! the service user reads).

use super::{Config, ConfigError};
use std::path::Path;

/// Reads a secret file: its content without the trailing newline an editor
/// or `echo` adds. The error names the variable and the file.
pub fn read_secret_file(variable: &str, path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::invalid(
            "environment",
            variable,
            format!("reading {}: {e}", path.display()),
        )
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// A secret from `given` (an option or its variable), else from the
/// variable itself, else from the file named by `{variable}_FILE` (both
/// read through `get`).
pub fn secret(
    given: Option<String>,
    variable: &str,
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    if given.is_some() {
        return Ok(given);
    }
    if let Some(value) = get(variable) {
        return Ok(Some(value));
    }
    let file_var = format!("{variable}_FILE");
    match get(&file_var) {
        Some(path) => read_secret_file(&file_var, Path::new(&path)).map(Some),
        None => Ok(None),
    }
}

/// The MQTT password from `TCU_MQTT_PASSWORD` or the file
/// `TCU_MQTT_PASSWORD_FILE` names, over the configuration's.
pub fn apply_mqtt_secret(
    config: &mut Config,
    get: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    if let Some(p) = secret(None, "TCU_MQTT_PASSWORD", get)? {
        config.mqtt.password = Some(p);
    }
    Ok(())
}
