//! Error answers as RFC 9457 problem details (`application/problem+json`):
//! `type`, `title`, `status`, `detail`, and the field or paths concerned
//! (`field`, `errors`: path → reason). Any error answer the framework makes
//! on its own (an unknown method, a rejected extractor) is turned into one
//! too, so a client never has to parse two error formats.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;

/// The media type.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    kind: &'static str,
    detail: String,
    extra: Map<String, Json>,
    challenge: bool,
}

impl Problem {
    /// A problem of `kind` (the last part of its type URI).
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
            extra: Map::new(),
            challenge: false,
        }
    }

    /// Names the request field (query parameter, header, body) at fault.
    pub fn field(mut self, name: &str) -> Self {
        self.extra
            .insert("field".into(), Json::String(name.to_owned()));
        self
    }

    /// Reasons by VSS path.
    pub fn errors(mut self, errors: &BTreeMap<String, String>) -> Self {
        self.extra.insert("errors".into(), json!(errors));
        self
    }

    /// Another member.
    pub fn with(mut self, key: &str, value: Json) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// Adds the `WWW-Authenticate: Bearer` challenge of a 401.
    pub fn challenge(mut self) -> Self {
        self.challenge = true;
        self
    }

    /// The body.
    pub fn body(&self) -> Json {
        let mut m = Map::new();
        m.insert(
            "type".into(),
            Json::String(format!("urn:tcu-twin:problem:{}", self.kind)),
        );
        m.insert(
            "title".into(),
            Json::String(self.status.canonical_reason().unwrap_or("Error").to_owned()),
        );
        m.insert("status".into(), json!(self.status.as_u16()));
        m.insert("detail".into(), Json::String(self.detail.clone()));
        m.extend(self.extra.clone());
        Json::Object(m)
    }

    /// 400 for a malformed request field.
    pub fn bad_field(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-parameter", detail).field(field)
    }

    /// 404 for a VIN the twin has never seen.
    pub fn unknown_vehicle(vin: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown-vehicle",
            format!("no vehicle `{vin}`"),
        )
        .field("vin")
    }

    /// 500 when the store failed.
    pub fn store(e: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut r = (self.status, body).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.challenge {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tcu-twin\""),
            );
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body was never read: the connection cannot
            // carry another request, and a client that pooled it would send
            // its next request into a socket the server is closing.
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        r
    }
}

/// Turns an error answer that is not a problem yet into one, keeping its
/// status and its text as the detail.
pub async fn problemize(r: Response) -> Response {
    let status = r.status();
    let is_problem = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return r;
    }
    let allow = r.headers().get(header::ALLOW).cloned();
    let text = axum::body::to_bytes(r.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let detail = match (text.is_empty(), status) {
        (false, _) => text,
        (true, StatusCode::METHOD_NOT_ALLOWED) => {
            "this method is not allowed on this path".to_owned()
        }
        (true, s) => s.canonical_reason().unwrap_or("error").to_owned(),
    };
    let kind = match status {
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body-too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        s if s.is_server_error() => "internal",
        _ => "invalid-request",
    };
    let mut out = Problem::new(status, kind, detail).into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}
