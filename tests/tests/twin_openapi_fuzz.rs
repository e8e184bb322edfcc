//! The twin's HTTP API against its own OpenAPI document: schemathesis
//! generates requests from `/api/openapi.json` (valid and invalid ones)
//! against a twin that has a real vehicle's document, and fails on any
//! server error or any answer the document does not describe (status,
//! content type, headers, body schema), also along the document's links
//! (a document's `ETag` sent back in `If-Match`). The two server-sent
//! event routes never end, so schemathesis skips them and they get a
//! bounded read here.
//!
//! schemathesis comes from the virtual environment `scripts/test` creates
//! (`target/venv-schemathesis`, its `st` given as `TCU_SCHEMATHESIS`).
//! Without it the fuzz test says so and passes, unless
//! `TCU_REQUIRE_SCHEMATHESIS=1` (set by `scripts/test`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tcu_integration_tests::fixtures::workspace_root;
use tcu_integration_tests::mqtt::{Mosquitto, mosquitto_available};
use tcu_integration_tests::owned::SpawnOwned;
use tcu_integration_tests::twin::{Twin, spawn_vehicle, twin_config};

const VIN: &str = "WTCUZ000000000001";
/// A signal every vehicle reports (the document's example of `signal`).
const SIGNAL: &str = "Vehicle.Speed";
/// The whole schemathesis run; the test stays well under 3 minutes.
const FUZZ_SECONDS: u64 = 60;

/// The `st` executable, if installed.
fn schemathesis() -> Option<PathBuf> {
    let st = std::env::var_os("TCU_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/venv-schemathesis/bin/st"));
    st.is_file().then_some(st)
}

/// A broker, one `tcu run --headless` vehicle and a twin that has its
/// document with telemetry.
struct World {
    dir: tempfile::TempDir,
    _broker: Mosquitto,
    twin: Twin,
    _vehicle: tcu_integration_tests::process::Running,
}

