//! Turning the `[mqtt]` configuration into rumqttc options: the broker URL
//! (`mqtt://`, `mqtts://`), credentials, keepalive, the last will, and TLS
//! with a custom CA and an optional client certificate (the X.509 mutual
//! TLS AWS IoT Core uses), and the client's window sizes.
//!
//! TLS goes through rustls with the ring provider, given explicitly, so no
//! process-wide crypto provider has to be installed. Without `ca_file` the
//! platform's root store is not consulted: an `mqtts://` link to a public
//! broker names its CA file, which keeps the trust decision in the
//! configuration rather than in whatever the host happens to have.

pub use crate::url::BrokerUrl;

use crate::config::MqttConfig;
use crate::error::MqttError;
use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// Messages handed to the client and not yet complete, at most (rumqttc's
/// inflight window).
pub const WINDOW: usize = 100;
/// Capacity of rumqttc's request channel (`docs/ARCHITECTURE.md`, measured
/// limits: it is the `cap` argument of `AsyncClient::new`, and 10 costs
/// throughput).
pub const REQUEST_CAP: usize = 1000;

/// Largest packet the client sends or accepts. Telemetry snapshots are a
/// few KiB; rumqttc's default of 10 KiB would cut a larger catalog off.
/// Commands above the command limit are rejected by the TCU, not by the
/// protocol layer (which would drop the connection instead).
pub const MAX_PACKET_BYTES: usize = 1 << 20;

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, MqttError> {
    std::fs::read(path).map_err(|e| MqttError::Tls {
        path: path.to_owned(),
        what,
        reason: e.to_string(),
    })
}

fn certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, MqttError> {
    let bytes = read(path, what)?;
    let bad = |reason: String| MqttError::Tls {
        path: path.to_owned(),
        what,
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

/// Builds the rustls client configuration: trust `ca_file` only, present
/// `cert_file` + `key_file` when both are set.
pub fn tls_config(
    ca_file: Option<&Path>,
    cert_file: Option<&Path>,
    key_file: Option<&Path>,
) -> Result<rustls::ClientConfig, MqttError> {
    let ca_file = ca_file.ok_or(MqttError::NoCa)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs(ca_file, "CA certificate")? {
        roots.add(cert).map_err(|e| MqttError::Tls {
            path: ca_file.to_owned(),
            what: "CA certificate",
            reason: e.to_string(),
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::Tls {
            path: ca_file.to_owned(),
            what: "TLS setup",
            reason: e.to_string(),
        })?
        .with_root_certificates(roots);
    match (cert_file, key_file) {
        (Some(cert), Some(key)) => {
            let chain = certs(cert, "client certificate")?;
            let key_bytes = read(key, "client key")?;
            let key_der =
                PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| MqttError::Tls {
                    path: key.to_owned(),
                    what: "client key",
                    reason: format!("no PEM private key: {e}"),
                })?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| MqttError::Tls {
                    path: cert.to_owned(),
                    what: "client certificate",
                    reason: e.to_string(),
                })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// The retained `offline` status as a last will on `status_topic`.
pub fn status_will(status_topic: &str, offline_payload: Vec<u8>) -> LastWill {
    LastWill::new(status_topic, offline_payload, QoS::AtLeastOnce, true)
}

/// rumqttc options for `config` connecting to `url`, with `will` as the
/// last will (see [`status_will`]; `None` for a broker inside this
/// process, which could never deliver it).
pub fn mqtt_options(
    config: &MqttConfig,
    url: &BrokerUrl,
    will: Option<LastWill>,
) -> Result<MqttOptions, MqttError> {
    let mut o = MqttOptions::new(config.client_id.clone(), url.host.clone(), url.port);
    o.set_keep_alive(config.keepalive.max(std::time::Duration::from_secs(1)));
    // The outbox owns delivery across connections (see `link`), so every
    // session starts clean and rumqttc never replays on its own.
    o.set_clean_session(true);
    o.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    o.set_inflight(WINDOW as u16);
    if let Some(w) = will {
        o.set_last_will(w);
    }
    if let Some(user) = &config.username {
        o.set_credentials(user.clone(), config.password.clone().unwrap_or_default());
    }
    if url.tls {
        let tls = tls_config(
            config.ca_file.as_deref(),
            config.cert_file.as_deref(),
            config.key_file.as_deref(),
        )?;
        o.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(tls))));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_or_bogus_certificate_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let e = tls_config(Some(&missing), None, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nope.pem") && e.contains("CA certificate"),
            "{e}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello").unwrap();
        let e = tls_config(Some(&junk), None, None).unwrap_err().to_string();
        assert!(
            e.contains("junk.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        assert!(matches!(tls_config(None, None, None), Err(MqttError::NoCa)));
    }
}
