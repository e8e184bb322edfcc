//! The web page's files (`twin/web`), compiled into the binary so the page
//! works without the source tree, a CDN or any network: a fleet page (`/`)
//! and a vehicle page (`/vehicle.html?vin=`), plain HTML, CSS and small
//! scripts with no third-party code and no build step. Each file is served
//! with its content type; a name that is not here falls through to the
//! router's 404 problem.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One served file.
#[derive(Debug)]
pub struct WebFile {
    /// Its path on the server.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its text.
    pub body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! web {
    ($path:literal, $type:expr, $file:literal) => {
        WebFile {
            path: $path,
            content_type: $type,
            body: include_str!(concat!("../../web/", $file)),
        }
    };
}

/// Every file of the page.
pub const FILES: &[WebFile] = &[
    web!("/", HTML, "index.html"),
    web!("/vehicle.html", HTML, "vehicle.html"),
    web!("/app.css", CSS, "app.css"),
    web!("/app.js", JS, "app.js"),
    web!("/fleet.js", JS, "fleet.js"),
    web!("/vehicle.js", JS, "vehicle.js"),
    web!("/history.js", JS, "history.js"),
    web!("/chart.js", JS, "chart.js"),
    web!("/captures.js", JS, "captures.js"),
];

/// The file served at `path`, if any.
pub fn find(path: &str) -> Option<&'static WebFile> {
    FILES.iter().find(|f| f.path == path)
}

fn answer(file: &'static WebFile) -> Response {
    (
        [
            (header::CONTENT_TYPE, file.content_type),
            // A restarted twin may serve a newer page: revalidate.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        file.body,
    )
        .into_response()
}

/// `router` with a `GET` route for every file.
pub fn routes<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    FILES.iter().fold(router, |r, file| {
        r.route(file.path, get(move || async move { answer(file) }))
    })
}
