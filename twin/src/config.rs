//! `tcu-twin serve`'s configuration: the default TOML embedded in the
//! binary ([`DEFAULT_TOML`], printed by `tcu-twin config generate`), an
//! optional file on top, then `TCU_TWIN_*` environment variables, then
//! command-line flags. Every layer may set any field and the last one
//! wins; an error names the layer (file, `environment`, `command line`)
//! and the field (`http.listen`).
//!
//! Each layer is checked on its own against the schema (unknown or mistyped
//! fields fail with the file's line), then the layers are merged as TOML
//! tables, remembering which layer set each field.

use crate::TwinError;
use crate::clock::Millis;
use crate::doc::Settings;
use crate::ingest::TopicScheme;
use crate::store::postgres::{PgTarget, is_url, redact};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use tcu_engine::broker_url::BrokerUrl;
use tcu_engine::config::{ConfigError, DEFAULT_LAYER, duration_field, parse_layer};

/// The default configuration, as shipped.
pub const DEFAULT_TOML: &str = include_str!("../config/twin.toml");

/// Shortest bearer token accepted: a guessable one protects nothing.
pub const MIN_TOKEN_LEN: usize = 16;

/// `[ingest]` as a layer writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIngest {
    broker: Option<String>,
    client_id: Option<String>,
    username: Option<String>,
    password: Option<String>,
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    keepalive: Option<String>,
    topic_root: Option<String>,
    share_group: Option<String>,
    nats: Option<String>,
    max_payload_bytes: Option<u64>,
    max_vehicles: Option<u64>,
}

/// `[twin]` as a layer writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTwin {
    command_timeout: Option<String>,
    stale_periods: Option<u32>,
    publish_period: Option<String>,
    events_kept: Option<u64>,
}

/// `[store]` as a layer writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    path: Option<PathBuf>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    sync_interval: Option<String>,
    retention: Option<String>,
    batch_max: Option<u64>,
    flush_interval: Option<String>,
    checkpoint_interval: Option<String>,
}

/// `[http]` as a layer writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    listen: Option<String>,
    read_tokens: Option<Vec<String>>,
    write_tokens: Option<Vec<String>>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_body_bytes: Option<u64>,
}

/// `[vet]` as a layer writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVet {
    current_dir: Option<PathBuf>,
    tolerances: Option<PathBuf>,
    max_upload_bytes: Option<u64>,
    jobs_kept: Option<u64>,
    queue: Option<u64>,
}

/// One layer.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    ingest: RawIngest,
    #[serde(default)]
    twin: RawTwin,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    vet: RawVet,
}

/// The resolved `[ingest]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestConfig {
    /// Broker.
    pub broker: BrokerUrl,
    /// Client id.
    pub client_id: String,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// CA certificate.
    pub ca_file: Option<PathBuf>,
    /// Client certificate.
    pub cert_file: Option<PathBuf>,
    /// Client key.
    pub key_file: Option<PathBuf>,
    /// Keepalive.
    pub keepalive: Duration,
    /// Topic root.
    pub topics: TopicScheme,
    /// The template as written.
    pub topic_root: String,
    /// Shared-subscription group.
    pub share_group: Option<String>,
    /// NATS server (`nats://host:port`) that carries telemetry and events
    /// through a JetStream durable consumer instead of
    /// MQTT subscriptions (for a NATS cluster, which does not deliver to
    /// `$share` subscriptions).
    pub nats: Option<String>,
    /// Payload size limit.
    pub max_payload_bytes: usize,
    /// Documents kept at most.
    pub max_vehicles: usize,
}

/// Where the history is.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreLocation {
    /// An SQLite file of this twin's own.
    Sqlite(PathBuf),
    /// A PostgreSQL database several twins may share.
    Postgres(PgTarget),
}

impl StoreLocation {
    /// For logs and errors: the path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(p) => p.display().to_string(),
            Self::Postgres(t) => crate::store::postgres::redact(&t.url),
        }
    }
}

