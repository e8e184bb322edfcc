//! Drivers for runs without a human: `demo` repeats a one-minute city cycle
//! (pull away, cruise, brake to a stop, a brisk acceleration) so that a
//! headless run shows every subsystem at work; `idle` leaves the pedals alone.
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
}

impl std::str::FromStr for DriverProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "demo" => Ok(Self::Demo),
            "idle" => Ok(Self::Idle),
            _ => Err(format!(
                "unknown driver profile `{s}` (expected demo or idle)"
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

/// Pedal demands (accelerator %, brake %) of `profile` at time `t`, or
/// `None` when the profile leaves the pedals alone.
pub fn pedals(profile: DriverProfile, t: f64) -> Option<(f64, f64)> {
    match profile {
        DriverProfile::Idle => None,
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
    if let Some((a, b)) = pedals(profile, t) {
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
            let (a, b) = pedals(DriverProfile::Demo, t).unwrap();
            assert!(a == 0.0 || b == 0.0, "t={t}");
            assert_eq!(pedals(DriverProfile::Demo, t + 60.0), Some((a, b)));
        }
        assert_eq!(pedals(DriverProfile::Idle, 3.0), None);
    }
}
