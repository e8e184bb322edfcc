//! A hawkBit DDI server of the project's own, in-process on 127.0.0.1 and an
//! ephemeral port, for what goosebit lacks: several chunks, cancel,
//! maintenance windows, soft updates, user confirmation (confirmationBase),
//! installedBase, ETag/304, 409/429/410, and interrupted or slow downloads.
//! It can also misbehave as a hostile or broken server would: refuse an
//! action's closing feedback, answer with a huge body, announce an id that
//! is not a plain id, serve downloads from another origin (a mirror), and
//! require the device's authorization header.
//!
//! It keeps real state: an action is open until a `closed` feedback arrives
//! (or a cancel is accepted), and every feedback is recorded. Faults are
//! queued by the test and consumed by the next matching request.
//!
//! The HTTP side is a tiny HTTP/1.1 server on std threads (one request per
//! connection, `Connection: close`), so a fault can cut a body halfway.

// Test helper: a poisoned lock or a failed socket call should panic.
#![allow(clippy::unwrap_used)]

use crate::http1::{Incoming, json_response, read_request, respond};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The tenant the fake serves.
pub const TENANT: &str = "DEFAULT";

/// A file of a chunk.
#[derive(Debug, Clone)]
pub struct FakeArtifact {
    /// File name as announced.
    pub filename: String,
    /// Content served.
    pub data: Vec<u8>,
    /// Announce hashes of this content instead (a corrupted artifact).
    pub announced: Option<Vec<u8>>,
    /// Announce only sha1 (as goosebit does).
    pub sha1_only: bool,
}

impl FakeArtifact {
    /// A correct artifact.
    pub fn new(filename: &str, data: Vec<u8>) -> Self {
        Self {
            filename: filename.into(),
            data,
            announced: None,
            sha1_only: false,
        }
    }
}

/// A chunk.
#[derive(Debug, Clone)]
pub struct FakeChunk {
    /// `part` (the subsystem).
    pub part: String,
    /// Version.
    pub version: String,
    /// Files.
    pub artifacts: Vec<FakeArtifact>,
}

/// How an action is offered.
#[derive(Debug, Clone)]
pub struct ActionSpec {
    /// Chunks.
    pub chunks: Vec<FakeChunk>,
    /// `download`.
    pub download: String,
    /// `update`.
    pub update: String,
    /// `maintenanceWindow` (absent when `None`).
    pub window: Option<String>,
    /// Offered as `confirmationBase` until the device confirms.
    pub confirm: bool,
    /// The id the deploymentBase announces instead of the real one (a
    /// server sending an id that is not a plain id).
    pub announced_id: Option<String>,
}

impl ActionSpec {
    /// A forced action with these chunks.
    pub fn forced(chunks: Vec<FakeChunk>) -> Self {
        Self {
            chunks,
            download: "forced".into(),
            update: "forced".into(),
            window: None,
            confirm: false,
            announced_id: None,
        }
    }
}

/// Where an action stands on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionStatus {
    /// Offered.
    Open,
    /// Closed by feedback.
    Closed {
        /// `finished` was `success`.
        success: bool,
    },
    /// Canceled (the device accepted the cancel).
    Canceled,
    /// Dropped by the server (410 from then on).
    Gone,
}

#[derive(Debug)]
struct Action {
    spec: ActionSpec,
    status: ActionStatus,
    cancel_pending: bool,
    revision: u64,
    feedback: Vec<Value>,
    cancel_feedback: Vec<Value>,
    confirmed: bool,
    confirmation_feedback: Vec<Value>,
    /// Closing feedbacks are answered with this status (and not recorded
    /// as feedback: the action stays open).
    refuse_closing: Option<u16>,
    refused_closing: Vec<Value>,
}

/// A fault for the next matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status.
    Status(u16),
    /// Send the headers and this many bytes of the body, then close.
    CutAfter(usize),
}

