//! The API through the router, without a socket: problem answers, access
//! control, the desired-state contract, history and the OpenAPI document.

use super::*;
use crate::clock::ManualClock;
use crate::doc::Settings;
use crate::fleet::Fleet;
use crate::hub::Publisher;
use crate::ingest::TopicScheme;
use crate::store::Store;
use crate::store::sqlite::SqliteStore;
use crate::store::writer::Writer;
use axum::body::Body;
use axum::http::Request;
use serde_json::{Value as Json, json};
use std::sync::Mutex;
use tcu_engine::catalog::Catalog;
use tower::ServiceExt;

pub(super) const VIN: &str = "WTCUZ000000000001";
const FAN: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";
pub(super) const READ: &str = "read-token-0123456789";
pub(super) const WRITE: &str = "write-token-0123456789";
const T0: i64 = 1_767_225_600_000;

#[derive(Debug, Default)]
pub(super) struct Recorder(pub(super) Mutex<Vec<(String, Vec<u8>)>>);

impl Publisher for Recorder {
    fn publish(&self, topic: String, payload: Vec<u8>) -> bool {
        self.0.lock().unwrap().push((topic, payload));
        true
    }
}

pub(super) struct Api {
    pub(super) hub: Arc<Hub>,
    pub(super) sent: Arc<Recorder>,
    router: Router,
    _dir: tempfile::TempDir,
}

pub(super) fn api(tokens: bool) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(Catalog::builtin());
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("t.db"), catalog.clone()).unwrap());
    let writer = Writer::spawn(store.clone(), 1000, Duration::from_millis(10));
    let fleet = Fleet::new(
        catalog,
        TopicScheme::new("vehicle/{vin}").unwrap(),
        Settings::default(),
        1 << 16,
        100,
        T0,
    );
    let hub = Arc::new(Hub::new(
        fleet,
        store,
        writer,
        Arc::new(ManualClock::new(T0)),
    ));
    let sent = Arc::new(Recorder::default());
    hub.set_publisher(sent.clone());
    let (read, write) = if tokens {
        (vec![READ.to_owned()], vec![WRITE.to_owned()])
    } else {
        (vec![], vec![])
    };
    let state = Arc::new(AppState {
        hub: hub.clone(),
        auth: Auth::new(&read, &write),
        max_body: 4096,
        vet: None,
    });
    // The vehicle shows up on MQTT.
    let ts = crate::clock::rfc3339(T0);
    hub.ingest(
        &format!("vehicle/{VIN}/status"),
        json!({"status": "online", "vin": VIN, "ts": ts, "plugins": {"abs": "1.0.0"}})
            .to_string()
            .as_bytes(),
    );
    for seq in 1..=3 {
        let ts = crate::clock::rfc3339(T0 + 1000 * seq);
        let tel = json!({"vin": VIN, "seq": seq, "ts": ts, "signals": {FAN: 40 + seq, "Vehicle.Speed": seq as f64 * 1.5}});
        hub.ingest(
            &format!("vehicle/{VIN}/telemetry"),
            tel.to_string().as_bytes(),
        );
    }
    assert!(hub.writer.flush(Duration::from_secs(10)));
    Api {
        router: router(state),
        hub,
        sent,
        _dir: dir,
    }
}

pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: axum::http::HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Answer {
    pub(super) fn json(&self) -> Json {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub(super) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub(super) fn is_problem(&self, status: StatusCode) -> Json {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), PROBLEM_JSON);
        let p = self.json();
        assert_eq!(p["status"], status.as_u16());
        p
    }
}

impl Api {
    pub(super) async fn send(&self, req: Request<Body>) -> Answer {
        let r = self.router.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub(super) async fn get(&self, uri: &str) -> Answer {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn patch(&self, body: &str, headers: &[(&str, &str)]) -> Answer {
        let mut b = Request::patch(format!("/api/vehicles/{VIN}/desired"));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Body::from(body.to_owned())).unwrap())
            .await
    }
}

const MERGE: (&str, &str) = ("content-type", "application/merge-patch+json");

