//! The three-zone climate control and the cabin air it conditions.

use serde::{Deserialize, Serialize};
use std::ffi::CStr;
use tcu_sdk::abi::{
    TCU_TYPE_BOOLEAN, TCU_TYPE_FLOAT, TCU_TYPE_UINT8, TCU_TYPE_UINT32, TcuSignalDecl,
};
#[path = "faults.rs"]
pub mod faults;
#[path = "params.rs"]
pub mod params;
pub use params::*;
use tcu_sdk::physics::{approach, as_bool, finite_or};
use tcu_sdk::{CommandError, PluginError, Subsystem};

/// Number of climate zones.
pub const ZONE_COUNT: usize = 3;
/// Zone names in the order of the declared signals.
pub const ZONES: [&str; ZONE_COUNT] = ["Row1.Driver", "Row1.Passenger", "Row2.Driver"];

/// Longest sub-step: the neighbouring zones are frozen for a sub-step, and
/// the controller may leave its proportional band within one.
const MAX_SUBSTEP_S: f64 = 1.0;
/// Caps the work of one absurdly long tick; the exact lag keeps even longer
/// sub-steps bounded.
const MAX_SUBSTEPS: f64 = 3600.0;
/// Ambient assumed until the first finite reading.
const DEFAULT_AMBIENT_C: f64 = 20.0;
/// Temperatures this close to 0 C are flushed to 0: a cabin decaying toward
/// an ambient of exactly 0 C would otherwise pass through denormal floats,
/// which are 20x slower (`docs/ARCHITECTURE.md`, measured limits).
const FLUSH_C: f64 = 1e-12;

/// Input slots, in the order of [`Hvac::READS`].
pub mod inputs {
    /// `Vehicle.Exterior.AirTemperature`, Celsius.
    pub const AMBIENT: usize = 0;
    /// `Vehicle.Cabin.HVAC.Station.<zone>.Temperature` (setpoint), per zone.
    pub const SETPOINT: [usize; 3] = [1, 2, 3];
    /// `Vehicle.Cabin.HVAC.Station.<zone>.FanSpeed`, percent, per zone.
    pub const FAN_SPEED: [usize; 3] = [4, 5, 6];
    /// `Vehicle.Cabin.HVAC.IsAirConditioningActive`.
    pub const AC_ACTIVE: usize = 7;
    /// `Vehicle.Speed`, km/h.
    pub const SPEED: usize = 8;
}

/// Output slots, in the order of [`Hvac::WRITES`].
pub mod outputs {
    /// `Sim.Cabin.HVAC.Station.<zone>.AirTemperature`, Celsius, per zone.
    pub const ZONE_AIR_TEMPERATURE: [usize; 3] = [0, 1, 2];
    /// `Vehicle.Cabin.HVAC.AmbientAirTemperature` (cabin mean), Celsius.
    pub const CABIN_TEMPERATURE: usize = 3;
    /// `Sim.Cabin.HVAC.Power`, W.
    pub const POWER: usize = 4;
    /// `Sim.Diagnostics.HVAC.ActiveFaults`: the DTC mask.
    pub const ACTIVE_FAULTS: usize = 5;
}

/// Everything that survives a hot swap. Every field is required, so that
/// another plugin's state (or `{}`) is refused; fields added by later
/// versions must carry `#[serde(default)]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct State {
    /// Whether the zones have been set from a first ambient reading.
    initialised: bool,
    /// Air temperature per zone, Celsius.
    zones_c: [f64; ZONE_COUNT],
    /// Last finite ambient reading, Celsius.
    ambient_c: f64,
    /// Active faults (none in snapshots that predate them).
    #[serde(default)]
    faults: tcu_sdk::dtc::ActiveFaults,
}

/// What the controller is asked to do during one tick.
#[derive(Debug, Clone, Copy)]
struct Demand {
    /// Clamped setpoint per zone, or `None` when the zone is not conditioned.
    setpoint_c: [Option<f64>; ZONE_COUNT],
    /// Fan speed per zone, 0..=1.
    fan: [f64; ZONE_COUNT],
    ac_active: bool,
}

/// The climate control of one vehicle.
#[derive(Debug, Clone)]
pub struct Hvac {
    state: State,
}

