// Self-contained on purpose: a benchmark includes this file with
// `#[path = ...] mod x;`, so it may only use `tcu_sdk` (with its
// `snapshot` feature), `serde` and `std` (see the crate docs for the model).

use serde::{Deserialize, Serialize};
use std::ffi::CStr;
use tcu_sdk::abi::{TCU_TYPE_BOOLEAN, TCU_TYPE_FLOAT, TCU_TYPE_UINT32, TcuSignalDecl};
use tcu_sdk::physics::{approach, finite_or};
use tcu_sdk::{CommandError, PluginError, Subsystem};

#[path = "contactor.rs"]
pub mod contactor;
use contactor::Contactor;
#[path = "faults.rs"]
pub mod faults;

/// Net (usable) capacity, kWh.
pub const CAPACITY_KWH: f64 = 75.0;
/// State of charge of a newly created battery, percent.
pub const INITIAL_SOC_PERCENT: f64 = 80.0;
/// Open-circuit voltage at 0 % state of charge, V.
pub const OCV_EMPTY_V: f64 = 340.0;
/// Open-circuit voltage at 100 % state of charge, V.
pub const OCV_FULL_V: f64 = 403.0;
/// Pack internal resistance, ohm.
pub const INTERNAL_RESISTANCE_OHM: f64 = 0.08;
/// Share of the charging energy the cells store; the rest is lost in charge
/// acceptance (side reactions, balancing). The only charging source in the
/// simulated vehicle is regenerative braking.
pub const REGEN_EFFICIENCY: f64 = 0.90;
/// Constant draw of the 12 V system through the DC/DC converter, W.
pub const AUXILIARY_LOAD_W: f64 = 250.0;
/// Largest power the pack delivers, W (about 2.7 C; loads beyond it are not
/// served, and the reported power is what actually flows).
pub const MAX_DISCHARGE_POWER_W: f64 = 200_000.0;
/// Largest power the pack accepts, W (2 C).
pub const MAX_CHARGE_POWER_W: f64 = 150_000.0;
/// Heat capacity of the pack (cells, busbars, coolant plate), J/K.
pub const THERMAL_MASS_J_PER_K: f64 = 350_000.0;
/// Thermal conductance from the pack to ambient (liquid loop and
/// radiator), W/K.
pub const COOLING_W_PER_K: f64 = 150.0;
/// Ambient used until a finite air temperature arrives, celsius.
pub const DEFAULT_AMBIENT_C: f64 = 20.0;
/// Plausible outside air temperatures, celsius; beyond them the sensor is
/// taken as faulty and clamped (the world's range is -40..60).
pub const MIN_AMBIENT_C: f64 = -50.0;
/// See [`MIN_AMBIENT_C`].
pub const MAX_AMBIENT_C: f64 = 70.0;
/// Largest plausible draw of one load input, W; larger values are clamped.
pub const MAX_LOAD_INPUT_W: f64 = 1_000_000.0;

const JOULES_PER_KWH: f64 = 3.6e6;

/// Positions of the inputs in `READS`.
pub mod inputs {
    /// `Sim.Powertrain.ElectricalPower`, W drawn by the traction drive.
    pub const TRACTION_POWER: usize = 0;
    /// `Sim.Cabin.HVAC.Power`, W.
    pub const HVAC_POWER: usize = 1;
    /// `Sim.Cabin.Seat.Heating.Power`, W.
    pub const SEAT_HEATING_POWER: usize = 2;
    /// `Vehicle.Exterior.AirTemperature`, celsius.
    pub const AIR_TEMPERATURE: usize = 3;
    /// `Sim.Airbag.CrashSignal`: opens the contactors.
    pub const CRASH_SIGNAL: usize = 4;
    /// Number of inputs.
    pub const COUNT: usize = 5;
}