/// The resolved `[store]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// SQLite file or PostgreSQL database.
    pub location: StoreLocation,
    /// How often the checkpoints of the other twins on a shared store are
    /// read and merged.
    pub sync_interval: Duration,
    /// Retention.
    pub retention: Duration,
    /// Records per transaction.
    pub batch_max: usize,
    /// Gathering time of a batch.
    pub flush_interval: Duration,
    /// Document checkpoint period.
    pub checkpoint_interval: Duration,
}

/// The resolved `[http]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Read-only tokens.
    pub read_tokens: Vec<String>,
    /// Read-write tokens.
    pub write_tokens: Vec<String>,
    /// Certificate chain and key for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Body size limit.
    pub max_body_bytes: usize,
}

/// The resolved `[vet]` section: vetting candidate libraries against the
/// stored captures (`POST /api/vet`).
#[derive(Debug, Clone, PartialEq)]
pub struct VetConfig {
    /// The plugin libraries the fleet runs (as `tcu run`'s plugin
    /// directory); vetting is off without it.
    pub current_dir: Option<PathBuf>,
    /// A tolerance file (`tcu vet --tolerances`).
    pub tolerances: Option<PathBuf>,
    /// Largest candidate library taken.
    pub max_upload_bytes: usize,
    /// Finished jobs kept (the oldest forgotten first).
    pub jobs_kept: usize,
    /// Jobs waiting at most; beyond, a submission is refused.
    pub queue: usize,
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct TwinConfig {
    /// The broker connection.
    pub ingest: IngestConfig,
    /// The documents.
    pub twin: Settings,
    /// The history.
    pub store: StoreConfig,
    /// The API.
    pub http: HttpConfig,
    /// Vetting jobs.
    pub vet: VetConfig,
}

/// Overrides from the environment or the command line.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Overrides {
    /// `ingest.broker`
    pub broker: Option<String>,
    /// `store.path`
    pub db: Option<PathBuf>,
    /// `store.password` (environment only: never on a command line)
    pub db_password: Option<String>,
    /// `http.listen`
    pub http: Option<String>,
    /// `ingest.topic_root`
    pub topic_root: Option<String>,
    /// `ingest.share_group`
    pub share_group: Option<String>,
    /// `ingest.nats`
    pub nats: Option<String>,
    /// `ingest.client_id`
    pub client_id: Option<String>,
    /// `http.read_tokens`
    pub read_tokens: Option<Vec<String>>,
    /// `http.write_tokens`
    pub write_tokens: Option<Vec<String>>,
}

fn token_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Overrides {
    /// `TCU_TWIN_BROKER`, `_DB`, `_DB_PASSWORD`, `_HTTP`, `_TOPIC_ROOT`,
    /// `_SHARE_GROUP`, `_NATS`, `_CLIENT_ID`, `_READ_TOKENS`, `_WRITE_TOKENS`
    /// through `get`.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            broker: get("TCU_TWIN_BROKER"),
            db: get("TCU_TWIN_DB").map(PathBuf::from),
            db_password: get("TCU_TWIN_DB_PASSWORD"),
            http: get("TCU_TWIN_HTTP"),
            topic_root: get("TCU_TWIN_TOPIC_ROOT"),
            share_group: get("TCU_TWIN_SHARE_GROUP"),
            nats: get("TCU_TWIN_NATS"),
            client_id: get("TCU_TWIN_CLIENT_ID"),
            read_tokens: get("TCU_TWIN_READ_TOKENS").map(|s| token_list(&s)),
            write_tokens: get("TCU_TWIN_WRITE_TOKENS").map(|s| token_list(&s)),
        }
    }

    fn fields(&self) -> Vec<(&'static str, &'static str, toml::Value)> {
        let s = |v: &String| toml::Value::String(v.clone());
        let list = |v: &Vec<String>| toml::Value::Array(v.iter().map(s).collect());
        let mut out = Vec::new();
        let mut put = |sec, key, v: Option<toml::Value>| {
            if let Some(v) = v {
                out.push((sec, key, v));
            }
        };
        put("ingest", "broker", self.broker.as_ref().map(s));
        put(
            "store",
            "path",
            self.db
                .as_ref()
                .map(|p| toml::Value::String(p.display().to_string())),
        );
        put("store", "password", self.db_password.as_ref().map(s));
        put("http", "listen", self.http.as_ref().map(s));
        put("ingest", "topic_root", self.topic_root.as_ref().map(s));
        put("ingest", "share_group", self.share_group.as_ref().map(s));
        put("ingest", "nats", self.nats.as_ref().map(s));
        put("ingest", "client_id", self.client_id.as_ref().map(s));
        put("http", "read_tokens", self.read_tokens.as_ref().map(list));
        put("http", "write_tokens", self.write_tokens.as_ref().map(list));
        out
    }
}

