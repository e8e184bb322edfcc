//! Server-sent events of document changes: `GET /api/stream` sends a
//! `vehicle` event (the fleet-list row) for every vehicle at once and
//! again whenever its document changes; `GET /api/vehicles/{vin}/stream`
//! sends `document` events with the whole document. Each event's id is
//! the document version. A stream that falls behind skips to the current
//! state; every stream ends when the twin shuts down.

use super::problem::Problem;
use super::{AppState, Shared};
use axum::extract::Path;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Counts an open stream while it lives.
struct Open(Arc<AppState>);

impl Open {
    fn new(s: Arc<AppState>) -> Self {
        s.hub.streams.fetch_add(1, Ordering::Relaxed);
        Self(s)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.hub.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a stream sends for a changed VIN: `None` to skip it.
type Render = fn(&AppState, &str) -> Option<Event>;

fn row(s: &AppState, vin: &str) -> Option<Event> {
    let fleet = s.hub.fleet();
    let d = fleet.get(vin)?;
    Some(
        Event::default()
            .event("vehicle")
            .id(d.version.to_string())
            .data(d.summary().to_string()),
    )
}

fn whole(s: &AppState, vin: &str) -> Option<Event> {
    let fleet = s.hub.fleet();
    let d = fleet.get(vin)?;
    Some(
        Event::default()
            .event("document")
            .id(d.version.to_string())
            .data(d.view(fleet.catalog()).to_string()),
    )
}

fn events(
    s: Arc<AppState>,
    initial: Vec<String>,
    only: Option<String>,
    render: Render,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let rx = s.hub.changes.subscribe();
    let shutdown = s.hub.shutdown_signal();
    let queue: VecDeque<String> = initial.into();
    let open = Open::new(s);
    futures_util::stream::unfold(
        (open, rx, shutdown, queue, only),
        move |(open, mut rx, mut shutdown, mut queue, only)| async move {
            loop {
                if *shutdown.borrow() {
                    return None;
                }
                if let Some(vin) = queue.pop_front() {
                    if let Some(ev) = render(&open.0, &vin) {
                        return Some((Ok(ev), (open, rx, shutdown, queue, only)));
                    }
                    continue;
                }
                tokio::select! {
                    r = rx.recv() => match r {
                        Ok(vin) => {
                            if only.as_deref().is_none_or(|o| o == &*vin) && !queue.iter().any(|q| q == &*vin) {
                                queue.push_back(vin.to_string());
                            }
                        }
                        // Fell behind: the current state of everything it follows.
                        Err(RecvError::Lagged(_)) => {
                            queue = match &only {
                                Some(v) => VecDeque::from([v.clone()]),
                                None => open.0.hub.fleet().list(None).iter().filter_map(|r| r["vin"].as_str().map(str::to_owned)).collect(),
                            };
                        }
                        Err(RecvError::Closed) => return None,
                    },
                    _ = shutdown.changed() => return None,
                }
            }
        },
    )
}

fn sse<S>(stream: S) -> Sse<S>
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// `GET /api/stream`
pub async fn fleet(state: Shared) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let s = state.0;
    let initial = s
        .hub
        .fleet()
        .list(None)
        .iter()
        .filter_map(|r| r["vin"].as_str().map(str::to_owned))
        .collect();
    sse(events(s, initial, None, row))
}

/// `GET /api/vehicles/{vin}/stream`
pub async fn vehicle(
    state: Shared,
    Path(vin): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let s = state.0;
    if s.hub.fleet().get(&vin).is_none() {
        return Err(Problem::unknown_vehicle(&vin));
    }
    Ok(sse(events(s, vec![vin.clone()], Some(vin), whole)))
}
