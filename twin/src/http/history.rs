//! `GET /api/vehicles/{vin}/history` (JSON, or CSV with `Accept:
//! text/csv`) and `GET /api/vehicles/{vin}/events`.
//!
//! Times are RFC 3339 or epoch milliseconds. Without `step` the samples
//! come as recorded (at most [`MAX_POINTS`] per signal; `truncated` says
//! when there were more); with `step` they are downsampled into buckets
//! and `agg` picks the bucket's value (`avg` by default, `min`, `max`,
//! `last`).

use super::Shared;
use super::problem::Problem;
use super::routes::{Params, single};
use crate::clock::{Millis, parse_time, rfc3339};
use crate::rules::to_json;
use crate::store::{Agg, EventQuery};
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;
use std::fmt::Write;
use tcu_engine::catalog::DataType;

/// Raw samples returned per signal at most.
pub const MAX_POINTS: usize = 100_000;
/// Buckets per signal at most.
pub const MAX_BUCKETS: i64 = 100_000;
/// Events returned at most.
pub const MAX_EVENTS: usize = 10_000;
const HOUR_MS: Millis = 3_600_000;
/// The last millisecond RFC 3339 can write (9999-12-31T23:59:59.999Z):
/// the answer names its range in RFC 3339, so a later time is refused
/// rather than left to fail while the answer is written.
const MAX_TIME_MS: Millis = 253_402_300_799_999;

fn time_param(params: &[(String, String)], key: &str, default: Millis) -> Result<Millis, Problem> {
    match single(params, key)? {
        None => Ok(default),
        Some(s) => match parse_time(s) {
            Some(t) if t <= MAX_TIME_MS => Ok(t),
            Some(_) => Err(Problem::bad_field(
                key,
                format!("`{s}` is after 9999-12-31T23:59:59.999Z"),
            )),
            None => Err(Problem::bad_field(
                key,
                format!("`{s}` is neither an RFC 3339 time nor epoch milliseconds"),
            )),
        },
    }
}

/// `[from, to)` with `to` defaulting to now and `from` to `to - span`.
fn range(
    params: &[(String, String)],
    now: Millis,
    span: Millis,
) -> Result<(Millis, Millis), Problem> {
    let to = time_param(params, "to", now)?;
    let from = time_param(params, "from", to.saturating_sub(span))?;
    if from > to {
        return Err(Problem::bad_field("from", "`from` is after `to`"));
    }
    Ok((from, to))
}

fn step_param(params: &[(String, String)]) -> Result<Option<Millis>, Problem> {
    let Some(s) = single(params, "step")? else {
        return Ok(None);
    };
    let ms = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<Millis>().ok()
    } else {
        humantime::parse_duration(s)
            .ok()
            .map(crate::clock::duration_ms)
    };
    match ms {
        Some(ms) if ms > 0 => Ok(Some(ms)),
        _ => Err(Problem::bad_field(
            "step",
            format!("`{s}` is not a positive duration (`10s`, `1m`, or milliseconds)"),
        )),
    }
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/csv")))
}

/// One series point: `(t, value)`.
type Series = Vec<(Millis, Json)>;

fn typed(dt: DataType, slot: f64) -> Json {
    to_json(dt.value(slot))
}

