//! Vetting jobs over the API ([`crate::vet`]): `POST /api/vet?subsystem=NAME`
//! with the candidate library as an `application/octet-stream` body queues
//! a job (202, `Location: /api/vet/{job}`), `GET /api/vet/{job}` says where
//! it is and, once finished, carries the report, `GET /api/vet` lists the
//! jobs kept.

use super::commands::ok_json;
use super::problem::Problem;
use super::routes::{Params, single};
use super::{AppState, Shared};
use crate::vet::{SubmitError, Vetting};
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

/// The media type of an upload.
const LIBRARY: &str = "application/octet-stream";

/// The vetting service; with vetting off its routes answer 404, as for a
/// job that does not exist (the twin offers no vetting).
fn service(state: &AppState) -> Result<Arc<Vetting>, Problem> {
    state.vet.clone().ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "vetting-off",
            "vetting is off: this twin has no [vet] current_dir",
        )
    })
}

/// `POST /api/vet?subsystem=NAME`
pub async fn submit(
    state: Shared,
    Query(params): Params,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let vet = service(&state)?;
    if let Some((k, _)) = params.iter().find(|(k, _)| k != "subsystem") {
        return Err(Problem::bad_field(
            k,
            format!("unknown parameter `{k}` (only `subsystem`)"),
        ));
    }
    let subsystem = single(&params, "subsystem")?
        .ok_or_else(|| Problem::bad_field("subsystem", "`subsystem` is required"))?
        .to_owned();
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .is_some_and(|e| e.trim().eq_ignore_ascii_case(LIBRARY))
    {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!("Content-Type `{ct}` is not {LIBRARY}"),
        )
        .field("Content-Type"));
    }
    let max = vet.max_upload();
    let library = axum::body::to_bytes(body, max).await.map_err(|_| {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the library is over the limit of {max} bytes ([vet] max_upload_bytes)"),
        )
        .field("body")
    })?;
    let submitted = tokio::task::spawn_blocking(move || vet.submit(&subsystem, library.to_vec()))
        .await
        .map_err(Problem::store)?;
    let job = submitted.map_err(|e| {
        let (status, kind, field) = match &e {
            SubmitError::UnknownSubsystem { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-subsystem",
                "subsystem",
            ),
            SubmitError::Empty => (StatusCode::UNPROCESSABLE_ENTITY, "empty-library", "body"),
            SubmitError::Full(_) => (StatusCode::TOO_MANY_REQUESTS, "vet-queue-full", "body"),
            SubmitError::Stopped | SubmitError::Current(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "vetting-unavailable",
                "subsystem",
            ),
        };
        Problem::new(status, kind, e.detail()).field(field)
    })?;
    let mut r = ok_json(
        StatusCode::ACCEPTED,
        &json!({"job": job.id, "status": job.status.as_str()}),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("/api/vet/{}", job.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// `GET /api/vet/{job}`
pub async fn job(state: Shared, Path(id): Path<String>) -> Result<Response, Problem> {
    let vet = service(&state)?;
    let job = id.parse::<u64>().ok().and_then(|n| vet.job(n));
    let job = job.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-job",
            format!("no vetting job `{id}` (jobs are kept in memory, the last ones only)"),
        )
        .field("job")
    })?;
    Ok(ok_json(StatusCode::OK, &job.to_json(true)))
}

/// `GET /api/vet`: the jobs kept, and whether vetting is on.
pub async fn list(state: Shared) -> Response {
    let jobs: Vec<_> = state
        .vet
        .as_ref()
        .map(|v| v.jobs().iter().map(|j| j.to_json(false)).collect())
        .unwrap_or_default();
    ok_json(
        StatusCode::OK,
        &json!({"enabled": state.vet.is_some(), "jobs": jobs}),
    )
}
