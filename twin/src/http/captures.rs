//! Captures over the API: the list of a vehicle's captures
//! (`GET /api/vehicles/{vin}/captures`) and of the fleet's
//! (`GET /api/captures[?subsystem=abs]`, those whose trace header lists the
//! subsystem), the file of one (`GET /api/vehicles/{vin}/captures/{id}`,
//! `text/plain`, byte for byte what the vehicle captured: the export
//! `tcu vet` takes), and the vehicle's capture rules
//! (`PUT /api/vehicles/{vin}/capture-rules`), each checked against the
//! catalog as the vehicle checks it and sent as the `cmd/req`
//! `capture_rules` request of `docs/RECORDING.md`.

use super::commands::{ok_json, request};
use super::problem::Problem;
use super::routes::{Params, json_body, single};
use super::{AppState, Shared};
use crate::store::{CaptureInfo, CaptureQuery};
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};
use tcu_engine::catalog::Catalog;
use tcu_engine::record::CaptureRule;

/// Rules one request may set at most.
pub const MAX_RULES: usize = 64;
/// Seconds before and after a trigger when a rule leaves them out (the
/// vehicle's defaults).
pub const DEFAULT_WINDOW: (f64, f64) = (10.0, 5.0);

async fn listed(state: &AppState, q: CaptureQuery) -> Result<Vec<CaptureInfo>, Problem> {
    let store = state.hub.store.clone();
    tokio::task::spawn_blocking(move || store.captures(&q))
        .await
        .map_err(Problem::store)?
        .map_err(Problem::store)
}

fn list_json(captures: &[CaptureInfo]) -> Response {
    let list: Vec<Json> = captures.iter().map(CaptureInfo::to_json).collect();
    ok_json(StatusCode::OK, &json!({ "captures": list }))
}

/// `GET /api/vehicles/{vin}/captures`
pub async fn of_vehicle(state: Shared, Path(vin): Path<String>) -> Result<Response, Problem> {
    if state.hub.fleet().get(&vin).is_none() {
        return Err(Problem::unknown_vehicle(&vin));
    }
    let q = CaptureQuery {
        vin: Some(vin),
        ..Default::default()
    };
    Ok(list_json(&listed(&state, q).await?))
}

/// `GET /api/captures[?subsystem=NAME]`
pub async fn of_fleet(state: Shared, Query(params): Params) -> Result<Response, Problem> {
    if let Some((k, _)) = params.iter().find(|(k, _)| k != "subsystem") {
        return Err(Problem::bad_field(
            k,
            format!("unknown parameter `{k}` (only `subsystem`)"),
        ));
    }
    let q = CaptureQuery {
        subsystem: single(&params, "subsystem")?.map(str::to_owned),
        ..Default::default()
    };
    Ok(list_json(&listed(&state, q).await?))
}

/// `GET /api/vehicles/{vin}/captures/{id}`: the file; 404 for a capture
/// the twin has no chunk of, 409 while chunks are missing.
pub async fn file(
    state: Shared,
    Path((vin, id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let store = state.hub.store.clone();
    let (v, i) = (vin.clone(), id.clone());
    let found = tokio::task::spawn_blocking(move || store.capture_file(&v, &i))
        .await
        .map_err(Problem::store)?
        .map_err(Problem::store)?;
    match found {
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-capture",
            format!("`{vin}` has no capture `{id}`"),
        )
        .field("id")),
        Some((info, None)) => Err(Problem::new(
            StatusCode::CONFLICT,
            "incomplete-capture",
            format!(
                "capture `{id}` of `{vin}` has {} of its {} chunks",
                info.received_chunks, info.meta.chunks
            ),
        )
        .field("id")
        .with("capture", info.to_json())),
        Some((_, Some(file))) => Ok((
            [
                (
                    header::CONTENT_TYPE,
                    "text/plain; charset=us-ascii".to_owned(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"capture-{vin}-{id}.trace\""),
                ),
            ],
            file,
        )
            .into_response()),
    }
}

fn invalid(field: &str, detail: String) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-capture-rules",
        detail,
    )
    .field(field)
}