/// The controller of one zone as an affine law `Q = q0 - gain * T`, valid
/// around `temp_c`: inside the proportional band `gain` is the controller
/// gain, when saturated or off it is 0.
fn controller(temp_c: f64, setpoint_c: Option<f64>, fan: f64, ac_active: bool) -> (f64, f64) {
    let Some(setpoint) = setpoint_c else {
        return (0.0, 0.0);
    };
    if fan <= 0.0 {
        return (0.0, 0.0);
    }
    let limit = MAX_HEAT_W * fan;
    let q = GAIN_W_PER_K * (setpoint - temp_c);
    if q < 0.0 && !ac_active {
        (0.0, 0.0)
    } else if q > limit {
        (0.0, limit)
    } else if q < -limit {
        (0.0, -limit)
    } else {
        (GAIN_W_PER_K, GAIN_W_PER_K * setpoint)
    }
}

/// Thermal power the controller sends into a zone, W (negative: cooling).
fn zone_heat(temp_c: f64, setpoint_c: Option<f64>, fan: f64, ac_active: bool) -> f64 {
    let (gain, q0) = controller(temp_c, setpoint_c, fan, ac_active);
    q0 - gain * temp_c
}

/// Electrical power for the thermal powers `q` and the fan speeds at
/// `ambient_c`, W.
fn electrical_power(q: &[f64; ZONE_COUNT], fan: &[f64; ZONE_COUNT], ambient_c: f64) -> f64 {
    let heating = cop_heating(ambient_c);
    q.iter()
        .zip(fan)
        .map(|(&q, &fan)| {
            let cop = if q >= 0.0 { heating } else { COP_COOLING };
            q.abs() / cop + FAN_MAX_POWER_W * fan * fan * fan
        })
        .sum()
}

impl Hvac {
    /// Air temperature of zone `zone` (index into [`ZONES`]), Celsius.
    pub fn zone_temperature(&self, zone: usize) -> f64 {
        self.state.zones_c.get(zone).copied().unwrap_or(f64::NAN)
    }

    fn heat(&self, demand: &Demand) -> [f64; ZONE_COUNT] {
        std::array::from_fn(|i| {
            zone_heat(
                self.state.zones_c[i],
                demand.setpoint_c[i],
                demand.fan[i],
                demand.ac_active,
            )
        })
    }

    /// Advances the zones by `h` seconds; returns the electrical power at the
    /// start of the interval.
    fn substep(&mut self, h: f64, demand: &Demand, ambient_c: f64, ua: f64) -> f64 {
        let q = self.heat(demand);
        let old = self.state.zones_c;
        for (i, zone) in self.state.zones_c.iter_mut().enumerate() {
            // The controller is part of the lag (Q = q0 - gain T), so the
            // step relaxes toward the closed-loop equilibrium, is stable for
            // any h, and the snap in `approach` lands on the true fixed
            // point. The neighbours are frozen for the sub-step.
            let (gain, q0) = controller(
                old[i],
                demand.setpoint_c[i],
                demand.fan[i],
                demand.ac_active,
            );
            let others = old[(i + 1) % ZONE_COUNT] + old[(i + 2) % ZONE_COUNT];
            let conductance = ua + 2.0 * MIXING_W_PER_K + gain;
            let balance = (q0 + ua * ambient_c + MIXING_W_PER_K * others) / conductance;
            let tau = ZONE_HEAT_CAPACITY_J_PER_K / conductance;
            let next = approach(old[i], balance, h, tau);
            *zone = if next.abs() < FLUSH_C { 0.0 } else { next };
        }
        electrical_power(&q, &demand.fan, ambient_c)
    }
}

impl Subsystem for Hvac {
    const NAME: &'static CStr = c"hvac";
    const VERSION: &'static CStr = c"1.0.0";
    const READS: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(c"Vehicle.Exterior.AirTemperature", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.HVAC.Station.Row1.Passenger.Temperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.HVAC.Station.Row2.Driver.Temperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed",
            TCU_TYPE_UINT8,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.HVAC.Station.Row1.Passenger.FanSpeed",
            TCU_TYPE_UINT8,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.HVAC.Station.Row2.Driver.FanSpeed",
            TCU_TYPE_UINT8,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Cabin.HVAC.IsAirConditioningActive",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(c"Vehicle.Speed", TCU_TYPE_FLOAT),
    ];
    const WRITES: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(
            c"Sim.Cabin.HVAC.Station.Row1.Driver.AirTemperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Cabin.HVAC.Station.Row1.Passenger.AirTemperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Sim.Cabin.HVAC.Station.Row2.Driver.AirTemperature",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(c"Vehicle.Cabin.HVAC.AmbientAirTemperature", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Cabin.HVAC.Power", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Diagnostics.HVAC.ActiveFaults", TCU_TYPE_UINT32),
    ];

    fn create(_seed: u64) -> Result<Self, PluginError> {
        Ok(Self {
            state: State {
                initialised: false,
                zones_c: [DEFAULT_AMBIENT_C; ZONE_COUNT],
                ambient_c: DEFAULT_AMBIENT_C,
                faults: Default::default(),
            },
        })
    }