/// Positions of the outputs in `WRITES`.
pub mod outputs {
    /// `Vehicle.Powertrain.TractionBattery.StateOfCharge.Current`, percent.
    pub const SOC: usize = 0;
    /// `Vehicle.Powertrain.TractionBattery.StateOfCharge.CurrentEnergy`, kWh.
    pub const ENERGY: usize = 1;
    /// `Vehicle.Powertrain.TractionBattery.CurrentVoltage`, V.
    pub const VOLTAGE: usize = 2;
    /// `Vehicle.Powertrain.TractionBattery.CurrentCurrent`, A (positive in).
    pub const CURRENT: usize = 3;
    /// `Vehicle.Powertrain.TractionBattery.CurrentPower`, W (positive in).
    pub const POWER: usize = 4;
    /// `Vehicle.Powertrain.TractionBattery.Temperature.Average`, celsius.
    pub const TEMPERATURE: usize = 5;
    /// `Vehicle.Powertrain.TractionBattery.AccumulatedConsumedEnergy`, kWh.
    pub const CONSUMED_ENERGY: usize = 6;
    /// `Vehicle.Powertrain.AccumulatedBrakingEnergy`, kWh.
    pub const BRAKING_ENERGY: usize = 7;
    /// `Vehicle.Powertrain.TractionBattery.IsPowerConnected`.
    pub const POWER_CONNECTED: usize = 8;
    /// `Vehicle.Powertrain.TractionBattery.IsGroundConnected`.
    pub const GROUND_CONNECTED: usize = 9;
    /// `Sim.Diagnostics.Battery.ActiveFaults`: the DTC mask.
    pub const ACTIVE_FAULTS: usize = 10;
    /// Number of outputs.
    pub const COUNT: usize = 11;
}

/// State that survives a hot swap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct BatteryState {
    /// Energy stored in the cells, kWh (0..=CAPACITY_KWH).
    energy_kwh: f64,
    /// Cell temperature, celsius; `None` until the first tick sees ambient.
    temperature_c: Option<f64>,
    /// Energy delivered at the terminals over the battery's life, kWh.
    consumed_kwh: f64,
    /// Energy recovered by regenerative braking over the life, kWh.
    braking_kwh: f64,
    /// The main contactors (closed in snapshots that predate them).
    #[serde(default)]
    contactor: Contactor,
    #[serde(default)]
    faults: tcu_sdk::dtc::ActiveFaults,
}

/// The battery management system of the traction battery.
#[derive(Debug, Clone)]
pub struct Battery {
    state: BatteryState,
}

/// Open-circuit voltage at a state of charge in percent, V.
pub fn open_circuit_voltage(soc_percent: f64) -> f64 {
    OCV_EMPTY_V + (OCV_FULL_V - OCV_EMPTY_V) * soc_percent.clamp(0.0, 100.0) / 100.0
}

/// Current for a terminal power `p` (W, positive into the battery) at open
/// circuit voltage `ocv`, solving `p = (ocv + i R) i` exactly. The root is
/// written in the form that does not cancel for small `p`.
pub fn terminal_current(p: f64, ocv: f64) -> f64 {
    let disc = (ocv * ocv + 4.0 * INTERNAL_RESISTANCE_OHM * p).max(0.0);
    2.0 * p / (ocv + disc.sqrt())
}

impl Battery {
    fn new() -> Self {
        Self {
            state: BatteryState {
                energy_kwh: CAPACITY_KWH * INITIAL_SOC_PERCENT / 100.0,
                temperature_c: None,
                consumed_kwh: 0.0,
                braking_kwh: 0.0,
                contactor: Contactor::default(),
                faults: Default::default(),
            },
        }
    }

    fn soc_percent(&self) -> f64 {
        self.state.energy_kwh / CAPACITY_KWH * 100.0
    }
}

fn check_state(s: &BatteryState) -> Result<(), PluginError> {
    let ok = s.energy_kwh.is_finite()
        && (0.0..=CAPACITY_KWH).contains(&s.energy_kwh)
        && s.temperature_c.is_none_or(|t| t.is_finite())
        && s.consumed_kwh.is_finite()
        && s.consumed_kwh >= 0.0
        && s.braking_kwh.is_finite()
        && s.braking_kwh >= 0.0;
    if ok {
        Ok(())
    } else {
        Err(PluginError::from(
            "battery snapshot holds a non-finite or out-of-range value",
        ))
    }
}