#[tokio::test]
async fn the_document_has_an_etag_and_unknown_vehicles_get_404() {
    let a = api(false);
    let r = a.get(&format!("/api/vehicles/{VIN}")).await;
    assert_eq!(r.status, StatusCode::OK);
    let d = r.json();
    assert_eq!(d["reported"][FAN]["value"], 43);
    assert_eq!(d["connectivity"], "online");
    assert_eq!(r.header("etag"), format!("\"{}\"", d["desired_version"]));
    let p = a
        .get("/api/vehicles/WTCUZ000000000009")
        .await
        .is_problem(StatusCode::NOT_FOUND);
    assert_eq!(p["field"], "vin");
    let list = a.get("/api/vehicles?connectivity=online").await.json();
    assert_eq!(list["vehicles"][0]["vin"], VIN);
    assert_eq!(
        a.get("/api/vehicles?connectivity=offline").await.json()["vehicles"],
        json!([])
    );
    let p = a
        .get("/api/vehicles?connectivity=maybe")
        .await
        .is_problem(StatusCode::BAD_REQUEST);
    assert_eq!(p["field"], "connectivity");
}

#[tokio::test]
async fn a_valid_patch_is_sent_and_answered_with_the_updated_document() {
    let a = api(false);
    let r = a
        .patch(
            &json!({FAN: 70}).to_string(),
            &[MERGE, ("if-match", "\"0\"")],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let d = r.json();
    assert_eq!(d["desired"][FAN]["state"], "sent");
    assert_eq!(d["delta"], json!({FAN: 70}));
    assert_eq!(r.header("etag"), "\"1\"");
    let sent = a.sent.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, format!("vehicle/{VIN}/cmd/req"));
    let cmd: Json = serde_json::from_slice(&sent[0].1).unwrap();
    assert_eq!(cmd["set"], json!({FAN: 70}));
    assert_eq!(cmd["id"], d["desired"][FAN]["command_id"]);
    // application/json is a merge patch too, and `*` matches any version.
    let r = a
        .patch(
            &json!({FAN: null}).to_string(),
            &[
                ("content-type", "application/json; charset=utf-8"),
                ("if-match", "*"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["desired"], json!({}));
}

#[tokio::test]
async fn a_413_for_an_oversized_body_closes_the_connection_so_a_pooled_client_cannot_reuse_it() {
    let a = api(false);
    let huge = format!("{{\"{FAN}\": 1, \"pad\": \"{}\"}}", "x".repeat(10_000));
    let r = a.patch(&huge, &[MERGE]).await;
    r.is_problem(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.header("connection"), "close");
    // Other problems leave the connection usable.
    let r = a.patch("{\"a\": ", &[MERGE]).await;
    r.is_problem(StatusCode::BAD_REQUEST);
    assert_eq!(r.header("connection"), "");
}

#[tokio::test]
async fn refused_patches_are_problems_naming_the_path_and_send_nothing() {
    let a = api(false);
    let p = a
        .patch(&json!({FAN: 150, "Vehicle.Speed": 1}).to_string(), &[MERGE])
        .await
        .is_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p["errors"][FAN].as_str().unwrap().contains("outside"),
        "{p}"
    );
    assert!(
        p["errors"]["Vehicle.Speed"]
            .as_str()
            .unwrap()
            .contains("not an actuator"),
        "{p}"
    );
    let p = a
        .patch(&json!({"Vehicle.Nope": 1}).to_string(), &[MERGE])
        .await
        .is_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"]["Vehicle.Nope"], "unknown signal");
    let p = a
        .patch("{\"x\": ", &[MERGE])
        .await
        .is_problem(StatusCode::BAD_REQUEST);
    assert_eq!(p["field"], "body");
    let p = a
        .patch("[1, 2]", &[MERGE])
        .await
        .is_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "body");
    let p = a
        .patch(
            &json!({FAN: 1}).to_string(),
            &[("content-type", "text/plain")],
        )
        .await
        .is_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(p["field"], "Content-Type");
    a.patch(&json!({FAN: 1}).to_string(), &[])
        .await
        .is_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("{{\"{FAN}\": 1, \"pad\": \"{}\"}}", "x".repeat(10_000));
    a.patch(&huge, &[MERGE])
        .await
        .is_problem(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(a.sent.0.lock().unwrap().is_empty(), "nothing was sent");
    let r = a.get(&format!("/api/vehicles/{VIN}")).await.json();
    assert_eq!(r["desired"], json!({}));
    let unknown = Request::patch("/api/vehicles/WTCUZ000000000009/desired")
        .header(MERGE.0, MERGE.1)
        .body(Body::from("{}"))
        .unwrap();
    a.send(unknown).await.is_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_stale_if_match_gets_412_with_the_current_document() {
    let a = api(false);
    assert_eq!(
        a.patch(
            &json!({FAN: 60}).to_string(),
            &[MERGE, ("if-match", "\"0\"")]
        )
        .await
        .status,
        StatusCode::OK
    );
    let p = a
        .patch(
            &json!({FAN: 61}).to_string(),
            &[MERGE, ("if-match", "\"0\"")],
        )
        .await
        .is_problem(StatusCode::PRECONDITION_FAILED);
    assert_eq!(p["current"]["desired"][FAN]["value"], 60);
    assert_eq!(p["current"]["desired_version"], 1);
    a.patch(
        &json!({FAN: 61}).to_string(),
        &[MERGE, ("if-match", "garbage")],
    )
    .await
    .is_problem(StatusCode::PRECONDITION_FAILED);
    assert_eq!(a.sent.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn tokens_decide_who_reads_and_who_writes() {
    let a = api(true);
    let doc = format!("/api/vehicles/{VIN}");
    let r = a.get(&doc).await;
    r.is_problem(StatusCode::UNAUTHORIZED);
    assert!(r.header("www-authenticate").starts_with("Bearer"));
    let with = |token: &str, req: axum::http::request::Builder| {
        req.header("authorization", format!("Bearer {token}"))
    };
    let r = a
        .send(
            with("not-a-token-at-all", Request::get(&doc))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    r.is_problem(StatusCode::UNAUTHORIZED);
    let r = a
        .send(with(READ, Request::get(&doc)).body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let patch = |token: &str| {
        with(token, Request::patch(format!("{doc}/desired")))
            .header(MERGE.0, MERGE.1)
            .body(Body::from(json!({FAN: 50}).to_string()))
            .unwrap()
    };
    let p = a.send(patch(READ)).await.is_problem(StatusCode::FORBIDDEN);
    assert!(!p.to_string().contains(READ));
    assert_eq!(a.send(patch(WRITE)).await.status, StatusCode::OK);
    a.get("/metrics").await.is_problem(StatusCode::UNAUTHORIZED);
    for public in ["/", "/app.js", "/app.css", "/api/openapi.json"] {
        assert_eq!(a.get(public).await.status, StatusCode::OK, "{public}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let a = api(false);
    a.get("/api/nothing")
        .await
        .is_problem(StatusCode::NOT_FOUND);
    let r = a
        .send(
            Request::delete(format!("/api/vehicles/{VIN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    r.is_problem(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn history_returns_raw_or_downsampled_series_as_json_or_csv() {
    let a = api(false);
    let base = format!(
        "/api/vehicles/{VIN}/history?signal={FAN}&signal=Vehicle.Speed&from={}&to={}",
        T0,
        T0 + 10_000
    );
    let h = a.get(&base).await.json();
    let fan: Vec<Json> = h["signals"][FAN]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].clone())
        .collect();
    assert_eq!(fan, [json!(41), json!(42), json!(43)]);
    assert_eq!(h["signals"][FAN][0]["t"], crate::clock::rfc3339(T0 + 1000));
    assert_eq!(h["truncated"], false);
    let b = a.get(&format!("{base}&step=10s&agg=max")).await.json();
    assert_eq!(
        b["signals"][FAN],
        json!([{"t": crate::clock::rfc3339(T0), "value": 43}])
    );
    let avg = a.get(&format!("{base}&step=10000")).await.json();
    assert_eq!(avg["signals"][FAN][0]["value"], json!(42.0));
    assert_eq!(avg["agg"], "avg");
    let csv = a
        .send(
            Request::get(&base)
                .header("accept", "text/csv")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
    let text = String::from_utf8(csv.body).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "time,signal,value");
    assert_eq!(lines.len(), 1 + 6);
    assert_eq!(
        lines[1],
        format!("{},{FAN},41", crate::clock::rfc3339(T0 + 1000))
    );
    let p = a
        .get(&format!("/api/vehicles/{VIN}/history?signal=Vehicle.Nope"))
        .await
        .is_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"]["Vehicle.Nope"], "unknown signal");
    for (q, field) in [
        ("", "signal"),
        ("?signal=Vehicle.Speed&from=yesterday", "from"),
        ("?signal=Vehicle.Speed&step=0", "step"),
        ("?signal=Vehicle.Speed&step=1s&agg=median", "agg"),
        ("?signal=Vehicle.Speed&to=1&from=2", "from"),
    ] {
        let p = a
            .get(&format!("/api/vehicles/{VIN}/history{q}"))
            .await
            .is_problem(StatusCode::BAD_REQUEST);
        assert_eq!(p["field"], field, "{q}");
    }
    a.get(&format!(
        "/api/vehicles/{VIN}/history?signal=Vehicle.Speed&from=0&to=999999999999&step=1"
    ))
    .await
    .is_problem(StatusCode::UNPROCESSABLE_ENTITY);
    a.get("/api/vehicles/WTCUZ000000000009/history?signal=Vehicle.Speed")
        .await
        .is_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn events_are_read_back_by_type() {
    let a = api(false);
    for (i, kind) in ["abs.engaged", "abs.released", "abs.engaged"]
        .iter()
        .enumerate()
    {
        let ts = crate::clock::rfc3339(T0 + i as i64);
        a.hub.ingest(
            &format!("vehicle/{VIN}/events"),
            json!({"ts": ts, "type": kind, "detail": ""})
                .to_string()
                .as_bytes(),
        );
    }
    assert!(a.hub.writer.flush(Duration::from_secs(10)));
    let q = format!("/api/vehicles/{VIN}/events?from={T0}&to={}", T0 + 10);
    assert_eq!(
        a.get(&q).await.json()["events"].as_array().unwrap().len(),
        3
    );
    let e = a.get(&format!("{q}&type=abs.engaged")).await.json();
    assert_eq!(e["events"].as_array().unwrap().len(), 2);
    a.get(&format!("{q}&limit=0"))
        .await
        .is_problem(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let a = api(false);
    let r = a.get("/metrics").await;
    assert!(
        r.header("content-type")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(r.body).unwrap();
    for line in [
        "twin_messages_received_total{topic=\"telemetry\"} 3",
        "twin_vehicles{connectivity=\"online\"} 1",
        "twin_signal_updates_total 6",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    assert!(text.contains("twin_store_bytes"));
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let a = api(false);
    let doc = a.get("/api/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    let api_routes = [
        ("/api/openapi.json", "get"),
        ("/api/vehicles", "get"),
        ("/api/vehicles/{vin}", "get"),
        ("/api/vehicles/{vin}/desired", "patch"),
        ("/api/vehicles/{vin}/commands", "post"),
        ("/api/faults", "get"),
        ("/api/vehicles/{vin}/captures", "get"),
        ("/api/vehicles/{vin}/captures/{id}", "get"),
        ("/api/vehicles/{vin}/capture-rules", "put"),
        ("/api/captures", "get"),
        ("/api/vet", "get"),
        ("/api/vet", "post"),
        ("/api/vet/{job}", "get"),
        ("/api/vehicles/{vin}/history", "get"),
        ("/api/vehicles/{vin}/events", "get"),
        ("/api/vehicles/{vin}/stream", "get"),
        ("/api/stream", "get"),
        ("/metrics", "get"),
    ];
    let pages = static_files::FILES.iter().map(|f| (f.path, "get"));
    for (path, method) in api_routes.into_iter().chain(pages) {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    let documented: usize = paths
        .values()
        .map(|p| p.as_object().map_or(0, |m| m.len()))
        .sum();
    assert_eq!(
        documented,
        api_routes.len() + static_files::FILES.len(),
        "a documented route that does not exist: {:?}",
        paths.keys()
    );
    // Every $ref resolves.
    fn refs(v: &Json, out: &mut Vec<String>) {
        match v {
            Json::Object(m) => {
                if let Some(Json::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Json::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let ptr = r.trim_start_matches('#');
        assert!(doc.pointer(ptr).is_some(), "{r} does not resolve");
    }
}

#[tokio::test]
async fn the_vehicle_stream_starts_with_the_document_and_follows_changes() {
    use futures_util::StreamExt;
    let a = api(false);
    let r = a
        .router
        .clone()
        .oneshot(
            Request::get(format!("/api/vehicles/{VIN}/stream"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut body = r.into_body().into_data_stream();
    let first = String::from_utf8(body.next().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(first.starts_with("event: document\n"), "{first}");
    assert!(first.contains(&format!("\"vin\":\"{VIN}\"")));
    let ts = crate::clock::rfc3339(T0 + 5000);
    a.hub.ingest(
        &format!("vehicle/{VIN}/telemetry"),
        json!({"vin": VIN, "seq": 4, "ts": ts, "signals": {FAN: 77}})
            .to_string()
            .as_bytes(),
    );
    let next = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let next = String::from_utf8(next.to_vec()).unwrap();
    assert!(next.contains("\"value\":77"), "{next}");
    a.hub.shut_down();
    let end = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .unwrap();
    assert!(end.is_none(), "the stream ends at shutdown");
}

#[tokio::test]
async fn every_page_file_is_served_with_its_content_type_and_an_unknown_one_is_a_404_problem() {
    let a = api(false);
    for file in static_files::FILES {
        let r = a.get(file.path).await;
        assert_eq!(r.status, StatusCode::OK, "{}", file.path);
        assert_eq!(r.header("content-type"), file.content_type, "{}", file.path);
        assert_eq!(r.body, file.body.as_bytes(), "{}", file.path);
    }
    for missing in ["/nothing.js", "/vehicle.htm", "/web/app.js"] {
        let p = a.get(missing).await.is_problem(StatusCode::NOT_FOUND);
        assert!(p["detail"].as_str().unwrap().contains(missing), "{p}");
    }
}

#[test]
fn the_page_loads_only_files_the_twin_serves_and_nothing_from_another_host() {
    for file in static_files::FILES {
        for far in ["http://", "https://", "//cdn", "import("] {
            // The SVG namespace is a name, not something fetched.
            let text = file.body.replace("\"http://www.w3.org/2000/svg\"", "");
            assert!(!text.contains(far), "{} mentions {far}", file.path);
        }
        for attr in ["src=\"", "href=\""] {
            for link in file.body.split(attr).skip(1) {
                let target = link.split('"').next().unwrap();
                let target = target.split('?').next().unwrap();
                assert!(
                    static_files::find(target).is_some(),
                    "{} links {target}, which is not served",
                    file.path
                );
            }
        }
    }
}

#[tokio::test]
async fn with_tokens_the_page_is_public_and_its_streams_need_the_bearer_header_not_a_query_token() {
    let a = api(true);
    for file in static_files::FILES {
        assert_eq!(
            a.get(file.path).await.status,
            StatusCode::OK,
            "{}",
            file.path
        );
    }
    for stream in ["/api/stream", &format!("/api/vehicles/{VIN}/stream")] {
        a.get(stream).await.is_problem(StatusCode::UNAUTHORIZED);
        // The page reads streams with fetch and the header; a token in the
        // URL (which logs and browser history keep) opens nothing.
        a.get(&format!("{stream}?access_token={READ}"))
            .await
            .is_problem(StatusCode::UNAUTHORIZED);
        let r = a
            .router
            .clone()
            .oneshot(
                Request::get(stream)
                    .header("authorization", format!("Bearer {READ}"))
                    .header("accept", "text/event-stream")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{stream}");
        assert_eq!(r.headers()["content-type"], "text/event-stream", "{stream}");
    }
}

#[tokio::test]
async fn a_time_after_the_year_9999_is_a_400_naming_the_parameter_not_a_panic() {
    let a = api(false);
    // The first millisecond of the year 10000, and the largest i64.
    for t in ["253402300800000", "9223372036854775807"] {
        for (uri, key) in [
            (format!("/api/vehicles/{VIN}/events?to={t}"), "to"),
            (format!("/api/vehicles/{VIN}/events?from=0&to={t}"), "to"),
            (
                format!("/api/vehicles/{VIN}/history?signal=Vehicle.Speed&from={t}"),
                "from",
            ),
        ] {
            let p = a.get(&uri).await.is_problem(StatusCode::BAD_REQUEST);
            assert_eq!(p["field"], key, "{uri}: {p}");
        }
    }
    // The last millisecond of 9999 is still a time.
    let r = a
        .get(&format!("/api/vehicles/{VIN}/events?to=253402300799999"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["to"], "9999-12-31T23:59:59.999Z");
}

#[tokio::test]
async fn the_openapi_document_states_the_time_range_the_server_accepts() {
    let a = api(false);
    let doc = a.get("/api/openapi.json").await.json();
    for key in ["from", "to"] {
        let branches = doc["components"]["parameters"][key]["schema"]["anyOf"]
            .as_array()
            .unwrap_or_else(|| panic!("`{key}` is not documented as epoch ms or RFC 3339"));
        let ms = branches
            .iter()
            .find(|b| b["type"] == "integer")
            .unwrap_or_else(|| panic!("`{key}` has no epoch-millisecond form"));
        assert_eq!(ms["minimum"], 0, "{key}");
        let max = ms["maximum"].as_i64().unwrap();
        // The other end of the range is valid: 0 for `from`, the last
        // millisecond for `to`.
        let at = |t: i64| match key {
            "from" => format!("/api/vehicles/{VIN}/events?to={max}&from={t}"),
            _ => format!("/api/vehicles/{VIN}/events?from=0&to={t}"),
        };
        assert_eq!(a.get(&at(max)).await.status, StatusCode::OK, "{key}={max}");
        let p = a
            .get(&at(max + 1))
            .await
            .is_problem(StatusCode::BAD_REQUEST);
        assert_eq!(p["field"], key, "{p}");
    }
}

#[tokio::test]
async fn the_openapi_document_says_nested_patch_objects_hold_desired_values_too() {
    let a = api(false);
    let doc = a.get("/api/openapi.json").await.json();
    let schemas = &doc["components"]["schemas"];
    let group = json!({"$ref": "#/components/schemas/DesiredGroup"});
    for name in ["DesiredPatch", "DesiredGroup"] {
        let branches = schemas[name]["additionalProperties"]["anyOf"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no value branches"));
        assert!(
            !branches.iter().any(|b| b == &json!({"type": "object"})),
            "{name}: a nested object is not any object"
        );
        assert!(branches.contains(&group), "{name}: {branches:?}");
    }
    assert_eq!(schemas["DesiredGroup"]["minProperties"], 1);
    // What the schema refuses inside a nested object, the server refuses.
    for nested in [
        json!({"FanSpeed": "40"}),
        json!({"FanSpeed": [40]}),
        json!({}),
    ] {
        let body = json!({"Vehicle.Cabin.HVAC.Station.Row1.Driver": nested}).to_string();
        let p = a.patch(&body, &[MERGE]).await;
        p.is_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let ok = json!({"Vehicle": {"Cabin.HVAC.Station.Row1.Driver": {"FanSpeed": 41}}});
    assert_eq!(
        a.patch(&ok.to_string(), &[MERGE]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn every_page_file_the_twin_serves_is_in_its_openapi_document() {
    let a = api(false);
    let doc = a.get("/api/openapi.json").await.json();
    for file in static_files::FILES {
        let op = &doc["paths"][file.path]["get"];
        assert!(
            op.is_object(),
            "{} is served but not in the document",
            file.path
        );
        let ct = file.content_type.split(';').next().unwrap_or_default();
        assert!(
            op["responses"]["200"]["content"][ct].is_object(),
            "{}: the document does not say it answers {ct}",
            file.path
        );
    }
}

#[tokio::test]
async fn a_reported_dtc_list_matches_the_reported_value_schema_of_the_openapi_document() {
    let a = api(false);
    let ts = crate::clock::rfc3339(T0 + 4000);
    let tel = json!({"vin": VIN, "seq": 4, "ts": ts,
        "signals": {"Vehicle.Diagnostics.DTCList": ["C0035", "P0A7E"]}});
    a.hub.ingest(
        &format!("vehicle/{VIN}/telemetry"),
        tel.to_string().as_bytes(),
    );
    let doc = a.get(&format!("/api/vehicles/{VIN}")).await.json();
    let value = &doc["reported"]["Vehicle.Diagnostics.DTCList"]["value"];
    assert_eq!(*value, json!(["C0035", "P0A7E"]));
    // The document answered must be one the OpenAPI document describes.
    let spec = a.get("/api/openapi.json").await.json();
    let branches = spec["components"]["schemas"]["Reported"]["properties"]["value"]["anyOf"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        branches
            .iter()
            .any(|b| b["type"] == "array" && b["items"]["type"] == "string"),
        "the Reported value schema has no string-array branch: {branches:?}"
    );
}

async fn command(a: &Api, vin: &str, body: Json) -> Answer {
    a.send(
        Request::post(format!("/api/vehicles/{vin}/commands"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

/// The `cmd/req` payloads published so far.
pub(super) fn published(a: &Api) -> Vec<(String, Json)> {
    a.sent
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(t, p)| (t.clone(), serde_json::from_slice(p).unwrap()))
        .collect()
}

#[tokio::test]
async fn a_fault_command_is_sent_as_a_plugin_command_and_answered_with_the_vehicles_outcome() {
    let a = api(false);
    let hub = a.hub.clone();
    let sent = a.sent.clone();
    // The vehicle: answers the first cmd/req it sees, then refuses the next.
    let vehicle = tokio::spawn(async move {
        let mut answered = 0;
        while answered < 2 {
            let last = sent.0.lock().unwrap().get(answered).cloned();
            let Some((_, payload)) = last else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            let req: Json = serde_json::from_slice(&payload).unwrap();
            let res = if answered == 0 {
                json!({"id": req["id"], "status": "accepted"})
            } else {
                json!({"id": req["id"], "status": "rejected", "errors": {"command": "no"}})
            };
            hub.ingest(
                &format!("vehicle/{VIN}/cmd/res"),
                res.to_string().as_bytes(),
            );
            answered += 1;
        }
    });
    let body = json!({"subsystem": "abs", "name": "fault.wheel_sensor", "value": 1});
    let r = command(&a, VIN, body.clone()).await;
    assert_eq!(r.status, StatusCode::OK);
    let out = r.json();
    assert_eq!(out["status"], "accepted", "{out}");
    assert_eq!(
        out["command"],
        json!({"subsystem": "abs", "name": "fault.wheel_sensor", "value": 1.0})
    );
    let sent = published(&a);
    assert_eq!(sent[0].0, format!("vehicle/{VIN}/cmd/req"));
    assert_eq!(sent[0].1["id"], out["id"]);
    assert_eq!(sent[0].1["command"], out["command"]);
    let r = command(
        &a,
        VIN,
        json!({"subsystem": "abs", "name": "fault.wheel_sensor", "value": 0}),
    )
    .await;
    let out = r.json();
    assert_eq!(
        (out["status"].as_str(), &out["errors"]["command"]),
        (Some("rejected"), &json!("no"))
    );
    vehicle.await.unwrap();
}

#[tokio::test]
async fn an_unknown_fault_or_vehicle_is_refused_and_nothing_is_sent() {
    let a = api(false);
    let p = command(
        &a,
        VIN,
        json!({"subsystem": "abs", "name": "fault.nope", "value": 1}),
    )
    .await
    .is_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "name");
    assert!(
        p["detail"].as_str().unwrap().contains("`fault.nope`"),
        "{p}"
    );
    let p = command(
        &a,
        VIN,
        json!({"subsystem": "wipers", "name": "fault.x", "value": 1}),
    )
    .await
    .is_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p["detail"].as_str().unwrap().contains("`wipers`"), "{p}");
    command(
        &a,
        "WTCUZ000000000999",
        json!({"subsystem": "abs", "name": "fault.wheel_sensor", "value": 1}),
    )
    .await
    .is_problem(StatusCode::NOT_FOUND);
    assert!(published(&a).is_empty());
    let faults = a.get("/api/faults").await.json();
    let names: Vec<&str> = faults["faults"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(names.contains(&"fault.wheel_sensor") && names.contains(&"fault.crash_recorded"));
}
