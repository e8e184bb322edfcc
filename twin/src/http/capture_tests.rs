//! Captures and capture rules through the router: the lists, the file
//! byte for byte, 404 and 409, and rules checked, then sent as the
//! contract's `cmd/req` request.

use super::tests::{Answer, VIN, api, published};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value as Json, json};
use std::time::Duration;

async fn put_rules(a: &super::tests::Api, vin: &str, body: &Json) -> Answer {
    a.send(
        Request::put(format!("/api/vehicles/{vin}/capture-rules"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_capture_is_listed_while_incomplete_and_served_byte_for_byte_once_complete() {
    use crate::capture::tests::{file, payloads};
    let a = api(false);
    let f = file();
    let p = payloads(&f, 900);
    let id = crate::capture::sha256_hex(f.as_bytes());
    let topic = format!("vehicle/{VIN}/captures");
    for c in p.iter().skip(1) {
        a.hub.ingest(&topic, c);
    }
    assert!(a.hub.writer.flush(Duration::from_secs(10)));
    let list = a.get(&format!("/api/vehicles/{VIN}/captures")).await.json();
    let c = &list["captures"][0];
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["complete"], false);
    assert_eq!(c["chunks_received"], p.len() - 1);
    let r = a.get(&format!("/api/vehicles/{VIN}/captures/{id}")).await;
    let problem = r.is_problem(StatusCode::CONFLICT);
    assert_eq!(problem["capture"]["chunks"], p.len());
    a.hub.ingest(&topic, &p[0]);
    assert!(a.hub.writer.flush(Duration::from_secs(10)));
    let r = a.get(&format!("/api/vehicles/{VIN}/captures/{id}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("text/plain"));
    assert_eq!(r.body, f.as_bytes());
    let fleet = a.get("/api/captures?subsystem=abs").await.json();
    assert_eq!(fleet["captures"][0]["plugins"]["abs"], "1.2.0");
    assert_eq!(fleet["captures"][0]["vin"], VIN);
    let none = a.get("/api/captures?subsystem=wipers").await.json();
    assert_eq!(none["captures"], json!([]));
    a.get(&format!("/api/vehicles/{VIN}/captures/{}", "0".repeat(64)))
        .await
        .is_problem(StatusCode::NOT_FOUND);
    a.get("/api/vehicles/WTCUZ000000000009/captures")
        .await
        .is_problem(StatusCode::NOT_FOUND);
    a.get("/api/captures?vin=x")
        .await
        .is_problem(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_bad_capture_rule_is_a_422_naming_it_and_nothing_is_sent() {
    let a = api(false);
    let body = json!({"rules": [{"rule": "abs.engaged"}, {"rule": "Vehicle.Speed >> 3"}]});
    let p = put_rules(&a, VIN, &body)
        .await
        .is_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "rules[1]");
    assert!(published(&a).is_empty());
}

#[tokio::test]
async fn good_capture_rules_are_sent_as_the_contracts_request_and_answered() {
    let a = api(false);
    let (hub, sent) = (a.hub.clone(), a.sent.clone());
    let vehicle = tokio::spawn(async move {
        loop {
            let first = sent.0.lock().unwrap().first().cloned();
            if let Some((_, payload)) = first {
                let req: Json = serde_json::from_slice(&payload).unwrap();
                let res = json!({"id": req["id"], "status": "accepted"});
                hub.ingest(
                    &format!("vehicle/{VIN}/cmd/res"),
                    res.to_string().as_bytes(),
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let body = json!({"rules": [{"rule": "abs.engaged", "before": 5.0, "after": 3.0},
        {"rule": "Vehicle.Speed > 130"}]});
    let r = put_rules(&a, VIN, &body).await;
    assert_eq!(r.status, StatusCode::OK);
    let out = r.json();
    assert_eq!(out["status"], "accepted", "{out}");
    vehicle.await.unwrap();
    let sent = published(&a);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, format!("vehicle/{VIN}/cmd/req"));
    let expected = json!({"id": out["id"], "capture_rules": [
        {"rule": "abs.engaged", "before": 5.0, "after": 3.0},
        {"rule": "Vehicle.Speed > 130", "before": 10.0, "after": 5.0}]});
    assert_eq!(sent[0].1, expected);
}

#[tokio::test]
async fn vetting_off_is_a_404_for_a_submission_and_a_job_and_an_enabled_false_list() {
    let a = api(false);
    let r = a
        .send(
            Request::post("/api/vet?subsystem=battery")
                .header("content-type", "application/octet-stream")
                .body(Body::from(vec![1u8; 8]))
                .unwrap(),
        )
        .await;
    assert_eq!(
        r.is_problem(StatusCode::NOT_FOUND)["type"],
        "urn:tcu-twin:problem:vetting-off"
    );
    let list = a.get("/api/vet").await.json();
    assert_eq!(list, json!({"enabled": false, "jobs": []}));
    a.get("/api/vet/1").await.is_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn capture_rules_and_vetting_need_a_write_token_and_listing_a_read_token() {
    use super::tests::{READ, WRITE};
    let a = api(true);
    let body = json!({"rules": []}).to_string();
    for (token, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(READ), StatusCode::FORBIDDEN),
    ] {
        let mut req = Request::put(format!("/api/vehicles/{VIN}/capture-rules"))
            .header("content-type", "application/json");
        let mut vet = Request::post("/api/vet?subsystem=battery")
            .header("content-type", "application/octet-stream");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
            vet = vet.header("authorization", format!("Bearer {t}"));
        }
        a.send(req.body(Body::from(body.clone())).unwrap())
            .await
            .is_problem(status);
        a.send(vet.body(Body::from(vec![1u8])).unwrap())
            .await
            .is_problem(status);
    }
    assert!(published(&a).is_empty());
    let list = a
        .send(
            Request::get(format!("/api/vehicles/{VIN}/captures"))
                .header("authorization", format!("Bearer {READ}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(list.status, StatusCode::OK);
    // With the write token the request goes through (to the vehicle: no
    // answer within the wait, so 202).
    let sent = a
        .send(
            Request::put(format!("/api/vehicles/{VIN}/capture-rules"))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {WRITE}"))
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    assert_eq!(sent.json()["status"], "sent");
    assert_eq!(published(&a).len(), 1);
}
