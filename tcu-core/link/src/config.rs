//! The `[mqtt]` section: where telemetry goes and how the TCU logs in.
//!
//! Kept apart from the rest of the configuration so that the MQTT link can
//! grow settings without touching the vehicle's. Resolution follows the same
//! rules: every layer may set any field, the last one wins, and an error
//! names the layer (file, `environment`, `command line`) and the field.

use crate::url::BrokerUrl;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tcu_engine::config::{ConfigError, duration_field};

/// Telemetry layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The contract of `docs/ARCHITECTURE.md`: snapshot keyed by VSS path.
    #[default]
    Default,
    /// The proof of concept's layout: `device/{VIN}/telemetry`, keyed by
    /// subsystem.
    Legacy,
}

/// Every profile's name, for errors and help.
pub const PROFILE_NAMES: &str = "default, legacy";

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "default" => Ok(Self::Default),
            "legacy" => Ok(Self::Legacy),
            other => Err(format!("unknown profile `{other}` ({PROFILE_NAMES})")),
        }
    }
}

/// `[mqtt]` as one layer writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMqtt {
    /// Turn the link off entirely.
    pub enabled: Option<bool>,
    /// `mqtt://host[:port]` or `mqtts://host[:port]`; empty: embedded broker.
    pub broker: Option<String>,
    /// Where the embedded broker listens.
    pub embedded_listen: Option<String>,
    /// Client id; empty: `tcu-{vin}`.
    pub client_id: Option<String>,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// CA certificate (PEM) for `mqtts://`.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    pub key_file: Option<PathBuf>,
    /// Keepalive (`"30s"`).
    pub keepalive: Option<String>,
    /// QoS of telemetry (0 or 1).
    pub qos: Option<u8>,
    /// Telemetry period (`"1s"`).
    pub publish_period: Option<String>,
    /// Topic root template, `{vin}` replaced.
    pub topic_root: Option<String>,
    /// `default` or `legacy`.
    pub profile: Option<Profile>,
    /// Outbox directory; empty: a directory per VIN under the temp dir.
    pub outbox_dir: Option<PathBuf>,
    /// Outbox size limit in bytes.
    pub outbox_max_bytes: Option<u64>,
    /// Paths remote commands may set (see [`crate::policy`]).
    pub commands: Option<Vec<String>>,
    /// Remote commands per window; 0: no limit.
    pub command_limit: Option<u32>,
    /// The rate limit's window (`"10s"`).
    pub command_window: Option<String>,
}

/// The resolved `[mqtt]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    /// Whether `tcu run` connects at all.
    pub enabled: bool,
    /// Broker URL; `None`: start the embedded broker.
    pub broker: Option<String>,
    /// Embedded broker address (port 0: any free port).
    pub embedded_listen: SocketAddr,
    /// Client id.
    pub client_id: String,
    /// The client id before `{vin}` was filled in (`tcu-{vin}` by default).
    pub client_id_template: String,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// CA certificate file.
    pub ca_file: Option<PathBuf>,
    /// Client certificate file.
    pub cert_file: Option<PathBuf>,
    /// Client key file.
    pub key_file: Option<PathBuf>,
    /// Keepalive.
    pub keepalive: Duration,
    /// Telemetry QoS.
    pub qos: u8,
    /// Telemetry period.
    pub publish_period: Duration,
    /// Topic root with the VIN filled in.
    pub topic_root: String,
    /// The topic root before `{vin}` was filled in.
    pub topic_template: String,
    /// Telemetry layout.
    pub profile: Profile,
    /// Outbox directory.
    pub outbox_dir: PathBuf,
    /// Outbox size limit, bytes.
    pub outbox_max_bytes: u64,
    /// Which remote commands pass, and how many.
    pub commands: crate::policy::CommandPolicy,
}

impl MqttConfig {
    /// The same settings for another vehicle: `{vin}` in the topic root and
    /// the client id filled in with `vin`, the outbox in `outbox_dir`.
    pub fn for_vin(&self, vin: &str, outbox_dir: PathBuf) -> MqttConfig {
        MqttConfig {
            client_id: self.client_id_template.replace("{vin}", vin),
            topic_root: self.topic_template.replace("{vin}", vin),
            outbox_dir,
            ..self.clone()
        }
    }
}

impl Layered {
    /// Merges layer `name` over the layers merged so far, remembering which
    /// layer set each field.
    pub fn merge(&mut self, name: &str, from: RawMqtt) {
        macro_rules! take {
            ($($f:ident),*) => {$(
                if let Some(v) = from.$f { self.$f = Some((name.to_owned(), v)); }
            )*};
        }
        take!(
            enabled,
            broker,
            embedded_listen,
            client_id,
            username,
            password,
            ca_file,
            cert_file,
            key_file,
            keepalive,
            qos,
            publish_period,
            topic_root,
            profile,
            outbox_dir,
            outbox_max_bytes,
            commands,
            command_limit,
            command_window
        );
    }

    /// Puts the broker and profile overrides of layer `name`
    /// (`environment`, `command line`) over the layers merged so far.
    pub fn apply(&mut self, name: &str, broker: Option<String>, profile: Option<Profile>) {
        if let Some(b) = broker {
            self.broker = Some((name.to_owned(), b));
        }
        if let Some(p) = profile {
            self.profile = Some((name.to_owned(), p));
        }
    }
}

