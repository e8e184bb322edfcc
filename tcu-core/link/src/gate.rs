//! A connection gate shared by many links in one process (a fleet): it
//! spaces connection attempts, first connects and reconnects alike, to at
//! most a configured rate, so that thousands of vehicles starting together
//! or coming back after a broker restart do not arrive as one storm.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Spaces connection attempts to at most `per_second`.
#[derive(Debug)]
pub struct ConnectGate {
    spacing: Duration,
    next: Mutex<Option<Instant>>,
}

impl ConnectGate {
    /// A gate letting through `per_second` attempts a second (at least one).
    pub fn new(per_second: f64) -> Self {
        Self {
            spacing: Duration::from_secs_f64(1.0 / per_second.max(1e-3)),
            next: Mutex::new(None),
        }
    }

    /// Time between two attempts.
    pub fn spacing(&self) -> Duration {
        self.spacing
    }

    /// Takes the next free slot and waits for it.
    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.spacing);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn attempts_through_the_gate_are_spaced_at_its_rate() {
        let gate = std::sync::Arc::new(ConnectGate::new(100.0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let g = gate.clone();
                tokio::spawn(async move {
                    g.wait().await;
                    Instant::now()
                })
            })
            .collect();
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap() - start);
        }
        times.sort();
        // 50 attempts at 100/s: the last one waits 49 spacings of 10 ms.
        assert_eq!(times[0], Duration::ZERO);
        assert_eq!(times[49], Duration::from_millis(490));
        for w in times.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_millis(10));
        }
    }
}