/// Answers that [`DdiFake::oversize_next`] can make huge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `GET {base}`.
    Poll,
    /// `GET deploymentBase/{id}`.
    DeploymentBase,
    /// `GET cancelAction/{id}`.
    CancelAction,
    /// `POST deploymentBase/{id}/feedback`.
    Feedback,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// The server URL it reached (the fake's, or its mirror's).
    pub server: String,
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// `Range` header.
    pub range: Option<String>,
    /// `If-None-Match` header.
    pub if_none_match: Option<String>,
    /// `Authorization` header.
    pub authorization: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    sleep: String,
    actions: BTreeMap<u64, Action>,
    next_id: u64,
    want_config: bool,
    config_data: Vec<Value>,
    download_faults: VecDeque<Fault>,
    downloads_always: Option<u16>,
    feedback_faults: VecDeque<u16>,
    poll_faults: VecDeque<u16>,
    requests: Vec<Request>,
    not_modified: usize,
    throttle: Option<(usize, Duration)>,
    served_bytes: u64,
    completed_downloads: usize,
    /// Download links point here instead of at the DDI server.
    files_base: Option<String>,
    /// The DDI server (not its mirror) answers 401 to requests without
    /// this `Authorization` header.
    required_authorization: Option<String>,
    oversized: VecDeque<(Answer, usize, bool)>,
    oversized_bytes_sent: u64,
}