/// The merged layers and who set each field (`section.field` → layer).
#[derive(Debug, Default)]
struct Merged {
    table: toml::Table,
    source: BTreeMap<String, String>,
}

impl Merged {
    fn layer(&mut self, name: &str, text: &str) -> Result<(), ConfigError> {
        // Checked alone first, so a bad field is reported with its line.
        let _: RawConfig = parse_layer(name, text)?;
        let t: toml::Table = parse_layer(name, text)?;
        for (sec, v) in t {
            if let toml::Value::Table(fields) = v {
                for (k, v) in fields {
                    self.set(name, &sec, &k, v);
                }
            }
        }
        Ok(())
    }

    fn set(&mut self, layer: &str, sec: &str, key: &str, v: toml::Value) {
        let entry = self
            .table
            .entry(sec.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = entry {
            t.insert(key.to_owned(), v);
        }
        self.source.insert(format!("{sec}.{key}"), layer.to_owned());
    }

    fn src(&self, field: &str) -> String {
        self.source
            .get(field)
            .cloned()
            .unwrap_or_else(|| DEFAULT_LAYER.to_owned())
    }
}

impl TwinConfig {
    /// The default, `file`, the process environment and `cli`, layered.
    pub fn load(file: Option<&Path>, cli: &Overrides) -> Result<Self, TwinError> {
        let env = Overrides::from_env(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
        Self::build(file, &env, cli)
    }

    /// As [`TwinConfig::load`] with the environment given.
    pub fn build(file: Option<&Path>, env: &Overrides, cli: &Overrides) -> Result<Self, TwinError> {
        let mut m = Merged::default();
        m.layer(DEFAULT_LAYER, DEFAULT_TOML)?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            m.layer(&path.display().to_string(), &text)?;
        }
        for (name, o) in [("environment", env), ("command line", cli)] {
            for (sec, key, v) in o.fields() {
                m.set(name, sec, key, v);
            }
        }
        let raw: RawConfig =
            toml::Value::Table(m.table.clone())
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    source_name: "merged configuration".into(),
                    message: e.to_string(),
                })?;
        Ok(resolve(raw, &m)?)
    }
}

fn invalid(m: &Merged, field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::invalid(&m.src(field), field, message)
}

fn duration(m: &Merged, field: &str, v: Option<String>) -> Result<Duration, ConfigError> {
    let text = v.ok_or_else(|| invalid(m, field, "missing"))?;
    duration_field(Some((m.src(field), text)), field, Duration::ZERO, true)
}

fn ms(d: Duration) -> Millis {
    crate::clock::duration_ms(d)
}

fn positive(m: &Merged, field: &str, v: Option<u64>) -> Result<usize, ConfigError> {
    match v {
        Some(n) if n > 0 => usize::try_from(n).map_err(|_| invalid(m, field, "too large")),
        _ => Err(invalid(m, field, "must be above zero")),
    }
}

