//! The world model: everything around the ECUs. It turns the driver's
//! demands, the environment and crash events into the sensor signals the
//! plugins read, and moves the car from the forces the plugins command.
//!
//! Inputs are actuators on the bus (`Sim.Driver.*`, `Sim.Environment.*`,
//! `Sim.Crash.Trigger`, `Sim.Cabin.Seat.*.Occupant`), so the dashboard, a
//! scenario step and an MQTT command all reach the world the same way. The
//! forces come from the previous tick's plugin outputs
//! (`Sim.Powertrain.WheelForce`, the four brake pressures): the world runs
//! first in a tick, so at 100 Hz the loop has one 10 ms step of delay, as a
//! CAN-coupled car does.

pub mod crash;
pub mod driver;
pub mod dynamics;
pub mod tyre;

use crate::bus::{Bus, BusError, Writer};
use crate::catalog::SignalId;
use crash::Crash;
use dynamics::{Controls, Motion, VehicleParams};
use tcu_sdk::rng::SplitMix64;
use tyre::Tyre;

/// Seats with an occupant actuator and occupancy sensors, in airbag order.
pub const SEATS: [&str; 5] = [
    "Row1.DriverSide",
    "Row1.PassengerSide",
    "Row2.DriverSide",
    "Row2.Middle",
    "Row2.PassengerSide",
];

/// Wheels in ABS order.
pub const WHEELS: [&str; 4] = [
    "Row1.Wheel.Left",
    "Row1.Wheel.Right",
    "Row2.Wheel.Left",
    "Row2.Wheel.Right",
];

#[derive(Debug, Clone)]
struct Ids {
    accel_demand: SignalId,
    brake_demand: SignalId,
    env_temp: SignalId,
    friction: SignalId,
    crash_trigger: SignalId,
    occupant: [SignalId; 5],
    wheel_force: SignalId,
    electrical_power: SignalId,
    drive_power: SignalId,
    pressures: [SignalId; 4],
    wheel_speeds: [SignalId; 4],
    speed: SignalId,
    accel: SignalId,
    distance: SignalId,
    is_moving: SignalId,
    accel_pedal: SignalId,
    brake_pedal: SignalId,
    exterior_temp: SignalId,
    crash_pulse: SignalId,
    occupied: [SignalId; 5],
    belted: [SignalId; 5],
}

impl Ids {
    fn resolve(bus: &Bus) -> Result<Self, BusError> {
        let id = |p: &str| bus.id(p);
        let seats = |f: &dyn Fn(&str) -> String| -> Result<[SignalId; 5], BusError> {
            let mut out = [SignalId(0); 5];
            for (slot, seat) in out.iter_mut().zip(SEATS) {
                *slot = id(&f(seat))?;
            }
            Ok(out)
        };
        let mut pressures = [SignalId(0); 4];
        let mut wheel_speeds = [SignalId(0); 4];
        for ((slot, speed), w) in pressures.iter_mut().zip(&mut wheel_speeds).zip(WHEELS) {
            *slot = id(&format!("Sim.Chassis.Axle.{w}.Brake.Pressure"))?;
            *speed = id(&format!("Sim.Chassis.Axle.{w}.Speed"))?;
        }
        Ok(Self {
            accel_demand: id("Sim.Driver.AcceleratorPedal")?,
            brake_demand: id("Sim.Driver.BrakePedal")?,
            env_temp: id("Sim.Environment.AirTemperature")?,
            friction: id("Sim.Environment.RoadFriction")?,
            crash_trigger: id("Sim.Crash.Trigger")?,
            occupant: seats(&|s| format!("Sim.Cabin.Seat.{s}.Occupant"))?,
            wheel_force: id("Sim.Powertrain.WheelForce")?,
            electrical_power: id("Sim.Powertrain.ElectricalPower")?,
            drive_power: id("Sim.Powertrain.HighVoltage.DrivePower")?,
            pressures,
            wheel_speeds,
            speed: id("Vehicle.Speed")?,
            accel: id("Vehicle.Acceleration.Longitudinal")?,
            distance: id("Vehicle.TraveledDistance")?,
            is_moving: id("Vehicle.IsMoving")?,
            accel_pedal: id("Vehicle.Chassis.Accelerator.PedalPosition")?,
            brake_pedal: id("Vehicle.Chassis.Brake.PedalPosition")?,
            exterior_temp: id("Vehicle.Exterior.AirTemperature")?,
            crash_pulse: id("Sim.Crash.Pulse")?,
            occupied: seats(&|s| format!("Vehicle.Cabin.Seat.{s}.IsOccupied"))?,
            belted: seats(&|s| format!("Vehicle.Cabin.Seat.{s}.IsBelted"))?,
        })
    }

