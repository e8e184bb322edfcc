//! Helpers of the twin tests: the `tcu-twin` binary as a child process
//! on an ephemeral loopback HTTP port (read from its log), a blocking
//! client of its API, vehicles (`tcu run --headless`) on a broker, and a
//! rig of a mosquitto, an independent subscriber, vehicles and a twin.
//!
//! Everything is stopped by PID when dropped; every wait is bounded.

use crate::mqtt::{Mosquitto, Subscriber, spawn_tcu_run, wait_for};
use crate::process::Running;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// VINs of the rig's vehicles.
pub const VINS: [&str; 2] = ["WTCUZ000000000001", "WTCUZ000000000002"];

/// The built `tcu-twin` binary with a predictable environment.
pub fn twin_command() -> Command {
    let exe = crate::fixtures::workspace_plugins_dir().join("tcu-twin");
    assert!(
        exe.is_file(),
        "{} missing (build the workspace)",
        exe.display()
    );
    let mut cmd = Command::new(exe);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TCU_TWIN_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
    cmd
}

/// `(vin, seq)` of every "telemetry ingested" line of a twin's log (its
/// `tcu_twin::fleet` target at trace level).
pub fn ingested(output: &str) -> Vec<(String, u64)> {
    output
        .lines()
        .filter(|l| l.contains("telemetry ingested"))
        .filter_map(|l| {
            let vin = l.split("vin=\"").nth(1)?.split('"').next()?.to_owned();
            let seq = l
                .split(" seq=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some((vin, seq))
        })
        .collect()
}

/// A twin configuration for the broker on `port`: store in `dir`, HTTP
/// on an ephemeral loopback port, quick batches and checkpoints.
pub fn twin_config(port: u16, dir: &Path, client_id: &str, extra: &str) -> String {
    format!(
        "[ingest]\nbroker = \"mqtt://127.0.0.1:{port}\"\nclient_id = \"{client_id}\"\n{extra}\n\
         [store]\npath = \"{}\"\nflush_interval = \"50ms\"\ncheckpoint_interval = \"200ms\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\n",
        dir.join(format!("{client_id}.db")).display()
    )
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// `ETag`.
    pub etag: Option<String>,
    /// Body.
    pub body: String,
}

impl Resp {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts a problem answer of `status` and returns it.
    pub fn problem(&self, status: u16) -> Json {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.body
        );
        let p = self.json();
        assert_eq!(p["status"], status, "{p}");
        p
    }
}

/// A running `tcu-twin serve`.
#[derive(Debug)]
pub struct Twin {
    /// The process.
    pub process: Running,
    /// Base URL of its API.
    pub url: String,
    config: PathBuf,
    env: Vec<(String, String)>,
    http: reqwest::blocking::Client,
    /// Bearer token sent with every request, if any.
    pub token: Option<String>,
}

