//! Defaults for a TCU run by systemd: with `StateDirectory=` the plugin
//! store, the outbox and (inside the store) the OTA staging live in
//! `$STATE_DIRECTORY`, so a swapped version and queued messages survive a
//! reboot. Run by hand nothing changes. These are defaults, one layer above
//! the shipped ones: a configuration file, the environment or a flag that
//! names a directory still wins.

/// The layer (TOML) of service defaults, when run by systemd with a state
/// directory; `get` reads the environment.
pub fn service_layer(get: impl Fn(&str) -> Option<String>) -> Option<String> {
    let by_systemd = get("INVOCATION_ID").is_some() || get("NOTIFY_SOCKET").is_some();
    // Several directories are separated by colons; the first is ours.
    let state = get("STATE_DIRECTORY")?;
    let state = state.split(':').next().filter(|s| !s.is_empty())?;
    if !by_systemd {
        return None;
    }
    let dir = std::path::Path::new(state);
    let quoted = |sub: &str| toml::Value::String(dir.join(sub).display().to_string()).to_string();
    Some(format!(
        "[hotswap]\nstore = {}\n[mqtt]\noutbox_dir = {}\n",
        quoted("store"),
        quoted("outbox")
    ))
}

/// The layer's name in errors.
pub const SERVICE_LAYER: &str = "service defaults ($STATE_DIRECTORY)";
