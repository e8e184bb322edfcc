//! Faults from the twin: `GET /api/faults` lists every plugin's injectable
//! faults (the DTC table the vehicles raise their codes from), and
//! `POST /api/vehicles/{vin}/commands` injects (`value` 1) or heals (0)
//! one of them, `{"subsystem": "abs", "name": "fault.wheel_sensor",
//! "value": 1}`, sent to the vehicle as the `cmd/req` plugin command it
//! already accepts. The command is checked against the table first, so a
//! subsystem or fault no vehicle knows is a 422 naming it rather than a
//! refusal later. The answer waits a moment for the vehicle's `cmd/res`:
//! 200 with `accepted` / `rejected` (and the reasons), or 202 `sent` when no
//! answer came in time (the vehicle may be away; its reported DTC list
//! shows what happened).

use super::Shared;
use super::problem::Problem;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};
use std::time::Duration;
use tcu_engine::catalog::{DtcFault, DtcTable};

/// Prefix of the plugin command that injects or heals a fault (the
/// plugins' `fault.<name>`, `docs/ARCHITECTURE.md`).
const COMMAND_PREFIX: &str = "fault.";

/// How long a command waits for the vehicle's `cmd/res`.
pub const ANSWER_WAIT: Duration = Duration::from_secs(3);

fn faults(state: &Shared) -> Vec<DtcFault> {
    let fleet = state.hub.fleet();
    DtcTable::builtin(fleet.catalog())
        .faults()
        .cloned()
        .collect()
}

pub(super) fn ok_json(status: StatusCode, body: &Json) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `GET /api/faults`
pub async fn list(state: Shared) -> Response {
    let faults: Vec<Json> = faults(&state)
        .iter()
        .map(|f| {
            json!({
                "subsystem": f.subsystem,
                "name": format!("{COMMAND_PREFIX}{}", f.fault),
                "code": f.code,
                "description": f.description,
                "effect": f.effect,
            })
        })
        .collect();
    ok_json(StatusCode::OK, &json!({ "faults": faults }))
}

fn invalid(kind: &'static str, field: &str, detail: String) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, kind, detail).field(field)
}

/// The checked command: (subsystem, name, value).
fn check(body: &Json, known: &[DtcFault]) -> Result<(String, String, f64), Problem> {
    let Some(m) = body.as_object() else {
        return Err(invalid(
            "invalid-command",
            "body",
            "a command is a JSON object {subsystem, name, value}".into(),
        ));
    };
    if let Some(k) = m
        .keys()
        .find(|k| !matches!(k.as_str(), "subsystem" | "name" | "value"))
    {
        return Err(invalid(
            "invalid-command",
            k,
            format!("unknown member `{k}` (a command has subsystem, name and value)"),
        ));
    }
    let text = |key: &str| match m.get(key) {
        Some(Json::String(s)) => Ok(s.clone()),
        _ => Err(invalid(
            "invalid-command",
            key,
            format!("`{key}` must be a string"),
        )),
    };
    let subsystem = text("subsystem")?;
    let name = text("name")?;
    let mut subsystems: Vec<&str> = known.iter().map(|f| f.subsystem.as_str()).collect();
    subsystems.dedup();
    if !subsystems.contains(&subsystem.as_str()) {
        return Err(invalid(
            "unknown-subsystem",
            "subsystem",
            format!(
                "no subsystem `{subsystem}` with injectable faults (one of {})",
                subsystems.join(", ")
            ),
        ));
    }
    let own: Vec<String> = known
        .iter()
        .filter(|f| f.subsystem == subsystem)
        .map(|f| format!("{COMMAND_PREFIX}{}", f.fault))
        .collect();
    if !own.contains(&name) {
        return Err(invalid(
            "unknown-fault",
            "name",
            format!(
                "`{subsystem}` has no fault `{name}` (one of {})",
                own.join(", ")
            ),
        ));
    }
    let value = match m.get("value") {
        Some(v) if v.as_f64() == Some(0.0) || v.as_f64() == Some(1.0) => v.as_f64(),
        _ => None,
    }
    .ok_or_else(|| {
        invalid(
            "invalid-command",
            "value",
            "`value` must be 1 (inject) or 0 (heal)".into(),
        )
    })?;
    Ok((subsystem, name, value))
}

