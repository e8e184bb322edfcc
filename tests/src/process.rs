//! A `tcu` process under test: its output read line by line as it comes,
//! bounded waits for a line, and a kill by PID when the test is done (or
//! fails).

use crate::owned::SpawnOwned;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The built `tcu` binary as a command with a predictable environment: no
/// `RUST_LOG` or `TCU_OTA_SERVER` inherited from the caller, no colours.
pub fn tcu_command() -> Command {
    let exe = crate::fixtures::workspace_plugins_dir().join("tcu");
    assert!(
        exe.is_file(),
        "{} missing (build the workspace)",
        exe.display()
    );
    let mut cmd = Command::new(exe);
    cmd.env_remove("RUST_LOG")
        .env_remove("TCU_OTA_SERVER")
        .env("NO_COLOR", "1");
    cmd
}

/// A running child whose stdout and stderr are collected.
#[derive(Debug)]
pub struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

fn collect(from: impl Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            into.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    });
}

impl Running {
    /// Starts `cmd` with its output captured.
    pub fn start(mut cmd: Command) -> Self {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn_owned()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            collect(out, lines.clone());
        }
        if let Some(err) = child.stderr.take() {
            collect(err, lines.clone());
        }
        Self { child, lines }
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    /// Lines printed so far that contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits up to `timeout` for a line containing `needle`; panics with the
    /// output so far when none comes.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        self.wait_line(needle, timeout).unwrap_or_else(|| {
            panic!(
                "no line with {needle:?} within {timeout:?}; output:\n{}",
                self.output()
            )
        })
    }

    /// Waits up to `timeout` for a line containing `needle`; `None` when
    /// none comes.
    pub fn wait_line(&self, needle: &str, timeout: Duration) -> Option<String> {
        let start = Instant::now();
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|l| l.contains(needle))
            {
                return Some(l.clone());
            }
            if start.elapsed() >= timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        !self.exited()
    }

    /// Waits (bounded) for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("polling the child") {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            assert!(
                start.elapsed() < timeout,
                "still running after {timeout:?}; output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True once the process has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Its process id (for signals other than SIGKILL).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Stops `child` gently: SIGTERM, up to 30 s to exit, then SIGKILL; reaped
/// either way.
pub fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Children that are [`stop`]ped however their owner ends, a panic
/// included (a bench that gave up on a fleet left the fleet's processes
/// running for minutes).
#[derive(Debug)]
pub struct Stopped(pub Vec<Child>);

impl Drop for Stopped {
    fn drop(&mut self) {
        for c in &mut self.0 {
            stop(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_processes_left_running_by_a_bench_that_panicked_are_stopped() {
        let child = Command::new("sleep").arg("300").spawn().expect("sleep");
        let pid = child.id();
        let panicked = std::panic::catch_unwind(move || {
            let _fleets = Stopped(vec![child]);
            panic!("the fleet did not connect");
        });
        assert!(panicked.is_err());
        // Reaped, so no longer in the process table (not even a zombie).
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "sleep {pid} still runs"
        );
    }
}
