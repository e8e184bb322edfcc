// Self-contained on purpose: a benchmark includes this file with
// `#[path = ...] mod x;`, so it may only use `tcu_sdk` (with its
// `snapshot` feature), `serde` and `std` (see the crate docs for the model).

use serde::{Deserialize, Serialize};
use std::ffi::CStr;
use tcu_sdk::PluginError;
use tcu_sdk::Subsystem;
use tcu_sdk::abi::{
    TCU_TYPE_BOOLEAN, TCU_TYPE_FLOAT, TCU_TYPE_UINT8, TCU_TYPE_UINT32, TcuSignalDecl,
};
use tcu_sdk::physics::{approach, as_bool, finite_or, from_bool};
#[path = "faults.rs"]
pub mod faults;

pub use tcu_sdk::vehicle::{
    BRAKE_FORCE_N_PER_BAR, GRAVITY, LOCK_PRESSURE_PER_MU, MASS_KG as VEHICLE_MASS_KG,
};
/// Line pressure requested per percent of brake pedal, bar/%.
pub const PRESSURE_PER_PEDAL_PERCENT: f64 = 1.0;
/// ABS works only above this speed, km/h; below it the wheels may lock.
pub const ABS_MIN_SPEED_KMH: f64 = 5.0;
/// Frequency of the pressure modulation cycle, Hz.
pub const MODULATION_HZ: f64 = 10.0;
/// Lowest modulated pressure, as a fraction of the lock pressure.
pub const MODULATION_LOW: f64 = 0.85;
/// Highest modulated pressure, as a fraction of the lock pressure.
pub const MODULATION_HIGH: f64 = 0.98;
/// Wheel slip at the lowest modulated pressure.
pub const SLIP_LOW: f64 = 0.05;
/// Wheel slip at the highest modulated pressure.
pub const SLIP_HIGH: f64 = 0.20;
/// Slip of a braked, unlocked wheel at the lock pressure; scales linearly
/// with pressure below it.
pub const BRAKING_SLIP_AT_LOCK: f64 = 0.03;
/// Heat capacity of one brake disc: 7 kg of cast iron at 460 J/kgK, J/K.
pub const DISC_HEAT_CAPACITY_J_PER_K: f64 = 7.0 * 460.0;
/// Convective cooling of a disc at standstill, W/K.
pub const DISC_COOLING_STILL_W_PER_K: f64 = 4.0;
/// Additional cooling per m/s of vehicle speed, W/K per m/s.
pub const DISC_COOLING_PER_MPS_W_PER_K: f64 = 1.2;
/// Ambient used until a finite air temperature arrives, celsius.
pub const DEFAULT_AMBIENT_C: f64 = 20.0;
/// Plausible outside air temperatures, celsius; beyond them the sensor is
/// taken as faulty and clamped (the world's range is -40..60).
pub const MIN_AMBIENT_C: f64 = -50.0;
/// See [`MIN_AMBIENT_C`].
pub const MAX_AMBIENT_C: f64 = 70.0;
/// Vehicle speeds above this are treated as sensor garbage and clamped, km/h.
pub const MAX_SPEED_KMH: f64 = 400.0;
/// Road friction range of the world (`Sim.Environment.RoadFriction`).
pub const MIN_FRICTION: f64 = 0.05;
/// See [`MIN_FRICTION`].
pub const MAX_FRICTION: f64 = 1.2;
/// Catalog range of the disc temperature signal, celsius.
const DISC_TEMP_RANGE: (f64, f64) = (-50.0, 1000.0);

/// Positions of the inputs in `READS`.
pub mod inputs {
    /// `Vehicle.Chassis.Brake.PedalPosition`, percent.
    pub const BRAKE_PEDAL: usize = 0;
    /// `Vehicle.Speed`, km/h.
    pub const SPEED: usize = 1;
    /// `Sim.Environment.RoadFriction`.
    pub const ROAD_FRICTION: usize = 2;
    /// `Vehicle.ADAS.ABS.IsEnabled`.
    pub const ABS_ENABLED: usize = 3;
    /// `Sim.Fault.ABS.WheelSensor`: 0 none, 1..4 the faulty wheel.
    pub const WHEEL_SENSOR_FAULT: usize = 4;
    /// `Vehicle.Exterior.AirTemperature`, celsius.
    pub const AIR_TEMPERATURE: usize = 5;
    /// `Sim.Fault.ABS.NoisyWheel`: 0 none, 1..4 the noisy wheel.
    pub const NOISY_WHEEL: usize = 6;
    /// `Sim.Fault.ABS.WheelSensorNoise`: noise amplitude, km/h.
    pub const WHEEL_NOISE: usize = 7;
    /// Number of inputs.
    pub const COUNT: usize = 8;
}

