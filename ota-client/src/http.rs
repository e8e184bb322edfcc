//! The HTTP side: one blocking reqwest client with an optional custom CA
//! and a timeout per connect/read/write, so a stalled server cannot hang
//! the client.
//!
//! The DDI authorization header (TargetToken / GatewayToken) goes only to
//! the DDI server's own origin (scheme, host and port): a download link may
//! name another host (a CDN, a mirror), and that host must never see the
//! device's credentials. reqwest drops the header itself when a redirect
//! leaves the host.
//!
//! Answers are read through [`read_bounded`], so a server that sends a huge
//! body gets an error instead of the client allocating it.

use crate::OtaError;
use reqwest::Url;
use reqwest::blocking::{Client, RequestBuilder, Response};
use std::io::Read;
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

/// A client with the device's credentials for one server.
#[derive(Debug, Clone)]
pub struct Http {
    client: Client,
    auth: Option<String>,
    origin: reqwest::Url,
}

impl Http {
    /// Builds the client for the DDI server at `server` (its origin is the
    /// only one that gets `auth`). `ca_file`: a PEM bundle trusted in
    /// addition to the built-in roots.
    pub fn new(
        server: &str,
        auth: &Auth,
        ca_file: Option<&Path>,
        timeout: Duration,
    ) -> Result<Self, OtaError> {
        let origin = Url::parse(server).map_err(|e| OtaError::Config {
            field: "ota.server".into(),
            message: format!("`{server}` is not a URL: {e}"),
        })?;
        if !matches!(origin.scheme(), "http" | "https") || origin.host_str().is_none() {
            return Err(OtaError::Config {
                field: "ota.server".into(),
                message: format!("`{server}` is not an http or https URL with a host"),
            });
        }
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
            origin,
        })
    }

    /// Whether `url` is on the DDI server's origin (scheme, host, port,
    /// default ports filled in). An unparsable URL is not.
    pub fn same_origin(&self, url: &str) -> bool {
        Url::parse(url).is_ok_and(|u| u.origin() == self.origin.origin())
    }

    fn with_auth(&self, url: &str, r: RequestBuilder) -> RequestBuilder {
        match &self.auth {
            Some(h) if self.same_origin(url) => r.header(reqwest::header::AUTHORIZATION, h),
            _ => r,
        }
    }

    /// `GET url` (with the credentials when `url` is the server's).
    pub fn get(&self, url: &str) -> RequestBuilder {
        self.with_auth(url, self.client.get(url))
    }

    /// `POST url` (with the credentials when `url` is the server's).
    pub fn post(&self, url: &str) -> RequestBuilder {
        self.with_auth(url, self.client.post(url))
    }

    /// `PUT url` (with the credentials when `url` is the server's).
    pub fn put(&self, url: &str) -> RequestBuilder {
        self.with_auth(url, self.client.put(url))
    }
}

/// Reads the body of `resp`, `what` (e.g. "the poll answer"), refusing one
/// longer than `limit` bytes before it is read (declared length) or as soon
/// as the limit is passed (no length, or a server that lies about it).
pub fn read_bounded(resp: Response, what: &str, limit: u64) -> Result<Vec<u8>, OtaError> {
    let too_large = || OtaError::TooLarge {
        what: what.into(),
        limit,
    };
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    resp.take(limit.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| OtaError::Http {
            what: format!("reading {what}"),
            message: e.to_string(),
        })?;
    if body.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_servers_origin_is_the_same_origin() {
        let h = Http::new(
            "https://ddi.example:8443/base",
            &Auth::TargetToken("t".into()),
            None,
            Duration::from_secs(1),
        )
        .expect("client");
        assert!(h.same_origin("https://ddi.example:8443/DEFAULT/controller/v1/x"));
        assert!(h.same_origin("https://DDI.example:8443/other/path?q=1"));
        assert!(!h.same_origin("http://ddi.example:8443/x"), "scheme");
        assert!(!h.same_origin("https://ddi.example:8444/x"), "port");
        assert!(!h.same_origin("https://ddi.example/x"), "default port");
        assert!(!h.same_origin("https://cdn.example:8443/x"), "host");
        assert!(
            !h.same_origin("https://ddi.example:8443@cdn.example/x"),
            "userinfo trick"
        );
        assert!(!h.same_origin("not a url"));
        let d = Http::new("http://h", &Auth::None, None, Duration::from_secs(1)).expect("client");
        assert!(d.same_origin("http://h:80/x"), "default port filled in");
    }

    #[test]
    fn a_server_that_is_not_an_http_url_is_refused() {
        for bad in ["", "ddi.example", "ftp://h/x", "file:///tmp"] {
            let e = Http::new(bad, &Auth::None, None, Duration::from_secs(1))
                .expect_err(bad)
                .to_string();
            assert!(e.contains("ota.server"), "{bad}: {e}");
        }
    }
}
