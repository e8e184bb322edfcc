//! Captures through a real mosquitto into `tcu-twin serve`: the chunks of a
//! real capture file (`Capturer`, hard braking on ice) published out of
//! order with one duplicate come out of the twin's export byte for byte; a
//! chunk that spoils the file leaves no complete capture; capture rules set
//! through the twin are checked (a bad one is a 422 naming it) and reach the
//! vehicle's `cmd/req` exactly as the contract of `docs/RECORDING.md` has
//! them; and a vetting job passes the current battery library and fails a
//! variant that writes NaN, saying so in its report, while a candidate that
//! kills the process loading it ends only its own job (vetting runs in a
//! child process).

use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tcu_integration_tests::fixtures::{library_file_name, workspace_plugins_dir};
use tcu_integration_tests::mqtt::{Mosquitto, Subscriber, mosquitto_available, wait_for};
use tcu_integration_tests::twin::{Twin, abs_capture, capture_chunks, twin_config};
use tcu_integration_tests::variants::battery_variant;

const VIN: &str = "WTCUZ000000000003";
const WAIT: Duration = Duration::from_secs(30);
/// The contract's largest piece of a file per chunk.
const PIECE: usize = 32 * 1024;

struct World {
    dir: tempfile::TempDir,
    broker: Mosquitto,
    twin: Twin,
    /// The test's own MQTT client (publishes as the vehicle would).
    client: Subscriber,
}

/// mosquitto, and a twin whose `[vet] current_dir` holds the workspace's
/// battery library.
fn start() -> World {
    assert!(mosquitto_available(), "mosquitto is not installed");
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Mosquitto::start(dir.path(), "");
    let current = dir.path().join("current");
    std::fs::create_dir(&current).expect("current dir");
    let battery = library_file_name("tcu_plugin_battery");
    std::fs::copy(
        workspace_plugins_dir().join(&battery),
        current.join(&battery),
    )
    .expect("copying the battery library");
    let config = format!(
        "{}[vet]\ncurrent_dir = \"{}\"\n",
        twin_config(broker.port, dir.path(), "twin", ""),
        current.display()
    );
    let twin = Twin::start(dir.path(), "twin", &config, &[]);
    let client = Subscriber::connect(broker.port, "test-vehicle", "vehicle/+/cmd/req", true);
    World {
        dir,
        broker,
        twin,
        client,
    }
}

fn captures(twin: &Twin) -> Vec<Json> {
    let r = twin.get(&format!("/api/vehicles/{VIN}/captures"));
    if r.status != 200 {
        return Vec::new();
    }
    r.json()["captures"].as_array().cloned().unwrap_or_default()
}

/// Publishes the capture at `path` on the vehicle's captures topic, in the
/// order `order` gives the chunk indices.
fn publish(w: &World, chunks: &[Vec<u8>], order: &[usize]) {
    for &i in order {
        w.client
            .publish(&format!("vehicle/{VIN}/captures"), chunks[i].clone());
    }
}

fn complete_capture(w: &World, id: &str) -> Json {
    let mut last = Vec::new();
    let done = wait_for(WAIT, || {
        last = captures(&w.twin);
        last.iter().any(|c| c["id"] == id && c["complete"] == true)
    });
    assert!(
        done,
        "capture {id} not complete: {last:?}\n{}",
        w.twin.process.output()
    );
    last.into_iter().find(|c| c["id"] == id).expect("listed")
}

fn file_and_chunks(dir: &Path) -> (Vec<u8>, Vec<Vec<u8>>, String) {
    let file = std::fs::read(abs_capture(dir, VIN)).expect("reading the capture");
    let chunks = capture_chunks(&file, "abs.engaged", PIECE);
    let id: Json = serde_json::from_slice(&chunks[0]).expect("chunk JSON");
    (file, chunks, id["id"].as_str().expect("id").to_owned())
}