fn start() -> World {
    assert!(
        mosquitto_available(),
        "mosquitto is not installed; ./scripts/test installs it (apt-get install mosquitto)"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Mosquitto::start(dir.path(), "");
    let config = twin_config(broker.port, dir.path(), "twin", "");
    let twin = Twin::start(dir.path(), "twin", &config, &[]);
    let vehicle = spawn_vehicle(dir.path(), VIN, broker.port, "");
    twin.wait_doc(VIN, Duration::from_secs(60), "online with telemetry", |d| {
        d["connectivity"] == "online"
            && d["loss"]["received"].as_u64().unwrap_or(0) >= 2
            && d["reported"].get(SIGNAL).is_some()
    });
    World {
        dir,
        _broker: broker,
        twin,
        _vehicle: vehicle,
    }
}

/// schemathesis' configuration: the real VIN for most `{vin}` requests
/// (the rest get generated ones, answered as documented too). The
/// document's examples name a real signal and a real actuator.
fn schemathesis_config(dir: &Path) -> PathBuf {
    let path = dir.join("schemathesis.toml");
    std::fs::write(
        &path,
        format!(
            "[dictionaries.vins]\nvalues = [\"{VIN}\"]\n\
             [parameters]\n\"path.vin\" = {{ dictionary = \"vins\", probability = 0.9 }}\n"
        ),
    )
    .expect("writing schemathesis.toml");
    path
}

/// The checks run: no server error, and every answer as the document
/// describes it. Not `positive_data_acceptance` / `negative_data_rejection`:
/// the document cannot say which VSS paths exist (an unknown signal or
/// actuator is a 422 for a schema-valid request) nor which desired version
/// is current (a well-formed `If-Match` gets 412).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance,\
                      missing_required_header,unsupported_method,allow_header_conformance";

/// Runs `cmd` with its output in `dir` for at most [`FUZZ_SECONDS`] plus
/// a minute (its own `--max-time` should end it well before), killing it
/// when over; the exit status (`None` when killed) and the output.
fn run_bounded(mut cmd: Command, dir: &Path) -> (Option<ExitStatus>, String) {
    let log = dir.join("schemathesis.log");
    let file = std::fs::File::create(&log).expect("creating the schemathesis log");
    let err = file.try_clone().expect("the log for stderr too");
    let started = Instant::now();
    let mut child = cmd
        .stdout(file)
        .stderr(err)
        .spawn_owned()
        .expect("starting schemathesis");
    let limit = Duration::from_secs(FUZZ_SECONDS + 60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for schemathesis") {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let took = started.elapsed();
    (status, format!("schemathesis ({took:?}):\n{text}"))
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_the_openapi_document_does_not_describe() {
    let Some(st) = schemathesis() else {
        assert!(
            std::env::var_os("TCU_REQUIRE_SCHEMATHESIS").is_none(),
            "TCU_REQUIRE_SCHEMATHESIS is set but schemathesis is missing (TCU_SCHEMATHESIS)"
        );
        eprintln!("SKIPPED: no schemathesis (run scripts/test to install it)");
        return;
    };
    let world = start();
    let config = schemathesis_config(world.dir.path());
    let mut cmd = Command::new(&st);
    cmd.arg("--config-file")
        .arg(&config)
        .arg("--no-color")
        .arg("run")
        .arg(format!("{}/api/openapi.json", world.twin.url))
        .args(["--url", &world.twin.url])
        .args(["--checks", CHECKS])
        .args(["--exclude-path", "/api/stream"])
        .args(["--exclude-path", "/api/vehicles/{vin}/stream"])
        .args([
            "--seed",
            "20261201",
            "--max-examples",
            "60",
            "--workers",
            "1",
        ])
        .args(["--max-time", &FUZZ_SECONDS.to_string()])
        .args(["--request-timeout", "10"])
        .args(["--generation-database", "none"])
        .current_dir(world.dir.path())
        .stdin(Stdio::null());
    let (status, text) = run_bounded(cmd, world.dir.path());
    println!("{text}");
    assert!(
        status.is_some_and(|s| s.success()),
        "schemathesis failed ({status:?}):\n{text}\ntwin:\n{}",
        world.twin.process.output()
    );
}

/// The head and the first `\n\n`-terminated block of an event stream,
/// read for at most 20 s. HTTP/1.0, so the body comes as sent rather
/// than in chunks; the connection is dropped after the first event.
fn first_event(url: &str, path: &str) -> (String, String) {
    let addr = url.trim_start_matches("http://");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut s = TcpStream::connect(addr).expect("connecting to the twin");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("sending the request");
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("reading the head");
        if line.trim().is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let mut body = String::new();
    let mut buf = [0u8; 4096];
    while !body.contains("\n\n") {
        assert!(
            Instant::now() < deadline,
            "{path}: no event within 20 s: {body}"
        );
        let n = r.read(&mut buf).expect("reading the body");
        if n == 0 {
            break;
        }
        body.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    (head, body)
}

#[test]
fn the_event_streams_answer_an_event_stream_with_a_first_event_and_an_unknown_vin_gets_a_404_problem()
 {
    let world = start();
    let url = &world.twin.url;
    for (path, event) in [
        ("/api/stream".to_owned(), "vehicle"),
        (format!("/api/vehicles/{VIN}/stream"), "document"),
    ] {
        let (head, body) = first_event(url, &path);
        let lower = head.to_ascii_lowercase();
        assert!(head.starts_with("HTTP/1.0 200 "), "{path}: {head}");
        assert!(
            lower.contains("content-type: text/event-stream"),
            "{path}: {head}"
        );
        assert!(
            body.contains(&format!("event: {event}\n")),
            "{path}: {body}"
        );
        let data = body
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap_or_else(|| panic!("{path}: no data line in {body}"));
        let json: serde_json::Value = serde_json::from_str(data).expect("the data is JSON");
        assert_eq!(json["vin"], VIN, "{path}: {json}");
    }
    let missing = world.twin.get("/api/vehicles/WTCUZ000000000099/stream");
    let p = missing.problem(404);
    assert_eq!(p["field"], "vin", "{p}");
}