/// Positions of the outputs in `WRITES`. Per-wheel arrays are ordered
/// Row1.Left, Row1.Right, Row2.Left, Row2.Right (the fault numbering minus 1).
pub mod outputs {
    /// `Vehicle.Chassis.Axle.Row{1,2}.Wheel.{Left,Right}.Speed`, km/h.
    pub const WHEEL_SPEED: [usize; 4] = [0, 1, 2, 3];
    /// `Vehicle.ADAS.ABS.IsEngaged`.
    pub const IS_ENGAGED: usize = 4;
    /// `Vehicle.ADAS.ABS.IsError`.
    pub const IS_ERROR: usize = 5;
    /// `Sim.Chassis.Axle.Row{1,2}.Wheel.{Left,Right}.Brake.Pressure`, bar.
    pub const BRAKE_PRESSURE: [usize; 4] = [6, 7, 8, 9];
    /// `Sim.Chassis.Axle.Row{1,2}.Wheel.{Left,Right}.Brake.DiscTemperature`,
    /// celsius.
    pub const DISC_TEMPERATURE: [usize; 4] = [10, 11, 12, 13];
    /// `Sim.Diagnostics.ABS.ActiveFaults`: the DTC mask.
    pub const ACTIVE_FAULTS: usize = 14;
    /// Number of outputs.
    pub const COUNT: usize = 15;
}

/// State that survives a hot swap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AbsState {
    /// Position in the modulation cycle, 0..1; restarts at each engagement.
    phase: f64,
    /// Disc temperatures, celsius; `None` until the first tick sees ambient.
    disc_temp_c: Option<[f64; 4]>,
    #[serde(default)]
    faults: tcu_sdk::dtc::ActiveFaults,
}

/// A noisy reading further than this from the vehicle speed is implausible,
/// km/h: the ECU flags an error and stops regulating while it lasts.
pub const PLAUSIBILITY_KMH: f64 = 10.0;

/// The ABS / brake control ECU.
#[derive(Debug, Clone)]
pub struct Abs {
    state: AbsState,
    /// Source of the injected sensor noise (not part of the snapshot: noise
    /// has no memory).
    noise: tcu_sdk::rng::SplitMix64,
}

/// Pressure at which a wheel locks on a road of friction `mu`, bar.
pub fn lock_pressure(mu: f64) -> f64 {
    mu * LOCK_PRESSURE_PER_MU
}

/// Whether ABS regulates: enabled, sensors healthy, moving above the
/// minimum speed, and the driver asks for more than the road can take.
pub fn abs_engages(enabled: bool, fault: u8, speed_kmh: f64, requested: f64, lock: f64) -> bool {
    enabled && fault == 0 && speed_kmh > ABS_MIN_SPEED_KMH && requested > lock
}

impl Abs {
    fn with_seed(seed: u64) -> Self {
        Self {
            state: AbsState {
                phase: 0.0,
                disc_temp_c: None,
                faults: Default::default(),
            },
            noise: tcu_sdk::rng::SplitMix64::new(seed),
        }
    }
}

fn check_state(s: &AbsState) -> Result<(), PluginError> {
    let phase_ok = s.phase.is_finite() && (0.0..1.0).contains(&s.phase);
    let temps_ok = s.disc_temp_c.is_none_or(|t| {
        t.iter()
            .all(|x| x.is_finite() && (DISC_TEMP_RANGE.0..=DISC_TEMP_RANGE.1).contains(x))
    });
    if phase_ok && temps_ok {
        Ok(())
    } else {
        Err(PluginError::from(
            "abs snapshot holds a non-finite or out-of-range value",
        ))
    }
}

