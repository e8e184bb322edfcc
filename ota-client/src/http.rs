//! The HTTP side: one blocking reqwest client with the DDI authorization
//! header on every request (downloads included), an optional custom CA, and
//! a timeout per connect/read/write so a stalled server cannot hang the
//! client.

use crate::OtaError;
use reqwest::blocking::{Client, RequestBuilder};
use std::path::Path;
use std::time::Duration;

/// How the device authenticates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// No header (goosebit's default, hawkBit with anonymous access).
    #[default]
    None,
    /// `Authorization: TargetToken <token>`: one device.
    TargetToken(String),
    /// `Authorization: GatewayToken <token>`: a tenant-wide token.
    GatewayToken(String),
}

impl Auth {
    fn header(&self) -> Option<String> {
        match self {
            Self::None => None,
            Self::TargetToken(t) => Some(format!("TargetToken {t}")),
            Self::GatewayToken(t) => Some(format!("GatewayToken {t}")),
        }
    }
}

/// A client with the device's credentials.
#[derive(Debug, Clone)]
pub struct Http {
    client: Client,
    auth: Option<String>,
}

impl Http {
    /// Builds the client. `ca_file`: a PEM bundle trusted in addition to the
    /// built-in roots.
    pub fn new(auth: &Auth, ca_file: Option<&Path>, timeout: Duration) -> Result<Self, OtaError> {
        let mut b = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("tcu-ota-client/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|e| OtaError::Config {
                field: "ota.ca_file".into(),
                message: format!("reading {}: {e}", path.display()),
            })?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| OtaError::Config {
                    field: "ota.ca_file".into(),
                    message: format!("{}: {e}", path.display()),
                })?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let client = b.build().map_err(|e| OtaError::Config {
            field: "ota".into(),
            message: format!("building the HTTP client: {e}"),
        })?;
        Ok(Self {
            client,
            auth: auth.header(),
        })
    }

    fn with_auth(&self, r: RequestBuilder) -> RequestBuilder {
        match &self.auth {
            Some(h) => r.header(reqwest::header::AUTHORIZATION, h),
            None => r,
        }
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> RequestBuilder {
        self.with_auth(self.client.get(url))
    }

    /// `POST url`.
    pub fn post(&self, url: &str) -> RequestBuilder {
        self.with_auth(self.client.post(url))
    }

    /// `PUT url`.
    pub fn put(&self, url: &str) -> RequestBuilder {
        self.with_auth(self.client.put(url))
    }
}