#[test]
fn a_capture_published_out_of_order_with_a_duplicate_is_exported_byte_for_byte() {
    let w = start();
    let (file, chunks, id) = file_and_chunks(w.dir.path());
    assert!(chunks.len() >= 3, "{} chunks", chunks.len());
    // Last first, then the rest backwards, the middle one twice.
    let mut order: Vec<usize> = (0..chunks.len()).rev().collect();
    order.insert(1, chunks.len() / 2);
    publish(&w, &chunks, &order);
    let c = complete_capture(&w, &id);
    assert_eq!(c["bytes"], file.len());
    assert_eq!(c["chunks"], chunks.len());
    assert_eq!(c["chunks_received"], chunks.len());
    assert_eq!(c["rule"], "abs.engaged");
    assert!(c["plugins"]["abs"].is_string(), "{c}");
    let r = w.twin.get(&format!("/api/vehicles/{VIN}/captures/{id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );
    assert!(r.body.as_bytes() == file.as_slice(), "the export differs");
    let fleet = w.twin.get("/api/captures?subsystem=abs").json();
    assert_eq!(fleet["captures"].as_array().map(Vec::len), Some(1));
    let none = w.twin.get("/api/captures?subsystem=wipers").json();
    assert_eq!(none["captures"], json!([]));
    let _ = &w.broker;
}

#[test]
fn a_chunk_with_a_wrong_hash_leaves_no_complete_capture_and_counts_as_invalid() {
    let w = start();
    let (_, mut chunks, id) = file_and_chunks(w.dir.path());
    let last = chunks.len() - 1;
    let mut spoiled: Json = serde_json::from_slice(&chunks[last]).expect("chunk JSON");
    let data = spoiled["data"]
        .as_str()
        .expect("data")
        .replacen('1', "2", 1);
    spoiled["data"] = json!(data);
    chunks[last] = spoiled.to_string().into_bytes();
    let order: Vec<usize> = (0..chunks.len()).collect();
    publish(&w, &chunks, &order);
    let mut last_seen = Vec::new();
    let all_but_one = wait_for(WAIT, || {
        last_seen = captures(&w.twin);
        last_seen
            .first()
            .is_some_and(|c| c["chunks_received"].as_u64() == Some(last as u64))
    });
    assert!(all_but_one, "{last_seen:?}");
    let invalid = wait_for(WAIT, || {
        w.twin
            .get("/metrics")
            .body
            .lines()
            .any(|l| l.starts_with("twin_invalid_total ") && !l.ends_with(" 0"))
    });
    assert!(invalid, "the spoiled chunk was not counted");
    assert_eq!(captures(&w.twin)[0]["complete"], false);
    let r = w.twin.get(&format!("/api/vehicles/{VIN}/captures/{id}"));
    assert_eq!(r.problem(409)["field"], "id");
}

#[test]
fn a_capture_half_received_before_the_twin_restarts_completes_after_it() {
    let mut w = start();
    let (file, chunks, id) = file_and_chunks(w.dir.path());
    let half = chunks.len() / 2;
    let first: Vec<usize> = (0..half).collect();
    publish(&w, &chunks, &first);
    let mut seen = Vec::new();
    let stored = wait_for(WAIT, || {
        seen = captures(&w.twin);
        seen.first()
            .is_some_and(|c| c["chunks_received"].as_u64() == Some(half as u64))
    });
    assert!(stored, "{seen:?}");
    w.twin.restart();
    let rest: Vec<usize> = (half..chunks.len()).collect();
    publish(&w, &chunks, &rest);
    complete_capture(&w, &id);
    let r = w.twin.get(&format!("/api/vehicles/{VIN}/captures/{id}"));
    assert!(r.body.as_bytes() == file.as_slice(), "the export differs");
}

/// `PUT /api/vehicles/{VIN}/capture-rules` from a thread of its own (the
/// twin waits for the vehicle's answer).
fn put_rules(twin_url: &str, body: Json) -> std::thread::JoinHandle<(u16, Json)> {
    let url = format!("{twin_url}/api/vehicles/{VIN}/capture-rules");
    std::thread::spawn(move || {
        let r = reqwest::blocking::Client::new()
            .put(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .timeout(Duration::from_secs(30))
            .send()
            .expect("PUT capture-rules");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Json::Null))
    })
}

#[test]
fn capture_rules_are_checked_and_a_good_set_reaches_cmd_req_as_the_contract_has_it() {
    let w = start();
    // The twin knows the vehicle once it published something.
    let (_, chunks, _) = file_and_chunks(w.dir.path());
    publish(&w, &chunks, &[0]);
    assert!(wait_for(WAIT, || !captures(&w.twin).is_empty()));
    let (status, bad) = put_rules(
        &w.twin.url,
        json!({"rules": [{"rule": "abs.engaged"}, {"rule": "Vehicle.Sped > 1"}]}),
    )
    .join()
    .expect("PUT");
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["field"], "rules[1]");
    assert!(
        bad["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Vehicle.Sped")),
        "{bad}"
    );
    let put = put_rules(
        &w.twin.url,
        json!({"rules": [{"rule": "abs.engaged", "before": 5.0, "after": 3.0},
            {"rule": "Vehicle.Speed > 130"}]}),
    );
    let topic = format!("vehicle/{VIN}/cmd/req");
    let seen = w.client.collect(&topic, WAIT, |m| !m.is_empty());
    assert_eq!(
        seen.len(),
        1,
        "nothing on {topic}; the bad set sent nothing either"
    );
    let req = &seen[0];
    assert_eq!(
        req,
        &json!({"id": req["id"], "capture_rules": [
            {"rule": "abs.engaged", "before": 5.0, "after": 3.0},
            {"rule": "Vehicle.Speed > 130", "before": 10.0, "after": 5.0}]})
    );
    assert!(req["id"].as_str().is_some_and(|id| !id.is_empty()), "{req}");
    w.client.publish(
        &format!("vehicle/{VIN}/cmd/res"),
        json!({"id": req["id"], "status": "accepted"})
            .to_string()
            .into_bytes(),
    );
    let (status, out) = put.join().expect("PUT");
    assert_eq!(
        (status, out["status"].clone()),
        (200, json!("accepted")),
        "{out}"
    );
}

