//! systemd's notify protocol, for a `Type=notify` service with a watchdog:
//! `READY=1` once the tick loop runs, `WATCHDOG=1` from the tick loop at
//! half the `WATCHDOG_USEC` interval (so a stalled loop stops the pings and
//! systemd restarts the service), `STOPPING=1` when the run ends.
//!
//! The protocol is one datagram per message to the Unix socket named by
//! `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace); it is a
//! few lines, so it is implemented here rather than pulled in.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tcu_engine::sim::{Event, TickHook, Vehicle};

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A socket file.
    Path(PathBuf),
    /// An abstract socket (`@name`).
    Abstract(Vec<u8>),
}

/// Sends notifications to the service manager.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    target: Target,
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` asks for (read through `get`); `None`
    /// when not run by a service manager that listens.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let value = get("NOTIFY_SOCKET")?;
        let target = match value.strip_prefix('@') {
            Some(name) => Target::Abstract(name.as_bytes().to_vec()),
            None if value.starts_with('/') => Target::Path(PathBuf::from(value)),
            None => return None,
        };
        let socket = UnixDatagram::unbound().ok()?;
        Some(Self { socket, target })
    }

    /// Sends `state` (`READY=1`, ...); a failure is logged once per call,
    /// never fatal: the service manager may be gone while the TCU stops.
    pub fn send(&self, state: &str) {
        let sent = match &self.target {
            Target::Path(p) => self.socket.send_to(state.as_bytes(), p),
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name)
                    .and_then(|addr| self.socket.send_to_addr(state.as_bytes(), &addr))
            }
        };
        if let Err(e) = sent {
            tracing::debug!("notify {state:?} to the service manager: {e}");
        }
    }
}

/// The watchdog ping interval `WATCHDOG_USEC` asks for (half of it, as
/// systemd advises), if it is meant for this process (`WATCHDOG_PID`).
pub fn watchdog_interval(get: impl Fn(&str) -> Option<String>, pid: u32) -> Option<Duration> {
    if let Some(p) = get("WATCHDOG_PID")
        && p.trim().parse::<u32>().ok() != Some(pid)
    {
        return None;
    }
    let usec: u64 = get("WATCHDOG_USEC")?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// The tick hook that notifies: ready after the first tick, then a
/// watchdog ping every interval of wall time, checked after each tick.
pub struct NotifyHook {
    notifier: Notifier,
    watchdog: Option<Duration>,
    now: Box<dyn Fn() -> Instant + Send>,
    last_ping: Option<Instant>,
}

impl std::fmt::Debug for NotifyHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyHook")
            .field("notifier", &self.notifier)
            .field("watchdog", &self.watchdog)
            .finish_non_exhaustive()
    }
}

impl NotifyHook {
    /// A hook sending through `notifier`, pinging every `watchdog`, reading
    /// wall time from `now`.
    pub fn new(
        notifier: Notifier,
        watchdog: Option<Duration>,
        now: Box<dyn Fn() -> Instant + Send>,
    ) -> Self {
        Self {
            notifier,
            watchdog,
            now,
            last_ping: None,
        }
    }

    /// From the process environment; `None` when not run with
    /// `NOTIFY_SOCKET`.
    pub fn from_process_env() -> Option<Self> {
        let get = |k: &str| std::env::var(k).ok();
        let notifier = Notifier::from_env(get)?;
        let watchdog = watchdog_interval(get, std::process::id());
        tracing::info!(watchdog = ?watchdog, "notifying the service manager");
        Some(Self::new(notifier, watchdog, Box::new(Instant::now)))
    }

    /// The run is ending.
    pub fn stopping(&self) {
        self.notifier.send("STOPPING=1");
    }
}

impl TickHook for NotifyHook {
    fn after_tick(&mut self, _vehicle: &Vehicle, _events: &[Event]) {
        let now = (self.now)();
        match self.last_ping {
            None => {
                self.notifier.send("READY=1\nSTATUS=running");
                if self.watchdog.is_some() {
                    self.notifier.send("WATCHDOG=1");
                }
                self.last_ping = Some(now);
            }
            Some(last) => {
                if let Some(every) = self.watchdog
                    && now.duration_since(last) >= every
                {
                    self.notifier.send("WATCHDOG=1");
                    self.last_ping = Some(now);
                }
            }
        }
    }
}

/// `TCU_STALL_TICK_LOOP_AFTER`: stalls the tick loop after that many
/// ticks, to check that the watchdog then fires (tests only). The stall
/// ends with the run's stop flag.
#[derive(Debug)]
pub struct StallHook {
    after: u64,
    ticks: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StallHook {
    /// From the process environment, if asked for.
    pub fn from_process_env(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Option<Self> {
        let after = std::env::var("TCU_STALL_TICK_LOOP_AFTER")
            .ok()?
            .parse()
            .ok()?;
        tracing::warn!("TCU_STALL_TICK_LOOP_AFTER: the tick loop stalls after {after} ticks");
        Some(Self {
            after,
            ticks: 0,
            stop,
        })
    }
}

impl TickHook for StallHook {
    fn after_tick(&mut self, _vehicle: &Vehicle, _events: &[Event]) {
        self.ticks += 1;
        if self.ticks == self.after {
            tracing::warn!("tick loop stalled (TCU_STALL_TICK_LOOP_AFTER)");
            while !self.stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[cfg(test)]
mod tests;
