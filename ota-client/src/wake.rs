//! Waking the poll loop from outside: a cloneable [`Waker`] that cuts the
//! client's current wait short, so that it polls at once (the dashboard's
//! "poll OTA now" key).
//!
//! A poll that someone asked for is also that person's consent: in the
//! cycle it starts, a soft update deferred for the user is installed and a
//! confirmation waiting for the user is confirmed (see
//! [`crate::client::SoftUpdates`] and [`crate::client::Confirmation`]).

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Requests {
    /// A poll is due now.
    poll: bool,
    /// The user asked (consent for the next cycle).
    user: bool,
}

/// Wakes a [`crate::Client`]; clones wake the same client.
#[derive(Debug, Clone, Default)]
pub struct Waker {
    inner: Arc<(Mutex<Requests>, Condvar)>,
}

impl Waker {
    /// A waker no client listens to yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Requests> {
        self.inner.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks for a poll now, on the user's behalf.
    pub fn poll_now(&self) {
        let mut r = self.lock();
        r.poll = true;
        r.user = true;
        self.inner.1.notify_all();
    }

    /// Waits up to `d`; returns early when a poll is asked for (consuming
    /// that request) or `stopped()` (checked every 50 ms). Returns `true`
    /// when stopped.
    pub(crate) fn sleep(&self, d: Duration, stopped: &dyn Fn() -> bool) -> bool {
        let end = Instant::now() + d;
        let mut r = self.lock();
        loop {
            if stopped() {
                return true;
            }
            if r.poll {
                r.poll = false;
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return false;
            }
            let slice = (end - now).min(Duration::from_millis(50));
            r = match self.inner.1.wait_timeout(r, slice) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Takes the user's request, if one is pending: `true` once per
    /// [`Waker::poll_now`].
    pub(crate) fn take_user_request(&self) -> bool {
        let mut r = self.lock();
        r.poll = false;
        std::mem::take(&mut r.user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_request_ends_a_long_sleep_and_carries_the_users_consent_once() {
        let w = Waker::new();
        let other = w.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            other.poll_now();
        });
        let start = Instant::now();
        assert!(!w.sleep(Duration::from_secs(3600), &|| false));
        assert!(start.elapsed() < Duration::from_secs(600), "woken early");
        t.join().expect("waking thread");
        assert!(w.take_user_request());
        assert!(!w.take_user_request(), "consent is taken once");
    }

    #[test]
    fn stop_ends_the_sleep_and_no_request_means_a_full_sleep() {
        let w = Waker::new();
        assert!(w.sleep(Duration::from_secs(3600), &|| true));
        assert!(!w.sleep(Duration::from_millis(20), &|| false));
        assert!(!w.take_user_request());
    }
}