/// `host:port` of a `nats://host[:port]` URL (port 4222 by default).
pub fn nats_address(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("nats://")
        .ok_or_else(|| format!("`{url}` is not a nats://host[:port] URL"))?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains(['/', '@', ' ']) {
        return Err(format!("`{url}` is not a nats://host[:port] URL"));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => port
            .parse::<u16>()
            .map(|p| format!("{host}:{p}"))
            .map_err(|_| format!("`{url}`: port `{port}` is not a number from 0 to 65535")),
        Some(_) => Err(format!("`{url}` has no host")),
        None => Ok(format!("{rest}:4222")),
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// An SQLite path, or a `postgres://` URL with its password from
/// `store.password` (the environment), else `store.password_file`, else
/// the URL itself.
fn store_location(
    m: &Merged,
    path: PathBuf,
    password: Option<String>,
    password_file: Option<PathBuf>,
) -> Result<StoreLocation, ConfigError> {
    let text = path.to_string_lossy();
    if !is_url(&text) {
        for (field, set) in [
            ("store.password", password.is_some()),
            ("store.password_file", password_file.is_some()),
        ] {
            if set {
                return Err(invalid(
                    m,
                    field,
                    "set for an SQLite store (only a postgres:// URL takes a password)",
                ));
            }
        }
        return Ok(StoreLocation::Sqlite(path));
    }
    let password = match (password.filter(|p| !p.is_empty()), password_file) {
        (Some(p), _) => Some(p),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                invalid(m, "store.password_file", format!("{}: {e}", file.display()))
            })?;
            // A file written by `echo` ends in a newline that is not
            // part of the password.
            Some(text.trim_end_matches(['\n', '\r']).to_owned())
        }
        (None, None) => None,
    };
    let target = PgTarget {
        url: text.into_owned(),
        password,
    };
    target
        .config()
        .map_err(|e| invalid(m, "store.path", format!("{}: {e}", redact(&target.url))))?;
    Ok(StoreLocation::Postgres(target))
}

