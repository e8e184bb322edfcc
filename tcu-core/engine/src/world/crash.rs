//! Crashes: what a collision does to the car and what its crash sensor sees,
//! and the high-voltage crash disconnect the traction drive obeys.
//!
//! # The trigger
//!
//! `Sim.Crash.Trigger` is the share of the car's current speed the collision
//! takes away, in percent: 100 is a full-width rigid barrier (the car ends at
//! rest), less is a partial collision whose barrier-equivalent speed (Δv) is
//! that share of the speed, such as a car-to-car or an offset crash (two
//! cars of equal mass, one of them standing: about 50 %). The speed change
//! is fixed when the trigger arrives, from the speed then, so it can never
//! exceed what the car had: a car at a standstill gets no pulse at all.
//!
//! # The pulse
//!
//! A half-sine of deceleration lasting [`PULSE_DURATION`] = 80 ms whose
//! integral is exactly the crash's Δv. The half-sine is the response of the
//! classic spring-mass model of a frontal barrier crash (M. Huang, *Vehicle
//! Crash Mechanics*, CRC Press 2002), whose duration depends on the
//! structure's stiffness and mass, not on the impact speed; the peak scales
//! with Δv. Full-frontal rigid-barrier pulses of passenger cars last roughly
//! 70–120 ms, shorter and peakier in newer cars (C. M. Locey et al.,
//! "Homogenization of vehicle fleet frontal crash pulses from 2000–2010",
//! Ann. Adv. Automot. Med. 56, 2012, over 1,094 NHTSA and Transport Canada
//! barrier tests); 80 ms gives the 56 km/h NCAP crash a mean of about 20 g
//! and a half-sine peak of 31 g.
//!
//! Each step takes away the pulse's exact integral over the step, and the
//! sensor reads the mean deceleration over the step (what an anti-aliased
//! accelerometer sampled once per step reports), so integrating the sensor
//! gives Δv at any tick length.
//!
//! # The disconnect
//!
//! With the traction battery's contactors open
//! (`Vehicle.Powertrain.TractionBattery.IsPowerConnected` false), the
//! inverter has no DC link: the motor neither drives nor regenerates,
//! whatever it is commanded, and the car coasts. A vehicle without a battery
//! plugin (nothing writes the signal) keeps its drive.

use crate::bus::{Bus, BusError};
use crate::catalog::SignalId;
use tcu_sdk::vehicle::GRAVITY;

/// Duration of a pulse, seconds.
pub const PULSE_DURATION: f64 = 0.08;
/// A collision taking less speed than this (m/s) is no crash: no pulse.
pub const MIN_DELTA_V: f64 = 1e-3;
/// `Sim.Crash.Trigger` value of a full-width rigid-barrier crash, percent.
pub const FULL_BARRIER_PERCENT: f64 = 100.0;

/// Share of a pulse's Δv taken away by time `t` after impact.
fn progress(t: f64) -> f64 {
    if t <= 0.0 {
        0.0
    } else if t >= PULSE_DURATION {
        1.0
    } else {
        0.5 * (1.0 - (std::f64::consts::PI * t / PULSE_DURATION).cos())
    }
}

/// A pulse in progress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrashPulse {
    /// Speed change of the whole pulse, m/s.
    pub delta_v: f64,
    /// True for a full barrier crash: the car ends at rest.
    pub full: bool,
    /// Time since impact, s.
    pub elapsed: f64,
    /// Mean deceleration over the last step, g.
    mean_g: f64,
}

impl CrashPulse {
    /// A collision that takes `share_percent` of `speed` (m/s) away; `None`
    /// when that is no speed change at all (a car at rest, a zero share).
    pub fn new(speed: f64, share_percent: f64) -> Option<Self> {
        let share = (share_percent / 100.0).clamp(0.0, 1.0);
        let delta_v = speed.max(0.0) * share;
        (delta_v >= MIN_DELTA_V).then_some(Self {
            delta_v,
            full: share_percent >= FULL_BARRIER_PERCENT,
            elapsed: 0.0,
            mean_g: 0.0,
        })
    }

    /// Peak deceleration of the pulse, g.
    pub fn peak_g(&self) -> f64 {
        std::f64::consts::FRAC_PI_2 * self.delta_v / PULSE_DURATION / GRAVITY
    }

    /// What the crash sensor reads: the mean deceleration over the last
    /// step, g (before the first step, the deceleration at impact: zero).
    pub fn sample(&self) -> f64 {
        self.mean_g
    }