impl Twin {
    /// Starts `tcu-twin serve --config <dir>/<name>.toml` with `config`
    /// written there and `env` set; waits for its API and its broker
    /// connection.
    pub fn start(dir: &Path, name: &str, config: &str, env: &[(&str, &str)]) -> Self {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).expect("writing the twin's config");
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::launch(path, env)
    }

    fn launch(config: PathBuf, env: Vec<(String, String)>) -> Self {
        let mut cmd = twin_command();
        cmd.args(["serve", "--config"]).arg(&config);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let process = Running::start(cmd);
        let line = process.wait_for("HTTP API on ", Duration::from_secs(30));
        let url = line
            .split("HTTP API on ")
            .nth(1)
            .map(|u| u.trim().to_owned())
            .expect("the address follows");
        process.wait_for("MQTT connected", Duration::from_secs(30));
        Self {
            process,
            url,
            config,
            env,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
            token: None,
        }
    }

    /// Makes the client trust the CA certificate `ca` (PEM), for a twin
    /// that serves HTTPS.
    pub fn trust(&mut self, ca: &Path) {
        let pem = std::fs::read(ca).expect("reading the CA");
        self.http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM certificate"))
            .build()
            .expect("HTTPS client");
    }

    /// SIGTERM; waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.process.id().to_string())
            .status();
        self.process.wait_exit(Duration::from_secs(30))
    }

    /// Stops it and starts it again with the same configuration (a new
    /// HTTP port).
    pub fn restart(&mut self) {
        let status = self.stop();
        assert!(
            status.success(),
            "exit {status}:\n{}",
            self.process.output()
        );
        let token = self.token.take();
        *self = Self::launch(self.config.clone(), self.env.clone());
        self.token = token;
    }

    /// A request with `headers` and `body`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let r = req
            .send()
            .unwrap_or_else(|e| panic!("{path}: {e}\n{}", self.process.output()));
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Resp {
            status: r.status().as_u16(),
            content_type: header("content-type").unwrap_or_default(),
            etag: header("etag"),
            body: r.text().unwrap_or_default(),
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, &[], None)
    }

    /// `PATCH /api/vehicles/{vin}/desired` with a merge patch.
    pub fn patch(&self, vin: &str, patch: &Json, if_match: Option<&str>) -> Resp {
        let mut h = vec![("content-type", "application/merge-patch+json")];
        if let Some(m) = if_match {
            h.push(("if-match", m));
        }
        self.request(
            "PATCH",
            &format!("/api/vehicles/{vin}/desired"),
            &h,
            Some(patch.to_string().into_bytes()),
        )
    }

    /// The document of `vin`, if the twin has one.
    pub fn doc(&self, vin: &str) -> Option<Json> {
        let r = self.get(&format!("/api/vehicles/{vin}"));
        (r.status == 200).then(|| r.json())
    }

    /// Waits until `vin`'s document satisfies `ok`; panics with the last
    /// one and the twin's output otherwise.
    pub fn wait_doc(
        &self,
        vin: &str,
        timeout: Duration,
        what: &str,
        ok: impl Fn(&Json) -> bool,
    ) -> Json {
        let mut last = None;
        let done = wait_for(timeout, || {
            last = self.doc(vin);
            last.as_ref().is_some_and(&ok)
        });
        match (done, last) {
            (true, Some(d)) => d,
            (_, last) => panic!(
                "{vin}: no document with {what} within {timeout:?}; last: {}\n{}",
                last.map(|d| d.to_string()).unwrap_or_default(),
                self.process.output()
            ),
        }
    }
}

/// The `[vehicle]` and `[mqtt]` configuration of a rig's vehicle:
/// telemetry every 200 ms, outbox in `dir`.
pub fn vehicle_config(vin: &str, port: u16, dir: &Path, extra: &str) -> String {
    format!(
        "[vehicle]\nvin = \"{vin}\"\n[mqtt]\nbroker = \"mqtt://127.0.0.1:{port}\"\npublish_period = \"200ms\"\n\
         outbox_dir = \"{}\"\n{extra}\n",
        dir.join("outbox").display()
    )
}

/// Starts `tcu run --headless` for `vin` in `dir/<vin>`.
pub fn spawn_vehicle(dir: &Path, vin: &str, port: u16, extra: &str) -> Running {
    let d = dir.join(vin);
    std::fs::create_dir_all(&d).expect("vehicle dir");
    spawn_tcu_run(&d, &vehicle_config(vin, port, &d, extra), &[])
}

/// A broker, an independent subscriber of `vehicle/#`, the twin and the
/// vehicles of [`VINS`].
#[allow(missing_debug_implementations)]
pub struct Rig {
    /// Temporary directory of everything.
    pub dir: tempfile::TempDir,
    /// The broker.
    pub broker: Mosquitto,
    /// Subscribed to `vehicle/#` before any vehicle started.
    pub sub: Subscriber,
    /// The twin.
    pub twin: Twin,
    /// The vehicles, in the order of [`VINS`].
    pub vehicles: Vec<Running>,
}

