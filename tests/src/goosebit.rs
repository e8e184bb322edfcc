//! goosebit under test: the PyPI package in the virtual environment that
//! `scripts/test` creates (`target/venv-goosebit`, or `TCU_GOOSEBIT_VENV`),
//! run with uvicorn on 127.0.0.1 and an ephemeral port, with its database
//! and artifacts in a temporary directory. Configured through its
//! environment variables (`GOOSEBIT_DB_URI`, `GOOSEBIT_ARTIFACTS_DIR`,
//! `GOOSEBIT_POLL_TIME`); the schema is created with Tortoise's
//! `generate_schemas` (what goosebit's migrations would produce), and the
//! first admin through its `/setup` form. Killed by PID on drop.

// Test helper: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use crate::fixtures::workspace_root;
use crate::owned::SpawnOwned;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Admin user created on start.
pub const USER: &str = "admin";
/// Its password.
pub const PASSWORD: &str = "tcu-test-password";

/// The virtual environment's python, if the environment exists.
pub fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("TCU_GOOSEBIT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/venv-goosebit"));
    let py = venv.join("bin/python");
    py.is_file().then_some(py)
}

/// A running goosebit.
#[derive(Debug)]
pub struct Goosebit {
    child: Child,
    url: String,
    port: u16,
    _dir: tempfile::TempDir,
    log: PathBuf,
}

/// One raw HTTP/1.0 request to 127.0.0.1:`port`; returns status and body.
pub fn http(port: u16, method: &str, path: &str, ctype: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

impl Goosebit {
    /// Starts goosebit; `None` when the virtual environment is missing.
    pub fn start() -> Option<Self> {
        let py = python()?;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("goosebit.log");
        let env = |cmd: &mut Command| {
            cmd.current_dir(dir.path())
                .env(
                    "GOOSEBIT_DB_URI",
                    format!("sqlite:///{}", dir.path().join("db.sqlite3").display()),
                )
                .env("GOOSEBIT_ARTIFACTS_DIR", dir.path().join("artifacts"))
                .env("GOOSEBIT_POLL_TIME", "00:00:01")
                .env_remove("GOOSEBIT_SETTINGS");
        };
        let mut init = Command::new(&py);
        env(&mut init);
        init.arg("-c").arg(
            "from tortoise import Tortoise, run_async\n\
             from goosebit.db.config import TORTOISE_CONF\n\
             async def main():\n    await Tortoise.init(config=TORTOISE_CONF)\n    await Tortoise.generate_schemas()\n    await Tortoise.close_connections()\n\
             run_async(main())\n",
        );
        let out = init.output().unwrap();
        assert!(
            out.status.success(),
            "creating goosebit's database: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut cmd = Command::new(&py);
        env(&mut cmd);
        cmd.args([
            "-m",
            "uvicorn",
            "goosebit:app",
            "--host",
            "127.0.0.1",
            "--port",
        ])
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("goosebit.err")).unwrap());
        let child = cmd.spawn_owned().unwrap();
        let mut g = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            port,
            _dir: dir,
            log,
        };
        let start = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Ok(Some(st)) = g.child.try_wait() {
                panic!("goosebit exited ({st}):\n{}", g.logs());
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "goosebit did not listen within 90 s:\n{}",
                g.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let (status, body) = http(
            port,
            "POST",
            "/setup",
            "application/x-www-form-urlencoded",
            format!("username={USER}&password={PASSWORD}").as_bytes(),
        );
        assert_eq!(status, 200, "creating the admin: {body}\n{}", g.logs());
        g.log = g.log.clone();
        Some(g)
    }

    /// Base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its output so far.
    pub fn logs(&self) -> String {
        let mut s = std::fs::read_to_string(&self.log).unwrap_or_default();
        if let Some(dir) = self.log.parent() {
            s.push_str(&std::fs::read_to_string(dir.join("goosebit.err")).unwrap_or_default());
        }
        s
    }
}

impl Drop for Goosebit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
