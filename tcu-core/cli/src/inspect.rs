//! `tcu plugin inspect`: a library's descriptor, read in a short-lived
//! child process.
//!
//! Reading a descriptor means opening the library, and opening it runs its
//! ELF initialisers (the C runtime's, a Rust library's standard-library
//! set-up, any constructor its author wrote). A library that ran code must
//! never be unloaded, and a hostile or broken one can crash or hang the
//! process that opens it. So the caller re-runs its own executable with a
//! hidden subcommand ([`CHILD_SUBCOMMAND`]) that opens the file, prints the
//! descriptor as JSON and exits; the caller waits at most a timeout, kills
//! the child (by its handle) when it is over, and reports a crash, a hang or
//! the loader's error with the file named.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tcu_engine::plugin::PluginInfo;

/// The hidden `tcu plugin` subcommand the child runs: reads the descriptor
/// of its file in its own process, prints it as JSON on stdout (exit 0) or
/// the error on stderr (exit non-zero).
pub const CHILD_SUBCOMMAND: &str = "inspect-in-this-process";

/// The descriptor could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The child process could not be started.
    #[error("inspecting {path}: starting {program}: {message}")]
    Spawn {
        /// The library.
        path: PathBuf,
        /// The executable run as the child.
        program: PathBuf,
        /// The OS message.
        message: String,
    },
    /// The loader refused the file (the child's message names it).
    #[error("{message}")]
    Refused {
        /// The library.
        path: PathBuf,
        /// The child's error.
        message: String,
    },
    /// Opening the library killed the child.
    #[error(
        "inspecting {path}: the library crashed the process that opened it ({signal}); \
         opening a library runs its initialisers"
    )]
    Crashed {
        /// The library.
        path: PathBuf,
        /// The signal, by number and name.
        signal: String,
    },
    /// Opening the library did not finish in time; the child was killed.
    #[error(
        "inspecting {path}: opening the library did not finish within {after}; \
         its initialisers may hang (the process that opened it was killed)"
    )]
    TimedOut {
        /// The library.
        path: PathBuf,
        /// The timeout, human-readable.
        after: String,
    },
    /// The child's answer was not a descriptor.
    #[error("inspecting {path}: unreadable answer of the inspecting process: {message}")]
    Answer {
        /// The library.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Reads the descriptor of `path` by running `program` (the `tcu`
/// executable) as `program plugin inspect-in-this-process PATH`, waiting at
/// most `timeout`.
pub fn inspect_isolated(
    program: &Path,
    path: &Path,
    timeout: Duration,
) -> Result<PluginInfo, InspectError> {
    let mut child = Command::new(program)
        .args(["plugin", CHILD_SUBCOMMAND])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| InspectError::Spawn {
            path: path.to_owned(),
            program: program.to_owned(),
            message: e.to_string(),
        })?;
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(10));
            }
            // Over time, or the child cannot be waited for: stop it.
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(InspectError::TimedOut {
                    path: path.to_owned(),
                    after: humantime::format_duration(timeout).to_string(),
                });
            }
        }
    };
    let collected = |r: Option<mpsc::Receiver<Vec<u8>>>| {
        // A process the library started may still hold the pipe: wait
        // briefly, never forever.
        r.and_then(|r| r.recv_timeout(Duration::from_secs(1)).ok())
            .unwrap_or_default()
    };
    let (out, err) = (collected(stdout), collected(stderr));
    if let Some(signal) = killed_by(status) {
        return Err(InspectError::Crashed {
            path: path.to_owned(),
            signal,
        });
    }
    if !status.success() {
        let message = String::from_utf8_lossy(&err).trim().to_owned();
        return Err(InspectError::Refused {
            path: path.to_owned(),
            message: if message.is_empty() {
                format!("inspecting {}: failed ({status})", path.display())
            } else {
                message
            },
        });
    }
    serde_json::from_slice(&out).map_err(|e| InspectError::Answer {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Reads a pipe to its end on a thread of its own (so that neither pipe
/// fills while the child runs) and hands the bytes over.
fn read_all(mut from: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        let _ = tx.send(bytes);
    });
    rx
}

/// `signal 6, SIGABRT` when a signal ended the process.
fn killed_by(status: ExitStatus) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    let n = status.signal()?;
    let name = match n {
        4 => ", SIGILL",
        6 => ", SIGABRT",
        7 => ", SIGBUS",
        8 => ", SIGFPE",
        9 => ", SIGKILL",
        11 => ", SIGSEGV",
        _ => "",
    };
    Some(format!("signal {n}{name}"))
}

/// Text rendering of a plugin's descriptor for `tcu plugin inspect`.
pub fn describe_plugin(info: &PluginInfo, path: &Path) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} {} (ABI {})",
        path.display(),
        info.name,
        info.version,
        info.abi_version
    );
    for (title, list) in [("reads", &info.reads), ("writes", &info.writes)] {
        let _ = writeln!(out, "  {title} ({}):", list.len());
        for d in list {
            let _ = writeln!(out, "    {} : {}", d.path, d.datatype);
        }
    }
    out
}
