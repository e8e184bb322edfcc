//! TLS configurations from PEM files, through rustls with the ring
//! provider given explicitly (no process-wide provider): the MQTT client's
//! (trust the configured CA only, present a client certificate for mutual
//! TLS) and the HTTPS server's.

use crate::TwinError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

fn bad(path: &Path, what: &'static str, reason: impl Into<String>) -> TwinError {
    TwinError::Tls {
        path: path.to_owned(),
        what,
        reason: reason.into(),
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TwinError> {
    std::fs::read(path).map_err(|e| bad(path, what, e.to_string()))
}

fn certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TwinError> {
    let bytes = read(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(path, what, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(bad(path, what, "no PEM certificate in the file"));
    }
    Ok(certs)
}

fn key(path: &Path, what: &'static str) -> Result<PrivateKeyDer<'static>, TwinError> {
    let bytes = read(path, what)?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| bad(path, what, format!("no PEM private key: {e}")))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The MQTT client's TLS: trust `ca` only; present `cert` + `key` when
/// given.
pub fn client_config(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<rustls::ClientConfig, TwinError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(ca, "CA certificate")? {
        roots
            .add(c)
            .map_err(|e| bad(ca, "CA certificate", e.to_string()))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(ca, "TLS setup", e.to_string()))?
        .with_root_certificates(roots);
    match identity {
        Some((cert, k)) => builder
            .with_client_auth_cert(certs(cert, "client certificate")?, key(k, "client key")?)
            .map_err(|e| bad(cert, "client certificate", e.to_string())),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The HTTPS server's TLS: certificate chain and key.
pub fn server_config(cert: &Path, k: &Path) -> Result<rustls::ServerConfig, TwinError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, "TLS setup", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs(cert, "server certificate")?, key(k, "server key")?)
        .map_err(|e| bad(cert, "server certificate", e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_or_bogus_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let e = client_config(&missing, None).unwrap_err().to_string();
        assert!(
            e.contains("nope.pem") && e.contains("CA certificate"),
            "{e}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello").unwrap();
        let e = server_config(&junk, &junk).unwrap_err().to_string();
        assert!(
            e.contains("junk.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
    }
}