    /// Advances by `dt` and returns the speed the impact took away in that
    /// step, m/s.
    pub fn advance(&mut self, dt: f64) -> f64 {
        let lost = self.delta_v * (progress(self.elapsed + dt) - progress(self.elapsed)).max(0.0);
        self.elapsed += dt;
        if dt > 0.0 {
            self.mean_g = lost / dt / GRAVITY;
        }
        lost
    }

    /// True once the whole Δv has been taken away.
    pub fn is_over(&self) -> bool {
        self.elapsed >= PULSE_DURATION
    }
}

/// The crash side of the world: the trigger, the pulse in progress, the
/// high-voltage state the drive obeys.
#[derive(Debug, Clone)]
pub struct Crash {
    trigger: SignalId,
    trigger_version: u32,
    hv_connected: SignalId,
    pulse: Option<CrashPulse>,
    /// What the sensor read over the last step, g (the last step of a pulse
    /// included, after the pulse is gone).
    sample_g: f64,
}

impl Crash {
    /// Resolves the signals; a trigger written before this is not a crash.
    pub fn new(bus: &Bus, trigger: SignalId) -> Result<Self, BusError> {
        Ok(Self {
            trigger,
            trigger_version: bus.version(trigger),
            hv_connected: bus.id("Vehicle.Powertrain.TractionBattery.IsPowerConnected")?,
            pulse: None,
            sample_g: 0.0,
        })
    }

    /// The pulse in progress, if any.
    pub fn pulse(&self) -> Option<&CrashPulse> {
        self.pulse.as_ref()
    }

    /// What the crash sensor read over the last step, g.
    pub fn sample(&self) -> f64 {
        self.sample_g
    }

    /// Begins a step: starts a pulse if the trigger was written since the
    /// last step, from the car's speed `speed` (m/s) now (a new trigger
    /// during a pulse starts a new collision from the speed left), and
    /// clears the sensor until [`Crash::apply`] says what the step brought.
    pub fn begin_step(&mut self, bus: &Bus, speed: f64) {
        self.sample_g = 0.0;
        let version = bus.version(self.trigger);
        if version != self.trigger_version {
            self.trigger_version = version;
            if let Some(pulse) = CrashPulse::new(speed, bus.get(self.trigger)) {
                self.pulse = Some(pulse);
            }
        }
    }

    /// The drive's force at the wheels (N) as the high-voltage circuit lets
    /// it through: nothing with the contactors open.
    pub fn drive_force(&self, bus: &Bus, commanded: f64) -> f64 {
        let id = self.hv_connected;
        if bus.is_written(id) && bus.get(id) < 0.5 {
            0.0
        } else {
            commanded
        }
    }

