//! A real PostgreSQL server for the tests: `initdb` into a temporary
//! directory, `postgres` listening on 127.0.0.1 on an ephemeral port with
//! its socket in that directory, password authentication (scram) for one
//! user, stopped by its PID and the directory removed when dropped.
//!
//! The server refuses to run as root, so under root (CI, this machine) both
//! `initdb` and `postgres` run as the `postgres` system user Debian's
//! package creates (`nobody` without it) through `setpriv`, which execs
//! instead of forking: the child's PID is the server's own. The binaries
//! are found under `/usr/lib/postgresql/<version>/bin` (Debian keeps them
//! off PATH), the newest version first.
//!
//! Without a server installed, [`Postgres::start_or_skip`] says the test
//! was skipped, unless `CI=true` or `TCU_REQUIRE_POSTGRES=1`, where a
//! missing server fails the test (`scripts/test` installs it).

use crate::mqtt::{free_port, wait_for};
use crate::owned::SpawnOwned;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// The one user of the test server.
pub const USER: &str = "tcu";
/// Its password (given to clients through the environment, never a URL).
pub const PASSWORD: &str = "tcu-test-password";

/// The newest `/usr/lib/postgresql/<version>/bin` that has `initdb` and
/// `postgres`.
pub fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version: u32 = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file())
                .then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, b)| b)
}

/// Whether a missing server is a failure here (CI, or asked for).
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("TCU_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// The unprivileged account the server runs as under root: uid, gid.
fn account() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((
                f.first()?.to_owned(),
                f.get(2)?.parse().ok()?,
                f.get(3)?.parse().ok()?,
            ))
        })
        .find(|(name, _, _)| *name == "postgres")
        .map(|(_, u, g)| (u, g))
        .unwrap_or((65534, 65534))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A running test server.
#[derive(Debug)]
pub struct Postgres {
    child: Option<Child>,
    bin: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Postgres {
    /// Starts a server, or, when none is installed and none is
    /// [`required`], prints that `test` was skipped and returns `None`.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        match bin_dir() {
            Some(bin) => Some(Self::start_with(bin)),
            None if required() => panic!(
                "{test}: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres); \
                 ./scripts/test installs Debian's postgresql"
            ),
            None => {
                eprintln!(
                    "{test}: skipped, PostgreSQL is not installed (apt-get install postgresql)"
                );
                None
            }
        }
    }

    /// A server shared by the tests of this process that run at the same
    /// time (each takes its own [`Postgres::fresh_database`]): it stops
    /// when the last of them drops it, and a later test starts another.
    pub fn shared(test: &str) -> Option<Arc<Self>> {
        static SHARED: Mutex<Weak<Postgres>> = Mutex::new(Weak::new());
        let mut slot = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pg) = slot.upgrade() {
            return Some(pg);
        }
        let pg = Arc::new(Self::start_or_skip(test)?);
        *slot = Arc::downgrade(&pg);
        Some(pg)
    }

    /// A new database with a name of its own; its URL.
    pub fn fresh_database(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        self.database(&format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed)))
    }

    /// A command running `program` of the server's `bin` as the server's
    /// account.
    fn command(&self, program: &str) -> Command {
        command_as(&self.bin, program)
    }

    fn start_with(bin: PathBuf) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tcu-pg-")
            .tempdir()
            .expect("a temporary directory for PostgreSQL");
        if is_root() {
            let (uid, gid) = account();
            let c = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes())
                .expect("a path without NUL");
            // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
            let rc = unsafe { libc::chown(c.as_ptr(), uid, gid) };
            assert_eq!(
                rc,
                0,
                "chown {}: {}",
                dir.path().display(),
                std::io::Error::last_os_error()
            );
        }
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).expect("writing the password file");
        let mut pg = Self {
            child: None,
            bin,
            port: free_port(),
            dir,
        };
        let data = pg.data_dir();
        let out = pg
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("running initdb");
        assert!(out.status.success(), "initdb failed: {}", text(&out));
        let child = pg
            .command("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &pg.port.to_string(), "-k"])
            .arg(pg.dir.path())
            // A test server: no durability, few resources.
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .args(["-c", "shared_buffers=16MB", "-c", "max_connections=40"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(pg.dir.path().join("server.log"))
                    .map_or(Stdio::null(), Stdio::from),
            )
            .spawn_owned()
            .expect("starting postgres");
        pg.child = Some(child);
        let ready = wait_for(Duration::from_secs(30), || {
            pg.psql("postgres", "SELECT 1")
                .is_ok_and(|s| s.trim() == "1")
        });
        assert!(
            ready,
            "PostgreSQL did not get ready within 30 s; log:\n{}",
            pg.log()
        );
        pg
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Creates database `name`; returns its URL (without the password:
    /// clients take [`PASSWORD`] from the environment).
    pub fn database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        self.url(name)
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs `sql` in database `db` with `psql`; the rows, unaligned, `|`
    /// between fields.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
            ])
            .arg(self.port.to_string())
            .args(["-U", USER, "-d", db, "-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(text(&out))
        }
    }

    /// Like [`Postgres::psql`], panicking with the error.
    pub fn query(&self, db: &str, sql: &str) -> String {
        self.psql(db, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The server's directory (data, socket, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn command_as(bin: &Path, program: &str) -> Command {
    if is_root() {
        let (uid, gid) = account();
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--clear-groups")
            // Changing the user clears the parent-death signal that
            // `spawn_owned` set; setpriv sets it again after the change.
            .args(["--pdeathsig", "SIGKILL"])
            .arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT is PostgreSQL's fast shutdown: sessions are ended, and
            // the directory can go right after.
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(child.id().to_string())
                .status();
            let exited = wait_for(Duration::from_secs(10), || {
                matches!(child.try_wait(), Ok(Some(_)))
            });
            if !exited {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
