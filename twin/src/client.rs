//! The command-line client over the HTTP API: `get` prints a document,
//! `set` changes desired values and waits for each one's final state,
//! `export` writes a vehicle's history as the CSV trace `tcu scenario run
//! --trace` writes (`time,signal,value`; time in seconds from the first
//! exported sample with three decimals; a row when a signal's value
//! changed; values printed as their datatype prints them), so a real
//! vehicle's history can be replayed like a scenario's.

use crate::TwinError;
use crate::clock::{Millis, parse_rfc3339};
use crate::doc::DesiredState;
use crate::rules::typed;
use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};
use tcu_engine::catalog::Catalog;

/// Length of one history request of an export: small enough that no
/// request reaches the API's raw-sample limit at publish rates up to
/// 25 Hz.
const EXPORT_WINDOW_MS: Millis = 3_600_000;
/// Buckets of one probe for where an export's data is (far below the
/// API's bucket limit).
const PROBE_BUCKETS: Millis = 1000;

/// A client of one twin.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: Http,
}

/// The final (or last seen) state of one desired value after `set`.
#[derive(Debug, Clone, PartialEq)]
pub struct SetResult {
    /// The path.
    pub path: String,
    /// Its state.
    pub state: String,
    /// Why, for rejected and expired.
    pub reason: Option<String>,
}

impl SetResult {
    /// Whether it reached the vehicle.
    pub fn applied(&self) -> bool {
        self.state == DesiredState::Applied.as_str()
    }
}

/// Parses `PATH=VALUE` (`true`, `false` or a number).
pub fn parse_assignment(s: &str) -> Result<(String, Json), TwinError> {
    let bad = |reason: &str| TwinError::Argument {
        arg: s.to_owned(),
        reason: reason.to_owned(),
    };
    let (path, value) = s
        .split_once('=')
        .ok_or_else(|| bad("expected PATH=VALUE"))?;
    let (path, value) = (path.trim(), value.trim());
    if path.is_empty() {
        return Err(bad("no path before `=`"));
    }
    let v: Json =
        serde_json::from_str(value).map_err(|_| bad("the value is not a number, true or false"))?;
    if typed(&v).is_none() {
        return Err(bad("the value is not a number, true or false"));
    }
    Ok((path.to_owned(), v))
}