    fn tick(&mut self, dt: f64, inputs: &[f64], outputs: &mut [f64]) -> Result<(), PluginError> {
        tcu_sdk::check_tick::<Self>(dt, inputs, outputs)?;

        let ambient =
            finite_or(inputs[inputs::AMBIENT], self.state.ambient_c).clamp(TEMP_MIN_C, TEMP_MAX_C);
        self.state.ambient_c = ambient;
        if !self.state.initialised {
            self.state.zones_c = [ambient; ZONE_COUNT];
            self.state.initialised = true;
        }
        let demand = Demand {
            setpoint_c: std::array::from_fn(|i| {
                let v = inputs[inputs::SETPOINT[i]];
                v.is_finite()
                    .then(|| v.clamp(SETPOINT_MIN_C, SETPOINT_MAX_C))
            }),
            fan: std::array::from_fn(|i| {
                finite_or(inputs[inputs::FAN_SPEED[i]], 0.0)
                    .round()
                    .clamp(0.0, 100.0)
                    / 100.0
            }),
            ac_active: as_bool(finite_or(inputs[inputs::AC_ACTIVE], 0.0))
                && faults::compressor_available(self.state.faults),
        };
        let speed = finite_or(inputs[inputs::SPEED], 0.0).clamp(0.0, 400.0);
        let ua = UA_STANDSTILL_W_PER_K + UA_PER_KMH_W_PER_K * speed;

        let power = if dt > 0.0 {
            let n = (dt / MAX_SUBSTEP_S).ceil().clamp(1.0, MAX_SUBSTEPS);
            let h = dt / n;
            let mut sum = 0.0;
            for _ in 0..n as u32 {
                sum += self.substep(h, &demand, ambient, ua);
            }
            sum / n
        } else {
            electrical_power(&self.heat(&demand), &demand.fan, ambient)
        };

        let mut total = 0.0;
        for (i, zone) in self.state.zones_c.iter().enumerate() {
            outputs[outputs::ZONE_AIR_TEMPERATURE[i]] = zone.clamp(TEMP_MIN_C, TEMP_MAX_C);
            total += zone;
        }
        outputs[outputs::CABIN_TEMPERATURE] =
            (total / ZONE_COUNT as f64).clamp(TEMP_MIN_C, TEMP_MAX_C);
        outputs[outputs::POWER] = power.clamp(0.0, POWER_MAX_W);
        faults::write(self.state.faults, outputs);
        Ok(())
    }

    fn command(&mut self, name: &str, value: f64) -> Result<(), CommandError> {
        self.state.faults.only_command(&faults::FAULTS, name, value)
    }