    fn written(&self) -> Vec<SignalId> {
        let mut v = vec![
            self.speed,
            self.accel,
            self.distance,
            self.is_moving,
            self.accel_pedal,
            self.brake_pedal,
            self.exterior_temp,
            self.crash_pulse,
            self.drive_power,
        ];
        v.extend(self.wheel_speeds);
        v.extend(self.occupied);
        v.extend(self.belted);
        v
    }
}

/// State of the world.
#[derive(Debug, Clone)]
pub struct World {
    params: VehicleParams,
    ids: Ids,
    /// Body and wheel speeds.
    motion: Motion,
    /// Tyre curve of the current road (rebuilt when the friction changes).
    tyre: Tyre,
    distance_m: f64,
    crash: Crash,
    noise: SplitMix64,
    thermometer: Thermometer,
    locked_wheels: u8,
}

/// Period at which the exterior thermometer reports, s: ambient-temperature
/// sensors on a car's network send about once a second.
pub const THERMOMETER_PERIOD_S: f64 = 1.0;
/// Amplitude of the white noise on one thermometer sample, celsius.
const THERMOMETER_NOISE_C: f64 = 0.1;
/// Weight of the previous noise in each sample's (first-order low-pass):
/// the sensor's thermal mass smooths its noise.
const THERMOMETER_NOISE_MEMORY: f64 = 0.8;

/// The exterior thermometer: samples the air once per period, with
/// low-pass filtered noise, and holds the reading in between.
#[derive(Debug, Clone, Default)]
struct Thermometer {
    reading: Option<f64>,
    since_sample: f64,
    noise: f64,
}

impl Thermometer {
    fn read(&mut self, air: f64, dt: f64, rng: &mut SplitMix64) -> f64 {
        if dt <= 0.0 && self.reading.is_none() {
            // Before the first step (the vehicle is still being set up, its
            // initial air temperature not yet applied): no sample taken.
            return air;
        }
        self.since_sample += dt;
        match self.reading {
            Some(r) if self.since_sample < THERMOMETER_PERIOD_S - 1e-9 => r,
            _ => {
                self.since_sample = 0.0;
                self.noise = THERMOMETER_NOISE_MEMORY * self.noise
                    + (1.0 - THERMOMETER_NOISE_MEMORY) * rng.noise(THERMOMETER_NOISE_C);
                let r = air + self.noise;
                self.reading = Some(r);
                r
            }
        }
    }
}

/// Writes a value the world computed, clamped into the signal's range: the
/// world's own arithmetic must never push a bad value onto the bus.
fn put(bus: &mut Bus, id: SignalId, v: f64) {
    bus.write_clamped(id, v);
}

impl World {
    /// Creates the world and claims the sensors it writes. `seed` feeds the
    /// sensor noise.
    pub fn new(bus: &mut Bus, params: VehicleParams, seed: u64) -> Result<Self, BusError> {
        let ids = Ids::resolve(bus)?;
        for id in ids.written() {
            bus.claim(id, Writer::World)?;
        }
        let crash = Crash::new(bus, ids.crash_trigger)?;
        let mut world = Self {
            params,
            ids,
            motion: Motion::default(),
            tyre: Tyre::for_road(0.9),
            distance_m: 0.0,
            crash,
            noise: SplitMix64::new(seed),
            thermometer: Thermometer::default(),
            locked_wheels: 0,
        };
        world.write_sensors(bus, 0.0, 0.0);
        Ok(world)
    }

    /// Current speed, m/s.
    pub fn speed(&self) -> f64 {
        self.motion.speed
    }

    /// Circumferential speed of each wheel, m/s, in [`WHEELS`] order.
    pub fn wheel_speeds(&self) -> [f64; 4] {
        self.motion.wheels
    }

