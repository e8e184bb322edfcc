//! A hawkBit Management API server of the project's own (no hawkBit can
//! run here), in-process on 127.0.0.1 and an ephemeral port, following
//! hawkBit's documented REST resources under `/rest/v1` for what a rollout
//! of TCU bundles uses: HTTP Basic authentication (401 without it);
//! `POST /softwaremodules`, `POST /softwaremodules/{id}/artifacts`
//! (multipart field `file`), `POST /distributionsets` (201 with the created
//! array; 409 for a name and version that exist; 404 for an unknown
//! module); `POST /distributionsets/{id}/assignedTargets` (200 with
//! `assigned`, `alreadyAssigned`, `total`; 404 for an unknown target);
//! `GET /targets` paged by `offset` and `limit` as `{content, total, size}`
//! and filtered by `q=controllerId==PREFIX*`; `GET /targets/{id}` and
//! `/installedDS` (204 when none); `POST /rollouts` (201, `creating`, then
//! `ready` once read), `GET /rollouts/{id}`, `POST /rollouts/{id}/start`
//! (400 unless `ready`). Errors carry hawkBit's `{errorCode, message}`.
//!
//! What it does not do: hawkBit's full FIQL, md5/sha1 hashes (it reports
//! sha256 only), software-module and distribution-set types other than the
//! defaults' keys, and deployment itself (targets are registered by the
//! test).

// Test helper: a poisoned lock or a failed socket call should panic.
#![allow(clippy::unwrap_used)]

use crate::http1::{Incoming, json_response, read_request};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The user and password the fake accepts.
pub const USER: (&str, &str) = ("admin", "admin");

/// What the fake holds.
#[derive(Debug, Default)]
pub struct State {
    next_id: u64,
    /// Software modules by id.
    pub modules: BTreeMap<u64, Value>,
    /// Artifacts: module id → (file name, bytes).
    pub artifacts: BTreeMap<u64, (String, Vec<u8>)>,
    /// Distribution sets by id.
    pub sets: BTreeMap<u64, Value>,
    /// Registered targets (controller ids) and the set assigned to each.
    pub targets: BTreeMap<String, Option<u64>>,
    /// Rollouts by id (their request body plus `status`).
    pub rollouts: BTreeMap<u64, Value>,
    /// Every request: method and path.
    pub requests: Vec<(String, String)>,
}