impl Client {
    /// A client of the twin at `base` (`http://127.0.0.1:8080`).
    pub fn new(base: &str, token: Option<String>) -> Result<Self, TwinError> {
        let http = Http::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| TwinError::Client {
                url: base.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn send(&self, url: &str, req: RequestBuilder) -> Result<Response, TwinError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let err = |reason: String| TwinError::Client {
            url: url.to_owned(),
            reason,
        };
        let r = req.send().map_err(|e| err(e.to_string()))?;
        if r.status().is_success() {
            return Ok(r);
        }
        let status = r.status();
        let body = r.text().unwrap_or_default();
        let detail = serde_json::from_str::<Json>(&body)
            .ok()
            .and_then(|p| p["detail"].as_str().map(str::to_owned))
            .unwrap_or(body);
        Err(err(format!("{status}: {detail}")))
    }

    fn json(&self, url: &str, req: RequestBuilder) -> Result<Json, TwinError> {
        self.send(url, req)?.json().map_err(|e| TwinError::Client {
            url: url.to_owned(),
            reason: format!("not JSON: {e}"),
        })
    }

    /// The document of `vin`.
    pub fn document(&self, vin: &str) -> Result<Json, TwinError> {
        let url = self.url(&format!("/api/vehicles/{vin}"));
        self.json(&url, self.http.get(&url))
    }

    /// Sets desired values and waits up to `wait` until each is applied,
    /// rejected or expired; returns each one's last state.
    pub fn set(
        &self,
        vin: &str,
        values: &[(String, Json)],
        wait: Duration,
    ) -> Result<Vec<SetResult>, TwinError> {
        let url = self.url(&format!("/api/vehicles/{vin}/desired"));
        let patch: Map<String, Json> = values.iter().cloned().collect();
        let req = self
            .http
            .patch(&url)
            .header("content-type", "application/merge-patch+json")
            .body(Json::Object(patch).to_string());
        let mut doc = self.json(&url, req)?;
        let end = Instant::now() + wait;
        loop {
            let results: Vec<SetResult> = values
                .iter()
                .map(|(p, _)| {
                    let d = &doc["desired"][p];
                    SetResult {
                        path: p.clone(),
                        state: d["state"].as_str().unwrap_or("unknown").to_owned(),
                        reason: d["reason"].as_str().map(str::to_owned),
                    }
                })
                .collect();
            let done = results
                .iter()
                .all(|r| matches!(r.state.as_str(), "applied" | "rejected" | "expired"));
            if done || Instant::now() >= end {
                return Ok(results);
            }
            std::thread::sleep(Duration::from_millis(200));
            doc = self.document(vin)?;
        }
    }

    /// `vin`'s history of `signals` (all it has when empty) in `[from,
    /// to)` as a trace.
    pub fn export(
        &self,
        vin: &str,
        from: Millis,
        to: Millis,
        signals: &[String],
    ) -> Result<String, TwinError> {
        let catalog = Catalog::builtin();
        let signals: Vec<String> = if signals.is_empty() {
            let doc = self.document(vin)?;
            doc["reported"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        } else {
            signals.to_vec()
        };
        let mut rows: Vec<(Millis, String, String)> = Vec::new();
        let mut windows = Vec::new();
        if !signals.is_empty() {
            self.windows(vin, &signals, from, to, &mut windows)?;
        }
        for (start, end) in windows {
            let url = self.url(&format!("/api/vehicles/{vin}/history"));
            let mut query: Vec<(&str, String)> =
                signals.iter().map(|s| ("signal", s.clone())).collect();
            query.push(("from", start.to_string()));
            query.push(("to", end.to_string()));
            let req = self
                .http
                .get(&url)
                .query(&query)
                .header("accept", "text/csv");
            let text = self
                .send(&url, req)?
                .text()
                .map_err(|e| TwinError::Client {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
            for line in text.lines().skip(1) {
                let mut parts = line.splitn(3, ',');
                let (Some(t), Some(p), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
                    continue;
                };
                if let Some(t) = parse_rfc3339(t) {
                    rows.push((t, p.to_owned(), v.to_owned()));
                }
            }
        }
        Ok(trace(&catalog, rows))
    }

    /// The parts of `[from, to)` of `vin` that hold samples of `signals`
    /// (see [`plan_windows`]), probed through the history API.
    fn windows(
        &self,
        vin: &str,
        signals: &[String],
        from: Millis,
        to: Millis,
        out: &mut Vec<(Millis, Millis)>,
    ) -> Result<(), TwinError> {
        let url = self.url(&format!("/api/vehicles/{vin}/history"));
        let mut probe =
            |from: Millis, to: Millis, step: Millis| -> Result<Vec<Millis>, TwinError> {
                let mut query: Vec<(&str, String)> =
                    signals.iter().map(|s| ("signal", s.clone())).collect();
                query.extend([
                    ("from", from.to_string()),
                    ("to", to.to_string()),
                    ("step", step.to_string()),
                    ("agg", "last".to_owned()),
                ]);
                let probe = self.json(&url, self.http.get(&url).query(&query))?;
                Ok(probe["signals"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                    .filter_map(Json::as_array)
                    .flatten()
                    .filter_map(|p| p["t"].as_str().and_then(parse_rfc3339))
                    .collect())
            };
        plan_windows(from, to, &mut probe, out)
    }
}

/// Splits `[from, to)` into windows of at most [`EXPORT_WINDOW_MS`] that
/// hold data: a wide range is probed downsampled (`probe(from, to, step)`
/// gives the starts of its non-empty buckets) and only non-empty buckets
/// are looked into, so a generous `--from` costs a few requests, not one
/// per empty hour. Adjacent buckets are fetched together.
pub fn plan_windows(
    from: Millis,
    to: Millis,
    probe: &mut dyn FnMut(Millis, Millis, Millis) -> Result<Vec<Millis>, TwinError>,
    out: &mut Vec<(Millis, Millis)>,
) -> Result<(), TwinError> {
    let mut found = Vec::new();
    non_empty(from, to, probe, &mut found)?;
    let mut merged: Vec<(Millis, Millis)> = Vec::new();
    for (a, b) in found {
        match merged.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    for (a, b) in merged {
        let mut start = a;
        while start < b {
            let end = (start + EXPORT_WINDOW_MS).min(b);
            out.push((start, end));
            start = end;
        }
    }
    Ok(())
}

/// The non-empty parts of `[from, to)`, in time order, each at most
/// [`EXPORT_WINDOW_MS`] long.
fn non_empty(
    from: Millis,
    to: Millis,
    probe: &mut dyn FnMut(Millis, Millis, Millis) -> Result<Vec<Millis>, TwinError>,
    out: &mut Vec<(Millis, Millis)>,
) -> Result<(), TwinError> {
    if to - from <= EXPORT_WINDOW_MS {
        out.push((from, to));
        return Ok(());
    }
    let step = (to - from + PROBE_BUCKETS - 1) / PROBE_BUCKETS;
    let mut starts = probe(from, to, step)?;
    starts.sort_unstable();
    starts.dedup();
    for b in starts {
        let (a, e) = (b.max(from), (b + step).min(to));
        if step <= EXPORT_WINDOW_MS {
            out.push((a, e));
        } else {
            non_empty(a, e, probe, out)?;
        }
    }
    Ok(())
}

/// The trace of history rows `(time, path, value)`.
pub fn trace(catalog: &Catalog, mut rows: Vec<(Millis, String, String)>) -> String {
    let order = |p: &str| catalog.id(p).map_or(u32::MAX, |id| id.0);
    rows.sort_by_key(|r| (r.0, order(&r.1)));
    let mut out = String::from("time,signal,value\n");
    let Some(t0) = rows.first().map(|r| r.0) else {
        return out;
    };
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for (t, path, raw) in rows {
        // Printed as the vehicle's bus prints its datatype.
        let shown = match (
            catalog.get(&path),
            serde_json::from_str::<Json>(&raw)
                .ok()
                .as_ref()
                .and_then(typed),
        ) {
            (Some(meta), Some(v)) => match v.slot_for(meta.datatype) {
                Ok(slot) => meta.datatype.value(slot).to_string(),
                Err(_) => continue,
            },
            _ => continue,
        };
        if last.get(&path) == Some(&shown) {
            continue;
        }
        let secs = (t - t0) as f64 / 1000.0;
        let _ = writeln!(out, "{secs:.3},{path},{shown}");
        last.insert(path, shown);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assignments_parse_to_typed_values() {
        assert_eq!(
            parse_assignment("A.B=23.5").unwrap(),
            ("A.B".to_owned(), json!(23.5))
        );
        assert_eq!(
            parse_assignment(" A = true ").unwrap(),
            ("A".to_owned(), json!(true))
        );
        for bad in ["A.B", "=1", "A=warm", "A=\"1\"", "A=[1]"] {
            assert!(parse_assignment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_export_of_a_wide_range_asks_only_where_the_data_is_instead_of_every_empty_hour() {
        // Two hours of samples, somewhere in a range of thousands of years.
        let data = 1_767_225_600_000..1_767_225_600_000 + 2 * 3_600_000;
        let mut probes = 0;
        let mut probe = |from: Millis, to: Millis, step: Millis| {
            probes += 1;
            assert!(
                (to - from) / step <= PROBE_BUCKETS,
                "within the API's bucket limit"
            );
            let mut starts = Vec::new();
            let mut b = from;
            while b < to {
                if b < data.end && b + step > data.start {
                    starts.push(b);
                }
                b += step;
            }
            Ok(starts)
        };
        let mut windows = Vec::new();
        plan_windows(0, 99_999_999_999_999, &mut probe, &mut windows).unwrap();
        assert!(probes <= 10, "{probes} probes");
        assert!(
            windows.len() <= 10,
            "{} windows: {windows:?}",
            windows.len()
        );
        assert!(windows.iter().all(|(a, b)| b - a <= EXPORT_WINDOW_MS));
        // Together they cover the data.
        let covered: i64 = windows
            .iter()
            .map(|&(a, b)| (b.min(data.end) - a.max(data.start)).max(0))
            .sum();
        assert_eq!(covered, data.end - data.start);
        // A narrow range is one window without a probe.
        let mut none = |_: Millis, _: Millis, _: Millis| -> Result<Vec<Millis>, TwinError> {
            panic!("no probe")
        };
        let mut one = Vec::new();
        plan_windows(10, 20, &mut none, &mut one).unwrap();
        assert_eq!(one, [(10, 20)]);
    }

    #[test]
    fn an_export_is_the_trace_format_of_scenario_runs() {
        let c = Catalog::builtin();
        let fan = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";
        let rows = vec![
            (2000, "Vehicle.Speed".to_owned(), "1.0".to_owned()),
            (1000, fan.to_owned(), "40".to_owned()),
            (1000, "Vehicle.Speed".to_owned(), "0.5".to_owned()),
            (2000, fan.to_owned(), "40".to_owned()),
            (
                3500,
                "Vehicle.ADAS.ABS.IsEngaged".to_owned(),
                "true".to_owned(),
            ),
            (3500, "Vehicle.Nope".to_owned(), "1".to_owned()),
        ];
        let speed_first = c.id("Vehicle.Speed").unwrap() < c.id(fan).unwrap();
        let first_two = if speed_first {
            format!("0.000,Vehicle.Speed,0.5\n0.000,{fan},40\n")
        } else {
            format!("0.000,{fan},40\n0.000,Vehicle.Speed,0.5\n")
        };
        assert_eq!(
            trace(&c, rows),
            format!(
                "time,signal,value\n{first_two}1.000,Vehicle.Speed,1\n2.500,Vehicle.ADAS.ABS.IsEngaged,true\n"
            )
        );
        assert_eq!(trace(&c, Vec::new()), "time,signal,value\n");
    }
}