impl Rig {
    /// Starts everything (the twin with `twin_extra` in its `[ingest]`
    /// section and `env`; the rig's requests carry `token`) and waits
    /// until the twin has every vehicle online with telemetry.
    pub fn start(twin_extra: &str, env: &[(&str, &str)], token: Option<&str>) -> Self {
        assert!(
            crate::mqtt::mosquitto_available(),
            "mosquitto is not installed; ./scripts/test installs it (apt-get install mosquitto)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = Mosquitto::start(dir.path(), "");
        let sub = Subscriber::connect(broker.port, "rig-observer", "vehicle/#", true);
        let config = twin_config(broker.port, dir.path(), "twin", twin_extra);
        let mut twin = Twin::start(dir.path(), "twin", &config, env);
        twin.token = token.map(str::to_owned);
        let vehicles = VINS
            .iter()
            .map(|vin| spawn_vehicle(dir.path(), vin, broker.port, ""))
            .collect();
        let rig = Self {
            dir,
            broker,
            sub,
            twin,
            vehicles,
        };
        for vin in VINS {
            rig.twin
                .wait_doc(vin, Duration::from_secs(60), "online with telemetry", |d| {
                    d["connectivity"] == "online"
                        && d["loss"]["received"].as_u64().unwrap_or(0) >= 2
                });
        }
        rig
    }

    /// The vehicle process of `vin`.
    pub fn vehicle(&mut self, vin: &str) -> &mut Running {
        let i = VINS.iter().position(|v| *v == vin).expect("a rig VIN");
        &mut self.vehicles[i]
    }

    /// Starts `vin` again (after a kill), with its outbox kept.
    pub fn restart_vehicle(&mut self, vin: &str) {
        let v = spawn_vehicle(self.dir.path(), vin, self.broker.port, "");
        *self.vehicle(vin) = v;
    }
}

/// A real capture: a vehicle of the workspace plugins (`seed` 3) drives
/// to over 50 km/h and brakes hard on ice; the `abs.engaged` rule keeps
/// 2 s before and 1 s after. The file `Capturer` wrote, in `dir`.
pub fn abs_capture(dir: &Path, vin: &str) -> PathBuf {
    use tcu_engine::catalog::{Catalog, Value};
    use tcu_engine::record::{CaptureRule, Capturer};
    use tcu_engine::sim::TickHook;
    let catalog = Catalog::builtin();
    let rule = CaptureRule::parse("abs.engaged", 2.0, 1.0, &catalog).expect("rule");
    let mut v = crate::harness::vehicle(3, tcu_engine::world::driver::DriverProfile::Idle, &[]);
    let mut c = Capturer::new(dir, vec![rule], &v, vin, 3).expect("capturer");
    let mut step = |v: &mut tcu_engine::sim::Vehicle, seconds: f64| {
        for _ in 0..(seconds * 100.0) as u64 {
            v.step();
            let events = v.drain_events();
            c.after_tick(v, &events);
        }
    };
    crate::harness::set(&mut v, "Sim.Driver.AcceleratorPedal", Value::Float(60.0));
    step(&mut v, 8.0);
    crate::harness::set(&mut v, "Sim.Driver.AcceleratorPedal", Value::Float(0.0));
    crate::harness::set(&mut v, "Sim.Environment.RoadFriction", Value::Float(0.1));
    crate::harness::set(&mut v, "Sim.Driver.BrakePedal", Value::Float(100.0));
    step(&mut v, 4.0);
    let files: Vec<PathBuf> = c
        .finish()
        .into_iter()
        .map(|r| r.expect("capture written"))
        .collect();
    files.into_iter().next().expect("an ABS capture")
}

/// The `vehicle/{vin}/captures` payloads of `file` as the contract of
/// `docs/RECORDING.md` has them ("Captures over MQTT"), in order, each
/// with at most `piece` bytes of the file.
pub fn capture_chunks(file: &[u8], rule: &str, piece: usize) -> Vec<Vec<u8>> {
    use sha2::{Digest, Sha256};
    let id = hex::encode(Sha256::digest(file));
    let pieces: Vec<&[u8]> = file.chunks(piece).collect();
    pieces
        .iter()
        .enumerate()
        .map(|(i, data)| {
            serde_json::json!({"id": id, "rule": rule, "trigger_tick": 900, "trigger_t": 9.0,
                "bytes": file.len(), "chunk": i, "chunks": pieces.len(),
                "data": String::from_utf8_lossy(data)})
            .to_string()
            .into_bytes()
        })
        .collect()
}