fn load_input(v: f64) -> f64 {
    finite_or(v, 0.0).clamp(0.0, MAX_LOAD_INPUT_W)
}

impl Subsystem for Battery {
    const NAME: &'static CStr = c"battery";
    const VERSION: &'static CStr = c"1.0.0";
    const READS: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(c"Sim.Powertrain.ElectricalPower", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Cabin.HVAC.Power", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Cabin.Seat.Heating.Power", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Vehicle.Exterior.AirTemperature", TCU_TYPE_FLOAT),
        TcuSignalDecl::new(c"Sim.Airbag.CrashSignal", TCU_TYPE_BOOLEAN),
    ];
    const WRITES: &'static [TcuSignalDecl] = &[
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.StateOfCharge.CurrentEnergy",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.CurrentVoltage",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.CurrentCurrent",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.CurrentPower",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.Temperature.Average",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.AccumulatedConsumedEnergy",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.AccumulatedBrakingEnergy",
            TCU_TYPE_FLOAT,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.IsPowerConnected",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(
            c"Vehicle.Powertrain.TractionBattery.IsGroundConnected",
            TCU_TYPE_BOOLEAN,
        ),
        TcuSignalDecl::new(c"Sim.Diagnostics.Battery.ActiveFaults", TCU_TYPE_UINT32),
    ];

    fn create(_seed: u64) -> Result<Self, PluginError> {
        // The model is deterministic and noise-free, so the seed is unused.
        Ok(Self::new())
    }

    fn tick(&mut self, dt: f64, inputs: &[f64], outputs: &mut [f64]) -> Result<(), PluginError> {
        tcu_sdk::check_tick::<Self>(dt, inputs, outputs)?;
        let inputs = &faults::inputs(self.state.faults, inputs);
        faults::write(self.state.faults, outputs);
        let traction = finite_or(inputs[inputs::TRACTION_POWER], 0.0)
            .clamp(-MAX_LOAD_INPUT_W, MAX_LOAD_INPUT_W);
        let hvac = load_input(inputs[inputs::HVAC_POWER]);
        let seats = load_input(inputs[inputs::SEAT_HEATING_POWER]);
        let ambient = finite_or(inputs[inputs::AIR_TEMPERATURE], DEFAULT_AMBIENT_C)
            .clamp(MIN_AMBIENT_C, MAX_AMBIENT_C);

        let load = traction + hvac + seats + AUXILIARY_LOAD_W;
        let demanded = (-load).clamp(-MAX_DISCHARGE_POWER_W, MAX_CHARGE_POWER_W);
        // An empty pack refuses discharge and a full one refuses charge (the
        // contactors / charge relay open); what is reported is what flows.
        let energy = self.state.energy_kwh;
        let power =
            if (demanded < 0.0 && energy <= 0.0) || (demanded > 0.0 && energy >= CAPACITY_KWH) {
                0.0
            } else {
                demanded
            };
        self.state.contactor.update(inputs[inputs::CRASH_SIGNAL]);
        let power = self.state.contactor.limit(power);
        let ocv = open_circuit_voltage(self.soc_percent());
        let current = terminal_current(power, ocv);
        let voltage = ocv + current * INTERNAL_RESISTANCE_OHM;

        // The cells exchange `ocv * i`; the rest of the terminal power is the
        // I^2 R heat. Charging stores only REGEN_EFFICIENCY of it.
        let cell_power = ocv * current;
        let stored_power = if cell_power > 0.0 {
            cell_power * REGEN_EFFICIENCY
        } else {
            cell_power
        };
        self.state.energy_kwh =
            (energy + stored_power * dt / JOULES_PER_KWH).clamp(0.0, CAPACITY_KWH);
        if power < 0.0 {
            self.state.consumed_kwh += -power * dt / JOULES_PER_KWH;
        }
        if traction < 0.0 && !self.state.contactor.is_open() {
            // Regen that a full pack turned away was not recovered.
            let refused = (demanded - power).max(0.0);
            let recovered = (-traction - refused).max(0.0);
            self.state.braking_kwh += recovered * dt / JOULES_PER_KWH;
        }

        let heat = current * current * INTERNAL_RESISTANCE_OHM;
        let temperature = approach(
            self.state.temperature_c.unwrap_or(ambient),
            ambient + heat / COOLING_W_PER_K,
            dt,
            THERMAL_MASS_J_PER_K / COOLING_W_PER_K,
        );
        self.state.temperature_c = Some(temperature);

        outputs[outputs::SOC] = self.soc_percent().clamp(0.0, 100.0);
        outputs[outputs::ENERGY] = self.state.energy_kwh;
        outputs[outputs::VOLTAGE] = voltage;
        // `+ 0.0` keeps an idle pack from reporting -0.0.
        outputs[outputs::CURRENT] = current + 0.0;
        outputs[outputs::POWER] = power + 0.0;
        outputs[outputs::TEMPERATURE] = temperature;
        outputs[outputs::CONSUMED_ENERGY] = self.state.consumed_kwh;
        outputs[outputs::BRAKING_ENERGY] = self.state.braking_kwh;
        outputs[outputs::POWER_CONNECTED] = self.state.contactor.connected();
        outputs[outputs::GROUND_CONNECTED] = self.state.contactor.connected();
        Ok(())
    }

    fn command(&mut self, name: &str, value: f64) -> Result<(), CommandError> {
        match name {
            // Scenarios start from a chosen charge level with this.
            "set_soc" => {
                if !(value.is_finite() && (0.0..=100.0).contains(&value)) {
                    return Err(CommandError::Failed(PluginError(format!(
                        "battery: set_soc needs a percentage in 0..=100, got {value}"
                    ))));
                }
                self.state.energy_kwh = CAPACITY_KWH * value / 100.0;
                Ok(())
            }
            "reset_contactors" => self.state.contactor.reset(),
            _ => (self.state.faults.command(&faults::FAULTS, name, value))
                .unwrap_or_else(|| Err(CommandError::Unsupported(name.to_owned()))),
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        tcu_sdk::snapshot::encode(&self.state)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        let state: BatteryState = tcu_sdk::snapshot::decode("battery: unreadable snapshot", bytes)?;
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

    fn input(traction: f64, hvac: f64, seats: f64, ambient: f64) -> [f64; inputs::COUNT] {
        let mut i = [0.0; inputs::COUNT];
        i[inputs::TRACTION_POWER] = traction;
        i[inputs::HVAC_POWER] = hvac;
        i[inputs::SEAT_HEATING_POWER] = seats;
        i[inputs::AIR_TEMPERATURE] = ambient;
        i
    }

    fn fresh() -> Battery {
        Battery::create(1).expect("create")
    }

    fn at_soc(soc: f64) -> Battery {
        let mut b = fresh();
        b.command("set_soc", soc).expect("set_soc");
        b
    }

    fn tick(b: &mut Battery, i: &[f64; inputs::COUNT]) -> [f64; outputs::COUNT] {
        let mut o = [0.0; outputs::COUNT];
        b.tick(DT, i, &mut o).expect("tick");
        assert_in_range(&o);
        o
    }

    fn run(b: &mut Battery, i: &[f64; inputs::COUNT], n: usize) -> [f64; outputs::COUNT] {
        let mut o = [0.0; outputs::COUNT];
        for _ in 0..n {
            o = tick(b, i);
        }
        o
    }

    /// Catalog ranges of the written signals; where the catalog has none, a
    /// physically sensible range.
    fn assert_in_range(o: &[f64; outputs::COUNT]) {
        let ranges: [(usize, f64, f64); outputs::COUNT] = [
            (outputs::SOC, 0.0, 100.0),
            (outputs::ENERGY, 0.0, CAPACITY_KWH),
            (outputs::VOLTAGE, 150.0, 500.0),
            (outputs::CURRENT, -1000.0, 1000.0),
            (outputs::POWER, -MAX_DISCHARGE_POWER_W, MAX_CHARGE_POWER_W),
            (outputs::TEMPERATURE, -50.0, 150.0),
            (outputs::CONSUMED_ENERGY, 0.0, 1e9),
            (outputs::BRAKING_ENERGY, 0.0, 1e9),
            (outputs::POWER_CONNECTED, 0.0, 1.0),
            (outputs::GROUND_CONNECTED, 0.0, 1.0),
            (outputs::ACTIVE_FAULTS, 0.0, 1.0),
        ];
        for (idx, lo, hi) in ranges {
            let v = o[idx];
            assert!(v.is_finite(), "output {idx} not finite: {v}");
            assert!(
                (lo..=hi).contains(&v),
                "output {idx} = {v} outside {lo}..{hi}"
            );
        }
    }

    /// A grid of net loads built from every input, W.
    fn load_grid() -> Vec<[f64; inputs::COUNT]> {
        let mut v = Vec::new();
        for traction in [0.0, 2_000.0, 10_000.0, 30_000.0, 80_000.0, 163_000.0] {
            for hvac in [0.0, 1_500.0, 6_000.0] {
                for seats in [0.0, 300.0] {
                    v.push(input(traction, hvac, seats, 20.0));
                }
            }
        }
        v
    }

    fn net_load(i: &[f64; inputs::COUNT]) -> f64 {
        i[inputs::TRACTION_POWER]
            + i[inputs::HVAC_POWER]
            + i[inputs::SEAT_HEATING_POWER]
            + AUXILIARY_LOAD_W
    }

    #[test]
    fn every_declared_signal_exists_in_the_catalog_with_its_datatype() {
        tcu_sdk::testing::assert_declarations_in_catalog::<Battery>();
    }

    #[test]
    fn index_constants_match_the_declared_paths() {
        let reads = [
            (inputs::TRACTION_POWER, "Sim.Powertrain.ElectricalPower"),
            (inputs::HVAC_POWER, "Sim.Cabin.HVAC.Power"),
            (inputs::SEAT_HEATING_POWER, "Sim.Cabin.Seat.Heating.Power"),
            (inputs::AIR_TEMPERATURE, "Vehicle.Exterior.AirTemperature"),
            (inputs::CRASH_SIGNAL, "Sim.Airbag.CrashSignal"),
        ];
        assert_eq!(Battery::READS.len(), inputs::COUNT);
        for (i, p) in reads {
            assert_eq!(path(&Battery::READS[i]), p);
        }
        let writes = [
            (
                outputs::SOC,
                "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
            ),
            (
                outputs::ENERGY,
                "Vehicle.Powertrain.TractionBattery.StateOfCharge.CurrentEnergy",
            ),
            (
                outputs::VOLTAGE,
                "Vehicle.Powertrain.TractionBattery.CurrentVoltage",
            ),
            (
                outputs::CURRENT,
                "Vehicle.Powertrain.TractionBattery.CurrentCurrent",
            ),
            (
                outputs::POWER,
                "Vehicle.Powertrain.TractionBattery.CurrentPower",
            ),
            (
                outputs::TEMPERATURE,
                "Vehicle.Powertrain.TractionBattery.Temperature.Average",
            ),
            (
                outputs::CONSUMED_ENERGY,
                "Vehicle.Powertrain.TractionBattery.AccumulatedConsumedEnergy",
            ),
            (
                outputs::BRAKING_ENERGY,
                "Vehicle.Powertrain.AccumulatedBrakingEnergy",
            ),
            (
                outputs::POWER_CONNECTED,
                "Vehicle.Powertrain.TractionBattery.IsPowerConnected",
            ),
            (
                outputs::GROUND_CONNECTED,
                "Vehicle.Powertrain.TractionBattery.IsGroundConnected",
            ),
        ];
        assert_eq!(Battery::WRITES.len(), outputs::COUNT);
        for (i, p) in writes {
            assert_eq!(path(&Battery::WRITES[i]), p);
        }
    }

    #[test]
    fn a_new_battery_starts_at_the_initial_charge_for_every_seed() {
        for seed in [0, 1, 42, u64::MAX] {
            let mut b = Battery::create(seed).expect("create");
            let o = tick(&mut b, &input(0.0, 0.0, 0.0, 20.0));
            assert!((o[outputs::SOC] - INITIAL_SOC_PERCENT).abs() < 1e-6);
            assert!((o[outputs::ENERGY] - 60.0).abs() < 1e-6);
        }
    }

    #[test]
    fn soc_never_rises_under_load_and_falls_in_proportion_to_it() {
        for soc in [95.0, 50.0, 10.0] {
            let mut rates = Vec::new();
            for i in load_grid() {
                let mut b = at_soc(soc);
                let start = b.soc_percent();
                let mut last = start;
                for _ in 0..1000 {
                    let o = tick(&mut b, &i);
                    assert!(
                        o[outputs::SOC] <= last,
                        "SOC rose under a {} W load",
                        net_load(&i)
                    );
                    last = o[outputs::SOC];
                }
                let rate = (start - last) / 10.0; // percent per second
                rates.push((net_load(&i), rate));
            }
            // Proportional: percent per second per watt is the same for every
            // load, up to the I^2 R losses (0.08 ohm costs about 12 % at
            // 170 kW from a nearly empty pack, under 1 % at 10 kW).
            let ideal = 100.0 / (CAPACITY_KWH * JOULES_PER_KWH);
            for (load, rate) in rates {
                let k = rate / load;
                assert!(
                    k >= ideal * (1.0 - 1e-6) && k <= ideal * 1.15,
                    "SOC slope {k} vs ideal {ideal} at {load} W, SOC {soc}"
                );
            }
        }
    }

    #[test]
    fn regen_braking_charges_the_battery_at_every_power_level() {
        for soc in [20.0, 60.0, 95.0] {
            for regen in [-3_000.0, -10_000.0, -30_000.0, -60_000.0] {
                let mut b = at_soc(soc);
                let before = tick(&mut b, &input(0.0, 0.0, 0.0, 20.0));
                let mut last_braking = before[outputs::BRAKING_ENERGY];
                let mut last_soc = before[outputs::SOC];
                for _ in 0..500 {
                    let o = tick(&mut b, &input(regen, 500.0, 0.0, 20.0));
                    assert!(o[outputs::SOC] > last_soc);
                    assert!(o[outputs::BRAKING_ENERGY] > last_braking);
                    assert!(o[outputs::CURRENT] > 0.0 && o[outputs::POWER] > 0.0);
                    last_soc = o[outputs::SOC];
                    last_braking = o[outputs::BRAKING_ENERGY];
                }
                let recovered = last_braking - before[outputs::BRAKING_ENERGY];
                let expect = -regen * 5.0 / JOULES_PER_KWH;
                assert!((recovered - expect).abs() < 1e-9 * expect.max(1.0));
            }
        }
    }

    #[test]
    fn braking_energy_only_grows_while_the_drive_regenerates() {
        let mut b = fresh();
        let mut last = 0.0;
        for step in 0..20_000u32 {
            let traction = 40_000.0 * (f64::from(step) * 0.003).sin();
            let o = tick(&mut b, &input(traction, 2_000.0, 0.0, 20.0));
            if traction >= 0.0 {
                assert_eq!(o[outputs::BRAKING_ENERGY], last);
            } else {
                assert!(o[outputs::BRAKING_ENERGY] >= last);
            }
            last = o[outputs::BRAKING_ENERGY];
        }
        assert!(last > 0.0);
    }

    #[test]
    fn current_and_power_have_the_sign_of_the_net_flow() {
        for soc in [5.0, 50.0, 95.0] {
            for traction in (-60..=160).step_by(5) {
                let traction = f64::from(traction) * 1000.0;
                for hvac in [0.0, 4_000.0] {
                    let mut b = at_soc(soc);
                    let i = input(traction, hvac, 0.0, 20.0);
                    let o = tick(&mut b, &i);
                    let into = -net_load(&i);
                    assert_eq!(o[outputs::POWER].signum(), into.signum());
                    assert_eq!(o[outputs::CURRENT].signum(), into.signum());
                    // The terminal relation holds exactly.
                    let p = o[outputs::VOLTAGE] * o[outputs::CURRENT];
                    assert!((p - o[outputs::POWER]).abs() < 1e-6 * into.abs().max(1.0));
                    // Discharging sags the voltage, charging lifts it.
                    let ocv = open_circuit_voltage(soc);
                    assert!((o[outputs::VOLTAGE] - ocv) * into >= 0.0);
                }
            }
        }
    }

    #[test]
    fn stored_energy_matches_the_integrated_terminal_power() {
        for traction in [-50_000.0, -20_000.0, -5_000.0, 5_000.0, 30_000.0, 100_000.0] {
            let mut b = at_soc(50.0);
            let start = b.state.energy_kwh;
            let mut integral = 0.0; // kWh at the terminals, scaled by efficiency
            for _ in 0..60_000 {
                let o = tick(&mut b, &input(traction, 1_000.0, 100.0, 20.0));
                let p = o[outputs::POWER];
                let eff = if p > 0.0 { REGEN_EFFICIENCY } else { 1.0 };
                integral += p * eff * DT / JOULES_PER_KWH;
            }
            let delta = b.state.energy_kwh - start;
            // The cells always end up with less than the terminals saw (the
            // I^2 R heat), but only by a few percent at these currents
            // (about 7 % at 100 kW).
            assert!(
                delta < integral,
                "delta {delta} vs {integral} at {traction} W"
            );
            assert!(
                (delta - integral).abs() <= 0.08 * integral.abs(),
                "delta {delta} vs {integral} at {traction} W"
            );
        }
    }

    #[test]
    fn soc_stays_within_bounds_under_extreme_loads_for_hours() {
        for traction in [250_000.0, 163_000.0, -60_000.0, -250_000.0] {
            let mut b = fresh();
            let mut o = [0.0; outputs::COUNT];
            // Two simulated hours at 0.1 s steps.
            for _ in 0..72_000 {
                let mut out = [0.0; outputs::COUNT];
                b.tick(0.1, &input(traction, 20_000.0, 1_000.0, 20.0), &mut out)
                    .expect("tick");
                assert_in_range(&out);
                o = out;
            }
            let discharging = traction > 0.0;
            let expect_soc = if discharging { 0.0 } else { 100.0 };
            assert_eq!(o[outputs::SOC], expect_soc, "at {traction} W");
            // The clamp is reported honestly: nothing flows any more.
            assert_eq!(o[outputs::CURRENT], 0.0);
            assert_eq!(o[outputs::POWER], 0.0);
            assert_eq!(o[outputs::VOLTAGE], open_circuit_voltage(expect_soc));
            // Refusal is one-sided: the opposite flow is accepted at once.
            let o = tick(
                &mut b,
                &input(
                    if discharging { -30_000.0 } else { 30_000.0 },
                    0.0,
                    0.0,
                    20.0,
                ),
            );
            assert_ne!(o[outputs::CURRENT], 0.0);
        }
    }

    #[test]
    fn consumed_energy_counts_every_discharged_joule_and_never_falls() {
        let mut b = fresh();
        let mut expect = 0.0;
        let mut last = 0.0;
        for step in 0..30_000u32 {
            let traction = 30_000.0 * (f64::from(step) * 0.002).sin();
            let o = tick(&mut b, &input(traction, 1_000.0, 0.0, 20.0));
            if o[outputs::POWER] < 0.0 {
                expect += -o[outputs::POWER] * DT / JOULES_PER_KWH;
            }
            assert!(o[outputs::CONSUMED_ENERGY] >= last);
            last = o[outputs::CONSUMED_ENERGY];
        }
        assert!((last - expect).abs() < 1e-9);
    }

    #[test]
    fn the_pack_warms_under_load_and_never_drops_below_ambient() {
        for ambient in [-30.0, 0.0, 25.0, 45.0] {
            let mut b = fresh();
            let mut o = tick(&mut b, &input(0.0, 0.0, 0.0, ambient));
            // The 12 V auxiliary load alone barely warms it.
            assert!((o[outputs::TEMPERATURE] - ambient).abs() < 1e-3);
            // Ten minutes at 120 kW, then an hour parked.
            for _ in 0..600 {
                let before = o[outputs::TEMPERATURE];
                o = run(&mut b, &input(120_000.0, 0.0, 0.0, ambient), 100);
                assert!(o[outputs::TEMPERATURE] > before);
            }
            assert!(o[outputs::TEMPERATURE] > ambient + 5.0);
            for _ in 0..3600 {
                let before = o[outputs::TEMPERATURE];
                o = run(&mut b, &input(0.0, 0.0, 0.0, ambient), 100);
                assert!(o[outputs::TEMPERATURE] <= before);
                assert!(o[outputs::TEMPERATURE] >= ambient - 1e-9);
            }
        }
    }

    #[test]
    fn bad_inputs_do_not_poison_the_state() {
        let mut b = fresh();
        let bad = [f64::NAN, f64::INFINITY, -f64::INFINITY, -5.0, 1e12];
        for a in bad {
            for c in bad {
                let o = run(&mut b, &input(a, c, a, c), 3);
                assert!(o.iter().all(|v| v.is_finite()));
            }
        }
        assert!(
            b.tick(-1.0, &input(0.0, 0.0, 0.0, 20.0), &mut [0.0; 8])
                .is_err()
        );
        assert!(b.tick(DT, &[0.0; 4], &mut [0.0; 7]).is_err());
    }

    #[test]
    fn set_soc_accepts_percentages_and_refuses_the_rest() {
        for soc in [0.0, 12.5, 100.0] {
            let mut b = at_soc(soc);
            let o = tick(&mut b, &input(0.0, 0.0, 0.0, 20.0));
            assert!((o[outputs::SOC] - soc).abs() < 1e-3);
        }
        let mut b = fresh();
        for bad in [-1.0, 100.5, f64::NAN] {
            assert!(matches!(
                b.command("set_soc", bad),
                Err(CommandError::Failed(_))
            ));
        }
        assert!(matches!(
            b.command("nope", 1.0),
            Err(CommandError::Unsupported(_))
        ));
    }

    #[test]
    fn snapshot_round_trip_continues_identically() {
        let mut a = fresh();
        run(&mut a, &input(40_000.0, 3_000.0, 200.0, 5.0), 5_000);
        run(&mut a, &input(-30_000.0, 3_000.0, 200.0, 5.0), 1_000);
        let mut b = Battery::create(7).expect("create");
        b.restore(&a.snapshot()).expect("restore");
        for step in 0..5_000u32 {
            let i = input(
                50_000.0 * (f64::from(step) * 0.01).sin(),
                2_000.0,
                100.0,
                5.0,
            );
            let (mut oa, mut ob) = ([0.0; outputs::COUNT], [0.0; outputs::COUNT]);
            a.tick(DT, &i, &mut oa).expect("tick");
            b.tick(DT, &i, &mut ob).expect("tick");
            assert_eq!(oa, ob);
        }
    }

    #[test]
    fn restore_refuses_bad_bytes() {
        let mut b = fresh();
        for bad in [
            &b""[..],
            b"\xff\x00",
            b"{}",
            br#"{"energy_kwh":80.0,"temperature_c":null,"consumed_kwh":0.0,"braking_kwh":0.0}"#,
            br#"{"energy_kwh":10.0,"temperature_c":null,"consumed_kwh":-1.0,"braking_kwh":0.0}"#,
        ] {
            let err = b.restore(bad).expect_err("must refuse");
            assert!(err.0.contains("battery"), "{err}");
        }
        // A refused restore leaves the state alone.
        assert!((b.soc_percent() - INITIAL_SOC_PERCENT).abs() < 1e-9);
    }
}
