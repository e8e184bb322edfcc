//! The fleet list, documents and desired-state patches, and `/metrics`.

use super::problem::Problem;
use super::{AppState, Shared};
use crate::doc::Connectivity;
use crate::fleet::PatchError;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};
use std::sync::Arc;

/// Query parameters as pairs (a parameter may repeat).
pub type Params = Query<Vec<(String, String)>>;

/// The only value of `key`, if given; 400 when given twice.
pub fn single<'a>(params: &'a [(String, String)], key: &str) -> Result<Option<&'a str>, Problem> {
    let mut it = params.iter().filter(|(k, _)| k == key);
    let first = it.next().map(|(_, v)| v.as_str());
    if it.next().is_some() {
        return Err(Problem::bad_field(
            key,
            format!("`{key}` given more than once"),
        ));
    }
    Ok(first)
}

fn json_response(status: StatusCode, body: &Json, etag: Option<u64>) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(v) = etag
        && let Ok(h) = HeaderValue::from_str(&format!("\"{v}\""))
    {
        r.headers_mut().insert(header::ETAG, h);
    }
    r
}

/// `GET /api/vehicles[?connectivity=online|offline|stale]`
pub async fn list(state: Shared, Query(params): Params) -> Result<Response, Problem> {
    let only = match single(&params, "connectivity")? {
        None => None,
        Some(c) => Some(Connectivity::parse(c).ok_or_else(|| {
            Problem::bad_field(
                "connectivity",
                format!("`{c}` is not one of online, offline, stale"),
            )
        })?),
    };
    let vehicles = state.hub.fleet().list(only);
    Ok(json_response(
        StatusCode::OK,
        &json!({"vehicles": vehicles}),
        None,
    ))
}

/// `GET /api/vehicles/{vin}`: the document; its `ETag` is the desired
/// version, which `If-Match` on a patch compares.
pub async fn document(state: Shared, Path(vin): Path<String>) -> Result<Response, Problem> {
    let fleet = state.hub.fleet();
    let doc = fleet
        .get(&vin)
        .ok_or_else(|| Problem::unknown_vehicle(&vin))?;
    let (view, etag) = (doc.view(fleet.catalog()), doc.desired_version);
    drop(fleet);
    Ok(json_response(StatusCode::OK, &view, Some(etag)))
}

/// The desired version an `If-Match` names; `None` for `*`. A value that
/// names no version can match none (412).
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ()> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| ())?.trim();
    if v == "*" {
        return Ok(None);
    }
    v.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<u64>()
        .map(Some)
        .map_err(|_| ())
}

/// Reads a JSON body of one of `types`: 415 for another type, 413 over
/// the limit, 400 when it is not JSON.
pub async fn json_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    types: &[&str],
) -> Result<Json, Problem> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !types.contains(&essence.as_str()) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!("Content-Type `{ct}` is not one of {}", types.join(", ")),
        )
        .field("Content-Type"));
    }
    let bytes = axum::body::to_bytes(body, state.max_body)
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                format!("the body is over the limit of {} bytes", state.max_body),
            )
            .field("body")
        })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            format!("malformed JSON: {e}"),
        )
        .field("body")
    })
}

/// `PATCH /api/vehicles/{vin}/desired`: a JSON merge patch of desired
/// values, `null` removing a path; `If-Match` with the document's `ETag`.
pub async fn patch_desired(
    state: Shared,
    Path(vin): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    if state.hub.fleet().get(&vin).is_none() {
        return Err(Problem::unknown_vehicle(&vin));
    }
    let patch = json_body(
        &state,
        &headers,
        body,
        &["application/merge-patch+json", "application/json"],
    )
    .await?;
    let expected = match if_match(&headers) {
        Ok(v) => v,
        // Nothing can match it: answer as for a stale version.
        Err(()) => Some(u64::MAX),
    };
    match state.hub.patch(&vin, &patch, expected) {
        Ok(view) => {
            let etag = view["desired_version"].as_u64();
            Ok(json_response(StatusCode::OK, &view, etag))
        }
        Err(PatchError::UnknownVehicle) => Err(Problem::unknown_vehicle(&vin)),
        Err(PatchError::Stale(current)) => {
            let v = current["desired_version"].clone();
            Err(Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "stale-desired-version",
                format!("If-Match does not name the current desired version {v}"),
            )
            .field("If-Match")
            .with("current", *current))
        }
        Err(PatchError::NotAnObject) => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-desired",
            "a merge patch is a JSON object of VSS path: value",
        )
        .field("body")),
        Err(PatchError::Invalid(errors)) => {
            let detail = errors
                .iter()
                .map(|(p, r)| format!("{p}: {r}"))
                .collect::<Vec<_>>()
                .join("; ");
            Err(
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-desired", detail)
                    .errors(&errors),
            )
        }
    }
}

/// `GET /metrics`
pub async fn metrics(state: Shared) -> Response {
    let hub: Arc<crate::hub::Hub> = state.hub.clone();
    let body = tokio::task::spawn_blocking(move || crate::metrics::render(&hub))
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