/// `GET /api/vehicles/{vin}/history?signal=P[&signal=P2...]&from&to[&step&agg]`
pub async fn history(
    state: Shared,
    Path(vin): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let hub = state.hub.clone();
    let mut signals: Vec<(String, DataType)> = Vec::new();
    {
        let fleet = hub.fleet();
        if fleet.get(&vin).is_none() {
            return Err(Problem::unknown_vehicle(&vin));
        }
        let mut unknown = BTreeMap::new();
        for (_, p) in params.iter().filter(|(k, _)| k == "signal") {
            match fleet.catalog().get(p) {
                Some(meta) if !signals.iter().any(|(q, _)| q == p) => {
                    signals.push((p.clone(), meta.datatype))
                }
                Some(_) => {}
                None => {
                    unknown.insert(p.clone(), "unknown signal".to_owned());
                }
            }
        }
        if !unknown.is_empty() {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-signal",
                format!(
                    "unknown signal(s): {}",
                    unknown.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
            .field("signal")
            .errors(&unknown));
        }
    }
    if signals.is_empty() {
        return Err(Problem::bad_field(
            "signal",
            "name at least one signal: `?signal=Vehicle.Speed`",
        ));
    }
    let (from, to) = range(&params, hub.now(), HOUR_MS)?;
    let step = step_param(&params)?;
    let agg = match single(&params, "agg")? {
        None => Agg::default(),
        Some(a) => Agg::parse(a).ok_or_else(|| {
            Problem::bad_field("agg", format!("`{a}` is not one of avg, min, max, last"))
        })?,
    };
    if let Some(step) = step
        && (to - from) / step > MAX_BUCKETS
    {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too-many-buckets",
            format!(
                "the range holds more than {MAX_BUCKETS} buckets of {step} ms; use a larger step"
            ),
        )
        .field("step"));
    }
    let csv = wants_csv(&headers);
    let store = hub.store.clone();
    let read = tokio::task::spawn_blocking(move || {
        let mut out: Vec<(String, Series)> = Vec::new();
        let mut truncated = false;
        for (path, dt) in &signals {
            let series: Series = match step {
                Some(step) => store
                    .buckets(&vin, path, from, to, step)?
                    .iter()
                    .map(|b| {
                        let v = match agg {
                            Agg::Avg => {
                                serde_json::Number::from_f64(b.avg).map_or(Json::Null, Json::Number)
                            }
                            a => typed(*dt, a.of(b)),
                        };
                        (b.t, v)
                    })
                    .collect(),
                None => {
                    let rows = store.samples(&vin, path, from, to, MAX_POINTS + 1)?;
                    truncated |= rows.len() > MAX_POINTS;
                    rows.into_iter()
                        .take(MAX_POINTS)
                        .map(|(t, v)| (t, typed(*dt, v)))
                        .collect()
                }
            };
            out.push((path.clone(), series));
        }
        Ok::<_, crate::TwinError>((vin, out, truncated))
    })
    .await
    .map_err(Problem::store)?
    .map_err(Problem::store)?;
    let (vin, out, truncated) = read;
    if csv {
        let mut rows: Vec<(Millis, usize, &Json)> = Vec::new();
        for (i, (_, series)) in out.iter().enumerate() {
            rows.extend(series.iter().map(|(t, v)| (*t, i, v)));
        }
        rows.sort_by_key(|&(t, i, _)| (t, i));
        let mut text = String::from("time,signal,value\n");
        for (t, i, v) in rows {
            let _ = writeln!(text, "{},{},{v}", rfc3339(t), out[i].0);
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response());
    }
    let series: Map<String, Json> = out
        .into_iter()
        .map(|(p, s)| {
            let points: Vec<Json> = s
                .into_iter()
                .map(|(t, v)| json!({"t": rfc3339(t), "value": v}))
                .collect();
            (p, Json::Array(points))
        })
        .collect();
    let body = json!({
        "vin": vin, "from": rfc3339(from), "to": rfc3339(to),
        "step_ms": step, "agg": step.map(|_| agg.as_str()),
        "truncated": truncated, "signals": series,
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response())
}

/// `GET /api/vehicles/{vin}/events?from&to&type[&limit]`
pub async fn events(
    state: Shared,
    Path(vin): Path<String>,
    Query(params): Params,
) -> Result<Response, Problem> {
    let hub = state.hub.clone();
    if hub.fleet().get(&vin).is_none() {
        return Err(Problem::unknown_vehicle(&vin));
    }
    let (from, to) = range(&params, hub.now(), 24 * HOUR_MS)?;
    let kind = single(&params, "type")?.map(str::to_owned);
    let limit = match single(&params, "limit")? {
        None => 1000,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0 && n <= MAX_EVENTS)
            .ok_or_else(|| {
                Problem::bad_field(
                    "limit",
                    format!("`{s}` is not a number from 1 to {MAX_EVENTS}"),
                )
            })?,
    };
    let q = EventQuery {
        from,
        to,
        kind,
        limit,
    };
    let store = hub.store.clone();
    let events = tokio::task::spawn_blocking(move || store.events(&vin, &q).map(|e| (vin, e)))
        .await
        .map_err(Problem::store)?
        .map_err(Problem::store)?;
    let body =
        json!({"vin": events.0, "from": rfc3339(from), "to": rfc3339(to), "events": events.1});
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response())
}
