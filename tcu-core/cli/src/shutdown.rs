//! How a signal ends a run: the first SIGTERM, SIGINT or SIGHUP sets the
//! run's stop flag, so the tick loop ends, the MQTT link writes its outbox
//! to disk and the OTA client stops with its action state saved; if that
//! has not finished within [`GRACE`] the process exits anyway. A second
//! signal exits at once: an operator (or systemd after its stop timeout)
//! who asks twice does not want to wait.
//!
//! Either forced exit first runs the caller's last words (see [`install`]):
//! the dashboard's terminal must be given back (normal screen, cursor,
//! cooked mode) and the log file named even when the orderly stop, which
//! would have done both, is cut short.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// Longest orderly shutdown after the first signal.
pub const GRACE: Duration = Duration::from_secs(15);

/// Exit status of a shutdown cut short (second signal, or [`GRACE`]
/// passed): the conventional 128 + SIGTERM.
pub const FORCED_EXIT: i32 = 143;

/// What one more signal does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSignal {
    /// The first: stop in order.
    Stop,
    /// A later one: exit now.
    Exit,
}

/// Counts signals; the first asks for a stop, every later one for an exit.
#[derive(Debug, Default)]
pub struct Signals {
    seen: AtomicU32,
}

impl Signals {
    /// Records a signal.
    pub fn record(&self) -> OnSignal {
        if self.seen.fetch_add(1, Ordering::SeqCst) == 0 {
            OnSignal::Stop
        } else {
            OnSignal::Exit
        }
    }
}

/// What runs just before a forced exit (on the signal handler's thread or
/// the grace timer's): it must not wait on anything the stuck stop holds.
pub type LastWords = Arc<dyn Fn() + Send + Sync>;

/// Installs the handler for the whole process (once); `last_words` runs
/// before either forced exit.
pub fn install(stop: Arc<AtomicBool>, last_words: LastWords) -> Result<(), ctrlc::Error> {
    let signals = Signals::default();
    ctrlc::set_handler(move || match signals.record() {
        OnSignal::Stop => {
            tracing::info!("signal received: stopping (a second signal exits at once)");
            stop.store(true, Ordering::SeqCst);
            // A stop that hangs (a peer that never answers) must not keep
            // the process alive: systemd would wait its own timeout.
            let last_words = last_words.clone();
            std::thread::spawn(move || {
                std::thread::sleep(GRACE);
                last_words();
                eprintln!("tcu: shutdown took longer than {GRACE:?}; exiting");
                std::process::exit(FORCED_EXIT);
            });
        }
        OnSignal::Exit => {
            last_words();
            eprintln!("tcu: second signal: exiting at once");
            std::process::exit(FORCED_EXIT);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_stops_and_every_later_one_exits() {
        let s = Signals::default();
        assert_eq!(s.record(), OnSignal::Stop);
        assert_eq!(s.record(), OnSignal::Exit);
        assert_eq!(s.record(), OnSignal::Exit);
    }
}
