//! The fleet file: what mix of vehicles a fleet is, drawn for every vehicle
//! from the fleet seed and its VIN, so the same file and seed give the same
//! fleet every time. Shares of driver profiles, the ambient temperature at
//! the start (uniform between two bounds), the battery's state of charge at
//! the start (uniform between two bounds, or one of a list), how many seats
//! are taken and how many occupants go unbelted, and how widely the start
//! times spread.
//!
//! ```toml
//! [drivers]            # shares, normalised: need not add up to 1
//! demo = 0.4
//! motorway = 0.2
//! traffic = 0.2
//! parked = 0.2
//!
//! [ambient]            # celsius, uniform
//! min = -5.0
//! max = 25.0
//!
//! [soc]                # percent at the start: uniform, or `values = [20, 50, 80]`
//! min = 20.0
//! max = 90.0
//!
//! [occupants]          # shares of how many seats are taken, in seat order
//! counts = { "1" = 0.6, "2" = 0.3, "4" = 0.1 }
//! unbelted = 0.05      # share of occupants without a belt
//!
//! [start]
//! spread = "30s"       # first ticks spread over this (default: one publish period)
//!
//! [ota.misbehave]      # shares of vehicles that misbehave during a rollout
//! power_off = 0.1      # powered off during probation, started again from the store
//! drop_download = 0.1  # the link drops in the middle of a download (once)
//! slow_link = 0.1      # the link carries downloads at slow_link_bytes_per_s
//! slow_link_bytes_per_s = 50000.0
//!
//! [[steps]]            # see crate::steps
//! at = "60s"
//! share = 0.05
//! crash = 100.0
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tcu_engine::catalog::Value;
use tcu_engine::world::SEATS;
use tcu_engine::world::driver::{DriverProfile, PROFILES};
use tcu_sdk::rng::{SplitMix64, derive_seed};