/// Each field with the name of the layer that set it.
#[derive(Debug, Default)]
pub struct Layered {
    enabled: Option<(String, bool)>,
    broker: Option<(String, String)>,
    embedded_listen: Option<(String, String)>,
    client_id: Option<(String, String)>,
    username: Option<(String, String)>,
    password: Option<(String, String)>,
    ca_file: Option<(String, PathBuf)>,
    cert_file: Option<(String, PathBuf)>,
    key_file: Option<(String, PathBuf)>,
    keepalive: Option<(String, String)>,
    qos: Option<(String, u8)>,
    publish_period: Option<(String, String)>,
    topic_root: Option<(String, String)>,
    profile: Option<(String, Profile)>,
    outbox_dir: Option<(String, PathBuf)>,
    outbox_max_bytes: Option<(String, u64)>,
    commands: Option<(String, Vec<String>)>,
    command_limit: Option<(String, u32)>,
    command_window: Option<(String, String)>,
}

fn invalid(src: &str, field: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        source_name: src.to_owned(),
        field: format!("mqtt.{field}"),
        message,
    }
}

fn duration(
    v: Option<(String, String)>,
    field: &str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    duration_field(v, &format!("mqtt.{field}"), default, true)
}

fn non_empty<T>(v: Option<(String, T)>, empty: impl Fn(&T) -> bool) -> Option<(String, T)> {
    v.filter(|(_, x)| !empty(x))
}

impl Layered {
    /// Validates and fills in defaults.
    pub fn resolve(self, vin: &str) -> Result<MqttConfig, ConfigError> {
        let broker = non_empty(self.broker, |s: &String| s.trim().is_empty());
        if let Some((src, url)) = &broker {
            BrokerUrl::parse(url).map_err(|e| invalid(src, "broker", e.to_string()))?;
        }
        let (listen_src, listen) = self
            .embedded_listen
            .unwrap_or(("<default>".into(), "127.0.0.1:1883".into()));
        let embedded_listen: SocketAddr = listen
            .parse()
            .map_err(|e| invalid(&listen_src, "embedded_listen", format!("`{listen}`: {e}")))?;
        let qos = match self.qos {
            None => 1,
            Some((_, q @ (0 | 1))) => q,
            Some((src, q)) => {
                return Err(invalid(
                    &src,
                    "qos",
                    format!("{q}: telemetry QoS is 0 or 1"),
                ));
            }
        };
        let (root_src, root) = self
            .topic_root
            .unwrap_or(("<default>".into(), "vehicle/{vin}".into()));
        let topic_root = root.replace("{vin}", vin);
        if topic_root.is_empty() || topic_root.contains(['+', '#']) || topic_root.ends_with('/') {
            return Err(invalid(
                &root_src,
                "topic_root",
                format!(
                    "`{root}`: a topic root is non-empty, has no wildcards and no trailing `/`"
                ),
            ));
        }
        let cert_file = self.cert_file.filter(|(_, p)| !p.as_os_str().is_empty());
        let key_file = self.key_file.filter(|(_, p)| !p.as_os_str().is_empty());
        match (&cert_file, &key_file) {
            (Some((src, _)), None) => {
                return Err(invalid(
                    src,
                    "cert_file",
                    "a client certificate needs `mqtt.key_file` too".into(),
                ));
            }
            (None, Some((src, _))) => {
                return Err(invalid(
                    src,
                    "key_file",
                    "a client key needs `mqtt.cert_file` too".into(),
                ));
            }
            _ => {}
        }
        let (max_src, max) = self
            .outbox_max_bytes
            .unwrap_or(("<default>".into(), 64 << 20));
        if max < 64 << 10 {
            let src = max_src;
            return Err(invalid(
                &src,
                "outbox_max_bytes",
                format!("{max} is below the minimum of 65536"),
            ));
        }
        let allowed = match self.commands {
            None => crate::policy::Allowed::default(),
            Some((src, list)) => {
                crate::policy::Allowed::parse(&list).map_err(|e| invalid(&src, "commands", e))?
            }
        };
        let window = duration(
            self.command_window,
            "command_window",
            Duration::from_secs(10),
        )?;
        let commands = crate::policy::CommandPolicy {
            allowed,
            rate: match self.command_limit {
                None | Some((_, 0)) => None,
                Some((_, limit)) => Some(crate::policy::RateLimit { limit, window }),
            },
        };
        let client_id_template = non_empty(self.client_id, |s: &String| s.is_empty())
            .map_or_else(|| "tcu-{vin}".to_owned(), |(_, c)| c);
        Ok(MqttConfig {
            enabled: self.enabled.is_none_or(|(_, e)| e),
            broker: broker.map(|(_, b)| b),
            embedded_listen,
            client_id: client_id_template.replace("{vin}", vin),
            client_id_template,
            username: non_empty(self.username, |s: &String| s.is_empty()).map(|(_, u)| u),
            password: self.password.map(|(_, p)| p),
            ca_file: self
                .ca_file
                .filter(|(_, p)| !p.as_os_str().is_empty())
                .map(|(_, p)| p),
            cert_file: cert_file.map(|(_, p)| p),
            key_file: key_file.map(|(_, p)| p),
            keepalive: duration(self.keepalive, "keepalive", Duration::from_secs(30))?,
            qos,
            publish_period: duration(
                self.publish_period,
                "publish_period",
                Duration::from_secs(1),
            )?,
            topic_root,
            topic_template: root,
            profile: self.profile.map(|(_, p)| p).unwrap_or_default(),
            outbox_dir: non_empty(self.outbox_dir, |p: &PathBuf| p.as_os_str().is_empty())
                .map_or_else(
                    || std::env::temp_dir().join(format!("tcu-outbox-{vin}")),
                    |(_, p)| p,
                ),
            outbox_max_bytes: max,
            commands,
        })
    }
}