    /// Wheels locked in the last step.
    pub fn locked_wheels(&self) -> u8 {
        self.locked_wheels
    }

    /// True while a crash pulse is running.
    pub fn in_crash(&self) -> bool {
        self.crash.pulse().is_some()
    }

    fn write_sensors(&mut self, bus: &mut Bus, accel: f64, dt: f64) {
        let ids = self.ids.clone();
        put(bus, ids.speed, self.motion.speed * 3.6);
        for (id, u) in ids.wheel_speeds.iter().zip(self.motion.wheels) {
            put(bus, *id, u * 3.6);
        }
        put(bus, ids.accel, accel);
        put(bus, ids.distance, self.distance_m / 1000.0);
        put(
            bus,
            ids.is_moving,
            if self.motion.speed > 0.01 { 1.0 } else { 0.0 },
        );
        put(bus, ids.accel_pedal, bus.get(ids.accel_demand).round());
        put(bus, ids.brake_pedal, bus.get(ids.brake_demand).round());
        let t = self
            .thermometer
            .read(bus.get(ids.env_temp), dt, &mut self.noise);
        put(bus, ids.exterior_temp, t);
        put(bus, ids.crash_pulse, self.crash.sample());
        for i in 0..SEATS.len() {
            let who = bus.get(ids.occupant[i]);
            put(bus, ids.occupied[i], if who >= 1.0 { 1.0 } else { 0.0 });
            put(bus, ids.belted[i], if who >= 2.0 { 1.0 } else { 0.0 });
        }
    }

    /// Advances the world by `dt` seconds.
    pub fn step(&mut self, bus: &mut Bus, dt: f64) {
        let ids = &self.ids;
        self.crash.begin_step(bus, self.motion.speed);
        // The high-voltage bus: what the drive drew last tick is what the
        // battery serves now (the battery-drive loop closes here, through
        // the world, instead of through a plugin dependency cycle).
        put(bus, ids.drive_power, bus.get(ids.electrical_power));
        // A crash disconnect leaves the motor without power.
        let drive = self.crash.drive_force(bus, bus.get(ids.wheel_force));
        let mu = bus.get(ids.friction);
        if mu != self.tyre.road() {
            self.tyre = Tyre::for_road(mu);
        }
        let pressures = if ids.pressures.iter().all(|p| bus.is_written(*p)) {
            ids.pressures.map(|p| bus.get(p))
        } else {
            // No ABS module: the pedal acts on the brakes directly.
            [bus.get(ids.brake_demand) * self.params.pedal_gain; 4]
        };
        let controls = Controls {
            drive_force: drive,
            pressures,
        };
        let v0 = self.motion.speed;
        self.params
            .step(&mut self.motion, &controls, &self.tyre, dt);
        self.locked_wheels = dynamics::locked_wheels(&self.motion);
        let mut v = self.motion.speed;
        let mut a = self.motion.accel;
        if self.crash.pulse().is_some() {
            // The impact decelerates the car on top of everything else.
            v = self.crash.apply(v, dt);
            if dt > 0.0 {
                a = (v - v0) / dt;
            }
            // The wheels roll with the body through the impact.
            self.motion.wheels = [v; 4];
        }
        self.motion.speed = v;
        self.distance_m += 0.5 * (v0 + v) * dt;
        self.write_sensors(bus, a, dt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, Value};
    use std::sync::Arc;

    #[test]
    fn the_exterior_thermometer_reports_once_a_second_with_small_filtered_noise() {
        let mut bus = Bus::new(Arc::new(Catalog::builtin()));
        let mut world = World::new(&mut bus, VehicleParams::default(), 7).expect("world");
        bus.set_actuator("Sim.Environment.AirTemperature", Value::Float(-5.0))
            .expect("air");
        let id = bus.id("Vehicle.Exterior.AirTemperature").expect("id");
        let (mut changes, mut last) = (0, bus.get(id));
        for _ in 0..1000 {
            world.step(&mut bus, 0.01);
            let t = bus.get(id);
            if t != last {
                changes += 1;
            }
            last = t;
            assert!((t + 5.0).abs() <= THERMOMETER_NOISE_C, "{t}");
        }
        // Ten seconds: ten samples (the first one sees the new air).
        assert!((9..=11).contains(&changes), "{changes} changes in 10 s");
    }
}
