//! The HTTP API (README "Digital twin" has the contract): the fleet list,
//! documents with their `ETag`, desired-state patches with `If-Match`,
//! plugin fault commands checked against the DTC table, captures (lists,
//! files) and capture rules, vetting jobs,
//! history as JSON or CSV, events, server-sent event streams of document
//! changes, the OpenAPI document, Prometheus metrics, and the web page.
//!
//! Connections are served by hyper over plain TCP or rustls; shutdown
//! stops accepting, ends the event streams and gives open requests a
//! moment before it closes them.

mod auth;
mod captures;
mod commands;
mod history;
mod problem;
mod routes;
mod static_files;
mod stream;
mod vet;

pub use auth::{Auth, Role};
pub use problem::{PROBLEM_JSON, Problem};

use crate::TwinError;
use crate::config::HttpConfig;
use crate::hub::Hub;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// The OpenAPI document of every route.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The hub.
    pub hub: Arc<Hub>,
    /// Tokens.
    pub auth: Auth,
    /// Body size limit.
    pub max_body: usize,
    /// Vetting jobs, when `[vet] current_dir` is set.
    pub vet: Option<Arc<crate::vet::Vetting>>,
}

type Shared = State<Arc<AppState>>;

fn is_public(path: &str) -> bool {
    path == "/api/openapi.json" || static_files::find(path).is_some()
}

/// Access control, then problem answers for every error.
async fn guard(State(s): Shared, req: Request, next: Next) -> Response {
    if s.auth.enabled() && !is_public(req.uri().path()) {
        let authz = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match s.auth.role(authz) {
            Err(p) => return p.into_response(),
            Ok(Role::Read) if !matches!(*req.method(), Method::GET | Method::HEAD) => {
                return Problem::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "this token is read-only; changing desired state needs a read-write token",
                )
                .field("Authorization")
                .into_response();
            }
            Ok(_) => {}
        }
    }
    problem::problemize(next.run(req).await).await
}

fn text(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn not_found(req: Request) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("no route {}", req.uri().path()),
    )
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    static_files::routes(Router::new())
        .route(
            "/api/openapi.json",
            get(|| async { text("application/json", OPENAPI_JSON) }),
        )
        .route("/api/vehicles", get(routes::list))
        .route("/api/vehicles/:vin", get(routes::document))
        .route("/api/vehicles/:vin/desired", patch(routes::patch_desired))
        .route("/api/vehicles/:vin/commands", post(commands::send))
        .route("/api/faults", get(commands::list))
        .route("/api/vehicles/:vin/captures", get(captures::of_vehicle))
        .route("/api/vehicles/:vin/captures/:id", get(captures::file))
        .route("/api/vehicles/:vin/capture-rules", put(captures::set_rules))
        .route("/api/captures", get(captures::of_fleet))
        .route("/api/vet", get(vet::list).post(vet::submit))
        .route("/api/vet/:job", get(vet::job))
        .route("/api/vehicles/:vin/history", get(history::history))
        .route("/api/vehicles/:vin/events", get(history::events))
        .route("/api/vehicles/:vin/stream", get(stream::vehicle))
        .route("/api/stream", get(stream::fleet))
        .route("/metrics", get(routes::metrics))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Binds the listener.
pub async fn bind(cfg: &HttpConfig) -> Result<TcpListener, TwinError> {
    TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| TwinError::Listen {
            addr: cfg.listen.to_string(),
            reason: e.to_string(),
        })
}

/// Serves `router` on `listener` (TLS when configured) until the hub shuts
/// down.
pub async fn serve(
    hub: Arc<Hub>,
    cfg: &HttpConfig,
    listener: TcpListener,
    vet: Option<Arc<crate::vet::Vetting>>,
) -> Result<(), TwinError> {
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(
            crate::tls::server_config(cert, key)?,
        ))),
        None => None,
    };
    let state = Arc::new(AppState {
        hub: hub.clone(),
        auth: Auth::new(&cfg.read_tokens, &cfg.write_tokens),
        max_body: cfg.max_body_bytes,
        vet,
    });
    let app = router(state);
    let mut shutdown = hub.shutdown_signal();
    let mut conns = JoinSet::new();
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("accepting an HTTP connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(app.clone());
        let tls = tls.clone();
        conns.spawn(async move {
            let builder = {
                let mut b = hyper::server::conn::http1::Builder::new();
                b.timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10));
                b
            };
            match tls {
                Some(acceptor) => {
                    if let Ok(Ok(s)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
                    {
                        let _ = builder.serve_connection(TokioIo::new(s), svc).await;
                    }
                }
                None => {
                    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                }
            }
        });
        while conns.try_join_next().is_some() {}
    }
    // Streams end on shutdown; other requests get a moment to finish.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
    Ok(())
}

#[cfg(test)]
mod capture_tests;
#[cfg(test)]
mod tests;
