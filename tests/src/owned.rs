//! Children that end with the test or bench that started them. A server a
//! test starts (mosquitto, nats-server, PostgreSQL, goosebit, chromedriver)
//! or a `tcu` under test is stopped by its owner's `Drop`; but a process
//! killed by a signal (Ctrl-C on a bench, a CI timeout, `kill -9`) runs no
//! `Drop`, and its children went on running, holding their ports and
//! directories. [`SpawnOwned::spawn_owned`] asks the kernel to send the
//! child SIGKILL when its parent ends (`PR_SET_PDEATHSIG`).
//!
//! The kernel's "parent" is the thread that forked, not the process: a
//! child spawned by a test's thread would be killed when that thread ends,
//! while the test may still use it from another. So every owned child is
//! forked by one thread of this module that lives as long as the process.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::mpsc::{Sender, channel};

/// A command to spawn, and where its child (and the command) go back.
type Job = (Command, Sender<(Command, io::Result<Child>)>);

/// [`Command::spawn`] for children that must not outlive this process.
pub trait SpawnOwned {
    /// Spawns the command as [`Command::spawn`] does; the child is sent
    /// SIGKILL when this process ends, however it ends.
    fn spawn_owned(&mut self) -> io::Result<Child>;
}

impl SpawnOwned for Command {
    fn spawn_owned(&mut self) -> io::Result<Child> {
        let cmd = std::mem::replace(self, Command::new(""));
        let (reply, back) = channel();
        spawner()
            .send((cmd, reply))
            .map_err(|_| io::Error::other("the owned-children thread is gone"))?;
        let (cmd, child) = back
            .recv()
            .map_err(|_| io::Error::other("the owned-children thread is gone"))?;
        *self = cmd;
        child
    }
}

/// The thread that forks every owned child; it never ends.
fn spawner() -> &'static Sender<Job> {
    static SPAWNER: OnceLock<Sender<Job>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new()
            .name("owned-children".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let child = spawn_dying_with_parent(&mut cmd);
                    let _ = reply.send((cmd, child));
                }
            })
            .expect("starting the owned-children thread");
        tx
    })
}

fn spawn_dying_with_parent(cmd: &mut Command) -> io::Result<Child> {
    let parent = std::process::id();
    // SAFETY: between fork and exec the closure calls only prctl and
    // getppid, both async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have ended before the request took effect
            // ("no such process").
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    };
    cmd.spawn()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_spawned_from_a_thread_that_ended_keeps_running() {
        let mut child = std::thread::spawn(|| {
            Command::new("sleep")
                .arg("300")
                .spawn_owned()
                .expect("starting sleep")
        })
        .join()
        .expect("the spawning thread");
        std::thread::sleep(std::time::Duration::from_millis(300));
        let alive = child.try_wait().expect("try_wait").is_none();
        let _ = child.kill();
        let _ = child.wait();
        assert!(alive, "the child ended with the thread that spawned it");
    }

    #[test]
    fn a_command_spawned_owned_is_given_back_for_its_error_message_and_a_second_spawn() {
        let mut cmd = Command::new("true");
        cmd.arg("first");
        for _ in 0..2 {
            let status = cmd.spawn_owned().expect("true").wait().expect("wait");
            assert!(status.success());
        }
        assert!(format!("{cmd:?}").contains("first"), "{cmd:?}");
        let err = Command::new("/nonexistent/tcu-no-such-program")
            .spawn_owned()
            .expect_err("no such program");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
