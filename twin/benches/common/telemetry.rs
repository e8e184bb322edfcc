//! The vehicle's telemetry payloads for the twin's benchmarks: twenty
//! consecutive snapshots (1 Hz, the first 20 s of the demo cycle, 82
//! signals each) captured once from `tcu run` through an MQTT subscriber
//! (`fixtures/telemetry.jsonl`), re-rendered for any VIN, seq and time
//! exactly as the vehicle's encoder writes them (sorted keys, no spaces),
//! so every message is byte for byte what a vehicle would publish.
//!
//! Used by the twin's ingest benchmark and by the end-to-end lag benchmark
//! of the tests crate (through `#[path]`), so both send the same payloads.

/// The captured snapshots, one JSON document a line.
const FIXTURE: &str = include_str!("../fixtures/telemetry.jsonl");

/// The `signals` objects of the captured snapshots.
#[derive(Debug, Clone)]
pub struct Snapshots {
    signals: Vec<String>,
}

impl Snapshots {
    /// The captured snapshots (panics on a damaged fixture).
    pub fn load() -> Self {
        let signals: Vec<String> = FIXTURE
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let start = l.find(",\"signals\":").expect("a snapshot has signals") + 11;
                let end = l.rfind(",\"ts\":").expect("a snapshot has a ts");
                l[start..end].to_owned()
            })
            .collect();
        assert!(!signals.is_empty(), "the telemetry fixture is empty");
        Self { signals }
    }

    /// How many snapshots there are.
    pub fn len(&self) -> usize {
        self.signals.len()
    }

    /// Signals in snapshot `i` (modulo the count).
    pub fn signal_count(&self, i: usize) -> usize {
        let s = &self.signals[i % self.len()];
        s.matches("\":").count()
    }

    /// Snapshot `i` (modulo the count) as `vin` publishes it with `seq` at
    /// `ms` (milliseconds since the epoch).
    pub fn payload(&self, i: usize, vin: &str, seq: u64, ms: i64) -> Vec<u8> {
        let signals = &self.signals[i % self.len()];
        let ts = rfc3339(ms);
        format!("{{\"seq\":{seq},\"signals\":{signals},\"ts\":\"{ts}\",\"vin\":\"{vin}\"}}")
            .into_bytes()
    }
}

/// `ms` since the epoch as the vehicle writes it: `2026-01-01T00:00:00.000Z`.
pub fn rfc3339(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (proleptic Gregorian, eras of
    // 400 years).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}