/// `POST /api/vehicles/{vin}/commands`
pub async fn send(
    state: Shared,
    Path(vin): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    if state.hub.fleet().get(&vin).is_none() {
        return Err(Problem::unknown_vehicle(&vin));
    }
    let body = super::routes::json_body(&state, &headers, body, &["application/json"]).await?;
    let (subsystem, name, value) = check(&body, &faults(&state))?;
    let command = json!({"subsystem": subsystem, "name": name, "value": value});
    let out = json!({"command": command});
    request(&state, &vin, "command", &command, out).await
}

/// Sends `body` under `key` as a `cmd/req` request to `vin` and waits
/// [`ANSWER_WAIT`] for its `cmd/res`: `out` with `id` and `status`
/// (`accepted`, `rejected` with `errors`: 200; `sent`: 202), or 503 when
/// it could not be queued for the broker.
pub(super) async fn request(
    state: &super::AppState,
    vin: &str,
    key: &str,
    body: &Json,
    mut out: Json,
) -> Result<Response, Problem> {
    // Listen before sending, so a fast answer is not missed.
    let mut answers = state.hub.command_results.subscribe();
    let Some(id) = state.hub.send_request(vin, key, body) else {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "broker-unavailable",
            format!("the request to `{vin}` could not be queued for the broker"),
        ));
    };
    let answer = tokio::time::timeout(ANSWER_WAIT, async {
        loop {
            match answers.recv().await {
                Ok(r) if r.id == id && r.vin == vin => return Some(r),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    out["id"] = json!(id);
    let status = match answer.map(|a| a.outcome.clone()) {
        Some(Ok(())) => {
            out["status"] = json!("accepted");
            StatusCode::OK
        }
        Some(Err(errors)) => {
            out["status"] = json!("rejected");
            out["errors"] = json!(errors);
            StatusCode::OK
        }
        None => {
            out["status"] = json!("sent");
            StatusCode::ACCEPTED
        }
    };
    Ok(ok_json(status, &out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcu_engine::catalog::Catalog;

    fn known() -> Vec<DtcFault> {
        DtcTable::builtin(&Catalog::builtin())
            .faults()
            .cloned()
            .collect()
    }

    fn problem(body: Json) -> Json {
        check(&body, &known()).expect_err("refused").body()
    }

    #[test]
    fn a_known_fault_command_passes_with_its_value() {
        let ok = check(
            &json!({"subsystem": "abs", "name": "fault.wheel_sensor", "value": 1}),
            &known(),
        );
        assert_eq!(
            ok.ok(),
            Some(("abs".into(), "fault.wheel_sensor".into(), 1.0))
        );
    }

    #[test]
    fn an_unknown_subsystem_or_fault_is_refused_naming_it() {
        let p = problem(json!({"subsystem": "wipers", "name": "fault.x", "value": 1}));
        assert_eq!(p["field"], "subsystem");
        assert!(
            p["detail"].as_str().is_some_and(|d| d.contains("`wipers`")),
            "{p}"
        );
        let p = problem(json!({"subsystem": "abs", "name": "fault.compressor", "value": 1}));
        assert_eq!(p["field"], "name");
        assert!(
            p["detail"]
                .as_str()
                .is_some_and(|d| d.contains("`fault.compressor`")),
            "{p}"
        );
        assert_eq!(p["status"], 422);
    }

    #[test]
    fn a_value_other_than_zero_or_one_and_stray_members_are_refused() {
        for v in [json!(2), json!(0.5), json!("1"), json!(true), Json::Null] {
            let p = problem(json!({"subsystem": "abs", "name": "fault.wheel_sensor", "value": v}));
            assert_eq!(p["field"], "value", "{v}");
        }
        let p =
            problem(json!({"subsystem": "abs", "name": "fault.wheel_sensor", "value": 1, "x": 1}));
        assert_eq!(p["field"], "x");
        assert_eq!(problem(json!([1]))["field"], "body");
    }
}