    /// Applies this step's impact to `v` (m/s, after the other forces) and
    /// returns the new speed.
    pub fn apply(&mut self, v: f64, dt: f64) -> f64 {
        let Some(pulse) = &mut self.pulse else {
            return v;
        };
        let mut v = (v - pulse.advance(dt)).max(0.0);
        self.sample_g = pulse.sample();
        if pulse.is_over() {
            if pulse.full {
                // The barrier does not move: the car ends at rest.
                v = 0.0;
            }
            self.pulse = None;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, Value};
    use std::sync::Arc;

    fn bus_and_crash() -> (Bus, Crash) {
        let bus = Bus::new(Arc::new(Catalog::builtin()));
        let trigger = bus.id("Sim.Crash.Trigger").expect("trigger");
        let crash = Crash::new(&bus, trigger).expect("crash");
        (bus, crash)
    }

    /// Runs a collision at `speed` (m/s) with no other force; returns the
    /// speed after the pulse.
    fn collide(share: f64, speed: f64, dt: f64) -> f64 {
        let (mut bus, mut crash) = bus_and_crash();
        bus.set_actuator("Sim.Crash.Trigger", Value::Float(share))
            .expect("trigger");
        crash.begin_step(&bus, speed);
        let mut v = speed;
        let mut sensed = 0.0;
        while crash.pulse().is_some() {
            v = crash.apply(v, dt);
            sensed += crash.sample() * GRAVITY * dt;
            crash.begin_step(&bus, v);
        }
        assert_eq!(crash.sample(), 0.0, "the sensor reads on after the pulse");
        let dv = speed - v.max(speed * (1.0 - share / 100.0));
        assert!((sensed - dv).abs() < 1e-9, "sensed {sensed} m/s of {dv}");
        v
    }

    #[test]
    fn a_full_barrier_crash_ends_at_rest_a_partial_one_keeps_the_rest_and_the_sensor_reads_every_step()
     {
        for dt in [0.001, 0.01] {
            assert_eq!(collide(100.0, 15.0, dt), 0.0);
            let v = collide(40.0, 15.0, dt);
            assert!((v - 9.0).abs() < 1e-9, "{v}");
        }
    }

    #[test]
    fn a_trigger_written_before_the_world_existed_or_at_rest_is_no_crash() {
        let mut bus = Bus::new(Arc::new(Catalog::builtin()));
        bus.set_actuator("Sim.Crash.Trigger", Value::Float(100.0))
            .expect("trigger");
        let trigger = bus.id("Sim.Crash.Trigger").expect("trigger");
        let mut crash = Crash::new(&bus, trigger).expect("crash");
        crash.begin_step(&bus, 20.0);
        assert!(crash.pulse().is_none());
        bus.set_actuator("Sim.Crash.Trigger", Value::Float(100.0))
            .expect("trigger");
        crash.begin_step(&bus, 0.0);
        assert!(crash.pulse().is_none());
        assert_eq!(crash.sample(), 0.0);
    }

    #[test]
    fn open_contactors_cut_the_drive_and_an_absent_battery_does_not() {
        let (mut bus, crash) = bus_and_crash();
        // Nobody writes the contactor state: the drive is untouched.
        assert_eq!(crash.drive_force(&bus, 3_000.0), 3_000.0);
        let id = bus
            .id("Vehicle.Powertrain.TractionBattery.IsPowerConnected")
            .expect("id");
        bus.write(id, 1.0).expect("write");
        assert_eq!(crash.drive_force(&bus, -2_000.0), -2_000.0);
        bus.write(id, 0.0).expect("write");
        assert_eq!(crash.drive_force(&bus, 3_000.0), 0.0);
        assert_eq!(crash.drive_force(&bus, -2_000.0), 0.0);
    }

    const DTS: [f64; 6] = [0.0001, 0.0005, 0.001, 0.002, 0.01, 0.02];

    /// Runs a pulse to its end; returns the sensor's integral (m/s), the
    /// speed lost (m/s) and the highest sample (g).
    fn run(speed: f64, share: f64, dt: f64) -> (f64, f64, f64) {
        let mut p = CrashPulse::new(speed, share).expect("a pulse");
        let (mut integral, mut lost, mut peak) = (0.0, 0.0, 0.0f64);
        while !p.is_over() {
            lost += p.advance(dt);
            integral += p.sample() * GRAVITY * dt;
            peak = peak.max(p.sample());
        }
        (integral, lost, peak)
    }

    #[test]
    fn the_sensed_pulse_integrates_to_the_speed_change_at_every_tick_length() {
        for &dt in &DTS {
            for kmh in [5.0, 13.0, 26.0, 56.0, 120.0] {
                for share in [20.0, 50.0, 100.0] {
                    let v = kmh / 3.6;
                    let (integral, lost, _) = run(v, share, dt);
                    let dv = v * share / 100.0;
                    assert!((lost - dv).abs() < 1e-9, "{kmh} km/h {share} % dt {dt}");
                    assert!((integral - dv).abs() < 1e-9, "{kmh} km/h {share} % dt {dt}");
                }
            }
        }
    }

    #[test]
    fn the_pulse_peaks_with_the_speed_change_and_lasts_the_same_at_every_speed() {
        for kmh in [10.0, 56.0, 100.0] {
            let (_, _, peak) = run(kmh / 3.6, 100.0, 0.0001);
            let p = CrashPulse::new(kmh / 3.6, 100.0).expect("a pulse");
            assert!((peak - p.peak_g()).abs() < 1e-3 * p.peak_g());
            let mut q = p;
            let steps = std::iter::from_fn(|| {
                q.advance(0.001);
                (!q.is_over()).then_some(())
            })
            .count();
            assert_eq!(steps + 1, 80, "{kmh} km/h");
        }
        // The NCAP crash: about 31 g peak, 20 g mean.
        let ncap = CrashPulse::new(56.0 / 3.6, 100.0).expect("a pulse");
        assert!((ncap.peak_g() - 31.1).abs() < 0.2, "{}", ncap.peak_g());
    }

    #[test]
    fn a_car_at_a_standstill_gets_no_pulse() {
        for share in [0.0, 1.0, 50.0, 100.0] {
            assert_eq!(CrashPulse::new(0.0, share), None);
            assert_eq!(CrashPulse::new(-1.0, share), None);
        }
        assert_eq!(CrashPulse::new(20.0, 0.0), None);
    }

    #[test]
    fn the_speed_change_never_exceeds_the_speed() {
        for share in [100.0, 150.0, 1e9] {
            let p = CrashPulse::new(10.0, share).expect("a pulse");
            assert_eq!(p.delta_v, 10.0);
            assert!(p.full);
        }
        let p = CrashPulse::new(10.0, 40.0).expect("a pulse");
        assert!((p.delta_v - 4.0).abs() < 1e-12);
        assert!(!p.full);
    }
}