/// The running fake; stops when dropped.
#[derive(Debug)]
pub struct DdiFake {
    url: String,
    controller: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

/// A cheap handle to change the fake from other threads (e.g. a fake
/// installer that requests a cancel while it installs).
#[derive(Debug, Clone)]
pub struct FakeHandle(Arc<Mutex<State>>);

impl FakeHandle {
    /// Asks the device to cancel action `id`.
    pub fn cancel(&self, id: u64) {
        let mut s = self.0.lock().unwrap();
        if let Some(a) = s.actions.get_mut(&id) {
            a.cancel_pending = true;
        }
    }
}

impl DdiFake {
    /// Starts serving controller `controller`.
    pub fn start(controller: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            sleep: "00:00:30".into(),
            next_id: 1,
            want_config: true,
            ..Default::default()
        }));
        Self::listen(controller, state, false)
    }

    /// A second server on another port (another origin) sharing this one's
    /// state: from now on download links point at it. It records its
    /// requests with its own URL in [`Request::server`] and never asks for
    /// authorization.
    pub fn file_mirror(&self) -> DdiFake {
        let mirror = Self::listen(&self.controller, self.state.clone(), true);
        self.with(|s| s.files_base = Some(mirror.url.clone()));
        mirror
    }

    fn listen(controller: &str, state: Arc<Mutex<State>>, mirror: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp, base, ctrl) = (
            state.clone(),
            stop.clone(),
            url.clone(),
            controller.to_owned(),
        );
        std::thread::Builder::new()
            .name("ddi-fake".into())
            .spawn(move || {
                while !sp.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (st, base, ctrl) = (st.clone(), base.clone(), ctrl.clone());
                            std::thread::spawn(move || serve(stream, &st, &base, &ctrl, mirror));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
            .unwrap();
        Self {
            url,
            controller: controller.to_owned(),
            state,
            stop,
        }
    }

    /// Server base URL (without the tenant).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The controller's DDI base.
    pub fn base(&self) -> String {
        format!("{}/{TENANT}/controller/v1/{}", self.url, self.controller)
    }

    /// A handle for other threads.
    pub fn handle(&self) -> FakeHandle {
        FakeHandle(self.state.clone())
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Offers an action; returns its id.
    pub fn add_action(&self, spec: ActionSpec) -> u64 {
        self.with(|s| {
            let id = s.next_id;
            s.next_id += 1;
            s.actions.insert(
                id,
                Action {
                    spec,
                    status: ActionStatus::Open,
                    cancel_pending: false,
                    revision: 1,
                    feedback: vec![],
                    cancel_feedback: vec![],
                    confirmed: false,
                    confirmation_feedback: vec![],
                    refuse_closing: None,
                    refused_closing: vec![],
                },
            );
            id
        })
    }

    /// Records an action as already closed with success (what the server
    /// remembers from before); the poll offers it as `installedBase`.
    pub fn add_installed(&self, spec: ActionSpec) -> u64 {
        let id = self.add_action(spec);
        self.with(|s| {
            s.actions.get_mut(&id).unwrap().status = ActionStatus::Closed { success: true };
        });
        id
    }

    /// Changes `update` of action `id` (e.g. a soft update turned forced).
    pub fn set_update(&self, id: u64, update: &str) {
        self.with(|s| {
            let a = s.actions.get_mut(&id).unwrap();
            a.spec.update = update.into();
            a.revision += 1;
        });
    }

    /// Confirmation answers of action `id`, in order.
    pub fn confirmation_feedback(&self, id: u64) -> Vec<Value> {
        self.with(|s| s.actions[&id].confirmation_feedback.clone())
    }

    /// Asks the device to cancel action `id`.
    pub fn cancel(&self, id: u64) {
        self.handle().cancel(id);
    }

    /// Opens (or closes) the maintenance window of action `id`.
    pub fn set_window(&self, id: u64, window: &str) {
        self.with(|s| {
            let a = s.actions.get_mut(&id).unwrap();
            a.spec.window = Some(window.into());
            a.revision += 1;
        });
    }

    /// Drops action `id`: feedback is answered 410 from now on.
    pub fn drop_action(&self, id: u64) {
        self.with(|s| s.actions.get_mut(&id).unwrap().status = ActionStatus::Gone);
    }

    /// Sets the `sleep` the poll answers.
    pub fn set_sleep(&self, sleep: &str) {
        self.with(|s| s.sleep = sleep.into());
    }

    /// Queues a fault for the next download.
    pub fn fault_download(&self, f: Fault) {
        self.with(|s| s.download_faults.push_back(f));
    }

    /// Every download answers `status` from now on.
    pub fn fail_all_downloads(&self, status: u16) {
        self.with(|s| s.downloads_always = Some(status));
    }

    /// Serves file bodies `bytes` at a time with a pause of `pause` after
    /// each piece (a slow link), so a test can act mid-download.
    pub fn throttle_downloads(&self, bytes: usize, pause: Duration) {
        self.with(|s| s.throttle = Some((bytes.max(1), pause)));
    }

    /// File body bytes written to clients so far.
    pub fn served_bytes(&self) -> u64 {
        self.with(|s| s.served_bytes)
    }

    /// Downloads whose whole body reached the client.
    pub fn completed_downloads(&self) -> usize {
        self.with(|s| s.completed_downloads)
    }

    /// Queues a status for the next feedback POST.
    pub fn fault_feedback(&self, status: u16) {
        self.with(|s| s.feedback_faults.push_back(status));
    }

    /// Answers every closing feedback of action `id` with `status` from
    /// now on; the action stays open (as on a server that refuses it).
    pub fn refuse_closing(&self, id: u64, status: u16) {
        self.with(|s| s.actions.get_mut(&id).unwrap().refuse_closing = Some(status));
    }

    /// Closing feedbacks of action `id` that were refused.
    pub fn refused_closing(&self, id: u64) -> Vec<Value> {
        self.with(|s| s.actions[&id].refused_closing.clone())
    }

    /// The DDI server answers 401 to every request whose `Authorization`
    /// header is not `header` (its mirror asks for nothing).
    pub fn require_authorization(&self, header: &str) {
        self.with(|s| s.required_authorization = Some(header.into()));
    }

    /// The next `answer` is a body of `bytes` bytes (whitespace), with a
    /// `Content-Length` when `declared`, else delimited by closing the
    /// connection. It is written piece by piece until the client hangs up,
    /// so the fake never holds it in memory either.
    pub fn oversize_next(&self, answer: Answer, bytes: usize, declared: bool) {
        self.with(|s| s.oversized.push_back((answer, bytes, declared)));
    }

    /// Bytes of oversized bodies the client took before hanging up.
    pub fn oversized_bytes_sent(&self) -> u64 {
        self.with(|s| s.oversized_bytes_sent)
    }

    /// Queues a status for the next poll.
    pub fn fault_poll(&self, status: u16) {
        self.with(|s| s.poll_faults.push_back(status));
    }

    /// Where action `id` stands.
    pub fn status(&self, id: u64) -> ActionStatus {
        self.with(|s| s.actions[&id].status.clone())
    }

    /// Deployment feedback of action `id`, in order.
    pub fn feedback(&self, id: u64) -> Vec<Value> {
        self.with(|s| s.actions[&id].feedback.clone())
    }

    /// `(execution, finished)` of every deployment feedback of `id`.
    pub fn executions(&self, id: u64) -> Vec<(String, String)> {
        self.feedback(id)
            .iter()
            .map(|f| {
                (
                    f["status"]["execution"].as_str().unwrap_or("").to_owned(),
                    f["status"]["result"]["finished"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                )
            })
            .collect()
    }

    /// The closing feedback's details of action `id`.
    pub fn closing_details(&self, id: u64) -> String {
        self.feedback(id)
            .iter()
            .rev()
            .find(|f| f["status"]["execution"] == "closed")
            .map(|f| f["status"]["details"].to_string())
            .unwrap_or_default()
    }

    /// Cancel feedback of action `id`.
    pub fn cancel_feedback(&self, id: u64) -> Vec<Value> {
        self.with(|s| s.actions[&id].cancel_feedback.clone())
    }

    /// configData bodies received.
    pub fn config_data(&self) -> Vec<Value> {
        self.with(|s| s.config_data.clone())
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.with(|s| s.requests.clone())
    }

    /// Download requests so far.
    pub fn downloads(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/files/"))
            .collect()
    }

    /// Polls answered 304.
    pub fn not_modified(&self) -> usize {
        self.with(|s| s.not_modified)
    }

    /// Polls of the controller's root (not configData, downloads or
    /// feedback), whatever they were answered.
    pub fn polls(&self) -> usize {
        let root = format!("/{TENANT}/controller/v1/{}", self.controller);
        self.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.split('?').next() == Some(root.as_str()))
            .count()
    }
}

impl Drop for DdiFake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn hex_digest<D: Digest>(data: &[u8]) -> String {
    hex::encode(D::digest(data))
}

/// Writes `bytes` bytes of whitespace as the body of a 200 answer until the
/// client hangs up; counts what it took.
fn respond_oversized(stream: &mut TcpStream, state: &Mutex<State>, bytes: usize, declared: bool) {
    let length = if declared {
        format!("Content-Length: {bytes}\r\n")
    } else {
        String::new()
    };
    let head = format!(
        "HTTP/1.1 200 X\r\nContent-Type: application/json\r\n{length}Connection: close\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let piece = [b' '; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(piece.len());
        if stream.write_all(&piece[..n]).is_err() {
            return;
        }
        left -= n;
        state.lock().unwrap().oversized_bytes_sent += n as u64;
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>, base: &str, controller: &str, mirror: bool) {
    let Some(Incoming {
        method,
        path,
        headers,
        body,
    }) = read_request(&stream)
    else {
        return;
    };
    let mut stream = stream;
    let req = Request {
        server: base.to_owned(),
        method: method.clone(),
        path: path.clone(),
        range: headers.get("range").cloned(),
        if_none_match: headers.get("if-none-match").cloned(),
        authorization: headers.get("authorization").cloned(),
    };
    let mut s = state.lock().unwrap();
    s.requests.push(req.clone());
    if !mirror
        && let Some(want) = &s.required_authorization
        && req.authorization.as_ref() != Some(want)
    {
        return respond(&mut stream, 401, &[], b"");
    }
    let prefix = format!("/{TENANT}/controller/v1/{controller}");
    let ddi_base = format!("{base}{prefix}");
    if let Some(rest) = path.strip_prefix("/files/") {
        drop(s);
        return serve_file(&mut stream, state, rest, &req);
    }
    if mirror {
        // A mirror serves files only.
        return respond(&mut stream, 404, &[], b"");
    }
    let Some(route) = path.strip_prefix(&prefix) else {
        return respond(&mut stream, 404, &[], b"");
    };
    let route = route.split('?').next().unwrap_or("").to_owned();
    let segs: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let answer = match (method.as_str(), segs.as_slice()) {
        ("GET", [""]) => Some(Answer::Poll),
        ("GET", ["deploymentBase", _]) => Some(Answer::DeploymentBase),
        ("GET", ["cancelAction", _]) => Some(Answer::CancelAction),
        ("POST", ["deploymentBase", _, "feedback"]) => Some(Answer::Feedback),
        _ => None,
    };
    if let Some(kind) = answer
        && s.oversized.front().is_some_and(|(a, _, _)| *a == kind)
        && let Some((_, bytes, declared)) = s.oversized.pop_front()
    {
        drop(s);
        return respond_oversized(&mut stream, state, bytes, declared);
    }
    let files_base = s.files_base.clone().unwrap_or_else(|| base.to_owned());
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match (method.as_str(), segs.as_slice()) {
        ("GET", [""]) => {
            if let Some(code) = s.poll_faults.pop_front() {
                return respond(&mut stream, code, &[], b"");
            }
            let mut links = serde_json::Map::new();
            if s.want_config && s.config_data.is_empty() {
                links.insert(
                    "configData".into(),
                    json!({"href": format!("{ddi_base}/configData")}),
                );
            }
            if let Some((id, a)) = s
                .actions
                .iter()
                .find(|(_, a)| a.status == ActionStatus::Open)
            {
                if a.cancel_pending {
                    links.insert(
                        "cancelAction".into(),
                        json!({"href": format!("{ddi_base}/cancelAction/{id}")}),
                    );
                } else if a.spec.confirm && !a.confirmed {
                    links.insert(
                        "confirmationBase".into(),
                        json!({"href": format!("{ddi_base}/confirmationBase/{id}?c={}", a.revision)}),
                    );
                } else {
                    links.insert(
                        "deploymentBase".into(),
                        json!({"href": format!("{ddi_base}/deploymentBase/{id}?c={}", a.revision)}),
                    );
                }
            }
            if let Some(id) = s
                .actions
                .iter()
                .rev()
                .find(|(_, a)| a.status == (ActionStatus::Closed { success: true }))
                .map(|(id, _)| *id)
            {
                links.insert(
                    "installedBase".into(),
                    json!({"href": format!("{ddi_base}/installedBase/{id}")}),
                );
            }
            let v = json!({"config": {"polling": {"sleep": s.sleep}}, "_links": links});
            let etag = format!(
                "\"{}\"",
                &hex_digest::<sha2::Sha256>(v.to_string().as_bytes())[..16]
            );
            if req.if_none_match.as_deref() == Some(etag.as_str()) {
                s.not_modified += 1;
                return respond(&mut stream, 304, &[("ETag", etag)], b"");
            }
            respond(
                &mut stream,
                200,
                &[("Content-Type", "application/json".into()), ("ETag", etag)],
                v.to_string().as_bytes(),
            );
        }
        ("PUT", ["configData"]) => {
            s.config_data.push(body);
            json_response(&mut stream, 200, &json!({}));
        }
        (
            "GET",
            [
                kind @ ("deploymentBase" | "installedBase" | "confirmationBase"),
                id,
            ],
        ) => {
            let id: u64 = id.parse().unwrap_or(0);
            let Some(a) = s.actions.get(&id) else {
                return respond(&mut stream, 404, &[], b"");
            };
            // The same document under each name; a deployment waiting for
            // consent is only offered once confirmed.
            let (key, status) = match *kind {
                "deploymentBase" if a.spec.confirm && !a.confirmed => {
                    return respond(&mut stream, 404, &[], b"");
                }
                "deploymentBase" => ("deployment", "RUNNING"),
                "installedBase" => ("deployment", "FINISHED"),
                _ => ("confirmation", "WAIT_FOR_CONFIRMATION"),
            };
            let dep = deployment_json(&files_base, id, &a.spec);
            let announced = a
                .spec
                .announced_id
                .clone()
                .unwrap_or_else(|| id.to_string());
            json_response(
                &mut stream,
                200,
                &json!({"id": announced, key: dep,
                        "actionHistory": {"status": status, "messages": []}}),
            );
        }
        ("POST", ["confirmationBase", id, "feedback"]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let Some(a) = s.actions.get_mut(&id) else {
                return respond(&mut stream, 404, &[], b"");
            };
            if a.status != ActionStatus::Open {
                return respond(&mut stream, 410, &[], b"");
            }
            if body["confirmation"] == "confirmed" {
                a.confirmed = true;
                a.revision += 1;
            }
            a.confirmation_feedback.push(body);
            json_response(&mut stream, 200, &json!({}));
        }
        ("POST", ["deploymentBase", id, "feedback"]) => {
            if let Some(code) = s.feedback_faults.pop_front() {
                return respond(&mut stream, code, &[], b"");
            }
            let id: u64 = id.parse().unwrap_or(0);
            let Some(a) = s.actions.get_mut(&id) else {
                return respond(&mut stream, 404, &[], b"");
            };
            if a.status != ActionStatus::Open {
                return respond(&mut stream, 410, &[], b"");
            }
            if body["status"]["execution"] == "closed"
                && let Some(code) = a.refuse_closing
            {
                a.refused_closing.push(body);
                return respond(&mut stream, code, &[], b"");
            }
            if body["status"]["execution"] == "closed" {
                a.status = ActionStatus::Closed {
                    success: body["status"]["result"]["finished"] == "success",
                };
            }
            a.feedback.push(body);
            json_response(&mut stream, 200, &json!({}));
        }
        ("GET", ["cancelAction", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            json_response(
                &mut stream,
                200,
                &json!({"id": id.to_string(), "cancelAction": {"stopId": id.to_string()}}),
            );
        }
        ("POST", ["cancelAction", id, "feedback"]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let Some(a) = s.actions.get_mut(&id) else {
                return respond(&mut stream, 404, &[], b"");
            };
            a.cancel_pending = false;
            if body["status"]["execution"] == "closed" && a.status == ActionStatus::Open {
                a.status = ActionStatus::Canceled;
            }
            a.cancel_feedback.push(body);
            json_response(&mut stream, 200, &json!({}));
        }
        _ => respond(&mut stream, 404, &[], b""),
    }
}

/// The `deployment` object of an action (deploymentBase, installedBase and
/// confirmationBase share it); download links point at `files_base`.
fn deployment_json(files_base: &str, id: u64, spec: &ActionSpec) -> Value {
    let chunks: Vec<Value> = spec
        .chunks
        .iter()
        .map(|c| {
            let arts: Vec<Value> = c
                .artifacts
                .iter()
                .map(|f| {
                    let announced = f.announced.as_ref().unwrap_or(&f.data);
                    let hashes = if f.sha1_only {
                        json!({"sha1": hex_digest::<sha1::Sha1>(announced)})
                    } else {
                        json!({"sha1": hex_digest::<sha1::Sha1>(announced),
                               "sha256": hex_digest::<sha2::Sha256>(announced)})
                    };
                    json!({"filename": f.filename, "size": f.data.len(), "hashes": hashes,
                           "_links": {"download-http": {"href":
                                format!("{files_base}/files/{id}/{}/{}", c.part, f.filename)}}})
                })
                .collect();
            json!({"part": c.part, "version": c.version, "name": c.part,
                   "metadata": [], "artifacts": arts})
        })
        .collect();
    let mut dep = json!({"download": spec.download, "update": spec.update, "chunks": chunks});
    if let Some(w) = &spec.window {
        dep["maintenanceWindow"] = json!(w);
    }
    dep
}

fn serve_file(stream: &mut TcpStream, state: &Mutex<State>, rest: &str, req: &Request) {
    let mut s = state.lock().unwrap();
    let mut it = rest.splitn(3, '/');
    let (id, part, name) = (
        it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0),
        it.next().unwrap_or("").to_owned(),
        it.next().unwrap_or("").to_owned(),
    );
    if let Some(code) = s.downloads_always {
        return respond(stream, code, &[], b"");
    }
    let fault = s.download_faults.pop_front();
    let throttle = s.throttle;
    let data = s.actions.get(&id).and_then(|a| {
        a.spec
            .chunks
            .iter()
            .find(|c| c.part == part)
            .and_then(|c| c.artifacts.iter().find(|f| f.filename == name))
            .map(|f| f.data.clone())
    });
    drop(s);
    let Some(data) = data else {
        return respond(stream, 404, &[], b"");
    };
    if let Some(Fault::Status(code)) = fault {
        return respond(stream, code, &[("Retry-After", "0".into())], b"");
    }
    let start = req
        .range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
    let (status, body, extra) = match start {
        Some(n) if n >= data.len() => return respond(stream, 416, &[], b""),
        Some(n) => (
            206,
            &data[n..],
            vec![(
                "Content-Range",
                format!("bytes {n}-{}/{}", data.len() - 1, data.len()),
            )],
        ),
        None => (200, &data[..], vec![]),
    };
    if let Some(Fault::CutAfter(k)) = fault {
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&body[..k.min(body.len())]);
        let _ = stream.flush();
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return;
    }
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in &extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let (piece, pause) = throttle.unwrap_or((body.len().max(1), Duration::ZERO));
    for part in body.chunks(piece) {
        if stream
            .write_all(part)
            .and_then(|()| stream.flush())
            .is_err()
        {
            return; // the client went away
        }
        state.lock().unwrap().served_bytes += part.len() as u64;
        std::thread::sleep(pause);
    }
    state.lock().unwrap().completed_downloads += 1;
}