impl Subsystem for Abs {
    const NAME: &'static CStr = c"abs";
    const VERSION: &'static CStr = c"1.0.0";
    const READS: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(c"Vehicle.Chassis.Brake.PedalPosition", TCU_TYPE_UINT8),
        TcuSignalDecl::new(c"Vehicle.Speed", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Environment.RoadFriction", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Vehicle.ADAS.ABS.IsEnabled", TCU_TYPE_BOOLEAN),
        TcuSignalDecl::new(c"Sim.Fault.ABS.WheelSensor", TCU_TYPE_UINT8),
        TcuSignalDecl::new(c"Vehicle.Exterior.AirTemperature", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Fault.ABS.NoisyWheel", TCU_TYPE_UINT8),
        TcuSignalDecl::new(c"Sim.Fault.ABS.WheelSensorNoise", TCU_TYPE_FLOAT),
    ];
    const WRITES: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(
            c"Vehicle.Chassis.Axle.Row1.Wheel.Left.Speed",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Chassis.Axle.Row1.Wheel.Right.Speed",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Chassis.Axle.Row2.Wheel.Left.Speed",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Chassis.Axle.Row2.Wheel.Right.Speed",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(c"Vehicle.ADAS.ABS.IsEngaged", TCU_TYPE_BOOLEAN),
        TcuSignalDecl::new(c"Vehicle.ADAS.ABS.IsError", TCU_TYPE_BOOLEAN),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row1.Wheel.Left.Brake.Pressure",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row1.Wheel.Right.Brake.Pressure",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row2.Wheel.Left.Brake.Pressure",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row2.Wheel.Right.Brake.Pressure",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row1.Wheel.Left.Brake.DiscTemperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row1.Wheel.Right.Brake.DiscTemperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row2.Wheel.Left.Brake.DiscTemperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Chassis.Axle.Row2.Wheel.Right.Brake.DiscTemperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(c"Sim.Diagnostics.ABS.ActiveFaults", TCU_TYPE_UINT32),
    ];

    fn create(seed: u64) -> Result<Self, PluginError> {
        // The seed only feeds injected sensor noise; the model is otherwise
        // deterministic and noise-free.
        Ok(Self::with_seed(seed))
    }