fn resolve(raw: RawConfig, m: &Merged) -> Result<TwinConfig, ConfigError> {
    let i = raw.ingest;
    let broker_text = i.broker.unwrap_or_default();
    let broker =
        BrokerUrl::parse(&broker_text).map_err(|e| invalid(m, "ingest.broker", e.to_string()))?;
    let client_id = non_empty(i.client_id)
        .ok_or_else(|| invalid(m, "ingest.client_id", "must not be empty"))?;
    let topic_root = i.topic_root.unwrap_or_default();
    let topics = TopicScheme::new(&topic_root).map_err(|e| invalid(m, "ingest.topic_root", e))?;
    let share_group = non_empty(i.share_group);
    if let Some(g) = &share_group
        && g.contains(['/', '+', '#'])
    {
        return Err(invalid(
            m,
            "ingest.share_group",
            format!("`{g}` may not contain `/`, `+` or `#`"),
        ));
    }
    let nats = non_empty(i.nats);
    if let Some(n) = &nats {
        nats_address(n).map_err(|e| invalid(m, "ingest.nats", e))?;
    }
    match (&i.cert_file, &i.key_file) {
        (Some(_), None) => {
            return Err(invalid(
                m,
                "ingest.cert_file",
                "set without ingest.key_file",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                m,
                "ingest.key_file",
                "set without ingest.cert_file",
            ));
        }
        _ => {}
    }
    if broker.tls && i.ca_file.is_none() {
        return Err(ConfigError::invalid(
            &m.src("ingest.broker"),
            "ingest.ca_file",
            "mqtts:// needs the CA that signed the broker's certificate",
        ));
    }
    let max_payload_bytes = positive(m, "ingest.max_payload_bytes", i.max_payload_bytes)?;
    let least = crate::capture::MIN_PAYLOAD_LIMIT;
    if max_payload_bytes < least {
        return Err(invalid(
            m,
            "ingest.max_payload_bytes",
            format!(
                "{max_payload_bytes} is below {least}: a capture chunk (32 KiB of a capture file as JSON) must fit"
            ),
        ));
    }
    let ingest = IngestConfig {
        broker,
        client_id,
        username: non_empty(i.username),
        password: i.password,
        ca_file: i.ca_file,
        cert_file: i.cert_file,
        key_file: i.key_file,
        keepalive: duration(m, "ingest.keepalive", i.keepalive)?.max(Duration::from_secs(1)),
        topics,
        topic_root,
        share_group,
        nats,
        max_payload_bytes,
        max_vehicles: positive(m, "ingest.max_vehicles", i.max_vehicles)?,
    };
    let t = raw.twin;
    let stale_periods = t
        .stale_periods
        .filter(|&n| n > 0)
        .ok_or_else(|| invalid(m, "twin.stale_periods", "must be above zero"))?;
    let twin = Settings {
        command_timeout_ms: ms(duration(m, "twin.command_timeout", t.command_timeout)?),
        stale_periods,
        default_period_ms: ms(duration(m, "twin.publish_period", t.publish_period)?),
        events_kept: usize::try_from(t.events_kept.unwrap_or(0)).unwrap_or(usize::MAX),
        shared: ingest.share_group.is_some(),
    };
    let s = raw.store;
    let path = s
        .path
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| invalid(m, "store.path", "must not be empty"))?;
    let location = store_location(m, path, s.password, s.password_file)?;
    let store = StoreConfig {
        location,
        sync_interval: duration(m, "store.sync_interval", s.sync_interval)?
            .max(Duration::from_millis(10)),
        retention: duration(m, "store.retention", s.retention)?,
        batch_max: positive(m, "store.batch_max", s.batch_max)?,
        flush_interval: duration(m, "store.flush_interval", s.flush_interval)?,
        checkpoint_interval: duration(m, "store.checkpoint_interval", s.checkpoint_interval)?,
    };
    let h = raw.http;
    let listen_text = h.listen.unwrap_or_default();
    let listen: SocketAddr = listen_text.parse().map_err(|e| {
        invalid(
            m,
            "http.listen",
            format!("`{listen_text}`: {e} (expected IP:port)"),
        )
    })?;
    let read_tokens = h.read_tokens.unwrap_or_default();
    let write_tokens = h.write_tokens.unwrap_or_default();
    for (field, list) in [
        ("http.read_tokens", &read_tokens),
        ("http.write_tokens", &write_tokens),
    ] {
        if let Some(n) = list.iter().position(|t| t.len() < MIN_TOKEN_LEN) {
            // The token itself is never printed.
            return Err(invalid(
                m,
                field,
                format!(
                    "token #{} is shorter than {MIN_TOKEN_LEN} characters",
                    n + 1
                ),
            ));
        }
    }
    if !listen.ip().is_loopback() && read_tokens.is_empty() && write_tokens.is_empty() {
        return Err(invalid(
            m,
            "http.listen",
            format!(
                "{listen} is not a loopback address; the twin commands vehicles, so it listens elsewhere \
                 only with http.read_tokens or http.write_tokens set"
            ),
        ));
    }
    let tls = match (h.tls_cert, h.tls_key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => return Err(invalid(m, "http.tls_cert", "set without http.tls_key")),
        (None, Some(_)) => return Err(invalid(m, "http.tls_key", "set without http.tls_cert")),
    };
    let http = HttpConfig {
        listen,
        read_tokens,
        write_tokens,
        tls,
        max_body_bytes: positive(m, "http.max_body_bytes", h.max_body_bytes)?,
    };
    let v = raw.vet;
    let vet = VetConfig {
        current_dir: v.current_dir.filter(|p| !p.as_os_str().is_empty()),
        tolerances: v.tolerances.filter(|p| !p.as_os_str().is_empty()),
        max_upload_bytes: positive(m, "vet.max_upload_bytes", v.max_upload_bytes)?,
        jobs_kept: positive(m, "vet.jobs_kept", v.jobs_kept)?,
        queue: positive(m, "vet.queue", v.queue)?,
    };
    Ok(TwinConfig {
        ingest,
        twin,
        store,
        http,
        vet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(file: &str, env: Overrides, cli: Overrides) -> Result<TwinConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("twin.toml");
        std::fs::write(&path, file).unwrap();
        TwinConfig::build(Some(&path), &env, &cli).map_err(|e| e.to_string())
    }

    #[test]
    fn a_capture_chunk_of_the_largest_size_fits_the_default_payload_limit() {
        use crate::capture::{MAX_CAPTURE_BYTES, MAX_CHUNK_DATA, chunk};
        // Newlines are the only characters of a trace JSON escapes: the
        // worst case is a piece of them all.
        let data = "\n".repeat(MAX_CHUNK_DATA);
        let p = serde_json::json!({"id": "0".repeat(64), "rule": "Vehicle.Speed > 130",
            "trigger_tick": u64::MAX, "trigger_t": 1e300, "bytes": MAX_CAPTURE_BYTES,
            "chunk": 2047, "chunks": 2048, "data": data})
        .to_string();
        let limit = TwinConfig::build(None, &Overrides::default(), &Overrides::default())
            .unwrap()
            .ingest
            .max_payload_bytes;
        assert!(p.len() <= limit, "{} > {limit}", p.len());
        assert!(chunk(p.as_bytes(), "WTCUZ000000000001", limit).is_ok());
        // Nor may a configuration lower the limit below such a chunk.
        assert!(p.len() <= crate::capture::MIN_PAYLOAD_LIMIT);
        let e = build(
            "[ingest]\nmax_payload_bytes = 4096\n",
            Overrides::default(),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(
            e.contains("ingest.max_payload_bytes") && e.contains("capture chunk"),
            "{e}"
        );
    }

    #[test]
    fn vetting_is_off_by_default_and_its_limits_must_be_above_zero() {
        let c = build("", Overrides::default(), Overrides::default()).unwrap();
        assert_eq!(c.vet.current_dir, None);
        assert_eq!((c.vet.jobs_kept, c.vet.queue), (100, 8));
        let c = build(
            "[vet]\ncurrent_dir = \"/opt/plugins\"\ntolerances = \"tol.toml\"\n",
            Overrides::default(),
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.vet.current_dir, Some(PathBuf::from("/opt/plugins")));
        assert_eq!(c.vet.tolerances, Some(PathBuf::from("tol.toml")));
        let e = build(
            "[vet]\nqueue = 0\n",
            Overrides::default(),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains("vet.queue"), "{e}");
        let e = build(
            "[vet]\nlimit = 1\n",
            Overrides::default(),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains("limit"), "{e}");
    }

    #[test]
    fn the_default_works_on_a_fresh_machine_next_to_tcu_run() {
        let c = TwinConfig::build(None, &Overrides::default(), &Overrides::default()).unwrap();
        assert_eq!(
            c.ingest.broker,
            BrokerUrl {
                host: "127.0.0.1".into(),
                port: 1883,
                tls: false
            }
        );
        assert_eq!(
            c.store.location,
            StoreLocation::Sqlite(PathBuf::from("tcu-twin.db"))
        );
        assert!(c.http.listen.ip().is_loopback());
        assert_eq!(c.store.retention, Duration::from_secs(7 * 86_400));
        assert_eq!(c.twin.command_timeout_ms, 10_000);
        assert_eq!(c.twin.stale_periods, 3);
        assert!(c.ingest.share_group.is_none() && !c.twin.shared);
    }

    #[test]
    fn layers_apply_in_order_file_environment_command_line() {
        let file = "[ingest]\nbroker = \"mqtt://file:1\"\nshare_group = \"g\"\n[store]\npath = \"file.db\"\n[http]\nlisten = \"127.0.0.1:1\"\n";
        let env = Overrides {
            broker: Some("mqtt://env:2".into()),
            db: Some("env.db".into()),
            ..Default::default()
        };
        let cli = Overrides {
            broker: Some("mqtt://cli:3".into()),
            ..Default::default()
        };
        let c = build(file, env, cli).unwrap();
        assert_eq!(c.ingest.broker.host, "cli");
        assert_eq!(c.store.location, StoreLocation::Sqlite("env.db".into()));
        assert_eq!(c.http.listen.port(), 1);
        assert_eq!(c.ingest.share_group.as_deref(), Some("g"));
        assert!(c.twin.shared);
    }

    #[test]
    fn errors_name_the_layer_and_the_field() {
        let cases = [
            (
                "[twin]\ncommand_timeout = \"soon\"\n",
                "twin.command_timeout",
            ),
            ("[ingest]\nbroker = \"http://x\"\n", "ingest.broker"),
            ("[ingest]\ntopic_root = \"vehicle\"\n", "ingest.topic_root"),
            ("[ingest]\nshare_group = \"a/b\"\n", "ingest.share_group"),
            ("[store]\nbatch_max = 0\n", "store.batch_max"),
            ("[http]\nlisten = \"localhost\"\n", "http.listen"),
            ("[http]\nread_tokens = [\"short\"]\n", "http.read_tokens"),
            ("[http]\ntls_cert = \"c.pem\"\n", "http.tls_cert"),
            ("[ingest]\nbroker = \"mqtts://x\"\n", "ingest.ca_file"),
        ];
        for (file, field) in cases {
            let e = build(file, Overrides::default(), Overrides::default()).unwrap_err();
            assert!(e.contains(field) && e.contains("twin.toml"), "{file}: {e}");
        }
        let e = build(
            "[http]\nlisten = 5\n",
            Overrides::default(),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains("twin.toml") && e.contains("listen"), "{e}");
        let e = build("[nope]\n", Overrides::default(), Overrides::default()).unwrap_err();
        assert!(e.contains("nope"), "{e}");
        let cli = Overrides {
            http: Some("bad".into()),
            ..Default::default()
        };
        let e = build("", Overrides::default(), cli).unwrap_err();
        assert!(
            e.contains("command line") && e.contains("http.listen"),
            "{e}"
        );
    }

    #[test]
    fn a_non_loopback_listener_needs_tokens_and_never_prints_them() {
        let e = build(
            "[http]\nlisten = \"0.0.0.0:8080\"\n",
            Overrides::default(),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(
            e.contains("http.listen") && e.contains("not a loopback"),
            "{e}"
        );
        let env = Overrides {
            write_tokens: Some(vec!["0123456789abcdef-secret".into()]),
            ..Default::default()
        };
        let c = build(
            "[http]\nlisten = \"0.0.0.0:8080\"\n",
            env,
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.http.write_tokens.len(), 1);
        let env = Overrides {
            read_tokens: Some(vec!["tiny-secret".into()]),
            ..Default::default()
        };
        let e = build("", env, Overrides::default()).unwrap_err();
        assert!(!e.contains("tiny-secret"), "{e}");
    }

    #[test]
    fn a_postgres_url_selects_postgresql_with_the_password_from_the_environment_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "from-file\n").unwrap();
        let file = format!(
            "[store]\npath = \"postgres://tcu@db:5433/fleet\"\npassword_file = \"{}\"\n",
            pw.display()
        );
        let c = build(&file, Overrides::default(), Overrides::default()).unwrap();
        let StoreLocation::Postgres(t) = &c.store.location else {
            panic!("{:?}", c.store.location)
        };
        assert_eq!(
            (t.url.as_str(), t.password.as_deref()),
            ("postgres://tcu@db:5433/fleet", Some("from-file"))
        );
        let env = Overrides::from_env(|k| (k == "TCU_TWIN_DB_PASSWORD").then(|| "from-env".into()));
        let c = build(&file, env, Overrides::default()).unwrap();
        let StoreLocation::Postgres(t) = &c.store.location else {
            panic!()
        };
        assert_eq!(t.password.as_deref(), Some("from-env"));
        assert!(
            !format!("{c:?}").contains("from-env"),
            "Debug shows no password"
        );
        let e = build(
            "[store]\npath = \"x.db\"\npassword_file = \"pw\"\n",
            Overrides::default(),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(
            e.contains("store.password_file") && e.contains("SQLite"),
            "{e}"
        );
        let e = build(
            "[store]\npath = \"postgres://u:secret@h:nope/d\"\n",
            Overrides::default(),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains("store.path") && !e.contains("secret"), "{e}");
        let e = build(
            "[store]\npath = \"postgres://h/d\"\npassword_file = \"/nonexistent/pw\"\n",
            Overrides::default(),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(
            e.contains("store.password_file") && e.contains("/nonexistent/pw"),
            "{e}"
        );
    }

    #[test]
    fn the_environment_reads_token_lists() {
        let o = Overrides::from_env(|k| match k {
            "TCU_TWIN_READ_TOKENS" => Some(" a , b,,".into()),
            "TCU_TWIN_DB" => Some("x.db".into()),
            _ => None,
        });
        assert_eq!(o.read_tokens, Some(vec!["a".into(), "b".into()]));
        assert_eq!(o.db, Some(PathBuf::from("x.db")));
    }

    #[test]
    fn broker_urls_parse_with_default_ports_and_say_why_not() {
        let u = BrokerUrl::parse("mqtts://[::1]").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.tls), ("::1", 8883, true));
        assert_eq!(BrokerUrl::parse("tcp://h:1884/").unwrap().port, 1884);
        for (url, why) in [
            ("h:1", "expected mqtt://"),
            ("mqtt://:1", "no host"),
            ("mqtt://h:0", "not a port"),
            ("mqtt://u@h", "only host"),
        ] {
            let e = BrokerUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(url), "{url}: {e}");
        }
    }
}
