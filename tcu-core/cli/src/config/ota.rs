//! `[ota]`: the hawkBit DDI client. Off unless a server is set (in the file
//! or with `tcu run --ota-server URL`).

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tcu_engine::config::ConfigError;
use tcu_ota_client::{Auth, Confirmation, SoftUpdates};

/// The hardware revision reported when `[ota] hw_revision` is not set.
pub const DEFAULT_HW_REVISION: &str = "sim-1";

/// `[ota]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOta {
    /// Server base URL, without the tenant.
    pub server: Option<String>,
    /// Tenant.
    pub tenant: Option<String>,
    /// Controller id (default: the VIN).
    pub controller_id: Option<String>,
    /// `TargetToken`.
    pub target_token: Option<String>,
    /// `GatewayToken`.
    pub gateway_token: Option<String>,
    /// Extra CA (PEM).
    pub ca_file: Option<PathBuf>,
    /// Overrides the server's polling interval (development).
    pub poll_interval: Option<String>,
    /// Interval while an action is open.
    pub action_poll_interval: Option<String>,
    /// Downloads and the action state.
    pub staging_dir: Option<PathBuf>,
    /// Largest artifact accepted, bytes.
    pub max_artifact_size: Option<u64>,
    /// Hardware revision reported in configData.
    pub hw_revision: Option<String>,
    /// Soft (`attempt`) updates: `install` or `defer`.
    pub soft_updates: Option<SoftUpdates>,
    /// Answer to a confirmation request: `auto`, `user` or `deny`.
    pub confirm: Option<Confirmation>,
}

/// Resolved `[ota]`.
#[derive(Debug, Clone, PartialEq)]
pub struct OtaConfig {
    /// Server base URL; `None`: OTA off.
    pub server: Option<String>,
    /// Tenant.
    pub tenant: String,
    /// Controller id.
    pub controller_id: String,
    /// Credentials.
    pub auth: Auth,
    /// Extra CA.
    pub ca_file: Option<PathBuf>,
    /// Poll interval override.
    pub poll_interval: Option<Duration>,
    /// Interval while an action is open.
    pub action_poll_interval: Duration,
    /// Staging directory (default: `<store>/ota`, else a temporary one).
    pub staging_dir: PathBuf,
    /// Largest artifact accepted.
    pub max_artifact_size: u64,
    /// Hardware revision.
    pub hw_revision: String,
    /// Soft updates at once, or when the user asks.
    pub soft_updates: SoftUpdates,
    /// Who confirms an action the server asks consent for.
    pub confirm: Confirmation,
}