    fn tick(&mut self, dt: f64, inputs: &[f64], outputs: &mut [f64]) -> Result<(), PluginError> {
        tcu_sdk::check_tick::<Self>(dt, inputs, outputs)?;
        let inputs = &faults::inputs(self.state.faults, inputs);
        faults::write(self.state.faults, outputs);
        let pedal = finite_or(inputs[inputs::BRAKE_PEDAL], 0.0).clamp(0.0, 100.0);
        let speed = finite_or(inputs[inputs::SPEED], 0.0).clamp(0.0, MAX_SPEED_KMH);
        // An unreadable friction estimate is taken as dry road: the driver's
        // pressure then goes through unmodulated, as without ABS.
        let mu = finite_or(inputs[inputs::ROAD_FRICTION], 0.9).clamp(MIN_FRICTION, MAX_FRICTION);
        let enabled = as_bool(finite_or(inputs[inputs::ABS_ENABLED], 1.0));
        // Any non-zero fault code is a fault; 1..4 name the dead sensor.
        let fault_raw = finite_or(inputs[inputs::WHEEL_SENSOR_FAULT], 0.0);
        let fault = if fault_raw.round() >= 1.0 {
            fault_raw.round().min(4.0) as u8
        } else {
            0
        };
        let ambient = finite_or(inputs[inputs::AIR_TEMPERATURE], DEFAULT_AMBIENT_C)
            .clamp(MIN_AMBIENT_C, MAX_AMBIENT_C);

        let noisy = finite_or(inputs[inputs::NOISY_WHEEL], 0.0)
            .round()
            .clamp(0.0, 4.0) as usize;
        let amplitude = finite_or(inputs[inputs::WHEEL_NOISE], 0.0).clamp(0.0, 100.0);
        let noise = if noisy > 0 && amplitude > 0.0 {
            self.noise.noise(amplitude)
        } else {
            0.0
        };
        let implausible = noise.abs() > PLAUSIBILITY_KMH && speed > ABS_MIN_SPEED_KMH;

        let requested = pedal * PRESSURE_PER_PEDAL_PERCENT;
        let lock = lock_pressure(mu);
        let engaged = !implausible && abs_engages(enabled, fault, speed, requested, lock);

        let mut pressure = [requested; 4];
        let mut wheel_speed = [speed; 4];
        if engaged {
            // Each wheel runs its own release / re-apply cycle; staggering
            // them by a quarter period keeps the total brake force steady.
            for w in 0..4 {
                let saw = (self.state.phase + 0.25 * w as f64).fract();
                let fraction = MODULATION_LOW + (MODULATION_HIGH - MODULATION_LOW) * saw;
                pressure[w] = lock * fraction;
                wheel_speed[w] = speed * (1.0 - (SLIP_LOW + (SLIP_HIGH - SLIP_LOW) * saw));
            }
            self.state.phase = (self.state.phase + dt * MODULATION_HZ).fract();
        } else {
            self.state.phase = 0.0;
            if requested > lock && speed > 0.0 {
                wheel_speed = [0.0; 4];
            } else if requested > 0.0 {
                let slip = BRAKING_SLIP_AT_LOCK * requested / lock;
                wheel_speed = [speed * (1.0 - slip); 4];
            }
        }

        // Only the friction the tyre can transmit does work in the disc; a
        // locked wheel's disc does not turn, its tyre takes the heat.
        let adhesion = mu * VEHICLE_MASS_KG * GRAVITY / 4.0;
        let cooling = DISC_COOLING_STILL_W_PER_K + DISC_COOLING_PER_MPS_W_PER_K * speed / 3.6;
        let tau = DISC_HEAT_CAPACITY_J_PER_K / cooling;
        let mut temps = self.state.disc_temp_c.unwrap_or([ambient; 4]);
        for w in 0..4 {
            let force = (pressure[w] * BRAKE_FORCE_N_PER_BAR).min(adhesion);
            let heat = force * wheel_speed[w] / 3.6;
            temps[w] = approach(temps[w], ambient + heat / cooling, dt, tau)
                .clamp(DISC_TEMP_RANGE.0, DISC_TEMP_RANGE.1);
        }
        self.state.disc_temp_c = Some(temps);

        for w in 0..4 {
            let sensor_dead = usize::from(fault) == w + 1;
            outputs[outputs::WHEEL_SPEED[w]] = if sensor_dead {
                0.0
            } else if noisy == w + 1 {
                (wheel_speed[w] + noise).clamp(0.0, MAX_SPEED_KMH)
            } else {
                wheel_speed[w]
            };
            outputs[outputs::BRAKE_PRESSURE[w]] = pressure[w];
            outputs[outputs::DISC_TEMPERATURE[w]] = temps[w];
        }
        outputs[outputs::IS_ENGAGED] = from_bool(engaged);
        outputs[outputs::IS_ERROR] = from_bool(fault != 0 || implausible);
        Ok(())
    }

    fn command(&mut self, name: &str, value: f64) -> Result<(), tcu_sdk::CommandError> {
        let unsupported = || Err(tcu_sdk::CommandError::Unsupported(name.to_owned()));
        (self.state.faults.command(&faults::FAULTS, name, value)).unwrap_or_else(unsupported)
    }