/// Ambient temperature the environment accepts, celsius (its catalog range).
const AMBIENT_RANGE: (f64, f64) = (-40.0, 60.0);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMix {
    #[serde(default)]
    drivers: BTreeMap<String, f64>,
    ambient: Option<RawAmbient>,
    soc: Option<RawSoc>,
    occupants: Option<RawOccupants>,
    start: Option<RawStart>,
    #[serde(default)]
    steps: Vec<crate::steps::RawStep>,
    ota: Option<RawOta>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOta {
    misbehave: RawMisbehave,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMisbehave {
    #[serde(default)]
    power_off: f64,
    #[serde(default)]
    drop_download: f64,
    #[serde(default)]
    slow_link: f64,
    slow_link_bytes_per_s: Option<f64>,
}

/// Rate of a slow link unless the fleet file gives one, bytes per second.
const SLOW_LINK_DEFAULT: f64 = 50_000.0;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAmbient {
    min: f64,
    max: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSoc {
    min: Option<f64>,
    max: Option<f64>,
    values: Option<Vec<f64>>,
}

/// How the starting state of charge is drawn.
#[derive(Debug, Clone, PartialEq)]
enum Soc {
    /// Uniform between two bounds, percent.
    Between(f64, f64),
    /// One of these, each as likely.
    OneOf(Vec<f64>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOccupants {
    counts: BTreeMap<String, f64>,
    #[serde(default)]
    unbelted: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStart {
    spread: String,
}

/// A checked fleet file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mix {
    /// Driver profiles with their cumulative share (last = 1); empty: every
    /// vehicle keeps the configured driver.
    drivers: Vec<(DriverProfile, f64)>,
    /// Ambient temperature bounds.
    ambient: Option<(f64, f64)>,
    /// Starting state of charge.
    soc: Option<Soc>,
    /// Seats taken with their cumulative share.
    occupants: Vec<(usize, f64)>,
    /// Share of occupants without a belt.
    unbelted: f64,
    /// Start-time spread.
    pub spread: Option<Duration>,
    /// Steps for one VIN, a share of the fleet or all of it.
    pub steps: Vec<crate::steps::Step>,
    /// Share of vehicles powered off during probation.
    power_off: f64,
    /// Shares of vehicles whose link drops mid-download, or is slow (at
    /// this rate).
    drop_download: f64,
    slow_link: (f64, f64),
}

/// What the mix gives one vehicle.
#[derive(Debug, Clone, PartialEq)]
pub struct Draw {
    /// Its driver, if the mix sets one.
    pub driver: Option<DriverProfile>,
    /// Initial actuator values (ambient temperature, occupants).
    pub signals: BTreeMap<String, Value>,
    /// The battery's state of charge at the start, percent (set with the
    /// battery's `set_soc` command before the first tick).
    pub soc: Option<f64>,
    /// Powered off during its first probation (and started again from its
    /// store).
    pub power_off: bool,
    /// Its link misbehaves during downloads.
    pub link: Option<crate::shaper::LinkFault>,
}

fn cumulative<T: Copy>(items: &[(T, f64)]) -> Vec<(T, f64)> {
    let total: f64 = items.iter().map(|(_, s)| s).sum();
    let mut acc = 0.0;
    items
        .iter()
        .map(|(t, s)| {
            acc += s / total;
            (*t, acc)
        })
        .collect()
}

fn pick<T: Copy>(items: &[(T, f64)], u: f64) -> Option<T> {
    items
        .iter()
        .find(|(_, c)| u < *c)
        .or(items.last())
        .map(|(t, _)| *t)
}

fn share(file: &str, field: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!(
            "{file}: `{field}` = {v}: a share is a number of at least 0"
        ))
    }
}

impl Mix {
    /// Reads and checks a fleet file; errors name the file and the field.
    pub fn load(path: &Path) -> Result<Mix, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading fleet file {}: {e}", path.display()))?;
        Mix::parse(&path.display().to_string(), &text)
    }

    /// Checks the text of a fleet file called `file`.
    pub fn parse(file: &str, text: &str) -> Result<Mix, String> {
        let raw: RawMix = toml::from_str(text).map_err(|e| format!("{file}: {e}"))?;
        let mut drivers = Vec::new();
        for (name, s) in &raw.drivers {
            let p: DriverProfile = name.parse().map_err(|_| {
                format!(
                    "{file}: `drivers.{name}`: unknown driver profile (expected one of {PROFILES})"
                )
            })?;
            drivers.push((p, share(file, &format!("drivers.{name}"), *s)?));
        }
        if !drivers.is_empty() && drivers.iter().all(|(_, s)| *s == 0.0) {
            return Err(format!("{file}: `drivers`: every share is 0"));
        }
        let ambient = match raw.ambient {
            None => None,
            Some(a) => {
                let (lo, hi) = AMBIENT_RANGE;
                if !(a.min.is_finite()
                    && a.max.is_finite()
                    && lo <= a.min
                    && a.min <= a.max
                    && a.max <= hi)
                {
                    return Err(format!(
                        "{file}: `ambient`: min {} and max {} must satisfy {lo} <= min <= max <= {hi} (celsius)",
                        a.min, a.max
                    ));
                }
                Some((a.min, a.max))
            }
        };
        let soc = raw.soc.map(|r| soc_of(file, r)).transpose()?;
        let steps = crate::steps::parse(file, raw.steps)?;
        let (mut power_off, mut drop_download, mut slow_link) = (0.0, 0.0, (0.0, 0.0));
        if let Some(o) = raw.ota {
            let m = o.misbehave;
            power_off = share(file, "ota.misbehave.power_off", m.power_off)?;
            drop_download = share(file, "ota.misbehave.drop_download", m.drop_download)?;
            let rate = m.slow_link_bytes_per_s.unwrap_or(SLOW_LINK_DEFAULT);
            if !(rate.is_finite() && rate > 0.0) {
                return Err(format!(
                    "{file}: `ota.misbehave.slow_link_bytes_per_s` = {rate}: a rate above 0"
                ));
            }
            slow_link = (share(file, "ota.misbehave.slow_link", m.slow_link)?, rate);
            let total = power_off + drop_download + slow_link.0;
            if total > 1.0 {
                return Err(format!(
                    "{file}: `ota.misbehave`: the shares add up to {total}; a vehicle misbehaves one way, so at most 1"
                ));
            }
        }
        let (mut occupants, mut unbelted) = (Vec::new(), 0.0);
        if let Some(o) = raw.occupants {
            for (count, s) in &o.counts {
                let n: usize = count
                    .parse()
                    .ok()
                    .filter(|n| *n <= SEATS.len())
                    .ok_or_else(|| {
                        format!(
                            "{file}: `occupants.counts.{count}`: a count of seats taken is 0 to {}",
                            SEATS.len()
                        )
                    })?;
                occupants.push((n, share(file, &format!("occupants.counts.{count}"), *s)?));
            }
            if occupants.is_empty() || occupants.iter().all(|(_, s)| *s == 0.0) {
                return Err(format!(
                    "{file}: `occupants.counts`: give at least one share above 0"
                ));
            }
            unbelted = share(file, "occupants.unbelted", o.unbelted)?;
            if unbelted > 1.0 {
                return Err(format!(
                    "{file}: `occupants.unbelted` = {unbelted}: a share of occupants is at most 1"
                ));
            }
        }
        let spread = match raw.start {
            None => None,
            Some(s) => Some(
                humantime::parse_duration(&s.spread)
                    .map_err(|e| format!("{file}: `start.spread` = `{}`: {e}", s.spread))?,
            ),
        };
        Ok(Mix {
            drivers: if drivers.is_empty() {
                drivers
            } else {
                cumulative(&drivers)
            },
            ambient,
            soc,
            occupants: if occupants.is_empty() {
                occupants
            } else {
                cumulative(&occupants)
            },
            unbelted,
            spread,
            steps,
            power_off,
            drop_download,
            slow_link,
        })
    }

    /// The draw of the vehicle `vin` in the fleet of `seed`.
    pub fn draw(&self, seed: u64, vin: &str) -> Draw {
        let mut rng = SplitMix64::new(derive_seed(seed, &format!("mix/{vin}")));
        let driver = pick(&self.drivers, rng.next_f64());
        let mut signals = BTreeMap::new();
        if let Some((lo, hi)) = self.ambient {
            let t = lo + (hi - lo) * rng.next_f64();
            // Tenths of a degree: what a weather report gives.
            signals.insert(
                "Sim.Environment.AirTemperature".to_owned(),
                Value::Float((t * 10.0).round() / 10.0),
            );
        }
        if let Some(taken) = pick(&self.occupants, rng.next_f64()) {
            for (i, seat) in SEATS.iter().enumerate() {
                let who = if i >= taken {
                    0
                } else if rng.next_f64() < self.unbelted {
                    1
                } else {
                    2
                };
                signals.insert(format!("Sim.Cabin.Seat.{seat}.Occupant"), Value::Int(who));
            }
        }
        // A stream of its own, so that adding a state of charge to a fleet
        // file leaves every other draw as it was.
        let mut soc_rng = SplitMix64::new(derive_seed(seed, &format!("soc/{vin}")));
        let soc = self.soc.as_ref().map(|s| match s {
            Soc::Between(lo, hi) => {
                // Tenths of a percent: what a dashboard shows.
                ((lo + (hi - lo) * soc_rng.next_f64()) * 10.0).round() / 10.0
            }
            Soc::OneOf(values) => {
                let i = (soc_rng.next_f64() * values.len() as f64) as usize;
                values[i.min(values.len() - 1)]
            }
        });
        // One misbehaviour at most, from a stream of its own.
        let u = SplitMix64::new(derive_seed(seed, &format!("misbehave/{vin}"))).next_f64();
        let power_off = u < self.power_off;
        let link = if power_off {
            None
        } else if u < self.power_off + self.drop_download {
            Some(crate::shaper::LinkFault::DropMidDownload)
        } else if u < self.power_off + self.drop_download + self.slow_link.0 {
            Some(crate::shaper::LinkFault::Slow(self.slow_link.1))
        } else {
            None
        };
        Draw {
            driver,
            signals,
            soc,
            power_off,
            link,
        }
    }
}

/// Checks `[soc]`: either `min` and `max` or `values`, all percentages.
fn soc_of(file: &str, r: RawSoc) -> Result<Soc, String> {
    let percent = |v: f64| v.is_finite() && (0.0..=100.0).contains(&v);
    match (r.min, r.max, r.values) {
        (Some(lo), Some(hi), None) if percent(lo) && percent(hi) && lo <= hi => {
            Ok(Soc::Between(lo, hi))
        }
        (Some(lo), Some(hi), None) => Err(format!(
            "{file}: `soc`: min {lo} and max {hi} must satisfy 0 <= min <= max <= 100 (percent)"
        )),
        (None, None, Some(values)) => {
            if values.is_empty() {
                return Err(format!(
                    "{file}: `soc.values`: give at least one percentage"
                ));
            }
            match values.iter().find(|v| !percent(**v)) {
                Some(v) => Err(format!(
                    "{file}: `soc.values`: {v} is not a percentage in 0..=100"
                )),
                None => Ok(Soc::OneOf(values)),
            }
        }
        _ => Err(format!(
            "{file}: `soc`: give either `min` and `max` or `values`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[drivers]
demo = 2
motorway = 1
parked = 1

[ambient]
min = -5.0
max = 25.0

[occupants]
counts = { "1" = 0.5, "3" = 0.5 }
unbelted = 0.1

[start]
spread = "30s"
"#;

    #[test]
    fn a_fleet_file_draws_the_same_mix_every_time_in_its_shares() {
        let mix = Mix::parse("fleet.toml", FILE).unwrap();
        assert_eq!(mix.spread, Some(Duration::from_secs(30)));
        let vins: Vec<String> = (0..2000).map(|i| crate::vin::derive("WTCUZ", i)).collect();
        let draws: Vec<Draw> = vins.iter().map(|v| mix.draw(9, v)).collect();
        let again: Vec<Draw> = vins.iter().map(|v| mix.draw(9, v)).collect();
        assert_eq!(draws, again);
        let share = |p: DriverProfile| {
            draws.iter().filter(|d| d.driver == Some(p)).count() as f64 / draws.len() as f64
        };
        assert!((share(DriverProfile::Demo) - 0.5).abs() < 0.04);
        assert!((share(DriverProfile::Motorway) - 0.25).abs() < 0.04);
        assert!((share(DriverProfile::Parked) - 0.25).abs() < 0.04);
        for d in &draws {
            let Value::Float(t) = d.signals["Sim.Environment.AirTemperature"] else {
                panic!("ambient is a float");
            };
            assert!((-5.0..=25.0).contains(&t));
            let taken = SEATS
                .iter()
                .filter(|s| d.signals[&format!("Sim.Cabin.Seat.{s}.Occupant")] != Value::Int(0))
                .count();
            assert!(taken == 1 || taken == 3, "{taken}");
            // Seats fill in order: the driver's first.
            assert_ne!(
                d.signals["Sim.Cabin.Seat.Row1.DriverSide.Occupant"],
                Value::Int(0)
            );
        }
        let other: Vec<Draw> = vins.iter().map(|v| mix.draw(10, v)).collect();
        assert_ne!(draws, other, "another seed, another fleet");
    }

    #[test]
    fn a_fleets_state_of_charge_is_spread_as_configured_and_the_same_for_the_same_seed() {
        let vins: Vec<String> = (0..2000).map(|i| crate::vin::derive("WTCUZ", i)).collect();
        let band = Mix::parse("f.toml", "[soc]\nmin = 30.0\nmax = 60.0\n").unwrap();
        let socs: Vec<f64> = vins.iter().map(|v| band.draw(4, v).soc.unwrap()).collect();
        assert!(socs.iter().all(|s| (30.0..=60.0).contains(s)));
        let mean = socs.iter().sum::<f64>() / socs.len() as f64;
        assert!((mean - 45.0).abs() < 1.0, "uniform over the band: {mean}");
        let low = socs.iter().filter(|s| **s < 37.5).count() as f64 / socs.len() as f64;
        assert!(
            (low - 0.25).abs() < 0.04,
            "a quarter in the lowest quarter: {low}"
        );
        let again: Vec<f64> = vins.iter().map(|v| band.draw(4, v).soc.unwrap()).collect();
        assert_eq!(socs, again, "the same seed, the same charges");
        let other: Vec<f64> = vins.iter().map(|v| band.draw(5, v).soc.unwrap()).collect();
        assert_ne!(socs, other, "another seed, other charges");

        let list = Mix::parse("f.toml", "[soc]\nvalues = [20.0, 80.0]\n").unwrap();
        let picks: Vec<f64> = vins.iter().map(|v| list.draw(4, v).soc.unwrap()).collect();
        assert!(picks.iter().all(|s| *s == 20.0 || *s == 80.0));
        let share = picks.iter().filter(|s| **s == 20.0).count() as f64 / picks.len() as f64;
        assert!((share - 0.5).abs() < 0.04, "{share}");

        // Adding a state of charge changes no other draw.
        let with = Mix::parse(
            "f.toml",
            &format!("{FILE}\n[soc]\nmin = 10.0\nmax = 20.0\n"),
        )
        .unwrap();
        let without = Mix::parse("f.toml", FILE).unwrap();
        for v in &vins[..100] {
            let (a, b) = (with.draw(9, v), without.draw(9, v));
            assert_eq!((a.driver, a.signals), (b.driver, b.signals));
            assert_eq!(b.soc, None);
        }
    }

    #[test]
    fn bad_fleet_files_name_the_file_and_the_field() {
        for (text, want) in [
            ("[drivers]\nrally = 1\n", "`drivers.rally`"),
            ("[drivers]\ndemo = -1\n", "`drivers.demo`"),
            ("[drivers]\ndemo = 0\n", "every share is 0"),
            ("[ambient]\nmin = 30.0\nmax = 10.0\n", "`ambient`"),
            ("[ambient]\nmin = -80.0\nmax = 10.0\n", "`ambient`"),
            (
                "[occupants]\ncounts = { \"7\" = 1 }\n",
                "`occupants.counts.7`",
            ),
            (
                "[occupants]\ncounts = { \"1\" = 1 }\nunbelted = 2\n",
                "`occupants.unbelted`",
            ),
            ("[start]\nspread = \"soon\"\n", "`start.spread`"),
            ("[soc]\nmin = 50.0\nmax = 20.0\n", "`soc`"),
            ("[soc]\nmin = 50.0\n", "either `min` and `max` or `values`"),
            ("[soc]\nvalues = []\n", "`soc.values`"),
            (
                "[ota.misbehave]\npower_off = -1.0\n",
                "`ota.misbehave.power_off`",
            ),
            (
                "[ota.misbehave]\npower_off = 0.5\nslow_link = 0.6\n",
                "add up to 1.1",
            ),
            ("[ota.misbehave]\nlate = 0.1\n", "late"),
            ("[soc]\nvalues = [50.0, 120.0]\n", "`soc.values`: 120"),
            ("[wheather]\n", "wheather"),
        ] {
            let e = Mix::parse("fleet.toml", text).unwrap_err();
            assert!(
                e.starts_with("fleet.toml: ") && e.contains(want),
                "{text}: {e}"
            );
        }
    }
}