    fn snapshot(&self) -> Vec<u8> {
        tcu_sdk::snapshot::encode(&self.state)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        let in_range = |t: f64| (TEMP_MIN_C..=TEMP_MAX_C).contains(&t);
        let check = |state: &State| {
            let ok = state.zones_c.iter().all(|&t| in_range(t)) && in_range(state.ambient_c);
            tcu_sdk::snapshot::require(ok, "hvac: invalid snapshot: temperature out of range")
        };
        tcu_sdk::snapshot::restore(&mut self.state, "hvac: invalid snapshot", bytes, check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcu_sdk::CommandError;
    use tcu_sdk::testing::{self, path};

    /// Long runs use 0.1 s ticks (an hour is 36 000 ticks); the model's
    /// result does not depend on it (see the large-step test).
    const DT: f64 = 0.1;
    const HOUR: f64 = 3600.0;

    /// Allowed range of each output: the catalog's, or a physical one where
    /// the catalog has none (the cabin mean).
    fn output_range(slot: usize) -> (f64, f64) {
        match slot {
            outputs::POWER => (0.0, POWER_MAX_W),
            _ => (TEMP_MIN_C, TEMP_MAX_C),
        }
    }

    fn assert_outputs_valid(out: &[f64; 6]) {
        testing::assert_outputs_in(out, output_range);
    }

    fn cabin_inputs(
        ambient: f64,
        setpoints: [f64; 3],
        fans: [f64; 3],
        ac: bool,
        speed: f64,
    ) -> [f64; 9] {
        let mut inp = [0.0; 9];
        inp[inputs::AMBIENT] = ambient;
        for z in 0..ZONE_COUNT {
            inp[inputs::SETPOINT[z]] = setpoints[z];
            inp[inputs::FAN_SPEED[z]] = fans[z];
        }
        inp[inputs::AC_ACTIVE] = if ac { 1.0 } else { 0.0 };
        inp[inputs::SPEED] = speed;
        inp
    }

    fn zones(out: &[f64; 6]) -> [f64; 3] {
        std::array::from_fn(|z| out[outputs::ZONE_AIR_TEMPERATURE[z]])
    }

    /// Runs `seconds` of constant inputs, calling `each` after every tick
    /// with the time at the end of the tick.
    fn run(
        hvac: &mut Hvac,
        dt: f64,
        seconds: f64,
        inp: &[f64; 9],
        out: &mut [f64; 6],
        mut each: impl FnMut(f64, &[f64; 6]),
    ) {
        let ticks = (seconds / dt).round() as usize;
        for k in 0..ticks {
            hvac.tick(dt, inp, out).expect("tick");
            assert_outputs_valid(out);
            each((k + 1) as f64 * dt, out);
        }
    }

    fn ua(speed: f64) -> f64 {
        UA_STANDSTILL_W_PER_K + UA_PER_KMH_W_PER_K * speed
    }

    #[test]
    fn index_constants_match_the_declared_paths_and_types() {
        assert_eq!(Hvac::READS.len(), 9);
        assert_eq!(Hvac::WRITES.len(), 6);
        let read = |i: usize| (path(&Hvac::READS[i]), Hvac::READS[i].datatype);
        let write = |i: usize| (path(&Hvac::WRITES[i]), Hvac::WRITES[i].datatype);
        assert_eq!(
            read(inputs::AMBIENT),
            ("Vehicle.Exterior.AirTemperature", TCU_TYPE_FLOAT)
        );
        for (z, name) in ZONES.iter().enumerate() {
            let station = format!("Vehicle.Cabin.HVAC.Station.{name}");
            assert_eq!(
                read(inputs::SETPOINT[z]),
                (format!("{station}.Temperature").as_str(), TCU_TYPE_FLOAT)
            );
            assert_eq!(
                read(inputs::FAN_SPEED[z]),
                (format!("{station}.FanSpeed").as_str(), TCU_TYPE_UINT8)
            );
            assert_eq!(
                write(outputs::ZONE_AIR_TEMPERATURE[z]),
                (
                    format!("Sim.Cabin.HVAC.Station.{name}.AirTemperature").as_str(),
                    TCU_TYPE_FLOAT
                )
            );
        }
        assert_eq!(
            read(inputs::AC_ACTIVE),
            (
                "Vehicle.Cabin.HVAC.IsAirConditioningActive",
                TCU_TYPE_BOOLEAN
            )
        );
        assert_eq!(read(inputs::SPEED), ("Vehicle.Speed", TCU_TYPE_FLOAT));
        assert_eq!(
            write(outputs::CABIN_TEMPERATURE),
            ("Vehicle.Cabin.HVAC.AmbientAirTemperature", TCU_TYPE_FLOAT)
        );
        assert_eq!(
            write(outputs::POWER),
            ("Sim.Cabin.HVAC.Power", TCU_TYPE_FLOAT)
        );
    }

    #[test]
    fn every_declared_signal_exists_in_the_catalog_with_its_datatype_and_range() {
        testing::assert_declarations_in_catalog::<Hvac>();
        for (slot, decl) in Hvac::WRITES.iter().enumerate() {
            let entry = testing::catalog_entry(path(decl)).expect("in catalog");
            if let (Some(min), Some(max)) = (entry.min, entry.max) {
                assert_eq!((min, max), output_range(slot), "{}", path(decl));
            }
        }
    }

    #[test]
    fn zones_converge_within_one_degree_of_every_reachable_setpoint_and_monotonically() {
        let mut checked = 0;
        for ambient_step in 0..=12 {
            let ambient = -20.0 + 5.0 * f64::from(ambient_step);
            for sp_step in 0..=6 {
                let setpoint = 16.0 + 2.0 * f64::from(sp_step);
                for (fan, speed) in [(100.0, 0.0), (100.0, 100.0), (50.0, 30.0)] {
                    // Reachable with a margin: right at the capacity limit
                    // the zone only creeps up on the setpoint.
                    if ua(speed) * (setpoint - ambient).abs() > 0.8 * MAX_HEAT_W * fan / 100.0 {
                        continue;
                    }
                    checked += 1;
                    let mut hvac = Hvac::create(0).expect("create");
                    let mut out = [0.0; 6];
                    let inp = cabin_inputs(ambient, [setpoint; 3], [fan; 3], true, speed);
                    let mut last_err = [f64::INFINITY; 3];
                    run(&mut hvac, DT, HOUR, &inp, &mut out, |t, out| {
                        if t < 60.0 {
                            return;
                        }
                        for (z, temp) in zones(out).iter().enumerate() {
                            let err = (setpoint - temp).abs();
                            assert!(
                                err <= last_err[z] + 1e-9,
                                "error grew at {t} s: ambient {ambient} setpoint {setpoint}"
                            );
                            last_err[z] = err;
                        }
                    });
                    for temp in zones(&out) {
                        assert!(
                            (temp - setpoint).abs() < 1.0,
                            "ambient {ambient} setpoint {setpoint} fan {fan} speed {speed}: {temp}"
                        );
                    }
                }
            }
        }
        assert!(checked > 200, "only {checked} reachable cases");
    }

    #[test]
    fn zones_with_different_setpoints_each_reach_their_own() {
        for ambient in [-20.0, -5.0, 10.0, 25.0, 40.0] {
            for setpoints in [[16.0, 22.0, 28.0], [28.0, 20.0, 16.0], [21.0, 21.0, 25.0]] {
                let mut hvac = Hvac::create(0).expect("create");
                let mut out = [0.0; 6];
                let inp = cabin_inputs(ambient, setpoints, [100.0; 3], true, 50.0);
                run(&mut hvac, DT, HOUR, &inp, &mut out, |_, _| {});
                for (temp, sp) in zones(&out).iter().zip(setpoints) {
                    assert!((temp - sp).abs() < 1.0, "ambient {ambient}: {temp} vs {sp}");
                }
                let mean = zones(&out).iter().sum::<f64>() / 3.0;
                assert!((out[outputs::CABIN_TEMPERATURE] - mean).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn with_fans_off_the_cabin_drifts_toward_ambient_over_tens_of_minutes() {
        for start in [-20.0, 0.0, 20.0, 40.0] {
            for ambient in [-20.0, 0.0, 20.0, 40.0] {
                if start == ambient {
                    continue;
                }
                for ac in [false, true] {
                    let mut hvac = Hvac::create(0).expect("create");
                    let mut out = [0.0; 6];
                    // One tick at the start temperature parks the car there.
                    let parked = cabin_inputs(start, [22.0; 3], [0.0; 3], ac, 0.0);
                    hvac.tick(DT, &parked, &mut out).expect("tick");
                    let inp = cabin_inputs(ambient, [16.0, 22.0, 30.0], [0.0; 3], ac, 0.0);
                    let gap0 = (start - ambient).abs();
                    let mut last_gap = gap0;
                    let mut gap_at_10_min = 0.0;
                    run(&mut hvac, DT, 3.0 * HOUR, &inp, &mut out, |t, out| {
                        assert_eq!(out[outputs::POWER], 0.0);
                        let gap = (out[outputs::CABIN_TEMPERATURE] - ambient).abs();
                        assert!(gap <= last_gap + 1e-12);
                        last_gap = gap;
                        if (t - 600.0).abs() < DT / 2.0 {
                            gap_at_10_min = gap;
                        }
                    });
                    let tau_min = -10.0 / (gap_at_10_min / gap0).ln();
                    assert!((15.0..=60.0).contains(&tau_min), "tau {tau_min} min");
                    assert!(last_gap < 0.05 * gap0);
                }
            }
        }
    }

    #[test]
    fn speed_makes_the_cabin_lose_heat_faster() {
        let mut gaps = Vec::new();
        for speed in [0.0, 50.0, 100.0, 150.0] {
            let mut hvac = Hvac::create(0).expect("create");
            let mut out = [0.0; 6];
            hvac.tick(
                DT,
                &cabin_inputs(20.0, [22.0; 3], [0.0; 3], true, 0.0),
                &mut out,
            )
            .expect("tick");
            let inp = cabin_inputs(-10.0, [22.0; 3], [0.0; 3], true, speed);
            run(&mut hvac, DT, 900.0, &inp, &mut out, |_, _| {});
            gaps.push(out[outputs::CABIN_TEMPERATURE] + 10.0);
        }
        assert!(gaps.windows(2).all(|w| w[1] < w[0]), "{gaps:?}");
    }

    #[test]
    fn without_ac_the_cabin_is_never_cooled_below_ambient() {
        for ambient_step in 0..=12 {
            let ambient = -20.0 + 5.0 * f64::from(ambient_step);
            for setpoint in [10.0, 16.0, 20.0, 24.0, 30.0] {
                for fan in [30.0, 100.0] {
                    let mut hvac = Hvac::create(0).expect("create");
                    let mut out = [0.0; 6];
                    let inp = cabin_inputs(ambient, [setpoint; 3], [fan; 3], false, 0.0);
                    let fan_only = 3.0 * FAN_MAX_POWER_W * (fan / 100.0_f64).powi(3);
                    run(&mut hvac, DT, 1800.0, &inp, &mut out, |_, out| {
                        for temp in zones(out) {
                            assert!(temp >= ambient - 1e-9, "{temp} below {ambient}");
                        }
                        if setpoint.max(SETPOINT_MIN_C) <= ambient {
                            // Nothing to heat, and cooling is off: fans only.
                            assert!((out[outputs::POWER] - fan_only).abs() < 1e-9);
                        }
                    });
                }
            }
        }
    }

    /// Steady and mean power of one hour of conditioning with all fans at
    /// 100 %, A/C on.
    fn hour_of_power(ambient: f64, setpoint: f64) -> (f64, f64) {
        let mut hvac = Hvac::create(0).expect("create");
        let mut out = [0.0; 6];
        let inp = cabin_inputs(ambient, [setpoint; 3], [100.0; 3], true, 0.0);
        let mut sum = 0.0;
        run(&mut hvac, DT, HOUR, &inp, &mut out, |_, out| {
            assert!(out[outputs::POWER] > 0.0);
            sum += out[outputs::POWER];
        });
        (out[outputs::POWER], sum * DT / HOUR)
    }

    #[test]
    fn power_grows_with_the_lift_between_setpoint_and_ambient() {
        // Heating toward 22 C from ever colder, cooling from ever hotter.
        let heating: Vec<(f64, f64)> = [21.0, 15.0, 10.0, 5.0, 0.0, -10.0, -20.0]
            .iter()
            .map(|&a| hour_of_power(a, 22.0))
            .collect();
        let cooling: Vec<(f64, f64)> = [23.0, 28.0, 32.0, 36.0, 40.0]
            .iter()
            .map(|&a| hour_of_power(a, 22.0))
            .collect();
        for series in [&heating, &cooling] {
            assert!(series.windows(2).all(|w| w[1].0 > w[0].0), "{series:?}");
            assert!(series.windows(2).all(|w| w[1].1 > w[0].1), "{series:?}");
        }
        // Holding 22 C at -20 C costs roughly UA * 42 K / COP plus the fans.
        let expected =
            3.0 * UA_STANDSTILL_W_PER_K * 42.0 / cop_heating(-20.0) + 3.0 * FAN_MAX_POWER_W;
        let steady = heating.last().expect("series").0;
        assert!(
            (steady - expected).abs() < 0.05 * expected,
            "{steady} vs {expected}"
        );
    }

    #[test]
    fn the_same_heat_costs_more_electrical_power_the_colder_the_air_the_heat_pump_draws_from() {
        // A cold cabin at full fan: every zone saturated at MAX_HEAT_W, so
        // the thermal power is the same and only the COP differs.
        let mut last = 0.0;
        for ambient in [15.0, 5.0, -5.0, -15.0, -20.0, -25.0] {
            let mut hvac = Hvac::create(0).expect("create");
            let mut out = [0.0; 6];
            let inp = cabin_inputs(ambient, [30.0; 3], [100.0; 3], true, 0.0);
            hvac.tick(0.0, &inp, &mut out).expect("tick");
            let heat_w = 3.0 * MAX_HEAT_W;
            let cop = heat_w / (out[outputs::POWER] - 3.0 * FAN_MAX_POWER_W);
            assert!(
                (cop - cop_heating(ambient)).abs() < 1e-9,
                "{ambient}: {cop}"
            );
            assert!(
                out[outputs::POWER] > last,
                "{ambient}: {}",
                out[outputs::POWER]
            );
            last = out[outputs::POWER];
        }
        // Below the pump's limit the PTC heater turns power into heat 1:1.
        assert!((last - (3.0 * MAX_HEAT_W + 3.0 * FAN_MAX_POWER_W)).abs() < 1e-9);
    }

    #[test]
    fn power_is_zero_with_all_fans_off_and_positive_with_any_fan_on() {
        for ambient in [-20.0, 5.0, 22.0, 40.0] {
            for fans in [
                [0.0, 0.0, 0.0],
                [1.0, 0.0, 0.0],
                [0.0, 0.0, 60.0],
                [100.0; 3],
            ] {
                let mut hvac = Hvac::create(0).expect("create");
                let mut out = [0.0; 6];
                let inp = cabin_inputs(ambient, [22.0; 3], fans, true, 0.0);
                let any_on = fans.iter().any(|&f| f > 0.0);
                run(&mut hvac, 0.01, 60.0, &inp, &mut out, |_, out| {
                    assert_eq!(out[outputs::POWER] > 0.0, any_on, "fans {fans:?}");
                });
            }
        }
    }

    #[test]
    fn warming_from_minus_ten_to_twenty_one_takes_five_to_thirty_minutes() {
        for dt in [0.01, 0.1] {
            let mut hvac = Hvac::create(0).expect("create");
            let mut out = [0.0; 6];
            let inp = cabin_inputs(-10.0, [21.0; 3], [100.0; 3], true, 0.0);
            let target = -10.0 + 0.9 * 31.0;
            let mut t90 = None;
            let mut t_within_1 = None;
            run(&mut hvac, dt, 2400.0, &inp, &mut out, |t, out| {
                let cabin = out[outputs::CABIN_TEMPERATURE];
                if cabin >= target {
                    t90.get_or_insert(t);
                }
                if cabin >= 20.0 {
                    t_within_1.get_or_insert(t);
                }
            });
            let t90 = t90.expect("never reached 90 %");
            assert!((300.0..=1800.0).contains(&t90), "90 % after {t90} s");
            let t1 = t_within_1.expect("never within 1 C");
            assert!((600.0..=1200.0).contains(&t1), "within 1 C after {t1} s");
        }
    }

    #[test]
    fn setpoints_are_clamped_to_sixteen_to_thirty_and_garbage_requests_nothing() {
        for (request, expected) in [(5.0, 16.0), (-40.0, 16.0), (50.0, 30.0), (1e9, 30.0)] {
            let mut hvac = Hvac::create(0).expect("create");
            let mut out = [0.0; 6];
            let inp = cabin_inputs(10.0, [request; 3], [100.0; 3], true, 0.0);
            run(&mut hvac, DT, HOUR, &inp, &mut out, |_, _| {});
            for temp in zones(&out) {
                assert!((temp - expected).abs() < 1.0, "{request}: {temp}");
            }
        }
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut hvac = Hvac::create(0).expect("create");
            let mut out = [0.0; 6];
            let inp = cabin_inputs(10.0, [bad; 3], [100.0; 3], true, 0.0);
            run(&mut hvac, DT, 600.0, &inp, &mut out, |_, out| {
                assert_eq!(zones(out), [10.0; 3]);
                assert!((out[outputs::POWER] - 3.0 * FAN_MAX_POWER_W).abs() < 1e-9);
            });
        }
    }

    #[test]
    fn the_first_tick_parks_every_zone_at_the_ambient_temperature() {
        for ambient in [-40.0, -7.5, 0.0, 18.0, 55.0] {
            let mut hvac = Hvac::create(0).expect("create");
            let mut out = [0.0; 6];
            let inp = cabin_inputs(ambient, [22.0; 3], [0.0; 3], false, 0.0);
            hvac.tick(0.01, &inp, &mut out).expect("tick");
            assert_eq!(zones(&out), [ambient; 3]);
            assert_eq!(out[outputs::CABIN_TEMPERATURE], ambient);
            // A later ambient change does not re-park the cabin.
            let warmer = cabin_inputs(ambient + 10.0, [22.0; 3], [0.0; 3], false, 0.0);
            hvac.tick(0.01, &warmer, &mut out).expect("tick");
            assert!(
                zones(&out)
                    .iter()
                    .all(|&t| t > ambient && t < ambient + 0.01)
            );
        }
    }

    #[test]
    fn long_ticks_stay_bounded_and_agree_with_short_ones() {
        let reference = {
            let mut hvac = Hvac::create(0).expect("create");
            let mut out = [0.0; 6];
            let inp = cabin_inputs(-10.0, [21.0, 24.0, 18.0], [100.0, 60.0, 30.0], true, 40.0);
            run(&mut hvac, 0.01, 1200.0, &inp, &mut out, |_, _| {});
            zones(&out)
        };
        for dt in [0.5, 1.0, 10.0, 60.0, 600.0] {
            let mut hvac = Hvac::create(0).expect("create");
            let mut out = [0.0; 6];
            let inp = cabin_inputs(-10.0, [21.0, 24.0, 18.0], [100.0, 60.0, 30.0], true, 40.0);
            run(&mut hvac, dt, 1200.0, &inp, &mut out, |_, _| {});
            for (a, b) in zones(&out).iter().zip(reference) {
                assert!((a - b).abs() < 0.2, "dt {dt}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn non_finite_inputs_keep_every_output_finite_and_in_range() {
        let mut hvac = Hvac::create(0).expect("create");
        let mut out = [0.0; 6];
        let good = cabin_inputs(-5.0, [22.0; 3], [80.0; 3], true, 60.0);
        run(&mut hvac, 0.01, 10.0, &good, &mut out, |_, _| {});
        for slot in 0..9 {
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1e300, 1e300] {
                let mut inp = good;
                inp[slot] = bad;
                run(&mut hvac, 0.01, 1.0, &inp, &mut out, |_, _| {});
            }
        }
        // A NaN ambient reuses the last good reading.
        let mut inp = cabin_inputs(f64::NAN, [22.0; 3], [0.0; 3], false, 0.0);
        let mut fresh = Hvac::create(0).expect("create");
        fresh.tick(0.01, &inp, &mut out).expect("tick");
        assert_eq!(zones(&out), [DEFAULT_AMBIENT_C; 3]);
        inp[inputs::AMBIENT] = 5.0;
        fresh.tick(0.01, &inp, &mut out).expect("tick");
        inp[inputs::AMBIENT] = f64::NAN;
        let before = zones(&out);
        fresh.tick(600.0, &inp, &mut out).expect("tick");
        assert!(
            zones(&out)
                .iter()
                .zip(before)
                .all(|(a, b)| *a < b && *a > 5.0)
        );
    }

    #[test]
    fn every_seed_behaves_identically() {
        let inp = cabin_inputs(3.0, [21.0, 23.0, 19.0], [70.0; 3], true, 80.0);
        let mut reference = Hvac::create(0).expect("create");
        let mut ref_out = [0.0; 6];
        run(&mut reference, 0.01, 100.0, &inp, &mut ref_out, |_, _| {});
        for seed in [1, 42, u64::MAX, 0xDEAD_BEEF] {
            let mut hvac = Hvac::create(seed).expect("create");
            let mut out = [0.0; 6];
            run(&mut hvac, 0.01, 100.0, &inp, &mut out, |_, _| {});
            assert_eq!(out, ref_out);
            assert_eq!(hvac.snapshot(), reference.snapshot());
        }
    }

    #[test]
    fn snapshot_restore_mid_warm_up_continues_identically() {
        for cut in [0.0_f64, 0.01, 30.0, 300.0] {
            let schedule = |t: f64| {
                let fan = if t < 200.0 { 100.0 } else { 40.0 };
                cabin_inputs(
                    -8.0 + t / 100.0,
                    [22.0, 20.0, 25.0],
                    [fan; 3],
                    t > 100.0,
                    t / 10.0,
                )
            };
            let mut a = Hvac::create(5).expect("create");
            let mut oa = [0.0; 6];
            let dt = 0.01;
            let cut_ticks = (cut / dt).round() as usize;
            for k in 0..cut_ticks {
                a.tick(dt, &schedule(k as f64 * dt), &mut oa).expect("tick");
            }
            let mut b = Hvac::create(6).expect("create");
            b.restore(&a.snapshot()).expect("restore");
            let mut ob = oa;
            for k in cut_ticks..cut_ticks + 50_000 {
                let inp = schedule(k as f64 * dt);
                a.tick(dt, &inp, &mut oa).expect("tick");
                b.tick(dt, &inp, &mut ob).expect("tick");
                assert_eq!(oa, ob, "diverged at tick {k} after a cut at {cut} s");
            }
            assert_eq!(a.snapshot(), b.snapshot());
        }
    }

    #[test]
    fn restore_rejects_bad_bytes_with_a_message() {
        let mut hvac = Hvac::create(0).expect("create");
        let bad_snapshots: [&[u8]; 6] = [
            b"",
            b"not json",
            b"{}",
            b"[1,2,3]",
            br#"{"initialised":true,"zones_c":[20.0,20.0],"ambient_c":20.0}"#,
            br#"{"initialised":true,"zones_c":[20.0,500.0,20.0],"ambient_c":20.0}"#,
        ];
        for bad in bad_snapshots {
            let err = hvac.restore(bad).expect_err("bad snapshot accepted");
            assert!(err.0.contains("hvac: invalid snapshot"), "{err}");
        }
        assert_eq!(hvac.snapshot(), Hvac::create(0).expect("create").snapshot());
    }

    #[test]
    fn invalid_calls_are_errors_not_panics_and_no_command_is_known() {
        let mut hvac = Hvac::create(0).expect("create");
        let mut out = [0.0; 6];
        let inp = cabin_inputs(10.0, [22.0; 3], [50.0; 3], true, 0.0);
        for dt in [f64::NAN, -0.01, f64::INFINITY] {
            assert!(hvac.tick(dt, &inp, &mut out).is_err());
        }
        assert!(hvac.tick(0.01, &inp[..8], &mut out).is_err());
        assert!(hvac.tick(0.01, &inp, &mut out[..4]).is_err());
        hvac.tick(0.0, &inp, &mut out).expect("a zero step is fine");
        assert_outputs_valid(&out);
        assert!(out[outputs::POWER] > 0.0);
        assert_eq!(
            hvac.command("reset", 0.0),
            Err(CommandError::Unsupported("reset".to_owned()))
        );
    }
}