    fn snapshot(&self) -> Vec<u8> {
        tcu_sdk::snapshot::encode(&self.state)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        let state: AbsState = tcu_sdk::snapshot::decode("abs: unreadable snapshot", bytes)?;
        check_state(&state)?;
        self.state = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcu_sdk::testing::path;

    const DT: f64 = 0.01;
    const WHEELS: [&str; 4] = [
        "Row1.Wheel.Left",
        "Row1.Wheel.Right",
        "Row2.Wheel.Left",
        "Row2.Wheel.Right",
    ];
    const FRICTIONS: [f64; 8] = [0.05, 0.1, 0.25, 0.4, 0.5, 0.7, 0.9, 1.2];
    const SPEEDS: [f64; 9] = [0.0, 2.0, 5.0, 5.5, 10.0, 30.0, 60.0, 100.0, 160.0];

    #[derive(Clone, Copy)]
    struct In {
        pedal: f64,
        speed: f64,
        mu: f64,
        enabled: bool,
        fault: u8,
        ambient: f64,
    }

    impl In {
        fn new(pedal: f64, speed: f64, mu: f64) -> Self {
            Self {
                pedal,
                speed,
                mu,
                enabled: true,
                fault: 0,
                ambient: 20.0,
            }
        }

        fn array(self) -> [f64; inputs::COUNT] {
            let mut i = [0.0; inputs::COUNT];
            i[inputs::BRAKE_PEDAL] = self.pedal;
            i[inputs::SPEED] = self.speed;
            i[inputs::ROAD_FRICTION] = self.mu;
            i[inputs::ABS_ENABLED] = from_bool(self.enabled);
            i[inputs::WHEEL_SENSOR_FAULT] = f64::from(self.fault);
            i[inputs::AIR_TEMPERATURE] = self.ambient;
            i
        }
    }

    fn fresh() -> Abs {
        Abs::create(1).expect("create")
    }

    fn tick(a: &mut Abs, i: In) -> [f64; outputs::COUNT] {
        let mut o = [0.0; outputs::COUNT];
        a.tick(DT, &i.array(), &mut o).expect("tick");
        assert_in_range(&o, i.speed);
        o
    }

    fn run(a: &mut Abs, i: In, n: usize) -> [f64; outputs::COUNT] {
        let mut o = [0.0; outputs::COUNT];
        for _ in 0..n {
            o = tick(a, i);
        }
        o
    }

    /// Catalog ranges of the written signals; the wheel speeds have none in
    /// the catalog, and can be neither negative nor faster than the car.
    fn assert_in_range(o: &[f64; outputs::COUNT], speed: f64) {
        for (i, v) in o.iter().enumerate() {
            assert!(v.is_finite(), "output {i} not finite: {v}");
        }
        for w in 0..4 {
            let s = o[outputs::WHEEL_SPEED[w]];
            assert!(
                (0.0..=speed.max(0.0)).contains(&s),
                "wheel speed {s} at {speed}"
            );
            let p = o[outputs::BRAKE_PRESSURE[w]];
            assert!((0.0..=200.0).contains(&p), "pressure {p}");
            let t = o[outputs::DISC_TEMPERATURE[w]];
            assert!((-50.0..=1000.0).contains(&t), "disc temperature {t}");
        }
        for b in [outputs::IS_ENGAGED, outputs::IS_ERROR] {
            assert!(o[b] == 0.0 || o[b] == 1.0);
        }
    }

    fn wheel_speeds(o: &[f64; outputs::COUNT]) -> [f64; 4] {
        outputs::WHEEL_SPEED.map(|i| o[i])
    }

    #[test]
    fn every_declared_signal_exists_in_the_catalog_with_its_datatype() {
        tcu_sdk::testing::assert_declarations_in_catalog::<Abs>();
    }

    #[test]
    fn index_constants_match_the_declared_paths() {
        let reads = [
            (inputs::BRAKE_PEDAL, "Vehicle.Chassis.Brake.PedalPosition"),
            (inputs::SPEED, "Vehicle.Speed"),
            (inputs::ROAD_FRICTION, "Sim.Environment.RoadFriction"),
            (inputs::ABS_ENABLED, "Vehicle.ADAS.ABS.IsEnabled"),
            (inputs::WHEEL_SENSOR_FAULT, "Sim.Fault.ABS.WheelSensor"),
            (inputs::AIR_TEMPERATURE, "Vehicle.Exterior.AirTemperature"),
            (inputs::NOISY_WHEEL, "Sim.Fault.ABS.NoisyWheel"),
            (inputs::WHEEL_NOISE, "Sim.Fault.ABS.WheelSensorNoise"),
        ];
        assert_eq!(Abs::READS.len(), inputs::COUNT);
        for (i, p) in reads {
            assert_eq!(path(&Abs::READS[i]), p);
        }
        assert_eq!(Abs::WRITES.len(), outputs::COUNT);
        assert_eq!(
            path(&Abs::WRITES[outputs::IS_ENGAGED]),
            "Vehicle.ADAS.ABS.IsEngaged"
        );
        assert_eq!(
            path(&Abs::WRITES[outputs::IS_ERROR]),
            "Vehicle.ADAS.ABS.IsError"
        );
        for (w, wheel) in WHEELS.iter().enumerate() {
            assert_eq!(
                path(&Abs::WRITES[outputs::WHEEL_SPEED[w]]),
                format!("Vehicle.Chassis.Axle.{wheel}.Speed")
            );
            assert_eq!(
                path(&Abs::WRITES[outputs::BRAKE_PRESSURE[w]]),
                format!("Sim.Chassis.Axle.{wheel}.Brake.Pressure")
            );
            assert_eq!(
                path(&Abs::WRITES[outputs::DISC_TEMPERATURE[w]]),
                format!("Sim.Chassis.Axle.{wheel}.Brake.DiscTemperature")
            );
        }
        let mut all: Vec<usize> = outputs::WHEEL_SPEED
            .into_iter()
            .chain([
                outputs::IS_ENGAGED,
                outputs::IS_ERROR,
                outputs::ACTIVE_FAULTS,
            ])
            .chain(outputs::BRAKE_PRESSURE)
            .chain(outputs::DISC_TEMPERATURE)
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..outputs::COUNT).collect::<Vec<_>>());
    }

    #[test]
    fn engages_exactly_when_enabled_healthy_moving_and_braking_beyond_lock() {
        for mu in FRICTIONS {
            for pedal in (0..=100).step_by(5) {
                let pedal = f64::from(pedal);
                for speed in SPEEDS {
                    for enabled in [true, false] {
                        for fault in 0..=4u8 {
                            let mut a = fresh();
                            let i = In {
                                enabled,
                                fault,
                                ..In::new(pedal, speed, mu)
                            };
                            let expect = enabled
                                && fault == 0
                                && speed > ABS_MIN_SPEED_KMH
                                && pedal * PRESSURE_PER_PEDAL_PERCENT > lock_pressure(mu);
                            for _ in 0..30 {
                                let o = tick(&mut a, i);
                                assert_eq!(
                                    o[outputs::IS_ENGAGED],
                                    from_bool(expect),
                                    "mu {mu} pedal {pedal} speed {speed} enabled {enabled} fault {fault}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn hard_braking_on_ice_engages_and_full_braking_on_dry_road_does_not() {
        for speed in [20.0, 50.0, 100.0] {
            let o = run(&mut fresh(), In::new(100.0, speed, 0.1), 10);
            assert_eq!(o[outputs::IS_ENGAGED], 1.0);
            let o = run(&mut fresh(), In::new(100.0, speed, 0.9), 10);
            assert_eq!(o[outputs::IS_ENGAGED], 0.0);
            assert_eq!(wheel_speeds(&o).iter().filter(|&&s| s == 0.0).count(), 0);
        }
    }

    #[test]
    fn never_engaged_with_the_pedal_released_or_the_car_stationary() {
        for mu in FRICTIONS {
            for speed in SPEEDS {
                let o = run(&mut fresh(), In::new(0.0, speed, mu), 20);
                assert_eq!(o[outputs::IS_ENGAGED], 0.0);
                assert_eq!(wheel_speeds(&o), [speed; 4]);
                assert_eq!(outputs::BRAKE_PRESSURE.map(|i| o[i]), [0.0; 4]);
            }
            for pedal in (0..=100).step_by(10) {
                let o = run(&mut fresh(), In::new(f64::from(pedal), 0.0, mu), 20);
                assert_eq!(o[outputs::IS_ENGAGED], 0.0);
                assert_eq!(wheel_speeds(&o), [0.0; 4]);
            }
        }
    }

    #[test]
    fn while_engaged_pressure_stays_below_lock_and_wheels_slip_five_to_twenty_percent() {
        for mu in [0.05, 0.1, 0.25, 0.5] {
            for speed in [6.0, 30.0, 100.0] {
                let mut a = fresh();
                let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                for _ in 0..300 {
                    let o = tick(&mut a, In::new(100.0, speed, mu));
                    assert_eq!(o[outputs::IS_ENGAGED], 1.0);
                    let lock = lock_pressure(mu);
                    for w in 0..4 {
                        let p = o[outputs::BRAKE_PRESSURE[w]];
                        assert!(p >= MODULATION_LOW * lock - 1e-9 && p <= MODULATION_HIGH * lock);
                        lo = lo.min(p / lock);
                        hi = hi.max(p / lock);
                        let slip = 1.0 - o[outputs::WHEEL_SPEED[w]] / speed;
                        assert!((SLIP_LOW - 1e-9..=SLIP_HIGH + 1e-9).contains(&slip));
                    }
                }
                // The modulation really sweeps its band.
                assert!(lo < 0.87 && hi > 0.96, "band {lo}..{hi}");
            }
        }
    }

    #[test]
    fn without_abs_hard_braking_on_low_friction_locks_every_wheel() {
        for mu in [0.05, 0.1, 0.25, 0.4, 0.5, 0.7] {
            for speed in [0.5, 5.0, 20.0, 80.0, 160.0] {
                for pedal in [lock_pressure(mu).ceil() + 1.0, 100.0] {
                    let i = In {
                        enabled: false,
                        ..In::new(pedal, speed, mu)
                    };
                    let o = run(&mut fresh(), i, 20);
                    assert_eq!(o[outputs::IS_ENGAGED], 0.0);
                    assert_eq!(wheel_speeds(&o), [0.0; 4], "mu {mu} speed {speed}");
                    assert_eq!(outputs::BRAKE_PRESSURE.map(|i| o[i]), [pedal; 4]);
                }
            }
        }
    }

    #[test]
    fn a_dead_wheel_sensor_reads_zero_on_that_wheel_only_and_disables_abs() {
        for fault in 1..=4u8 {
            let dead = usize::from(fault) - 1;
            for speed in [10.0, 50.0, 130.0] {
                for mu in FRICTIONS {
                    // Light braking below the lock pressure: no wheel locks.
                    let pedal = (lock_pressure(mu) * 0.5).floor();
                    let i = In {
                        fault,
                        ..In::new(pedal, speed, mu)
                    };
                    let o = run(&mut fresh(), i, 20);
                    assert_eq!(o[outputs::IS_ERROR], 1.0);
                    for (w, s) in wheel_speeds(&o).into_iter().enumerate() {
                        if w == dead {
                            assert_eq!(s, 0.0);
                        } else {
                            assert!(s > 0.9 * speed, "wheel {w} reads {s}");
                        }
                    }
                    // Hard braking now falls back to plain braking.
                    let o = run(&mut fresh(), In { pedal: 100.0, ..i }, 20);
                    assert_eq!(o[outputs::IS_ENGAGED], 0.0);
                    assert_eq!(outputs::BRAKE_PRESSURE.map(|i| o[i]), [100.0; 4]);
                }
            }
        }
        for mu in FRICTIONS {
            for speed in SPEEDS {
                let o = run(&mut fresh(), In::new(30.0, speed, mu), 5);
                assert_eq!(o[outputs::IS_ERROR], 0.0);
            }
        }
    }

    #[test]
    fn applied_pressure_never_exceeds_the_request() {
        for mu in FRICTIONS {
            for speed in SPEEDS {
                for enabled in [true, false] {
                    let mut a = fresh();
                    for step in 0..400u32 {
                        let pedal = f64::from((step * 7) % 101);
                        let o = tick(
                            &mut a,
                            In {
                                enabled,
                                ..In::new(pedal, speed, mu)
                            },
                        );
                        for w in 0..4 {
                            assert!(o[outputs::BRAKE_PRESSURE[w]] <= pedal);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn discs_heat_while_braking_and_cool_back_to_ambient_afterwards() {
        for ambient in [-30.0, 0.0, 20.0, 45.0] {
            for (mu, pedal) in [(0.9, 60.0), (0.1, 100.0), (0.5, 40.0)] {
                let mut a = fresh();
                let base = In {
                    ambient,
                    ..In::new(0.0, 100.0, mu)
                };
                let o = tick(&mut a, base);
                for w in 0..4 {
                    assert!((o[outputs::DISC_TEMPERATURE[w]] - ambient).abs() < 1e-9);
                }
                // Five seconds of braking from 100 km/h (speed held, as on a
                // long descent).
                let mut last = outputs::DISC_TEMPERATURE.map(|i| o[i]);
                for _ in 0..500 {
                    let o = tick(&mut a, In { pedal, ..base });
                    let now = outputs::DISC_TEMPERATURE.map(|i| o[i]);
                    for w in 0..4 {
                        assert!(now[w] > last[w]);
                    }
                    last = now;
                }
                assert!(last.iter().all(|&t| t > ambient + 5.0), "{last:?}");
                // Then drive on without braking, and finally park.
                for speed in [100.0, 0.0] {
                    for _ in 0..1500 {
                        let o = run(&mut a, In { speed, ..base }, 100);
                        let now = outputs::DISC_TEMPERATURE.map(|i| o[i]);
                        for w in 0..4 {
                            assert!(now[w] <= last[w]);
                            assert!(now[w] >= ambient - 1e-9);
                        }
                        last = now;
                    }
                }
                assert!(last.iter().all(|&t| (t - ambient).abs() < 0.1), "{last:?}");
            }
        }
    }

    #[test]
    fn faster_driving_cools_the_discs_faster() {
        let mut prev = f64::INFINITY;
        for speed in [0.0, 30.0, 60.0, 120.0] {
            let mut a = fresh();
            run(&mut a, In::new(50.0, 100.0, 0.9), 1000);
            let o = run(&mut a, In::new(0.0, speed, 0.9), 6000);
            let t = o[outputs::DISC_TEMPERATURE[0]];
            assert!(t < prev);
            prev = t;
        }
    }

    #[test]
    fn a_noisy_wheel_sensor_is_flagged_only_when_implausible() {
        let ticks = |amplitude: f64| {
            let mut a = Abs::create(3).expect("create");
            let mut i = In::new(0.0, 50.0, 0.9).array();
            i[inputs::NOISY_WHEEL] = 2.0;
            i[inputs::WHEEL_NOISE] = amplitude;
            let mut errors = 0;
            let mut off = 0.0_f64;
            for _ in 0..500 {
                let mut o = [0.0; outputs::COUNT];
                a.tick(DT, &i, &mut o).expect("tick");
                errors += usize::from(o[outputs::IS_ERROR] != 0.0);
                off = off.max((o[outputs::WHEEL_SPEED[1]] - 50.0).abs());
                assert_eq!(o[outputs::WHEEL_SPEED[0]], 50.0);
            }
            (errors, off)
        };
        let (quiet_errors, quiet_off) = ticks(5.0);
        assert_eq!(quiet_errors, 0);
        assert!(quiet_off > 1.0 && quiet_off <= 5.0, "{quiet_off}");
        let (loud_errors, _) = ticks(30.0);
        assert!(loud_errors > 100, "{loud_errors}");
        assert_eq!(ticks(30.0), ticks(30.0), "noise is seeded");
    }

    #[test]
    fn bad_inputs_do_not_poison_the_state() {
        let mut a = fresh();
        let bad = [f64::NAN, f64::INFINITY, -f64::INFINITY, -5.0, 1e12];
        for x in bad {
            for y in bad {
                let i = [x, y, x, y, x, y, x, y];
                let mut o = [0.0; outputs::COUNT];
                a.tick(DT, &i, &mut o).expect("tick");
                assert!(o.iter().all(|v| v.is_finite()));
                for w in 0..4 {
                    assert!(o[outputs::BRAKE_PRESSURE[w]] <= 100.0);
                    let t = o[outputs::DISC_TEMPERATURE[w]];
                    assert!((-50.0..=1000.0).contains(&t));
                }
            }
        }
        assert!(
            a.tick(
                f64::INFINITY,
                &In::new(0.0, 0.0, 0.9).array(),
                &mut [0.0; 14]
            )
            .is_err()
        );
        assert!(a.tick(DT, &[0.0; 6], &mut [0.0; 13]).is_err());
    }

    #[test]
    fn snapshot_round_trip_continues_identically() {
        let mut a = fresh();
        run(&mut a, In::new(100.0, 80.0, 0.1), 137);
        let mut b = Abs::create(5).expect("create");
        b.restore(&a.snapshot()).expect("restore");
        for step in 0..3000u32 {
            let i = In {
                fault: u8::try_from((step / 500) % 5).expect("small"),
                ..In::new(f64::from((step * 3) % 101), 60.0, 0.2)
            };
            let (mut oa, mut ob) = ([0.0; outputs::COUNT], [0.0; outputs::COUNT]);
            a.tick(DT, &i.array(), &mut oa).expect("tick");
            b.tick(DT, &i.array(), &mut ob).expect("tick");
            assert_eq!(oa, ob);
        }
    }

    #[test]
    fn restore_refuses_bad_bytes() {
        let mut a = fresh();
        for bad in [
            &b""[..],
            b"[1,2",
            b"{}",
            br#"{"phase":1.5,"disc_temp_c":null}"#,
            br#"{"phase":0.0,"disc_temp_c":[20.0,20.0,20.0,5000.0]}"#,
            br#"{"phase":0.0,"disc_temp_c":[20.0,20.0,20.0]}"#,
        ] {
            let err = a.restore(bad).expect_err("must refuse");
            assert!(err.0.contains("abs"), "{err}");
        }
    }
}