/// The rules of a `{"rules": [{"rule", "before", "after"}]}` body, each
/// parsed against `catalog`, as the contract's `capture_rules` list (the
/// default window filled in).
fn check_rules(body: &Json, catalog: &Catalog) -> Result<Json, Problem> {
    let shape = || {
        invalid(
            "body",
            "expected {\"rules\": [{\"rule\": ..., \"before\": ..., \"after\": ...}]}".into(),
        )
    };
    let m = body.as_object().ok_or_else(shape)?;
    if let Some(k) = m.keys().find(|k| *k != "rules") {
        return Err(invalid(k, format!("unknown member `{k}` (only `rules`)")));
    }
    let rules = m.get("rules").and_then(Json::as_array).ok_or_else(shape)?;
    if rules.len() > MAX_RULES {
        return Err(invalid(
            "rules",
            format!(
                "{} rules, more than the {MAX_RULES} a vehicle takes",
                rules.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        let field = format!("rules[{i}]");
        let fail = |why: String| invalid(&field, format!("{field}: {why}"));
        let Some(r) = r.as_object() else {
            return Err(fail("a rule is an object {rule, before, after}".into()));
        };
        if let Some(k) = r
            .keys()
            .find(|k| !matches!(k.as_str(), "rule" | "before" | "after"))
        {
            return Err(fail(format!(
                "unknown member `{k}` (a rule has rule, before and after)"
            )));
        }
        let text = r
            .get("rule")
            .and_then(Json::as_str)
            .ok_or_else(|| fail("`rule` must be a string".into()))?;
        let seconds = |key: &str, default: f64| match r.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| fail(format!("`{key}` must be a number of seconds"))),
        };
        let before = seconds("before", DEFAULT_WINDOW.0)?;
        let after = seconds("after", DEFAULT_WINDOW.1)?;
        CaptureRule::parse(text, before, after, catalog).map_err(fail)?;
        out.push(json!({"rule": text, "before": before, "after": after}));
    }
    Ok(Json::Array(out))
}

/// `PUT /api/vehicles/{vin}/capture-rules`
pub async fn set_rules(
    state: Shared,
    Path(vin): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    if state.hub.fleet().get(&vin).is_none() {
        return Err(Problem::unknown_vehicle(&vin));
    }
    let body = json_body(&state, &headers, body, &["application/json"]).await?;
    let rules = {
        let fleet = state.hub.fleet();
        check_rules(&body, fleet.catalog())?
    };
    let out = json!({"capture_rules": rules});
    request(&state, &vin, "capture_rules", &rules, out).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: Json) -> Result<Json, Json> {
        check_rules(&body, &Catalog::builtin()).map_err(|p| p.body())
    }

    #[test]
    fn good_rules_become_the_contracts_list_with_the_default_window() {
        let r = check(json!({"rules": [{"rule": "abs.engaged"},
            {"rule": "Vehicle.Speed > 130", "before": 2.5, "after": 1}]}));
        assert_eq!(
            r.unwrap(),
            json!([{"rule": "abs.engaged", "before": 10.0, "after": 5.0},
                {"rule": "Vehicle.Speed > 130", "before": 2.5, "after": 1.0}])
        );
        assert_eq!(check(json!({"rules": []})).unwrap(), json!([]));
    }

    #[test]
    fn a_bad_rule_is_refused_naming_its_index_and_why() {
        let p = check(json!({"rules": [{"rule": "abs.engaged"}, {"rule": "Vehicle.Nope > 1"}]}))
            .unwrap_err();
        assert_eq!(
            (p["status"].as_u64(), p["field"].as_str()),
            (Some(422), Some("rules[1]"))
        );
        assert!(
            p["detail"]
                .as_str()
                .is_some_and(|d| d.contains("Vehicle.Nope")),
            "{p}"
        );
        for (body, field) in [
            (
                json!({"rules": [{"rule": "abs.engaged", "before": -1}]}),
                "rules[0]",
            ),
            (
                json!({"rules": [{"rule": "Vehicle.Speed >> 1"}]}),
                "rules[0]",
            ),
            (
                json!({"rules": [{"rule": "abs.engaged", "after": "5"}]}),
                "rules[0]",
            ),
            (
                json!({"rules": [{"rule": "abs.engaged", "x": 1}]}),
                "rules[0]",
            ),
            (json!({"rules": [7]}), "rules[0]"),
            (json!({"rules": "abs.engaged"}), "body"),
            (json!({"rules": [], "more": 1}), "more"),
            (json!([]), "body"),
        ] {
            assert_eq!(check(body.clone()).unwrap_err()["field"], field, "{body}");
        }
    }
}