pub(super) fn resolve_ota(
    layers: Vec<(String, RawOta)>,
    vin: &str,
    store: Option<&Path>,
) -> Result<OtaConfig, ConfigError> {
    let invalid = |src: &str, field: &str, message: String| ConfigError::Invalid {
        source_name: src.to_owned(),
        field: field.to_owned(),
        message,
    };
    let mut server = None;
    let mut tenant = None;
    let mut controller_id = None;
    let mut target_token = None;
    let mut gateway_token = None;
    let mut ca_file = None;
    let mut poll = None;
    let mut action_poll = None;
    let mut staging = None;
    let mut max_size = None;
    let mut hw = None;
    let mut soft = None;
    let mut confirm = None;
    for (name, l) in layers {
        let src = |v| Some((name.clone(), v));
        server = l.server.map_or(server, src);
        tenant = l.tenant.or(tenant);
        controller_id = l.controller_id.or(controller_id);
        target_token = l.target_token.map_or(target_token, src);
        gateway_token = l.gateway_token.map_or(gateway_token, src);
        ca_file = l.ca_file.or(ca_file);
        poll = l.poll_interval.map_or(poll, src);
        action_poll = l.action_poll_interval.map_or(action_poll, src);
        staging = l.staging_dir.or(staging);
        max_size = l.max_artifact_size.or(max_size);
        hw = l.hw_revision.or(hw);
        soft = l.soft_updates.or(soft);
        confirm = l.confirm.or(confirm);
    }
    if let Some((src, url)) = &server
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(invalid(
            src,
            "ota.server",
            format!("`{url}` is not an http:// or https:// URL"),
        ));
    }
    let auth = match (target_token, gateway_token) {
        (Some((src, _)), Some(_)) => {
            return Err(invalid(
                &src,
                "ota.target_token",
                "set either target_token or gateway_token, not both".into(),
            ));
        }
        (Some((_, t)), None) => Auth::TargetToken(t),
        (None, Some((_, t))) => Auth::GatewayToken(t),
        (None, None) => Auth::None,
    };
    let duration =
        |v: Option<(String, String)>, field: &str| -> Result<Option<Duration>, ConfigError> {
            v.map(|(src, text)| {
                let d = humantime::parse_duration(&text)
                    .map_err(|e| invalid(&src, field, format!("`{text}`: {e}")))?;
                if d.is_zero() {
                    return Err(invalid(&src, field, "must be above zero".into()));
                }
                Ok(d)
            })
            .transpose()
        };
    let tenant = tenant.unwrap_or_else(|| "DEFAULT".into());
    if tenant.is_empty() || tenant.contains('/') {
        return Err(invalid(
            "<config>",
            "ota.tenant",
            format!("`{tenant}` is not a tenant name"),
        ));
    }
    let controller_id = controller_id.unwrap_or_else(|| vin.to_owned());
    if controller_id.is_empty() || controller_id.contains('/') {
        return Err(invalid(
            "<config>",
            "ota.controller_id",
            format!("`{controller_id}` is not a controller id"),
        ));
    }
    Ok(OtaConfig {
        server: server.map(|(_, s)| s.trim_end_matches('/').to_owned()),
        tenant,
        controller_id,
        auth,
        ca_file,
        poll_interval: duration(poll, "ota.poll_interval")?,
        action_poll_interval: duration(action_poll, "ota.action_poll_interval")?
            .unwrap_or(Duration::from_secs(5)),
        staging_dir: staging.unwrap_or_else(|| match store {
            Some(s) => s.join("ota"),
            None => std::env::temp_dir().join(format!("tcu-ota-{vin}")),
        }),
        max_artifact_size: max_size.unwrap_or(256 * 1024 * 1024),
        hw_revision: hw.unwrap_or_else(|| DEFAULT_HW_REVISION.into()),
        soft_updates: soft.unwrap_or_default(),
        confirm: confirm.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Overrides};
    use std::time::Duration;
    use tcu_engine::catalog::Catalog;
    use tcu_ota_client::{Auth, Confirmation, SoftUpdates};

    fn load(toml: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).map_err(|e| e.to_string())?;
        Config::build(
            Some(&path),
            &Overrides::default(),
            &Overrides::default(),
            &Catalog::builtin(),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn ota_is_off_by_default_and_the_controller_is_the_vin() {
        let c = load("").expect("default config");
        assert_eq!(c.ota.server, None);
        assert_eq!(c.ota.controller_id, c.vehicle.vin);
        assert_eq!(c.ota.tenant, "DEFAULT");
        assert_eq!(c.ota.auth, Auth::None);
        assert_eq!(c.ota.action_poll_interval, Duration::from_secs(5));
        assert_eq!(c.ota.soft_updates, SoftUpdates::Install);
        assert_eq!(c.ota.confirm, Confirmation::Auto);
    }

    #[test]
    fn soft_updates_and_confirmation_policies_are_read_and_checked() {
        let c = load("[ota]\nsoft_updates = \"defer\"\nconfirm = \"user\"\n").expect("valid");
        assert_eq!(c.ota.soft_updates, SoftUpdates::Defer);
        assert_eq!(c.ota.confirm, Confirmation::User);
        let c = load("[ota]\nconfirm = \"deny\"\n").expect("valid");
        assert_eq!(c.ota.confirm, Confirmation::Deny);
        let e = load("[ota]\nsoft_updates = \"later\"\n").expect_err("unknown policy");
        assert!(e.contains("later") && e.contains("defer"), "{e}");
    }

    #[test]
    fn ota_settings_are_read_and_staging_defaults_into_the_store() {
        let c = load(
            "[hotswap]\nstore = \"/var/lib/tcu\"\n[ota]\nserver = \"https://ota.example/\"\ntarget_token = \"t0k\"\npoll_interval = \"3s\"\n",
        )
        .expect("valid");
        assert_eq!(c.ota.server.as_deref(), Some("https://ota.example"));
        assert_eq!(c.ota.auth, Auth::TargetToken("t0k".into()));
        assert_eq!(c.ota.poll_interval, Some(Duration::from_secs(3)));
        assert_eq!(c.ota.staging_dir, std::path::Path::new("/var/lib/tcu/ota"));
    }

    #[test]
    fn bad_ota_settings_name_their_field() {
        let e = load("[ota]\nserver = \"ftp://x\"\n").expect_err("bad scheme");
        assert!(e.contains("`ota.server`"), "{e}");
        let e =
            load("[ota]\ntarget_token = \"a\"\ngateway_token = \"b\"\n").expect_err("two tokens");
        assert!(e.contains("`ota.target_token`"), "{e}");
        let e = load("[ota]\npoll_interval = \"soon\"\n").expect_err("bad duration");
        assert!(e.contains("`ota.poll_interval`"), "{e}");
        let e = load("[ota]\nservr = \"http://x\"\n").expect_err("unknown field");
        assert!(e.contains("servr"), "{e}");
    }
}