fn vet(twin: &Twin, library: Vec<u8>) -> Json {
    let r = twin.request(
        "POST",
        "/api/vet?subsystem=battery",
        &[("content-type", "application/octet-stream")],
        Some(library),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let job = r.json()["job"].as_u64().expect("job number");
    let mut last = Json::Null;
    let done = wait_for(Duration::from_secs(120), || {
        last = twin.get(&format!("/api/vet/{job}")).json();
        !matches!(last["status"].as_str(), Some("queued" | "running"))
    });
    assert!(done, "job {job} did not finish: {last}");
    last
}

#[test]
fn a_vetting_job_passes_the_current_battery_library_and_fails_a_nan_variant_saying_so() {
    let w = start();
    let (_, chunks, id) = file_and_chunks(w.dir.path());
    let order: Vec<usize> = (0..chunks.len()).collect();
    publish(&w, &chunks, &order);
    complete_capture(&w, &id);
    let current: PathBuf = workspace_plugins_dir().join(library_file_name("tcu_plugin_battery"));
    let same = vet(&w.twin, std::fs::read(&current).expect("battery library"));
    assert_eq!(same["status"], "passed", "{same}");
    assert_eq!(same["captures"], json!([format!("{VIN}/{id}")]));
    assert_eq!(same["report"]["passed"], true);
    let nan = battery_variant(
        "canary_nan",
        &w.dir.path().join("nan").join("libbattery.so"),
    );
    let failed = vet(&w.twin, std::fs::read(&nan).expect("variant"));
    assert_eq!(failed["status"], "failed", "{failed}");
    let findings = failed["report"]["traces"][0]["findings"].to_string();
    assert!(findings.contains("\"nan\""), "{failed}");
    let list = w.twin.get("/api/vet").json();
    assert_eq!(list["jobs"].as_array().map(Vec::len), Some(2), "{list}");
    let empty = w.twin.request(
        "POST",
        "/api/vet?subsystem=battery",
        &[("content-type", "application/octet-stream")],
        Some(Vec::new()),
    );
    assert_eq!(empty.problem(422)["field"], "body");
    let unknown = w.twin.request(
        "POST",
        "/api/vet?subsystem=wipers",
        &[("content-type", "application/octet-stream")],
        Some(vec![1]),
    );
    assert_eq!(unknown.problem(422)["field"], "subsystem");
}

#[test]
fn a_candidate_that_kills_the_process_loading_it_ends_its_job_in_error_and_the_twin_vets_on() {
    let w = start();
    let (_, chunks, id) = file_and_chunks(w.dir.path());
    let order: Vec<usize> = (0..chunks.len()).collect();
    publish(&w, &chunks, &order);
    complete_capture(&w, &id);
    // Its ELF constructor aborts: loaded in the twin's process, it would
    // take the twin down with it.
    let crash = tcu_integration_tests::fixtures::build_c("crash_on_load", w.dir.path());
    let died = vet(&w.twin, std::fs::read(&crash).expect("fixture"));
    assert_eq!(died["status"], "error", "{died}");
    assert!(
        died["error"]
            .as_str()
            .is_some_and(|e| e.contains("the vetting process died")),
        "{died}"
    );
    let current: PathBuf = workspace_plugins_dir().join(library_file_name("tcu_plugin_battery"));
    let after = vet(&w.twin, std::fs::read(&current).expect("battery library"));
    assert_eq!(after["status"], "passed", "{after}");
}
