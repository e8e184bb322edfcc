//! Waiting for the terminal's input without spinning, and noticing that the
//! terminal has gone away.
//!
//! crossterm's event reader (0.28, mio source) never returns once its
//! terminal is hung up: a read of a hung-up terminal gives end-of-file,
//! which its read loop neither reports nor waits on, so `event::poll` spins
//! at full CPU and the render loop never sees the stop flag again. That is
//! what happens when the tmux server or the SSH connection behind the
//! dashboard dies. The render loop therefore waits on the terminal itself
//! with poll(2) and calls into crossterm only when there are bytes to read
//! and no hangup; a hangup (`POLLHUP`, `POLLERR` or `POLLNVAL`) means the
//! terminal is gone.
//!
//! The descriptor watched is the one crossterm reads: standard input when it
//! is a terminal, `/dev/tty` otherwise.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// What a [`Input::wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Bytes are waiting to be read.
    Ready,
    /// The timeout passed, or a signal (a resize, say) ended the wait early.
    Timeout,
    /// The terminal hung up or the descriptor is no longer usable.
    Gone,
}

/// The terminal's input side, watched with poll(2).
#[derive(Debug)]
pub struct Input {
    fd: RawFd,
    /// Keeps `/dev/tty` (or a descriptor handed in) open; `None` for stdin.
    _owned: Option<OwnedFd>,
}

impl Input {
    /// Standard input when it is a terminal, else `/dev/tty` (crossterm's
    /// choice, so both watch the same terminal).
    pub fn open() -> io::Result<Self> {
        // SAFETY: isatty only inspects the descriptor number.
        if unsafe { libc::isatty(libc::STDIN_FILENO) } == 1 {
            return Ok(Self {
                fd: libc::STDIN_FILENO,
                _owned: None,
            });
        }
        let tty = File::options()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .map_err(|e| io::Error::new(e.kind(), format!("opening /dev/tty: {e}")))?;
        Ok(Self::from_owned(tty.into()))
    }

    /// Watches `fd` (closed when this is dropped).
    pub fn from_owned(fd: OwnedFd) -> Self {
        Self {
            fd: fd.as_raw_fd(),
            _owned: Some(fd),
        }
    }

    /// Blocks until input arrives, the terminal goes away or `timeout`
    /// passes, whichever is first.
    pub fn wait(&self, timeout: Duration) -> io::Result<Wait> {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // Whole milliseconds, rounded up: a sub-millisecond rest rounded
        // down to 0 would turn the last wait of a frame into a spin.
        let ms = timeout.as_micros().div_ceil(1000);
        let ms = libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd, count 1.
        let n = unsafe { libc::poll(&raw mut pfd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(Wait::Timeout)
            } else {
                Err(io::Error::new(
                    e.kind(),
                    format!("polling terminal input (fd {}): {e}", self.fd),
                ))
            };
        }
        Ok(if n == 0 {
            Wait::Timeout
        } else if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            Wait::Gone
        } else {
            Wait::Ready
        })
    }

    /// True when the terminal has hung up (checked without waiting).
    pub fn is_gone(&self) -> bool {
        matches!(self.wait(Duration::ZERO), Ok(Wait::Gone) | Err(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::FromRawFd;

    /// A pseudo-terminal pair: (master, slave).
    fn pty() -> (OwnedFd, OwnedFd) {
        // SAFETY: plain libc calls on descriptors this function owns.
        unsafe {
            let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            assert!(master >= 0, "posix_openpt: {}", io::Error::last_os_error());
            let master = OwnedFd::from_raw_fd(master);
            assert_eq!(libc::grantpt(master.as_raw_fd()), 0);
            assert_eq!(libc::unlockpt(master.as_raw_fd()), 0);
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(
                libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()),
                0
            );
            let slave = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
            assert!(slave >= 0, "open slave: {}", io::Error::last_os_error());
            // Raw, as the dashboard has it: a key is input at once, not
            // after the line is complete.
            let mut mode: libc::termios = std::mem::zeroed();
            assert_eq!(libc::tcgetattr(slave, &raw mut mode), 0);
            libc::cfmakeraw(&raw mut mode);
            assert_eq!(libc::tcsetattr(slave, libc::TCSANOW, &raw const mode), 0);
            (master, OwnedFd::from_raw_fd(slave))
        }
    }

    fn write(fd: &OwnedFd, bytes: &[u8]) {
        // SAFETY: writes from a live slice to an open descriptor.
        let n = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        assert_eq!(usize::try_from(n).ok(), Some(bytes.len()));
    }

    #[test]
    fn an_idle_terminal_times_out() {
        let (_master, slave) = pty();
        let input = Input::from_owned(slave);
        assert_eq!(
            input.wait(Duration::from_millis(20)).unwrap(),
            Wait::Timeout
        );
        assert!(!input.is_gone());
    }

    #[test]
    fn a_typed_key_makes_the_terminal_ready() {
        let (master, slave) = pty();
        let input = Input::from_owned(slave);
        write(&master, b"w");
        assert_eq!(input.wait(Duration::from_secs(5)).unwrap(), Wait::Ready);
    }

    #[test]
    fn closing_the_other_end_is_seen_as_the_terminal_going_away() {
        let (master, slave) = pty();
        let input = Input::from_owned(slave);
        drop(master);
        assert_eq!(input.wait(Duration::from_secs(5)).unwrap(), Wait::Gone);
        assert!(input.is_gone());
    }
}
