//! The fleet's summary: one line every status interval (vehicles connected
//! of wanted, ticks and late ticks, messages per second, outbox depth and
//! drops, and with OTA the vehicles in each client state and the artifacts
//! downloaded), a progress bar while the fleet connects, and the same
//! figures as JSON lines for `--stats`.

use crate::ota::STATES;
use crate::worker::TickCounters;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tcu_link::Metrics;

/// The fleet's figures at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    /// Seconds since the fleet started.
    pub t_s: f64,
    /// Vehicles this process runs.
    pub wanted: usize,
    /// Of them, connected to the broker now.
    pub connected: usize,
    /// Ticks run by all vehicles.
    pub ticks: u64,
    /// Of them, late.
    pub late: u64,
    /// Ticks skipped by vehicles that fell behind.
    pub skipped: u64,
    /// Messages the broker has (acknowledged or written).
    pub published: u64,
    /// Messages per second since the previous snapshot.
    pub msgs_per_s: f64,
    /// Messages waiting in all outboxes.
    pub outbox: u64,
    /// Messages lost, all vehicles (each vehicle reports its own in an
    /// `outbox.dropped` event).
    pub dropped: u64,
    /// Vehicles in each OTA state ([`STATES`]); all zero without OTA.
    pub ota: [u64; STATES.len()],
    /// Artifacts this process downloaded for its vehicles.
    pub ota_downloads: u64,
}

impl Snapshot {
    /// Reads the counters; `previous` gives the message rate.
    pub fn take(
        t_s: f64,
        links: &[Arc<Metrics>],
        ticks: &TickCounters,
        previous: Option<&Snapshot>,
    ) -> Snapshot {
        let mut s = Snapshot {
            t_s,
            wanted: links.len(),
            ticks: ticks.ticks.load(Ordering::Relaxed),
            late: ticks.late.load(Ordering::Relaxed),
            skipped: ticks.skipped.load(Ordering::Relaxed),
            ota: ticks.ota.counts(),
            ..Snapshot::default()
        };
        for m in links {
            s.connected += usize::from(m.connected.load(Ordering::Relaxed));
            s.published += m.published.load(Ordering::Relaxed);
            s.outbox += m.outbox.load(Ordering::Relaxed);
            s.dropped += m.dropped.load(Ordering::Relaxed);
        }
        if let Some(p) = previous {
            let dt = t_s - p.t_s;
            if dt > 0.0 {
                s.msgs_per_s = s.published.saturating_sub(p.published) as f64 / dt;
            }
        }
        s
    }

    /// `idle 18, installing 2`: the OTA states any vehicle is in.
    pub fn ota_states(&self) -> String {
        STATES
            .iter()
            .zip(self.ota)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The summary line.
    pub fn line(&self) -> String {
        let ota = if self.ota.iter().any(|n| *n > 0) {
            format!(
                ", ota: {} ({} downloaded)",
                self.ota_states(),
                self.ota_downloads
            )
        } else {
            String::new()
        };
        format!(
            "fleet: {}/{} connected, {} ticks ({} late, {} skipped), {:.0} msg/s, {} published, outbox {}, dropped {}{ota}",
            self.connected,
            self.wanted,
            self.ticks,
            self.late,
            self.skipped,
            self.msgs_per_s,
            self.published,
            self.outbox,
            self.dropped
        )
    }

    /// A progress bar of the connections, 30 characters wide.
    pub fn progress(&self) -> String {
        const WIDTH: usize = 30;
        let filled = (self.connected * WIDTH)
            .checked_div(self.wanted)
            .unwrap_or(WIDTH);
        format!(
            "connecting [{}{}] {}/{}",
            "#".repeat(filled),
            ".".repeat(WIDTH - filled),
            self.connected,
            self.wanted
        )
    }

    /// One JSON line for `--stats`.
    pub fn json(&self) -> String {
        let ota: serde_json::Map<String, serde_json::Value> = STATES
            .iter()
            .zip(self.ota)
            .map(|(s, n)| ((*s).to_owned(), n.into()))
            .collect();
        json!({
            "t_s": (self.t_s * 1000.0).round() / 1000.0,
            "vehicles": self.wanted,
            "connected": self.connected,
            "ticks": self.ticks,
            "late_ticks": self.late,
            "skipped_ticks": self.skipped,
            "published": self.published,
            "msgs_per_s": (self.msgs_per_s * 10.0).round() / 10.0,
            "outbox": self.outbox,
            "dropped": self.dropped,
            "ota": ota,
            "ota_downloads": self.ota_downloads,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_sums_every_link_and_rates_against_the_previous_one() {
        let links: Vec<Arc<Metrics>> = (0..4).map(|_| Arc::new(Metrics::default())).collect();
        for (i, m) in links.iter().enumerate() {
            m.connected.store(i % 2 == 0, Ordering::Relaxed);
            m.published.store(10 * i as u64, Ordering::Relaxed);
            m.outbox.store(1, Ordering::Relaxed);
            m.dropped.store(u64::from(i == 3), Ordering::Relaxed);
        }
        let ticks = TickCounters::default();
        ticks.ticks.store(100, Ordering::Relaxed);
        ticks.late.store(2, Ordering::Relaxed);
        let first = Snapshot::take(1.0, &links, &ticks, None);
        assert_eq!(
            (
                first.wanted,
                first.connected,
                first.published,
                first.outbox,
                first.dropped
            ),
            (4, 2, 60, 4, 1)
        );
        links[0].published.store(30, Ordering::Relaxed);
        let second = Snapshot::take(3.0, &links, &ticks, Some(&first));
        assert_eq!(second.msgs_per_s, 15.0);
        assert!(
            second
                .line()
                .contains("2/4 connected, 100 ticks (2 late, 0 skipped)")
        );
        assert_eq!(
            second.progress(),
            format!("connecting [{}{}] 2/4", "#".repeat(15), ".".repeat(15))
        );
        let j: serde_json::Value = serde_json::from_str(&second.json()).unwrap();
        assert_eq!(j["published"], 90);
        assert_eq!(j["late_ticks"], 2);
        assert_eq!(j["ota"]["succeeded"], 0);
        assert!(!second.line().contains("ota:"), "no OTA, no OTA states");
        let s = ticks.ota.moved(None, "installing");
        let _ = ticks.ota.moved(None, "succeeded");
        let _ = ticks.ota.moved(s, "succeeded");
        let third = Snapshot::take(4.0, &links, &ticks, Some(&second));
        assert!(
            third.line().ends_with("ota: succeeded 2 (0 downloaded)"),
            "{}",
            third.line()
        );
    }
}