/// A running fake; stops on drop.
#[derive(Debug)]
pub struct HawkbitMgmtFake {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its state.
    pub state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl HawkbitMgmtFake {
    /// Starts the fake with `targets` registered.
    pub fn start(targets: &[String]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            targets: targets.iter().map(|t| (t.clone(), None)).collect(),
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        listener.set_nonblocking(true).unwrap();
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let st = st.clone();
                        std::thread::spawn(move || serve(stream, &st));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        Self { url, state, stop }
    }
}

impl Drop for HawkbitMgmtFake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn error(stream: &mut TcpStream, status: u16, code: &str, message: &str) {
    json_response(
        stream,
        status,
        &json!({"exceptionClass": "fake", "errorCode": code, "message": message}),
    );
}

/// `Basic` with base64 of `admin:admin` ([`USER`]).
const AUTHORIZATION: &str = "Basic YWRtaW46YWRtaW4=";

fn authorized(req: &Incoming) -> bool {
    req.headers.get("authorization").map(String::as_str) == Some(AUTHORIZATION)
}

/// The file of a `multipart/form-data` body's field `file`.
fn multipart_file(req: &Incoming) -> Option<(String, Vec<u8>)> {
    let ct = req.headers.get("content-type")?;
    let boundary = ct.split("boundary=").nth(1)?.trim_matches('"');
    let sep = format!("--{boundary}");
    let body = &req.body;
    let start = find(body, sep.as_bytes(), 0)? + sep.len();
    let head_end = find(body, b"\r\n\r\n", start)?;
    let head = String::from_utf8_lossy(&body[start..head_end]);
    if !head.contains("name=\"file\"") {
        return None;
    }
    let name = head
        .split("filename=\"")
        .nth(1)?
        .split('"')
        .next()?
        .to_owned();
    let data_start = head_end + 4;
    let end = find(body, format!("\r\n{sep}").as_bytes(), data_start)?;
    Some((name, body[data_start..end].to_vec()))
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn query(path: &str) -> (String, BTreeMap<String, String>) {
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    let params = q
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.to_owned(),
                v.replace("%3D", "=").replace("%2A", "*").replace('+', " "),
            )
        })
        .collect();
    (p.to_owned(), params)
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let Some(req) = read_request(&stream) else {
        return;
    };
    let mut s = state.lock().unwrap();
    s.requests.push((req.method.clone(), req.path.clone()));
    if !authorized(&req) {
        return error(
            &mut stream,
            401,
            "hawkbit.server.error.unauthorized",
            "Basic authentication required",
        );
    }
    let (path, params) = query(&req.path);
    let Some(route) = path.strip_prefix("/rest/v1") else {
        return error(
            &mut stream,
            404,
            "hawkbit.server.error.notFound",
            "no such resource",
        );
    };
    let body: Option<Value> = serde_json::from_slice(&req.body).ok();
    let parts: Vec<&str> = route.trim_matches('/').split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("POST", ["softwaremodules"]) => {
            let Some(list) = body.as_ref().and_then(Value::as_array) else {
                return error(
                    &mut stream,
                    400,
                    "hawkbit.server.error.rest.body.notReadable",
                    "an array of software modules",
                );
            };
            let mut created = Vec::new();
            for m in list {
                let (Some(name), Some(version), Some(_)) = (
                    m["name"].as_str(),
                    m["version"].as_str(),
                    m["type"].as_str(),
                ) else {
                    return error(
                        &mut stream,
                        400,
                        "hawkbit.server.error.rest.param.missing",
                        "name, version and type are required",
                    );
                };
                if s.modules
                    .values()
                    .any(|e| e["name"] == name && e["version"] == version)
                {
                    return error(
                        &mut stream,
                        409,
                        "hawkbit.server.error.repo.entitiyAlreadyExists",
                        "software module exists",
                    );
                }
                s.next_id += 1;
                let id = s.next_id;
                let mut e = m.clone();
                e["id"] = json!(id);
                s.modules.insert(id, e.clone());
                created.push(e);
            }
            json_response(&mut stream, 201, &Value::Array(created));
        }
        ("POST", ["softwaremodules", id, "artifacts"]) => {
            let Some(id) = id.parse::<u64>().ok().filter(|i| s.modules.contains_key(i)) else {
                return error(
                    &mut stream,
                    404,
                    "hawkbit.server.error.repo.entitiyNotFound",
                    "no such software module",
                );
            };
            let Some((name, data)) = multipart_file(&req) else {
                return error(
                    &mut stream,
                    400,
                    "hawkbit.server.error.artifact.uploadFailed",
                    "multipart field `file` missing",
                );
            };
            let sha256 = hex::encode(sha2::Sha256::digest(&data));
            let size = data.len();
            s.artifacts.insert(id, (name.clone(), data));
            s.next_id += 1;
            let aid = s.next_id;
            json_response(
                &mut stream,
                201,
                &json!({"id": aid, "providedFilename": name, "size": size, "hashes": {"sha256": sha256}}),
            );
        }
        ("POST", ["distributionsets"]) => {
            let Some(list) = body.as_ref().and_then(Value::as_array) else {
                return error(
                    &mut stream,
                    400,
                    "hawkbit.server.error.rest.body.notReadable",
                    "an array of distribution sets",
                );
            };
            let mut created = Vec::new();
            for d in list {
                let modules: Vec<u64> = d["modules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["id"].as_u64())
                    .collect();
                if modules.iter().any(|m| !s.modules.contains_key(m)) {
                    return error(
                        &mut stream,
                        404,
                        "hawkbit.server.error.repo.entitiyNotFound",
                        "no such software module",
                    );
                }
                if d["name"].as_str().is_none() || d["version"].as_str().is_none() {
                    return error(
                        &mut stream,
                        400,
                        "hawkbit.server.error.rest.param.missing",
                        "name and version are required",
                    );
                }
                if s.sets
                    .values()
                    .any(|e| e["name"] == d["name"] && e["version"] == d["version"])
                {
                    return error(
                        &mut stream,
                        409,
                        "hawkbit.server.error.repo.entitiyAlreadyExists",
                        "distribution set exists",
                    );
                }
                s.next_id += 1;
                let id = s.next_id;
                let mut e = d.clone();
                e["id"] = json!(id);
                s.sets.insert(id, e.clone());
                created.push(e);
            }
            json_response(&mut stream, 201, &Value::Array(created));
        }
        ("POST", ["distributionsets", id, "assignedTargets"]) => {
            let Some(id) = id.parse::<u64>().ok().filter(|i| s.sets.contains_key(i)) else {
                return error(
                    &mut stream,
                    404,
                    "hawkbit.server.error.repo.entitiyNotFound",
                    "no such distribution set",
                );
            };
            let wanted: Vec<String> = body
                .as_ref()
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| t["id"].as_str().map(str::to_owned))
                .collect();
            if let Some(t) = wanted.iter().find(|t| !s.targets.contains_key(*t)) {
                return error(
                    &mut stream,
                    404,
                    "hawkbit.server.error.repo.entitiyNotFound",
                    &format!("no target {t}"),
                );
            }
            let (mut assigned, mut already) = (0, 0);
            for t in &wanted {
                let slot = s.targets.get_mut(t).unwrap();
                if *slot == Some(id) {
                    already += 1;
                } else {
                    *slot = Some(id);
                    assigned += 1;
                }
            }
            json_response(
                &mut stream,
                200,
                &json!({"assigned": assigned, "alreadyAssigned": already, "total": wanted.len()}),
            );
        }
        ("GET", ["targets"]) => {
            let offset: usize = params
                .get("offset")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let limit: usize = params
                .get("limit")
                .and_then(|v| v.parse().ok())
                .unwrap_or(50)
                .min(500);
            let prefix = match params.get("q") {
                None => String::new(),
                Some(q) => match q
                    .strip_prefix("controllerId==")
                    .and_then(|p| p.strip_suffix('*'))
                {
                    Some(p) => p.to_owned(),
                    None => {
                        return error(
                            &mut stream,
                            400,
                            "hawkbit.server.error.rest.param.rsqlInvalidField",
                            "the fake knows controllerId==PREFIX* only",
                        );
                    }
                },
            };
            let all: Vec<&String> = s
                .targets
                .keys()
                .filter(|t| t.starts_with(&prefix))
                .collect();
            let page: Vec<Value> = all
                .iter()
                .skip(offset)
                .take(limit)
                .map(|t| json!({"controllerId": t, "name": t}))
                .collect();
            json_response(
                &mut stream,
                200,
                &json!({"size": page.len(), "total": all.len(), "content": page}),
            );
        }
        ("GET", ["targets", id]) => match s.targets.get(*id) {
            Some(set) => json_response(
                &mut stream,
                200,
                &json!({"controllerId": id, "updateStatus": if set.is_some() { "pending" } else { "registered" }}),
            ),
            None => error(
                &mut stream,
                404,
                "hawkbit.server.error.repo.entitiyNotFound",
                "no such target",
            ),
        },
        ("GET", ["targets", id, "installedDS"]) => match s.targets.get(*id) {
            Some(_) => crate::http1::respond(&mut stream, 204, &[], b""),
            None => error(
                &mut stream,
                404,
                "hawkbit.server.error.repo.entitiyNotFound",
                "no such target",
            ),
        },
        ("POST", ["rollouts"]) => {
            let Some(b) =
                body.filter(|b| b["name"].is_string() && b["targetFilterQuery"].is_string())
            else {
                return error(
                    &mut stream,
                    400,
                    "hawkbit.server.error.rest.param.missing",
                    "name and targetFilterQuery are required",
                );
            };
            if !b["distributionSetId"]
                .as_u64()
                .is_some_and(|d| s.sets.contains_key(&d))
            {
                return error(
                    &mut stream,
                    404,
                    "hawkbit.server.error.repo.entitiyNotFound",
                    "no such distribution set",
                );
            }
            for c in ["successCondition", "errorCondition"] {
                if b.get(c).is_some_and(|v| {
                    v["condition"] != "THRESHOLD"
                        || v["expression"]
                            .as_str()
                            .and_then(|e| e.parse::<u8>().ok())
                            .is_none_or(|p| p > 100)
                }) {
                    return error(
                        &mut stream,
                        400,
                        "hawkbit.server.error.rest.param.invalid",
                        &format!("{c}: THRESHOLD with a percentage"),
                    );
                }
            }
            s.next_id += 1;
            let id = s.next_id;
            let mut r = b.clone();
            r["id"] = json!(id);
            r["status"] = json!("creating");
            s.rollouts.insert(id, r.clone());
            json_response(&mut stream, 201, &r);
        }
        ("GET", ["rollouts", id]) => {
            match id.parse::<u64>().ok().and_then(|i| s.rollouts.get_mut(&i)) {
                Some(r) => {
                    let shown = r.clone();
                    // hawkBit splits the targets into groups in the background:
                    // `creating` is seen once, then `ready`.
                    if r["status"] == "creating" {
                        r["status"] = json!("ready");
                    }
                    json_response(&mut stream, 200, &shown);
                }
                None => error(
                    &mut stream,
                    404,
                    "hawkbit.server.error.repo.entitiyNotFound",
                    "no such rollout",
                ),
            }
        }
        ("POST", ["rollouts", id, "start"]) => {
            let id = id.parse::<u64>().unwrap_or(0);
            let Some(r) = s.rollouts.get(&id).cloned() else {
                return error(
                    &mut stream,
                    404,
                    "hawkbit.server.error.repo.entitiyNotFound",
                    "no such rollout",
                );
            };
            if r["status"] != "ready" {
                return error(
                    &mut stream,
                    400,
                    "hawkbit.server.error.rollout.illegalstate",
                    "a rollout starts only when ready",
                );
            }
            let set = r["distributionSetId"].as_u64();
            let prefix = r["targetFilterQuery"]
                .as_str()
                .and_then(|q| q.strip_prefix("controllerId=="))
                .and_then(|p| p.strip_suffix('*'))
                .unwrap_or_default()
                .to_owned();
            for (t, slot) in s.targets.iter_mut() {
                if t.starts_with(&prefix) {
                    *slot = set;
                }
            }
            if let Some(r) = s.rollouts.get_mut(&id) {
                r["status"] = json!("running");
            }
            crate::http1::respond(&mut stream, 200, &[], b"");
        }
        _ => error(
            &mut stream,
            404,
            "hawkbit.server.error.notFound",
            "no such resource",
        ),
    }
}
