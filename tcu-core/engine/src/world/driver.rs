//! Drivers for runs without a human: `demo` repeats a one-minute city cycle
//! (pull away, cruise, brake to a stop, a brisk acceleration) so that a
//! headless run shows every subsystem at work; `idle` leaves the pedals alone.
//! A fleet mixes more: `motorway` (up to 120 km/h and hold it), `traffic`
//! (stop and go at walking to cycling pace), `parked` (the brake held).
//!
//! A driver only sets the `Sim.Driver.*` actuators through the control path,
//! exactly as a command or a dashboard key would.

use crate::bus::Bus;
use crate::catalog::Value;
use serde::Deserialize;

/// Which driver runs the car when nobody else does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DriverProfile {
    /// The demo cycle.
    #[default]
    Demo,
    /// No pedal input.
    Idle,
    /// Up to a motorway speed and hold it (speed feedback on the pedals).
    Motorway,
    /// Stop and go in a queue: short creeps and stops.
    Traffic,
    /// Parked: the brake held, nothing else.
    Parked,
}

/// Every profile's name, for errors and help.
pub const PROFILES: &str = "demo, idle, motorway, traffic, parked";

/// The speed the motorway driver holds, km/h.
pub const MOTORWAY_KMH: f64 = 120.0;

impl std::str::FromStr for DriverProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "demo" => Ok(Self::Demo),
            "idle" => Ok(Self::Idle),
            "motorway" => Ok(Self::Motorway),
            "traffic" => Ok(Self::Traffic),
            "parked" => Ok(Self::Parked),
            _ => Err(format!(
                "unknown driver profile `{s}` (expected one of {PROFILES})"
            )),
        }
    }
}

/// One phase of the demo cycle: until `end` seconds, hold these pedals.
const DEMO_CYCLE: [(f64, f64, f64); 5] = [
    (12.0, 45.0, 0.0),
    (30.0, 18.0, 0.0),
    (38.0, 0.0, 25.0),
    (45.0, 0.0, 10.0),
    (60.0, 60.0, 0.0),
];

/// One phase of the stop-and-go cycle: creep, roll, stop, stand.
const TRAFFIC_CYCLE: [(f64, f64, f64); 4] = [
    (4.0, 12.0, 0.0),
    (7.0, 0.0, 0.0),
    (10.0, 0.0, 20.0),
    (20.0, 0.0, 10.0),
];

/// Pedal demands (accelerator %, brake %) of `profile` at time `t` and
/// speed `speed_kmh`, or `None` when the profile leaves the pedals alone.
pub fn pedals(profile: DriverProfile, t: f64, speed_kmh: f64) -> Option<(f64, f64)> {
    match profile {
        DriverProfile::Idle => None,
        DriverProfile::Parked => Some((0.0, 30.0)),
        DriverProfile::Traffic => {
            let t = t.rem_euclid(20.0);
            TRAFFIC_CYCLE
                .iter()
                .find(|(end, _, _)| t < *end)
                .map(|(_, a, b)| (*a, *b))
        }
        DriverProfile::Motorway => {
            // A driver's foot, not a controller: full-ish pedal well below
            // the speed, easing in as it nears, a touch of brake if above.
            let error = MOTORWAY_KMH - speed_kmh;
            Some(if error >= 0.0 {
                ((error * 4.0).clamp(12.0, 70.0), 0.0)
            } else {
                (0.0, (-error * 2.0).min(20.0))
            })
        }
        DriverProfile::Demo => {
            let t = t.rem_euclid(60.0);
            DEMO_CYCLE
                .iter()
                .find(|(end, _, _)| t < *end)
                .map(|(_, a, b)| (*a, *b))
        }
    }
}

/// Applies the driver at time `t` through the control path.
pub fn apply(profile: DriverProfile, t: f64, bus: &mut Bus) {
    let speed = match profile {
        DriverProfile::Motorway => bus.id("Vehicle.Speed").map_or(0.0, |id| bus.get(id)),
        _ => 0.0,
    };
    if let Some((a, b)) = pedals(profile, t, speed) {
        // Constants inside the actuator ranges: these cannot be refused.
        let _ = bus.set_actuator("Sim.Driver.AcceleratorPedal", Value::Float(a));
        let _ = bus.set_actuator("Sim.Driver.BrakePedal", Value::Float(b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_never_presses_both_pedals_and_repeats() {
        for i in 0..1200 {
            let t = f64::from(i) * 0.1;
            let (a, b) = pedals(DriverProfile::Demo, t, 0.0).unwrap();
            assert!(a == 0.0 || b == 0.0, "t={t}");
            assert_eq!(pedals(DriverProfile::Demo, t + 60.0, 0.0), Some((a, b)));
        }
        assert_eq!(pedals(DriverProfile::Idle, 3.0, 0.0), None);
    }

    #[test]
    fn every_profile_parses_by_its_name_and_an_unknown_one_lists_them() {
        for (name, p) in [
            ("demo", DriverProfile::Demo),
            ("idle", DriverProfile::Idle),
            ("motorway", DriverProfile::Motorway),
            ("traffic", DriverProfile::Traffic),
            ("parked", DriverProfile::Parked),
        ] {
            assert_eq!(name.parse::<DriverProfile>(), Ok(p));
        }
        let e = "rally".parse::<DriverProfile>().unwrap_err();
        assert!(e.contains("`rally`") && e.contains(PROFILES), "{e}");
    }

    #[test]
    fn the_motorway_driver_accelerates_below_its_speed_and_brakes_above_it() {
        let (a, b) = pedals(DriverProfile::Motorway, 0.0, 0.0).unwrap();
        assert!(a > 50.0 && b == 0.0);
        let (a_near, _) = pedals(DriverProfile::Motorway, 0.0, 117.0).unwrap();
        assert!(a_near < a, "eases in near the speed");
        let (a, b) = pedals(DriverProfile::Motorway, 0.0, 130.0).unwrap();
        assert!(a == 0.0 && b > 0.0);
    }

    #[test]
    fn traffic_never_presses_both_pedals_and_parked_holds_the_brake() {
        for i in 0..400 {
            let t = f64::from(i) * 0.1;
            let (a, b) = pedals(DriverProfile::Traffic, t, 0.0).unwrap();
            assert!(a == 0.0 || b == 0.0, "t={t}");
        }
        assert_eq!(pedals(DriverProfile::Parked, 9.0, 0.0), Some((0.0, 30.0)));
    }
}
